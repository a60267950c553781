//! The scale-out store: PostgreSQL, shared by every server instance of a deployment.
//!
//! Connections come from a small pool ([`deadpool_postgres`]). Documents are versioned by
//! their `last_seq`: [`DocStore::append_versioned`] locks the rows of the documents it
//! writes (`FOR UPDATE`), so writers of one document are ordered by the database and
//! writers of different documents do not wait for each other. The global change sequence
//! is one counter row taken last in each writing transaction: it is held only for the one
//! statement that writes what carries the sequence numbers, and the commit, and it makes
//! sequence numbers visible in order, so a sync cursor never skips a change that commits
//! late. Statements of fixed text are prepared once per connection ([`prepared`]).

mod directory;
mod docs;
mod group_commit;
mod login_throttle;
mod nearby;
mod prepared;
pub mod schema;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::Millis;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use self::prepared::Prepared;
use super::error::{StoreError, StoreResult as Result};
use super::sqlite::{enum_parse, enum_text};
use super::{
    AuditEntry, AuditLog, AuthStore, BlobHash, BlobIndex, BlobMeta, CaseEvidence, ChainedAudit,
    DeviceRecord, LeaseStore, Registration, StoreFuture, TokenRecord, UserRecord, UserStore,
};

/// Connections per instance at most; PostgreSQL's own limit is shared by all instances.
const POOL_SIZE: usize = 16;

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Shared by the clones: one queue of appends per instance.
    group_commit: std::sync::Arc<group_commit::GroupCommit>,
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Pool(e.to_string())
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and creates or
    /// migrates the schema.
    pub async fn connect(url: &str) -> Result<PgStore> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("database URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Config(format!("database pool: {e}")))?;
        let mut client = pool.get().await?;
        schema::migrate(&mut client).await?;
        drop(client);
        Ok(PgStore {
            pool,
            group_commit: Default::default(),
        })
    }

    /// A pooled connection, for tests and tools.
    pub async fn client(&self) -> Result<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------
// Users, devices, tokens

const USER_COLUMNS: &str = "id, username, password_hash, role, jurisdiction, created_at, disabled";

fn user_from_row(row: &Row, at: usize) -> Result<UserRecord> {
    let jurisdiction: String = row.try_get(at + 4)?;
    Ok(UserRecord {
        id: row.try_get(at)?,
        username: row.try_get(at + 1)?,
        password_hash: row.try_get(at + 2)?,
        role: enum_parse::<Role>(row.try_get(at + 3)?)?,
        jurisdiction: serde_json::from_str::<Jurisdiction>(&jurisdiction)
            .map_err(|e| StoreError::damaged(format!("jurisdiction: {e}")))?,
        created_at: row.try_get(at + 5)?,
        disabled: row.try_get(at + 6)?,
    })
}

impl PgStore {
    async fn user_where(&self, column: &str, value: String) -> Result<Option<UserRecord>> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
        let row = client.query_opt_prepared(&sql, &[&value]).await?;
        row.map(|row| user_from_row(&row, 0)).transpose()
    }
}

