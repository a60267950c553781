//! Chain of custody (证据链): every evidence record is signed at capture with the
//! capturing device's ed25519 key, and the verdict checks the signature against the key
//! the device registered with the server. See DESIGN.md, "Evidence integrity".
//!
//! Sans-I/O: the store keeps the key and hands it over; this module only encodes,
//! signs and verifies.
//!
//! The signature covers a canonical byte encoding of the record, not its JSON: JSON text
//! is free in field order and number spelling, and a document may be re-serialised on the
//! way. Coordinates are encoded as whole 1e-7 degrees (about 1 cm) and accuracy as whole
//! centimetres, so a float that does not survive a JSON round trip to the last bit still
//! encodes the same.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use uuid::Uuid;

use crate::doc::{Evidence, EvidenceStage, Seal};
use crate::error::{Error, Result};

/// Domain separation: these bytes can never be mistaken for another signed message.
const DOMAIN: &[u8] = b"fieldloop/evidence/v1\0";

/// A device's signing key with the device id it was registered under.
#[derive(Clone)]
pub struct EvidenceSigner {
    device_id: String,
    key: SigningKey,
}

impl std::fmt::Debug for EvidenceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("EvidenceSigner")
            .field("device_id", &self.device_id)
            .field("public_key", &self.public_key_hex())
            .finish()
    }
}

impl EvidenceSigner {
    /// The key from its 32-byte secret seed (as the store keeps it).
    pub fn from_secret(device_id: impl Into<String>, secret: &[u8; 32]) -> EvidenceSigner {
        EvidenceSigner {
            device_id: device_id.into(),
            key: SigningKey::from_bytes(secret),
        }
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The public key as registered with the server: 32 bytes, lower-case hex.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// Signs `evidence` as evidence `content_hash` of document `doc_id`, replacing any
    /// seal it had.
    pub fn seal(
        &self,
        doc_id: Uuid,
        content_hash: &str,
        mut evidence: Evidence,
    ) -> Result<Evidence> {
        evidence.seal = None;
        let bytes = record_bytes(doc_id, content_hash, &self.device_id, &evidence)?;
        let signature = self.key.sign(&bytes);
        evidence.seal = Some(Seal {
            device_id: self.device_id.clone(),
            doc_id,
            signature: hex::encode(signature.to_bytes()),
        });
        Ok(evidence)
    }
}

/// Parses a registered public key (64 hex digits that are a valid ed25519 point).
pub fn parse_public_key(text: &str) -> Result<[u8; 32]> {
    let bytes: [u8; 32] = hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::invalid("public key", "an ed25519 public key is 64 hex digits"))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| Error::invalid("public key", "not a valid ed25519 public key"))?;
    Ok(bytes)
}

/// Why a seal does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealFault {
    /// The record carries no signature.
    Missing,
    /// Signed for another document: the evidence was copied here.
    OtherDocument { signed_for: Uuid },
    /// The signature is not 64 hex bytes, or the registered key is unusable.
    Malformed,
    /// The signature does not match the record: something was changed after signing.
    Mismatch,
}

/// Checks the seal of evidence `content_hash` of document `doc_id` against the signing
/// device's public key.
pub fn check_seal(
    doc_id: Uuid,
    content_hash: &str,
    evidence: &Evidence,
    public_key: &[u8; 32],
) -> std::result::Result<(), SealFault> {
    let Some(seal) = &evidence.seal else {
        return Err(SealFault::Missing);
    };
    if seal.doc_id != doc_id {
        return Err(SealFault::OtherDocument {
            signed_for: seal.doc_id,
        });
    }
    let signature: [u8; 64] = hex::decode(&seal.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SealFault::Malformed)?;
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| SealFault::Malformed)?;
    let unsealed = Evidence {
        seal: None,
        ..evidence.clone()
    };
    let bytes = record_bytes(doc_id, content_hash, &seal.device_id, &unsealed)
        .map_err(|_| SealFault::Mismatch)?;
    key.verify(&bytes, &Signature::from_bytes(&signature))
        .map_err(|_| SealFault::Mismatch)
}

/// The canonical encoding of one evidence record: fixed field order, big-endian
/// integers, length-prefixed text, a presence byte before each optional value.
pub fn record_bytes(
    doc_id: Uuid,
    content_hash: &str,
    device_id: &str,
    evidence: &Evidence,
) -> Result<Vec<u8>> {
    let mut out = Encoder(Vec::with_capacity(256));
    out.0.extend_from_slice(DOMAIN);
    out.0.extend_from_slice(doc_id.as_bytes());
    out.text(content_hash);
    out.opt_text(evidence.original_sha256.as_deref());
    out.text(stage_name(evidence.stage));
    out.i64(evidence.taken_at);
    match &evidence.position {
        Some(p) => {
            out.0.push(1);
            out.i64(fixed(p.lat, 1e7, "latitude")?);
            out.i64(fixed(p.lon, 1e7, "longitude")?);
            out.i64(fixed(p.accuracy_m, 100.0, "accuracy")?);
        }
        None => out.0.push(0),
    }
    out.0.push(u8::from(evidence.mock));
    out.text(&evidence.by);
    out.text(device_id);
    match evidence.phash {
        Some(p) => {
            out.0.push(1);
            out.0.extend_from_slice(&p.to_be_bytes());
        }
        None => out.0.push(0),
    }
    out.opt_text(evidence.item.as_deref());
    match &evidence.exif {
        Some(x) => {
            out.0.push(1);
            out.opt_i64(x.local_time);
            out.opt_i64(x.offset_minutes.map(i64::from));
            out.opt_i64(x.lat.map(|v| fixed(v, 1e7, "EXIF latitude")).transpose()?);
            out.opt_i64(x.lon.map(|v| fixed(v, 1e7, "EXIF longitude")).transpose()?);
        }
        None => out.0.push(0),
    }
    Ok(out.0)
}

