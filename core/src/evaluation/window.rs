//! When a document can count in an evaluation: the window from its first event to the
//! last moment [`super::evaluate`] or [`super::evaluate_contractors`] could look at, kept
//! beside the document so a month's evaluation reads only the documents whose window
//! meets the month, not every document a city ever stored.
//!
//! Every figure of a period needs an event inside it (reports, verifications, patrols,
//! notices issued or closed) or a due time inside it (a case's nominal deadline, a
//! notice's deadline). Both lie within `[from, until]`: `from` is the earliest event or
//! the creation, `until` the latest event or due time. A document still open has no
//! `until` (a later event can land anywhere after now). A document that changes after a
//! period's cut-off has `until` past that cut-off, so its window still meets the period.

use serde::{Deserialize, Serialize};

use crate::case;
use crate::catalogue::Catalogue;
use crate::doc::{DocKind, Snapshot};
use crate::notice::{fold_notice, NoticeStatus};
use crate::patrol::{self, PatrolStatus};
use crate::schedule::case_clock;
use crate::sla::Calendar;
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveWindow {
    pub from: Millis,
    /// None while the document is open, or when its due time cannot be computed.
    pub until: Option<Millis>,
}

impl ActiveWindow {
    /// Whether the window meets `[starts, ends)`.
    pub fn meets(&self, starts: Millis, ends: Millis) -> bool {
        self.from < ends && self.until.is_none_or(|until| until >= starts)
    }
}

/// The window of `snapshot` under this catalogue and calendar.
pub fn active_window(
    snapshot: &Snapshot,
    catalogue: &Catalogue,
    calendar: &Calendar,
) -> ActiveWindow {
    let header = &snapshot.header;
    let first = snapshot.events.iter().map(|e| e.at).min();
    let last = snapshot.events.iter().map(|e| e.at).max();
    let from = first.map_or(header.created_at, |f| f.min(header.created_at));
    let last = last.map_or(header.created_at, |l| l.max(header.created_at));
    let until = match header.kind {
        DocKind::Case => {
            let state = case::fold(snapshot);
            if state.is_open() {
                None
            } else {
                match case_clock(&state, catalogue, calendar, last) {
                    Ok(None) => Some(last),
                    Ok(Some(mut clock)) => {
                        // The evaluation's nominal deadline does not count suspensions.
                        clock.suspensions.clear();
                        calendar.due(&clock).ok().map(|due| due.due.max(last))
                    }
                    Err(_) => None,
                }
            }
        }
        DocKind::Notice => match fold_notice(snapshot) {
            Ok(state) if state.status == NoticeStatus::Closed => {
                Some(state.due.map_or(last, |d| d.due.max(last)))
            }
            _ => None,
        },
        DocKind::Patrol => (patrol::fold(snapshot).status == PatrolStatus::Ended).then_some(last),
        DocKind::SiteInspection | DocKind::PatrolPlan => Some(last),
    };
    ActiveWindow { from, until }
}
