//! The storage suite: documents with their arrival records, projections, the blob index,
//! run against both backends (SQLite and PostgreSQL, see `storage_backends`), plus the
//! embedded store's own migrations.

use crate::common;

use std::collections::BTreeMap;

use fieldloop_core::doc::{actor_for, Doc, DocKind, DocScope, Event, Header, SCHEMA_VERSION};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_server::storage::open::Stores;
use fieldloop_server::storage::sqlite::SqliteStore;
use fieldloop_server::storage::{
    schema, BlobHash, BlobMeta, CaseEvidence, NewChange, Origin, ProjectionFields,
};
use rusqlite::Connection;
use uuid::Uuid;

/// Everything SQLite says about a schema, as comparable text.
fn describe(conn: &Connection) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut objects = conn
        .prepare(
            "SELECT type, name, tbl_name FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .expect("objects");
    let rows: Vec<(String, String, String)> = objects
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let pragma_rows = |sql: String| -> Vec<String> {
        let mut stmt = conn.prepare(&sql).expect("pragma");
        let n = stmt.column_count();
        stmt.query_map([], |row| {
            Ok((0..n)
                .map(|i| format!("{:?}", row.get_ref(i).map(|v| v.to_owned())))
                .collect::<Vec<_>>()
                .join("|"))
        })
        .expect("pragma rows")
        .map(|r| r.expect("row"))
        .collect()
    };
    for (kind, name, table) in rows {
        let mut facts = vec![format!("{kind} on {table}")];
        if kind == "table" {
            facts.extend(pragma_rows(format!("PRAGMA table_xinfo('{name}')")));
            // Which indexes, not the order they were created in (a migration that
            // recreates an index moves it to the front of the list).
            let mut indexes: Vec<String> = pragma_rows(format!("PRAGMA index_list('{name}')"))
                .into_iter()
                .map(|row| {
                    row.split_once('|')
                        .map_or(row.clone(), |(_, rest)| rest.to_owned())
                })
                .collect();
            indexes.sort();
            facts.extend(indexes);
            facts.extend(pragma_rows(format!("PRAGMA foreign_key_list('{name}')")));
            let strict: String = conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .expect("sql");
            facts.push(format!(
                "strict={} without_rowid={}",
                strict.contains("STRICT"),
                strict.contains("WITHOUT ROWID")
            ));
        } else if kind == "index" {
            facts.extend(pragma_rows(format!("PRAGMA index_xinfo('{name}')")));
            let sql: Option<String> = conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .expect("sql");
            // Partial-index conditions only show in the SQL text.
            facts.push(format!(
                "where={:?}",
                sql.and_then(|s| s.split_once(" WHERE ").map(|(_, w)| w.to_owned()))
            ));
        }
        out.insert(name, facts);
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    out.insert("user_version".into(), vec![version.to_string()]);
    out
}

#[test]
fn a_migrated_database_equals_a_fresh_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = dir.path().join("old.sqlite3");
    {
        let conn = Connection::open(&old).expect("open");
        conn.execute_batch(schema::V1).expect("v1 schema");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute(
            "INSERT INTO users VALUES ('u1', 'li.wei', 'x', 'inspector', '{}', 0, 0)",
            [],
        )
        .expect("v1 row");
        conn.execute_batch(
            "INSERT INTO documents VALUES ('d1', 'case', NULL, 0, 1, 0);
             INSERT INTO projections (doc_id, kind, json, seq)
                 VALUES ('d1', 'case', '{\"created_by\":\"u1\"}', 1);",
        )
        .expect("v1 document");
    }
    let migrated = SqliteStore::open(&old).expect("migrate");
    let fresh = SqliteStore::open(&dir.path().join("fresh.sqlite3")).expect("fresh");
    let migrated_schema = migrated.with_writer(|c| Ok(describe(c))).expect("describe");
    let fresh_schema = fresh.with_writer(|c| Ok(describe(c))).expect("describe");
    assert_eq!(
        migrated_schema.get("user_version"),
        Some(&vec![schema::VERSION.to_string()])
    );
    for (name, facts) in &fresh_schema {
        assert_eq!(
            migrated_schema.get(name),
            Some(facts),
            "object {name} differs"
        );
    }
    assert_eq!(migrated_schema, fresh_schema);
    // Data survives the migration.
    let kept: String = migrated
        .with_writer(|c| {
            Ok(
                c.query_row("SELECT username FROM users WHERE id = 'u1'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .expect("row kept");
    assert_eq!(kept, "li.wei");
    let creator: Option<String> = migrated
        .with_writer(|c| {
            Ok(c.query_row(
                "SELECT created_by FROM projections WHERE doc_id = 'd1'",
                [],
                |r| r.get(0),
            )?)
        })
        .expect("creator column");
    assert_eq!(
        creator.as_deref(),
        Some("u1"),
        "the creator column backfilled"
    );

    // Opening again is a no-op; a database from a newer server is refused.
    drop(migrated);
    SqliteStore::open(&old).expect("reopen");
    let newer = dir.path().join("newer.sqlite3");
    {
        let conn = Connection::open(&newer).expect("open");
        conn.execute_batch("CREATE TABLE t (x INTEGER)")
            .expect("table");
        conn.pragma_update(None, "user_version", schema::VERSION + 1)
            .expect("version");
    }
    assert!(SqliteStore::open(&newer).is_err());
}

#[test]
fn the_store_runs_in_wal_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("db.sqlite3")).expect("open");
    let mode: String = store
        .with_writer(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
        .expect("pragma");
    assert_eq!(mode, "wal");
}

pub fn case_header(id: Uuid, cell: &str) -> Header {
    Header {
        id,
        kind: DocKind::Case,
        schema: SCHEMA_VERSION,
        created_by: "li.wei".into(),
        created_role: Role::Inspector,
        created_at: common::T0,
        position: None,
        category: Some("0101".into()),
        scope: DocScope {
            grid_cell: Some(cell.into()),
            ..Default::default()
        },
    }
}

pub fn event(kind: &str, at: i64) -> Event {
    Event {
        id: Uuid::now_v7(),
        kind: kind.into(),
        at,
        by: "li.wei".into(),
        role: Role::Inspector,
        data: serde_json::Value::Null,
    }
}

pub fn change(
    doc_id: Uuid,
    bytes: Vec<u8>,
    device: &str,
    at: i64,
    cell: &str,
    status: &str,
) -> NewChange {
    NewChange {
        doc_id,
        kind: DocKind::Case,
        bytes,
        origin: Origin {
            user_id: "li.wei".into(),
            device_id: Some(device.into()),
            arrived_at: at,
        },
        projection: ProjectionFields {
            status: Some(status.into()),
            grid_cell: Some(cell.into()),
            json: serde_json::json!({ "category": "0101" }),
            ..Default::default()
        },
        blob_refs: vec![],
        audit: Vec::new(),
        snapshot: None,
    }
}

/// A new case document in `cell`, as its first change from phone-1.
pub fn new_case(
    device: &automerge::ActorId,
    cell: &str,
    at: i64,
    status: &str,
) -> (Uuid, NewChange) {
    let id = Uuid::now_v7();
    let mut doc = Doc::create(&case_header(id, cell), device).expect("doc");
    (id, change(id, doc.save(), "phone-1", at, cell, status))
}

pub async fn changes_get_a_global_sequence_and_documents_load_from_changes_and_compaction(
    store: Stores,
) {
    let device = actor_for(&Uuid::now_v7());
    let server_actor = actor_for(&Uuid::now_v7());

    let a = Uuid::now_v7();
    let b = Uuid::now_v7();
    let mut doc_a = Doc::create(&case_header(a, "330106001001002"), &device).expect("doc");
    let first = doc_a.save_incremental();
    let mut doc_b = Doc::create(&case_header(b, "330106002003004"), &device).expect("doc");
    let seq1 = store
        .docs
        .append_change(change(
            a,
            first,
            "phone-1",
            common::T0,
            "330106001001002",
            "reported",
        ))
        .await
        .expect("a1");
    let seq2 = store
        .docs
        .append_change(change(
            b,
            doc_b.save_incremental(),
            "phone-2",
            common::T0 + 1,
            "330106002003004",
            "reported",
        ))
        .await
        .expect("b1");
    doc_a
        .append_event(&event("case.registered", common::T0 + 5))
        .expect("event");
    let seq3 = store
        .docs
        .append_change(change(
            a,
            doc_a.save_incremental(),
            "phone-1",
            common::T0 + 9,
            "330106001001002",
            "registered",
        ))
        .await
        .expect("a2");
    assert!(
        seq1 < seq2 && seq2 < seq3,
        "one global sequence: {seq1} {seq2} {seq3}"
    );
    assert_eq!(store.docs.head_seq().await.expect("head"), seq3);

    // Loaded on demand from its incremental changes.
    let stored = store.docs.load_doc(a).await.expect("load").expect("exists");
    assert_eq!(stored.changes.len(), 2);
    assert_eq!(stored.last_seq, seq3);
    let loaded = stored.load(&server_actor).expect("rebuild");
    assert_eq!(loaded.events().expect("events").len(), 1);
    assert_eq!(loaded.header().expect("header").id, a);

    // Who sent each change and when it arrived is kept beside it.
    let origins = store.docs.origins(a).await.expect("origins");
    assert_eq!(origins.len(), 2);
    assert_eq!(origins[1].0, seq3);
    assert_eq!(origins[1].1.device_id.as_deref(), Some("phone-1"));
    assert_eq!(origins[1].1.arrived_at, common::T0 + 9);

    // Compaction replaces the changes with one save; arrival records stay.
    let mut rebuilt = stored.load(&server_actor).expect("rebuild");
    store
        .docs
        .compact(a, rebuilt.save(), seq3)
        .await
        .expect("compact");
    let compacted = store.docs.load_doc(a).await.expect("load").expect("exists");
    assert!(compacted.changes.is_empty());
    assert_eq!(compacted.compacted_through, seq3);
    let reloaded = compacted.load(&server_actor).expect("rebuild");
    assert_eq!(
        reloaded.events().expect("events"),
        loaded.events().expect("events")
    );
    assert_eq!(store.docs.origins(a).await.expect("origins").len(), 2);

    // A later change lands on top of the compaction.
    doc_a
        .append_event(&event("case.dispatched", common::T0 + 20))
        .expect("event");
    store
        .docs
        .append_change(change(
            a,
            doc_a.save_incremental(),
            "phone-1",
            common::T0 + 30,
            "330106001001002",
            "dispatched",
        ))
        .await
        .expect("a3");
    let later = store.docs.load_doc(a).await.expect("load").expect("exists");
    assert_eq!(later.changes.len(), 1);
    assert_eq!(
        later
            .load(&server_actor)
            .expect("rebuild")
            .events()
            .expect("events")
            .len(),
        2
    );

    // The projection moved with the change, in the same transaction.
    let projection = store
        .docs
        .projection(a)
        .await
        .expect("projection")
        .expect("exists");
    assert_eq!(projection.fields.status.as_deref(), Some("dispatched"));
    assert_eq!(projection.fields.json["category"], "0101");

    // A stored document keeps its kind.
    let mut wrong = change(a, vec![], "phone-1", common::T0, "330106001001002", "x");
    wrong.kind = DocKind::Notice;
    assert!(store.docs.append_change(wrong).await.is_err());
    assert!(store
        .docs
        .load_doc(Uuid::now_v7())
        .await
        .expect("load")
        .is_none());
}

pub async fn changed_since_filters_by_cursor_and_jurisdiction(store: Stores) {
    let device = actor_for(&Uuid::now_v7());
    let cells = ["330106001001002", "330106001002001", "330106002001001"];
    let mut seqs = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let (id, mut c) = new_case(&device, cell, common::T0 + i as i64, "reported");
        if i == 2 {
            c.projection.unit = Some("sanitation-xihu".into());
        }
        seqs.push((id, store.docs.append_change(c).await.expect("append")));
    }
    let street = Jurisdiction {
        grid_prefixes: vec!["330106001".into()],
        ..Default::default()
    };
    let found = store
        .docs
        .changed_since(0, street.clone(), 100)
        .await
        .expect("query");
    assert_eq!(
        found.iter().map(|p| p.doc_id).collect::<Vec<_>>(),
        vec![seqs[0].0, seqs[1].0]
    );
    let after_first = store
        .docs
        .changed_since(seqs[0].1, street, 100)
        .await
        .expect("query");
    assert_eq!(after_first.len(), 1);
    let unit = Jurisdiction {
        units: vec!["sanitation-xihu".into()],
        ..Default::default()
    };
    assert_eq!(
        store.docs.changed_since(0, unit, 100).await.expect("query")[0].doc_id,
        seqs[2].0
    );
    let everything = Jurisdiction {
        everywhere: true,
        ..Default::default()
    };
    assert_eq!(
        store
            .docs
            .changed_since(0, everything.clone(), 2)
            .await
            .expect("query")
            .len(),
        2,
        "paged"
    );
    assert_eq!(
        store
            .docs
            .changed_since(0, everything, 100)
            .await
            .expect("query")
            .len(),
        3
    );
    assert!(store
        .docs
        .changed_since(0, Jurisdiction::default(), 100)
        .await
        .expect("query")
        .is_empty());

    // A sync also hands a person the documents they created outside their scope.
    let (mine, mut c) = new_case(&device, "330107009009009", common::T0 + 9, "reported");
    c.projection.json["created_by"] = serde_json::json!("zhao.min");
    let mine_seq = store.docs.append_change(c).await.expect("append");
    let for_sync = |creator: &str| {
        store.docs.changed_for_sync(
            seqs[2].1,
            Jurisdiction {
                grid_prefixes: vec!["330106".into()],
                ..Default::default()
            },
            creator.to_owned(),
            100,
        )
    };
    let found = for_sync("zhao.min").await.expect("query");
    assert_eq!(
        found.iter().map(|p| (p.doc_id, p.seq)).collect::<Vec<_>>(),
        vec![(mine, mine_seq)]
    );
    assert!(for_sync("li.wei").await.expect("query").is_empty());
}

pub async fn a_batch_of_changes_is_stored_all_or_nothing(store: Stores) {
    let device = actor_for(&Uuid::now_v7());
    let cell = "330106001001002";
    let mut batch = Vec::new();
    for i in 0..3 {
        let id = Uuid::now_v7();
        let mut doc = Doc::create(&case_header(id, cell), &device).expect("doc");
        batch.push(change(
            id,
            doc.save(),
            "phone-1",
            common::T0 + i,
            cell,
            "reported",
        ));
    }
    let seqs = store
        .docs
        .append_changes(batch.clone())
        .await
        .expect("batch");
    assert_eq!(seqs.len(), 3);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    // The last change of this batch names a blob address that is not a hash: the
    // whole batch is refused and nothing of it is stored.
    let fresh: Vec<NewChange> = (0..2)
        .map(|i| {
            let id = Uuid::now_v7();
            let mut doc = Doc::create(&case_header(id, cell), &device).expect("doc");
            let mut c = change(
                id,
                doc.save(),
                "phone-1",
                common::T0 + 10 + i,
                cell,
                "reported",
            );
            if i == 1 {
                c.blob_refs = vec!["../../etc/passwd".into()];
            }
            c
        })
        .collect();
    let first_id = fresh[0].doc_id;
    assert!(store.docs.append_changes(fresh).await.is_err());
    assert!(store.docs.load_doc(first_id).await.expect("load").is_none());
    assert_eq!(store.docs.head_seq().await.expect("head"), seqs[2]);

    // One document changed twice in one batch: both changes kept in order, the document
    // and its projection at the second.
    let twice = batch[0].doc_id;
    let mut doc = store
        .docs
        .load_doc(twice)
        .await
        .unwrap()
        .unwrap()
        .load(&device)
        .unwrap();
    doc.append_event(&event("case.registered", common::T0 + 20))
        .unwrap();
    let registered = change(
        twice,
        doc.save_incremental(),
        "phone-1",
        common::T0 + 21,
        cell,
        "registered",
    );
    doc.append_event(&event("case.dispatched", common::T0 + 22))
        .unwrap();
    let dispatched = change(
        twice,
        doc.save_incremental(),
        "phone-1",
        common::T0 + 23,
        cell,
        "dispatched",
    );
    let both = store
        .docs
        .append_changes(vec![registered, dispatched])
        .await
        .expect("two changes of one document");
    assert_eq!(both, vec![seqs[2] + 1, seqs[2] + 2]);
    let stored = store.docs.load_doc(twice).await.unwrap().unwrap();
    assert_eq!(stored.last_seq, both[1]);
    let seqs_stored: Vec<_> = stored.changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs_stored, vec![seqs[0], both[0], both[1]]);
    let projection = store.docs.projection(twice).await.unwrap().unwrap();
    assert_eq!(
        (projection.fields.status.as_deref(), projection.seq),
        (Some("dispatched"), both[1])
    );
}

/// A change must be of its document's kind, and a photo's arrival is that of the first
/// stored change naming it: the first in a batch, and never moved by a later one.
pub async fn kinds_are_kept_and_a_photos_first_arrival_stays(store: Stores) {
    let device = actor_for(&Uuid::now_v7());
    let cell = "330106001001002";
    let photo = "a".repeat(64);
    let other_photo = "b".repeat(64);
    let (id, mut first) = new_case(&device, cell, common::T0, "reported");
    first.blob_refs = vec![photo.clone()];
    let mut doc = Doc::load(&first.bytes, &device).expect("load");
    doc.append_event(&event("case.registered", common::T0 + 5))
        .unwrap();
    let mut second = change(
        id,
        doc.save_incremental(),
        "phone-1",
        common::T0 + 9,
        cell,
        "registered",
    );
    second.blob_refs = vec![photo.clone(), other_photo.clone()];
    store
        .docs
        .append_changes(vec![first, second])
        .await
        .expect("one batch");
    let arrivals = || async {
        let arrivals = store.docs.evidence_arrivals(id).await.unwrap();
        arrivals.into_iter().collect::<BTreeMap<String, i64>>()
    };
    let expected = BTreeMap::from([(photo.clone(), common::T0), (other_photo, common::T0 + 9)]);
    assert_eq!(arrivals().await, expected);

    doc.append_event(&event("case.dispatched", common::T0 + 20))
        .unwrap();
    let mut later = change(
        id,
        doc.save_incremental(),
        "phone-1",
        common::T0 + 21,
        cell,
        "dispatched",
    );
    later.blob_refs = vec![photo];
    let head = store
        .docs
        .append_change(later.clone())
        .await
        .expect("later");
    assert_eq!(
        arrivals().await,
        expected,
        "a later change moved a first arrival"
    );

    // The same document's change claiming another kind is refused, and nothing of its
    // batch is stored.
    let (fresh, new_doc) = new_case(&device, cell, common::T0 + 30, "reported");
    let mut wrong = later;
    wrong.kind = DocKind::Notice;
    let refused = store.docs.append_changes(vec![new_doc, wrong]).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("not a")),
        "{refused:?}"
    );
    assert!(store.docs.load_doc(fresh).await.unwrap().is_none());
    assert_eq!(store.docs.head_seq().await.unwrap(), head);
}

