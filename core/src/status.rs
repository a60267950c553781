//! A document's state in one word, its due time and its place, for the phone's lists and
//! the server's query projections, from its kind's own fold: the one place that maps every
//! kind to a status, so a list on the phone and a projection on the server say the same.

use std::sync::OnceLock;

use crate::case::events::kinds;
use crate::catalogue::Catalogue;
use crate::doc::{DocKind, DocScope, Event, Snapshot};
use crate::error::Result;
use crate::schedule::case_clock;
use crate::sla::{Band, Calendar};
use crate::time::Millis;
use crate::{case, notice, patrol};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocStatus {
    /// The fold's status by its serde name ("verification_submitted", "closed", …); for
    /// kinds without a status of their own, the latest event type.
    pub status: String,
    /// Whether the document still needs someone's work.
    pub open: bool,
}

/// What a list shows of a document, from one fold of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub status: DocStatus,
    pub due: Due,
    /// Where it belongs now (a case's unit comes from its dispatches).
    pub scope: DocScope,
    /// A mark the list shows before the title: "督办" for a case under supervision, "冲突"
    /// for a document with a field two people set concurrently.
    pub badge: Option<String>,
}

/// Status, due time and scope of a document; the due time needs the catalogue and
/// calendar (`due_by`), without them it is left empty.
pub fn summarize(snapshot: &Snapshot, due_by: Option<(&Catalogue, &Calendar)>) -> Result<Summary> {
    let header = &snapshot.header;
    let mut summary = Summary {
        status: DocStatus {
            status: snapshot
                .events
                .last()
                .map_or_else(|| "new".to_owned(), |e| e.kind.clone()),
            open: true,
        },
        due: Due::default(),
        scope: header.scope.clone(),
        badge: None,
    };
    match header.kind {
        DocKind::Case => {
            let state = case::fold(snapshot);
            summary.status = DocStatus {
                status: serde_name(&state.status)?,
                open: state.is_open(),
            };
            if let Some((catalogue, calendar)) = due_by {
                summary.due = case_due(&state, &snapshot.events, catalogue, calendar);
            }
            summary.scope = state.scope(header);
            if state.supervised && state.is_open() {
                summary.badge = Some("督办".to_owned());
            }
        }
        DocKind::Notice => {
            let state = notice::fold_notice(snapshot)?;
            summary.status = DocStatus {
                status: serde_name(&state.status)?,
                open: state.status != notice::NoticeStatus::Closed,
            };
            summary.due = Due {
                deadline: state.due.map(|d| d.due),
                band: state.due.map(|_| state.warning.unwrap_or(Band::Green)),
            };
        }
        DocKind::Patrol => {
            let state = patrol::fold(snapshot);
            summary.status = DocStatus {
                status: serde_name(&state.status)?,
                open: state.status != patrol::PatrolStatus::Ended,
            };
        }
        DocKind::SiteInspection | DocKind::PatrolPlan => {}
    }
    // Two values of one field wait for someone to pick one: the list says so first.
    if !snapshot.conflicts.is_empty() {
        let badge = match summary.badge.take() {
            Some(other) => format!("冲突·{other}"),
            None => "冲突".to_owned(),
        };
        summary.badge = Some(badge);
    }
    Ok(summary)
}

/// When a document's current work is due, and the band the server last wrote for it.
///
/// The band is the server's (its 预警 / 超期 / 督办 events, DESIGN.md "Deadlines"), not one
/// recomputed here: a list is a record of what was decided, and the phone shows a live
/// countdown from `deadline` offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Due {
    pub deadline: Option<Millis>,
    pub band: Option<Band>,
}

impl Due {
    /// The band by its serde name ("green", "yellow", "red", "escalated").
    pub fn band_name(&self) -> Option<String> {
        self.band.and_then(|b| serde_name(&b).ok())
    }
}

/// The due time of a dispatched case's handling and the latest band the server wrote
/// since that dispatch (a return to dispatch starts a new clock and a green band).
///
/// A case whose category this catalogue does not know has no due time here: the list
/// must not fail on it (the verdict and the scheduler report the unknown category).
fn case_due(
    state: &case::CaseState,
    log: &[Event],
    catalogue: &Catalogue,
    calendar: &Calendar,
) -> Due {
    let Some(dispatched_at) = state.dispatched_at else {
        return Due::default();
    };
    // A running suspension is counted up to the case's latest event: the list shows the
    // due time as of what it knows, not a time that moves while nothing happens.
    let as_of = log.iter().map(|e| e.at).max().unwrap_or(dispatched_at);
    let deadline = case_clock(state, catalogue, calendar, as_of)
        .ok()
        .flatten()
        .and_then(|clock| calendar.due(&clock).ok())
        .map(|d| d.due);
    // A 督办 with a new due time, given since this dispatch, is the time that now counts.
    let supervised_since_dispatch = log
        .iter()
        .any(|e| e.kind == kinds::SUPERVISED && e.at >= dispatched_at && !state.is_ignored(e.id));
    let deadline = match state.supervision_due {
        Some(due) if supervised_since_dispatch => Some(due),
        _ => deadline,
    };
    let band = log
        .iter()
        .filter(|e| e.at >= dispatched_at && !state.is_ignored(e.id))
        .filter_map(|e| match e.kind.as_str() {
            kinds::DEADLINE_WARNING => Some(Band::Yellow),
            kinds::OVERDUE => Some(Band::Red),
            kinds::ESCALATED => Some(Band::Escalated),
            _ => None,
        })
        .max()
        .unwrap_or(Band::Green);
    Due {
        deadline,
        band: Some(band),
    }
}

/// The reference data bundled with the core, for the phone's lists; `None` only if the
/// bundled files were broken at build time (their own tests would fail first).
pub fn bundled_reference() -> Option<(&'static Catalogue, &'static Calendar)> {
    static BUNDLED: OnceLock<Option<(Catalogue, Calendar)>> = OnceLock::new();
    BUNDLED
        .get_or_init(|| Some((Catalogue::builtin().ok()?, Calendar::bundled().ok()?)))
        .as_ref()
        .map(|(catalogue, calendar)| (catalogue, calendar))
}

fn serde_name<T: serde::Serialize>(status: &T) -> Result<String> {
    Ok(serde_json::to_value(status)?
        .as_str()
        .unwrap_or("unknown")
        .to_owned())
}
