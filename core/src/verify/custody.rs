//! The **signature** check (证据链): each photo's evidence record must carry a valid
//! signature of a device the server registered, made for this very document, by that
//! device's owner, and the file the server holds must still be the file that was signed.
//! Only the server runs it: the phone does not know the other devices' keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{checks, short};
use crate::case::Check;
use crate::custody::{check_seal, SealFault};
use crate::doc::{EvidenceStage, Snapshot};
use crate::roles::Role;
use crate::time::Millis;

/// A device as the server registered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredKey {
    /// The ed25519 public key the device registered (32 bytes).
    pub public_key: [u8; 32],
    /// The person the device is registered to.
    pub user_id: String,
    /// When an admin revoked the device; its signatures are no longer trusted.
    pub revoked_at: Option<Millis>,
}

/// What the server knows for the signature check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustodyFacts {
    /// Registered keys by device id (the devices the evidence names; others may be absent).
    pub keys: BTreeMap<String, RegisteredKey>,
    /// SHA-256 of the bytes the server holds now, by the content address they were
    /// stored under (photos received; a changed file shows here).
    pub stored_sha256: BTreeMap<String, String>,
    /// When the server received each evidence record, by content address: the arrival
    /// time (the server's clock) of the first change that carried it into this document.
    /// A revoked device's signature stays trusted on evidence that arrived before the
    /// revocation; absent means not known to have.
    pub evidence_arrived_at: BTreeMap<String, Millis>,
}

/// Judges the seals of `photos` (stage label, content hash) in `snapshot`.
pub(crate) fn signature_check(
    snapshot: &Snapshot,
    photos: &[(&str, &str)],
    facts: &CustodyFacts,
) -> Check {
    let doc_id = snapshot.header.id;
    let mut problems = Vec::new();
    let mut devices = std::collections::BTreeSet::new();
    let (mut server_received, mut before_revocation) = (0, 0);
    for (label, hash) in photos {
        let Some(evidence) = snapshot.evidence.get(*hash) else {
            continue;
        };
        let photo = format!("{label} 照片 {}", short(hash));
        if let Some(held) = facts.stored_sha256.get(*hash) {
            if held != hash {
                problems.push(format!(
                    "{photo} 的文件在拍摄后被改动：服务器保存的文件 SHA-256 为 {}，与设备拍摄时签名的 {} 不符 (photo file changed after capture)",
                    short(held),
                    short(hash)
                ));
            }
        }
        // A citizen's photo (Open311 `media`) has no device to sign it: the server
        // received the file itself and wrote the report in its own name, so its record is
        // the server's; the file check above still applies.
        if evidence.seal.is_none()
            && snapshot.header.created_role == Role::Server
            && evidence.by == snapshot.header.created_by
            && evidence.stage == EvidenceStage::Before
        {
            server_received += 1;
            continue;
        }
        let Some(seal) = &evidence.seal else {
            problems.push(format!(
                "{photo} 没有设备签名，无法证明它来自登记的手机 (no signature)"
            ));
            continue;
        };
        let Some(key) = facts.keys.get(&seal.device_id) else {
            problems.push(format!(
                "{photo} 由设备 {} 签名，但该设备没有在服务器登记公钥 (unknown device)",
                seal.device_id
            ));
            continue;
        };
        devices.insert(seal.device_id.as_str());
        if let Some(revoked) = key.revoked_at {
            match facts.evidence_arrived_at.get(*hash) {
                // Received before the revocation: what the device signed then stands.
                Some(arrived) if *arrived < revoked => before_revocation += 1,
                Some(arrived) => {
                    problems.push(format!(
                        "{photo} 由设备 {} 签名，该设备已于 {} 被吊销，而此证据 {} 才到达服务器，其签名不再可信 (revoked device)",
                        seal.device_id,
                        when(revoked),
                        when(*arrived)
                    ));
                    continue;
                }
                None => {
                    problems.push(format!(
                        "{photo} 由设备 {} 签名，该设备已于 {} 被吊销，服务器没有吊销前收到此证据的记录，其签名不再可信 (revoked device)",
                        seal.device_id,
                        when(revoked)
                    ));
                    continue;
                }
            }
        }
        if key.user_id != evidence.by {
            problems.push(format!(
                "{photo} 署名为 {}，但签名设备 {} 登记在 {} 名下 (device of another person)",
                evidence.by, seal.device_id, key.user_id
            ));
            continue;
        }
        match check_seal(doc_id, hash, evidence, &key.public_key) {
            Ok(()) => {}
            Err(SealFault::OtherDocument { signed_for }) => problems.push(format!(
                "{photo} 的证据签名属于另一份文档 {signed_for}，被复制到本案 {doc_id} (evidence copied from another document)"
            )),
            Err(SealFault::Missing) => problems.push(format!("{photo} 没有设备签名 (no signature)")),
            Err(SealFault::Malformed) => problems.push(format!(
                "{photo} 的签名格式不对，不是 64 字节的 ed25519 签名 (malformed signature)"
            )),
            Err(SealFault::Mismatch) => problems.push(format!(
                "{photo} 的签名与记录不符：照片、位置、时间或阶段在签名后被改动过 (bad signature)"
            )),
        }
    }
    if problems.is_empty() {
        let mut reason = format!(
            "{} 张照片的证据签名有效，来自 {} 台登记设备 (signatures valid)",
            photos.len() - server_received,
            devices.len()
        );
        if before_revocation > 0 {
            reason.push_str(&format!(
                "；其中 {before_revocation} 张由已吊销的设备签名，但在吊销前已到达服务器 (received before the revocation)"
            ));
        }
        if server_received > 0 {
            reason.push_str(&format!(
                "；{server_received} 张为市民上报照片，由服务器直接接收 (citizen photo received by the server)"
            ));
        }
        Check {
            name: checks::SIGNATURE.to_string(),
            passed: true,
            reason,
        }
    } else {
        Check {
            name: checks::SIGNATURE.to_string(),
            passed: false,
            reason: problems.join("; "),
        }
    }
}

/// A time in China Standard Time, as a person there reads it.
fn when(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| {
            (t + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M (北京时间)")
                .to_string()
        })
        .unwrap_or_else(|| format!("{at} ms"))
}