fn blob(hash: &str, phash: Option<u64>) -> BlobMeta {
    BlobMeta {
        hash: hash.into(),
        size: 1,
        format: "jpeg".into(),
        width: 1,
        height: 1,
        uploaded_by: "li.wei".into(),
        uploaded_at: common::T0,
        phash,
    }
}

pub async fn a_streets_case_photos_and_their_perceptual_hashes_come_from_one_query(store: Stores) {
    let device = actor_for(&Uuid::now_v7());
    let hash = |n: u8| format!("{n:02x}").repeat(32);
    // (cell, photo, perceptual hash): two cases of street 330106001, one of another street.
    let cases = [
        ("330106001001002", hash(1), Some(u64::MAX)),
        ("330106001002001", hash(2), None),
        ("330106002001001", hash(3), Some(7)),
    ];
    let mut ids = Vec::new();
    for (i, (cell, photo, phash)) in cases.iter().enumerate() {
        let (id, mut c) = new_case(&device, cell, common::T0 + i as i64, "handled");
        c.blob_refs = vec![photo.clone()];
        store.docs.append_change(c).await.expect("append");
        store
            .blob_index
            .record_blob(blob(photo, *phash))
            .await
            .expect("blob");
        ids.push(id);
    }
    // A photo referenced but not uploaded yet is not there.
    let (_, mut pending) = new_case(&device, "330106001001003", common::T0 + 9, "reported");
    pending.blob_refs = vec![hash(4)];
    store.docs.append_change(pending).await.expect("append");

    let near = store
        .blob_index
        .case_evidence_near("330106001", ids[1], None, 100)
        .await
        .expect("query");
    assert_eq!(
        near,
        vec![CaseEvidence {
            case_id: ids[0],
            hash: hash(1),
            phash: Some(u64::MAX),
        }],
        "the street's other case, its 64-bit hash kept bit for bit"
    );
    let all = store
        .blob_index
        .case_evidence_near("330106001", Uuid::nil(), None, 100)
        .await
        .expect("query");
    assert_eq!(all.len(), 2);
    assert_eq!(
        all.iter().find(|e| e.case_id == ids[1]).unwrap().phash,
        None
    );

    // A hash computed later fills the gap, and never overwrites a kept one.
    let address = BlobHash::parse(&hash(2)).unwrap();
    store
        .blob_index
        .record_phash(&address, 42)
        .await
        .expect("record");
    store
        .blob_index
        .record_phash(&address, 43)
        .await
        .expect("record");
    assert_eq!(
        store
            .blob_index
            .blob_meta(&address)
            .await
            .unwrap()
            .unwrap()
            .phash,
        Some(42)
    );

    let bad = store
        .blob_index
        .case_evidence_near("3301%", Uuid::nil(), None, 100)
        .await;
    assert!(bad.is_err(), "a prefix is digits only");
}
