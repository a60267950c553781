//! The sync wire format, shared by the device client and the server.
//!
//! One `POST /v1/sync` carries a [`SyncRequest`] and answers a [`SyncResponse`]. Both are
//! postcard-encoded (compact binary: automerge changes travel as raw bytes, no base64) and
//! then zstd-compressed as a whole, because a response batches many small documents that
//! share field names and compressing across them pays.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::doc::DocKind;
use crate::error::{Error, Result};

/// Content type of both bodies.
pub const CONTENT_TYPE: &str = "application/x-fieldloop-sync";
/// Bumped on incompatible changes; the server refuses other versions with a reason.
pub const PROTOCOL_VERSION: u16 = 1;
/// A body larger than this, compressed or not, is refused before it is decoded.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A change hash: automerge's 32-byte SHA-256 of a change.
pub type Head = [u8; 32];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub version: u16,
    pub device_id: Uuid,
    /// The server sequence number up to which the device has applied updates.
    pub cursor: u64,
    /// Documents changed on the device since they were last shared.
    pub pushes: Vec<DocPush>,
    /// Documents the device wants whole (it lost them, or found missing dependencies).
    pub want_full: Vec<Uuid>,
    /// How many update bytes the device takes per page; the server caps it.
    pub page_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocPush {
    pub id: Uuid,
    pub kind: DocKind,
    /// The heads the device last shared with the server; empty for a new document.
    pub shared_heads: Vec<Head>,
    /// `Doc::save_after(shared_heads)`: the device's changes the server lacks.
    pub changes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SyncResponse {
    pub version: u16,
    /// Pushes the server applied, with its heads afterwards (the new shared heads).
    pub acks: Vec<Ack>,
    /// Pushes the server refused; nothing of them was applied.
    pub rejections: Vec<Rejection>,
    /// Documents of the device's scope changed past its cursor, this page.
    pub updates: Vec<DocUpdate>,
    /// The cursor to send next time once `updates` are applied.
    pub cursor: u64,
    /// More updates wait: ask again at once with the new cursor.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub id: Uuid,
    pub heads: Vec<Head>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RejectionKind {
    /// The change breaks a rule (permission, header, server-only event): quarantine it.
    Forbidden,
    /// The shared heads were unknown to the server or dependencies are missing: the
    /// `server_copy` is the whole document; merge it and push again.
    NeedFull,
    /// The bytes were not a valid automerge change.
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub id: Uuid,
    pub kind: RejectionKind,
    /// A reason a person can read.
    pub reason: String,
    /// The server's whole copy of the document, when it has one, so the device can rebuild
    /// on top of it.
    pub server_copy: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocUpdate {
    pub id: Uuid,
    pub kind: DocKind,
    /// The whole document (it just entered the device's scope, or the device asked), or
    /// only the changes after the heads the server knows the device has.
    pub full: bool,
    pub bytes: Vec<u8>,
    /// The server's heads for this document after these bytes: the new shared heads.
    pub heads: Vec<Head>,
}

/// Postcard, then zstd.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>> {
    let raw = postcard::to_stdvec(message).map_err(|e| Error::Sync(format!("encode: {e}")))?;
    zstd::bulk::compress(&raw, 3).map_err(Error::Io)
}

/// The inverse of [`encode`], refusing bodies over [`MAX_BODY_BYTES`] before decompressing.
pub fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::invalid(
            "sync body",
            format!("{} bytes is over the limit", body.len()),
        ));
    }
    let raw = zstd::bulk::decompress(body, MAX_BODY_BYTES)
        .map_err(|e| Error::invalid("sync body", format!("not zstd: {e}")))?;
    postcard::from_bytes(&raw).map_err(|e| Error::invalid("sync body", format!("malformed: {e}")))
}

pub fn heads_to_wire(heads: &[automerge::ChangeHash]) -> Vec<Head> {
    heads.iter().map(|h| h.0).collect()
}

pub fn heads_from_wire(heads: &[Head]) -> Vec<automerge::ChangeHash> {
    heads.iter().map(|h| automerge::ChangeHash(*h)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_garbage_is_refused() {
        let request = SyncRequest {
            version: PROTOCOL_VERSION,
            device_id: Uuid::now_v7(),
            cursor: 42,
            pushes: vec![DocPush {
                id: Uuid::now_v7(),
                kind: DocKind::Case,
                shared_heads: vec![[7; 32]],
                changes: vec![1, 2, 3],
            }],
            want_full: vec![],
            page_bytes: 1 << 20,
        };
        let body = encode(&request).unwrap();
        assert_eq!(decode::<SyncRequest>(&body).unwrap(), request);
        assert!(matches!(
            decode::<SyncRequest>(b"not a body"),
            Err(Error::Invalid { .. })
        ));
        let truncated = &body[..body.len() / 2];
        assert!(decode::<SyncRequest>(truncated).is_err());
    }
}
