//! The audit trail of a dispatcher's and an admin's decisions on cases: 督办, 收回,
//! void and reopen are in each case's own log, and also in the server's audit log (who,
//! from which device, when it arrived, with the reason), where an auditor finds every
//! correction without reading every case. The entries travel with the change that brings
//! the events ([`crate::storage::NewChange::audit`]), so both are stored or neither.

use fieldloop_core::case::kinds;
use fieldloop_core::doc::{DocKind, Event};
use uuid::Uuid;

use crate::storage::{AuditEntry, Origin};

/// Case events that are corrections or orders, audited when a person writes them.
const AUDITED: &[&str] = &[
    kinds::VOIDED,
    kinds::REOPENED,
    kinds::SUPERVISED,
    kinds::RECALLED,
];

/// One audit entry per correction or order among `brought`, the events a change by
/// `origin` adds to document `doc`. Events written in another person's name (replayed
/// from elsewhere) are that person's to answer for, and are not entered again.
pub fn audit_entries(
    (doc, kind): (Uuid, DocKind),
    origin: &Origin,
    brought: &[Event],
) -> Vec<AuditEntry> {
    if kind != DocKind::Case {
        return Vec::new();
    }
    brought
        .iter()
        .filter(|event| AUDITED.contains(&event.kind.as_str()) && event.by == origin.user_id)
        .map(|event| {
            let reason = event
                .data
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("");
            AuditEntry {
                at: origin.arrived_at,
                user_id: Some(event.by.clone()),
                device_id: origin.device_id.clone(),
                action: event.kind.clone(),
                target: Some(doc.to_string()),
                detail: Some(format!("{:?}: {reason}", event.role)),
            }
        })
        .collect()
}
