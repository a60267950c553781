//! The PostgreSQL schema, versioned like the embedded one: a fresh database is created at
//! the current version in one step, an older one is upgraded migration by migration, both
//! in one transaction under an advisory lock (instances starting together migrate once),
//! and a test checks that both roads end at the same schema.
//!
//! Text that is compared by range (grid cells) uses the "C" collation, so a prefix range
//! `prefix..prefix:` means what it means in SQLite, whatever the cluster's locale.

use tokio_postgres::Client;

use crate::storage::error::{StoreError, StoreResult};

pub const VERSION: i32 = 10;

/// Serialises migrations between instances starting at once (any constant of our own).
const MIGRATION_LOCK: i64 = 0x6669_656c_646c_6f6f;

/// The schema of version 1, kept so tests can build an old database to migrate.
pub const V1: &str = r#"
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE seq_counter (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    value BIGINT NOT NULL
);
INSERT INTO seq_counter (value) VALUES (0);
CREATE TABLE documents (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL,
    compacted BYTEA,
    compacted_through BIGINT NOT NULL DEFAULT 0,
    last_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE changes (
    seq BIGINT PRIMARY KEY,
    doc_id UUID NOT NULL REFERENCES documents(id),
    bytes BYTEA,
    user_id TEXT NOT NULL,
    device_id TEXT,
    arrived_at BIGINT NOT NULL
);
CREATE INDEX changes_by_doc ON changes(doc_id, seq);
CREATE TABLE projections (
    doc_id UUID PRIMARY KEY REFERENCES documents(id),
    kind TEXT NOT NULL,
    status TEXT,
    unit TEXT,
    grid_cell TEXT COLLATE "C",
    project TEXT,
    segment TEXT,
    deadline BIGINT,
    band TEXT,
    json JSONB NOT NULL DEFAULT '{}',
    seq BIGINT NOT NULL
);
CREATE INDEX projections_by_seq ON projections(seq);
CREATE INDEX projections_by_unit ON projections(unit, seq);
CREATE INDEX projections_by_cell ON projections(grid_cell);
CREATE INDEX projections_by_status ON projections(kind, status);
CREATE INDEX projections_by_project ON projections(project);
CREATE INDEX projections_by_segment ON projections(segment);
CREATE INDEX projections_by_creator ON projections((json->>'created_by'), seq);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    registered_at BIGINT NOT NULL
);
CREATE TABLE tokens (
    hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    device_id TEXT
);
CREATE INDEX tokens_by_user ON tokens(user_id);
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    user_id TEXT,
    device_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    phash BIGINT
);
CREATE TABLE blob_refs (
    hash TEXT NOT NULL,
    doc_id UUID NOT NULL,
    PRIMARY KEY (hash, doc_id)
);
CREATE INDEX blob_refs_by_doc ON blob_refs(doc_id);
CREATE TABLE device_heads (
    device_id TEXT NOT NULL,
    doc_id UUID NOT NULL,
    confirmed BYTEA NOT NULL,
    pending BYTEA,
    pending_cursor BIGINT,
    PRIMARY KEY (device_id, doc_id)
);
"#;

/// `(version reached, step)`, applied in order to databases older than that version.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        2,
        // Scans page through indexes: live cases by (kind, status, id); the compactor finds
        // long documents by their count of changes since the last compaction; the lease that
        // names the scheduler's instance.
        r#"
DROP INDEX projections_by_status;
CREATE INDEX projections_by_status ON projections(kind, status, doc_id);
CREATE INDEX projections_by_grid ON projections(grid_cell, seq);
ALTER TABLE documents ADD COLUMN uncompacted INTEGER NOT NULL DEFAULT 0;
UPDATE documents d SET uncompacted =
    (SELECT count(*) FROM changes c WHERE c.doc_id = d.id AND c.bytes IS NOT NULL);
