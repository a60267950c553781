//! Each device's evidence signing key (ed25519 public key), registered with the device and
//! never replaced: a key that could be swapped would let a stolen login re-sign evidence.
//! Revoking a device marks its key, and the verdict stops trusting its signatures.
//! One small trait, so another backend adds three queries.

use std::collections::BTreeMap;

use fieldloop_core::time::Millis;
use rusqlite::{params, OptionalExtension};

use super::error::StoreError;
use super::sqlite::SqliteStore;
use super::StoreFuture;

/// The table, created by migration 7 and appended to a fresh schema.
pub const SQLITE_TABLE: &str = r#"
CREATE TABLE device_keys (
    device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices(id),
    public_key TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
"#;

/// A device's registered key and whose device it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey {
    pub device_id: String,
    /// 64 lower-case hex digits.
    pub public_key: String,
    pub user_id: String,
    pub registered_at: Millis,
    pub revoked_at: Option<Millis>,
}

pub trait DeviceKeyStore: Send + Sync {
    /// Records the key of a registered device. The same key again is harmless; another
    /// key for a device that has one is a conflict.
    fn register_key(
        &self,
        device_id: String,
        public_key: String,
        now: Millis,
    ) -> StoreFuture<'_, ()>;
    /// The keys of these devices (those that have one).
    fn device_keys(&self, device_ids: Vec<String>) -> StoreFuture<'_, BTreeMap<String, DeviceKey>>;
    /// Marks the device's key revoked (the first revocation time stays).
    fn revoke_key(&self, device_id: String, now: Millis) -> StoreFuture<'_, ()>;
}

impl DeviceKeyStore for SqliteStore {
    fn register_key(
        &self,
        device_id: String,
        public_key: String,
        now: Millis,
    ) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let held: Option<String> = tx
                .query_row(
                    "SELECT public_key FROM device_keys WHERE device_id = ?1",
                    [&device_id],
                    |row| row.get(0),
                )
                .optional()?;
            match held {
                None => {
                    tx.execute(
                        "INSERT INTO device_keys (device_id, public_key, registered_at) \
                         VALUES (?1, ?2, ?3)",
                        params![device_id, public_key, now],
                    )?;
                }
                Some(held) if held == public_key => {}
                Some(_) => {
                    return Err(StoreError::conflict(
                        "device_key_taken",
                        format!(
                            "设备 {device_id} 已登记了另一把签名公钥，公钥不能更换；重新安装的应用请以新设备登记"
                        ),
                    ))
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn device_keys(&self, device_ids: Vec<String>) -> StoreFuture<'_, BTreeMap<String, DeviceKey>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT k.device_id, k.public_key, d.user_id, k.registered_at, k.revoked_at \
                 FROM device_keys k JOIN devices d ON d.id = k.device_id WHERE k.device_id = ?1",
            )?;
            let mut keys = BTreeMap::new();
            for id in device_ids {
                let key = stmt
                    .query_row([&id], |row| {
                        Ok(DeviceKey {
                            device_id: row.get(0)?,
                            public_key: row.get(1)?,
                            user_id: row.get(2)?,
                            registered_at: row.get(3)?,
                            revoked_at: row.get(4)?,
                        })
                    })
                    .optional()?;
                if let Some(key) = key {
                    keys.insert(id, key);
                }
            }
            Ok(keys)
        })
    }

    fn revoke_key(&self, device_id: String, now: Millis) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE device_keys SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
                params![device_id, now],
            )?;
            Ok(())
        })
    }
}
