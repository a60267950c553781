//! Runs of failed logins on PostgreSQL (see `storage::login_throttle`): shared by every
//! instance, so a guesser gains nothing by being balanced onto another one.

use fieldloop_core::time::Millis;

use super::PgStore;
use crate::storage::login_throttle::{FailureRun, LoginFailureStore};
use crate::storage::StoreFuture;

/// The table, created by migration 8 and appended to a fresh schema.
pub const TABLE: &str = r#"
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_at BIGINT NOT NULL
);
CREATE INDEX login_failures_by_last ON login_failures(last_at);
"#;

impl LoginFailureStore for PgStore {
    fn failure_runs(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<FailureRun>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT key, failures, last_at FROM login_failures WHERE key = ANY($1)",
                    &[&keys],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let failures: i32 = row.try_get(1)?;
                    Ok(FailureRun {
                        key: row.try_get(0)?,
                        failures: u32::try_from(failures).unwrap_or(0),
                        last_at: row.try_get(2)?,
                    })
                })
                .collect()
        })
    }

    fn add_failure(&self, keys: Vec<String>, now: Millis, window: Millis) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            // No transaction: each statement is atomic on its own, and holding one key's
            // row while sweeping others could deadlock two logins failing at once.
            client
                .execute(
                    "DELETE FROM login_failures WHERE last_at <= $1",
                    &[&now.saturating_sub(window)],
                )
                .await?;
            for key in &keys {
                // One statement per key: concurrent failures under one key each count.
                client
                    .execute(
                        "INSERT INTO login_failures (key, failures, last_at) VALUES ($1, 1, $2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN EXCLUDED.last_at >= login_failures.last_at + $3 \
                                  THEN 1 ELSE login_failures.failures + 1 END, \
                       last_at = EXCLUDED.last_at",
                        &[key, &now, &window],
                    )
                    .await?;
            }
            Ok(())
        })
    }

    fn clear_failures(&self, key: String) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            client
                .execute("DELETE FROM login_failures WHERE key = $1", &[&key])
                .await?;
            Ok(())
        })
    }
}
