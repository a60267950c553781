//! Appends arriving together share one transaction.
//!
//! Every append takes the global sequence counter and holds its row lock until it commits,
//! so that sequence numbers become visible in order. On PostgreSQL that made appends go
//! one at a time, each with its own statements, round trips and commit flush, and the lock
//! handed from backend to backend: under a burst (a city's phones coming online together)
//! more than half of the busy backends were found waiting on the counter (bench §1).
//!
//! Here the appends that arrive while one transaction is being written are written
//! together in the next: one counter step, one statement of each kind, one commit. Two
//! appends of one document never share a transaction, so each base check means what it
//! meant alone; when a shared transaction fails, each of its appends is tried again on
//! its own, so one writer's refusal (a stale base) stays its own.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use deadpool_postgres::Pool;
use tokio::sync::oneshot;

use super::docs::append_in_one_transaction;
use crate::storage::error::{StoreError, StoreResult as Result};
use crate::storage::{NewChange, Seq};

/// A shared transaction stops growing here, so none grows without bound.
const MOST_CHANGES_PER_TRANSACTION: usize = 1024;

struct Append {
    changes: Vec<NewChange>,
    bases: Vec<Option<Seq>>,
    reply: oneshot::Sender<Result<Vec<Seq>>>,
}

#[derive(Default)]
pub(super) struct GroupCommit {
    waiting: Mutex<VecDeque<Append>>,
    /// Held by the caller writing the next transaction for everyone waiting.
    writing: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    /// Stores `changes` (each with its base, if versioned) atomically, possibly in one
    /// transaction with other callers' appends.
    pub(super) async fn append(
        &self,
        pool: &Pool,
        changes: Vec<NewChange>,
        bases: Vec<Option<Seq>>,
    ) -> Result<Vec<Seq>> {
        let (reply, mut answer) = oneshot::channel();
        self.waiting().push_back(Append {
            changes,
            bases,
            reply,
        });
        loop {
            let writer = self.writing.lock().await;
            match answer.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => return Err(dropped()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch = self.take_batch();
            if batch.is_empty() {
                // Ours is in a transaction a cancelled caller started; it still answers.
                drop(writer);
                return answer.await.unwrap_or_else(|_| Err(dropped()));
            }
            // Spawned: everyone in the batch gets an answer even if this caller is dropped.
            let _ = tokio::spawn(write_batch(pool.clone(), batch)).await;
        }
    }

    fn waiting(&self) -> MutexGuard<'_, VecDeque<Append>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The waiting appends, oldest first, that fit one transaction. An append that touches
    /// a document an older waiting one touches waits for the next, so each document's
    /// appends are written in the order they came.
    fn take_batch(&self) -> Vec<Append> {
        let mut waiting = self.waiting();
        let mut touched = HashSet::new();
        let (mut batch, mut left, mut changes) = (Vec::new(), VecDeque::new(), 0);
        while let Some(append) = waiting.pop_front() {
            let fits = batch.is_empty()
                || (changes + append.changes.len() <= MOST_CHANGES_PER_TRANSACTION
                    && append.changes.iter().all(|c| !touched.contains(&c.doc_id)));
            touched.extend(append.changes.iter().map(|c| c.doc_id));
            if fits {
                changes += append.changes.len();
                batch.push(append);
            } else {
                left.push_back(append);
            }
        }
        *waiting = left;
        batch
    }
}

fn dropped() -> StoreError {
    StoreError::Pool("the transaction holding this write was dropped".into())
}

/// Writes `append` in its own transaction and answers it.
async fn write_alone(pool: &Pool, append: Append) {
    let result = append_in_one_transaction(pool, &append.changes, &append.bases).await;
    let _ = append.reply.send(result);
}

async fn write_batch(pool: Pool, mut batch: Vec<Append>) {
    if batch.len() == 1 {
        if let Some(append) = batch.pop() {
            write_alone(&pool, append).await;
        }
        return;
    }
    let counts: Vec<usize> = batch.iter().map(|a| a.changes.len()).collect();
    let mut changes = Vec::with_capacity(counts.iter().sum());
    let mut bases = Vec::with_capacity(changes.capacity());
    for append in &mut batch {
        changes.append(&mut append.changes);
        bases.append(&mut append.bases);
    }
    match append_in_one_transaction(&pool, &changes, &bases).await {
        Ok(seqs) => {
            let mut seqs = seqs.into_iter();
            for (append, count) in batch.into_iter().zip(counts) {
                let _ = append.reply.send(Ok(seqs.by_ref().take(count).collect()));
            }
        }
        Err(_) => {
            // Nothing of the shared transaction was kept: each append alone, so only the
            // one at fault is refused.
            let (mut changes, mut bases) = (changes.into_iter(), bases.into_iter());
            for (mut append, count) in batch.into_iter().zip(counts) {
                append.changes = changes.by_ref().take(count).collect();
                append.bases = bases.by_ref().take(count).collect();
                write_alone(&pool, append).await;
            }
        }
    }
}
