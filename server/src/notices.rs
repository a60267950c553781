//! The referee's part in rectification notices beyond the fold: the verdict with the
//! reply photos' place, time and reuse checks ([`judge`]), and the deadline warnings
//! (预警 / 超期) the scheduler writes when a notice's working days run out
//! ([`warnings`]). The rules are `fieldloop_core::{verify, schedule}`'s.

use fieldloop_core::doc::{DocKind, Event, Snapshot};
use fieldloop_core::notice::{fold_notice, NoticeStatus, NOTICE_WARNED};
use fieldloop_core::schedule::due_notice_warnings;
use fieldloop_core::time::Millis;
use fieldloop_core::verify::{
    verify_notice_with, NoticeEvidence, NoticeOutcome, ReuseIndex, NOTICE_RADIUS_M,
};
use uuid::Uuid;

use crate::error::Result;
use crate::referee::{
    stamp_after, uploads_and_custody, write_events, writer_actor, Written, SERVER_USER,
};
use crate::state::AppState;
use crate::storage::{retry_stale, BlobHash};

/// Open notices read per page of the scheduler's scan.
const SCAN_PAGE: usize = 1000;

/// The notice's verdict, when one is due: every item confirmed, photos arrived, and each
/// reply photo taken on the site, after the notice, and not used elsewhere.
pub async fn judge(state: &AppState, snapshot: &Snapshot, now: Millis) -> Result<NoticeOutcome> {
    let (uploads, custody) = uploads_and_custody(state, snapshot).await?;
    let reuse = reuse_index(state, snapshot).await?;
    let evidence = NoticeEvidence {
        reuse: &reuse,
        policy: &state.reference.current().verify_policy,
        radius_m: NOTICE_RADIUS_M,
        now,
        custody: Some(&custody),
    };
    Ok(verify_notice_with(snapshot, &uploads, Some(&evidence))?)
}

/// Other documents (cases, other notices) that use the same photo files.
async fn reuse_index(state: &AppState, snapshot: &Snapshot) -> Result<ReuseIndex> {
    let own = snapshot.header.id;
    let mut index = ReuseIndex::default();
    for hash in snapshot.evidence.keys() {
        let Ok(address) = BlobHash::parse(hash) else {
            continue;
        };
        let others: Vec<Uuid> = state
            .blob_index
            .referencing_docs(&address)
            .await?
            .into_iter()
            .filter(|p| p.doc_id != own && matches!(p.kind, DocKind::Case | DocKind::Notice))
            .map(|p| p.doc_id)
            .collect();
        if !others.is_empty() {
            index.cases_by_hash.insert(hash.clone(), others);
        }
    }
    Ok(index)
}

/// Writes the 预警 / 超期 events due at `now` on every open notice, each notice on its
/// own: one that cannot be read is logged, counted and looked at again next tick. Reads
/// the open notices page by page through the (kind, status) index, never a capped count.
pub async fn warnings(state: &AppState, now: Millis) -> Result<Written> {
    let open = crate::projection::status_names(&[
        NoticeStatus::Issued,
        NoticeStatus::Signed,
        NoticeStatus::AllConfirmed,
    ]);
    let mut written = Written::default();
    let mut after = None;
    loop {
        let page = state
            .docs
            .with_status(DocKind::Notice, open.clone(), after, SCAN_PAGE)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.doc_id);
        for projection in &page {
            let id = projection.doc_id;
            match retry_stale(|| notice_warnings(state, id, now)).await {
                Ok(w) => written += w,
                Err(e) => {
                    let what = format!("notice deadline check of {id}");
                    state.judging.failed(None, &what, &e);
                    written.failed += 1;
                }
            }
        }
    }
    Ok(written)
}

async fn notice_warnings(state: &AppState, id: Uuid, now: Millis) -> Result<Written> {
    let Some(loaded) = state
        .doc_cache
        .load(&*state.docs, id, &writer_actor())
        .await?
    else {
        return Ok(Written::default());
    };
    let target = (loaded.id, loaded.kind, loaded.last_seq);
    let mut doc = loaded.doc;
    let snapshot = doc.snapshot()?;
    let notice = fold_notice(&snapshot)?;
    if notice.status == NoticeStatus::Closed {
        return Ok(Written::default());
    }
    let reference = &state.reference.current();
    let due = due_notice_warnings(
        &notice,
        &reference.calendar,
        &reference.deadline_policy.sla,
        now,
    )?;
    let stamp = stamp_after(&snapshot, now);
    let events = due
        .iter()
        .map(|warned| {
            Ok(Event::by_server(
                Uuid::now_v7(),
                NOTICE_WARNED,
                stamp,
                SERVER_USER,
                serde_json::to_value(warned).map_err(fieldloop_core::Error::from)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    write_events(state, &mut doc, target, events, now).await
}
