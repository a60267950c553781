//! The device's offline store: one SQLite file in WAL mode with `synchronous=FULL`, and
//! the photo files beside it.
//!
//! - A write returns only after SQLite has synced the WAL, so a capture reported as saved
//!   survives the process being killed or the phone losing power. Readers (a [`StoreReader`]
//!   on another thread) read the last committed state and never wait for that sync.
//! - A document is stored as a full automerge save (the base) plus appended chunks of the
//!   changes since, rewritten as one base when the chunks grow or the document closes.
//! - Sync state: per document, the heads last shared with the server; the outbox is every
//!   document whose stored heads differ from those, so it can never drift from the data.
//!   Plus the server sequence cursor, the device's stable actor id and the logged-in principal.
//! - A quarantine keeps changes the server rejected until the person dismisses them.
//! - A projection per document (status, title, deadline, band) serves lists without
//!   loading documents; the caller computes it with the domain folds.
//!
//! Every write goes through [`Store::batch`], one transaction; the single-purpose methods
//! (`capture`, `record_shared`, …) are one-operation batches.

mod device_key;
mod nearby;
mod photos;
mod reference;
pub mod schema;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use automerge::{ActorId, ChangeHash};
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use uuid::Uuid;

use crate::doc::{actor_for, heads_from_hex, heads_to_hex, Doc, DocKind};
use crate::error::{Error, Result};
use crate::roles::Principal;
use crate::time::Millis;

pub use device_key::KeySealer;
use photos::PhotoDir;
pub use photos::{check_hash, sha256_hex, BlobInfo, NewPhoto};
pub use reference::due_reference;

/// Chunks a document may collect before it is rewritten as one compressed base.
const MAX_CHUNKS: i64 = 16;
/// Chunk bytes always allowed before compaction; beyond this, chunks may not outgrow the base.
const CHUNK_BYTES_FLOOR: i64 = 2048;

const META_DEVICE_ID: &str = "device_id";
const META_SYNC_CURSOR: &str = "sync_cursor";
const META_PRINCIPAL: &str = "principal";
/// Documents the last answer could not merge: asked for whole until they arrive. Kept
/// in the store with the cursor that passed them: in memory only, an app restart (or a
/// new client) would forget them while the server counts them as delivered.
const META_WANTED_WHOLE: &str = "wanted_whole";

/// The per-document projection lists are served from. The domain fold computes it; the
/// store only keeps it beside the document, in the same transaction.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Listing {
    /// The fold's state name ("dispatched", "handled", …).
    pub status: String,
    pub title: String,
    /// When the current stage is due, if it has a deadline.
    pub deadline: Option<Millis>,
    /// Deadline band as the sla module names it ("green", "yellow", "red", "escalated").
    pub band: Option<String>,
    /// Whether the document still needs work (shows in the task list).
    pub open: bool,
    pub updated_at: Millis,
}

/// One row of a list.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ListedDoc {
    pub id: Uuid,
    pub kind: DocKind,
    pub listing: Listing,
}

/// A document with changes the server has not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub doc_id: Uuid,
    pub kind: DocKind,
    /// Heads the server is known to have (empty: never shared, send everything).
    pub shared_heads: Vec<String>,
}

/// A change the server refused, kept until the person has seen it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Quarantined {
    pub id: i64,
    pub doc_id: Uuid,
    pub change: Vec<u8>,
    pub reason: String,
    pub at: Millis,
}

/// A change to quarantine, with the server's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedChange {
    pub change: Vec<u8>,
    pub reason: String,
}

/// What a save wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub doc_id: Uuid,
    /// The stored heads now, as hex.
    pub heads: Vec<String>,
    /// Document bytes written by this save (a chunk, or a whole base).
    pub written_bytes: usize,
    /// Whether the document was rewritten as a single base.
    pub compacted: bool,
}

/// The store: the one writer of the database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    photos: PhotoDir,
    device_id: Uuid,
    actor: ActorId,
    signer: crate::custody::EvidenceSigner,
    /// The synced reference, parsed on first use and dropped when a newer one is saved.
    city: std::cell::OnceCell<Option<std::sync::Arc<crate::reference::CityReference>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// The photo directory of the database at `db`: `<db>.photos`.
pub fn photos_dir_for(db: &Path) -> PathBuf {
    let mut name = OsString::from(db.as_os_str());
    name.push(".photos");
    PathBuf::from(name)
}

