//! The embedded database's schema: a fresh database is created at the current version in
//! one step, an older one is upgraded migration by migration, and a test checks that both
//! roads end at the same schema.
//!
//! To change the schema: bump [`VERSION`], append the step to [`MIGRATIONS`], and edit
//! [`CURRENT`] so a fresh database matches (columns added by `ALTER TABLE` go last).

use rusqlite::{Connection, Transaction};

use super::error::{StoreError, StoreResult as Result};

pub const VERSION: i64 = 15;

/// The schema of version 1, kept so tests can build an old database to migrate.
pub const V1: &str = r#"
CREATE TABLE documents (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    compacted BLOB,
    compacted_through INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    bytes BLOB,
    user_id TEXT NOT NULL,
    device_id TEXT,
    arrived_at INTEGER NOT NULL
) STRICT;
CREATE INDEX changes_by_doc ON changes(doc_id, seq);
CREATE TABLE projections (
    doc_id TEXT PRIMARY KEY NOT NULL REFERENCES documents(id),
    kind TEXT NOT NULL,
    status TEXT,
    unit TEXT,
    grid_cell TEXT,
    project TEXT,
    segment TEXT,
    deadline INTEGER,
    band TEXT,
    json TEXT NOT NULL DEFAULT '{}',
    seq INTEGER NOT NULL
) STRICT;
CREATE INDEX projections_by_seq ON projections(seq);
CREATE INDEX projections_by_unit ON projections(unit, seq);
CREATE INDEX projections_by_cell ON projections(grid_cell);
CREATE INDEX projections_by_status ON projections(kind, status);
CREATE INDEX projections_by_deadline ON projections(deadline) WHERE deadline IS NOT NULL;
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    registered_at INTEGER NOT NULL
) STRICT;
CREATE TABLE tokens (
    hash BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX tokens_by_user ON tokens(user_id);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    user_id TEXT,
    device_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
) STRICT;
"#;

