//! Recently used documents kept loaded between requests.
//!
//! Rebuilding an automerge document from its compaction and every change since was the
//! largest part of a sync's cost: one device's push, the referee's reaction and every other
//! device's pull each loaded the same case again. Here a loaded document stays in memory
//! with the sequence number it was read through; the next reader asks storage only for the
//! changes past that number ([`DocStore::load_doc_since`]), which for a document nobody
//! changed is one indexed row. Storage stays the truth: a change written by another
//! instance, the scheduler or the console is caught up the same way, so nothing here needs
//! invalidating and several instances may each keep their own cache.
//!
//! [`DocCache::load`] gives a reader its own copy, so a judge may change it freely;
//! [`DocCache::read`] lends the cached document itself to a reader that only reads.
//! The least recently used documents are dropped beyond the configured count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::ActorId;
use fieldloop_core::doc::{Doc, DocKind};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::{DocSince, DocStore, Seq, StoredChange, StoredDoc};

/// Documents kept by default: a city's documents in flight at once, a few MB each at most
/// for long-lived cases and far less for most (the §2 benchmark holds RSS under 300 MB).
pub const DEFAULT_CACHED_DOCS: usize = 2048;

/// A reader's own copy of a document, current through `last_seq`.
pub struct LoadedDoc {
    pub id: Uuid,
    pub kind: DocKind,
    pub last_seq: Seq,
    pub doc: Doc,
}

struct Cached {
    kind: DocKind,
    seq: Seq,
    doc: Doc,
}

/// One document's place; its async lock makes concurrent readers of one document catch
/// it up once, while readers of other documents never wait.
type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

#[derive(Default)]
struct Slots {
    by_id: HashMap<Uuid, (Slot, u64)>,
    clock: u64,
}

/// How the cache has served, for `/metrics` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Served from memory, with or without newer changes applied.
    pub hits: u64,
    /// Loaded whole from storage (first use, evicted, or compacted past the cached copy).
    pub loads: u64,
    pub cached: u64,
}

pub struct DocCache {
    slots: Mutex<Slots>,
    capacity: usize,
    hits: AtomicU64,
    loads: AtomicU64,
}

impl Default for DocCache {
    fn default() -> Self {
        DocCache::new(DEFAULT_CACHED_DOCS)
    }
}

