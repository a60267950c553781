//! The device's signing key sealed by the platform's key store: only the sealed form is
//! ever on disk, a plain key left by an older install is sealed in place with the same
//! identity, and a key that cannot be opened is a typed error that changes nothing.

use crate::store_support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use fieldloop_core::custody::{check_seal, parse_public_key, EvidenceSigner};
use fieldloop_core::doc::{Evidence, EvidenceStage};
use fieldloop_core::store::{schema, KeySealer, Store};
use fieldloop_core::Error;
use rusqlite::Connection;
use store_support::*;

/// A stand-in for the platform key store: XOR with a pad, behind a tag. Keeps every
/// secret it was asked to seal, so the test knows the bytes to look for on disk.
struct PadSealer {
    pad: [u8; 32],
    sealed: Mutex<Vec<Vec<u8>>>,
}

impl PadSealer {
    fn new(pad_byte: u8) -> Arc<PadSealer> {
        let mut pad = [0u8; 32];
        for (i, b) in pad.iter_mut().enumerate() {
            *b = pad_byte.wrapping_add((i as u8).wrapping_mul(7)) | 1;
        }
        Arc::new(PadSealer {
            pad,
            sealed: Mutex::new(Vec::new()),
        })
    }

    fn secrets(&self) -> Vec<Vec<u8>> {
        self.sealed.lock().unwrap().clone()
    }
}

impl KeySealer for PadSealer {
    fn seal(&self, secret: &[u8]) -> Result<Vec<u8>, String> {
        self.sealed.lock().unwrap().push(secret.to_vec());
        let mut out = b"pad1".to_vec();
        out.extend(
            secret
                .iter()
                .zip(self.pad.iter().cycle())
                .map(|(s, p)| s ^ p),
        );
        Ok(out)
    }

    fn unseal(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let body = sealed
            .strip_prefix(b"pad1")
            .ok_or("not sealed by this pad")?;
        Ok(body
            .iter()
            .zip(self.pad.iter().cycle())
            .map(|(s, p)| s ^ p)
            .collect())
    }
}

/// A key store that is locked or lost its key.
struct FailingSealer;

impl KeySealer for FailingSealer {
    fn seal(&self, _: &[u8]) -> Result<Vec<u8>, String> {
        Err("keystore locked".into())
    }
    fn unseal(&self, _: &[u8]) -> Result<Vec<u8>, String> {
        Err("keystore locked".into())
    }
}

/// A key store that opens into the wrong number of bytes.
struct ShortSealer;

impl KeySealer for ShortSealer {
    fn seal(&self, secret: &[u8]) -> Result<Vec<u8>, String> {
        Ok(secret[..31].to_vec())
    }
    fn unseal(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        Ok(sealed[..sealed.len().min(31)].to_vec())
    }
}

fn sealer(s: &Arc<PadSealer>) -> Option<Arc<dyn KeySealer>> {
    Some(s.clone() as Arc<dyn KeySealer>)
}

/// Where in the store's files (database, WAL, shared memory) `needle` occurs.
fn found_on_disk(db: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path);
            }
        }
    }
    hits
}

/// The stored key row as it is: (secret, sealed_secret, public_key).
type KeyRow = (Option<Vec<u8>>, Option<Vec<u8>>, String);

fn key_row(db: &Path) -> KeyRow {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT secret, sealed_secret, public_key FROM device_key WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

/// A store as version 6 left it, with a plain key (and a document, so the file has more
/// than one page of data). Returns the plain secret and its public key.
fn plain_v6_store(db: &Path) -> ([u8; 32], String) {
    let secret: [u8; 32] = std::array::from_fn(|i| 0xc0 ^ (i as u8).wrapping_mul(13));
    let public_key = EvidenceSigner::from_secret("d", &secret).public_key_hex();
    let mut conn = Connection::open(db).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    schema::migrate_to(&mut conn, 6).unwrap();
    conn.execute(
        "INSERT INTO device_key (id, secret, public_key) VALUES (1, ?1, ?2)",
        rusqlite::params![secret.as_slice(), public_key],
    )
    .unwrap();
    (secret, public_key)
}

/// The signer signs, and its signature checks against `public_key`.
fn signs_as(signer: &EvidenceSigner, public_key: &str) {
    let doc_id = id_at(T0, 77);
    let evidence = Evidence::new(EvidenceStage::Before, T0, Some(position(0.0)), INSPECTOR);
    let sealed = signer.seal(doc_id, &photo_hash(1), evidence).unwrap();
    let key = parse_public_key(public_key).unwrap();
    check_seal(doc_id, &photo_hash(1), &sealed, &key).expect("the signature holds");
}

fn save_some_docs(store: &mut Store, from: u64) {
    save_reported_cases(store, from..from + 5, "t");
}

#[test]
fn a_new_store_with_a_sealer_never_writes_the_plain_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("device.db");
    let pad = PadSealer::new(0x31);
    let mut store = Store::open_with_sealer(&db, sealer(&pad)).unwrap();
    let public_key = store.evidence_signer().public_key_hex();
    save_some_docs(&mut store, 1);
    let secrets = pad.secrets();
    assert_eq!(secrets.len(), 1, "sealed once");
    let secret: [u8; 32] = secrets[0].clone().try_into().unwrap();
    assert_eq!(
        EvidenceSigner::from_secret("d", &secret).public_key_hex(),
        public_key,
        "the sealed secret is the signing key"
    );
    assert_eq!(
        found_on_disk(&db, &secret),
        Vec::<String>::new(),
        "while open"
    );
    signs_as(store.evidence_signer(), &public_key);
    drop(store);
    assert_eq!(found_on_disk(&db, &secret), Vec::<String>::new(), "closed");
    let (plain, sealed, stored_key) = key_row(&db);
    assert_eq!(plain, None);
    assert!(sealed.is_some());
    assert_eq!(stored_key, public_key);

    // The same key store opens it again, with the same identity.
    let again = Store::open_with_sealer(&db, sealer(&pad)).unwrap();
    assert_eq!(again.evidence_signer().public_key_hex(), public_key);
    signs_as(again.evidence_signer(), &public_key);
    assert_eq!(pad.secrets().len(), 1, "nothing sealed anew");
}

