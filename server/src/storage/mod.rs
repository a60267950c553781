//! Storage behind traits, so a PostgreSQL + S3-compatible backend can replace the embedded
//! one without touching the handlers.
//!
//! The traits return boxed futures (they must be usable as `Arc<dyn …>`); an
//! implementation on a blocking database runs its calls off the async runtime.
//! The embedded default is [`sqlite::SqliteStore`] (documents, sequence, projections,
//! users, devices, tokens, audit, blob index) plus [`fs_blobs::FsBlobStore`] (photo bytes);
//! the scale-out pair is [`postgres::PgStore`] plus [`s3_blobs::S3BlobStore`], shared by
//! any number of server instances. [`open::open`] picks them from their addresses.
//! Storage errors are [`StoreError`]; the server maps them to answers in one place.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use fieldloop_core::doc::{DocKind, DocScope};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::time::Millis;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use audit::ChainedAudit;
pub use error::{StoreError, StoreResult};

pub mod accounts;
pub mod active;
pub mod audit;
pub mod compaction;
pub mod device_keys;
pub mod error;
pub mod evidence_arrivals;
pub mod fs_blobs;
mod group_commit;
pub mod login_throttle;
pub mod nearby;
pub mod open;
pub mod postgres;
pub mod reference;
pub mod s3_blobs;
mod s3_sign;
pub mod schema;
pub mod snapshots;
pub mod sqlite;
mod sqlite_docs;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

/// Position in the global change sequence. Every accepted change gets the next one.
pub type Seq = i64;

// ---------------------------------------------------------------------------------------
// Users, devices, tokens, audit

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub role: Role,
    pub jurisdiction: Jurisdiction,
    pub created_at: Millis,
    pub disabled: bool,
}

impl UserRecord {
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.id.clone(),
            role: self.role,
            jurisdiction: self.jurisdiction.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub registered_at: Millis,
}

/// How a device registration went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Created,
    /// Already bound to the same user; the name was updated.
    Existing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the bearer token; the token itself is never stored.
    pub hash: [u8; 32],
    pub user_id: String,
    pub device_id: Option<String>,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
}

pub trait UserStore: Send + Sync {
    /// Fails with a conflict when the username is taken.
    fn create_user(&self, user: UserRecord) -> StoreFuture<'_, ()>;
    fn user_by_name(&self, username: &str) -> StoreFuture<'_, Option<UserRecord>>;
    fn user_by_id(&self, id: &str) -> StoreFuture<'_, Option<UserRecord>>;
    /// Replaces a user's role, jurisdiction and disabled flag (by id); false if no such user.
    fn update_user(&self, user: UserRecord) -> StoreFuture<'_, bool>;
    /// Binds a device to its user. A device already bound to another user is a conflict.
    fn register_device(&self, device: DeviceRecord) -> StoreFuture<'_, Registration>;
    fn device(&self, id: &str) -> StoreFuture<'_, Option<DeviceRecord>>;
}

pub trait AuthStore: Send + Sync {
    fn insert_token(&self, token: TokenRecord) -> StoreFuture<'_, ()>;
    /// The token and its user, whatever their state; the caller judges expiry/revocation.
    fn token_owner(&self, hash: [u8; 32]) -> StoreFuture<'_, Option<(TokenRecord, UserRecord)>>;
    /// Returns whether a live token was revoked.
    fn revoke_token(&self, hash: [u8; 32], at: Millis) -> StoreFuture<'_, bool>;
    /// Ties a token to the device it speaks for, so changes it sends name the device.
    fn bind_token_device(&self, hash: [u8; 32], device_id: &str) -> StoreFuture<'_, ()>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: Millis,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    /// "login", "login.failed", "logout", "device.registered", "blob.stored", …
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

pub trait AuditLog: Send + Sync {
    /// Appends the entry with its chain hash ([`audit::chain_hash`]), one writer at a time.
    fn record(&self, entry: AuditEntry) -> StoreFuture<'_, ()>;
    /// Newest first.
    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>>;
    /// Rows with ids above `after_id`, oldest first, at most `limit`, with their hashes.
    fn chain_page(&self, after_id: i64, limit: usize) -> StoreFuture<'_, Vec<ChainedAudit>>;
}

// ---------------------------------------------------------------------------------------
// Documents

/// Who sent a change and when it arrived, kept beside it so device clocks can be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub user_id: String,
    pub device_id: Option<String>,
    pub arrived_at: Millis,
}

/// The query columns of one document, recomputed by the caller from the fold and written
/// in the same transaction as the change that produced them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectionFields {
    pub status: Option<String>,
    pub unit: Option<String>,
    pub grid_cell: Option<String>,
    pub project: Option<String>,
    pub segment: Option<String>,
    pub deadline: Option<Millis>,
    /// Deadline band: "green", "yellow", "red", "escalated".
    pub band: Option<String>,
    /// Anything else a list view needs, kind-specific.
    pub json: serde_json::Value,
}

