//! The device's evidence signing key: made from the OS's randomness the first time the
//! store opens, kept in the store for good (a reinstalled app is a new device with a new
//! id and a new key), and handed to [`crate::custody`] to sign captures.

use rusqlite::{params, Connection, OptionalExtension};

use crate::custody::EvidenceSigner;
use crate::error::{Error, Result};

/// Loads the device's key, making and storing it when there is none yet.
pub(super) fn load_or_create(conn: &Connection, device_id: &str) -> Result<EvidenceSigner> {
    let stored: Option<Vec<u8>> = conn
        .query_row("SELECT secret FROM device_key WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()?;
    if let Some(secret) = stored {
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| Error::invalid("device key", "the stored key is not 32 bytes"))?;
        return Ok(EvidenceSigner::from_secret(device_id, &secret));
    }
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret)
        .map_err(|e| Error::invalid("device key", format!("no system randomness: {e}")))?;
    let signer = EvidenceSigner::from_secret(device_id, &secret);
    conn.execute(
        "INSERT INTO device_key (id, secret, public_key) VALUES (1, ?1, ?2)",
        params![secret.as_slice(), signer.public_key_hex()],
    )?;
    Ok(signer)
}
