//! Background compaction: a document whose change log has grown is saved whole once, so
//! it loads from that base plus the changes since instead of replaying its history.
//!
//! Nothing a device may still need is lost: an automerge save holds every change (by
//! hash), so a device that has not acknowledged some of them still gets exactly the
//! changes after its known heads; and each change's arrival record (who, which device,
//! when) stays beside the base. A change stored while the base was being made has a
//! later sequence number than the base covers, so it stays in the log.

use super::{DocStore, StoreResult};

/// Compacts up to `limit` documents with at least `min_changes` changes since their last
/// compaction. Returns how many it compacted.
pub async fn compact_long_documents(
    docs: &dyn DocStore,
    min_changes: u32,
    limit: usize,
) -> StoreResult<usize> {
    let actor = fieldloop_core::doc::actor_for(&uuid::Uuid::nil());
    let mut compacted = 0;
    for id in docs.compaction_candidates(min_changes, limit).await? {
        let Some(stored) = docs.load_doc(id).await? else {
            continue;
        };
        let through = stored.last_seq;
        let saved = match stored.load(&actor) {
            Ok(mut doc) => doc.save(),
            Err(e) => {
                // A document that does not load is left exactly as it is, for a person.
                tracing::error!(doc = %id, error = %e, "not compacted: does not load");
                continue;
            }
        };
        docs.compact(id, saved, through).await?;
        compacted += 1;
    }
    if compacted > 0 {
        tracing::info!(documents = compacted, "documents compacted");
    }
    Ok(compacted)
}
