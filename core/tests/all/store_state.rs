//! Sync state, quarantine, login and photo files in the device store.

use crate::store_support;

use fieldloop_core::doc::heads_to_hex;
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::store::{sha256_hex, NewPhoto, RejectedChange, Store};
use fieldloop_core::time::{HOUR, MINUTE};
use fieldloop_core::Error;
use store_support::*;

fn photos3() -> [String; 3] {
    [photo_hash(1), photo_hash(2), photo_hash(3)]
}

fn outbox_ids(store: &Store) -> Vec<uuid::Uuid> {
    store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|e| e.doc_id)
        .collect()
}

#[test]
fn outbox_follows_saves_and_server_acknowledgements() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let mut store = Store::open(&path).unwrap();
    let a = id_at(T0, 1);
    let b = id_at(T0 + 1, 2);
    let mut doc_a = reported_case(a, T0, store.actor(), &photos3());
    let mut doc_b = reported_case(b, T0, store.actor(), &photos3());
    store
        .save_doc(&mut doc_a, &open_listing("a", None, T0))
        .unwrap();
    store
        .save_doc(&mut doc_b, &open_listing("b", None, T0))
        .unwrap();

    // Never shared: both queued, oldest first, with no shared heads (send everything).
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.iter().map(|e| e.doc_id).collect::<Vec<_>>(), [a, b]);
    assert!(outbox[0].shared_heads.is_empty());
    assert!(store.shared_heads(a).unwrap().is_empty());

    // The server acknowledges a: it leaves the outbox, its shared heads are kept.
    let sent_a = heads_to_hex(&doc_a.heads());
    store.record_shared(a, &sent_a).unwrap();
    assert_eq!(outbox_ids(&store), [b]);
    assert_eq!(store.shared_heads(a).unwrap(), sent_a);

    // b is sent, then edited before the acknowledgement arrives: it must stay queued.
    let sent_b = heads_to_hex(&doc_b.heads());
    let mut server_b = doc_b.clone();
    doc_b
        .append_event(&lifecycle_after_report(T0, &photos3())[0])
        .unwrap();
    store
        .save_doc(&mut doc_b, &open_listing("b", None, T0))
        .unwrap();
    store.record_shared(b, &sent_b).unwrap();
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].doc_id, b);
    assert_eq!(outbox[0].shared_heads, sent_b);
    // What remains to send is exactly the edit since the shared heads.
    let shared = fieldloop_core::doc::heads_from_hex(&outbox[0].shared_heads).unwrap();
    server_b.load_changes(&doc_b.save_after(&shared)).unwrap();
    assert_eq!(server_b.heads(), doc_b.heads());
    assert_eq!(server_b.events().unwrap().len(), 2);

    // An edit of a shared document queues it again.
    doc_a.set_field("address", "高新南七道20号").unwrap();
    store
        .save_doc(&mut doc_a, &open_listing("a", None, T0))
        .unwrap();
    assert_eq!(outbox_ids(&store), [a, b]);

    // All of it survives a reopen.
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(outbox_ids(&store), [a, b]);
    assert_eq!(store.shared_heads(b).unwrap(), sent_b);
    store
        .record_shared(a, &heads_to_hex(&doc_a.heads()))
        .unwrap();
    store
        .record_shared(b, &heads_to_hex(&doc_b.heads()))
        .unwrap();
    assert!(store.outbox().unwrap().is_empty());
}

#[test]
fn shared_heads_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    let id = id_at(T0, 3);
    let err = store.record_shared(id, &[]).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let mut doc = reported_case(id, T0, store.actor(), &photos3());
    store
        .save_doc(&mut doc, &open_listing("t", None, T0))
        .unwrap();
    let err = store
        .record_shared(id, &["not-a-hash".to_string()])
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(matches!(
        store.shared_heads(id_at(T0, 4)),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn cursor_and_principal_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let principal = Principal {
        user_id: INSPECTOR.into(),
        role: Role::Inspector,
        jurisdiction: Jurisdiction {
            grid_prefixes: vec!["440305001002".into()],
            ..Jurisdiction::default()
        },
    };
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.sync_cursor().unwrap(), 0);
        assert_eq!(store.principal().unwrap(), None);
        store.set_sync_cursor(1_234_567).unwrap();
        store.set_principal(Some(&principal)).unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.sync_cursor().unwrap(), 1_234_567);
    assert_eq!(store.principal().unwrap(), Some(principal));
    store.set_principal(None).unwrap();
    assert_eq!(store.principal().unwrap(), None);
}

