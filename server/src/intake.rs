//! Sanity of what a device pushes, beyond permissions: the values a phone's own checks
//! would never write (a buggy or hostile client can). The permission table says who may
//! write an event; this says the new content is something the referee can judge:
//! positions are finite and on the globe, nothing is dated far past its arrival, a new
//! case names a category the catalogue knows and a grid cell that exists.

use fieldloop_core::catalogue::parse_grid_cell;
use fieldloop_core::doc::{DocKind, Position, Snapshot};
use fieldloop_core::geo;
use fieldloop_core::time::{Millis, HOUR};

use crate::referee::Reference;

/// How far past its arrival a device may date what it writes (a phone's clock running
/// fast). The verdict's own time checks are stricter; this only keeps absurd dates out of
/// the store, the deadlines and the evaluation.
pub const MAX_CLOCK_AHEAD: Millis = 24 * HOUR;

fn position(what: &str, p: &Position) -> Result<(), String> {
    geo::validate(p.lat, p.lon)
        .and_then(|()| geo::validate_accuracy(p.accuracy_m))
        .map_err(|e| format!("{what}: {e}"))
}

fn not_ahead(what: &str, at: Millis, arrived_at: Millis) -> Result<(), String> {
    if at > arrived_at.saturating_add(MAX_CLOCK_AHEAD) {
        let hours = (at - arrived_at) / HOUR;
        return Err(format!(
            "{what} is dated {hours} h after it reached the server; check the phone's clock"
        ));
    }
    Ok(())
}

/// Checks what `after` adds to `before` (everything, for a new document).
pub fn check_new_content(
    before: Option<&Snapshot>,
    after: &Snapshot,
    arrived_at: Millis,
    reference: &Reference,
) -> Result<(), String> {
    if before.is_none() {
        let h = &after.header;
        not_ahead("the document", h.created_at, arrived_at)?;
        if let Some(p) = &h.position {
            position("the document's position", p)?;
        }
        if h.kind == DocKind::Case {
            let category = h.category.as_deref().unwrap_or_default();
            reference
                .catalogue
                .get_by_key(category)
                .map_err(|_| format!("category {category:?} is not in the catalogue"))?;
        }
        if let Some(cell) = &h.scope.grid_cell {
            parse_grid_cell(cell).map_err(|e| format!("grid cell {cell:?}: {e}"))?;
            if let Some(grid) = &reference.grid {
                if !grid.contains_code(cell) {
                    return Err(format!("grid cell {cell} is not one of this city's cells"));
                }
            }
        }
    }
    let old_events = before.map(|b| &b.events);
    for event in &after.events {
        if old_events.is_some_and(|old| old.iter().any(|e| e.id == event.id)) {
            continue;
        }
        not_ahead(
            &format!("event {} ({})", event.id, event.kind),
            event.at,
            arrived_at,
        )?;
    }
    for (hash, evidence) in &after.evidence {
        if before.is_some_and(|b| b.evidence.contains_key(hash)) {
            continue;
        }
        not_ahead(&format!("photo {hash}"), evidence.taken_at, arrived_at)?;
        if let Some(p) = &evidence.position {
            position(&format!("photo {hash}"), p)?;
        }
    }
    Ok(())
}