/// `(version reached, step)`, applied in order to databases older than that version.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        2,
        // Photos: what was stored, and which documents reference it (for scoped reads);
        // tokens learn the device they speak for; projections get project/segment indexes.
        r#"
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY NOT NULL,
    size INTEGER NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL
) STRICT;
CREATE TABLE blob_refs (
    hash TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (hash, doc_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX blob_refs_by_doc ON blob_refs(doc_id);
ALTER TABLE tokens ADD COLUMN device_id TEXT;
CREATE INDEX projections_by_project ON projections(project);
CREATE INDEX projections_by_segment ON projections(segment);
"#,
    ),
    (
        3,
        // Sync: per (device, document) the heads the server knows the device has, and
        // the heads sent in a response not yet confirmed by a later cursor.
        r#"
CREATE TABLE device_heads (
    device_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    confirmed BLOB NOT NULL,
    pending BLOB,
    pending_cursor INTEGER,
    PRIMARY KEY (device_id, doc_id)
) STRICT, WITHOUT ROWID;
"#,
    ),
    (
        4,
        // Photos keep their perceptual hash (computed when the upload is verified), so
        // the reuse check reads a street's hashes in one query instead of decoding them;
        // rows from before stay NULL until the referee computes them.
        r#"
ALTER TABLE blobs ADD COLUMN phash INTEGER;
"#,
    ),
    (
        5,
        // Open311 client apps: an admin issues each an api_key (only its SHA-256 kept).
        r#"
CREATE TABLE open311_clients (
    key_hash BLOB PRIMARY KEY NOT NULL,
    client TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
"#,
    ),
    (6, super::reference::SQLITE_TABLE),
    (
        7,
        // Scans page through indexes instead of reading a capped count: live cases by
        // (kind, status, id); documents count their changes since the last compaction so
        // the compactor finds the long ones; the scheduler's lease.
        r#"
DROP INDEX projections_by_status;
CREATE INDEX projections_by_status ON projections(kind, status, doc_id);
CREATE INDEX projections_by_grid ON projections(grid_cell, seq);
ALTER TABLE documents ADD COLUMN uncompacted INTEGER NOT NULL DEFAULT 0;
UPDATE documents SET uncompacted =
    (SELECT count(*) FROM changes c WHERE c.doc_id = documents.id AND c.bytes IS NOT NULL);
CREATE INDEX documents_by_uncompacted ON documents(uncompacted);
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
"#,
    ),
    (
        8,
        // The audit log is hash-chained (storage/audit.rs); older rows keep no hash.
        r#"
ALTER TABLE audit ADD COLUMN hash BLOB;
"#,
    ),
    // Devices' evidence signing keys.
    (9, super::device_keys::SQLITE_TABLE),
    (10, super::nearby::SQLITE_INDEX),
    // Documents by the end of their active window, for the evaluation.
    (11, super::active::SQLITE_INDEX),
    // Failed logins per account name and client address, surviving restarts.
    (12, super::login_throttle::SQLITE_TABLE),
    // When the server first received each photo record, for time-scoped revocation.
    (13, super::evidence_arrivals::SQLITE_TABLE),
    (
        14,
        // The creator as a column: a sync's scoped query tests it on every row past the
        // cursor, and reading it out of the projection's JSON there cost 9% of a sync.
        r#"
ALTER TABLE projections ADD COLUMN created_by TEXT;
UPDATE projections SET created_by = json_extract(json, '$.created_by');
"#,
    ),
    // Each document's folded content, for the evaluation (filled as documents change).
    (15, super::snapshots::SQLITE_TABLE),
];

/// The current schema, for a fresh database.
pub const CURRENT: &str = r#"
CREATE TABLE documents (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    compacted BLOB,
    compacted_through INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    uncompacted INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX documents_by_uncompacted ON documents(uncompacted);
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    bytes BLOB,
    user_id TEXT NOT NULL,
    device_id TEXT,
    arrived_at INTEGER NOT NULL
) STRICT;
CREATE INDEX changes_by_doc ON changes(doc_id, seq);
CREATE TABLE projections (
    doc_id TEXT PRIMARY KEY NOT NULL REFERENCES documents(id),
    kind TEXT NOT NULL,
    status TEXT,
    unit TEXT,
    grid_cell TEXT,
    project TEXT,
    segment TEXT,
    deadline INTEGER,
    band TEXT,
    json TEXT NOT NULL DEFAULT '{}',
    seq INTEGER NOT NULL,
    created_by TEXT
) STRICT;
CREATE INDEX projections_by_seq ON projections(seq);
CREATE INDEX projections_by_unit ON projections(unit, seq);
CREATE INDEX projections_by_cell ON projections(grid_cell);
CREATE INDEX projections_by_status ON projections(kind, status, doc_id);
CREATE INDEX projections_by_grid ON projections(grid_cell, seq);
CREATE INDEX projections_by_deadline ON projections(deadline) WHERE deadline IS NOT NULL;
CREATE INDEX projections_by_project ON projections(project);
CREATE INDEX projections_by_segment ON projections(segment);
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    registered_at INTEGER NOT NULL
) STRICT;
CREATE TABLE tokens (
    hash BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    device_id TEXT
) STRICT;
CREATE INDEX tokens_by_user ON tokens(user_id);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    user_id TEXT,
    device_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT,
    hash BLOB
) STRICT;
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY NOT NULL,
    size INTEGER NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    phash INTEGER
) STRICT;
CREATE TABLE blob_refs (
    hash TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (hash, doc_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX blob_refs_by_doc ON blob_refs(doc_id);
CREATE TABLE device_heads (
    device_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    confirmed BLOB NOT NULL,
    pending BLOB,
    pending_cursor INTEGER,
    PRIMARY KEY (device_id, doc_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE open311_clients (
    key_hash BLOB PRIMARY KEY NOT NULL,
    client TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
"#;

/// [`CURRENT`] plus the tables added after it was last written out.
fn current_schema() -> String {
    format!(
        "{CURRENT}{}{}{}{}{}{}{}",
        super::reference::SQLITE_TABLE,
        super::device_keys::SQLITE_TABLE,
        super::nearby::SQLITE_INDEX,
        super::active::SQLITE_INDEX,
        super::login_throttle::SQLITE_TABLE,
        super::evidence_arrivals::SQLITE_TABLE,
        super::snapshots::SQLITE_TABLE
    )
}

fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

fn is_empty(conn: &Connection) -> Result<bool> {
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
        [],
        |row| row.get(0),
    )?;
    Ok(tables == 0)
}

/// Brings the database to [`VERSION`]: creates it when empty, migrates it when older,
/// refuses it when newer (a newer server wrote it). All in one transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction()?;
    let found = user_version(&tx)?;
    if found == 0 && is_empty(&tx)? {
        tx.execute_batch(&current_schema())?;
    } else if found > VERSION {
        return Err(StoreError::Schema(format!(
            "database schema version {found} is newer than this server's {VERSION}"
        )));
    } else if found == 0 {
        return Err(StoreError::Schema(
            "database has tables but no schema version: not a fieldloop database".into(),
        ));
    } else {
        upgrade(&tx, found)?;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    Ok(())
}

fn upgrade(tx: &Transaction<'_>, from: i64) -> Result<()> {
    for (reaches, step) in MIGRATIONS {
        if *reaches > from {
            tracing::info!(from, to = reaches, "migrating database");
            tx.execute_batch(step)?;
        }
    }
    Ok(())
}
