//! The device's evidence signing key: made from the OS's randomness the first time the
//! store opens, kept in the store for good (a reinstalled app is a new device with a new
//! id and a new key), and handed to [`crate::custody`] to sign captures.
//!
//! Opened with a [`KeySealer`] (the platform's key store, through the apps), the store
//! keeps only the sealed secret: a new key is sealed before it is written, and a plain
//! key left by an older install is sealed and its plain bytes erased. The public key (the
//! device's identity, registered with the server) never changes: a key that cannot be
//! unsealed is an error, never a reason to make a new one.

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use zeroize::Zeroizing;

use crate::custody::EvidenceSigner;
use crate::error::{Error, Result};

/// Seals and opens the device's secret with a key the platform holds outside the store
/// (Android Keystore, iOS Keychain), so a copy of the store file alone cannot sign.
/// Errors are plain text: they only end up in [`Error::DeviceKeyUnavailable`].
pub trait KeySealer: Send + Sync {
    /// The secret, sealed; only [`KeySealer::unseal`] with the same platform key opens it.
    fn seal(&self, secret: &[u8]) -> std::result::Result<Vec<u8>, String>;
    /// The secret from what [`KeySealer::seal`] made.
    fn unseal(&self, sealed: &[u8]) -> std::result::Result<Vec<u8>, String>;
}

/// The stored row: exactly one of the two forms (a CHECK in the schema).
struct Stored {
    secret: Option<Zeroizing<Vec<u8>>>,
    sealed: Option<Vec<u8>>,
    public_key: String,
}

/// Loads the device's key, making and storing it when there is none yet; with a sealer,
/// only its sealed form is stored (see the module docs).
pub(super) fn load_or_create(
    conn: &mut Connection,
    device_id: &str,
    sealer: Option<&Arc<dyn KeySealer>>,
) -> Result<EvidenceSigner> {
    let stored = conn
        .query_row(
            "SELECT secret, sealed_secret, public_key FROM device_key WHERE id = 1",
            [],
            |row| {
                Ok(Stored {
                    secret: row.get::<_, Option<Vec<u8>>>(0)?.map(Zeroizing::new),
                    sealed: row.get(1)?,
                    public_key: row.get(2)?,
                })
            },
        )
        .optional()?;
    match (stored, sealer) {
        (None, None) => {
            let (secret, signer) = new_key(device_id)?;
            conn.execute(
                "INSERT INTO device_key (id, secret, public_key) VALUES (1, ?1, ?2)",
                params![secret.as_slice(), signer.public_key_hex()],
            )?;
            Ok(signer)
        }
        (None, Some(sealer)) => {
            let (secret, signer) = new_key(device_id)?;
            let sealed = seal_checked(sealer.as_ref(), &secret, &signer)?;
            conn.execute(
                "INSERT INTO device_key (id, sealed_secret, public_key) VALUES (1, ?1, ?2)",
                params![sealed, signer.public_key_hex()],
            )?;
            Ok(signer)
        }
        (Some(row), sealer) => match (row.secret, row.sealed, sealer) {
            (Some(secret), _, None) => Ok(plain_key(&secret, &row.public_key, device_id)?.1),
            (Some(secret), _, Some(sealer)) => {
                let (secret, signer) = plain_key(&secret, &row.public_key, device_id)?;
                let sealed = seal_checked(sealer.as_ref(), &secret, &signer)?;
                seal_in_place(conn, &sealed, &row.public_key)?;
                Ok(signer)
            }
            (None, Some(sealed), Some(sealer)) => {
                unseal(sealer.as_ref(), &sealed, &row.public_key, device_id)
            }
            (None, Some(_), None) => Err(Error::DeviceKeyUnavailable(
                "the key is sealed by the platform key store; open the store with it".into(),
            )),
            (None, None, _) => Err(Error::invalid(
                "device key",
                "the stored row has neither a secret nor a sealed secret",
            )),
        },
    }
}

