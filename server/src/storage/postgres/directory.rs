//! The reference data and the console's account directory on PostgreSQL: the same
//! queries as the embedded store's, shared by every instance.

use fieldloop_core::reference::KindData;
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::Millis;

use super::PgStore;
use std::collections::BTreeMap;

use crate::storage::accounts::{parse, AccountDirectory, AccountRow, DeviceRow};
use crate::storage::device_keys::{DeviceKey, DeviceKeyStore};
use crate::storage::error::StoreError;
use crate::storage::error::StoreResult as Result;
use crate::storage::reference::{ReferenceStore, StoredReference};
use crate::storage::sqlite::enum_parse;
use crate::storage::StoreFuture;

/// Serialises reference imports across instances: each takes the next version number.
const REFERENCE_LOCK: i64 = 0x7265_6665_7265_6e63;

async fn max_version(client: &impl tokio_postgres::GenericClient) -> Result<u64> {
    let max: Option<i64> = client
        .query_one("SELECT max(version) FROM reference_data", &[])
        .await?
        .try_get(0)?;
    Ok(max.unwrap_or(0).max(0) as u64)
}

impl ReferenceStore for PgStore {
    fn store_reference(
        &self,
        kinds: Vec<KindData>,
        by: String,
        at: Millis,
    ) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&REFERENCE_LOCK])
                .await?;
            let version = max_version(&*tx).await? + 1;
            let stored_version = version as i64;
            for data in &kinds {
                tx.execute(
                    "INSERT INTO reference_data (version, kind, json, stored_by, stored_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&stored_version, &data.kind, &data.json, &by, &at],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(version)
        })
    }

    fn latest_reference(&self) -> StoreFuture<'_, StoredReference> {
        Box::pin(async move {
            let client = self.client().await?;
            let version = max_version(&**client).await?;
            let rows = client
                .query(
                    "SELECT kind, json FROM reference_data r \
                     WHERE version = (SELECT max(version) FROM reference_data WHERE kind = r.kind) \
                     ORDER BY kind",
                    &[],
                )
                .await?;
            let kinds = rows
                .iter()
                .map(|row| {
                    Ok(KindData {
                        kind: row.try_get(0)?,
                        json: row.try_get(1)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(StoredReference { version, kinds })
        })
    }

    fn reference_version(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let client = self.client().await?;
            max_version(&**client).await
        })
    }
}

impl AccountDirectory for PgStore {
    fn list_accounts(&self) -> StoreFuture<'_, Vec<AccountRow>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT id, username, role, jurisdiction, disabled, created_at \
                     FROM users ORDER BY username",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let jurisdiction: String = row.try_get(3)?;
                    Ok(AccountRow {
                        id: row.try_get(0)?,
                        username: row.try_get(1)?,
                        role: enum_parse::<Role>(row.try_get(2)?)?,
                        jurisdiction: parse::<Jurisdiction>(&jurisdiction)?,
                        disabled: row.try_get(4)?,
                        created_at: row.try_get(5)?,
                    })
                })
                .collect()
        })
    }

    fn list_devices(&self, now: Millis) -> StoreFuture<'_, Vec<DeviceRow>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT d.id, u.username, d.name, d.registered_at,
                            (SELECT count(*) FROM tokens t WHERE t.device_id = d.id
                               AND t.revoked_at IS NULL AND t.expires_at > $1)
                     FROM devices d JOIN users u ON u.id = d.user_id ORDER BY u.username, d.id",
                    &[&now],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let live: i64 = row.try_get(4)?;
                    Ok(DeviceRow {
                        id: row.try_get(0)?,
                        username: row.try_get(1)?,
                        name: row.try_get(2)?,
                        registered_at: row.try_get(3)?,
                        live_tokens: u32::try_from(live).unwrap_or(u32::MAX),
                    })
                })
                .collect()
        })
    }

    fn set_password(&self, user_id: String, hash: String, now: Millis) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let changed = tx
                .execute(
                    "UPDATE users SET password_hash = $2 WHERE id = $1",
                    &[&user_id, &hash],
                )
                .await?;
            tx.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                &[&user_id, &now],
            )
            .await?;
            tx.commit().await?;
            Ok(changed == 1)
        })
    }

    fn revoke_device(&self, device_id: String, now: Millis) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let client = self.client().await?;
            let revoked = client
                .execute(
                    "UPDATE tokens SET revoked_at = $2 WHERE device_id = $1 AND revoked_at IS NULL",
                    &[&device_id, &now],
                )
                .await?;
            Ok(usize::try_from(revoked).unwrap_or(usize::MAX))
        })
    }

    fn issue_client_key(
        &self,
        key_hash: [u8; 32],
        client: String,
        issued_by: String,
        now: Millis,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let db = self.client().await?;
            db.execute(
                "INSERT INTO open311_clients (key_hash, client, issued_by, issued_at) \
                 VALUES ($1, $2, $3, $4)",
                &[&key_hash.as_slice(), &client, &issued_by, &now],
            )
            .await?;
            Ok(())
        })
    }

    fn client_of_key(&self, key_hash: [u8; 32]) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move {
            let db = self.client().await?;
            let row = db
                .query_opt(
                    "SELECT client FROM open311_clients WHERE key_hash = $1 AND revoked_at IS NULL",
                    &[&key_hash.as_slice()],
                )
                .await?;
            Ok(row.map(|row| row.try_get(0)).transpose()?)
        })
    }
}

impl DeviceKeyStore for PgStore {
    fn register_key(
        &self,
        device_id: String,
        public_key: String,
        now: Millis,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            // Inserted, or already there with this very key: both fine; another key is not.
            let row = client
                .query_one(
                    "WITH added AS (
                         INSERT INTO device_keys (device_id, public_key, registered_at)
                         VALUES ($1, $2, $3) ON CONFLICT (device_id) DO NOTHING RETURNING public_key)
                     SELECT coalesce((SELECT public_key FROM added),
                                     (SELECT public_key FROM device_keys WHERE device_id = $1))",
                    &[&device_id, &public_key, &now],
                )
                .await?;
            let held: Option<String> = row.try_get(0)?;
            if held.as_deref() == Some(public_key.as_str()) {
                return Ok(());
            }
            Err(StoreError::conflict(
                "device_key_taken",
                format!(
                    "设备 {device_id} 已登记了另一把签名公钥，公钥不能更换；重新安装的应用请以新设备登记"
                ),
            ))
        })
    }

    fn device_keys(&self, device_ids: Vec<String>) -> StoreFuture<'_, BTreeMap<String, DeviceKey>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT k.device_id, k.public_key, d.user_id, k.registered_at, k.revoked_at \
                     FROM device_keys k JOIN devices d ON d.id = k.device_id \
                     WHERE k.device_id = ANY($1)",
                    &[&device_ids],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let key = DeviceKey {
                        device_id: row.try_get(0)?,
                        public_key: row.try_get(1)?,
                        user_id: row.try_get(2)?,
                        registered_at: row.try_get(3)?,
                        revoked_at: row.try_get(4)?,
                    };
                    Ok((key.device_id.clone(), key))
                })
                .collect()
        })
    }

    fn revoke_key(&self, device_id: String, now: Millis) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            client
                .execute(
                    "UPDATE device_keys SET revoked_at = $2 WHERE device_id = $1 AND revoked_at IS NULL",
                    &[&device_id, &now],
                )
                .await?;
            Ok(())
        })
    }
}
