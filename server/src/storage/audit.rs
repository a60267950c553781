//! The audit log's hash chain: each row stores SHA-256(previous row's hash ‖ this row's
//! canonical bytes), so editing, deleting or inserting a row breaks the chain at that row
//! and every later one. Both backends compute the hash in the same transaction as the
//! insert, one writer at a time, with the functions here.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{AuditEntry, AuditLog, StoreResult};

/// The "previous hash" of the first chained row.
pub const GENESIS: [u8; 32] = [0; 32];

/// Rows read per page while checking the chain.
const CHECK_PAGE: usize = 1000;

/// One stored row with its place in the chain. `hash` is `None` for rows written before
/// the chain existed (schema migration 8 on SQLite, 4 on PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainedAudit {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    #[serde(serialize_with = "hex_option")]
    #[schema(value_type = Option<String>)]
    pub hash: Option<[u8; 32]>,
}

fn hex_option<S: serde::Serializer>(hash: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
    match hash {
        Some(h) => s.serialize_str(&hex::encode(h)),
        None => s.serialize_none(),
    }
}

/// The row's hash: its id and every field, after the previous row's hash.
pub fn chain_hash(previous: &[u8; 32], id: i64, entry: &AuditEntry) -> [u8; 32] {
    let canonical = serde_json::to_vec(&(
        id,
        entry.at,
        &entry.user_id,
        &entry.device_id,
        &entry.action,
        &entry.target,
        &entry.detail,
    ))
    .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(&canonical);
    hasher.finalize().into()
}

/// What a check of the whole chain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainCheck {
    /// Rows whose hash was checked (rows from before the chain are not counted).
    pub checked: u64,
    /// The first row whose stored hash does not follow from the rows before it.
    pub broken_at: Option<i64>,
    /// Why, in words, when broken.
    pub reason: Option<String>,
}

/// Reads the log oldest first, page by page, and recomputes every hash.
pub async fn check_chain(log: &dyn AuditLog) -> StoreResult<ChainCheck> {
    let mut previous = GENESIS;
    let mut chained = false;
    let mut checked = 0;
    let mut after = 0;
    loop {
        let page = log.chain_page(after, CHECK_PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for row in page {
            let broken = |reason: String| ChainCheck {
                checked,
                broken_at: Some(row.id),
                reason: Some(reason),
            };
            let Some(stored) = row.hash else {
                if chained {
                    return Ok(broken("审计记录缺少链哈希 (row has no chain hash)".into()));
                }
                continue;
            };
            chained = true;
            let expected = chain_hash(&previous, row.id, &row.entry);
            if stored != expected {
                return Ok(broken(format!(
                    "第{}条审计记录与链不符：记录被修改，或其前面的记录被删除或插入 (hash mismatch)",
                    row.id
                )));
            }
            checked += 1;
            previous = stored;
        }
    }
    Ok(ChainCheck {
        checked,
        broken_at: None,
        reason: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            at: 1,
            user_id: Some("u".into()),
            device_id: None,
            action: action.into(),
            target: None,
            detail: None,
        }
    }

    #[test]
    fn every_field_and_the_previous_hash_go_into_a_rows_hash() {
        let base = chain_hash(&GENESIS, 1, &entry("login"));
        assert_ne!(base, chain_hash(&GENESIS, 2, &entry("login")));
        assert_ne!(base, chain_hash(&GENESIS, 1, &entry("logout")));
        assert_ne!(base, chain_hash(&[1; 32], 1, &entry("login")));
        let mut other = entry("login");
        other.detail = Some(String::new());
        assert_ne!(base, chain_hash(&GENESIS, 1, &other), "None ≠ empty text");
    }
}
