//! The audit entries of the server's own decisions and of what it refused: every verdict
//! (case, notice, patrol) with its outcome and reasons, every device change a sync
//! rejected, every refused photo upload or reference import, and admin changes that have
//! no other audit. All go through [`record`] into the hash-chained log.
//!
//! A verdict's entry is written in the transaction that stores the verdict
//! ([`verdict_entries`] on the change). A refusal stores nothing else: its entry is written
//! on its own, and when that fails the refusal stands (it was already answered) and the
//! failure is logged.

use fieldloop_core::case::{kinds, Verdict};
use fieldloop_core::doc::Event;
use fieldloop_core::notice::{NoticeVerdict, NOTICE_VERDICT};
use fieldloop_core::patrol::{PatrolVerdict, VERDICT as PATROL_VERDICT};
use fieldloop_core::sync::wire::{Rejection, RejectionKind};
use fieldloop_core::time::Millis;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::Result;
use crate::referee::SERVER_USER;
use crate::state::AppState;
use crate::storage::{AuditEntry, Origin};

/// Longest reason text kept in one entry; the document holds the whole verdict.
const MAX_DETAIL: usize = 2000;

/// Who did it and from which device, when: `None` user is the server.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<String>,
    pub device_id: Option<String>,
}

impl Actor {
    pub fn person(user_id: &str, device_id: Option<&str>) -> Actor {
        Actor {
            user_id: Some(user_id.to_owned()),
            device_id: device_id.map(str::to_owned),
        }
    }

    fn server() -> Actor {
        Actor::person(SERVER_USER, None)
    }
}

/// Appends one entry to the audit log on its own, for what stores nothing else.
pub async fn record(
    state: &AppState,
    at: Millis,
    actor: Actor,
    action: &str,
    target: impl Into<String>,
    detail: Option<String>,
) -> Result<()> {
    state
        .audit
        .record(entry(at, actor, action, target, detail))
        .await?;
    Ok(())
}

/// The entry as stored, its detail cut to [`MAX_DETAIL`].
pub fn entry(
    at: Millis,
    actor: Actor,
    action: &str,
    target: impl Into<String>,
    detail: Option<String>,
) -> AuditEntry {
    let detail = detail.map(|mut text| {
        if text.len() > MAX_DETAIL {
            let mut cut = MAX_DETAIL;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        text
    });
    AuditEntry {
        at,
        user_id: actor.user_id,
        device_id: actor.device_id,
        action: action.to_owned(),
        target: Some(target.into()),
        detail,
    }
}

/// [`record`] for a decision already stored: a failure is logged, not returned.
async fn record_after(
    state: &AppState,
    at: Millis,
    actor: Actor,
    action: &str,
    target: String,
    detail: String,
) {
    if let Err(e) = record(state, at, actor, action, target.clone(), Some(detail)).await {
        tracing::error!(action, %target, error = %e, "audit entry not written");
    }
}

/// `(action, passed, reasons)` of a verdict event, `None` for any other event.
fn verdict_of(event: &Event) -> Option<(&'static str, bool, Vec<String>)> {
    let data = &event.data;
    match event.kind.as_str() {
        kinds::VERDICT => {
            let verdict = Verdict::deserialize(data).ok()?;
            let reasons = verdict
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{}: {}", c.name, c.reason))
                .collect();
            Some(("verdict.case", verdict.passed(), reasons))
        }
        NOTICE_VERDICT => {
            let verdict = NoticeVerdict::deserialize(data).ok()?;
            Some(("verdict.notice", verdict.passed, verdict.reasons))
        }
        PATROL_VERDICT => {
            let verdict = PatrolVerdict::deserialize(data).ok()?;
            Some(("verdict.patrol", verdict.valid, verdict.reasons))
        }
        _ => None,
    }
}

/// One entry per verdict among the events the server is about to store on document `doc`.
pub fn verdict_entries(doc: Uuid, events: &[Event], now: Millis) -> Vec<AuditEntry> {
    events
        .iter()
        .filter_map(verdict_of)
        .map(|(action, passed, reasons)| {
            let outcome = if passed { "passed" } else { "failed" };
            let detail = if reasons.is_empty() {
                outcome.to_owned()
            } else {
                format!("{outcome}: {}", reasons.join("; "))
            };
            entry(now, Actor::server(), action, doc.to_string(), Some(detail))
        })
        .collect()
}

/// One entry per device change a sync refused (a rule broken, or bytes that are no
/// change). Asking for the whole document (`NeedFull`) is a step of the protocol, not a
/// refusal, and is not audited.
pub async fn rejected_changes(state: &AppState, origin: &Origin, rejections: &[Rejection]) {
    for rejection in rejections {
        let kind = match rejection.kind {
            RejectionKind::Forbidden => "forbidden",
            RejectionKind::Malformed => "malformed",
            RejectionKind::NeedFull => continue,
        };
        let actor = Actor::person(&origin.user_id, origin.device_id.as_deref());
        let detail = format!("{kind}: {}", rejection.reason);
        let target = rejection.id.to_string();
        record_after(
            state,
            origin.arrived_at,
            actor,
            "sync.rejected",
            target,
            detail,
        )
        .await;
    }
}

/// A photo upload the server refused (wrong hash, not an image, too large).
pub async fn refused_upload(state: &AppState, actor: Actor, hash: &str, reason: String) {
    let now = state.clock.now();
    record_after(state, now, actor, "blob.refused", hash.to_owned(), reason).await;
}
