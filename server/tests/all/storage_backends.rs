//! The storage suite on both backends: every check runs on the embedded SQLite store and
//! on a real PostgreSQL cluster; the blob checks on photo files and on a real S3 server.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fieldloop_core::doc::{actor_for, Doc, DocKind};
use fieldloop_server::storage::compaction::compact_long_documents;
use fieldloop_server::storage::fs_blobs::FsBlobStore;
use fieldloop_server::storage::open::{self, Stores};
use fieldloop_server::storage::postgres::{schema as pg_schema, PgStore};
use fieldloop_server::storage::s3_blobs::{S3BlobStore, S3Settings};
use fieldloop_server::storage::{
    retry_stale, BlobHash, BlobState, BlobStore, DeviceHeads, StoreError, StoreResult,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::common;
use crate::storage::{self as suite, change, event, new_case};
use crate::storage_services::{postgres, PgCluster, S3Server};

/// Keeps a backend's files or cluster alive while a check runs.
#[allow(dead_code)]
enum Keep {
    Dir(tempfile::TempDir),
    Cluster(Arc<PgCluster>, tempfile::TempDir),
}

fn location(database: String, blobs: String, s3: S3Settings) -> open::Location {
    open::Location {
        database,
        blobs,
        s3,
    }
}

async fn sqlite() -> (Stores, Keep) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db.sqlite3").display().to_string();
    let blobs = dir.path().join("blobs").display().to_string();
    let stores = open::open(&location(db, blobs, S3Settings::default()))
        .await
        .expect("open sqlite");
    (stores, Keep::Dir(dir))
}

async fn pg() -> Option<(Stores, Keep)> {
    let (cluster, url) = postgres().await?;
    let dir = tempfile::tempdir().expect("temp dir");
    let blobs = dir.path().join("blobs").display().to_string();
    let stores = open::open(&location(url, blobs, S3Settings::default()))
        .await
        .expect("open postgres");
    Some((stores, Keep::Cluster(cluster, dir)))
}

/// One `#[tokio::test]` per backend for a check taking `Stores`.
macro_rules! on_both_databases {
    ($($($check:ident)::+ => $name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let (stores, _keep) = super::sqlite().await;
                super::$($check)::+(stores).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some((stores, _keep)) = super::pg().await else { return };
                super::$($check)::+(stores).await;
            }
        }
    )*};
}

on_both_databases! {
    suite::changes_get_a_global_sequence_and_documents_load_from_changes_and_compaction => documents_and_compaction,
    suite::changed_since_filters_by_cursor_and_jurisdiction => changed_since,
    suite::a_batch_of_changes_is_stored_all_or_nothing => batches,
    suite::kinds_are_kept_and_a_photos_first_arrival_stays => kinds_and_arrivals,
    suite::a_streets_case_photos_and_their_perceptual_hashes_come_from_one_query => evidence_near,
    a_versioned_write_on_a_moved_document_stores_nothing => versioned_writes,
    racing_writers_of_one_document_write_its_verdict_once => racing_writers,
    live_cases_and_evidence_are_read_page_by_page => paging,
    a_month_finds_the_documents_whose_window_meets_it => active_windows,
    a_documents_snapshot_is_kept_from_its_last_change => kept_snapshots,
    older_documents_get_their_snapshots_from_the_backfill => snapshot_backfill,
    a_lease_has_one_holder_until_it_expires => leases,
    compaction_keeps_every_change_and_loads_from_one_base => compaction,
    reference_versions_and_the_account_directory_read_back => reference_and_accounts,
    failed_login_runs_count_start_over_and_clear => login_failures,
    pending_heads_are_confirmed_by_a_cursor_that_reaches_them_and_dropped_otherwise => device_heads,
}

const CELL: &str = "330106001001002";

/// A verdict and its audit entry: one transaction. When the audit row cannot be written
/// (here a trigger refuses it, as a full disk or a lost connection would), the verdict is
/// not stored either, and a stale decision writes no entry.
mod a_decision_and_its_audit_entry {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        let (stores, keep) = super::sqlite().await;
        let Keep::Dir(dir) = &keep else {
            unreachable!()
        };
        let db = dir.path().join("db.sqlite3");
        let refuse = move |refused: bool| {
            let db = db.clone();
            async move {
                let conn = rusqlite::Connection::open(db).expect("second connection");
                let sql = if refused {
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit \
                     BEGIN SELECT RAISE(ABORT, 'audit refused'); END;"
                } else {
                    "DROP TRIGGER refuse_audit;"
                };
                conn.execute_batch(sql).expect("trigger");
            }
        };
        are_stored_together_or_not_at_all(stores, refuse).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        let Some((cluster, url)) = crate::storage_services::postgres().await else {
            return;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs = dir.path().join("blobs").display().to_string();
        let stores = open::open(&location(url.clone(), blobs, S3Settings::default()))
            .await
            .expect("open postgres");
        let refuse = move |refused: bool| {
            let url = url.clone();
            async move {
                let store = PgStore::connect(&url).await.expect("connect");
                let sql = if refused {
                    "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$; \
                     CREATE TRIGGER refuse_audit BEFORE INSERT ON audit \
                     FOR EACH ROW EXECUTE FUNCTION refuse_audit();"
                } else {
                    "DROP TRIGGER refuse_audit ON audit; DROP FUNCTION refuse_audit();"
                };
                store
                    .client()
                    .await
                    .unwrap()
                    .batch_execute(sql)
                    .await
                    .expect("trigger");
            }
        };
        are_stored_together_or_not_at_all(stores, refuse).await;
        drop((cluster, dir));
    }

