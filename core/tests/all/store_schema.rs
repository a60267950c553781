//! Migrations, and the errors a damaged, foreign, newer or missing file gives.

use crate::store_support;

use std::path::Path;

use fieldloop_core::store::{schema, Store};
use fieldloop_core::Error;
use rusqlite::Connection;
use store_support::*;

/// Everything that defines the schema, normalised so that SQLite's rewriting of a table's
/// SQL on `ALTER TABLE` (spacing only) does not count as a difference.
/// (user_version, application_id, (type, name, normalised SQL) of every object, columns).
#[derive(Debug, PartialEq)]
struct SchemaShape {
    version: u32,
    application_id: i32,
    objects: Vec<(String, String, String)>,
    columns: Vec<String>,
}

fn schema_of(path: &Path) -> SchemaShape {
    let conn = Connection::open(path).unwrap();
    let normal = |sql: String| {
        let mut s = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        for p in ["(", ")", ","] {
            s = s.replace(&format!(" {p}"), p).replace(&format!("{p} "), p);
        }
        s
    };
    let mut stmt = conn
        .prepare(
            "SELECT type, name, sql FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .unwrap();
    let objects = stmt
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get::<_, Option<String>>(2)?))
        })
        .unwrap()
        .map(|r| {
            let (t, n, sql) = r.unwrap();
            (t, n, normal(sql.unwrap_or_default()))
        })
        .collect::<Vec<_>>();
    // Column order, types, defaults and keys, as SQLite itself sees them.
    let mut columns = Vec::new();
    for (t, name, _) in &objects {
        if t == "table" {
            let mut info = conn
                .prepare(&format!("SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{name}')"))
                .unwrap();
            let rows = info
                .query_map([], |row| {
                    Ok(format!(
                        "{name}.{}:{}:{}:{}:{:?}:{}",
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, i64>(5)?
                    ))
                })
                .unwrap();
            columns.extend(rows.map(|r| r.unwrap()));
        }
    }
    let version = schema::version(&conn).unwrap();
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .unwrap();
    SchemaShape {
        version,
        application_id: app_id,
        objects,
        columns,
    }
}

#[test]
fn a_database_migrated_from_version_1_equals_a_fresh_one() {
    let steps = schema::STEPS.len();
    assert!(steps >= 2, "the test needs at least one step to run");
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.db");
    drop(Store::open(&fresh).unwrap());

    // A database as version 1 of the app left it, with a document in it.
    let old = dir.path().join("old.db");
    let id = id_at(T0, 1);
    let actor = fieldloop_core::doc::actor_for(&id_at(T0, 2));
    let mut doc = reported_case(
        id,
        T0,
        &actor,
        &[photo_hash(1), photo_hash(2), photo_hash(3)],
    );
    {
        let mut conn = Connection::open(&old).unwrap();
        schema::migrate_to(&mut conn, 1).unwrap();
        assert_eq!(schema::version(&conn).unwrap(), 1);
        let heads =
            serde_json::to_string(&fieldloop_core::doc::heads_to_hex(&doc.heads())).unwrap();
        conn.execute(
            "INSERT INTO docs (id, kind, base, heads) VALUES (?1, 'case', ?2, ?3)",
            rusqlite::params![id.as_bytes(), doc.save(), heads],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO quarantine (doc_id, change, reason, at) VALUES (?1, x'00', 'old', 1)",
            [id.as_bytes()],
        )
        .unwrap();
    }
    for step in 1..schema::VERSION {
        let mut conn = Connection::open(&old).unwrap();
        schema::migrate_to(&mut conn, step + 1).unwrap();
        assert_eq!(schema::version(&conn).unwrap(), step + 1);
        if step + 1 == 5 {
            // Version 5 kept patrol pauses in the device's own table; 6 drops it, rows
            // and all (pauses are events of the patrol document since).
            conn.execute(
                "INSERT INTO patrol_pauses (patrol_id, paused_at) VALUES (?1, 5)",
                [id.as_bytes()],
            )
            .unwrap();
        }
        if step + 1 == 4 {
            // Version 4 keeps the signing key in plain bytes; 7 keeps the row, and lets it
            // be sealed instead.
            conn.execute(
                "INSERT INTO device_key (id, secret, public_key) VALUES (1, ?1, ?2)",
                rusqlite::params![[7u8; 32].as_slice(), key_of_sevens()],
            )
            .unwrap();
        }
    }
    let migrated = schema_of(&old);
    assert_eq!(migrated.version, schema::VERSION);
    assert_eq!(migrated, schema_of(&fresh));

    // The data came through, and the store opens it as it opens any.
    let store = Store::open_existing(&old).unwrap();
    assert_eq!(
        store.load_doc(id).unwrap().snapshot().unwrap(),
        doc.snapshot().unwrap()
    );
    assert_eq!(store.quarantined().unwrap()[0].reason, "old");
    assert_eq!(
        store.evidence_signer().public_key_hex(),
        key_of_sevens(),
        "the device key came through"
    );
}

