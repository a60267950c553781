//! When the server first received each evidence record of a document: the arrival time
//! (the server's clock, never the device's) of the first stored change whose document
//! references the photo. A revoked device's signatures stand on evidence received before
//! the revocation (issue 9 §8). Written in the change's own transaction by both backends
//! (SQLite's `insert_change`, PostgreSQL's `prepare_documents`); only the first arrival
//! is kept.

/// SQLite's table, created by migration 13 and appended to a fresh schema.
pub const SQLITE_TABLE: &str = r#"
CREATE TABLE evidence_arrivals (
    doc_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    arrived_at INTEGER NOT NULL,
    PRIMARY KEY (doc_id, hash)
) STRICT, WITHOUT ROWID;
"#;

/// PostgreSQL's table, created by migration 9 and appended to a fresh schema.
pub const PG_TABLE: &str = r#"
CREATE TABLE evidence_arrivals (
    doc_id UUID NOT NULL,
    hash TEXT NOT NULL,
    arrived_at BIGINT NOT NULL,
    PRIMARY KEY (doc_id, hash)
);
"#;

pub const SQLITE_INSERT: &str =
    "INSERT OR IGNORE INTO evidence_arrivals (doc_id, hash, arrived_at) VALUES (?1, ?2, ?3)";
pub const SQLITE_SELECT: &str = "SELECT hash, arrived_at FROM evidence_arrivals WHERE doc_id = ?1";
pub const PG_SELECT: &str = "SELECT hash, arrived_at FROM evidence_arrivals WHERE doc_id = $1";