/// A document on a sync page: which, and the sequence number of its newest change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub doc_id: Uuid,
    pub seq: Seq,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub doc_id: Uuid,
    pub kind: DocKind,
    #[serde(flatten)]
    pub fields: ProjectionFields,
    /// Sequence number of the document's latest change.
    pub seq: Seq,
}

impl Projection {
    pub fn scope(&self) -> DocScope {
        DocScope {
            grid_cell: self.fields.grid_cell.clone(),
            unit: self.fields.unit.clone(),
            project: self.fields.project.clone(),
            segment: self.fields.segment.clone(),
        }
    }
}

/// One accepted change on its way into the store.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub doc_id: Uuid,
    pub kind: DocKind,
    /// Automerge change bytes (`save_after`/`save_incremental` output).
    pub bytes: Vec<u8>,
    pub origin: Origin,
    pub projection: ProjectionFields,
    /// Photo hashes the document references, for scoped blob reads.
    pub blob_refs: Vec<String>,
    /// Audit entries of the decisions this change records (a verdict, a 督办, a console
    /// action), appended to the chained log in the change's own transaction: the decision
    /// is never stored without its entry, nor the entry without it.
    pub audit: Vec<AuditEntry>,
    /// The document's folded content after this change ([`snapshots::encode`]), kept
    /// beside it for the evaluation; `None` drops a kept one (it would be stale).
    pub snapshot: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct StoredChange {
    pub seq: Seq,
    pub bytes: Vec<u8>,
    pub origin: Origin,
}

/// A document as stored: its last compaction plus the changes since.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub id: Uuid,
    pub kind: DocKind,
    /// `Doc::save` output; empty before the first compaction.
    pub compacted: Vec<u8>,
    /// Changes up to this sequence number are inside `compacted`.
    pub compacted_through: Seq,
    pub changes: Vec<StoredChange>,
    pub last_seq: Seq,
}

/// The answer of [`DocStore::load_doc_since`].
#[derive(Debug, Clone)]
pub enum DocSince {
    /// The changes after `since`, oldest first (none when the document has not moved).
    Changes {
        kind: DocKind,
        changes: Vec<StoredChange>,
        last_seq: Seq,
    },
    /// Some changes after `since` now live only inside a compaction.
    Whole(StoredDoc),
}

impl StoredDoc {
    /// Rebuilds the automerge document with `actor` as the writer.
    pub fn load(
        &self,
        actor: &automerge::ActorId,
    ) -> fieldloop_core::Result<fieldloop_core::doc::Doc> {
        let mut doc = if self.compacted.is_empty() {
            fieldloop_core::doc::Doc::empty(actor)
        } else {
            fieldloop_core::doc::Doc::load(&self.compacted, actor)?
        };
        for change in &self.changes {
            doc.load_changes(&change.bytes)?;
        }
        Ok(doc)
    }
}