    async fn are_stored_together_or_not_at_all<F, Fut>(store: Stores, refuse_audit: F)
    where
        F: Fn(bool) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        use fieldloop_server::storage::audit::check_chain;
        use fieldloop_server::storage::AuditEntry;
        let device = actor_for(&Uuid::now_v7());
        let (a, first) = new_case(&device, CELL, common::T0, "reported");
        let seq = store.docs.append_versioned(vec![(first, 0)]).await.unwrap()[0];
        let mut doc = store
            .docs
            .load_doc(a)
            .await
            .unwrap()
            .unwrap()
            .load(&device)
            .unwrap();
        doc.append_event(&event("case.closed", common::T0 + 5))
            .unwrap();
        let mut verdict = change(
            a,
            doc.save_incremental(),
            "server",
            common::T0 + 6,
            CELL,
            "closed",
        );
        verdict.audit = vec![AuditEntry {
            at: common::T0 + 6,
            user_id: Some("server".into()),
            device_id: None,
            action: "verdict.case".into(),
            target: Some(a.to_string()),
            detail: Some("passed".into()),
        }];

        let stale = store
            .docs
            .append_versioned(vec![(verdict.clone(), seq - 1)])
            .await;
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
        assert_eq!(
            store.audit.recent(10).await.unwrap(),
            vec![],
            "a stale decision wrote an entry"
        );

        refuse_audit(true).await;
        let refused = store
            .docs
            .append_versioned(vec![(verdict.clone(), seq)])
            .await;
        assert!(
            refused.is_err(),
            "the audit row was refused, yet the write succeeded"
        );
        let stored = store.docs.load_doc(a).await.unwrap().unwrap();
        assert_eq!(
            stored.last_seq, seq,
            "the verdict was stored without its audit entry"
        );
        assert_eq!(store.docs.head_seq().await.unwrap(), seq);

        refuse_audit(false).await;
        let written = store
            .docs
            .append_versioned(vec![(verdict.clone(), seq)])
            .await
            .unwrap();
        assert_eq!(
            store.docs.load_doc(a).await.unwrap().unwrap().last_seq,
            written[0]
        );
        assert_eq!(store.audit.recent(10).await.unwrap(), verdict.audit);
        let chain = check_chain(store.audit.as_ref()).await.unwrap();
        assert_eq!((chain.checked, chain.broken_at), (1, None), "{chain:?}");
    }
}

/// Heads sent in an answer are pending until the device's next request: its cursor
/// confirms them when it reached that answer's, and drops them when it did not (the
/// answer was lost), so no later cursor can confirm what the device never applied.
async fn pending_heads_are_confirmed_by_a_cursor_that_reaches_them_and_dropped_otherwise(
    store: Stores,
) {
    let docs = store.docs;
    let device = "phone-7".to_string();
    let (delivered, lost, acked) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let heads = |b: u8| vec![[b; 32]];
    let pending = |doc_id, h: Vec<[u8; 32]>, until| DeviceHeads {
        doc_id,
        heads: h,
        pending_until: Some(until),
    };
    docs.set_device_heads(
        device.clone(),
        vec![
            DeviceHeads {
                doc_id: acked,
                heads: heads(3),
                pending_until: None,
            },
            pending(delivered, heads(1), 10),
        ],
    )
    .await
    .expect("first answer");
    docs.confirm_device_heads(device.clone(), 10)
        .await
        .expect("confirm");
    // The next answer (cursor 20) is lost: its request comes again with cursor 10.
    docs.set_device_heads(
        device.clone(),
        vec![
            pending(lost, heads(2), 20),
            pending(delivered, heads(4), 20),
        ],
    )
    .await
    .expect("lost answer");
    docs.confirm_device_heads(device.clone(), 10)
        .await
        .expect("repeat");
    // A later answer reaches cursor 20 without those documents.
    docs.confirm_device_heads(device.clone(), 20)
        .await
        .expect("later cursor");
    let known = docs
        .device_heads(device.clone(), vec![delivered, lost, acked])
        .await
        .expect("read");
    let known: std::collections::HashMap<Uuid, Vec<[u8; 32]>> = known.into_iter().collect();
    assert_eq!(
        known.get(&delivered),
        Some(&heads(1)),
        "the lost answer's heads are not confirmed"
    );
    assert!(
        known.get(&lost).is_none_or(|h| h.is_empty()),
        "a document only the lost answer carried is not known: {:?}",
        known.get(&lost)
    );
    assert_eq!(known.get(&acked), Some(&heads(3)));
    // One call naming a document pending, then confirmed: written in that order, the
    // confirmation clears the pending heads, so a later cursor confirms nothing else.
    docs.set_device_heads(
        device.clone(),
        vec![
            pending(acked, heads(5), 30),
            DeviceHeads {
                doc_id: acked,
                heads: heads(6),
                pending_until: None,
            },
        ],
    )
    .await
    .expect("pending then confirmed");
    docs.confirm_device_heads(device.clone(), 30)
        .await
        .expect("cursor 30");
    let acked_now = docs
        .device_heads(device.clone(), vec![acked])
        .await
        .expect("read");
    assert_eq!(acked_now, vec![(acked, heads(6))]);
    // Other devices are untouched.
    assert!(docs
        .device_heads("phone-8".into(), vec![delivered])
        .await
        .expect("read")
        .is_empty());
}

