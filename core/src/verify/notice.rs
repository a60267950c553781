//! The verdict on a rectification notice (对账销号): every item confirmed by the
//! supervisor, each with after-photos that arrived intact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{short, UploadedPhoto};
use crate::doc::{Event, Snapshot};
use crate::error::Result;
use crate::notice::{
    fold_notice, ItemStatus, NoticeStatus, NoticeVerdict, NOTICE_CLOSED, NOTICE_VERDICT,
};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum NoticeOutcome {
    /// Nothing to judge now: not every item is confirmed, or this round already has
    /// its verdict.
    NotReady { reason: String },
    /// Reply photos not received yet; the verdict waits.
    Waiting { missing: Vec<String> },
    /// The verdict; `close` when it passed (verdict + closed), else the verdict alone
    /// (the supervisor reopens the item it concerns).
    Judged { verdict: NoticeVerdict, close: bool },
}

impl NoticeOutcome {
    /// The log entries the server writes: `notice.verdict`, then `notice.closed` when
    /// it passed. `ids` are the two event ids (the second unused when not closing).
    pub fn events(&self, ids: [Uuid; 2], at: Millis, server: &str) -> Result<Vec<Event>> {
        let NoticeOutcome::Judged { verdict, close } = self else {
            return Ok(Vec::new());
        };
        let entry = |id, kind: &str, data| Event::by_server(id, kind, at, server, data);
        let mut out = vec![entry(
            ids[0],
            NOTICE_VERDICT,
            serde_json::to_value(verdict)?,
        )];
        if *close {
            out.push(entry(ids[1], NOTICE_CLOSED, serde_json::Value::Null));
        }
        Ok(out)
    }
}

/// Judges a notice whose items are all confirmed. `uploads` holds the photos received,
/// by content hash.
pub fn verify_notice(
    snapshot: &Snapshot,
    uploads: &BTreeMap<String, UploadedPhoto>,
) -> Result<NoticeOutcome> {
    let state = fold_notice(snapshot)?;
    if state.status != NoticeStatus::AllConfirmed {
        return Ok(NoticeOutcome::NotReady {
            reason: format!(
                "the notice is {:?} with {} items not confirmed",
                state.status,
                state.open_items()
            ),
        });
    }
    // A failed verdict given after the last confirmation already judged this round.
    let ignored: Vec<Uuid> = state.ignored.iter().map(|i| i.event_id).collect();
    let last_verdict = snapshot
        .events
        .iter()
        .filter(|e| e.kind == NOTICE_VERDICT && !ignored.contains(&e.id))
        .map(|e| e.at)
        .max();
    let last_confirmed = state.items.iter().filter_map(|i| i.confirmed_at).max();
    if let (Some(v), Some(c)) = (last_verdict, last_confirmed) {
        if v >= c {
            return Ok(NoticeOutcome::NotReady {
                reason: "this round already has its verdict".to_string(),
            });
        }
    }

    let mut missing: Vec<String> = state
        .items
        .iter()
        .flat_map(|i| i.photos.iter())
        .filter(|h| !uploads.contains_key(h.as_str()))
        .cloned()
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Ok(NoticeOutcome::Waiting { missing });
    }

    let mut problems = Vec::new();
    let mut photos = 0;
    for item in &state.items {
        if item.status != ItemStatus::Confirmed {
            problems.push(format!("item {} is {:?}", item.item.id, item.status));
        }
        if item.photos.is_empty() {
            problems.push(format!("item {} has no after-photo", item.item.id));
        }
        for h in &item.photos {
            photos += 1;
            if !snapshot.evidence.contains_key(h) {
                problems.push(format!(
                    "item {}: photo {} is not in the evidence map",
                    item.item.id,
                    short(h)
                ));
            }
            if let Some(u) = uploads.get(h) {
                if !u.hash_matches {
                    problems.push(format!(
                        "item {}: photo {} does not match its address",
                        item.item.id,
                        short(h)
                    ));
                }
                if !u.decodable {
                    problems.push(format!(
                        "item {}: photo {} is not a readable image",
                        item.item.id,
                        short(h)
                    ));
                }
            }
        }
    }
    let passed = problems.is_empty();
    let reasons = if passed {
        vec![format!(
            "all {} items confirmed by the supervisor, {photos} after-photos received intact",
            state.items.len()
        )]
    } else {
        problems
    };
    Ok(NoticeOutcome::Judged {
        verdict: NoticeVerdict { passed, reasons },
        close: passed,
    })
}
