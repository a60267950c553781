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
use crate::reference::KindData;

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
    /// The reference version the device holds (0: none). Appended after protocol 1
    /// shipped: an older app's body ends before it and decodes with `None`.
    pub reference_version: Option<u64>,
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
    /// The newest reference data, when the device said it holds an older version.
    /// Appended like `SyncRequest::reference_version`; an older app ignores it.
    pub reference: Option<ReferenceUpdate>,
}

/// A whole reference version: the newest canonical JSON of every kind the city imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceUpdate {
    pub version: u64,
    pub kinds: Vec<KindData>,
}

/// A message that grew fields at its end since protocol 1: the shape before them, so a
/// body from an older peer still decodes (postcard ignores trailing bytes the other way).
pub trait Message: Serialize + for<'de> Deserialize<'de> {
    type Older: for<'de> Deserialize<'de>;
    fn from_older(older: Self::Older) -> Self;
}

#[derive(Deserialize)]
pub struct SyncRequestV1 {
    version: u16,
    device_id: Uuid,
    cursor: u64,
    pushes: Vec<DocPush>,
    want_full: Vec<Uuid>,
    page_bytes: u32,
}

impl Message for SyncRequest {
    type Older = SyncRequestV1;
    fn from_older(v1: SyncRequestV1) -> SyncRequest {
        SyncRequest {
            version: v1.version,
            device_id: v1.device_id,
            cursor: v1.cursor,
            pushes: v1.pushes,
            want_full: v1.want_full,
            page_bytes: v1.page_bytes,
            reference_version: None,
        }
    }
}

#[derive(Deserialize)]
pub struct SyncResponseV1 {
    version: u16,
    acks: Vec<Ack>,
    rejections: Vec<Rejection>,
    updates: Vec<DocUpdate>,
    cursor: u64,
    more: bool,
}

impl Message for SyncResponse {
    type Older = SyncResponseV1;
    fn from_older(v1: SyncResponseV1) -> SyncResponse {
        SyncResponse {
            version: v1.version,
            acks: v1.acks,
            rejections: v1.rejections,
            updates: v1.updates,
            cursor: v1.cursor,
            more: v1.more,
            reference: None,
        }
    }
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

/// The inverse of [`encode`], refusing bodies over [`MAX_BODY_BYTES`] before decompressing;
/// a body in the message's older shape decodes with the newer fields absent.
pub fn decode<T: Message>(body: &[u8]) -> Result<T> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::invalid(
            "sync body",
            format!("{} bytes is over the limit", body.len()),
        ));
    }
    let raw = decompress_bounded(body)?;
    let malformed = |e: postcard::Error| Error::invalid("sync body", format!("malformed: {e}"));
    match postcard::from_bytes::<T>(&raw) {
        Err(postcard::Error::DeserializeUnexpectedEnd) => postcard::from_bytes::<T::Older>(&raw)
            .map(T::from_older)
            .map_err(malformed),
        decoded => decoded.map_err(malformed),
    }
}