/// Tells a damaged or foreign file apart from other SQLite failures.
fn file_error(path: &Path, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => Error::invalid(
            "store file",
            format!("{} is damaged or not a database: {e}", path.display()),
        ),
        _ => Error::Sqlite(e),
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<String> {
    conn.busy_timeout(Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    // FULL: the WAL is synced at every commit, so a returned write survives power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(mode)
}

fn kind_text(kind: DocKind) -> Result<String> {
    match serde_json::to_value(kind)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(Error::invalid("document kind", other.to_string())),
    }
}

fn kind_from_text(text: &str) -> Result<DocKind> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| Error::invalid("document kind", format!("{text:?} in the store")))
}

fn uuid_from(bytes: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|e| Error::invalid("document id", e.to_string()))
}

fn heads_json(heads: &[ChangeHash]) -> Result<String> {
    let mut hex = heads_to_hex(heads);
    hex.sort();
    Ok(serde_json::to_string(&hex)?)
}

fn heads_from_json(json: &str) -> Result<Vec<String>> {
    serde_json::from_str(json).map_err(|e| Error::invalid("stored heads", e.to_string()))
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

// Reads shared by the store and its readers.

fn read_doc(conn: &Connection, id: Uuid, actor: &ActorId) -> Result<Doc> {
    let base: Option<Vec<u8>> = conn
        .prepare_cached("SELECT base FROM docs WHERE id = ?1")?
        .query_row([id.as_bytes()], |row| row.get(0))
        .optional()?;
    let mut bytes = base.ok_or_else(|| Error::NotFound(format!("document {id}")))?;
    let mut chunks =
        conn.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let rows = chunks.query_map([id.as_bytes()], |row| row.get::<_, Vec<u8>>(0))?;
    for chunk in rows {
        bytes.extend_from_slice(&chunk?);
    }
    Doc::load(&bytes, actor)
}

type ListingRow = (
    Vec<u8>,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    bool,
    i64,
);

fn listed(row: ListingRow) -> Result<ListedDoc> {
    let (id, kind, status, title, deadline, band, open, updated_at) = row;
    Ok(ListedDoc {
        id: uuid_from(&id)?,
        kind: kind_from_text(&kind)?,
        listing: Listing {
            status,
            title,
            deadline,
            band,
            open,
            updated_at,
        },
    })
}

fn listing_rows(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<ListedDoc>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| {
        Ok((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
            row.get(6)?,
            row.get(7)?,
        ))
    })?;
    rows.map(|row| listed(row?)).collect()
}

const LISTING_COLUMNS: &str = "doc_id, kind, status, title, deadline, band, open, updated_at";

fn read_listing(conn: &Connection, id: Uuid) -> Result<Option<ListedDoc>> {
    let sql = format!("SELECT {LISTING_COLUMNS} FROM listing WHERE doc_id = ?1");
    Ok(listing_rows(conn, &sql, [id.as_bytes()])?.pop())
}

fn read_open_tasks(conn: &Connection, limit: usize) -> Result<Vec<ListedDoc>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Two index range scans: dated tasks soonest first, then undated ones.
    let dated = format!(
        "SELECT {LISTING_COLUMNS} FROM listing
         WHERE open = 1 AND deadline IS NOT NULL ORDER BY deadline, doc_id LIMIT ?1"
    );
    let mut out = listing_rows(conn, &dated, [limit])?;
    let rest = limit - out.len() as i64;
    if rest > 0 {
        // Read in the index's order: the planner would rather sort every call.
        let undated = format!(
            "SELECT {LISTING_COLUMNS} FROM listing INDEXED BY listing_open_undated
             WHERE open = 1 AND deadline IS NULL ORDER BY updated_at DESC, doc_id LIMIT ?1"
        );
        out.extend(listing_rows(conn, &undated, [rest])?);
    }
    Ok(out)
}

fn read_outbox(conn: &Connection) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, shared_heads FROM docs WHERE shared_heads IS NOT heads ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, Vec<u8>>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (id, kind, shared) = row?;
        Ok(OutboxEntry {
            doc_id: uuid_from(&id)?,
            kind: kind_from_text(&kind)?,
            shared_heads: match shared {
                Some(json) => heads_from_json(&json)?,
                None => Vec::new(),
            },
        })
    })
    .collect()
}

