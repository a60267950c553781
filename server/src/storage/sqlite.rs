//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go through one mutex-guarded connection (SQLite has a single writer anyway);
//! reads use a small pool of separate connections, which WAL lets run beside the writer.
//! Every call runs on tokio's blocking pool so the async runtime never waits on disk.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::Millis;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::error::{StoreError, StoreResult as Result};
use super::group_commit::WriteQueue;
use super::sqlite_docs::GRID_PREFIX_END;
pub(super) use super::sqlite_docs::{heads_from_blob, query_projections, PROJECTION_COLUMNS};
use super::{
    schema, AuditEntry, AuditLog, AuthStore, BlobHash, BlobIndex, BlobMeta, CaseEvidence,
    ChainedAudit, DeviceRecord, LeaseStore, Projection, Registration, StoreFuture, TokenRecord,
    UserRecord, UserStore,
};

/// Read connections at most, each kept open once made. Every connection has its own
/// page cache (about 2 MB) and schema: opening one per concurrent read let 1,000 syncing
/// devices hold 318 MB of page caches at once (a heap profile of the §1 benchmark), for
/// no throughput a 2-core server could use. Reads beyond this wait their turn.
const MAX_READERS: usize = 8;

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// A permit per read in progress, [`MAX_READERS`] in all: taken before the blocking
    /// task, so waiting reads hold no thread either.
    reader_permits: Arc<tokio::sync::Semaphore>,
    /// Writes waiting for the next group commit ([`SqliteStore::write`]).
    queued: WriteQueue,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves no half-written state behind: SQLite rolls
    // back the open transaction when its guard drops. So a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Statements kept prepared per connection: rusqlite's default of 16 is fewer than the
/// distinct statements one sync runs, so they would evict each other.
const STATEMENT_CACHE: usize = 64;

impl SqliteStore {
    /// Opens (creating or migrating) the database at `path`. Blocking: call at startup.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let mut writer = Connection::open(path)?;
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // The server acknowledges changes to devices, which then forget them: an
        // acknowledged change must survive a power cut, so FULL rather than NORMAL.
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut writer)?;
        writer.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                reader_permits: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
                queued: WriteQueue::default(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn open_reader(path: &Path) -> Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "query_only", "ON")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    pub(super) fn read<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            let permit = inner
                .reader_permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| StoreError::Pool("the read connections were closed".into()))?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let pooled = lock(&inner.readers).pop();
                let conn = match pooled {
                    Some(conn) => conn,
                    None => Self::open_reader(&inner.path)?,
                };
                let result = f(&conn);
                lock(&inner.readers).push(conn);
                result
            })
            .await?
        })
    }

    /// Runs `f` as one write, answered once it is durable.
    ///
    /// Writes are committed in groups: `synchronous=FULL` makes every commit wait for the
    /// disk (a few ms on a phone-farm VM), and one writer committing each sync's writes
    /// alone capped the server at a few hundred writes a second. So a write joins a queue;
    /// whoever takes the writer next runs every queued write in one transaction, each
    /// under its own savepoint (a write that fails rolls back alone), commits once, and
    /// then answers them all. `f` must not open a transaction itself: nest with
    /// `conn.savepoint()`.
    pub(super) fn write<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            let answered = inner.queued.push(f);
            tokio::task::spawn_blocking(move || inner.queued.commit(&inner.writer)).await?;
            answered
                .await
                .map_err(|_| StoreError::Commit("the write was dropped unanswered".into()))?
        })
    }

    /// Runs `f` on the write connection, blocking; for startup, tests and tools.
    pub fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        f(&mut lock(&self.inner.writer))
    }
}

// ---------------------------------------------------------------------------------------
// Text forms of enums, the same as their JSON forms.

/// `execute` and `query_row` through the connection's statement cache: the sync path runs
/// the same few statements thousands of times, and preparing each anew was 8.7 points of
/// the server's CPU in the load benchmark's profile.
pub(super) trait CachedStatements {
    fn execute_cached(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize>;
    fn query_row_cached<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl CachedStatements for Connection {
    fn execute_cached(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, row)
    }
}

pub(super) fn enum_text<T: serde::Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::damaged(format!("not a unit enum: {other}"))),
    }
}

pub(super) fn enum_parse<T: serde::de::DeserializeOwned>(text: String) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|e| StoreError::Damaged(format!("damaged row: {e}")))
}

pub(super) fn parse_uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| StoreError::Damaged(format!("damaged document id: {e}")))
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

// ---------------------------------------------------------------------------------------
// Users, devices, tokens

const USER_COLUMNS: &str = "id, username, password_hash, role, jurisdiction, created_at, disabled";

struct RawUser {
    id: String,
    username: String,
    password_hash: String,
    role: String,
    jurisdiction: String,
    created_at: Millis,
    disabled: bool,
}

