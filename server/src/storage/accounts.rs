//! What the console's admin pages need beyond [`super::UserStore`]: every account and
//! device listed, a password reset, a device's tokens revoked. One small trait so another
//! backend adds four queries.

use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::Millis;
use rusqlite::params;
use serde::Serialize;

use super::error::{StoreError, StoreResult as Result};
use super::sqlite::SqliteStore;
use super::StoreFuture;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AccountRow {
    pub id: String,
    pub username: String,
    #[schema(value_type = String)]
    pub role: Role,
    #[schema(value_type = Object)]
    pub jurisdiction: Jurisdiction,
    pub disabled: bool,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeviceRow {
    pub id: String,
    pub username: String,
    pub name: String,
    pub registered_at: Millis,
    /// Live (unrevoked, unexpired at `now`) tokens bound to the device.
    pub live_tokens: u32,
}

pub trait AccountDirectory: Send + Sync {
    fn list_accounts(&self) -> StoreFuture<'_, Vec<AccountRow>>;
    fn list_devices(&self, now: Millis) -> StoreFuture<'_, Vec<DeviceRow>>;
    /// Replaces the password hash and revokes the user's tokens; false if no such user.
    fn set_password(&self, user_id: String, hash: String, now: Millis) -> StoreFuture<'_, bool>;
    /// Revokes every token bound to the device; how many were live.
    fn revoke_device(&self, device_id: String, now: Millis) -> StoreFuture<'_, usize>;
    /// Records an Open311 client app's api_key by its SHA-256.
    fn issue_client_key(
        &self,
        key_hash: [u8; 32],
        client: String,
        issued_by: String,
        now: Millis,
    ) -> StoreFuture<'_, ()>;
    /// The client app an unrevoked api_key belongs to.
    fn client_of_key(&self, key_hash: [u8; 32]) -> StoreFuture<'_, Option<String>>;
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::damaged(format!("stored value: {e}")))
}

impl AccountDirectory for SqliteStore {
    fn list_accounts(&self) -> StoreFuture<'_, Vec<AccountRow>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, username, role, jurisdiction, disabled, created_at FROM users ORDER BY username",
            )?;
            let raw = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, bool>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raw.into_iter()
                .map(|(id, username, role, jurisdiction, disabled, created_at)| {
                    Ok(AccountRow {
                        id,
                        username,
                        role: parse(&format!("\"{role}\""))?,
                        jurisdiction: parse(&jurisdiction)?,
                        disabled,
                        created_at,
                    })
                })
                .collect()
        })
    }

    fn list_devices(&self, now: Millis) -> StoreFuture<'_, Vec<DeviceRow>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT d.id, u.username, d.name, d.registered_at,
                        (SELECT COUNT(*) FROM tokens t WHERE t.device_id = d.id
                           AND t.revoked_at IS NULL AND t.expires_at > ?1)
                 FROM devices d JOIN users u ON u.id = d.user_id ORDER BY u.username, d.id",
            )?;
            let rows = stmt
                .query_map([now], |r| {
                    Ok(DeviceRow {
                        id: r.get(0)?,
                        username: r.get(1)?,
                        name: r.get(2)?,
                        registered_at: r.get(3)?,
                        live_tokens: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn set_password(&self, user_id: String, hash: String, now: Millis) -> StoreFuture<'_, bool> {
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let changed = tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user_id, hash],
            )?;
            tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![user_id, now],
            )?;
            tx.commit()?;
            Ok(changed == 1)
        })
    }

    fn revoke_device(&self, device_id: String, now: Millis) -> StoreFuture<'_, usize> {
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
                params![device_id, now],
            )?)
        })
    }

    fn issue_client_key(
        &self,
        key_hash: [u8; 32],
        client: String,
        issued_by: String,
        now: Millis,
    ) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO open311_clients (key_hash, client, issued_by, issued_at) VALUES (?1, ?2, ?3, ?4)",
                params![key_hash.to_vec(), client, issued_by, now],
            )?;
            Ok(())
        })
    }

    fn client_of_key(&self, key_hash: [u8; 32]) -> StoreFuture<'_, Option<String>> {
        self.read(move |conn| {
            use rusqlite::OptionalExtension;
            Ok(conn
                .query_row(
                    "SELECT client FROM open311_clients WHERE key_hash = ?1 AND revoked_at IS NULL",
                    [key_hash.to_vec()],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }
}