fn lock(slots: &Mutex<Slots>) -> MutexGuard<'_, Slots> {
    // The map holds no invariant a panic could break halfway.
    slots
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DocCache {
    /// Keeps at most `capacity` documents; 0 loads every document whole every time.
    pub fn new(capacity: usize) -> DocCache {
        DocCache {
            slots: Mutex::new(Slots::default()),
            capacity,
            hits: AtomicU64::new(0),
            loads: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Relaxed),
            loads: self.loads.load(Relaxed),
            cached: lock(&self.slots).by_id.len() as u64,
        }
    }

    /// The document as stored now, as a copy that writes with `actor`; `None` when
    /// storage has no such document.
    pub async fn load(
        &self,
        store: &dyn DocStore,
        id: Uuid,
        actor: &ActorId,
    ) -> Result<Option<LoadedDoc>> {
        self.with_current(store, id, None, |cached| {
            let mut doc = cached.doc.clone();
            doc.automerge().set_actor(actor.clone());
            LoadedDoc {
                id,
                kind: cached.kind,
                last_seq: cached.seq,
                doc,
            }
        })
        .await
    }

    /// Runs `read` on the cached document itself, without a copy (a copy of a whole
    /// automerge document was a tenth of a sync's CPU when every pulled document was
    /// copied). `read` gets the document and its kind, and must not write to it.
    /// `known_seq`, when the caller has just read the document's latest sequence number
    /// from storage, spares asking storage again when the cached copy is that recent.
    pub async fn read<T>(
        &self,
        store: &dyn DocStore,
        id: Uuid,
        known_seq: Option<Seq>,
        read: impl FnOnce(&mut Doc, DocKind) -> T,
    ) -> Result<Option<T>> {
        self.with_current(store, id, known_seq, |cached| {
            read(&mut cached.doc, cached.kind)
        })
        .await
    }

    /// The cached document brought up to date (or loaded), lent to `f`; with the cache
    /// off, loaded whole and dropped after.
    async fn with_current<T>(
        &self,
        store: &dyn DocStore,
        id: Uuid,
        known_seq: Option<Seq>,
        f: impl FnOnce(&mut Cached) -> T,
    ) -> Result<Option<T>> {
        if self.capacity == 0 {
            return Ok(self
                .load_whole(store, id)
                .await?
                .map(|mut cached| f(&mut cached)));
        }
        let slot = self.slot(id);
        let mut held = slot.lock().await;
        let caught_up = match held.take() {
            Some(cached) if known_seq.is_some_and(|known| cached.seq >= known) => {
                self.hits.fetch_add(1, Relaxed);
                Ok(Some(cached))
            }
            Some(cached) => self.catch_up(store, id, cached).await,
            None => self.load_whole(store, id).await,
        };
        let mut cached = match caught_up {
            Ok(Some(cached)) => cached,
            Ok(None) => {
                drop(held);
                self.forget(id, &slot);
                return Ok(None);
            }
            Err(e) => {
                // Nothing half-applied stays behind: the slot is empty and the next
                // reader loads the document whole.
                drop(held);
                self.forget(id, &slot);
                return Err(e);
            }
        };
        let out = f(&mut cached);
        *held = Some(cached);
        Ok(Some(out))
    }

    async fn catch_up(
        &self,
        store: &dyn DocStore,
        id: Uuid,
        mut cached: Cached,
    ) -> Result<Option<Cached>> {
        match store.load_doc_since(id, cached.seq).await? {
            None => Ok(None),
            Some(DocSince::Whole(stored)) => {
                self.loads.fetch_add(1, Relaxed);
                Ok(Some(from_stored(&stored)?))
            }
            Some(DocSince::Changes {
                kind,
                changes,
                last_seq,
            }) => {
                self.hits.fetch_add(1, Relaxed);
                apply(&mut cached.doc, &changes)?;
                cached.kind = kind;
                cached.seq = last_seq;
                Ok(Some(cached))
            }
        }
    }

    async fn load_whole(&self, store: &dyn DocStore, id: Uuid) -> Result<Option<Cached>> {
        self.loads.fetch_add(1, Relaxed);
        match store.load_doc(id).await? {
            None => Ok(None),
            Some(stored) => Ok(Some(from_stored(&stored)?)),
        }
    }

    /// The document's slot, made most recently used; the oldest tenth is dropped when
    /// the cache is over its count.
    fn slot(&self, id: Uuid) -> Slot {
        let mut slots = lock(&self.slots);
        slots.clock += 1;
        let now = slots.clock;
        let slot = match slots.by_id.get_mut(&id) {
            Some((slot, used)) => {
                *used = now;
                slot.clone()
            }
            None => {
                let slot = Slot::default();
                slots.by_id.insert(id, (slot.clone(), now));
                slot
            }
        };
        if slots.by_id.len() > self.capacity {
            let keep = self.capacity - self.capacity / 10;
            let mut ages: Vec<(u64, Uuid)> = slots
                .by_id
                .iter()
                .map(|(id, (_, used))| (*used, *id))
                .collect();
            ages.sort_unstable();
            let drop_count = slots.by_id.len().saturating_sub(keep);
            for (_, old) in ages.into_iter().take(drop_count) {
                if old != id {
                    slots.by_id.remove(&old);
                }
            }
        }
        slot
    }

    fn forget(&self, id: Uuid, slot: &Slot) {
        let mut slots = lock(&self.slots);
        if slots
            .by_id
            .get(&id)
            .is_some_and(|(current, _)| Arc::ptr_eq(current, slot))
        {
            slots.by_id.remove(&id);
        }
    }
}

fn from_stored(stored: &StoredDoc) -> Result<Cached> {
    Ok(Cached {
        kind: stored.kind,
        seq: stored.last_seq,
        doc: stored.load(&crate::sync::server_actor())?,
    })
}