fn key_of_sevens() -> String {
    fieldloop_core::custody::EvidenceSigner::from_secret("d", &[7u8; 32]).public_key_hex()
}

#[test]
fn opening_migrates_a_version_1_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 1).unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    save_reported_cases(&mut store, 3..4, "migrated");
    assert_eq!(
        store.list_open_tasks(5).unwrap()[0].listing.title,
        "migrated"
    );
    drop(store);
    let conn = Connection::open(&path).unwrap();
    assert_eq!(schema::version(&conn).unwrap(), schema::VERSION);
}

#[test]
fn a_newer_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    drop(Store::open(&path).unwrap());
    let future = schema::VERSION + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", future)
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "store schema",
                ..
            }
        ),
        "{err}"
    );
    let conn = Connection::open(&path).unwrap();
    assert_eq!(schema::version(&conn).unwrap(), future);
}

#[test]
fn another_apps_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x');")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "store file",
                ..
            }
        ),
        "{err}"
    );
    let conn = Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1, "nothing was added to the other app's file");
}

#[test]
fn a_damaged_file_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let err = Store::open(&garbage).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "store file",
                ..
            }
        ),
        "{err}"
    );

    // A real store whose pages were overwritten in the middle.
    let path = dir.path().join("damaged.db");
    {
        let mut store = Store::open(&path).unwrap();
        save_reported_cases(&mut store, 0..50, "t");
    }
    {
        // Fold any WAL left into the main file so the damage below hits the data.
        let conn = Connection::open(&path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 16 * 4096);
    for b in &mut bytes[4096..16 * 4096] {
        *b = 0xa5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let result = Store::open(&path).and_then(|store| {
        store.check_integrity()?;
        store.list_open_tasks(100)
    });
    let err = result.expect_err("damage is noticed");
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "store file",
                ..
            } | Error::Sqlite(_)
        ),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_not_found_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let err = Store::open_existing(&path).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert!(!path.exists());
}

#[test]
fn a_damaged_document_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let id = id_at(T0, 9);
    {
        let mut store = Store::open(&path).unwrap();
        let mut doc = reported_case(
            id,
            T0,
            store.actor(),
            &[photo_hash(1), photo_hash(2), photo_hash(3)],
        );
        store
            .save_doc(&mut doc, &open_listing("t", None, T0))
            .unwrap();
    }
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE docs SET base = substr(base, 1, 40)", [])
        .unwrap();
    let store = Store::open(&path).unwrap();
    let err = store.load_doc(id).unwrap_err();
    assert!(matches!(err, Error::Automerge(_)), "{err}");
}

#[test]
fn the_device_signing_key_is_made_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    // A store as version 3 left it: no key yet; the upgrade makes one.
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 3).unwrap();
    }
    let first = Store::open(&path).unwrap();
    let key = first.evidence_signer().public_key_hex();
    assert_eq!(
        first.evidence_signer().device_id(),
        first.device_id().to_string()
    );
    drop(first);
    let again = Store::open(&path).unwrap();
    assert_eq!(
        again.evidence_signer().public_key_hex(),
        key,
        "kept for good"
    );
    let other = Store::open(dir.path().join("other.db")).unwrap();
    assert_ne!(
        other.evidence_signer().public_key_hex(),
        key,
        "one key per device"
    );
    let rows: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM device_key", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}
