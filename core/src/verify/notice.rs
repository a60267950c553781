//! The verdict on a rectification notice (对账销号): every item confirmed by the
//! supervisor, each with after-photos that arrived intact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::custody::{signature_check, CustodyFacts};
use super::{hamming, short, ReuseIndex, UploadedPhoto, VerifyPolicy};
use crate::doc::{Event, Snapshot};
use crate::error::Result;
use crate::geo::within_radius;
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

/// What the server knows beyond the notice itself, for the checks case photos get too:
/// place (within `radius_m` of the notice's position, when it has one), time (taken
/// after the notice was issued, not in the future) and reuse (not evidence in another
/// document, not perceptually another photo).
#[derive(Debug, Clone, Copy)]
pub struct NoticeEvidence<'a> {
    pub reuse: &'a ReuseIndex,
    pub policy: &'a VerifyPolicy,
    /// How far from the notice's position a reply photo may be taken: a site, not a spot.
    pub radius_m: f64,
    pub now: Millis,
    /// The server's registered device keys and held files: every reply photo's signature
    /// is checked as a case photo's is (`None`: not checked, as on the phone).
    pub custody: Option<&'a CustodyFacts>,
}

/// A construction site's reach, for the place check of reply photos: fieldloop's default,
/// not from a published source.
pub const NOTICE_RADIUS_M: f64 = 300.0;

/// Judges a notice whose items are all confirmed, on the supervisor's confirmations and
/// the photos' arrival only (the phone's preview). `uploads` holds the photos received,
/// by content hash. The server judges with [`verify_notice_with`].
pub fn verify_notice(
    snapshot: &Snapshot,
    uploads: &BTreeMap<String, UploadedPhoto>,
) -> Result<NoticeOutcome> {
    verify_notice_with(snapshot, uploads, None)
}

/// [`verify_notice`], plus the place, time and reuse checks of every reply photo when
/// `evidence` is given.
pub fn verify_notice_with(
    snapshot: &Snapshot,
    uploads: &BTreeMap<String, UploadedPhoto>,
    evidence: Option<&NoticeEvidence<'_>>,
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
                        "item {}: 照片 {} 与其内容地址不符 (does not match its address)",
                        item.item.id,
                        short(h)
                    ));
                }
                if !u.decodable {
                    problems.push(format!(
                        "item {}: 照片 {} 不是可读的图片 (not a readable image)",
                        item.item.id,
                        short(h)
                    ));
                }
            }
        }
    }
    if let Some(evidence) = evidence {
        reply_photo_checks(snapshot, &state, uploads, evidence, &mut problems);
        if let Some(custody) = evidence.custody {
            let labels: Vec<(String, &str)> = state
                .items
                .iter()
                .flat_map(|i| {
                    i.photos
                        .iter()
                        .map(move |h| (format!("item {}", i.item.id), h.as_str()))
                })
                .collect();
            let photos: Vec<(&str, &str)> = labels.iter().map(|(l, h)| (l.as_str(), *h)).collect();
            let check = signature_check(snapshot, &photos, custody);
            if !check.passed {
                problems.push(check.reason);
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

/// Place, time and reuse of every reply photo, as a case's after-photos get them.
fn reply_photo_checks(
    snapshot: &Snapshot,
    state: &crate::notice::NoticeState,
    uploads: &BTreeMap<String, UploadedPhoto>,
    evidence: &NoticeEvidence<'_>,
    problems: &mut Vec<String>,
) {
    let policy = evidence.policy;
    let own = snapshot.header.id;
    let issued_at = state.issued_at.unwrap_or(Millis::MIN);
    let phash_of = |h: &str| {
        uploads
            .get(h)
            .and_then(|u| u.phash)
            .or_else(|| snapshot.evidence.get(h).and_then(|e| e.phash))
    };
    let mut seen: Vec<(&str, &str, u64)> = Vec::new();
    for item in &state.items {
        let id = item.item.id.as_str();
        for h in &item.photos {
            let Some(e) = snapshot.evidence.get(h) else {
                continue;
            };
            // place
            if e.mock {
                problems.push(format!(
                    "item {id}: 照片 {} 的位置来自模拟定位应用 (place: mock location)",
                    short(h)
                ));
            }
            match (snapshot.header.position, e.position) {
                (Some(site), Some(at)) => {
                    match within_radius(&at, &site, evidence.radius_m, &policy.accuracy) {
                        Ok(c) if c.within => {}
                        Ok(c) => problems.push(format!(
                            "item {id}: 照片 {} 离通知单位置太远 (place): {}",
                            short(h),
                            c.message()
                        )),
                        Err(e) => {
                            problems.push(format!("item {id}: 照片 {} (place): {e}", short(h)))
                        }
                    }
                }
                (Some(_), None) => problems.push(format!(
                    "item {id}: 照片 {} 没有 GPS 位置 (place: no GPS position)",
                    short(h)
                )),
                // A notice issued without a position has no site to compare with.
                (None, _) => {}
            }
            // time
            if e.taken_at < issued_at {
                problems.push(format!(
                    "item {id}: 照片 {} 拍摄于通知单下达之前 (time: taken {} min before the notice)",
                    short(h),
                    issued_at.saturating_sub(e.taken_at) / crate::time::MINUTE
                ));
            }
            if e.taken_at > evidence.now.saturating_add(policy.max_clock_ahead) {
                problems.push(format!(
                    "item {id}: 照片 {} 的拍摄时间在未来 (time: claims to be taken in the future)",
                    short(h)
                ));
            }
            // reuse: the same file in another document, or the same picture again
            if let Some(others) = evidence.reuse.cases_by_hash.get(h.as_str()) {
                let others: Vec<String> = others
                    .iter()
                    .filter(|d| **d != own)
                    .map(|d| d.to_string())
                    .collect();
                if !others.is_empty() {
                    problems.push(format!(
                        "item {id}: 照片 {} 已是其他文档 {} 的证据 (reuse)",
                        short(h),
                        others.join(", ")
                    ));
                }
            }
            let Some(p) = phash_of(h) else {
                continue;
            };
            if let Some((other_item, other, _)) = seen.iter().find(|(i, o, q)| {
                *i != id && *o != h && hamming(p, *q) <= policy.max_phash_distance
            }) {
                problems.push(format!(
                    "item {id}: 照片 {} 与 item {other_item} 的照片 {} 是同一画面 (reuse)",
                    short(h),
                    short(other)
                ));
            }
            if let Some(copy) = evidence.reuse.phashes.iter().find(|o| {
                o.case_id != own && o.hash != *h && hamming(p, o.phash) <= policy.max_phash_distance
            }) {
                problems.push(format!(
                    "item {id}: 照片 {} 与文档 {} 的照片 {} 是同一画面 (reuse)",
                    short(h),
                    copy.case_id,
                    short(&copy.hash)
                ));
            }
            seen.push((id, h, p));
        }
    }
}