async fn failed_login_runs_count_start_over_and_clear(store: Stores) {
    use fieldloop_server::storage::login_throttle::FailureRun;
    let db = store.login_failures;
    let window = 15 * 60_000;
    let keys = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for at in [1_000, 2_000, 3_000] {
        db.add_failure(keys(&["account:li", "address:192.0.2.1"]), at, window)
            .await
            .unwrap();
    }
    db.add_failure(keys(&["account:wang"]), 3_500, window)
        .await
        .unwrap();
    let mut runs = db
        .failure_runs(keys(&["account:li", "address:192.0.2.1", "account:nobody"]))
        .await
        .unwrap();
    runs.sort_by(|a, b| a.key.cmp(&b.key));
    let run = |key: &str, failures, last_at| FailureRun {
        key: key.into(),
        failures,
        last_at,
    };
    assert_eq!(
        runs,
        vec![
            run("account:li", 3, 3_000),
            run("address:192.0.2.1", 3, 3_000)
        ]
    );
    // A success ends one key's run only.
    db.clear_failures("account:li".into()).await.unwrap();
    assert_eq!(
        db.failure_runs(keys(&["account:li", "address:192.0.2.1"]))
            .await
            .unwrap(),
        vec![run("address:192.0.2.1", 3, 3_000)]
    );
    // A failure a whole window later starts a new run, and sweeps runs that old.
    db.add_failure(keys(&["address:192.0.2.1"]), 3_500 + window, window)
        .await
        .unwrap();
    assert_eq!(
        db.failure_runs(keys(&["address:192.0.2.1", "account:wang"]))
            .await
            .unwrap(),
        vec![run("address:192.0.2.1", 1, 3_500 + window)]
    );
}

/// Someone with access to the PostgreSQL database rewrites one audit row: the chain check
/// names that row (the SQLite twin is `audit_chain::an_edited_audit_row_breaks_…`).
#[tokio::test]
async fn an_edited_postgres_audit_row_breaks_the_chain_at_that_row() {
    use fieldloop_server::storage::audit::check_chain;
    use fieldloop_server::storage::{AuditEntry, AuditLog};
    let Some((_cluster, url)) = postgres().await else {
        return;
    };
    let store = PgStore::connect(&url).await.expect("connect");
    let entry = |action: &str| AuditEntry {
        at: 1_000,
        user_id: Some("u1".into()),
        device_id: None,
        action: action.into(),
        target: Some("li.wei".into()),
        detail: None,
    };
    for action in ["login", "login.failed", "login", "logout"] {
        store.record(entry(action)).await.unwrap();
    }
    let rows = store.chain_page(0, 10).await.unwrap();
    assert_eq!(rows.len(), 4);
    let intact = check_chain(&store).await.unwrap();
    assert_eq!((intact.checked, intact.broken_at), (4, None));
    let victim = rows[1].id;
    let edited = store
        .client()
        .await
        .unwrap()
        .execute(
            "UPDATE audit SET action = 'login' WHERE id = $1",
            &[&victim],
        )
        .await
        .unwrap();
    assert_eq!(edited, 1);
    let broken = check_chain(&store).await.unwrap();
    assert_eq!(broken.broken_at, Some(victim), "{broken:?}");
    assert_eq!(broken.checked, 1, "the row before it still checks");
    assert!(broken.reason.unwrap_or_default().contains("审计记录"));
}

async fn a_versioned_write_on_a_moved_document_stores_nothing(store: Stores) {
    let device = actor_for(&Uuid::now_v7());
    let (a, first) = new_case(&device, CELL, common::T0, "reported");
    // A new document is expected absent (base 0).
    let seq = store
        .docs
        .append_versioned(vec![(first.clone(), 0)])
        .await
        .expect("create")[0];
    let again = store.docs.append_versioned(vec![(first, 0)]).await;
    assert!(
        matches!(again, Err(StoreError::Stale(id)) if id == a),
        "{again:?}"
    );

    let (b, other) = new_case(&device, CELL, common::T0 + 1, "reported");
    let stored = store.docs.load_doc(a).await.unwrap().unwrap();
    let mut doc = stored.load(&device).unwrap();
    doc.append_event(&event("case.registered", common::T0 + 5))
        .unwrap();
    let step = change(
        a,
        doc.save_incremental(),
        "phone-1",
        common::T0 + 6,
        CELL,
        "registered",
    );
    // Decided on an older sequence number: refused, and the other document of the same
    // transaction is not stored either.
    let stale = store
        .docs
        .append_versioned(vec![(other.clone(), 0), (step.clone(), seq - 1)])
        .await;
    assert!(
        matches!(stale, Err(StoreError::Stale(id)) if id == a),
        "{stale:?}"
    );
    assert!(store.docs.load_doc(b).await.unwrap().is_none());
    let head = store.docs.head_seq().await.unwrap();
    assert_eq!(head, seq, "nothing stored, no sequence number spent");

    let seqs = store
        .docs
        .append_versioned(vec![(other, 0), (step, seq)])
        .await
        .expect("both stored");
    assert_eq!(seqs.len(), 2);
    assert_eq!(
        store.docs.load_doc(a).await.unwrap().unwrap().last_seq,
        seqs[1]
    );
}