#[test]
fn a_plain_key_is_sealed_in_place_with_the_same_identity() {
    let dir = tempfile::tempdir().unwrap();
    // Straight from version 6 to sealed, and through an unsealed open at version 7
    // first (an app update that opened the store before it had a key store).
    for opened_plain_first in [false, true] {
        let db = dir.path().join(format!("v6-{opened_plain_first}.db"));
        let (secret, public_key) = plain_v6_store(&db);
        assert!(
            !found_on_disk(&db, &secret).is_empty(),
            "the scan finds a plain key"
        );
        if opened_plain_first {
            let mut store = Store::open(&db).unwrap();
            assert_eq!(store.evidence_signer().public_key_hex(), public_key);
            save_some_docs(&mut store, 10);
        }
        let pad = PadSealer::new(0x52);
        let mut store = Store::open_with_sealer(&db, sealer(&pad)).unwrap();
        assert_eq!(
            store.evidence_signer().public_key_hex(),
            public_key,
            "the registered identity is kept"
        );
        assert_eq!(pad.secrets(), vec![secret.to_vec()]);
        signs_as(store.evidence_signer(), &public_key);
        assert_eq!(
            found_on_disk(&db, &secret),
            Vec::<String>::new(),
            "plain bytes erased (opened plain first: {opened_plain_first})"
        );
        save_some_docs(&mut store, 20);
        drop(store);
        assert_eq!(found_on_disk(&db, &secret), Vec::<String>::new());
        let (plain, sealed, stored_key) = key_row(&db);
        assert_eq!((plain, stored_key), (None, public_key.clone()));
        assert!(sealed.is_some());
        let conn = Connection::open(&db).unwrap();
        assert_eq!(schema::version(&conn).unwrap(), schema::VERSION);
        let docs: i64 = conn
            .query_row("SELECT count(*) FROM docs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(docs, if opened_plain_first { 10 } else { 5 });
        drop(conn);

        let again = Store::open_with_sealer(&db, sealer(&pad)).unwrap();
        assert_eq!(again.evidence_signer().public_key_hex(), public_key);
    }
}

#[test]
fn a_key_that_cannot_be_opened_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("device.db");
    let pad = PadSealer::new(0x17);
    let public_key = {
        let mut store = Store::open_with_sealer(&db, sealer(&pad)).unwrap();
        save_some_docs(&mut store, 1);
        store.evidence_signer().public_key_hex()
    };
    let before = key_row(&db);
    let attempts: Vec<(&str, Option<Arc<dyn KeySealer>>)> = vec![
        ("no key store", None),
        ("another key store", sealer(&PadSealer::new(0x99))),
        ("a failing key store", Some(Arc::new(FailingSealer))),
        (
            "a key store that opens into 31 bytes",
            Some(Arc::new(ShortSealer)),
        ),
    ];
    for (what, attempt) in attempts {
        let err = Store::open_with_sealer(&db, attempt).unwrap_err();
        assert!(
            matches!(err, Error::DeviceKeyUnavailable(_)),
            "{what}: {err}"
        );
        assert_eq!(key_row(&db), before, "{what}: the stored key is untouched");
    }
    let err = Store::open(&db).unwrap_err();
    assert!(
        err.to_string().contains("sealed by the platform key store"),
        "{err}"
    );
    assert_eq!(key_row(&db), before);

    // The right key store still opens it.
    let store = Store::open_with_sealer(&db, sealer(&pad)).unwrap();
    assert_eq!(store.evidence_signer().public_key_hex(), public_key);
}

#[test]
fn a_sealer_that_cannot_seal_stores_no_key() {
    let dir = tempfile::tempdir().unwrap();
    for (name, failing) in [
        ("failing", Arc::new(FailingSealer) as Arc<dyn KeySealer>),
        ("short", Arc::new(ShortSealer)),
    ] {
        let db = dir.path().join(format!("{name}.db"));
        let err = Store::open_with_sealer(&db, Some(failing)).unwrap_err();
        assert!(
            matches!(err, Error::DeviceKeyUnavailable(_)),
            "{name}: {err}"
        );
        let rows: i64 = Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM device_key", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0, "{name}: no key that could not be opened again");

        // A plain key is not erased when sealing it fails.
        let v6 = dir.path().join(format!("{name}-v6.db"));
        let (secret, public_key) = plain_v6_store(&v6);
        let failing: Arc<dyn KeySealer> = if name == "failing" {
            Arc::new(FailingSealer)
        } else {
            Arc::new(ShortSealer)
        };
        assert!(matches!(
            Store::open_with_sealer(&v6, Some(failing)).unwrap_err(),
            Error::DeviceKeyUnavailable(_)
        ));
        assert_eq!(key_row(&v6), (Some(secret.to_vec()), None, public_key));
    }
}