impl RawUser {
    fn from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<RawUser> {
        Ok(RawUser {
            id: row.get(at)?,
            username: row.get(at + 1)?,
            password_hash: row.get(at + 2)?,
            role: row.get(at + 3)?,
            jurisdiction: row.get(at + 4)?,
            created_at: row.get(at + 5)?,
            disabled: row.get(at + 6)?,
        })
    }

    fn into_user(self) -> Result<UserRecord> {
        Ok(UserRecord {
            role: enum_parse::<Role>(self.role)?,
            jurisdiction: serde_json::from_str::<Jurisdiction>(&self.jurisdiction)
                .map_err(|e| StoreError::Damaged(format!("damaged jurisdiction: {e}")))?,
            id: self.id,
            username: self.username,
            password_hash: self.password_hash,
            created_at: self.created_at,
            disabled: self.disabled,
        })
    }
}

fn user_where(conn: &Connection, column: &str, value: &str) -> Result<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1");
    let raw = conn
        .query_row(&sql, [value], |row| RawUser::from_row(row, 0))
        .optional()?;
    raw.map(RawUser::into_user).transpose()
}

impl UserStore for SqliteStore {
    fn create_user(&self, user: UserRecord) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            let role = enum_text(&user.role)?;
            let jurisdiction = serde_json::to_string(&user.jurisdiction)?;
            let inserted = conn.execute(
                &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    user.id,
                    user.username,
                    user.password_hash,
                    role,
                    jurisdiction,
                    user.created_at,
                    user.disabled
                ],
            );
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e) => Err(StoreError::conflict(
                    "user_exists",
                    format!("user {} or id {} already exists", user.username, user.id),
                )),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn user_by_name(&self, username: &str) -> StoreFuture<'_, Option<UserRecord>> {
        let username = username.to_owned();
        self.read(move |conn| user_where(conn, "username", &username))
    }

    fn user_by_id(&self, id: &str) -> StoreFuture<'_, Option<UserRecord>> {
        let id = id.to_owned();
        self.read(move |conn| user_where(conn, "id", &id))
    }

    fn update_user(&self, user: UserRecord) -> StoreFuture<'_, bool> {
        self.write(move |conn| {
            let role = enum_text(&user.role)?;
            let jurisdiction = serde_json::to_string(&user.jurisdiction)?;
            let changed = conn.execute(
                "UPDATE users SET role = ?2, jurisdiction = ?3, disabled = ?4 WHERE id = ?1",
                params![user.id, role, jurisdiction, user.disabled],
            )?;
            Ok(changed == 1)
        })
    }

    fn register_device(&self, device: DeviceRecord) -> StoreFuture<'_, Registration> {
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let owner: Option<String> = tx
                .query_row(
                    "SELECT user_id FROM devices WHERE id = ?1",
                    [&device.id],
                    |row| row.get(0),
                )
                .optional()?;
            let outcome = match owner {
                None => {
                    tx.execute(
                        "INSERT INTO devices (id, user_id, name, registered_at) \
                         VALUES (?1, ?2, ?3, ?4)",
                        params![device.id, device.user_id, device.name, device.registered_at],
                    )?;
                    Registration::Created
                }
                Some(owner) if owner == device.user_id => {
                    tx.execute(
                        "UPDATE devices SET name = ?2 WHERE id = ?1",
                        params![device.id, device.name],
                    )?;
                    Registration::Existing
                }
                Some(_) => {
                    return Err(StoreError::conflict(
                        "device_taken",
                        format!("device {} is registered to another user", device.id),
                    ))
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn device(&self, id: &str) -> StoreFuture<'_, Option<DeviceRecord>> {
        let id = id.to_owned();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT id, user_id, name, registered_at FROM devices WHERE id = ?1",
                    [id],
                    |row| {
                        Ok(DeviceRecord {
                            id: row.get(0)?,
                            user_id: row.get(1)?,
                            name: row.get(2)?,
                            registered_at: row.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
    }
}

impl AuthStore for SqliteStore {
    fn insert_token(&self, token: TokenRecord) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO tokens (hash, user_id, device_id, created_at, expires_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    token.hash.as_slice(),
                    token.user_id,
                    token.device_id,
                    token.created_at,
                    token.expires_at,
                    token.revoked_at
                ],
            )?;
            Ok(())
        })
    }

    fn token_owner(&self, hash: [u8; 32]) -> StoreFuture<'_, Option<(TokenRecord, UserRecord)>> {
        // Every authenticated request asks this: one statement, prepared once per connection.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT t.user_id, t.device_id, t.created_at, t.expires_at, t.revoked_at, {} \
                 FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?1",
                USER_COLUMNS
                    .split(", ")
                    .map(|c| format!("u.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        self.read(move |conn| {
            let found = conn
                .query_row_cached(&SQL, [hash.as_slice()], |row| {
                    let token = TokenRecord {
                        hash,
                        user_id: row.get(0)?,
                        device_id: row.get(1)?,
                        created_at: row.get(2)?,
                        expires_at: row.get(3)?,
                        revoked_at: row.get(4)?,
                    };
                    Ok((token, RawUser::from_row(row, 5)?))
                })
                .optional()?;
            match found {
                None => Ok(None),
                Some((token, raw)) => Ok(Some((token, raw.into_user()?))),
            }
        })
    }

    fn revoke_token(&self, hash: [u8; 32], at: Millis) -> StoreFuture<'_, bool> {
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at IS NULL",
                params![hash.as_slice(), at],
            )?;
            Ok(changed == 1)
        })
    }

    fn bind_token_device(&self, hash: [u8; 32], device_id: &str) -> StoreFuture<'_, ()> {
        let device_id = device_id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE tokens SET device_id = ?2 WHERE hash = ?1",
                params![hash.as_slice(), device_id],
            )?;
            Ok(())
        })
    }
}