/// Eight writers (as eight server instances' referees would) each read the case, and write
/// a verdict if it has none; the versioned write makes the losers decide again.
async fn racing_writers_of_one_document_write_its_verdict_once(store: Stores) {
    let device = actor_for(&Uuid::now_v7());
    let (id, first) = new_case(&device, CELL, common::T0, "reported");
    store.docs.append_change(first).await.expect("create");
    let mut writers = Vec::new();
    for n in 0..8u64 {
        let docs = store.docs.clone();
        writers.push(tokio::spawn(async move {
            let actor = actor_for(&Uuid::from_u128(u128::from(n) + 1));
            retry_stale(|| {
                let docs = docs.clone();
                let actor = actor.clone();
                async move {
                    let stored = docs.load_doc(id).await?.expect("exists");
                    let mut doc = stored.load(&actor).expect("loads");
                    let judged = doc
                        .events()
                        .expect("events")
                        .iter()
                        .any(|e| e.kind == "case.verdict");
                    if judged {
                        return Ok::<_, StoreError>(0);
                    }
                    doc.append_event(&event("case.verdict", common::T0 + 10))
                        .unwrap();
                    let mut verdict = change(
                        id,
                        doc.save_incremental(),
                        "server",
                        common::T0 + 10,
                        CELL,
                        "judged",
                    );
                    verdict.origin.device_id = None;
                    docs.append_versioned(vec![(verdict, stored.last_seq)])
                        .await?;
                    Ok(1)
                }
            })
            .await
        }));
    }
    let mut written = 0;
    for writer in writers {
        written += writer.await.expect("task").expect("writer");
    }
    assert_eq!(written, 1, "exactly one writer stored the verdict");
    let events = store
        .docs
        .load_doc(id)
        .await
        .unwrap()
        .unwrap()
        .load(&device)
        .unwrap()
        .events()
        .unwrap();
    assert_eq!(
        events.iter().filter(|e| e.kind == "case.verdict").count(),
        1
    );
}

async fn live_cases_and_evidence_are_read_page_by_page(store: Stores) {
    let device = actor_for(&Uuid::now_v7());
    let mut live = Vec::new();
    for i in 0..7 {
        let status = if i % 3 == 0 { "closed" } else { "dispatched" };
        let (id, mut c) = new_case(&device, CELL, common::T0 + i, status);
        c.blob_refs = vec![format!("{:02x}", i + 1).repeat(32)];
        store.docs.append_change(c).await.unwrap();
        let hash = format!("{:02x}", i + 1).repeat(32);
        store
            .blob_index
            .record_blob(suite_blob(&hash))
            .await
            .unwrap();
        if status != "closed" {
            live.push(id);
        }
    }
    live.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .docs
            .with_status(
                DocKind::Case,
                vec!["dispatched".into(), "rework".into()],
                after,
                2,
            )
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.doc_id);
        seen.extend(page.iter().map(|p| p.doc_id));
    }
    assert_eq!(
        seen, live,
        "every live case once, in id order, closed ones never"
    );

    let mut evidence = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .blob_index
            .case_evidence_near("330106001", Uuid::nil(), after.take(), 3)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.case_id, last.hash.clone()));
        evidence.extend(page);
    }
    assert_eq!(evidence.len(), 7, "all seven photos over three pages");
}

async fn a_month_finds_the_documents_whose_window_meets_it(store: Stores) {
    let device = actor_for(&Uuid::now_v7());
    let day = 24 * 60 * 60_000;
    let t = common::T0;
    // (from, until): open since t; ended before t; ending inside; starting after; no window.
    let windows = [
        (Some(t - 90 * day), None),
        (Some(t - 90 * day), Some(t - 40 * day)),
        (Some(t - 60 * day), Some(t + 5 * day)),
        (Some(t + 40 * day), None),
        (None, None),
    ];
    let mut ids = Vec::new();
    for (from, until) in windows {
        let (id, mut c) = new_case(&device, CELL, t, "dispatched");
        c.projection.json["active_from"] = serde_json::json!(from);
        c.projection.json["active_until"] = serde_json::json!(until);
        store.docs.append_change(c).await.unwrap();
        ids.push(id);
    }
    let mut found = store.docs.active_between(t, t + 30 * day).await.unwrap();
    found.sort();
    let mut want = vec![ids[0], ids[2], ids[4]];
    want.sort();
    assert_eq!(
        found, want,
        "open, ending inside, and the row without a window"
    );
}

