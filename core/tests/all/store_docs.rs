//! Documents in the device store: round trip, reopen, incremental chunks and compaction,
//! stale copies, listing order, and readers that do not wait for the writer.

use crate::store_support;

use fieldloop_core::doc::{heads_to_hex, Doc, DocKind};
use fieldloop_core::store::{Listing, Store};
use fieldloop_core::time::{HOUR, MINUTE};
use fieldloop_core::Error;
use store_support::*;

fn photos3() -> [String; 3] {
    [photo_hash(1), photo_hash(2), photo_hash(3)]
}

#[test]
fn round_trip_and_reopen_keep_the_whole_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let id = id_at(T0, 1);
    let (snapshot, heads) = {
        let mut store = Store::open(&path).unwrap();
        let mut doc = reported_case(id, T0, store.actor(), &photos3());
        let saved = store
            .save_doc(&mut doc, &open_listing("暴露垃圾", Some(T0 + 4 * HOUR), T0))
            .unwrap();
        assert_eq!(saved.doc_id, id);
        assert_eq!(saved.heads, heads_to_hex(&doc.heads()));
        let loaded = store.load_doc(id).unwrap();
        assert_eq!(loaded.snapshot().unwrap(), doc.snapshot().unwrap());
        (doc.snapshot().unwrap(), doc.heads())
    };
    let store = Store::open_existing(&path).unwrap();
    let mut loaded = store.load_doc(id).unwrap();
    let back = loaded.snapshot().unwrap();
    assert_eq!(back, snapshot);
    assert_eq!(back.evidence.len(), 3);
    assert_eq!(back.events[0].kind, "case.reported");
    assert_eq!(loaded.heads(), heads);
    let listed = store.listing(id).unwrap().expect("listing kept");
    assert_eq!(listed.kind, DocKind::Case);
    assert_eq!(listed.listing.title, "暴露垃圾");
    assert_eq!(store.doc_count().unwrap(), 1);
}

#[test]
fn loaded_documents_write_with_the_devices_actor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let device = Store::open(&path).unwrap().device_id();
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.device_id(),
        device,
        "the device id is generated once and kept"
    );
    let other = Store::open(dir.path().join("other.db")).unwrap();
    assert_ne!(other.device_id(), device);
    let mut store = store;
    let id = id_at(T0, 2);
    let mut doc = reported_case(id, T0, store.actor(), &photos3());
    store
        .save_doc(&mut doc, &open_listing("t", None, T0))
        .unwrap();
    let mut loaded = store.load_doc(id).unwrap();
    assert_eq!(loaded.automerge().get_actor(), store.actor());
}

#[test]
fn changes_append_as_chunks_and_compact_when_they_grow() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    let id = id_at(T0, 3);
    let mut doc = reported_case(id, T0, store.actor(), &photos3());
    let first = store
        .save_doc(&mut doc, &open_listing("t", Some(T0 + HOUR), T0))
        .unwrap();
    let (base, chunks, _) = store.doc_storage(id).unwrap();
    assert_eq!((base as usize, chunks), (first.written_bytes, 0));

    // Each later save appends only what changed: far fewer bytes than the document.
    let events = lifecycle_after_report(T0, &photos3());
    let mut saw_chunk = false;
    let mut saw_compaction = false;
    let mut last_chunks = 0;
    for (i, event) in events.iter().take(9).enumerate() {
        doc.append_event(event).unwrap();
        let saved = store
            .save_doc(&mut doc, &open_listing("t", Some(T0 + HOUR), event.at))
            .unwrap();
        let (base, chunks, chunk_bytes) = store.doc_storage(id).unwrap();
        if saved.compacted {
            saw_compaction = true;
            assert_eq!((chunks, chunk_bytes), (0, 0), "compaction drops the chunks");
            assert_eq!(base as usize, saved.written_bytes);
        } else {
            saw_chunk = true;
            assert_eq!(chunks, last_chunks + 1, "save {i} appends one chunk");
            assert!(
                saved.written_bytes < 1024,
                "a chunk holds one event, not the document"
            );
        }
        last_chunks = chunks;
        // Whatever the layout, the stored document is the document.
        assert_eq!(
            store.load_doc(id).unwrap().snapshot().unwrap(),
            doc.snapshot().unwrap()
        );
    }
    assert!(saw_chunk, "saves append chunks");
    assert!(saw_compaction, "chunks outgrowing the base are compacted");

    // Saving with nothing new writes nothing.
    let again = store
        .save_doc(&mut doc, &open_listing("t", Some(T0 + HOUR), T0))
        .unwrap();
    assert_eq!(again.written_bytes, 0);

    // Closing compacts whatever chunks are left.
    doc.append_event(&events[9]).unwrap();
    let closed = store
        .save_doc(&mut doc, &closed_listing(T0 + 5 * HOUR))
        .unwrap();
    assert!(closed.compacted);
    assert_eq!(store.doc_storage(id).unwrap().1, 0);
    let reopened = store.load_doc(id).unwrap().snapshot().unwrap();
    assert_eq!(reopened.events.len(), 11);
    assert_eq!(reopened, doc.snapshot().unwrap());
}

