//! What every handler shares: the stores (as trait objects), the clock and the settings.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use fieldloop_core::time::{Millis, DAY};

use crate::clock::Clock;
use crate::error::Result;
use crate::reference::{Reference, ReferenceCell};
use crate::storage::accounts::AccountDirectory;
use crate::storage::device_keys::DeviceKeyStore;
use crate::storage::fs_blobs::FsBlobStore;
use crate::storage::login_throttle::LoginFailureStore;
use crate::storage::nearby::OpenCaseIndex;
use crate::storage::open::{Location, RecordStores, Stores};
use crate::storage::reference::ReferenceStore;
use crate::storage::sqlite::SqliteStore;
use crate::storage::{
    AuditLog, AuthStore, BlobHash, BlobIndex, BlobStore, DocStore, LeaseStore, UserStore,
};
use crate::throttle::ThrottleSettings;

#[derive(Debug, Clone)]
pub struct Config {
    /// How long a login token lives.
    pub token_ttl: Millis,
    /// Largest photo accepted, in bytes.
    pub max_blob_bytes: u64,
    /// An unfinished upload untouched this long is deleted; the phone then starts it
    /// again from the first byte. A week covers a phone out of signal for days.
    pub abandoned_upload_after: std::time::Duration,
    /// A request (other than a photo upload or download) still unanswered after this
    /// long gets 408; the phone sends it again.
    pub request_timeout: std::time::Duration,
    /// Failed logins allowed per account name and per client address, and whose
    /// `X-Forwarded-For` to believe.
    pub login_throttle: ThrottleSettings,
    /// Documents kept loaded between requests ([`crate::doc_cache`]); 0 turns it off.
    pub cached_docs: usize,
    /// Syncs worked on at once; the others wait for a turn before their body is read
    /// ([`crate::sync::one_of_few`]).
    pub max_concurrent_syncs: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token_ttl: 30 * DAY,
            max_blob_bytes: 40 * 1024 * 1024,
            abandoned_upload_after: std::time::Duration::from_secs(7 * 24 * 3600),
            request_timeout: std::time::Duration::from_secs(120),
            login_throttle: ThrottleSettings::default(),
            cached_docs: crate::doc_cache::DEFAULT_CACHED_DOCS,
            max_concurrent_syncs: crate::sync::DEFAULT_CONCURRENT_SYNCS,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub users: Arc<dyn UserStore>,
    pub auth: Arc<dyn AuthStore>,
    pub docs: Arc<dyn DocStore>,
    pub blob_index: Arc<dyn BlobIndex>,
    pub blobs: Arc<dyn BlobStore>,
    pub audit: Arc<dyn AuditLog>,
    pub leases: Arc<dyn LeaseStore>,
    /// Account and device listings for the console's admin pages.
    pub accounts: Arc<dyn AccountDirectory>,
    /// Devices' evidence signing keys, for the verdict's signature check.
    pub device_keys: Arc<dyn DeviceKeyStore>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    /// Runs of failed logins per account name and client address (`crate::throttle`).
    pub login_failures: Arc<dyn LoginFailureStore>,
    /// Blobs being uploaded right now: one writer per hash at a time.
    pub(crate) uploads: Arc<Mutex<HashSet<BlobHash>>>,
    /// What the referee judges against: catalogue, calendar, matrix, grid, rivers.
    pub reference: Arc<ReferenceCell>,
    pub reference_store: Arc<dyn ReferenceStore>,
    /// The referee's retries, failure count and refused photos.
    pub judging: Arc<crate::judging::Judging>,
    /// Open cases by category and place, for duplicate suggestions.
    pub open_cases: Arc<dyn OpenCaseIndex>,
    /// Case, patrol and notice snapshots and computed months for the evaluation.
    pub evaluation_cache: Arc<crate::evaluation_view::EvaluationCache>,
    /// Recently used documents, caught up from `docs` on every read.
    pub doc_cache: Arc<crate::doc_cache::DocCache>,
    /// One permit per sync being worked on ([`Config::max_concurrent_syncs`]).
    pub sync_turns: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// The embedded default: `<data>/fieldloop.sqlite3` and `<data>/blobs/`. Blocking.
    pub fn embedded(data_dir: &Path, clock: Arc<dyn Clock>, config: Config) -> Result<AppState> {
        std::fs::create_dir_all(data_dir)?;
        let db = SqliteStore::open(&data_dir.join("fieldloop.sqlite3"))?;
        let blobs = FsBlobStore::open(&data_dir.join("blobs"))?;
        Ok(AppState::from_parts(db, blobs, clock, config))
    }

    /// Any backend: one value implementing the record stores plus a blob store.
    pub fn from_parts<R, B>(records: R, blobs: B, clock: Arc<dyn Clock>, config: Config) -> AppState
    where
        R: RecordStores + Clone + 'static,
        B: BlobStore + 'static,
    {
        AppState::from_stores(Stores::new(records, Arc::new(blobs)), clock, config)
    }

    /// The stores at `--database` and `--blobs` (see [`crate::storage::open`]).
    pub async fn open(
        location: &Location,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> Result<AppState> {
        let stores = crate::storage::open::open(location).await?;
        Ok(AppState::from_stores(stores, clock, config))
    }

    pub fn from_stores(stores: Stores, clock: Arc<dyn Clock>, config: Config) -> AppState {
        AppState {
            users: stores.users,
            auth: stores.auth,
            docs: stores.docs,
            blob_index: stores.blob_index,
            audit: stores.audit,
            leases: stores.leases,
            accounts: stores.accounts,
            open_cases: stores.open_cases,
            device_keys: stores.device_keys,
            reference_store: stores.reference,
            blobs: stores.blobs,
            clock,
            uploads: Arc::default(),
            login_failures: stores.login_failures,
            judging: Arc::default(),
            evaluation_cache: Arc::default(),
            doc_cache: Arc::new(crate::doc_cache::DocCache::new(config.cached_docs)),
            sync_turns: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_syncs.max(1),
            )),
            // The bundled reference data is compiled in and covered by tests; the city's
            // own is read from the store by `reference::refresh`.
            reference: Arc::new(ReferenceCell::new(
                Reference::builtin().expect("bundled reference data parses"),
            )),
            config: Arc::new(config),
        }
    }

    /// Replaces the reference data held (tests; a deployment imports its own instead).
    pub fn with_reference(mut self, reference: Reference) -> AppState {
        self.reference = Arc::new(ReferenceCell::new(reference));
        self
    }
}
