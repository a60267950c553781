//! The server's side of the evidence chain of custody: devices' keys checked when they
//! register, and the facts the verdict's signature check needs gathered from storage
//! (the keys of the devices a document's evidence names, the SHA-256 of each stored
//! photo as it is on disk now, not as it was when it arrived, and, when a key is revoked,
//! when the server received each evidence record).

use fieldloop_core::custody::parse_public_key;
use fieldloop_core::doc::Snapshot;
use fieldloop_core::verify::{CustodyFacts, RegisteredKey};
use sha2::{Digest, Sha256};

use crate::error::{Result, ServerError};
use crate::state::AppState;
use crate::storage::{BlobHash, BlobState};

/// A registered public key as stored: lower-case hex of a valid ed25519 point.
pub fn parse(text: &str) -> Result<String> {
    let text = text.trim().to_ascii_lowercase();
    parse_public_key(&text).map_err(|_| {
        ServerError::bad_request(
            "bad_public_key",
            "设备公钥应为 64 位十六进制数字表示的 ed25519 公钥 (an ed25519 public key, 64 hex digits)",
        )
    })?;
    Ok(text)
}

/// Keys of the devices that signed `snapshot`'s evidence, and the hashes of its photos
/// as the blob store holds them.
pub async fn custody_facts(state: &AppState, snapshot: &Snapshot) -> Result<CustodyFacts> {
    let devices: Vec<String> = snapshot
        .evidence
        .values()
        .filter_map(|e| e.seal.as_ref().map(|s| s.device_id.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut facts = CustodyFacts::default();
    for (id, key) in state.device_keys.device_keys(devices).await? {
        // Stored keys were checked on registration; one that no longer parses counts as
        // unknown, which fails the check rather than the verdict.
        let Ok(public_key) = parse_public_key(&key.public_key) else {
            tracing::warn!(device = %id, "stored device key does not parse");
            continue;
        };
        facts.keys.insert(
            id,
            RegisteredKey {
                public_key,
                user_id: key.user_id,
                revoked_at: key.revoked_at,
            },
        );
    }
    for hash in snapshot.evidence.keys() {
        if let Some(held) = stored_sha256(state, hash).await? {
            facts.stored_sha256.insert(hash.clone(), held);
        }
    }
    // Only a revoked device's evidence needs its arrival (received before the revocation
    // or not); most verdicts skip the read.
    if facts.keys.values().any(|k| k.revoked_at.is_some()) {
        facts.evidence_arrived_at = state
            .docs
            .evidence_arrivals(snapshot.header.id)
            .await?
            .into_iter()
            .collect();
    }
    Ok(facts)
}

/// SHA-256 (hex) of a completely stored photo's bytes as they are now.
pub async fn stored_sha256(state: &AppState, hash: &str) -> Result<Option<String>> {
    let Ok(address) = BlobHash::parse(hash) else {
        return Ok(None);
    };
    if !matches!(state.blobs.state(&address).await?, BlobState::Complete(_)) {
        return Ok(None);
    }
    let Some(bytes) = state.blobs.read(&address).await? else {
        return Ok(None);
    };
    let digest = tokio::task::spawn_blocking(move || hex::encode(Sha256::digest(&bytes)))
        .await
        .map_err(|e| ServerError::Internal(format!("photo hash: {e}")))?;
    Ok(Some(digest))
}