/// The snapshot a change carries is kept for its document, the last one of a batch wins,
/// and a change that carries none drops the kept one (it would be stale).
async fn a_documents_snapshot_is_kept_from_its_last_change(store: Stores) {
    use fieldloop_server::storage::snapshots;
    let device = actor_for(&Uuid::now_v7());
    let t = common::T0;
    let (a, mut first) = new_case(&device, CELL, t, "reported");
    let (b, mut other) = new_case(&device, CELL, t, "reported");
    let snapshot_of = |bytes: &[u8]| {
        Doc::load(bytes, &device)
            .expect("doc")
            .snapshot()
            .expect("snapshot")
    };
    let a_snapshot = snapshot_of(&first.bytes);
    first.snapshot = snapshots::encode(&a_snapshot);
    other.snapshot = snapshots::encode(&snapshot_of(&other.bytes));
    let mut later = a_snapshot.clone();
    later
        .fields
        .insert("description".into(), "垃圾堆了三天".into());
    let mut second = change(a, Vec::new(), "phone-1", t + 1, CELL, "reported");
    second.snapshot = snapshots::encode(&later);
    store
        .docs
        .append_changes(vec![first, other, second])
        .await
        .unwrap();

    let kept = |ids: Vec<Uuid>| {
        let docs = store.docs.clone();
        async move {
            let mut found = docs.stored_snapshots(ids).await.unwrap();
            found.sort_by_key(|(id, _)| *id);
            found
                .into_iter()
                .map(|(id, bytes)| (id, snapshots::decode(&bytes).unwrap()))
                .collect::<Vec<_>>()
        }
    };
    let unknown = Uuid::now_v7();
    let found = kept(vec![a, b, unknown]).await;
    assert_eq!(found.len(), 2, "one per document that has one");
    assert_eq!(found.iter().find(|(id, _)| *id == a).unwrap().1, later);

    let bare = change(b, Vec::new(), "phone-1", t + 2, CELL, "registered");
    store.docs.append_change(bare).await.unwrap();
    let found = kept(vec![a, b]).await;
    assert_eq!(found.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![a]);
}

/// Documents stored before snapshots were kept get theirs from the scheduler's walk,
/// which never replaces a kept one nor keeps one for a document that moved on meanwhile.
async fn older_documents_get_their_snapshots_from_the_backfill(store: Stores) {
    use fieldloop_server::storage::snapshots::{self, keep_missing_snapshots, Backfill};
    let device = actor_for(&Uuid::now_v7());
    let t = common::T0;
    let mut older = Vec::new();
    for _ in 0..3 {
        let (id, change) = new_case(&device, CELL, t, "reported");
        store.docs.append_change(change).await.unwrap();
        older.push(id);
    }
    let (recent, mut change) = new_case(&device, CELL, t, "reported");
    let mut marked = Doc::load(&change.bytes, &device)
        .unwrap()
        .snapshot()
        .unwrap();
    marked
        .fields
        .insert("description".into(), "kept by its change".into());
    change.snapshot = snapshots::encode(&marked);
    store.docs.append_change(change).await.unwrap();

    let gaps = store.docs.snapshot_gaps(None, 100).await.unwrap();
    let mut missing: Vec<Uuid> = gaps
        .iter()
        .filter(|(_, has)| !has)
        .map(|(id, _)| *id)
        .collect();
    missing.sort();
    let mut want = older.clone();
    want.sort();
    assert_eq!((gaps.len(), missing), (4, want));
    let walked_from = store
        .docs
        .snapshot_gaps(Some(gaps[1].0), 100)
        .await
        .unwrap();
    assert_eq!(
        walked_from.len(),
        2,
        "the walk goes on after the id it reached"
    );

    let first = store.docs.load_doc(older[0]).await.unwrap().unwrap();
    assert!(
        !store
            .docs
            .keep_snapshot_if_current(older[0], first.last_seq - 1, vec![1])
            .await
            .unwrap(),
        "a document that moved on is not given an older snapshot"
    );

    let mut backfill = Backfill::default();
    let docs = store.docs.as_ref();
    assert_eq!(
        keep_missing_snapshots(docs, &mut backfill, 2)
            .await
            .unwrap(),
        2
    );
    assert!(!backfill.finished);
    assert_eq!(
        keep_missing_snapshots(docs, &mut backfill, 100)
            .await
            .unwrap(),
        1
    );
    assert!(backfill.finished);

    let mut all = older.clone();
    all.push(recent);
    let kept: std::collections::HashMap<Uuid, Vec<u8>> = store
        .docs
        .stored_snapshots(all)
        .await
        .unwrap()
        .into_iter()
        .collect();
    for id in &older {
        let stored = store.docs.load_doc(*id).await.unwrap().unwrap();
        let own = stored.load(&device).unwrap().snapshot().unwrap();
        assert_eq!(snapshots::decode(&kept[id]).unwrap(), own);
    }
    assert_eq!(
        snapshots::decode(&kept[&recent]).unwrap(),
        marked,
        "left as its change wrote it"
    );
}

fn suite_blob(hash: &str) -> fieldloop_server::storage::BlobMeta {
    fieldloop_server::storage::BlobMeta {
        hash: hash.into(),
        size: 1,
        format: "jpeg".into(),
        width: 1,
        height: 1,
        uploaded_by: "li.wei".into(),
        uploaded_at: common::T0,
        phash: Some(1),
    }
}