#[test]
fn quarantine_keeps_rejected_changes_until_dismissed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let mut store = Store::open(&path).unwrap();
    let id = id_at(T0, 5);
    // The device's copy carries a closure only the server may write.
    let mut ours = reported_case(id, T0, store.actor(), &photos3());
    store
        .save_doc(&mut ours, &open_listing("t", None, T0))
        .unwrap();
    let mut server = ours.clone();
    server
        .automerge()
        .set_actor(fieldloop_core::doc::actor_for(&id_at(T0, 500)));
    let shared = ours.heads();
    let events = lifecycle_after_report(T0, &photos3());
    ours.append_event(&events[9]).unwrap(); // case.closed
    store
        .save_doc(&mut ours, &open_listing("t", None, T0))
        .unwrap();
    let rejected = ours.save_after(&shared);

    // Take the server's copy (which registered the case meanwhile) and quarantine ours.
    server.append_event(&events[0]).unwrap();
    let saved = store
        .replace_doc(
            &mut server,
            &open_listing("t", Some(T0 + HOUR), T0 + MINUTE),
            &[RejectedChange {
                change: rejected.clone(),
                reason: "case.closed may only be written by the server".into(),
            }],
            T0 + MINUTE,
        )
        .unwrap();
    assert_eq!(saved.heads, heads_to_hex(&server.heads()));
    let stored = store.load_doc(id).unwrap().snapshot().unwrap();
    let kinds: Vec<_> = stored.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["case.reported", "case.registered"]);
    assert_eq!(store.doc_storage(id).unwrap().1, 0, "replaced as one base");

    let second = store
        .quarantine(id, b"\x85\x6f", "malformed", T0 + 2 * MINUTE)
        .unwrap();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let held = store.quarantined().unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!(held[0].doc_id, id);
    assert_eq!(held[0].change, rejected);
    assert_eq!(held[0].at, T0 + MINUTE);
    assert!(held[0].reason.contains("only be written by the server"));
    // The quarantined bytes are the real change: it can be shown and replayed.
    let mut replay = store.load_doc(id).unwrap();
    replay.load_changes(&held[0].change).unwrap();
    assert!(replay
        .events()
        .unwrap()
        .iter()
        .any(|e| e.kind == "case.closed"));

    store.dismiss_quarantined(held[0].id, T0 + HOUR).unwrap();
    let left = store.quarantined().unwrap();
    assert_eq!(left.iter().map(|q| q.id).collect::<Vec<_>>(), [second]);
    let err = store
        .dismiss_quarantined(held[0].id, T0 + HOUR)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "dismissing twice: {err}");
    assert_eq!(store.reader().unwrap().quarantined().unwrap(), left);
}

#[test]
fn capture_keeps_photo_files_by_content_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let mut store = Store::open(&path).unwrap();
    let photos: Vec<Vec<u8>> = real_photos("capture_keeps_photo_files_by_content_address")
        .unwrap_or_else(|| (0..3u8).map(|n| vec![n; 150_000]).collect());
    let hashes: Vec<String> = photos.iter().map(|p| sha256_hex(p)).collect();
    let hashes3 = [hashes[0].clone(), hashes[1].clone(), hashes[2].clone()];
    let id = id_at(T0, 6);
    let mut doc = reported_case(id, T0, store.actor(), &hashes3);
    let new: Vec<NewPhoto<'_>> = photos
        .iter()
        .zip(&hashes)
        .map(|(bytes, sha256)| NewPhoto { sha256, bytes })
        .collect();
    store
        .capture(&mut doc, &open_listing("t", Some(T0 + HOUR), T0), &new)
        .unwrap();
    // Capturing the same photo again is a no-op, not a second file.
    store
        .capture(&mut doc, &open_listing("t", None, T0), &new[..1])
        .unwrap();

    let file = store.photo_path(&hashes[0]).unwrap();
    assert!(file.starts_with(dir.path().join("device.db.photos")));
    assert_eq!(std::fs::read(&file).unwrap(), photos[0]);
    for (hash, bytes) in hashes.iter().zip(&photos) {
        assert_eq!(&store.read_photo(hash).unwrap(), bytes);
    }
    let mut pending = store.pending_uploads(10).unwrap();
    pending.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    let mut expected: Vec<_> = hashes
        .iter()
        .zip(&photos)
        .map(|(h, p)| (h.clone(), p.len() as u64))
        .collect();
    expected.sort();
    assert_eq!(
        pending
            .iter()
            .map(|b| (b.sha256.clone(), b.size))
            .collect::<Vec<_>>(),
        expected
    );
    store.mark_uploaded(&hashes[1]).unwrap();
    assert_eq!(store.pending_uploads(10).unwrap().len(), 2);
    assert!(store.blob(&hashes[1]).unwrap().unwrap().uploaded);
    assert!(matches!(
        store.mark_uploaded(&photo_hash(77)),
        Err(Error::NotFound(_))
    ));
    // No stray temporary files are left in the photo directory.
    let shard = file.parent().unwrap();
    for entry in std::fs::read_dir(shard).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(!name.to_string_lossy().ends_with(".tmp"), "{name:?}");
    }
}

#[test]
fn bad_photos_are_refused_and_damaged_ones_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    let id = id_at(T0, 7);
    let mut doc = reported_case(
        id,
        T0,
        store.actor(),
        &[photo_hash(1), photo_hash(2), photo_hash(3)],
    );
    let bytes = b"not the bytes the hash names".to_vec();
    let wrong = photo_hash(1);
    let err = store
        .capture(
            &mut doc,
            &open_listing("t", None, T0),
            &[NewPhoto {
                sha256: &wrong,
                bytes: &bytes,
            }],
        )
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { what: "photo", .. }), "{err}");
    assert!(
        !store.contains_doc(id).unwrap(),
        "a failed capture saves nothing"
    );

    // A hash that would name a path outside the photo directory is refused.
    let evil = "../../etc/passwd";
    assert!(matches!(store.read_photo(evil), Err(Error::Invalid { .. })));
    assert!(matches!(store.photo_path(evil), Err(Error::Invalid { .. })));

    let good = sha256_hex(&bytes);
    store
        .capture(
            &mut doc,
            &open_listing("t", None, T0),
            &[NewPhoto {
                sha256: &good,
                bytes: &bytes,
            }],
        )
        .unwrap();
    let missing = photo_hash(9);
    assert!(matches!(
        store.read_photo(&missing),
        Err(Error::NotFound(_))
    ));
    // A file damaged on disk is reported, not handed to the uploader.
    std::fs::write(store.photo_path(&good).unwrap(), b"bit rot").unwrap();
    let err = store.read_photo(&good).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "photo file",
                ..
            }
        ),
        "{err}"
    );
}
