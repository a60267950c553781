//! A document store that stores a prepared change just before a sync answer lists the
//! documents changed past the device's cursor: what another device's push, accepted by a
//! second handler at that instant, does. It turns a race inside one request into a test.

use std::sync::{Arc, Mutex};

use fieldloop_core::doc::DocKind;
use fieldloop_core::roles::Jurisdiction;
use fieldloop_core::time::Millis;
use fieldloop_server::storage::{
    DeviceHeads, DocSince, DocStore, Listed, NewChange, Origin, Projection, Seq, StoreFuture,
    StoredDoc,
};
use uuid::Uuid;

/// Delegates every call to the wrapped store; [`BeforeListing::arm`] sets a change to store
/// at the next `changed_for_sync`, once.
pub struct BeforeListing {
    inner: Arc<dyn DocStore>,
    armed: Mutex<Option<NewChange>>,
}

impl BeforeListing {
    pub fn new(inner: Arc<dyn DocStore>) -> Arc<BeforeListing> {
        Arc::new(BeforeListing {
            inner,
            armed: Mutex::new(None),
        })
    }

    pub fn arm(&self, change: NewChange) {
        *self.armed.lock().expect("hook lock") = Some(change);
    }

    /// Whether the armed change is still waiting for a listing.
    pub fn armed(&self) -> bool {
        self.armed.lock().expect("hook lock").is_some()
    }
}

impl DocStore for BeforeListing {
    fn changed_for_sync(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        creator: String,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Listed>> {
        let armed = self.armed.lock().expect("hook lock").take();
        Box::pin(async move {
            if let Some(change) = armed {
                self.inner.append_change(change).await?;
            }
            self.inner
                .changed_for_sync(cursor, scope, creator, limit)
                .await
        })
    }

    fn append_change(&self, change: NewChange) -> StoreFuture<'_, Seq> {
        self.inner.append_change(change)
    }
    fn append_changes(&self, changes: Vec<NewChange>) -> StoreFuture<'_, Vec<Seq>> {
        self.inner.append_changes(changes)
    }
    fn append_versioned(&self, changes: Vec<(NewChange, Seq)>) -> StoreFuture<'_, Vec<Seq>> {
        self.inner.append_versioned(changes)
    }
    fn load_doc(&self, id: Uuid) -> StoreFuture<'_, Option<StoredDoc>> {
        self.inner.load_doc(id)
    }
    fn load_doc_since(&self, id: Uuid, since: Seq) -> StoreFuture<'_, Option<DocSince>> {
        self.inner.load_doc_since(id, since)
    }
    fn compact(&self, id: Uuid, saved: Vec<u8>, through: Seq) -> StoreFuture<'_, ()> {
        self.inner.compact(id, saved, through)
    }
    fn projection(&self, id: Uuid) -> StoreFuture<'_, Option<Projection>> {
        self.inner.projection(id)
    }
    fn changed_since(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>> {
        self.inner.changed_since(cursor, scope, limit)
    }
    fn with_status(
        &self,
        kind: DocKind,
        statuses: Vec<String>,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>> {
        self.inner.with_status(kind, statuses, after, limit)
    }
    fn compaction_candidates(&self, min_changes: u32, limit: usize) -> StoreFuture<'_, Vec<Uuid>> {
        self.inner.compaction_candidates(min_changes, limit)
    }
    fn origins(&self, id: Uuid) -> StoreFuture<'_, Vec<(Seq, Origin)>> {
        self.inner.origins(id)
    }
    fn evidence_arrivals(&self, id: Uuid) -> StoreFuture<'_, Vec<(String, Millis)>> {
        self.inner.evidence_arrivals(id)
    }
    fn head_seq(&self) -> StoreFuture<'_, Seq> {
        self.inner.head_seq()
    }
    fn active_between(&self, starts: Millis, ends: Millis) -> StoreFuture<'_, Vec<Uuid>> {
        self.inner.active_between(starts, ends)
    }
    fn stored_snapshots(&self, ids: Vec<Uuid>) -> StoreFuture<'_, Vec<(Uuid, Vec<u8>)>> {
        self.inner.stored_snapshots(ids)
    }
    fn snapshot_gaps(
        &self,
        after: Option<Uuid>,
        scan: usize,
    ) -> StoreFuture<'_, Vec<(Uuid, bool)>> {
        self.inner.snapshot_gaps(after, scan)
    }
    fn keep_snapshot_if_current(
        &self,
        id: Uuid,
        seq: Seq,
        bytes: Vec<u8>,
    ) -> StoreFuture<'_, bool> {
        self.inner.keep_snapshot_if_current(id, seq, bytes)
    }
    fn confirm_device_heads(&self, device_id: String, cursor: Seq) -> StoreFuture<'_, ()> {
        self.inner.confirm_device_heads(device_id, cursor)
    }
    fn device_heads(
        &self,
        device_id: String,
        docs: Vec<Uuid>,
    ) -> StoreFuture<'_, Vec<(Uuid, Vec<[u8; 32]>)>> {
        self.inner.device_heads(device_id, docs)
    }
    fn set_device_heads(
        &self,
        device_id: String,
        entries: Vec<DeviceHeads>,
    ) -> StoreFuture<'_, ()> {
        self.inner.set_device_heads(device_id, entries)
    }
}