fn read_quarantined(conn: &Connection) -> Result<Vec<Quarantined>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, doc_id, change, reason, at FROM quarantine
         WHERE dismissed_at IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, Vec<u8>>(1)?,
            row.get::<_, Vec<u8>>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, i64>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (id, doc_id, change, reason, at) = row?;
        Ok(Quarantined {
            id,
            doc_id: uuid_from(&doc_id)?,
            change,
            reason,
            at,
        })
    })
    .collect()
}

impl Store {
    /// Opens the store at `path`, creating it (and its photo directory) if missing, and
    /// migrating an older schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path.as_ref(), true, None)
    }

    /// [`Store::open`] with the device's signing key kept sealed by `sealer` (the
    /// platform's key store): a new key is stored only sealed, a plain one is sealed and
    /// erased. A sealed key that `sealer` (or no sealer) cannot open is
    /// [`Error::DeviceKeyUnavailable`], with the store left untouched.
    pub fn open_with_sealer(
        path: impl AsRef<Path>,
        sealer: Option<Arc<dyn KeySealer>>,
    ) -> Result<Store> {
        Store::open_with(path.as_ref(), true, sealer)
    }

    /// Opens an existing store; a missing file is [`Error::NotFound`], not a new store.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::NotFound(format!("store file {}", path.display())));
        }
        Store::open_with(path, false, None)
    }

    fn open_with(path: &Path, create: bool, sealer: Option<Arc<dyn KeySealer>>) -> Result<Store> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| file_error(path, e))?;
        let mode = configure(&conn).map_err(|e| file_error(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::invalid(
                "store file",
                format!("{} cannot use WAL (journal mode {mode})", path.display()),
            ));
        }
        schema::migrate(&mut conn).map_err(|e| match e {
            Error::Sqlite(e) => file_error(path, e),
            other => other,
        })?;
        let device_id = match meta_get(&conn, META_DEVICE_ID)? {
            Some(text) => Uuid::parse_str(&text)
                .map_err(|e| Error::invalid("device id", format!("{text:?}: {e}")))?,
            None => {
                // Generated once; every change this device ever writes carries it.
                let id = Uuid::now_v7();
                meta_set(&conn, META_DEVICE_ID, &id.to_string())?;
                id
            }
        };
        let signer =
            device_key::load_or_create(&mut conn, &device_id.to_string(), sealer.as_ref())?;
        let photos = PhotoDir::open(photos_dir_for(path))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            photos,
            device_id,
            actor: actor_for(&device_id),
            signer,
            city: std::cell::OnceCell::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn photos_dir(&self) -> &Path {
        self.photos.root()
    }

    /// This device's id, generated when the store was created and kept for good.
    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    /// The key this device signs its evidence with (registered with the server).
    pub fn evidence_signer(&self) -> &crate::custody::EvidenceSigner {
        &self.signer
    }

    /// The automerge actor every local change is written with.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// A read-only connection for another thread: it sees the last committed state and
    /// never waits for the writer's sync.
    pub fn reader(&self) -> Result<StoreReader> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| file_error(&self.path, e))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(StoreReader {
            conn,
            actor: self.actor.clone(),
        })
    }

    /// SQLite's own consistency check of the file (slow on big stores: not run at open).
    pub fn check_integrity(&self) -> Result<()> {
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|e| file_error(&self.path, e))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(Error::invalid("store file", result))
        }
    }

    /// Runs `f` in one durable transaction: everything it wrote is kept, or nothing is.
    pub fn batch<T>(&mut self, f: impl FnOnce(&mut Batch<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut batch = Batch {
            tx,
            photos: &self.photos,
            actor: &self.actor,
        };
        let out = f(&mut batch)?;
        batch.tx.commit()?;
        Ok(out)
    }

    /// Saves a new or changed document, its listing and its photo files in one durable
    /// transaction: once this returns, the capture survives the process being killed.
    pub fn capture(
        &mut self,
        doc: &mut Doc,
        listing: &Listing,
        photos: &[NewPhoto<'_>],
    ) -> Result<Saved> {
        self.batch(|b| {
            for photo in photos {
                b.add_photo(photo)?;
            }
            b.save_doc(doc, listing)
        })
    }

    /// A capture without photos.
    pub fn save_doc(&mut self, doc: &mut Doc, listing: &Listing) -> Result<Saved> {
        self.batch(|b| b.save_doc(doc, listing))
    }

    /// Takes `doc` (the server's copy, with the device's still-allowed events replayed on
    /// it) in place of the stored one, and quarantines the rejected changes, atomically:
    /// a crash cannot drop the rejected changes together with the old copy.
    pub fn replace_doc(
        &mut self,
        doc: &mut Doc,
        listing: &Listing,
        rejected: &[RejectedChange],
        at: Millis,
    ) -> Result<Saved> {
        self.batch(|b| {
            let id = doc.header()?.id;
            for r in rejected {
                b.quarantine(id, &r.change, &r.reason, at)?;
            }
            b.replace_doc(doc, listing)
        })
    }

    pub fn record_shared(&mut self, doc_id: Uuid, heads: &[String]) -> Result<()> {
        self.batch(|b| b.record_shared(doc_id, heads))
    }

    pub fn set_sync_cursor(&mut self, cursor: i64) -> Result<()> {
        self.batch(|b| b.set_sync_cursor(cursor))
    }

    pub fn set_principal(&mut self, principal: Option<&Principal>) -> Result<()> {
        self.batch(|b| b.set_principal(principal))
    }

    pub fn quarantine(
        &mut self,
        doc_id: Uuid,
        change: &[u8],
        reason: &str,
        at: Millis,
    ) -> Result<i64> {
        self.batch(|b| b.quarantine(doc_id, change, reason, at))
    }

    pub fn dismiss_quarantined(&mut self, id: i64, at: Millis) -> Result<()> {
        self.batch(|b| b.dismiss_quarantined(id, at))
    }

    pub fn mark_uploaded(&mut self, sha256: &str) -> Result<()> {
        self.batch(|b| b.mark_uploaded(sha256))
    }

    /// Loads a document: its base with every chunk applied.
    pub fn load_doc(&self, id: Uuid) -> Result<Doc> {
        read_doc(&self.conn, id, &self.actor)
    }

    pub fn contains_doc(&self, id: Uuid) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM docs WHERE id = ?1")?
            .query_row([id.as_bytes()], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn doc_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM docs", [], |row| row.get(0))?;
        Ok(n as u64)
    }

    /// How a document is stored: (base bytes, chunk count, chunk bytes).
    pub fn doc_storage(&self, id: Uuid) -> Result<(u64, u64, u64)> {
        self.conn
            .prepare_cached(
                "SELECT length(base), chunk_count, chunk_bytes FROM docs WHERE id = ?1",
            )?
            .query_row([id.as_bytes()], |row| {
                Ok((
                    row.get::<_, i64>(0)? as u64,
                    row.get::<_, i64>(1)? as u64,
                    row.get::<_, i64>(2)? as u64,
                ))
            })
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("document {id}")))
    }

    pub fn listing(&self, id: Uuid) -> Result<Option<ListedDoc>> {
        read_listing(&self.conn, id)
    }

    /// Open documents, soonest deadline first; those without a deadline come last.
    pub fn list_open_tasks(&self, limit: usize) -> Result<Vec<ListedDoc>> {
        read_open_tasks(&self.conn, limit)
    }

    /// Documents with changes the server has not acknowledged, oldest document first.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        read_outbox(&self.conn)
    }

    /// Heads last acknowledged by the server (empty when never shared).
    pub fn shared_heads(&self, doc_id: Uuid) -> Result<Vec<String>> {
        let shared: Option<Option<String>> = self
            .conn
            .prepare_cached("SELECT shared_heads FROM docs WHERE id = ?1")?
            .query_row([doc_id.as_bytes()], |row| row.get(0))
            .optional()?;
        match shared {
            None => Err(Error::NotFound(format!("document {doc_id}"))),
            Some(None) => Ok(Vec::new()),
            Some(Some(json)) => heads_from_json(&json),
        }
    }

    /// The heads the store records for a document's stored content (the outbox compares
    /// them with the shared heads); they must equal the loaded document's heads.
    pub fn recorded_heads(&self, doc_id: Uuid) -> Result<Vec<String>> {
        let heads: Option<String> = self
            .conn
            .prepare_cached("SELECT heads FROM docs WHERE id = ?1")?
            .query_row([doc_id.as_bytes()], |row| row.get(0))
            .optional()?;
        heads_from_json(&heads.ok_or_else(|| Error::NotFound(format!("document {doc_id}")))?)
    }

    /// The server sequence number the device has received up to (0: nothing yet).
    pub fn sync_cursor(&self) -> Result<i64> {
        match meta_get(&self.conn, META_SYNC_CURSOR)? {
            None => Ok(0),
            Some(text) => text
                .parse()
                .map_err(|_| Error::invalid("sync cursor", format!("{text:?} in the store"))),
        }
    }

    /// Documents to ask the server for whole (an update of theirs could not be merged).
    pub fn wanted_whole(&self) -> Result<Vec<Uuid>> {
        match meta_get(&self.conn, META_WANTED_WHOLE)? {
            None => Ok(Vec::new()),
            Some(json) => Ok(serde_json::from_str(&json)?),
        }
    }

    /// Who is logged in on this device, if anyone.
    pub fn principal(&self) -> Result<Option<Principal>> {
        match meta_get(&self.conn, META_PRINCIPAL)? {
            None => Ok(None),
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
        }
    }

    /// Rejected changes not yet dismissed, oldest first.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>> {
        read_quarantined(&self.conn)
    }

    /// Photos still to upload.
    pub fn pending_uploads(&self, limit: usize) -> Result<Vec<BlobInfo>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(
            "SELECT hash, size FROM blobs WHERE uploaded = 0 ORDER BY hash LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |row| {
            Ok(BlobInfo {
                sha256: row.get(0)?,
                size: row.get::<_, i64>(1)? as u64,
                uploaded: false,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn blob(&self, sha256: &str) -> Result<Option<BlobInfo>> {
        check_hash(sha256)?;
        Ok(self
            .conn
            .prepare_cached("SELECT hash, size, uploaded FROM blobs WHERE hash = ?1")?
            .query_row([sha256], |row| {
                Ok(BlobInfo {
                    sha256: row.get(0)?,
                    size: row.get::<_, i64>(1)? as u64,
                    uploaded: row.get(2)?,
                })
            })
            .optional()?)
    }

    /// A stored photo's bytes, checked against its hash.
    pub fn read_photo(&self, sha256: &str) -> Result<Vec<u8>> {
        self.photos.read(sha256)
    }

    /// Where a stored photo's file is, for the UI to display.
    pub fn photo_path(&self, sha256: &str) -> Result<PathBuf> {
        self.photos.path_for(sha256)
    }
}

/// The writes of one transaction; see [`Store::batch`].
pub struct Batch<'a> {
    tx: Transaction<'a>,
    photos: &'a PhotoDir,
    actor: &'a ActorId,
}

impl Batch<'_> {
    /// The document as this transaction sees it (its own writes included), if stored.
    pub fn load_doc_if_any(&self, id: Uuid) -> Result<Option<Doc>> {
        match read_doc(&self.tx, id, self.actor) {
            Ok(doc) => Ok(Some(doc)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The store's own automerge actor, for a document it starts.
    pub fn actor(&self) -> &ActorId {
        self.actor
    }

    /// Writes the photo file durably now and records it for upload with the transaction.
    pub fn add_photo(&mut self, photo: &NewPhoto<'_>) -> Result<()> {
        self.photos.put(photo)?;
        self.tx
            .prepare_cached(
                "INSERT INTO blobs (hash, size) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING",
            )?
            .execute(params![photo.sha256, photo.bytes.len() as i64])?;
        Ok(())
    }

    /// Saves the document's changes since the stored state as one appended chunk, and its
    /// listing. When `doc` lacks changes the store holds (a copy taken before another
    /// save), the stored ones are merged into `doc` first: a save never drops a change.
    pub fn save_doc(&mut self, doc: &mut Doc, listing: &Listing) -> Result<Saved> {
        let header = doc.header()?;
        let id = header.id;
        let kind = kind_text(header.kind)?;
        let row: Option<(String, String, i64, i64, i64)> = self
            .tx
            .prepare_cached(
                "SELECT kind, heads, chunk_count, chunk_bytes, length(base) FROM docs WHERE id = ?1",
            )?
            .query_row([id.as_bytes()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
            })
            .optional()?;
        let Some((stored_kind, stored_heads, chunk_count, chunk_bytes, base_len)) = row else {
            let base = doc.save();
            let heads = doc.heads();
            self.tx
                .prepare_cached("INSERT INTO docs (id, kind, base, heads) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![id.as_bytes(), kind, base, heads_json(&heads)?])?;
            self.put_listing(id, &kind, listing)?;
            return Ok(Saved {
                doc_id: id,
                heads: heads_to_hex(&heads),
                written_bytes: base.len(),
                compacted: false,
            });
        };
        if stored_kind != kind {
            return Err(Error::invalid(
                "document",
                format!("{id} is a {stored_kind} in the store, not a {kind}"),
            ));
        }
        let stored = heads_from_hex(&heads_from_json(&stored_heads)?)?;
        let has_stored = stored
            .iter()
            .all(|h| doc.automerge().get_change_by_hash(h).is_some());
        if !has_stored {
            let mut stored_doc = read_doc(&self.tx, id, self.actor)?;
            doc.merge(&mut stored_doc)?;
            let saved = self.write_base(id, doc)?;
            self.put_listing(id, &kind, listing)?;
            return Ok(saved);
        }
        let chunk = doc.save_after(&stored);
        let heads = doc.heads();
        let mut saved = Saved {
            doc_id: id,
            heads: heads_to_hex(&heads),
            written_bytes: chunk.len(),
            compacted: false,
        };
        if !chunk.is_empty() {
            let count = chunk_count + 1;
            let bytes = chunk_bytes + chunk.len() as i64;
            // A closed document rarely changes again: store it compact.
            if count > MAX_CHUNKS || bytes > base_len.max(CHUNK_BYTES_FLOOR) || !listing.open {
                // `doc` holds every stored change plus the new ones: its full save is
                // exactly base + chunks.
                saved = self.write_base(id, doc)?;
            } else {
                self.tx
                    .prepare_cached(
                        "INSERT INTO doc_chunks (doc_id, seq, bytes) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![id.as_bytes(), count, chunk])?;
                self.tx
                    .prepare_cached(
                        "UPDATE docs SET heads = ?2, chunk_count = ?3, chunk_bytes = ?4
                         WHERE id = ?1",
                    )?
                    .execute(params![id.as_bytes(), heads_json(&heads)?, count, bytes])?;
            }
        }
        self.put_listing(id, &kind, listing)?;
        Ok(saved)
    }

    /// Stores `doc` as the whole document, dropping what was stored (the server's copy
    /// after a rejection). Use [`Store::replace_doc`] to quarantine in the same breath.
    pub fn replace_doc(&mut self, doc: &mut Doc, listing: &Listing) -> Result<Saved> {
        let header = doc.header()?;
        let kind = kind_text(header.kind)?;
        self.tx
            .prepare_cached(
                "INSERT INTO docs (id, kind, base, heads) VALUES (?1, ?2, x'', '[]')
                 ON CONFLICT (id) DO UPDATE SET kind = excluded.kind",
            )?
            .execute(params![header.id.as_bytes(), kind])?;
        let saved = self.write_base(header.id, doc)?;
        self.put_listing(header.id, &kind, listing)?;
        Ok(saved)
    }

    fn write_base(&mut self, id: Uuid, doc: &mut Doc) -> Result<Saved> {
        let base = doc.save();
        let heads = doc.heads();
        self.tx
            .prepare_cached(
                "UPDATE docs SET base = ?2, heads = ?3, chunk_count = 0, chunk_bytes = 0
                 WHERE id = ?1",
            )?
            .execute(params![id.as_bytes(), base, heads_json(&heads)?])?;
        self.tx
            .prepare_cached("DELETE FROM doc_chunks WHERE doc_id = ?1")?
            .execute([id.as_bytes()])?;
        Ok(Saved {
            doc_id: id,
            heads: heads_to_hex(&heads),
            written_bytes: base.len(),
            compacted: true,
        })
    }

    fn put_listing(&mut self, id: Uuid, kind: &str, listing: &Listing) -> Result<()> {
        upsert_listing(&self.tx, id, kind, listing)
    }

    /// Records the heads the server acknowledged. The document leaves the outbox only if
    /// nothing was saved since those heads were sent.
    pub fn record_shared(&mut self, doc_id: Uuid, heads: &[String]) -> Result<()> {
        let heads = heads_from_hex(heads)?;
        let updated = self
            .tx
            .prepare_cached("UPDATE docs SET shared_heads = ?2 WHERE id = ?1")?
            .execute(params![doc_id.as_bytes(), heads_json(&heads)?])?;
        if updated == 0 {
            return Err(Error::NotFound(format!("document {doc_id}")));
        }
        Ok(())
    }

    pub fn set_sync_cursor(&mut self, cursor: i64) -> Result<()> {
        meta_set(&self.tx, META_SYNC_CURSOR, &cursor.to_string())
    }

    /// Replaces the documents to ask for whole.
    pub fn set_wanted_whole(&mut self, ids: &[Uuid]) -> Result<()> {
        meta_set(&self.tx, META_WANTED_WHOLE, &serde_json::to_string(ids)?)
    }

    /// Sets or (with `None`, at logout) clears who is logged in.
    pub fn set_principal(&mut self, principal: Option<&Principal>) -> Result<()> {
        match principal {
            Some(p) => meta_set(&self.tx, META_PRINCIPAL, &serde_json::to_string(p)?),
            None => {
                self.tx
                    .prepare_cached("DELETE FROM meta WHERE key = ?1")?
                    .execute([META_PRINCIPAL])?;
                Ok(())
            }
        }
    }

    /// Keeps a rejected change for the person to see; returns its quarantine id.
    pub fn quarantine(
        &mut self,
        doc_id: Uuid,
        change: &[u8],
        reason: &str,
        at: Millis,
    ) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO quarantine (doc_id, change, reason, at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![doc_id.as_bytes(), change, reason, at])?;
        Ok(self.tx.last_insert_rowid())
    }

    /// The person has seen the rejected change; it stays on file, out of the list.
    pub fn dismiss_quarantined(&mut self, id: i64, at: Millis) -> Result<()> {
        let updated = self
            .tx
            .prepare_cached(
                "UPDATE quarantine SET dismissed_at = ?2 WHERE id = ?1 AND dismissed_at IS NULL",
            )?
            .execute(params![id, at])?;
        if updated == 0 {
            return Err(Error::NotFound(format!("quarantined change {id}")));
        }
        Ok(())
    }

    pub fn mark_uploaded(&mut self, sha256: &str) -> Result<()> {
        check_hash(sha256)?;
        let updated = self
            .tx
            .prepare_cached("UPDATE blobs SET uploaded = 1 WHERE hash = ?1")?
            .execute([sha256])?;
        if updated == 0 {
            return Err(Error::NotFound(format!("photo {sha256}")));
        }
        Ok(())
    }
}

/// Writes a document's row of the listing (the inbox and outbox read it).
pub(crate) fn upsert_listing(
    conn: &rusqlite::Connection,
    id: Uuid,
    kind: &str,
    listing: &Listing,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO listing (doc_id, kind, status, title, deadline, band, open, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind,
               status = excluded.status, title = excluded.title,
               deadline = excluded.deadline, band = excluded.band,
               open = excluded.open, updated_at = excluded.updated_at",
    )?
    .execute(params![
        id.as_bytes(),
        kind,
        listing.status,
        listing.title,
        listing.deadline,
        listing.band,
        listing.open,
        listing.updated_at
    ])?;
    Ok(())
}

/// A read-only view of the store for another thread (the UI's lists), on its own
/// connection: it never waits for the writer.
pub struct StoreReader {
    conn: Connection,
    actor: ActorId,
}

impl StoreReader {
    pub fn load_doc(&self, id: Uuid) -> Result<Doc> {
        read_doc(&self.conn, id, &self.actor)
    }

    pub fn listing(&self, id: Uuid) -> Result<Option<ListedDoc>> {
        read_listing(&self.conn, id)
    }

    pub fn list_open_tasks(&self, limit: usize) -> Result<Vec<ListedDoc>> {
        read_open_tasks(&self.conn, limit)
    }

    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        read_outbox(&self.conn)
    }

    pub fn quarantined(&self) -> Result<Vec<Quarantined>> {
        read_quarantined(&self.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The durability promise rests on these two settings; a refactor must not lose them.
    #[test]
    fn writes_sync_the_wal_at_every_commit() {
        let dir = std::env::temp_dir().join(format!("fieldloop-store-unit-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(dir.join("device.db")).unwrap();
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        let synchronous: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        let foreign_keys: bool = store
            .conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap();
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(synchronous, 2, "synchronous=FULL");
        assert!(foreign_keys);
    }
}