/// Appends one audit row and its chain hash inside the caller's transaction; the one
/// writer connection orders appends, so the previous row is the chain's last.
pub(super) fn insert_audit(tx: &Connection, entry: &AuditEntry) -> Result<()> {
    let previous: Option<Option<Vec<u8>>> = tx
        .query_row_cached("SELECT hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let previous = previous
        .flatten()
        .and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
        .unwrap_or(super::audit::GENESIS);
    tx.execute_cached(
        "INSERT INTO audit (at, user_id, device_id, action, target, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            entry.at,
            entry.user_id,
            entry.device_id,
            entry.action,
            entry.target,
            entry.detail
        ],
    )?;
    let id = tx.last_insert_rowid();
    let hash = super::audit::chain_hash(&previous, id, entry);
    tx.execute_cached(
        "UPDATE audit SET hash = ?2 WHERE id = ?1",
        params![id, hash.to_vec()],
    )?;
    Ok(())
}

impl AuditLog for SqliteStore {
    fn record(&self, entry: AuditEntry) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            insert_audit(&tx, &entry)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn chain_page(&self, after_id: i64, limit: usize) -> StoreFuture<'_, Vec<ChainedAudit>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, at, user_id, device_id, action, target, detail, hash FROM audit \
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after_id, limit], |row| {
                let hash: Option<Vec<u8>> = row.get(7)?;
                Ok(ChainedAudit {
                    id: row.get(0)?,
                    entry: AuditEntry {
                        at: row.get(1)?,
                        user_id: row.get(2)?,
                        device_id: row.get(3)?,
                        action: row.get(4)?,
                        target: row.get(5)?,
                        detail: row.get(6)?,
                    },
                    // A stored hash of the wrong length cannot match: the check reports it.
                    hash: hash.map(|h| <[u8; 32]>::try_from(h.as_slice()).unwrap_or([0xff; 32])),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT at, user_id, device_id, action, target, detail FROM audit \
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit], |row| {
                Ok(AuditEntry {
                    at: row.get(0)?,
                    user_id: row.get(1)?,
                    device_id: row.get(2)?,
                    action: row.get(3)?,
                    target: row.get(4)?,
                    detail: row.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

// ---------------------------------------------------------------------------------------
// Blob index

impl BlobIndex for SqliteStore {
    fn record_blob(&self, meta: BlobMeta) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO blobs \
                 (hash, size, format, width, height, uploaded_by, uploaded_at, phash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    meta.hash,
                    i64::try_from(meta.size).unwrap_or(i64::MAX),
                    meta.format,
                    meta.width,
                    meta.height,
                    meta.uploaded_by,
                    meta.uploaded_at,
                    meta.phash.map(phash_to_sql)
                ],
            )?;
            Ok(())
        })
    }

    fn blob_meta(&self, hash: &BlobHash) -> StoreFuture<'_, Option<BlobMeta>> {
        let hash = hash.clone();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT hash, size, format, width, height, uploaded_by, uploaded_at, \
                     phash FROM blobs WHERE hash = ?1",
                    [hash.as_str()],
                    |row| {
                        Ok(BlobMeta {
                            hash: row.get(0)?,
                            size: row.get::<_, i64>(1)?.max(0) as u64,
                            format: row.get(2)?,
                            width: row.get(3)?,
                            height: row.get(4)?,
                            uploaded_by: row.get(5)?,
                            uploaded_at: row.get(6)?,
                            phash: row.get::<_, Option<i64>>(7)?.map(phash_from_sql),
                        })
                    },
                )
                .optional()?)
        })
    }

    fn add_blob_ref(&self, hash: &BlobHash, doc_id: Uuid) -> StoreFuture<'_, ()> {
        let hash = hash.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO blob_refs (hash, doc_id) VALUES (?1, ?2)",
                params![hash.as_str(), doc_id.to_string()],
            )?;
            Ok(())
        })
    }

    fn referencing_docs(&self, hash: &BlobHash) -> StoreFuture<'_, Vec<Projection>> {
        let hash = hash.clone();
        self.read(move |conn| {
            let columns = PROJECTION_COLUMNS
                .split(", ")
                .map(|c| format!("p.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {columns} FROM blob_refs r JOIN projections p ON p.doc_id = r.doc_id \
                 WHERE r.hash = ?1"
            );
            query_projections(conn, &sql, [hash.as_str()])
        })
    }

    fn record_phash(&self, hash: &BlobHash, phash: u64) -> StoreFuture<'_, ()> {
        let hash = hash.clone();
        self.write(move |conn| {
            conn.execute(
                "UPDATE blobs SET phash = ?2 WHERE hash = ?1 AND phash IS NULL",
                params![hash.as_str(), phash_to_sql(phash)],
            )?;
            Ok(())
        })
    }

    fn case_evidence_near(
        &self,
        grid_prefix: &str,
        except: Uuid,
        after: Option<(Uuid, String)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<CaseEvidence>> {
        let grid_prefix = grid_prefix.to_owned();
        self.read(move |conn| {
            if grid_prefix.is_empty() || !grid_prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(StoreError::invalid(
                    "bad_grid_prefix",
                    format!("a grid prefix is digits, not {grid_prefix:?}"),
                ));
            }
            // A range on the grid-cell index: ':' sorts right after '9'.
            let mut stmt = conn.prepare_cached(
                "SELECT r.doc_id, b.hash, b.phash FROM projections p \
                 JOIN blob_refs r ON r.doc_id = p.doc_id \
                 JOIN blobs b ON b.hash = r.hash \
                 WHERE p.kind = 'case' AND p.grid_cell >= ?1 AND p.grid_cell < ?2 \
                   AND p.doc_id != ?3 AND (r.doc_id, b.hash) > (?5, ?6) \
                 ORDER BY r.doc_id, b.hash LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![
                    grid_prefix,
                    format!("{grid_prefix}{GRID_PREFIX_END}"),
                    except.to_string(),
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    after
                        .as_ref()
                        .map(|(id, _)| id.to_string())
                        .unwrap_or_default(),
                    after.map(|(_, hash)| hash).unwrap_or_default()
                ],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<i64>>(2)?,
                    ))
                },
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (doc_id, hash, phash) = row?;
                out.push(CaseEvidence {
                    case_id: parse_uuid(&doc_id)?,
                    hash,
                    phash: phash.map(phash_from_sql),
                });
            }
            Ok(out)
        })
    }
}

