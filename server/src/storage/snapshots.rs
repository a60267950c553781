//! Each document's folded content as of its last change, kept beside it so the monthly
//! evaluation reads tens of thousands of documents without loading automerge (a cold
//! evaluation at 1,000,000 documents spent its time loading them one by one).
//!
//! Written in the change's own transaction by both backends (SQLite's `insert_change`,
//! PostgreSQL's `prepare_documents`) from [`crate::storage::NewChange::snapshot`]: a
//! change that carries none deletes the row, so a row present is always the document's
//! current content. A document without a row (stored before this table) is loaded whole.

use fieldloop_core::doc::Snapshot;

use super::error::{StoreError, StoreResult};

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
