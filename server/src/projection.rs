//! A document's query row (status, unit, cell, deadline, band, console fields), from its
//! fold: written beside every stored change, by sync, the referee and the console alike.

use fieldloop_core::case::{self, CaseStatus};
use fieldloop_core::doc::{DocKind, Snapshot};
use fieldloop_core::evaluation::active_window;
use fieldloop_core::schedule::auto_dispatch;
use fieldloop_core::status;

use crate::reference::Reference;
use crate::storage::{BlobHash, NewChange, Origin, ProjectionFields};
use uuid::Uuid;

/// Statuses as the projections store them (their serde names), for status-index scans.
pub fn status_names<T: serde::Serialize>(statuses: &[T]) -> Vec<String> {
    statuses
        .iter()
        .filter_map(|s| serde_json::to_value(s).ok()?.as_str().map(str::to_owned))
        .collect()
}

/// The row to store for a change to document `id` whose result is `snapshot`: its bytes,
/// who sent them, and the query columns and photo references from the fold. A key that is
/// no content address (a phone's bug) has no blob to refer to; its verdict says so, and
/// storing the change must not fail on it.
pub fn change_of(
    (id, kind): (Uuid, fieldloop_core::doc::DocKind),
    snapshot: &Snapshot,
    bytes: Vec<u8>,
    origin: Origin,
    reference: &Reference,
) -> NewChange {
    NewChange {
        doc_id: id,
        kind,
        bytes,
        origin,
        projection: projection_of(snapshot, reference),
        blob_refs: snapshot
            .evidence
            .keys()
            .filter(|hash| BlobHash::parse(hash).is_ok())
            .cloned()
            .collect(),
        audit: Vec::new(),
        snapshot: crate::storage::snapshots::encode(snapshot),
    }
}

/// The query columns of a document, from its fold.
pub fn projection_of(snapshot: &Snapshot, reference: &Reference) -> ProjectionFields {
    let header = &snapshot.header;
    // A document whose fold fails still gets its row (no status): the push was valid.
    let window = active_window(snapshot, &reference.catalogue, &reference.calendar);
    let (status, due, scope) =
        match status::summarize(snapshot, Some((&reference.catalogue, &reference.calendar))) {
            Ok(s) => (Some(s.status.status), s.due, s.scope),
            Err(_) => (None, status::Due::default(), header.scope.clone()),
        };
    let owed = dispatch_owed(snapshot, status.as_deref(), reference);
    ProjectionFields {
        status,
        unit: scope.unit,
        grid_cell: scope.grid_cell,
        project: scope.project,
        segment: scope.segment,
        deadline: due.deadline,
        band: due.band_name(),
        // Position, creation time and source let the console's lists and map read rows only.
        json: serde_json::json!({
            "created_by": header.created_by,
            "category": header.category,
            "position": header.position,
            "created_at": header.created_at,
            "source": snapshot.fields.get("source"),
            "duplicate_candidates": crate::duplicates::pending_candidates(snapshot),
            DISPATCH_OWED: owed,
            // Which months' evaluations must read the document (storage::active).
            "active_from": window.from,
            "active_until": window.until,
        }),
    }
}

/// The projection's mark of a case the referee owes its dispatch by the responsibility
/// matrix: registered, not held as a possible duplicate, not sent back by a unit, with a
/// unit in the matrix. Written in the same transaction as the registration, so a dispatch
/// lost to a crash is found by the tick ([`crate::judging::retry_failed`]) from the rows
/// alone, without loading the registered cases that wait for a dispatcher.
pub const DISPATCH_OWED: &str = "dispatch_owed";

fn dispatch_owed(snapshot: &Snapshot, status: Option<&str>, reference: &Reference) -> bool {
    let registered = status_names(&[CaseStatus::Registered]);
    if snapshot.header.kind != DocKind::Case || status != registered.first().map(String::as_str) {
        return false;
    }
    let Some(cell) = snapshot.header.scope.grid_cell.as_deref() else {
        return false;
    };
    auto_dispatch(&case::fold(snapshot), cell, &reference.matrix).is_some()
}
