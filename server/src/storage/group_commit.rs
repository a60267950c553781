//! Group commit for the embedded SQLite store: see [`super::sqlite::SqliteStore::write`].

use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::error::{StoreError, StoreResult as Result};
use super::sqlite::lock;

/// Writes one group commit takes at most, so that no write waits behind a huge batch.
const MAX_GROUP: usize = 256;

trait QueuedWrite: Send {
    /// Runs the write inside the group's transaction.
    fn run(&mut self, conn: &mut Connection);
    /// Answers the writer; `commit_failed`: the group did not commit, whatever the write
    /// itself returned.
    fn finish(self: Box<Self>, commit_failed: Option<&str>);
}

struct PendingWrite<T, F> {
    write: Option<F>,
    result: Option<Result<T>>,
    answer: oneshot::Sender<Result<T>>,
}

impl<T, F> QueuedWrite for PendingWrite<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &mut Connection) {
        if let Some(write) = self.write.take() {
            self.result = Some(in_savepoint(conn, write));
        }
    }

    fn finish(self: Box<Self>, commit_failed: Option<&str>) {
        let answer = match (self.result, commit_failed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), None) => Ok(value),
            (_, Some(reason)) => Err(StoreError::Commit(reason.to_owned())),
            (None, None) => Err(StoreError::Commit("the write did not run".into())),
        };
        // The caller may have gone (a cancelled request); the write stands either way.
        let _ = self.answer.send(answer);
    }
}

/// One write under its own savepoint: rolled back alone when it fails or panics.
fn in_savepoint<T>(
    conn: &mut Connection,
    write: impl FnOnce(&mut Connection) -> Result<T>,
) -> Result<T> {
    conn.execute_batch("SAVEPOINT queued_write")?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(conn)))
        .unwrap_or_else(|_| Err(StoreError::damaged("a write panicked; it was rolled back")));
    let end = if result.is_ok() {
        "RELEASE queued_write"
    } else {
        "ROLLBACK TO queued_write; RELEASE queued_write"
    };
    conn.execute_batch(end)?;
    result
}

/// Writes waiting for the next group commit.
#[derive(Default)]
pub(super) struct WriteQueue {
    queued: Mutex<Vec<Box<dyn QueuedWrite>>>,
}

impl WriteQueue {
    /// Queues `write`; the receiver answers once a [`WriteQueue::commit`] ran it.
    pub(super) fn push<T, F>(&self, write: F) -> oneshot::Receiver<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        lock(&self.queued).push(Box::new(PendingWrite {
            write: Some(write),
            result: None,
            answer,
        }));
        answered
    }

    /// Takes the writer and commits what is queued in one transaction; returns at once
    /// when an earlier taker already committed the caller's write. Blocking.
    pub(super) fn commit(&self, writer: &Mutex<Connection>) {
        commit_queued(writer, &self.queued)
    }
}

fn commit_queued(writer: &Mutex<Connection>, queued: &Mutex<Vec<Box<dyn QueuedWrite>>>) {
    let mut conn = lock(writer);
    let mut group = {
        let mut queued = lock(queued);
        let take = queued.len().min(MAX_GROUP);
        queued.drain(..take).collect::<Vec<_>>()
    };
    if group.is_empty() {
        return;
    }
    let failed = match conn.execute_batch("BEGIN IMMEDIATE") {
        Err(e) => Some(e.to_string()),
        Ok(()) => {
            for write in &mut group {
                write.run(&mut conn);
            }
            match conn.execute_batch("COMMIT") {
                Ok(()) => None,
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Some(e.to_string())
                }
            }
        }
    };
    drop(conn);
    for write in group {
        write.finish(failed.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::super::sqlite::SqliteStore;
    use super::*;

    /// Writes that arrive together share a commit, yet one that fails takes back only
    /// its own rows, and every caller gets its own answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_write_in_a_group_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        store
            .write(|conn| {
                conn.execute_batch("CREATE TABLE grouped (x INTEGER PRIMARY KEY)")?;
                Ok(())
            })
            .await
            .unwrap();
        let writes = (0..64i64).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(move |conn| {
                        conn.execute("INSERT INTO grouped (x) VALUES (?1)", [i])?;
                        if i % 2 == 1 {
                            // The odd ones fail after writing: their row must go too.
                            conn.execute("INSERT INTO grouped (x) VALUES (?1)", [i])?;
                        }
                        Ok(i)
                    })
                    .await
            })
        });
        let answers = futures_util::future::join_all(writes).await;
        for (i, answer) in answers.into_iter().enumerate() {
            let answer = answer.unwrap();
            if i % 2 == 0 {
                assert_eq!(answer.unwrap(), i as i64);
            } else {
                assert!(answer.is_err(), "write {i} should have failed");
            }
        }
        let stored: Vec<i64> = store
            .write(|conn| {
                let mut stmt = conn.prepare("SELECT x FROM grouped ORDER BY x")?;
                let rows = stmt
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        assert_eq!(stored, (0..64).step_by(2).collect::<Vec<i64>>());
    }

    #[tokio::test]
    async fn a_panicking_write_is_rolled_back_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        let failed = store
            .write(|conn| -> Result<()> {
                conn.execute_batch("CREATE TABLE t (x INTEGER)")?;
                panic!("a bug in a write");
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Damaged(_))), "{failed:?}");
        let made = store
            .write(|conn| {
                conn.execute_batch("CREATE TABLE t (x INTEGER)")?;
                Ok(())
            })
            .await;
        assert!(
            made.is_ok(),
            "the panicking write's table was rolled back: {made:?}"
        );
    }
}
