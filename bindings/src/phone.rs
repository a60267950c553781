//! The one object the apps hold: a device store, the logged-in session and the server it
//! syncs with. Writes go through the store's single writer; lists read through a separate
//! reader connection, so a list never waits for a sync.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use fieldloop_core::case::CaseDoc;
use fieldloop_core::doc::Doc;
use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions, ProcessedPhoto};
use fieldloop_core::roles::Principal;
use fieldloop_core::store::{KeySealer, NewPhoto, Store, StoreReader};
use fieldloop_core::time::Millis;
use fieldloop_core::{Error, PhotoProblem};
use uuid::Uuid;

use crate::error::{poisoned, FieldError, Result};
use crate::reference::Reference;
use crate::session::SessionFile;
use crate::vault::{KeyVault, VaultSealer};

/// The time the phone stamps its events with. The apps pass none (the system clock);
/// tests pass one that follows the server's simulated day.
#[uniffi::export(callback_interface)]
pub trait PhoneClock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

struct SystemClock;

impl PhoneClock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// The runtime long calls run on (sync, photo processing). One per process, never
/// dropped: a runtime cannot be dropped from one of its own threads, which is where the
/// last reference to a phone may go away.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(4)
            .thread_name("fieldloop")
            .enable_all()
            .build()
            .expect("the FFI's tokio runtime must start")
    })
}

/// A photo processed for storing: the file the store keeps and its evidence numbers.
pub(crate) struct ReadyPhoto {
    pub processed: ProcessedPhoto,
}

#[derive(uniffi::Object)]
pub struct FieldPhone {
    pub(crate) dir: PathBuf,
    pub(crate) server_url: String,
    clock: Box<dyn PhoneClock>,
    store: Mutex<Option<Store>>,
    reader: Mutex<Option<StoreReader>>,
    pub(crate) session: Mutex<Option<SessionFile>>,
    /// The reference data in use, swapped whole when a sync brings a newer version.
    pub(crate) reference: Mutex<Arc<Reference>>,
}

impl FieldPhone {
    fn open_in(
        dir: &str,
        server_url: &str,
        clock: Box<dyn PhoneClock>,
        vault: Option<Arc<dyn KeyVault>>,
    ) -> Result<Arc<Self>> {
        if server_url.is_empty() {
            return Err(FieldError::InvalidInput {
                field: "server_url".into(),
                reason: "服务器地址为空".into(),
            });
        }
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).map_err(Error::from)?;
        let sealer = vault.map(|v| Arc::new(VaultSealer(v)) as Arc<dyn KeySealer>);
        let store = Store::open_with_sealer(dir.join("device.db"), sealer)?;
        let reader = store.reader()?;
        let session = SessionFile::load(&dir)?;
        let reference = Arc::new(Reference::from_store(&store)?);
        crate::reference::forget_legacy_file(&dir);
        Ok(Arc::new(FieldPhone {
            server_url: server_url.trim_end_matches('/').to_owned(),
            dir,
            clock,
            store: Mutex::new(Some(store)),
            reader: Mutex::new(Some(reader)),
            session: Mutex::new(session),
            reference: Mutex::new(reference),
        }))
    }

    /// Signs `evidence` for photo `photo` of document `doc_id` with this device's key,
    /// after recording what the photo itself says (original hash, EXIF time and GPS).
    pub(crate) fn sealed(
        &self,
        doc_id: Uuid,
        photo: &ReadyPhoto,
        mut evidence: fieldloop_core::doc::Evidence,
    ) -> Result<fieldloop_core::doc::Evidence> {
        evidence.original_sha256 = Some(photo.processed.original_sha256.clone());
        evidence.exif = photo.processed.exif.facts();
        let signer = self.write(|s| Ok(s.evidence_signer().clone()))?;
        Ok(signer.seal(doc_id, &photo.processed.content_hash, evidence)?)
    }

    pub(crate) fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    pub(crate) fn store(&self) -> Result<MutexGuard<'_, Option<Store>>> {
        self.store.lock().map_err(poisoned)
    }

    /// Runs `f` on the writer.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let mut guard = self.store()?;
        let store = guard.as_mut().ok_or_else(closed)?;
        f(store)
    }

    /// Runs `f` on the reader connection (never waits for a sync holding the writer).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&StoreReader) -> Result<T>) -> Result<T> {
        let guard = self.reader.lock().map_err(poisoned)?;
        let reader = guard.as_ref().ok_or_else(closed)?;
        f(reader)
    }

    pub(crate) fn load_doc(&self, id: &str) -> Result<Doc> {
        let id = parse_id(id)?;
        self.read(|r| Ok(r.load_doc(id)?))
    }

    /// The logged-in person, as the store recorded it.
    pub(crate) fn principal(&self) -> Result<Principal> {
        self.session
            .lock()
            .map_err(poisoned)?
            .as_ref()
            .map(|s| s.principal.clone())
            .ok_or_else(|| FieldError::Unauthorized {
                reason: "请先登录".into(),
            })
    }

    pub(crate) fn reference(&self) -> Result<Arc<Reference>> {
        Ok(self.reference.lock().map_err(poisoned)?.clone())
    }

    /// Saves `doc` with its listing and the photos' files in one durable transaction.
    pub(crate) fn save(&self, doc: &mut Doc, photos: &[ReadyPhoto]) -> Result<()> {
        self.write(|store| save_in(store, doc, photos))
    }

    pub(crate) fn save_case(&self, case: CaseDoc, photos: &[ReadyPhoto]) -> Result<()> {
        let mut doc = case.into_doc();
        self.save(&mut doc, photos)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Saves `doc` with its listing and the photos' files in one durable transaction.
pub(crate) fn save_in(store: &mut Store, doc: &mut Doc, photos: &[ReadyPhoto]) -> Result<()> {
    let listing = store.listing_for(doc)?;
    let new: Vec<NewPhoto<'_>> = photos
        .iter()
        .map(|p| NewPhoto {
            sha256: &p.processed.content_hash,
            bytes: &p.processed.jpeg,
        })
        .collect();
    store.capture(doc, &listing, &new)?;
    Ok(())
}

pub(crate) fn closed() -> FieldError {
    FieldError::Storage {
        reason: "the store was closed".into(),
    }
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| FieldError::InvalidInput {
        field: "id".into(),
        reason: format!("{id:?} 不是有效的编号"),
    })
}

