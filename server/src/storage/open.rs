//! Opening a deployment's stores from two addresses: `--database` (a `postgres://` URL,
//! or a file path for the embedded SQLite) and `--blobs` (`s3://BUCKET`, or a directory
//! for photo files on disk).

use std::path::Path;
use std::sync::Arc;

use super::accounts::AccountDirectory;
use super::device_keys::DeviceKeyStore;
use super::error::{StoreError, StoreResult};
use super::fs_blobs::FsBlobStore;
use super::login_throttle::LoginFailureStore;
use super::nearby::OpenCaseIndex;
use super::postgres::PgStore;
use super::reference::ReferenceStore;
use super::s3_blobs::{S3BlobStore, S3Settings};
use super::sqlite::SqliteStore;
use super::{AuditLog, AuthStore, BlobIndex, BlobStore, DocStore, LeaseStore, UserStore};

/// Every store a server instance uses, as trait objects.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub auth: Arc<dyn AuthStore>,
    pub docs: Arc<dyn DocStore>,
    pub blob_index: Arc<dyn BlobIndex>,
    pub audit: Arc<dyn AuditLog>,
    pub leases: Arc<dyn LeaseStore>,
    pub accounts: Arc<dyn AccountDirectory>,
    pub device_keys: Arc<dyn DeviceKeyStore>,
    pub open_cases: Arc<dyn OpenCaseIndex>,
    pub login_failures: Arc<dyn LoginFailureStore>,
    pub reference: Arc<dyn ReferenceStore>,
    pub blobs: Arc<dyn BlobStore>,
}

/// Every record store a backend provides, as one bound: a backend implements each trait
/// and gets this for free.
pub trait RecordStores:
    UserStore
    + AuthStore
    + DocStore
    + BlobIndex
    + AuditLog
    + LeaseStore
    + ReferenceStore
    + AccountDirectory
    + DeviceKeyStore
    + OpenCaseIndex
    + LoginFailureStore
{
}

impl<T> RecordStores for T where
    T: UserStore
        + AuthStore
        + DocStore
        + BlobIndex
        + AuditLog
        + LeaseStore
        + ReferenceStore
        + AccountDirectory
        + DeviceKeyStore
        + OpenCaseIndex
        + LoginFailureStore
{
}

impl Stores {
    /// One value implementing the record stores, plus a blob store.
    pub fn new<R>(records: R, blobs: Arc<dyn BlobStore>) -> Stores
    where
        R: RecordStores + Clone + 'static,
    {
        Stores {
            users: Arc::new(records.clone()),
            auth: Arc::new(records.clone()),
            docs: Arc::new(records.clone()),
            blob_index: Arc::new(records.clone()),
            audit: Arc::new(records.clone()),
            leases: Arc::new(records.clone()),
            accounts: Arc::new(records.clone()),
            device_keys: Arc::new(records.clone()),
            open_cases: Arc::new(records.clone()),
            login_failures: Arc::new(records.clone()),
            reference: Arc::new(records),
            blobs,
        }
    }
}

/// Where a deployment's data lives: the two addresses and the S3 settings for an
/// `s3://` one. [`Location::embedded`] is the default under a data directory.
#[derive(Debug, Clone)]
pub struct Location {
    pub database: String,
    pub blobs: String,
    pub s3: S3Settings,
}

impl Location {
    /// SQLite at `DATA/fieldloop.sqlite3`, photos under `DATA/blobs`.
    pub fn embedded(data: &Path) -> Location {
        Location {
            database: data.join("fieldloop.sqlite3").display().to_string(),
            blobs: data.join("blobs").display().to_string(),
            s3: S3Settings::default(),
        }
    }

    /// Shown in logs and messages; never shows a password in the database URL.
    pub fn describe(&self) -> String {
        let database = match self.database.split_once('@') {
            Some((credentials, host)) if self.database.contains("://") => {
                let scheme = credentials.split("://").next().unwrap_or("postgres");
                format!("{scheme}://…@{host}")
            }
            _ => self.database.clone(),
        };
        format!("database {database}, photos {}", self.blobs)
    }
}

/// `s3` gives the endpoint, region and keys for an `s3://` blob address (its bucket is
/// taken from the address).
pub async fn open(location: &Location) -> StoreResult<Stores> {
    let (database, blobs, s3) = (&location.database, &location.blobs, &location.s3);
    let blobs: Arc<dyn BlobStore> = match blobs.strip_prefix("s3://") {
        Some(bucket) => {
            let bucket = bucket.trim_end_matches('/');
            if bucket.is_empty() || bucket.contains('/') {
                return Err(StoreError::Config(format!(
                    "blob address s3://{bucket}: give a bucket name, s3://BUCKET"
                )));
            }
            let settings = S3Settings {
                bucket: bucket.to_owned(),
                ..s3.clone()
            };
            Arc::new(S3BlobStore::open(&settings)?)
        }
        None => {
            let dir = Path::new(blobs).to_owned();
            Arc::new(tokio::task::spawn_blocking(move || FsBlobStore::open(&dir)).await??)
        }
    };
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let store = PgStore::connect(database).await?;
        return Ok(Stores::new(store, blobs));
    }
    let path = Path::new(database).to_owned();
    let store = tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        SqliteStore::open(&path)
    })
    .await??;
    Ok(Stores::new(store, blobs))
}