#[test]
fn many_small_saves_are_capped_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    let id = id_at(T0, 4);
    let mut doc = reported_case(id, T0, store.actor(), &photos3());
    let listing = open_listing("t", None, T0);
    store.save_doc(&mut doc, &listing).unwrap();
    let mut max_chunks = 0;
    for i in 0..40 {
        doc.set_field("note", &format!("{i}")).unwrap();
        store.save_doc(&mut doc, &listing).unwrap();
        max_chunks = max_chunks.max(store.doc_storage(id).unwrap().1);
    }
    assert!(max_chunks <= 16, "chunks were compacted ({max_chunks})");
    let loaded = store.load_doc(id).unwrap();
    assert_eq!(loaded.field("note").unwrap().as_deref(), Some("39"));
}

#[test]
fn a_stale_copy_never_drops_stored_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    let id = id_at(T0, 5);
    let mut doc = reported_case(id, T0, store.actor(), &photos3());
    store
        .save_doc(&mut doc, &open_listing("t", None, T0))
        .unwrap();
    // Two copies diverge: one registers, the other (loaded earlier, and written by
    // another actor, as a copy from elsewhere is) edits the address.
    let mut stale = store.load_doc(id).unwrap();
    stale
        .automerge()
        .set_actor(fieldloop_core::doc::actor_for(&id_at(T0, 55)));
    let events = lifecycle_after_report(T0, &photos3());
    doc.append_event(&events[0]).unwrap();
    store
        .save_doc(&mut doc, &open_listing("t", None, T0))
        .unwrap();
    stale.set_field("address", "高新南七道20号").unwrap();
    let saved = store
        .save_doc(&mut stale, &open_listing("t", None, T0))
        .unwrap();
    assert!(saved.compacted, "a merge is written as a new base");
    let loaded = store.load_doc(id).unwrap().snapshot().unwrap();
    assert_eq!(
        loaded.events.len(),
        2,
        "the registration saved from the other copy is kept"
    );
    assert_eq!(loaded.fields["address"], "高新南七道20号");
    assert_eq!(
        loaded,
        stale.snapshot().unwrap(),
        "the caller's copy got the merge too"
    );

    // Two live copies writing with the same actor cannot merge (their sequence numbers
    // clash): the save is refused with a typed error and the store keeps what it had.
    let mut twin = store.load_doc(id).unwrap();
    twin.set_field("note", "a").unwrap();
    store
        .save_doc(&mut twin, &open_listing("t", None, T0))
        .unwrap();
    let mut other_twin = stale;
    other_twin.automerge().set_actor(store.actor().clone());
    other_twin.set_field("note", "b").unwrap();
    let err = store
        .save_doc(&mut other_twin, &open_listing("t", None, T0))
        .unwrap_err();
    assert!(matches!(err, Error::Automerge(_)), "{err}");
    let kept = store.load_doc(id).unwrap();
    assert_eq!(kept.field("note").unwrap().as_deref(), Some("a"));
}

#[test]
fn a_document_cannot_change_kind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    let id = id_at(T0, 6);
    let mut doc = reported_case(id, T0, store.actor(), &photos3());
    store
        .save_doc(&mut doc, &open_listing("t", None, T0))
        .unwrap();
    let mut header = case_header(id, T0);
    header.kind = DocKind::Notice;
    let mut impostor = Doc::create(&header, store.actor()).unwrap();
    let err = store
        .save_doc(&mut impostor, &open_listing("t", None, T0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "document",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn missing_document_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("device.db")).unwrap();
    let err = store.load_doc(id_at(T0, 7)).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert!(store.listing(id_at(T0, 7)).unwrap().is_none());
}

