//! The audit trail of a dispatcher's and an admin's decisions on cases: 督办, 收回,
//! void and reopen are in each case's own log, and also in the server's audit log (who,
//! from which device, when it arrived, with the reason), where an auditor finds every
//! correction without reading every case.

use std::collections::HashSet;

use fieldloop_core::case::kinds;
use fieldloop_core::doc::{Doc, DocKind};
use uuid::Uuid;

use crate::error::Result;
use crate::referee::writer_actor;
use crate::state::AppState;
use crate::storage::{AuditEntry, Seq};
use crate::sync::AcceptedDoc;

/// Case events that are corrections or orders, audited when a person writes them.
const AUDITED: &[&str] = &[
    kinds::VOIDED,
    kinds::REOPENED,
    kinds::SUPERVISED,
    kinds::RECALLED,
];

/// Records an audit entry for each audited event the accepted changes brought. A failure
/// is logged: the changes are stored and acknowledged whatever the audit log does.
pub async fn audit_accepted(state: &AppState, accepted: &[AcceptedDoc]) {
    for doc in accepted.iter().filter(|a| a.kind == DocKind::Case) {
        if let Err(e) = audit_one(state, doc).await {
            tracing::error!(doc = %doc.doc_id, error = %e, "auditing corrections failed");
        }
    }
}

async fn audit_one(state: &AppState, accepted: &AcceptedDoc) -> Result<()> {
    let replayed;
    let brought = match &accepted.new_events {
        Some(events) => events,
        None => {
            replayed = replay_new_events(state, accepted).await?;
            &replayed
        }
    };
    for event in brought {
        if !AUDITED.contains(&event.kind.as_str()) || event.by != accepted.origin.user_id {
            continue;
        }
        let reason = event
            .data
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or("");
        state
            .audit
            .record(AuditEntry {
                at: accepted.origin.arrived_at,
                user_id: Some(event.by.clone()),
                device_id: accepted.origin.device_id.clone(),
                action: event.kind.clone(),
                target: Some(accepted.doc_id.to_string()),
                detail: Some(format!("{:?}: {reason}", event.role)),
            })
            .await?;
    }
    Ok(())
}

/// The events a stored change brought, found by replaying the document up to it; for
/// writers that did not say (the console, citizen reports).
async fn replay_new_events(
    state: &AppState,
    accepted: &AcceptedDoc,
) -> Result<Vec<fieldloop_core::doc::Event>> {
    let Some(stored) = state.docs.load_doc(accepted.doc_id).await? else {
        return Ok(Vec::new());
    };
    let actor = writer_actor();
    let ids_through = |through: Option<Seq>| -> Result<HashSet<Uuid>> {
        let mut doc = if stored.compacted.is_empty() {
            Doc::empty(&actor)
        } else {
            Doc::load(&stored.compacted, &actor)?
        };
        for change in &stored.changes {
            if through.is_some_and(|t| change.seq >= t) {
                break;
            }
            doc.load_changes(&change.bytes)?;
        }
        Ok(doc
            .snapshot()
            .map(|s| s.events.into_iter().map(|e| e.id).collect())
            .unwrap_or_default())
    };
    let before = ids_through(Some(accepted.seq))?;
    let after = stored.load(&actor)?.snapshot()?;
    Ok(after
        .events
        .into_iter()
        .filter(|e| !before.contains(&e.id))
        .collect())
}