async fn reference_versions_and_the_account_directory_read_back(store: Stores) {
    use fieldloop_core::reference::KindData;
    use fieldloop_core::roles::{Jurisdiction, Role};
    use fieldloop_server::storage::{DeviceRecord, TokenRecord, UserRecord};

    let reference = &store.reference;
    assert_eq!(reference.reference_version().await.unwrap(), 0);
    let kind = |kind: &str, json: &str| KindData {
        kind: kind.into(),
        json: json.into(),
    };
    let first = reference
        .store_reference(
            vec![kind("units", "[1]"), kind("grid", "[2]")],
            "admin".into(),
            1,
        )
        .await
        .unwrap();
    let second = reference
        .store_reference(vec![kind("units", "[3]")], "admin".into(), 2)
        .await
        .unwrap();
    assert_eq!((first, second), (1, 2));
    let latest = reference.latest_reference().await.unwrap();
    assert_eq!(latest.version, 2);
    // Each kind's newest data, whichever version last changed it.
    assert_eq!(
        latest.kinds,
        vec![kind("grid", "[2]"), kind("units", "[3]")]
    );

    let user = UserRecord {
        id: "u1".into(),
        username: "zhang".into(),
        password_hash: "old".into(),
        role: Role::Dispatcher,
        jurisdiction: Jurisdiction {
            grid_prefixes: vec!["330106001".into()],
            ..Jurisdiction::default()
        },
        created_at: 10,
        disabled: false,
    };
    store.users.create_user(user.clone()).await.unwrap();
    let device = DeviceRecord {
        id: "d1".into(),
        user_id: "u1".into(),
        name: "phone".into(),
        registered_at: 11,
    };
    store.users.register_device(device).await.unwrap();
    for (n, expires_at) in [(1u8, 1_000), (2, 5)] {
        let token = TokenRecord {
            hash: [n; 32],
            user_id: "u1".into(),
            device_id: Some("d1".into()),
            created_at: 1,
            expires_at,
            revoked_at: None,
        };
        store.auth.insert_token(token).await.unwrap();
    }
    let directory = &store.accounts;
    let accounts = directory.list_accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].jurisdiction, user.jurisdiction);
    assert_eq!(accounts[0].role, Role::Dispatcher);
    let devices = directory.list_devices(100).await.unwrap();
    assert_eq!(
        devices[0].live_tokens, 1,
        "the token expired at 5 is not live"
    );
    assert_eq!(directory.revoke_device("d1".into(), 100).await.unwrap(), 2);
    assert_eq!(directory.list_devices(100).await.unwrap()[0].live_tokens, 0);
    assert!(directory
        .set_password("u1".into(), "new".into(), 100)
        .await
        .unwrap());
    assert!(!directory
        .set_password("nobody".into(), "x".into(), 100)
        .await
        .unwrap());
    assert_eq!(
        store
            .users
            .user_by_id("u1")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new"
    );

    directory
        .issue_client_key([7; 32], "citizen-app".into(), "u1".into(), 100)
        .await
        .unwrap();
    assert_eq!(
        directory.client_of_key([7; 32]).await.unwrap().as_deref(),
        Some("citizen-app")
    );
    assert_eq!(directory.client_of_key([8; 32]).await.unwrap(), None);

    // A device's signing key is registered once and never swapped.
    let keys = &store.device_keys;
    let key = "ab".repeat(32);
    keys.register_key("d1".into(), key.clone(), 20)
        .await
        .unwrap();
    keys.register_key("d1".into(), key.clone(), 21)
        .await
        .unwrap();
    let swapped = keys.register_key("d1".into(), "cd".repeat(32), 22).await;
    assert!(
        matches!(
            swapped,
            Err(StoreError::Conflict {
                code: "device_key_taken",
                ..
            })
        ),
        "{swapped:?}"
    );
    keys.revoke_key("d1".into(), 30).await.unwrap();
    keys.revoke_key("d1".into(), 40).await.unwrap();
    let held = keys
        .device_keys(vec!["d1".into(), "unknown".into()])
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    let d1 = &held["d1"];
    assert_eq!(
        (
            d1.public_key.as_str(),
            d1.user_id.as_str(),
            d1.registered_at,
            d1.revoked_at
        ),
        (key.as_str(), "u1", 20, Some(30)),
        "the first revocation time stays"
    );

    // The audit log chains on either backend.
    for action in ["login", "import", "logout"] {
        let entry = fieldloop_server::storage::AuditEntry {
            at: 5,
            user_id: Some("u1".into()),
            device_id: None,
            action: action.into(),
            target: None,
            detail: None,
        };
        store.audit.record(entry).await.unwrap();
    }
    let rows = store.audit.chain_page(0, 10).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.hash.is_some()));
    let check = fieldloop_server::storage::audit::check_chain(store.audit.as_ref())
        .await
        .unwrap();
    assert_eq!((check.checked, check.broken_at), (3, None));
}