fn apply(doc: &mut Doc, changes: &[StoredChange]) -> Result<()> {
    for change in changes {
        doc.load_changes(&change.bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStore;
    use crate::storage::{NewChange, Origin, ProjectionFields};
    use fieldloop_core::doc::{DocScope, Event, Header, SCHEMA_VERSION};
    use fieldloop_core::roles::Role;

    fn header(id: Uuid) -> Header {
        Header {
            id,
            kind: DocKind::Case,
            schema: SCHEMA_VERSION,
            created_by: "insp-1".into(),
            created_role: Role::Inspector,
            created_at: 1_700_000_000_000,
            position: None,
            category: Some("0101".into()),
            scope: DocScope::default(),
        }
    }

    fn change(id: Uuid, bytes: Vec<u8>) -> NewChange {
        NewChange {
            doc_id: id,
            kind: DocKind::Case,
            bytes,
            origin: Origin {
                user_id: "insp-1".into(),
                device_id: None,
                arrived_at: 1_700_000_000_000,
            },
            projection: ProjectionFields::default(),
            blob_refs: Vec::new(),
            audit: Vec::new(),
            snapshot: None,
        }
    }

    fn event(at: i64, note: &str) -> Event {
        Event::new(
            Uuid::now_v7(),
            "note",
            at,
            "insp-1",
            Role::Inspector,
            serde_json::json!({ "note": note }),
        )
    }

    /// Appends an event to `writer` and stores it as one change outside any cache.
    async fn append_note(
        store: &SqliteStore,
        id: Uuid,
        writer: &mut Doc,
        at: i64,
        note: &str,
    ) -> Seq {
        let heads = writer.heads();
        writer.append_event(&event(at, note)).unwrap();
        store
            .append_change(change(id, writer.save_after(&heads)))
            .await
            .unwrap()
    }

    fn actor() -> ActorId {
        fieldloop_core::doc::actor_for(&Uuid::from_u128(7))
    }

    /// With the cache off every reader loads from storage and nothing is kept; `read`
    /// trusts a sequence number only when the cache holds a copy at least that recent.
    #[tokio::test]
    async fn the_cache_off_loads_every_time_and_read_catches_up_past_a_known_seq() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        let id = Uuid::now_v7();
        let mut writer = Doc::create(&header(id), &actor()).unwrap();
        let first_seq = store
            .append_change(change(id, writer.save()))
            .await
            .unwrap();
        let events = |doc: &mut Doc, _: DocKind| doc.snapshot().unwrap().events.len();

        let off = DocCache::new(0);
        for _ in 0..2 {
            let loaded = off.load(&store, id, &actor()).await.unwrap().unwrap();
            assert_eq!(loaded.last_seq, first_seq);
        }
        assert_eq!(off.read(&store, id, None, events).await.unwrap(), Some(0));
        assert_eq!(
            off.stats(),
            CacheStats {
                hits: 0,
                loads: 3,
                cached: 0
            }
        );
        let unknown = Uuid::now_v7();
        assert!(off
            .read(&store, unknown, None, events)
            .await
            .unwrap()
            .is_none());

        let on = DocCache::new(8);
        assert_eq!(
            on.read(&store, id, Some(first_seq), events).await.unwrap(),
            Some(0)
        );
        let second_seq = append_note(&store, id, &mut writer, 1, "一").await;
        // Told of the newer change, the reader catches up instead of trusting its copy.
        assert_eq!(
            on.read(&store, id, Some(second_seq), events).await.unwrap(),
            Some(1)
        );
        assert_eq!(on.stats().loads, 1);
    }

    /// A writer outside the cache (another instance, the scheduler) appends; the cached
    /// reader sees it, and a compaction past the cached copy is read whole again.
    #[tokio::test]
    async fn readers_see_every_stored_change_whoever_wrote_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        let cache = DocCache::new(8);
        let id = Uuid::now_v7();
        let mut writer = Doc::create(&header(id), &actor()).unwrap();
        store
            .append_change(change(id, writer.save()))
            .await
            .unwrap();

        let first = cache.load(&store, id, &actor()).await.unwrap().unwrap();
        assert_eq!(first.doc.snapshot().unwrap().events.len(), 0);
        assert_eq!(cache.stats().loads, 1);

        let seq = append_note(&store, id, &mut writer, 1, "一").await;
        let second = cache.load(&store, id, &actor()).await.unwrap().unwrap();
        assert_eq!(second.last_seq, seq);
        assert_eq!(second.doc.snapshot().unwrap().events.len(), 1);
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                loads: 1,
                cached: 1
            }
        );

        // A reader's copy is its own: changing it leaves the cached one as stored.
        let mut mine = second.doc;
        mine.append_event(&event(2, "只在我这里")).unwrap();
        let third = cache.load(&store, id, &actor()).await.unwrap().unwrap();
        assert_eq!(third.doc.snapshot().unwrap().events.len(), 1);

        // Compaction drops the bytes of the changes a stale cached copy would need.
        let through = append_note(&store, id, &mut writer, 3, "二").await;
        let other = DocCache::new(8);
        other.load(&store, id, &actor()).await.unwrap().unwrap();
        store.compact(id, writer.save(), through).await.unwrap();
        let after = cache.load(&store, id, &actor()).await.unwrap().unwrap();
        assert_eq!(after.doc.snapshot().unwrap().events.len(), 2);
        assert_eq!(
            cache.stats().loads,
            2,
            "compacted past the cached copy: whole"
        );
    }

    #[tokio::test]
    async fn the_oldest_documents_are_dropped_beyond_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        let cache = DocCache::new(10);
        let mut ids = Vec::new();
        for _ in 0..25 {
            let id = Uuid::now_v7();
            let mut doc = Doc::create(&header(id), &actor()).unwrap();
            store.append_change(change(id, doc.save())).await.unwrap();
            cache.load(&store, id, &actor()).await.unwrap().unwrap();
            ids.push(id);
        }
        assert!(cache.stats().cached <= 10, "{:?}", cache.stats());
        // The most recent is still served from memory, the first is loaded again.
        let loads = cache.stats().loads;
        cache.load(&store, ids[24], &actor()).await.unwrap();
        assert_eq!(cache.stats().loads, loads);
        cache.load(&store, ids[0], &actor()).await.unwrap();
        assert_eq!(cache.stats().loads, loads + 1);
        // A document storage does not have is not kept.
        assert!(cache
            .load(&store, Uuid::now_v7(), &actor())
            .await
            .unwrap()
            .is_none());
        assert!(cache.stats().cached <= 10);
    }
}