/// A plain stored secret and its signer. It must be the registered key: sealing a
/// mismatched one would store a key that can never be opened again.
fn plain_key(
    secret: &[u8],
    public_key: &str,
    device_id: &str,
) -> Result<(Zeroizing<[u8; 32]>, EvidenceSigner)> {
    let secret = secret_bytes(secret, "the stored key is not 32 bytes")
        .map_err(|reason| Error::invalid("device key", reason))?;
    let signer = EvidenceSigner::from_secret(device_id, &secret);
    if signer.public_key_hex() != public_key {
        return Err(Error::invalid(
            "device key",
            "the stored secret does not match the stored public key",
        ));
    }
    Ok((secret, signer))
}

/// A new secret from the OS's randomness, and its signer.
fn new_key(device_id: &str) -> Result<(Zeroizing<[u8; 32]>, EvidenceSigner)> {
    let mut secret = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(secret.as_mut())
        .map_err(|e| Error::invalid("device key", format!("no system randomness: {e}")))?;
    let signer = EvidenceSigner::from_secret(device_id, &secret);
    Ok((secret, signer))
}

/// Seals `secret` and opens the result again before anything is stored: a sealer that
/// cannot open what it sealed would lose the device's identity at the next start.
fn seal_checked(
    sealer: &dyn KeySealer,
    secret: &[u8; 32],
    signer: &EvidenceSigner,
) -> Result<Vec<u8>> {
    let sealed = sealer.seal(secret).map_err(|e| {
        Error::DeviceKeyUnavailable(format!("the platform key store cannot seal the key: {e}"))
    })?;
    if sealed.is_empty() {
        return Err(Error::DeviceKeyUnavailable(
            "the platform key store sealed the key into nothing".into(),
        ));
    }
    unseal(
        sealer,
        &sealed,
        &signer.public_key_hex(),
        signer.device_id(),
    )?;
    Ok(sealed)
}

/// Stores the sealed form and erases the plain bytes in one transaction. The plain bytes
/// also linger where SQLite does not overwrite them: the freed space of the row's page,
/// the page the 6 -> 7 migration freed, earlier WAL frames. So, once per device, the file
/// is rebuilt from its live rows (VACUUM) and the WAL folded in and emptied.
fn seal_in_place(conn: &mut Connection, sealed: &[u8], public_key: &str) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let changed = tx.execute(
        "UPDATE device_key SET sealed_secret = ?1, secret = NULL
         WHERE id = 1 AND secret IS NOT NULL AND public_key = ?2",
        params![sealed, public_key],
    )?;
    if changed != 1 {
        // Another process sealed or replaced it between the read and this write.
        return Err(Error::DeviceKeyUnavailable(
            "the stored key changed while it was being sealed; open the store again".into(),
        ));
    }
    tx.commit()?;
    conn.execute_batch("VACUUM")?;
    // Only another connection reading can keep this from finishing (reported as busy, not
    // as an error); the store opens its reader after this.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// The signer from the sealed form, checked against the stored public key.
fn unseal(
    sealer: &dyn KeySealer,
    sealed: &[u8],
    public_key: &str,
    device_id: &str,
) -> Result<EvidenceSigner> {
    let opened = Zeroizing::new(sealer.unseal(sealed).map_err(|e| {
        Error::DeviceKeyUnavailable(format!("the platform key store cannot open the key: {e}"))
    })?);
    let secret = secret_bytes(
        &opened,
        "the platform key store opened the key into the wrong number of bytes",
    )
    .map_err(|reason| Error::DeviceKeyUnavailable(reason.into()))?;
    let signer = EvidenceSigner::from_secret(device_id, &secret);
    if signer.public_key_hex() != public_key {
        return Err(Error::DeviceKeyUnavailable(
            "the key the platform key store opened is not this device's key (another key \
             store or a reinstalled app); the registered identity is kept, nothing was changed"
                .into(),
        ));
    }
    Ok(signer)
}

/// The 32-byte seed, in memory that is wiped when dropped.
fn secret_bytes(
    bytes: &[u8],
    wrong_length: &'static str,
) -> Result<Zeroizing<[u8; 32]>, &'static str> {
    if bytes.len() != 32 {
        return Err(wrong_length);
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(bytes);
    Ok(secret)
}
