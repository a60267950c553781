//! A document's state in one word, for the phone's lists and the server's query
//! projections, from its kind's own fold: the one place that maps every kind to a status,
//! so a list on the phone and a projection on the server say the same thing.

use crate::doc::{DocKind, Snapshot};
use crate::error::Result;
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

fn serde_name<T: serde::Serialize>(status: &T) -> Result<String> {
    Ok(serde_json::to_value(status)?
        .as_str()
        .unwrap_or("unknown")
        .to_owned())
}
