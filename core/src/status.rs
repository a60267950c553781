//! A document's state in one word, for the phone's lists and the server's query
//! projections, from its kind's own fold: the one place that maps every kind to a status,
//! so a list on the phone and a projection on the server say the same thing.

use std::sync::OnceLock;

use crate::case::events::kinds;
use crate::catalogue::Catalogue;
use crate::doc::{DocKind, Event, Snapshot};
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

pub fn status_of(snapshot: &Snapshot) -> Result<DocStatus> {
    let (status, open) = match snapshot.header.kind {
        DocKind::Case => return case_status(&case::fold(snapshot)),
        DocKind::Notice => {
            let state = notice::fold_notice(snapshot)?;
            (
                serde_name(&state.status)?,
                state.status != notice::NoticeStatus::Closed,
            )
        }
        DocKind::Patrol => {
            let state = patrol::fold(snapshot);
            (
                serde_name(&state.status)?,
                state.status != patrol::PatrolStatus::Ended,
            )
        }
        DocKind::SiteInspection | DocKind::PatrolPlan => (
            snapshot
                .events
                .last()
                .map_or_else(|| "new".to_owned(), |e| e.kind.clone()),
            true,
        ),
    };
    Ok(DocStatus { status, open })
}

/// The status of an already folded case, for callers that need the fold for more.
pub fn case_status(state: &case::CaseState) -> Result<DocStatus> {
    Ok(DocStatus {
        status: serde_name(&state.status)?,
        open: state.is_open(),
    })
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

/// The due time and band of a case or notice; nothing for the other kinds.
pub fn due_of(snapshot: &Snapshot, catalogue: &Catalogue, calendar: &Calendar) -> Due {
    match snapshot.header.kind {
        DocKind::Case => case_due(&case::fold(snapshot), &snapshot.events, catalogue, calendar),
        DocKind::Notice => match notice::fold_notice(snapshot) {
            Ok(state) => Due {
                deadline: state.due.map(|d| d.due),
                band: state.due.map(|_| state.warning.unwrap_or(Band::Green)),
            },
            Err(_) => Due::default(),
        },
        _ => Due::default(),
    }
}

/// The due time of a dispatched case's handling and the latest band the server wrote
/// since that dispatch (a return to dispatch starts a new clock and a green band).
///
/// A case whose category this catalogue does not know has no due time here: the list
/// must not fail on it (the verdict and the scheduler report the unknown category).
pub fn case_due(
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
pub fn bundled_reference() -> Option<&'static (Catalogue, Calendar)> {
    static BUNDLED: OnceLock<Option<(Catalogue, Calendar)>> = OnceLock::new();
    BUNDLED
        .get_or_init(|| Some((Catalogue::builtin().ok()?, Calendar::bundled().ok()?)))
        .as_ref()
}

fn serde_name<T: serde::Serialize>(status: &T) -> Result<String> {
    Ok(serde_json::to_value(status)?
        .as_str()
        .unwrap_or("unknown")
        .to_owned())
}
