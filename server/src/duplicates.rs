//! 疑似重复 on the server: when a case arrives or is registered, the open cases of its
//! category within the catalogue's radius and window are looked up through the index
//! ([`crate::storage::nearby`]) and, when there are any, the referee writes
//! `case.duplicate_suggested` instead of dispatching. The dispatcher then merges the case
//! (`case.merged`) or keeps it (`case.duplicate_kept`), after which dispatch goes on.

use fieldloop_core::case::{
    self, kinds, nearby_duplicates, CaseEvent, CaseState, CaseStatus, DuplicateSuggested, OpenCase,
};
use fieldloop_core::doc::Snapshot;
use fieldloop_core::geo::LatLon;
use uuid::Uuid;

use crate::error::Result;
use crate::state::AppState;
use crate::storage::nearby::NearbyQuery;
use crate::storage::Projection;

/// Candidates read per lookup at most: a category's open cases in a few hundred metres.
const LOOKUP_LIMIT: usize = 500;

/// The suggestion the server writes for this case now, if it needs one.
pub async fn suggestion(
    state: &AppState,
    snapshot: &Snapshot,
    case_state: &CaseState,
) -> Result<Option<CaseEvent>> {
    let waiting = matches!(
        case_state.status,
        CaseStatus::Reported | CaseStatus::Registered
    );
    // A case back from its unit, or one already suggested or kept, is not asked again.
    if !waiting
        || case_state.duplicate_kept
        || !case_state.duplicate_candidates.is_empty()
        || case_state.returns > 0
        || case_state.reopened > 0
    {
        return Ok(None);
    }
    let header = &snapshot.header;
    let (Some(category), Some(position)) = (header.category.as_deref(), header.position) else {
        return Ok(None);
    };
    let Ok(at) = LatLon::new(position.lat, position.lon) else {
        return Ok(None);
    };
    let reference = state.reference.current();
    let Ok(rule) = reference
        .catalogue
        .get_by_key(category)
        .map(|c| c.duplicates)
    else {
        return Ok(None);
    };
    let when = case_state.reported_at.unwrap_or(header.created_at);
    let (south, north, west, east) = case::duplicates::search_box(at, rule.radius_m);
    let window = rule.window_ms();
    let rows = state
        .open_cases
        .open_cases_near(NearbyQuery {
            category: category.to_owned(),
            south,
            north,
            west,
            east,
            created_from: when.saturating_sub(window),
            created_to: when.saturating_add(window),
            limit: LOOKUP_LIMIT,
        })
        .await?;
    let candidates = nearby_duplicates(
        &rule,
        Some(header.id),
        category,
        at,
        when,
        // Two reports arriving together would each name the other; the one already
        // named as a possible duplicate of this case is left to be dispatched.
        rows.iter()
            .filter(|p| !names(p, header.id))
            .filter_map(open_case),
    );
    Ok(
        (!candidates.is_empty()).then_some(CaseEvent::DuplicateSuggested(DuplicateSuggested {
            candidates,
        })),
    )
}

/// Whether the projection's pending suggestion names `id`.
fn names(p: &Projection, id: Uuid) -> bool {
    let id = id.to_string();
    p.fields.json["duplicate_candidates"]
        .as_array()
        .is_some_and(|named| named.iter().any(|n| n.as_str() == Some(id.as_str())))
}

fn open_case(p: &Projection) -> Option<OpenCase> {
    let json = &p.fields.json;
    let position = json.get("position")?;
    Some(OpenCase {
        id: p.doc_id,
        category: json.get("category")?.as_str()?.to_owned(),
        position: LatLon {
            lat: position.get("lat")?.as_f64()?,
            lon: position.get("lon")?.as_f64()?,
        },
        reported_at: json.get("created_at")?.as_i64()?,
    })
}

/// For the projection (the console's 疑似重复 queue): the cases a pending suggestion
/// names, none when there is no suggestion or it was decided.
pub fn pending_candidates(snapshot: &Snapshot) -> Option<Vec<Uuid>> {
    // Folding only the logs that hold a suggestion keeps projections cheap.
    if !snapshot
        .events
        .iter()
        .any(|e| e.kind == kinds::DUPLICATE_SUGGESTED)
    {
        return None;
    }
    let state = case::fold(snapshot);
    (!state.duplicate_candidates.is_empty()).then(|| {
        state
            .duplicate_candidates
            .iter()
            .map(|c| c.case_id)
            .collect()
    })
}