/// SQLite integers are signed: a 64-bit hash is stored bit for bit.
fn phash_to_sql(phash: u64) -> i64 {
    phash as i64
}

fn phash_from_sql(stored: i64) -> u64 {
    stored as u64
}

// ---------------------------------------------------------------------------------------
// Leases

impl LeaseStore for SqliteStore {
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreFuture<'_, bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |conn| {
            // One file, one writer: the wall clock of this machine is the only clock.
            let now = wall_millis();
            let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
            let taken = conn.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
                params![name, holder, until, now],
            )?;
            Ok(taken == 1)
        })
    }

    fn release_lease(&self, name: &str, holder: &str) -> StoreFuture<'_, ()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )?;
            Ok(())
        })
    }

    fn lease_holder(&self, name: &str) -> StoreFuture<'_, Option<String>> {
        let name = name.to_owned();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT holder FROM leases WHERE name = ?1 AND expires_at > ?2",
                    params![name, wall_millis()],
                    |row| row.get(0),
                )
                .optional()?)
        })
    }
}

fn wall_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// However many reads arrive at once, at most [`MAX_READERS`] connections (each with
    /// its own page cache) exist and read at the same time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_reads_shares_a_bounded_set_of_connections() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        let reading = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let reads = (0..64).map(|_| {
            let (reading, most) = (reading.clone(), most.clone());
            store.read(move |conn| {
                let now = reading.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                let one: i64 = conn.query_row("SELECT 1", [], |row| row.get(0))?;
                reading.fetch_sub(1, Ordering::SeqCst);
                Ok(one)
            })
        });
        let answers = futures_util::future::try_join_all(reads).await.unwrap();
        assert_eq!(answers, vec![1; 64]);
        let most = most.load(Ordering::SeqCst);
        assert!(
            (2..=MAX_READERS).contains(&most),
            "{most} reads at once (at most {MAX_READERS}, and more than one)"
        );
        let kept = lock(&store.inner.readers).len();
        assert!(kept <= MAX_READERS, "{kept} connections kept");
    }
}