impl UserStore for PgStore {
    fn create_user(&self, user: UserRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let role = enum_text(&user.role)?;
            let jurisdiction = serde_json::to_string(&user.jurisdiction)?;
            let client = self.pool.get().await?;
            let inserted = client
                .execute_prepared(
                    &format!(
                        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    ),
                    &[
                        &user.id,
                        &user.username,
                        &user.password_hash,
                        &role,
                        &jurisdiction,
                        &user.created_at,
                        &user.disabled,
                    ],
                )
                .await;
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::conflict(
                    "user_exists",
                    format!("user {} or id {} already exists", user.username, user.id),
                )),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn user_by_name(&self, username: &str) -> StoreFuture<'_, Option<UserRecord>> {
        let username = username.to_owned();
        Box::pin(self.user_where("username", username))
    }

    fn user_by_id(&self, id: &str) -> StoreFuture<'_, Option<UserRecord>> {
        let id = id.to_owned();
        Box::pin(self.user_where("id", id))
    }

    fn update_user(&self, user: UserRecord) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let role = enum_text(&user.role)?;
            let jurisdiction = serde_json::to_string(&user.jurisdiction)?;
            let client = self.pool.get().await?;
            let changed = client
                .execute_prepared(
                    "UPDATE users SET role = $2, jurisdiction = $3, disabled = $4 WHERE id = $1",
                    &[&user.id, &role, &jurisdiction, &user.disabled],
                )
                .await?;
            Ok(changed == 1)
        })
    }

    fn register_device(&self, device: DeviceRecord) -> StoreFuture<'_, Registration> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let created = tx
                .execute_prepared(
                    "INSERT INTO devices (id, user_id, name, registered_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                    &[
                        &device.id,
                        &device.user_id,
                        &device.name,
                        &device.registered_at,
                    ],
                )
                .await?;
            if created == 1 {
                tx.commit().await?;
                return Ok(Registration::Created);
            }
            let owner: String = tx
                .query_one_prepared(
                    "SELECT user_id FROM devices WHERE id = $1 FOR UPDATE",
                    &[&device.id],
                )
                .await?
                .try_get(0)?;
            if owner != device.user_id {
                return Err(StoreError::conflict(
                    "device_taken",
                    format!("device {} is registered to another user", device.id),
                ));
            }
            tx.execute_prepared(
                "UPDATE devices SET name = $2 WHERE id = $1",
                &[&device.id, &device.name],
            )
            .await?;
            tx.commit().await?;
            Ok(Registration::Existing)
        })
    }

    fn device(&self, id: &str) -> StoreFuture<'_, Option<DeviceRecord>> {
        let id = id.to_owned();
        Box::pin(async move {
            let client = self.pool.get().await?;
            let row = client
                .query_opt_prepared(
                    "SELECT id, user_id, name, registered_at FROM devices WHERE id = $1",
                    &[&id],
                )
                .await?;
            row.map(|row| {
                Ok(DeviceRecord {
                    id: row.try_get(0)?,
                    user_id: row.try_get(1)?,
                    name: row.try_get(2)?,
                    registered_at: row.try_get(3)?,
                })
            })
            .transpose()
        })
    }
}

impl AuthStore for PgStore {
    fn insert_token(&self, token: TokenRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .execute_prepared(
                    "INSERT INTO tokens (hash, user_id, device_id, created_at, expires_at, \
                     revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &token.hash.as_slice(),
                        &token.user_id,
                        &token.device_id,
                        &token.created_at,
                        &token.expires_at,
                        &token.revoked_at,
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn token_owner(&self, hash: [u8; 32]) -> StoreFuture<'_, Option<(TokenRecord, UserRecord)>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let sql = format!(
                "SELECT t.user_id, t.device_id, t.created_at, t.expires_at, t.revoked_at, {} \
                 FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1",
                USER_COLUMNS
                    .split(", ")
                    .map(|c| format!("u.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let Some(row) = client.query_opt_prepared(&sql, &[&hash.as_slice()]).await? else {
                return Ok(None);
            };
            let token = TokenRecord {
                hash,
                user_id: row.try_get(0)?,
                device_id: row.try_get(1)?,
                created_at: row.try_get(2)?,
                expires_at: row.try_get(3)?,
                revoked_at: row.try_get(4)?,
            };
            Ok(Some((token, user_from_row(&row, 5)?)))
        })
    }

    fn revoke_token(&self, hash: [u8; 32], at: Millis) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let changed = client
                .execute_prepared(
                    "UPDATE tokens SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL",
                    &[&hash.as_slice(), &at],
                )
                .await?;
            Ok(changed == 1)
        })
    }

    fn bind_token_device(&self, hash: [u8; 32], device_id: &str) -> StoreFuture<'_, ()> {
        let device_id = device_id.to_owned();
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .execute_prepared(
                    "UPDATE tokens SET device_id = $2 WHERE hash = $1",
                    &[&hash.as_slice(), &device_id],
                )
                .await?;
            Ok(())
        })
    }
}

/// Serialises audit appends across instances, so each row chains onto the last.
const AUDIT_LOCK: i64 = 0x6175_6469_745f_6c6f;