CREATE INDEX documents_by_uncompacted ON documents(uncompacted);
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
"#,
    ),
    (
        3,
        // The city's own reference data, versioned; Open311 client apps' keys (hashes).
        V3_TABLES,
    ),
    (
        4,
        // The audit log is hash-chained (storage/audit.rs); older rows keep no hash.
        "ALTER TABLE audit ADD COLUMN hash BYTEA;",
    ),
    (
        5,
        // Devices' evidence signing keys (storage/device_keys.rs).
        V5_DEVICE_KEYS,
    ),
    // Open cases by category and status, for duplicate suggestions.
    (6, super::nearby::INDEX),
    // Documents by the end of their active window, for the evaluation.
    (7, crate::storage::active::PG_INDEX),
    // Failed logins per account name and client address, shared by every instance.
    (8, super::login_throttle::TABLE),
    // When the server first received each photo record, for time-scoped revocation.
    (9, crate::storage::evidence_arrivals::PG_TABLE),
    // Each document's folded content, for the evaluation (filled as documents change).
    (10, crate::storage::snapshots::PG_TABLE),
];

const V5_DEVICE_KEYS: &str = r#"
CREATE TABLE device_keys (
    device_id TEXT PRIMARY KEY REFERENCES devices(id),
    public_key TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    revoked_at BIGINT
);
"#;

const V3_TABLES: &str = r#"
CREATE TABLE reference_data (
    version BIGINT NOT NULL,
    kind TEXT NOT NULL,
    json TEXT NOT NULL,
    stored_by TEXT NOT NULL,
    stored_at BIGINT NOT NULL,
    PRIMARY KEY (kind, version)
);
CREATE INDEX reference_data_by_version ON reference_data(version);
CREATE TABLE open311_clients (
    key_hash BYTEA PRIMARY KEY,
    client TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    revoked_at BIGINT
);
"#;

/// The current schema, for a fresh database: version 1 plus every migration, written out
/// (columns added by `ALTER TABLE` go last).
pub fn current() -> String {
    let mut sql = V1.replace(
        "CREATE INDEX projections_by_status ON projections(kind, status);",
        "CREATE INDEX projections_by_status ON projections(kind, status, doc_id);\n\
         CREATE INDEX projections_by_grid ON projections(grid_cell, seq);",
    );
    sql = sql.replace(
        "    last_seq BIGINT NOT NULL,\n    created_at BIGINT NOT NULL\n);",
        "    last_seq BIGINT NOT NULL,\n    created_at BIGINT NOT NULL,\n    \
         uncompacted INTEGER NOT NULL DEFAULT 0\n);\n\
         CREATE INDEX documents_by_uncompacted ON documents(uncompacted);",
    );
    sql.push_str(
        "CREATE TABLE leases (\n    name TEXT PRIMARY KEY,\n    holder TEXT NOT NULL,\n    \
         expires_at TIMESTAMPTZ NOT NULL\n);\n",
    );
    sql.push_str(V3_TABLES);
    sql.push_str(V5_DEVICE_KEYS);
    sql.push_str(super::nearby::INDEX);
    sql.push_str(crate::storage::active::PG_INDEX);
    sql.push_str(super::login_throttle::TABLE);
    sql.push_str(crate::storage::evidence_arrivals::PG_TABLE);
    sql.push_str(crate::storage::snapshots::PG_TABLE);
    sql.replace(
        "    target TEXT,\n    detail TEXT\n);\nCREATE TABLE blobs",
        "    target TEXT,\n    detail TEXT,\n    hash BYTEA\n);\nCREATE TABLE blobs",
    )
}

/// Brings the database to [`VERSION`]: creates it when empty, migrates it when older,
/// refuses it when newer.
pub async fn migrate(client: &mut Client) -> StoreResult<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let has_version: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'schema_version')",
            &[],
        )
        .await?
        .get(0);
    let found: i32 = if has_version {
        tx.query_opt("SELECT version FROM schema_version", &[])
            .await?
            .map_or(0, |row| row.get(0))
    } else {
        let tables: i64 = tx
            .query_one(
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
                &[],
            )
            .await?
            .get(0);
        if tables > 0 {
            return Err(StoreError::Schema(
                "database has tables but no schema version: not a fieldloop database".into(),
            ));
        }
        0
    };
    if found == 0 {
        tx.batch_execute(&current()).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&VERSION],
        )
        .await?;
    } else if found > VERSION {
        return Err(StoreError::Schema(format!(
            "database schema version {found} is newer than this server's {VERSION}"
        )));
    } else if found < VERSION {
        for (reaches, step) in MIGRATIONS {
            if *reaches > found {
                tracing::info!(from = found, to = reaches, "migrating database");
                tx.batch_execute(step).await?;
            }
        }
        tx.execute("UPDATE schema_version SET version = $1", &[&VERSION])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