/// Reads and processes a photo file from the camera: EXIF, limits, orientation, resize,
/// pHash. An unreadable file is a photo error, not a storage one.
pub(crate) fn read_photo(path: &str) -> Result<ReadyPhoto> {
    let bytes = std::fs::read(path).map_err(|e| Error::Photo {
        problem: PhotoProblem::Undecodable,
        detail: format!("{path}: {e}"),
    })?;
    let processed = process_photo(&bytes, &PhotoLimits::default(), &ProcessOptions::default())?;
    Ok(ReadyPhoto { processed })
}

/// Processes several photos on the runtime's blocking pool, so the caller's thread (the
/// app's coroutine) only awaits.
pub(crate) async fn read_photos(paths: Vec<String>) -> Result<Vec<ReadyPhoto>> {
    runtime()
        .spawn_blocking(move || paths.iter().map(|p| read_photo(p)).collect())
        .await
        .map_err(|e| FieldError::Storage {
            reason: format!("photo processing stopped: {e}"),
        })?
}

#[uniffi::export]
impl FieldPhone {
    /// Opens (or creates) the store in `store_dir` for the server at `server_url`. The
    /// device's signing key is kept in the store in plain bytes: the apps open with
    /// [`FieldPhone::open_with_vault`].
    #[uniffi::constructor]
    pub fn open(store_dir: String, server_url: String) -> Result<Arc<Self>> {
        Self::open_in(&store_dir, &server_url, Box::new(SystemClock), None)
    }

    /// [`FieldPhone::open`] with the phone's clock supplied (tests, simulations).
    #[uniffi::constructor]
    pub fn open_with_clock(
        store_dir: String,
        server_url: String,
        clock: Box<dyn PhoneClock>,
    ) -> Result<Arc<Self>> {
        Self::open_in(&store_dir, &server_url, clock, None)
    }

    /// Opens the store with the device's signing key sealed by `vault` (the platform's key
    /// store): a new key is stored only sealed, a plain one left by an earlier version is
    /// sealed and erased, keeping the device's identity. A key the vault cannot open is
    /// [`FieldError::DeviceKeyUnavailable`], and nothing in the store is changed.
    #[uniffi::constructor]
    pub fn open_with_vault(
        store_dir: String,
        server_url: String,
        vault: Arc<dyn KeyVault>,
    ) -> Result<Arc<Self>> {
        Self::open_in(&store_dir, &server_url, Box::new(SystemClock), Some(vault))
    }

    /// [`FieldPhone::open_with_vault`] with the phone's clock supplied (tests, simulations).
    #[uniffi::constructor]
    pub fn open_with_vault_and_clock(
        store_dir: String,
        server_url: String,
        vault: Arc<dyn KeyVault>,
        clock: Box<dyn PhoneClock>,
    ) -> Result<Arc<Self>> {
        Self::open_in(&store_dir, &server_url, clock, Some(vault))
    }

    /// Closes the store: later calls answer `Storage`. Kotlin's `close()` / `.use {}`
    /// and Swift's deinit release the object, which closes it too.
    pub fn shutdown(&self) -> Result<()> {
        self.store()?.take();
        self.reader.lock().map_err(poisoned)?.take();
        Ok(())
    }

    /// This device's id, as registered with the server.
    pub fn device_id(&self) -> Result<String> {
        self.write(|s| Ok(s.device_id().to_string()))
    }

    /// Documents with changes the server has not acknowledged yet.
    pub fn pending_changes(&self) -> Result<u32> {
        self.read(|r| Ok(r.outbox()?.len() as u32))
    }

    /// Photos not yet uploaded whole.
    pub fn pending_photos(&self) -> Result<u32> {
        self.write(|s| Ok(s.pending_uploads(usize::MAX)?.len() as u32))
    }
}