/// Decompresses one body of at most [`MAX_BODY_BYTES`], allocating the size its frame
/// declares rather than the limit: a 32 MiB buffer per message, on a server answering
/// hundreds of phones at once, is memory the answer never uses. A frame that declares no
/// size is read as a stream, up to the limit.
fn decompress_bounded(body: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let not_zstd = |e: std::io::Error| Error::invalid("sync body", format!("not zstd: {e}"));
    let over = |n: u64| {
        Error::invalid(
            "sync body",
            format!("{n} bytes decompressed is over the limit of {MAX_BODY_BYTES}"),
        )
    };
    match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(declared)) => {
            if declared > MAX_BODY_BYTES as u64 {
                return Err(over(declared));
            }
            // A frame holding more than it declares fails here, whatever it says.
            zstd::bulk::decompress(body, declared as usize).map_err(not_zstd)
        }
        Ok(None) => {
            let mut raw = Vec::new();
            zstd::stream::read::Decoder::new(body)
                .map_err(not_zstd)?
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut raw)
                .map_err(not_zstd)?;
            if raw.len() > MAX_BODY_BYTES {
                return Err(over(raw.len() as u64));
            }
            Ok(raw)
        }
        Err(e) => Err(Error::invalid("sync body", format!("not zstd: {e:?}"))),
    }
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
            reference_version: Some(3),
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

    #[test]
    fn a_body_decompressing_past_the_limit_is_refused_with_or_without_a_declared_size() {
        let bomb = vec![0u8; MAX_BODY_BYTES + 1];
        let declared = zstd::bulk::compress(&bomb, 1).unwrap();
        assert!(declared.len() < 64 * 1024, "a small body");
        let streamed = zstd::stream::encode_all(&bomb[..], 1).unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(),
            None,
            "a stream declares no size"
        );
        for body in [&declared, &streamed] {
            let refused = decode::<SyncRequest>(body).unwrap_err().to_string();
            assert!(refused.contains("over the limit"), "{refused}");
        }
        // A stream within the limit decodes like a sized frame.
        let request = SyncRequest {
            version: PROTOCOL_VERSION,
            device_id: Uuid::now_v7(),
            cursor: 7,
            pushes: vec![],
            want_full: vec![Uuid::now_v7()],
            page_bytes: 4096,
            reference_version: None,
        };
        let raw = postcard::to_stdvec(&request).unwrap();
        let streamed = zstd::stream::encode_all(&raw[..], 3).unwrap();
        assert_eq!(decode::<SyncRequest>(&streamed).unwrap(), request);
    }

    /// Protocol-1 shapes, as an app and a server from before reference sync encode them.
    #[derive(Serialize, Deserialize)]
    struct OldRequest {
        version: u16,
        device_id: Uuid,
        cursor: u64,
        pushes: Vec<DocPush>,
        want_full: Vec<Uuid>,
        page_bytes: u32,
    }

    #[derive(Serialize, Deserialize)]
    struct OldResponse {
        version: u16,
        acks: Vec<Ack>,
        rejections: Vec<Rejection>,
        updates: Vec<DocUpdate>,
        cursor: u64,
        more: bool,
    }

    #[test]
    fn old_and_new_peers_understand_each_other() {
        let device_id = Uuid::now_v7();
        let old = OldRequest {
            version: PROTOCOL_VERSION,
            device_id,
            cursor: 9,
            pushes: vec![],
            want_full: vec![Uuid::now_v7()],
            page_bytes: 4096,
        };
        let request: SyncRequest = decode(&encode(&old).unwrap()).unwrap();
        assert_eq!((request.device_id, request.cursor), (device_id, 9));
        assert_eq!(request.want_full, old.want_full);
        assert_eq!(request.reference_version, None);

        let response = SyncResponse {
            version: PROTOCOL_VERSION,
            cursor: 12,
            more: true,
            reference: Some(ReferenceUpdate {
                version: 4,
                kinds: vec![KindData {
                    kind: "units".into(),
                    json: "[]".into(),
                }],
            }),
            ..SyncResponse::default()
        };
        let body = encode(&response).unwrap();
        assert_eq!(decode::<SyncResponse>(&body).unwrap(), response);
        // An old app reads the new response and ignores the reference at its end.
        let raw = zstd::bulk::decompress(&body, MAX_BODY_BYTES).unwrap();
        let seen_by_old: OldResponse = postcard::from_bytes(&raw).unwrap();
        assert_eq!((seen_by_old.cursor, seen_by_old.more), (12, true));
        // A new app reads an old server's response.
        let from_old_server = OldResponse {
            version: PROTOCOL_VERSION,
            acks: vec![],
            rejections: vec![],
            updates: vec![],
            cursor: 5,
            more: false,
        };
        let decoded: SyncResponse = decode(&encode(&from_old_server).unwrap()).unwrap();
        assert_eq!((decoded.cursor, decoded.reference), (5, None));
    }
}