async fn a_lease_has_one_holder_until_it_expires(store: Stores) {
    let leases = &store.leases;
    let short = Duration::from_millis(400);
    assert!(leases.acquire_lease("scheduler", "a", short).await.unwrap());
    assert!(!leases.acquire_lease("scheduler", "b", short).await.unwrap());
    assert!(
        leases.acquire_lease("scheduler", "a", short).await.unwrap(),
        "renewal"
    );
    assert!(leases.acquire_lease("other-job", "b", short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        leases.acquire_lease("scheduler", "b", short).await.unwrap(),
        "expired: moves"
    );
    assert!(!leases.acquire_lease("scheduler", "a", short).await.unwrap());
    leases.release_lease("scheduler", "b").await.unwrap();
    assert!(
        leases.acquire_lease("scheduler", "a", short).await.unwrap(),
        "released"
    );
}

async fn compaction_keeps_every_change_and_loads_from_one_base(store: Stores) {
    let device = actor_for(&Uuid::now_v7());
    let (id, first) = new_case(&device, CELL, common::T0, "reported");
    let mut doc = Doc::load(&first.bytes, &device).unwrap();
    store.docs.append_change(first).await.unwrap();
    // What a phone has acknowledged: the first three changes.
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        doc.append_event(&event("case.note", common::T0 + 10 + i))
            .unwrap();
        let c = change(
            id,
            doc.save_incremental(),
            "phone-1",
            common::T0 + 10 + i,
            CELL,
            "reported",
        );
        store.docs.append_change(c).await.unwrap();
        if i == 2 {
            acknowledged = doc.heads();
        }
    }
    let (other, small) = new_case(&device, "330106001001003", common::T0, "reported");
    store.docs.append_change(small).await.unwrap();

    let candidates = store.docs.compaction_candidates(4, 10).await.unwrap();
    assert_eq!(candidates, vec![id], "only the long document");
    let before = store.docs.load_doc(id).await.unwrap().unwrap();
    assert_eq!(before.changes.len(), 6);
    let compacted = compact_long_documents(store.docs.as_ref(), 4, 10)
        .await
        .unwrap();
    assert_eq!(compacted, 1);
    let after = store.docs.load_doc(id).await.unwrap().unwrap();
    assert!(
        after.changes.is_empty() && !after.compacted.is_empty(),
        "one saved base"
    );
    assert_eq!(after.compacted_through, before.last_seq);
    let mut loaded = after.load(&device).unwrap();
    assert_eq!(
        loaded.events().unwrap(),
        before.load(&device).unwrap().events().unwrap()
    );
    // A phone that acknowledged only part still gets exactly the changes it lacks.
    let missing = loaded.save_after(&acknowledged);
    assert!(!missing.is_empty());
    let full_heads = loaded.heads();
    let mut phone = loaded.automerge().fork_at(&acknowledged).unwrap();
    phone.load_incremental(&missing).unwrap();
    assert_eq!(phone.get_heads(), full_heads);
    assert_eq!(
        store.docs.origins(id).await.unwrap().len(),
        6,
        "arrival records stay"
    );
    assert!(store
        .docs
        .compaction_candidates(4, 10)
        .await
        .unwrap()
        .is_empty());

    // Changes after the base stay in the log and load on top of it.
    doc.append_event(&event("case.note", common::T0 + 99))
        .unwrap();
    let c = change(
        id,
        doc.save_incremental(),
        "phone-1",
        common::T0 + 99,
        CELL,
        "reported",
    );
    store.docs.append_change(c).await.unwrap();
    let later = store.docs.load_doc(id).await.unwrap().unwrap();
    assert_eq!(later.changes.len(), 1);
    assert_eq!(later.load(&device).unwrap().events().unwrap().len(), 6);
    assert!(store
        .docs
        .load_doc(other)
        .await
        .unwrap()
        .unwrap()
        .compacted
        .is_empty());
}

// ---------------------------------------------------------------------------------------
// Photo bytes: files and S3

fn photo() -> (BlobHash, Vec<u8>) {
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let hash = BlobHash::parse(&hex::encode(Sha256::digest(&bytes))).unwrap();
    (hash, bytes)
}

async fn resumable_uploads_survive_and_promote(blobs: Arc<dyn BlobStore>) -> StoreResult<()> {
    let (hash, bytes) = photo();
    assert_eq!(blobs.state(&hash).await?, BlobState::Absent);
    assert_eq!(blobs.read(&hash).await?, None);
    let first = Bytes::copy_from_slice(&bytes[..100_000]);
    assert_eq!(blobs.append_part(&hash, 0, first).await?, 100_000);
    assert_eq!(blobs.state(&hash).await?, BlobState::Partial(100_000));
    // A resume from the wrong offset is told where to resume.
    let wrong = blobs
        .append_part(&hash, 50_000, Bytes::copy_from_slice(&bytes[50_000..]))
        .await;
    assert!(
        matches!(
            wrong,
            Err(StoreError::OffsetMismatch {
                held: 100_000,
                asked: 50_000
            })
        ),
        "{wrong:?}"
    );
    let rest = Bytes::copy_from_slice(&bytes[100_000..]);
    assert_eq!(blobs.append_part(&hash, 100_000, rest).await?, 300_000);
    assert_eq!(blobs.read_part(&hash).await?, bytes);
    assert!(blobs
        .stale_parts(Duration::from_secs(3600))
        .await?
        .is_empty());
    assert_eq!(blobs.stale_parts(Duration::ZERO).await?, vec![hash.clone()]);
    blobs.promote_part(&hash).await?;
    assert_eq!(blobs.state(&hash).await?, BlobState::Complete(300_000));
    assert_eq!(blobs.read(&hash).await?.as_deref(), Some(&bytes[..]));
    assert!(blobs.stale_parts(Duration::ZERO).await?.is_empty());

    let (other, _) = (BlobHash::parse(&"ab".repeat(32)).unwrap(), ());
    blobs
        .append_part(&other, 0, Bytes::from_static(b"half a photo"))
        .await?;
    blobs.discard_part(&other).await?;
    assert_eq!(blobs.state(&other).await?, BlobState::Absent);
    assert_eq!(blobs.read_part(&other).await?, Vec::<u8>::new());
    Ok(())
}

