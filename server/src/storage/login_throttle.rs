//! Runs of failed logins, per key (an account name, a client address), kept in the
//! database so a restart does not forgive a guesser and every instance of a deployment
//! sees the same count. The policy (how many, how long) is `crate::throttle`'s; the store
//! only counts. One small trait, so another backend adds three queries.

use fieldloop_core::time::Millis;
use rusqlite::params;

use super::sqlite::SqliteStore;
use super::StoreFuture;

/// The table, created by migration 12 and appended to a fresh schema.
pub const SQLITE_TABLE: &str = r#"
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    last_at INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_by_last ON login_failures(last_at);
"#;

/// Failed logins in a row under one key, and when the last one came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRun {
    pub key: String,
    pub failures: u32,
    pub last_at: Millis,
}

pub trait LoginFailureStore: Send + Sync {
    /// The runs of these keys (those that have one).
    fn failure_runs(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<FailureRun>>;
    /// One more failure under each key, at `now`. A run whose last failure is `window`
    /// or longer ago starts over at one; runs that old are deleted on the way.
    fn add_failure(&self, keys: Vec<String>, now: Millis, window: Millis) -> StoreFuture<'_, ()>;
    /// Forgets the run of `key` (a successful login under it).
    fn clear_failures(&self, key: String) -> StoreFuture<'_, ()>;
}

impl LoginFailureStore for SqliteStore {
    fn failure_runs(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<FailureRun>> {
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT failures, last_at FROM login_failures WHERE key = ?1")?;
            let mut runs = Vec::new();
            for key in keys {
                let mut rows = stmt.query([&key])?;
                if let Some(row) = rows.next()? {
                    runs.push(FailureRun {
                        failures: row.get(0)?,
                        last_at: row.get(1)?,
                        key,
                    });
                }
            }
            Ok(runs)
        })
    }

    fn add_failure(&self, keys: Vec<String>, now: Millis, window: Millis) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            tx.execute(
                "DELETE FROM login_failures WHERE last_at <= ?1",
                [now.saturating_sub(window)],
            )?;
            for key in &keys {
                tx.execute(
                    "INSERT INTO login_failures (key, failures, last_at) VALUES (?1, 1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN excluded.last_at >= login_failures.last_at + ?3 \
                                  THEN 1 ELSE login_failures.failures + 1 END, \
                       last_at = excluded.last_at",
                    params![key, now, window],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn clear_failures(&self, key: String) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            conn.execute("DELETE FROM login_failures WHERE key = ?1", [key])?;
            Ok(())
        })
    }
}
