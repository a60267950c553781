//! Where a city's reference data is kept: each kind's validated canonical JSON under the
//! reference version that last changed it. Every store call that changes data makes one
//! new version, in one transaction.

use fieldloop_core::reference::KindData;
use fieldloop_core::time::Millis;
use rusqlite::{params, OptionalExtension};

use super::sqlite::SqliteStore;
use super::StoreFuture;

/// The latest data of every kind, and the version they make up together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredReference {
    /// 0 when nothing was ever imported.
    pub version: u64,
    pub kinds: Vec<KindData>,
}

pub trait ReferenceStore: Send + Sync {
    /// Stores `kinds` (each a kind name and its canonical JSON) as one new version, all or
    /// nothing; answers that version.
    fn store_reference(&self, kinds: Vec<KindData>, by: String, at: Millis)
        -> StoreFuture<'_, u64>;
    /// The newest JSON of every kind ever stored.
    fn latest_reference(&self) -> StoreFuture<'_, StoredReference>;
    /// The newest version number (0 when none), cheap enough for every sync.
    fn reference_version(&self) -> StoreFuture<'_, u64>;
}

/// The SQLite table, created by schema migration 5.
pub(super) const SQLITE_TABLE: &str = r#"
CREATE TABLE reference_data (
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    json TEXT NOT NULL,
    stored_by TEXT NOT NULL,
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (kind, version)
) STRICT;
CREATE INDEX reference_data_by_version ON reference_data(version);
"#;

fn max_version(conn: &rusqlite::Connection) -> rusqlite::Result<u64> {
    let max: Option<i64> = conn
        .query_row("SELECT max(version) FROM reference_data", [], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(max.unwrap_or(0) as u64)
}

impl ReferenceStore for SqliteStore {
    fn store_reference(
        &self,
        kinds: Vec<KindData>,
        by: String,
        at: Millis,
    ) -> StoreFuture<'_, u64> {
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let version = max_version(&tx)? + 1;
            for data in &kinds {
                tx.execute(
                    "INSERT INTO reference_data (version, kind, json, stored_by, stored_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![version as i64, data.kind, data.json, by, at],
                )?;
            }
            tx.commit()?;
            Ok(version)
        })
    }

    fn latest_reference(&self) -> StoreFuture<'_, StoredReference> {
        self.read(|conn| {
            let version = max_version(conn)?;
            let mut statement = conn.prepare(
                "SELECT kind, json FROM reference_data r \
                 WHERE version = (SELECT max(version) FROM reference_data WHERE kind = r.kind) \
                 ORDER BY kind",
            )?;
            let kinds = statement
                .query_map([], |row| {
                    Ok(KindData {
                        kind: row.get(0)?,
                        json: row.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(StoredReference { version, kinds })
        })
    }

    fn reference_version(&self) -> StoreFuture<'_, u64> {
        self.read(|conn| Ok(max_version(conn)?))
    }
}
