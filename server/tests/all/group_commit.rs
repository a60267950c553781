//! On PostgreSQL, appends arriving together share a transaction (one counter step, one
//! commit), and each caller still gets its own answer: its own sequence numbers, or its
//! own refusal without costing the others theirs.

use std::sync::Arc;

use fieldloop_core::doc::actor_for;
use fieldloop_server::storage::postgres::PgStore;
use fieldloop_server::storage::{DocStore, StoreError};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::common;
use crate::storage::new_case;
use crate::storage_services::postgres;

const CELL: &str = "330106001001002";

type Answer = (Uuid, Result<Vec<i64>, StoreError>);

/// `count` new cases, each appended (expected absent) by its own task, all at once.
fn spawn_appends(docs: &Arc<PgStore>, count: usize) -> Vec<JoinHandle<Answer>> {
    let device = actor_for(&Uuid::now_v7());
    (0..count)
        .map(|n| {
            let (id, change) = new_case(&device, CELL, common::T0 + n as i64, "reported");
            let docs = docs.clone();
            tokio::spawn(async move { (id, docs.append_versioned(vec![(change, 0)]).await) })
        })
        .collect()
}

async fn answers_of(tasks: Vec<JoinHandle<Answer>>) -> Vec<Answer> {
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_arriving_together_share_transactions_and_each_keeps_its_own_answer() {
    let Some((_cluster, url)) = postgres().await else {
        return;
    };
    let docs = Arc::new(PgStore::connect(&url).await.expect("connect"));

    let answers = answers_of(spawn_appends(&docs, 48)).await;
    let mut seqs: Vec<i64> = Vec::new();
    for (id, answer) in &answers {
        let seq = answer.as_ref().expect("stored")[0];
        let stored = docs.load_doc(*id).await.unwrap().expect("document stored");
        assert_eq!(
            stored.last_seq, seq,
            "the answer is the document's own number"
        );
        seqs.push(seq);
    }
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=48).collect::<Vec<i64>>(),
        "one number each, none spent twice"
    );
    // Rows written by one transaction share its id (xmin): fewer transactions than appends.
    let client = docs.client().await.unwrap();
    let transactions: i64 = client
        .query_one("SELECT count(DISTINCT xmin::text) FROM changes", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        transactions < 48,
        "48 appends at once took {transactions} transactions"
    );

    // One append among many at once is stale (queued behind a first writer, so it
    // shares a transaction): it alone is refused and stores nothing.
    let mut tasks = spawn_appends(&docs, 12);
    let device = actor_for(&Uuid::now_v7());
    let (stale_id, stale) = new_case(&device, CELL, common::T0, "reported");
    let stale_task = {
        let docs = docs.clone();
        tokio::spawn(async move { docs.append_versioned(vec![(stale, 7)]).await })
    };
    tasks.extend(spawn_appends(&docs, 12));
    let answers = answers_of(tasks).await;
    let refused = stale_task.await.expect("task");
    assert!(
        matches!(refused, Err(StoreError::Stale(id)) if id == stale_id),
        "{refused:?}"
    );
    assert!(docs.load_doc(stale_id).await.unwrap().is_none());
    for (id, answer) in &answers {
        let seq = answer.as_ref().expect("the others are stored")[0];
        assert_eq!(docs.load_doc(*id).await.unwrap().unwrap().last_seq, seq);
    }
    assert_eq!(
        docs.head_seq().await.unwrap(),
        48 + 24,
        "the refused append spent no number"
    );
}