pub trait DocStore: Send + Sync {
    /// Stores one accepted change (creating the document on its first), gives it the
    /// next sequence number and rewrites the projection and blob references, atomically.
    fn append_change(&self, change: NewChange) -> StoreFuture<'_, Seq>;
    /// Several changes in one transaction (one sync request): all stored or none.
    fn append_changes(&self, changes: Vec<NewChange>) -> StoreFuture<'_, Vec<Seq>>;
    /// [`DocStore::append_changes`] with a version check, the way every writer that read
    /// a document before deciding what to write stores its decision: each change comes
    /// with the document's `last_seq` it was decided on (0: the document did not exist).
    /// If any of those documents has moved on, nothing is stored and the answer is
    /// [`StoreError::Stale`]: the writer reads again and decides again ([`retry_stale`]).
    /// Writers of different documents never wait for each other here.
    fn append_versioned(&self, changes: Vec<(NewChange, Seq)>) -> StoreFuture<'_, Vec<Seq>>;
    /// The whole document, as stored (the server's reader is [`crate::doc_cache`]).
    fn load_doc(&self, id: Uuid) -> StoreFuture<'_, Option<StoredDoc>>;
    /// What a reader holding the document through sequence number `since` lacks: the
    /// changes after it, or the whole document once compaction has dropped some of them.
    /// Read in one snapshot, so the changes and `last_seq` agree.
    fn load_doc_since(&self, id: Uuid, since: Seq) -> StoreFuture<'_, Option<DocSince>>;
    /// Replaces the changes up to `through` with a full save. Their arrival records stay.
    fn compact(&self, id: Uuid, saved: Vec<u8>, through: Seq) -> StoreFuture<'_, ()>;
    fn projection(&self, id: Uuid) -> StoreFuture<'_, Option<Projection>>;
    /// Documents whose latest change is past `cursor` and that lie in `scope` (any of its
    /// grid prefixes, units, projects or segments; everything when `everywhere`), oldest
    /// change first, at most `limit`.
    fn changed_since(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>>;
    /// Projections of `kind` in one of `statuses`, by document id after `after`, at most
    /// `limit`: a page of the (kind, status, id) index, for scans that must not load a
    /// city's closed cases.
    fn with_status(
        &self,
        kind: DocKind,
        statuses: Vec<String>,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>>;
    /// Documents with at least `min_changes` changes stored since their last compaction,
    /// the longest first, at most `limit`: the compactor's work list.
    fn compaction_candidates(&self, min_changes: u32, limit: usize) -> StoreFuture<'_, Vec<Uuid>>;
    /// Who sent each change of a document and when it arrived, in sequence order.
    fn origins(&self, id: Uuid) -> StoreFuture<'_, Vec<(Seq, Origin)>>;
    /// When each photo the document references first arrived in it (content address,
    /// the arrival of the first change that referenced it); see [`evidence_arrivals`].
    fn evidence_arrivals(&self, id: Uuid) -> StoreFuture<'_, Vec<(String, Millis)>>;
    /// The latest sequence number handed out (0 when empty).
    fn head_seq(&self) -> StoreFuture<'_, Seq>;
    /// Cases, patrols and notices whose active window meets `[starts, ends)`
    /// ([`active`]): what an evaluation of that period must read.
    fn active_between(&self, starts: Millis, ends: Millis) -> StoreFuture<'_, Vec<Uuid>>;
    /// The kept snapshots of those of `ids` that have one ([`snapshots`]), in no order.
    fn stored_snapshots(&self, ids: Vec<Uuid>) -> StoreFuture<'_, Vec<(Uuid, Vec<u8>)>>;
    /// Up to `scan` documents after `after` in id order, each with whether it has a kept
    /// snapshot: the backfill's walk over documents stored before snapshots were kept.
    fn snapshot_gaps(&self, after: Option<Uuid>, scan: usize)
        -> StoreFuture<'_, Vec<(Uuid, bool)>>;
    /// Keeps `bytes` as the snapshot of `id` only if the document is still at `seq` and
    /// has none: a change stored meanwhile wrote its own. Whether it was kept.
    fn keep_snapshot_if_current(&self, id: Uuid, seq: Seq, bytes: Vec<u8>)
        -> StoreFuture<'_, bool>;

    // Sync bookkeeping (see `crate::sync`).

    /// [`DocStore::changed_since`] for a sync page: documents in `scope` plus those
    /// `creator` created (the projection's `json.created_by`), oldest change first. Only
    /// which and how far: a page needs no projection's content.
    fn changed_for_sync(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        creator: String,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Listed>>;
    /// The device showed (by its cursor) that it applied every response up to `cursor`:
    /// heads sent pending in those responses become confirmed. Heads pending past it
    /// were in an answer the device never applied (lost, or a duplicate's twin): they
    /// are dropped, or a later answer reaching that cursor would confirm them.
    fn confirm_device_heads(&self, device_id: String, cursor: Seq) -> StoreFuture<'_, ()>;
    /// The confirmed heads the server knows `device_id` has for each of `docs` (absent
    /// when it knows none).
    fn device_heads(
        &self,
        device_id: String,
        docs: Vec<Uuid>,
    ) -> StoreFuture<'_, Vec<(Uuid, Vec<[u8; 32]>)>>;
    /// Records heads the device has (`pending_until: None`: confirmed now) or was sent in
    /// a response with that cursor (pending until a request shows it was applied).
    fn set_device_heads(&self, device_id: String, entries: Vec<DeviceHeads>)
        -> StoreFuture<'_, ()>;
}

/// What the server knows (or hopes) a device has of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceHeads {
    pub doc_id: Uuid,
    pub heads: Vec<[u8; 32]>,
    pub pending_until: Option<Seq>,
}

/// Whether an error is a lost version check ([`StoreError::Stale`]), wherever it travels.
pub trait IsStale {
    fn is_stale(&self) -> bool;
}

impl IsStale for StoreError {
    fn is_stale(&self) -> bool {
        matches!(self, StoreError::Stale(_))
    }
}

/// Read-decide-write attempts before a writer gives up on a document others keep changing.
pub const MAX_WRITE_ATTEMPTS: u32 = 8;

/// Runs a read-decide-write `step` again while its versioned write loses to another
/// writer of the same document. Each attempt reads afresh, so a verdict a racing writer
/// already stored is seen and not written twice. The pause grows a little per attempt so
/// the writers of one busy document spread out.
pub async fn retry_stale<T, E, F, Fut>(mut step: F) -> Result<T, E>
where
    E: IsStale,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match step().await {
            Err(e) if e.is_stale() && attempt < MAX_WRITE_ATTEMPTS => {
                tracing::debug!(attempt, "document changed meanwhile; deciding again");
                let pause = std::time::Duration::from_millis(u64::from(attempt) * 3);
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Leases

/// Time-limited leases naming which instance does a job only one may do at a time (the
/// scheduler). The store's own clock judges expiry, so instances' clocks need not agree.
pub trait LeaseStore: Send + Sync {
    /// Takes `name` for `holder` for `ttl` when it is free, expired, or already
    /// `holder`'s (a renewal). Returns whether `holder` now holds it.
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreFuture<'_, bool>;
    /// Gives the lease up early (a clean shutdown), if `holder` holds it.
    fn release_lease(&self, name: &str, holder: &str) -> StoreFuture<'_, ()>;
    /// Who holds `name` now (an unexpired lease), for operators and tests.
    fn lease_holder(&self, name: &str) -> StoreFuture<'_, Option<String>>;
}

// ---------------------------------------------------------------------------------------
// Photos

/// A SHA-256 in lowercase hex: the address of a blob. Parsing is the only way to make
/// one, so paths built from it cannot escape the blob directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(String);

impl BlobHash {
    pub fn parse(text: &str) -> StoreResult<BlobHash> {
        let ok = text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(StoreError::invalid(
                "bad_hash",
                "a blob address is a SHA-256 in 64 hex digits",
            ));
        }
        Ok(BlobHash(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the byte store holds for a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobState {
    Absent,
    /// An unfinished upload with this many bytes.
    Partial(u64),
    /// Verified and stored, this many bytes.
    Complete(u64),
}

/// Photo bytes by content address, with unfinished uploads kept aside until verified.
pub trait BlobStore: Send + Sync {
    fn state(&self, hash: &BlobHash) -> StoreFuture<'_, BlobState>;
    /// Appends to the unfinished upload; `offset` must equal its current length.
    /// Returns the new length.
    fn append_part(&self, hash: &BlobHash, offset: u64, data: Bytes) -> StoreFuture<'_, u64>;
    fn read_part(&self, hash: &BlobHash) -> StoreFuture<'_, Vec<u8>>;
    fn discard_part(&self, hash: &BlobHash) -> StoreFuture<'_, ()>;
    /// Makes the unfinished upload the blob at its address, durably.
    fn promote_part(&self, hash: &BlobHash) -> StoreFuture<'_, ()>;
    /// Unfinished uploads nobody has added to for at least `idle` (wall-clock time: the
    /// age of bytes on a disk, not the domain clock).
    fn stale_parts(&self, idle: std::time::Duration) -> StoreFuture<'_, Vec<BlobHash>>;
    fn read(&self, hash: &BlobHash) -> StoreFuture<'_, Option<Vec<u8>>>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMeta {
    pub hash: String,
    pub size: u64,
    /// "jpeg" or "png".
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub uploaded_by: String,
    pub uploaded_at: Millis,
    /// Perceptual hash of the decoded photo; `None` for rows stored before it was kept.
    pub phash: Option<u64>,
}

/// A photo some case uses as evidence, with its perceptual hash when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseEvidence {
    pub case_id: Uuid,
    pub hash: String,
    pub phash: Option<u64>,
}

/// What the server knows about stored blobs and which documents reference them.
pub trait BlobIndex: Send + Sync {
    /// Keeps the first record for a hash.
    fn record_blob(&self, meta: BlobMeta) -> StoreFuture<'_, ()>;
    fn blob_meta(&self, hash: &BlobHash) -> StoreFuture<'_, Option<BlobMeta>>;
    fn add_blob_ref(&self, hash: &BlobHash, doc_id: Uuid) -> StoreFuture<'_, ()>;
    /// Projections of the documents that reference the blob.
    fn referencing_docs(&self, hash: &BlobHash) -> StoreFuture<'_, Vec<Projection>>;
    /// Sets the perceptual hash of a stored photo that was recorded without one.
    fn record_phash(&self, hash: &BlobHash, phash: u64) -> StoreFuture<'_, ()>;
    /// The uploaded photos of the cases whose grid cell starts with `grid_prefix` (a run
    /// of digits), other than `except`, by (case, hash) after `after`; at most `limit`.
    fn case_evidence_near(
        &self,
        grid_prefix: &str,
        except: Uuid,
        after: Option<(Uuid, String)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<CaseEvidence>>;
}