#[test]
fn open_tasks_list_by_deadline_without_closed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    let plan = [
        ("late", Some(T0 + 9 * HOUR), true),
        ("closed", Some(T0 + MINUTE), false),
        ("soon", Some(T0 + 2 * HOUR), true),
        ("undated", None, true),
        ("sooner", Some(T0 + HOUR), true),
    ];
    for (n, (title, deadline, open)) in plan.iter().enumerate() {
        let id = id_at(T0 + n as i64, 10 + n as u64);
        let mut doc = reported_case(id, T0, store.actor(), &photos3());
        let listing = Listing {
            open: *open,
            ..open_listing(title, *deadline, T0)
        };
        store.save_doc(&mut doc, &listing).unwrap();
    }
    let titles = |store: &Store, limit| -> Vec<String> {
        store
            .list_open_tasks(limit)
            .unwrap()
            .into_iter()
            .map(|d| d.listing.title)
            .collect()
    };
    assert_eq!(titles(&store, 10), ["sooner", "soon", "late", "undated"]);
    assert_eq!(titles(&store, 2), ["sooner", "soon"]);
    // A listing update moves the task.
    let id = id_at(T0 + 2, 12);
    let mut doc = store.load_doc(id).unwrap();
    store
        .save_doc(&mut doc, &open_listing("soon", Some(T0 + 10 * HOUR), T0))
        .unwrap();
    assert_eq!(titles(&store, 10), ["sooner", "late", "soon", "undated"]);
}

#[test]
fn readers_do_not_wait_for_an_open_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    let id = id_at(T0, 20);
    let mut doc = reported_case(id, T0, store.actor(), &photos3());
    store
        .save_doc(&mut doc, &open_listing("first", Some(T0), T0))
        .unwrap();
    let reader = store.reader().unwrap();
    let other = id_at(T0, 21);
    store
        .batch(|b| {
            let mut second = reported_case(other, T0, b_actor(), &photos3());
            b.save_doc(&mut second, &open_listing("second", Some(T0 + 1), T0))?;
            // Mid-transaction, the reader answers at once with the committed state.
            let started = std::time::Instant::now();
            let seen = reader.list_open_tasks(10)?;
            assert!(started.elapsed() < std::time::Duration::from_millis(500));
            assert_eq!(seen.len(), 1);
            assert!(reader.listing(other)?.is_none());
            Ok(())
        })
        .unwrap();
    assert_eq!(reader.list_open_tasks(10).unwrap().len(), 2);
    assert_eq!(
        reader
            .load_doc(other)
            .unwrap()
            .snapshot()
            .unwrap()
            .header
            .id,
        other
    );
}

/// Any actor will do for a document built inside a batch.
fn b_actor() -> &'static automerge::ActorId {
    static ACTOR: std::sync::OnceLock<automerge::ActorId> = std::sync::OnceLock::new();
    ACTOR.get_or_init(|| fieldloop_core::doc::actor_for(&id_at(T0, 99)))
}

#[test]
fn a_failed_batch_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    let id = id_at(T0, 30);
    let result: Result<(), Error> = store.batch(|b| {
        let mut doc = reported_case(id, T0, b_actor(), &photos3());
        b.save_doc(&mut doc, &open_listing("t", None, T0))?;
        b.set_sync_cursor(42)?;
        Err(Error::invalid("test", "abort"))
    });
    assert!(result.is_err());
    assert!(!store.contains_doc(id).unwrap());
    assert_eq!(store.sync_cursor().unwrap(), 0);
}

#[test]
fn kinds_survive_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db")).unwrap();
    for (n, kind) in [
        DocKind::Case,
        DocKind::Notice,
        DocKind::SiteInspection,
        DocKind::Patrol,
        DocKind::PatrolPlan,
    ]
    .into_iter()
    .enumerate()
    {
        let id = id_at(T0, 40 + n as u64);
        let mut header = case_header(id, T0);
        header.kind = kind;
        let mut doc = Doc::create(&header, store.actor()).unwrap();
        store
            .save_doc(&mut doc, &open_listing("t", Some(T0 + n as i64), T0))
            .unwrap();
        assert_eq!(store.listing(id).unwrap().unwrap().kind, kind);
        assert_eq!(store.outbox().unwrap()[n].kind, kind);
    }
}
