//! Each document's folded content as of its last change, kept beside it so the monthly
//! evaluation reads tens of thousands of documents without loading automerge (a cold
//! evaluation at 1,000,000 documents spent its time loading them one by one).
//!
//! Written in the change's own transaction by both backends (SQLite's `insert_change`,
//! PostgreSQL's `prepare_documents`) from [`crate::storage::NewChange::snapshot`]: a
//! change that carries none deletes the row, so a row present is always the document's
//! current content. A document without a row (stored before this table) is loaded whole.

use fieldloop_core::doc::Snapshot;
use uuid::Uuid;

use super::error::{StoreError, StoreResult};
use super::DocStore;

/// SQLite's table, created by migration 15 and appended to a fresh schema.
pub const SQLITE_TABLE: &str = r#"
CREATE TABLE doc_snapshots (
    doc_id TEXT PRIMARY KEY NOT NULL,
    bytes BLOB NOT NULL
) STRICT, WITHOUT ROWID;
"#;

/// PostgreSQL's table, created by migration 10 and appended to a fresh schema.
pub const PG_TABLE: &str = r#"
CREATE TABLE doc_snapshots (
    doc_id UUID PRIMARY KEY,
    bytes BYTEA NOT NULL
);
"#;

pub const SQLITE_UPSERT: &str =
    "INSERT OR REPLACE INTO doc_snapshots (doc_id, bytes) VALUES (?1, ?2)";
pub const SQLITE_DELETE: &str = "DELETE FROM doc_snapshots WHERE doc_id = ?1";
pub const SQLITE_SELECT: &str = "SELECT bytes FROM doc_snapshots WHERE doc_id = ?1";
/// Upserts `$1`/`$2` and deletes `$3`, in one statement (the sets are disjoint).
pub const PG_WRITE: &str = "WITH gone AS ( \
         DELETE FROM doc_snapshots WHERE doc_id = ANY($3::uuid[]) \
     ) \
     INSERT INTO doc_snapshots (doc_id, bytes) \
     SELECT * FROM UNNEST($1::uuid[], $2::bytea[]) \
     ON CONFLICT (doc_id) DO UPDATE SET bytes = excluded.bytes";
pub const PG_SELECT: &str = "SELECT doc_id, bytes FROM doc_snapshots WHERE doc_id = ANY($1)";
/// A bounded page of documents by id, each with whether it has a snapshot: the page is
/// cut before the probe, so a database with every snapshot kept is walked, not scanned.
pub const SQLITE_GAPS: &str = "SELECT page.id, EXISTS (SELECT 1 FROM doc_snapshots s      WHERE s.doc_id = page.id) FROM (SELECT id FROM documents WHERE id > ?1 ORDER BY id      LIMIT ?2) AS page ORDER BY page.id";
pub const PG_GAPS: &str = "SELECT page.id, EXISTS (SELECT 1 FROM doc_snapshots s      WHERE s.doc_id = page.id) FROM (SELECT id FROM documents WHERE id > $1 ORDER BY id      LIMIT $2) AS page ORDER BY page.id";
/// Never replaces a kept row: one there was written by a change, in its transaction.
pub const SQLITE_KEEP_IF_CURRENT: &str = "INSERT OR IGNORE INTO doc_snapshots (doc_id, bytes)      SELECT id, ?3 FROM documents WHERE id = ?1 AND last_seq = ?2";
pub const PG_KEEP_IF_CURRENT: &str = "INSERT INTO doc_snapshots (doc_id, bytes)      SELECT id, $3 FROM documents WHERE id = $1 AND last_seq = $2      ON CONFLICT (doc_id) DO NOTHING";

/// zstd level: the write path pays it on every accepted change, so the fastest.
const LEVEL: i32 = 1;

/// The stored form: JSON, zstd-compressed (a case's snapshot is mostly repeated keys).
pub fn encode(snapshot: &Snapshot) -> Option<Vec<u8>> {
    let json = serde_json::to_vec(snapshot).ok()?;
    zstd::bulk::compress(&json, LEVEL).ok()
}

/// Largest decompressed snapshot accepted: far above any real document's.
const MAX_DECODED: u64 = 64 * 1024 * 1024;

pub fn decode(bytes: &[u8]) -> StoreResult<Snapshot> {
    let bad =
        |reason: String| StoreError::invalid("bad_snapshot", format!("stored snapshot: {reason}"));
    // `encode` always declares the size: allocate that, not the limit.
    let declared = match zstd::zstd_safe::get_frame_content_size(bytes) {
        Ok(Some(n)) if n <= MAX_DECODED => n as usize,
        Ok(size) => return Err(bad(format!("declared size {size:?}"))),
        Err(e) => return Err(bad(format!("{e:?}"))),
    };
    let json = zstd::bulk::decompress(bytes, declared).map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))
}

/// Where the backfill of documents stored before snapshots were kept has got to, kept by
/// the scheduler between its rounds: each round walks on from here.
#[derive(Debug, Default)]
pub struct Backfill {
    after: Option<Uuid>,
    /// The walk reached the last document: nothing is left to fill in this process (every
    /// document stored since carries its snapshot).
    pub finished: bool,
    /// Snapshots written so far, for the log.
    pub kept: u64,
}

/// Documents looked at per query of the walk.
const WALK_PAGE: usize = 2_000;
/// Queries of the walk per call at most: a database whose snapshots are all kept is
/// walked once per process, over several rounds, without holding up one round.
const WALK_PAGES_PER_CALL: usize = 25;

/// Walks on through the documents, keeping the snapshot of each that has none, until
/// `budget` documents were loaded or the walk ends. Returns how many were kept now.
pub async fn keep_missing_snapshots(
    docs: &dyn DocStore,
    backfill: &mut Backfill,
    budget: usize,
) -> StoreResult<usize> {
    let actor = fieldloop_core::doc::actor_for(&Uuid::nil());
    let mut loaded = 0;
    let mut kept = 0;
    let mut pages = 0;
    while !backfill.finished && loaded < budget && pages < WALK_PAGES_PER_CALL {
        pages += 1;
        let page = docs.snapshot_gaps(backfill.after, WALK_PAGE).await?;
        backfill.finished = page.len() < WALK_PAGE;
        for (id, has) in page {
            backfill.after = Some(id);
            if has {
                continue;
            }
            loaded += 1;
            let Some(stored) = docs.load_doc(id).await? else {
                continue;
            };
            let seq = stored.last_seq;
            let folded = stored.load(&actor).and_then(|doc| doc.snapshot());
            let bytes = match folded.map(|s| encode(&s)) {
                Ok(Some(bytes)) => bytes,
                // Left without one: the evaluation keeps loading it whole.
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(doc = %id, error = %e, "no snapshot kept: does not fold");
                    continue;
                }
            };
            if docs.keep_snapshot_if_current(id, seq, bytes).await? {
                kept += 1;
            }
            if loaded >= budget {
                // The rest of the page is walked again next round.
                backfill.finished = false;
                break;
            }
        }
    }
    backfill.kept += kept as u64;
    if kept > 0 {
        tracing::info!(
            now = kept,
            total = backfill.kept,
            finished = backfill.finished,
            "kept snapshots of older documents"
        );
    }
    Ok(kept)
}