fn stage_name(stage: EvidenceStage) -> &'static str {
    match stage {
        EvidenceStage::Before => "before",
        EvidenceStage::After => "after",
        EvidenceStage::Verification => "verification",
        EvidenceStage::Finding => "finding",
    }
}

/// `value × scale` rounded to a whole number; refuses what is not a finite number.
fn fixed(value: f64, scale: f64, what: &'static str) -> Result<i64> {
    let scaled = (value * scale).round();
    if !scaled.is_finite() || scaled.abs() > 9.0e15 {
        return Err(Error::invalid(
            what,
            format!("{value} is not a usable number"),
        ));
    }
    Ok(scaled as i64)
}

struct Encoder(Vec<u8>);

impl Encoder {
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.0.push(1);
                self.i64(v);
            }
            None => self.0.push(0),
        }
    }
    fn text(&mut self, s: &str) {
        self.0.extend_from_slice(&(s.len() as u64).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.0.push(1);
                self.text(s);
            }
            None => self.0.push(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{ExifFacts, Position};

    fn record() -> Evidence {
        Evidence {
            stage: EvidenceStage::After,
            taken_at: 1_767_225_600_000,
            position: Some(Position {
                lat: 31.230416,
                lon: 121.473701,
                accuracy_m: 8.5,
            }),
            by: "handler-1".into(),
            phash: Some(0x0123_4567_89ab_cdef),
            item: None,
            mock: false,
            original_sha256: Some("aa".repeat(32)),
            exif: Some(ExifFacts {
                local_time: Some(1_767_254_400_000),
                offset_minutes: Some(480),
                lat: Some(31.2304),
                lon: None,
            }),
            seal: None,
        }
    }

    fn signer() -> EvidenceSigner {
        EvidenceSigner::from_secret("device-1", &[7u8; 32])
    }

    fn public(s: &EvidenceSigner) -> [u8; 32] {
        parse_public_key(&s.public_key_hex()).unwrap()
    }

    #[test]
    fn a_sealed_record_verifies_and_survives_json() {
        let s = signer();
        let doc = Uuid::from_u128(1);
        let sealed = s.seal(doc, "ab12", record()).unwrap();
        assert_eq!(check_seal(doc, "ab12", &sealed, &public(&s)), Ok(()));
        let json = serde_json::to_string(&sealed).unwrap();
        let back: Evidence = serde_json::from_str(&json).unwrap();
        assert_eq!(check_seal(doc, "ab12", &back, &public(&s)), Ok(()));
    }

    #[test]
    fn every_signed_fact_is_covered() {
        let s = signer();
        let doc = Uuid::from_u128(1);
        let sealed = s.seal(doc, "ab12", record()).unwrap();
        let key = public(&s);
        let changes: Vec<fn(&mut Evidence)> = vec![
            (|e| e.stage = EvidenceStage::Verification),
            (|e| e.taken_at += 1),
            (|e| e.position.as_mut().unwrap().lat += 0.0001),
            (|e| e.position.as_mut().unwrap().accuracy_m = 50.0),
            (|e| e.mock = true),
            (|e| e.by = "someone-else".into()),
            (|e| e.original_sha256 = None),
            (|e| e.exif.as_mut().unwrap().local_time = None),
            (|e| e.phash = Some(0)),
            (|e| e.seal.as_mut().unwrap().device_id = "device-2".into()),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut e = sealed.clone();
            change(&mut e);
            assert_eq!(
                check_seal(doc, "ab12", &e, &key),
                Err(SealFault::Mismatch),
                "change {i}"
            );
        }
        // Another photo address under the same record.
        assert_eq!(
            check_seal(doc, "ab13", &sealed, &key),
            Err(SealFault::Mismatch)
        );
        // Another device's key.
        let other = EvidenceSigner::from_secret("device-1", &[8u8; 32]);
        assert_eq!(
            check_seal(doc, "ab12", &sealed, &public(&other)),
            Err(SealFault::Mismatch)
        );
    }

    #[test]
    fn copied_missing_and_malformed_seals_are_told_apart() {
        let s = signer();
        let key = public(&s);
        let doc = Uuid::from_u128(1);
        let sealed = s.seal(doc, "ab12", record()).unwrap();
        assert_eq!(
            check_seal(Uuid::from_u128(2), "ab12", &sealed, &key),
            Err(SealFault::OtherDocument { signed_for: doc })
        );
        assert_eq!(
            check_seal(doc, "ab12", &record(), &key),
            Err(SealFault::Missing)
        );
        let mut bad = sealed.clone();
        bad.seal.as_mut().unwrap().signature = "zz".into();
        assert_eq!(
            check_seal(doc, "ab12", &bad, &key),
            Err(SealFault::Malformed)
        );
    }

    #[test]
    fn public_keys_are_checked_when_parsed() {
        assert!(parse_public_key(&signer().public_key_hex()).is_ok());
        assert!(parse_public_key("abcd").is_err());
        assert!(parse_public_key(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn non_finite_positions_cannot_be_signed() {
        let mut e = record();
        e.position.as_mut().unwrap().lat = f64::NAN;
        assert!(signer().seal(Uuid::from_u128(1), "ab12", e).is_err());
    }
}
