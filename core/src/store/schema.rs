//! The store's schema and its versioned migrations, driven by SQLite's `user_version`.
//!
//! A new database gets [`FRESH`], the latest schema written in one go. An older one is
//! taken through [`STEPS`] one version at a time. The two paths are written separately on
//! purpose, and a test checks that they end in the same database: a column added to the
//! fresh schema but forgotten in a step (or the other way round) fails it.
//!
//! Rules: never edit a step that has shipped; add a step, bump [`VERSION`], and update
//! [`FRESH`] to match. Keep comments out of `CREATE` statements: SQLite stores their text.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// The schema version this build writes.
pub const VERSION: u32 = 7;

/// Marks the file as a fieldloop store ("FLDL"), so another app's database is refused
/// instead of being "migrated".
pub const APPLICATION_ID: i32 = 0x464C_444C;

/// `STEPS[i]` takes a database at version `i` to version `i + 1`.
pub const STEPS: &[&str] = &[
    // 0 -> 1: documents, sync state, quarantine, photo blobs.
    "CREATE TABLE meta (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE docs (
        id BLOB PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,
        base BLOB NOT NULL,
        heads TEXT NOT NULL,
        shared_heads TEXT,
        chunk_count INTEGER NOT NULL DEFAULT 0,
        chunk_bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX docs_outbox ON docs (id) WHERE shared_heads IS NOT heads;
    CREATE TABLE doc_chunks (
        doc_id BLOB NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (doc_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        doc_id BLOB NOT NULL,
        change BLOB NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY NOT NULL,
        size INTEGER NOT NULL,
        uploaded INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX blobs_pending ON blobs (hash) WHERE uploaded = 0;",
    // 1 -> 2: the listing projection; quarantine entries are dismissed, not deleted.
    "CREATE TABLE listing (
        doc_id BLOB PRIMARY KEY NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        title TEXT NOT NULL,
        deadline INTEGER,
        band TEXT,
        open INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX listing_open_by_deadline ON listing (deadline, doc_id) WHERE open = 1;
    ALTER TABLE quarantine ADD COLUMN dismissed_at INTEGER;",
    // 2 -> 3: the city's reference data as last synced, one row per kind.
    "CREATE TABLE reference_kinds (
        kind TEXT PRIMARY KEY NOT NULL,
        json TEXT NOT NULL
    ) WITHOUT ROWID;",
    // 3 -> 4: the device's evidence signing key, made once on first open.
    "CREATE TABLE device_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        secret BLOB NOT NULL,
        public_key TEXT NOT NULL
    );",
    // 4 -> 5: patrol pauses, which only the device knows, kept across app restarts; the
    // task list's undated rows read in their order instead of sorted on every call.
    "CREATE TABLE patrol_pauses (
        patrol_id BLOB NOT NULL,
        paused_at INTEGER NOT NULL,
        resumed_at INTEGER,
        PRIMARY KEY (patrol_id, paused_at)
    ) WITHOUT ROWID;
    CREATE INDEX listing_open_undated ON listing (updated_at DESC, doc_id)
        WHERE open = 1 AND deadline IS NULL;",
    // 5 -> 6: pauses are events of the patrol document now (the server judges the track
    // with them), so the device's own table goes. A pause recorded only here never
    // reached the server; a patrol paused at the upgrade reads as running.
    "DROP TABLE patrol_pauses;",
    // 6 -> 7: the signing key may be kept sealed by the platform's key store (Android
    // Keystore, iOS Keychain) instead of in plain bytes; exactly one of the two forms is
    // stored. SQLite cannot drop a NOT NULL, so the table is rebuilt; the old one is
    // renamed first, so the new one's SQL reads exactly as in FRESH.
    "ALTER TABLE device_key RENAME TO device_key_v6;
    CREATE TABLE device_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        secret BLOB,
        sealed_secret BLOB,
        public_key TEXT NOT NULL,
        CHECK ((secret IS NULL) <> (sealed_secret IS NULL))
    );
    INSERT INTO device_key (id, secret, public_key)
        SELECT id, secret, public_key FROM device_key_v6;
    DROP TABLE device_key_v6;",
];

/// The latest schema, for a new database.
pub const FRESH: &str = "CREATE TABLE meta (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE docs (
        id BLOB PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,
        base BLOB NOT NULL,
        heads TEXT NOT NULL,
        shared_heads TEXT,
        chunk_count INTEGER NOT NULL DEFAULT 0,
        chunk_bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX docs_outbox ON docs (id) WHERE shared_heads IS NOT heads;
    CREATE TABLE doc_chunks (
        doc_id BLOB NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (doc_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        doc_id BLOB NOT NULL,
        change BLOB NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        dismissed_at INTEGER
    );
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY NOT NULL,
        size INTEGER NOT NULL,
        uploaded INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX blobs_pending ON blobs (hash) WHERE uploaded = 0;
    CREATE TABLE listing (
        doc_id BLOB PRIMARY KEY NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        title TEXT NOT NULL,
        deadline INTEGER,
        band TEXT,
        open INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX listing_open_by_deadline ON listing (deadline, doc_id) WHERE open = 1;
    CREATE INDEX listing_open_undated ON listing (updated_at DESC, doc_id)
        WHERE open = 1 AND deadline IS NULL;
    CREATE TABLE reference_kinds (
        kind TEXT PRIMARY KEY NOT NULL,
        json TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE device_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        secret BLOB,
        sealed_secret BLOB,
        public_key TEXT NOT NULL,
        CHECK ((secret IS NULL) <> (sealed_secret IS NULL))
    );";

/// The `user_version` of an open database.
pub fn version(conn: &Connection) -> Result<u32> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    u32::try_from(v).map_err(|_| Error::invalid("store schema", format!("version {v}")))
}

/// Brings the database to [`VERSION`]: the fresh schema for an empty file, the steps for an
/// older one. One transaction, so a crash mid-migration leaves the old version intact.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, VERSION)
}

/// Brings the database to `target` (≤ [`VERSION`]) through the steps, or through the
/// fresh schema when `target` is the latest and the file is empty. Public so tests and
/// tools can make a database as an older build left it.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<()> {
    if target > VERSION {
        return Err(Error::invalid(
            "store schema",
            format!("version {target} is newer than this build ({VERSION})"),
        ));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = version(&tx)?;
    if current > VERSION {
        return Err(Error::invalid(
            "store schema",
            format!("the store is at version {current}, newer than this build ({VERSION}); update the app"),
        ));
    }
    let app_id: i32 = tx.pragma_query_value(None, "application_id", |row| row.get(0))?;
    if current == 0 {
        let tables: i64 =
            tx.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
        if tables > 0 || (app_id != 0 && app_id != APPLICATION_ID) {
            return Err(Error::invalid(
                "store file",
                "a SQLite database that is not a fieldloop store",
            ));
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        if target == VERSION {
            tx.execute_batch(FRESH)?;
            tx.pragma_update(None, "user_version", VERSION)?;
            tx.commit()?;
            return Ok(());
        }
    } else if app_id != APPLICATION_ID {
        return Err(Error::invalid(
            "store file",
            "a SQLite database that is not a fieldloop store",
        ));
    }
    for (from, step) in STEPS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current as usize)
    {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", from as u32 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_reach_the_version() {
        assert_eq!(STEPS.len() as u32, VERSION);
    }
}