/// Appends one audit row and its chain hash inside the caller's transaction, holding the
/// audit lock to its commit. Writers of documents take it after their document rows and
/// the sequence counter, and [`AuditLog::record`] takes nothing else, so no two
/// transactions wait on each other in a circle.
pub(super) async fn insert_audit(
    tx: &deadpool_postgres::Transaction<'_>,
    entry: &AuditEntry,
) -> Result<()> {
    tx.execute_prepared("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await?;
    let previous: Option<Vec<u8>> = tx
        .query_opt_prepared("SELECT hash FROM audit ORDER BY id DESC LIMIT 1", &[])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .flatten();
    let previous = previous
        .and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
        .unwrap_or(super::audit::GENESIS);
    let id: i64 = tx
        .query_one_prepared(
            "INSERT INTO audit (at, user_id, device_id, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &entry.at,
                &entry.user_id,
                &entry.device_id,
                &entry.action,
                &entry.target,
                &entry.detail,
            ],
        )
        .await?
        .try_get(0)?;
    let hash = super::audit::chain_hash(&previous, id, entry);
    tx.execute_prepared(
        "UPDATE audit SET hash = $2 WHERE id = $1",
        &[&id, &hash.as_slice()],
    )
    .await?;
    Ok(())
}

impl AuditLog for PgStore {
    fn record(&self, entry: AuditEntry) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            insert_audit(&tx, &entry).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn chain_page(&self, after_id: i64, limit: usize) -> StoreFuture<'_, Vec<ChainedAudit>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query_prepared(
                    "SELECT id, at, user_id, device_id, action, target, detail, hash FROM audit \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                    &[&after_id, &to_i64(limit)],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let hash: Option<Vec<u8>> = row.try_get(7)?;
                    Ok(ChainedAudit {
                        id: row.try_get(0)?,
                        entry: AuditEntry {
                            at: row.try_get(1)?,
                            user_id: row.try_get(2)?,
                            device_id: row.try_get(3)?,
                            action: row.try_get(4)?,
                            target: row.try_get(5)?,
                            detail: row.try_get(6)?,
                        },
                        hash: hash
                            .map(|h| <[u8; 32]>::try_from(h.as_slice()).unwrap_or([0xff; 32])),
                    })
                })
                .collect()
        })
    }

    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query_prepared(
                    "SELECT at, user_id, device_id, action, target, detail FROM audit \
                     ORDER BY id DESC LIMIT $1",
                    &[&to_i64(limit)],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(AuditEntry {
                        at: row.try_get(0)?,
                        user_id: row.try_get(1)?,
                        device_id: row.try_get(2)?,
                        action: row.try_get(3)?,
                        target: row.try_get(4)?,
                        detail: row.try_get(5)?,
                    })
                })
                .collect()
        })
    }
}

// ---------------------------------------------------------------------------------------
// Leases

impl LeaseStore for PgStore {
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreFuture<'_, bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        Box::pin(async move {
            let client = self.pool.get().await?;
            // The database's clock judges expiry: the instances' clocks need not agree.
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            let taken = client
                .execute_prepared(
                    "INSERT INTO leases (name, holder, expires_at) \
                     VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::float8 / 1000.0)) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                     expires_at = excluded.expires_at \
                     WHERE leases.holder = excluded.holder \
                        OR leases.expires_at <= clock_timestamp()",
                    &[&name, &holder, &(ttl_ms as f64)],
                )
                .await?;
            Ok(taken == 1)
        })
    }

    fn release_lease(&self, name: &str, holder: &str) -> StoreFuture<'_, ()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .execute_prepared(
                    "DELETE FROM leases WHERE name = $1 AND holder = $2",
                    &[&name, &holder],
                )
                .await?;
            Ok(())
        })
    }

    fn lease_holder(&self, name: &str) -> StoreFuture<'_, Option<String>> {
        let name = name.to_owned();
        Box::pin(async move {
            let client = self.pool.get().await?;
            let row = client
                .query_opt_prepared(
                    "SELECT holder FROM leases WHERE name = $1 AND expires_at > clock_timestamp()",
                    &[&name],
                )
                .await?;
            Ok(row.map(|row| row.try_get(0)).transpose()?)
        })
    }
}

// ---------------------------------------------------------------------------------------
// Blob index

/// PostgreSQL integers are signed: a 64-bit hash is stored bit for bit.
fn phash_to_sql(phash: u64) -> i64 {
    phash as i64
}

fn phash_from_sql(stored: i64) -> u64 {
    stored as u64
}