#[tokio::test]
async fn photo_files_resume_and_promote() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::open(&dir.path().join("blobs")).unwrap());
    resumable_uploads_survive_and_promote(blobs)
        .await
        .expect("files");
}

#[tokio::test]
async fn photos_on_s3_resume_through_any_instance_and_promote() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let blobs = Arc::new(S3BlobStore::open(&server.settings()).unwrap());
    resumable_uploads_survive_and_promote(blobs.clone())
        .await
        .expect("s3");
    // A second instance on the same bucket sees and resumes the first one's upload.
    let (hash, bytes) = photo();
    let other = BlobHash::parse(&hex::encode(Sha256::digest(&bytes[..10]))).unwrap();
    let one = S3BlobStore::open(&server.settings()).unwrap();
    let two = S3BlobStore::open(&server.settings()).unwrap();
    one.append_part(&other, 0, Bytes::copy_from_slice(&bytes[..4]))
        .await
        .unwrap();
    assert_eq!(two.state(&other).await.unwrap(), BlobState::Partial(4));
    two.append_part(&other, 4, Bytes::copy_from_slice(&bytes[4..10]))
        .await
        .unwrap();
    two.promote_part(&other).await.unwrap();
    assert_eq!(
        one.read(&other).await.unwrap().as_deref(),
        Some(&bytes[..10])
    );
    assert_eq!(
        one.state(&hash).await.unwrap(),
        BlobState::Complete(300_000)
    );
    // A bad address is refused before any request.
    let bad = open::open(&location(
        "x.sqlite3".into(),
        "s3://".into(),
        server.settings(),
    ))
    .await;
    assert!(matches!(bad, Err(StoreError::Config(_))));
}

// ---------------------------------------------------------------------------------------
// PostgreSQL schema versions

/// Columns, indexes and constraints of the public schema, as comparable text.
async fn describe(client: &tokio_postgres::Client) -> Vec<String> {
    let mut facts = Vec::new();
    for row in client
        .query(
            "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, \
             coalesce(column_default, ''), coalesce(collation_name, '') \
             FROM information_schema.columns WHERE table_schema = 'public' \
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .await
        .unwrap()
    {
        facts.push(format!(
            "column {}.{} {} {} null={} default={} collate={}",
            row.get::<_, String>(0),
            row.get::<_, i32>(1),
            row.get::<_, String>(2),
            row.get::<_, String>(3),
            row.get::<_, String>(4),
            row.get::<_, String>(5),
            row.get::<_, String>(6)
        ));
    }
    for row in client
        .query(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' \
             ORDER BY indexname",
            &[],
        )
        .await
        .unwrap()
    {
        facts.push(format!(
            "index {} {}",
            row.get::<_, String>(0),
            row.get::<_, String>(1)
        ));
    }
    for row in client
        .query(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap()
    {
        facts.push(format!(
            "constraint {} {} {}",
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2)
        ));
    }
    facts.push(format!(
        "version {}",
        client
            .query_one("SELECT version FROM schema_version", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
    ));
    facts
}

#[tokio::test]
async fn a_migrated_postgres_database_equals_a_fresh_one() {
    let Some((cluster, old_url)) = postgres().await else {
        return;
    };
    {
        let (client, connection) = tokio_postgres::connect(&old_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute(pg_schema::V1).await.unwrap();
        client
            .batch_execute(
                "INSERT INTO schema_version VALUES (1); \
                 INSERT INTO users VALUES ('u1', 'li.wei', 'x', 'inspector', '{}', 0, false);",
            )
            .await
            .unwrap();
    }
    let migrated = PgStore::connect(&old_url).await.expect("migrate");
    let fresh_url = cluster.fresh_database().await;
    let fresh = PgStore::connect(&fresh_url).await.expect("fresh");
    let migrated_schema = describe(&migrated.client().await.unwrap()).await;
    let fresh_schema = describe(&fresh.client().await.unwrap()).await;
    for fact in &fresh_schema {
        assert!(migrated_schema.contains(fact), "migrated lacks: {fact}");
    }
    assert_eq!(migrated_schema, fresh_schema);
    assert!(fresh_schema.contains(&format!("version {}", pg_schema::VERSION)));
    use fieldloop_server::storage::UserStore;
    let kept = migrated.user_by_id("u1").await.unwrap().expect("row kept");
    assert_eq!(kept.username, "li.wei");
    // Opening again is a no-op; a database from a newer server is refused.
    PgStore::connect(&old_url).await.expect("reopen");
    migrated
        .client()
        .await
        .unwrap()
        .batch_execute(&format!(
            "UPDATE schema_version SET version = {}",
            pg_schema::VERSION + 1
        ))
        .await
        .unwrap();
    assert!(matches!(
        PgStore::connect(&old_url).await,
        Err(StoreError::Schema(_))
    ));
}