impl BlobIndex for PgStore {
    fn record_blob(&self, meta: BlobMeta) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .execute_prepared(
                    "INSERT INTO blobs \
                     (hash, size, format, width, height, uploaded_by, uploaded_at, phash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (hash) DO NOTHING",
                    &[
                        &meta.hash,
                        &i64::try_from(meta.size).unwrap_or(i64::MAX),
                        &meta.format,
                        &i32::try_from(meta.width).unwrap_or(i32::MAX),
                        &i32::try_from(meta.height).unwrap_or(i32::MAX),
                        &meta.uploaded_by,
                        &meta.uploaded_at,
                        &meta.phash.map(phash_to_sql),
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn blob_meta(&self, hash: &BlobHash) -> StoreFuture<'_, Option<BlobMeta>> {
        let hash = hash.to_string();
        Box::pin(async move {
            let client = self.pool.get().await?;
            let row = client
                .query_opt_prepared(
                    "SELECT hash, size, format, width, height, uploaded_by, uploaded_at, \
                     phash FROM blobs WHERE hash = $1",
                    &[&hash],
                )
                .await?;
            row.map(|row| {
                Ok(BlobMeta {
                    hash: row.try_get(0)?,
                    size: row.try_get::<_, i64>(1)?.max(0) as u64,
                    format: row.try_get(2)?,
                    width: row.try_get::<_, i32>(3)?.max(0) as u32,
                    height: row.try_get::<_, i32>(4)?.max(0) as u32,
                    uploaded_by: row.try_get(5)?,
                    uploaded_at: row.try_get(6)?,
                    phash: row.try_get::<_, Option<i64>>(7)?.map(phash_from_sql),
                })
            })
            .transpose()
        })
    }

    fn add_blob_ref(&self, hash: &BlobHash, doc_id: Uuid) -> StoreFuture<'_, ()> {
        let hash = hash.to_string();
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .execute_prepared(
                    "INSERT INTO blob_refs (hash, doc_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&hash, &doc_id],
                )
                .await?;
            Ok(())
        })
    }

    fn referencing_docs(&self, hash: &BlobHash) -> StoreFuture<'_, Vec<super::Projection>> {
        let hash = hash.to_string();
        Box::pin(async move {
            let client = self.pool.get().await?;
            let sql = format!(
                "SELECT {} FROM blob_refs r JOIN projections p ON p.doc_id = r.doc_id \
                 WHERE r.hash = $1",
                docs::projection_columns("p.")
            );
            let rows = client.query_prepared(&sql, &[&hash]).await?;
            rows.iter().map(docs::projection_from_row).collect()
        })
    }

    fn record_phash(&self, hash: &BlobHash, phash: u64) -> StoreFuture<'_, ()> {
        let hash = hash.to_string();
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .execute_prepared(
                    "UPDATE blobs SET phash = $2 WHERE hash = $1 AND phash IS NULL",
                    &[&hash, &phash_to_sql(phash)],
                )
                .await?;
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
        Box::pin(async move {
            if grid_prefix.is_empty() || !grid_prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(StoreError::invalid(
                    "bad_grid_prefix",
                    format!("a grid prefix is digits, not {grid_prefix:?}"),
                ));
            }
            let (after_id, after_hash) = after.unwrap_or((Uuid::nil(), String::new()));
            let client = self.pool.get().await?;
            let rows = client
                .query_prepared(
                    "SELECT r.doc_id, b.hash, b.phash FROM projections p \
                     JOIN blob_refs r ON r.doc_id = p.doc_id \
                     JOIN blobs b ON b.hash = r.hash \
                     WHERE p.kind = 'case' AND p.grid_cell >= $1 AND p.grid_cell < $2 \
                       AND p.doc_id <> $3 AND (r.doc_id, b.hash) > ($5, $6) \
                     ORDER BY r.doc_id, b.hash LIMIT $4",
                    &[
                        &grid_prefix,
                        &format!("{grid_prefix}:"),
                        &except,
                        &to_i64(limit),
                        &after_id,
                        &after_hash,
                    ],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(CaseEvidence {
                        case_id: row.try_get(0)?,
                        hash: row.try_get(1)?,
                        phash: row.try_get::<_, Option<i64>>(2)?.map(phash_from_sql),
                    })
                })
                .collect()
        })
    }
}
