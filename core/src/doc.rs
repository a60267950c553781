//! The shared shape of every fieldloop document (case, notice, site inspection, patrol,
//! patrol plan) in automerge: an immutable header, a few last-writer-wins fields, an
//! append-only event log and an evidence map.
//!
//! Every value is a plain scalar so documents stay small: the header, each event and each
//! evidence entry are one JSON string each. The log is an automerge list, so concurrent
//! appends from two offline phones merge as a union. Reading sorts events by
//! (time, author, id), which is the order every fold uses.

use std::collections::BTreeMap;

use automerge::{
    transaction::Transactable, ActorId, AutoCommit, ChangeHash, ObjType, ReadDoc, ScalarValue,
    Value, ROOT,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::roles::Role;
use crate::time::Millis;

/// Bumped when the document layout changes; old documents keep theirs in the header.
pub const SCHEMA_VERSION: u32 = 1;

const HEADER: &str = "header";
const FIELDS: &str = "fields";
const EVENTS: &str = "events";
const EVIDENCE: &str = "evidence";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum DocKind {
    Case,
    Notice,
    SiteInspection,
    Patrol,
    PatrolPlan,
}

/// A position as a phone reports it, WGS-84.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy radius in metres, as the phone reports it.
    pub accuracy_m: f64,
}

/// Where a document belongs, for permissions and for which devices receive it.
/// The header fixes where it was created; a case's unit comes from its dispatch events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DocScope {
    /// 15-digit grid cell code (单元网格).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_cell: Option<String>,
    /// Responsible unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Construction project (water works).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// River segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

/// Written once at creation; the server rejects any change to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Header {
    pub id: Uuid,
    pub kind: DocKind,
    pub schema: u32,
    pub created_by: String,
    pub created_role: Role,
    pub created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// Category code (大类+小类) for cases, stage for inspections; free per kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub scope: DocScope,
}

/// One entry of the append-only log. `kind` is the event type ("case.registered", …);
/// `data` holds its type-specific fields as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: Millis,
    pub by: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(
        id: Uuid,
        kind: &str,
        at: Millis,
        by: &str,
        role: Role,
        data: serde_json::Value,
    ) -> Event {
        Event {
            id,
            kind: kind.to_owned(),
            at,
            by: by.to_owned(),
            role,
            data,
        }
    }

    /// An event the server writes in its own name.
    pub fn by_server(
        id: Uuid,
        kind: &str,
        at: Millis,
        server: &str,
        data: serde_json::Value,
    ) -> Event {
        Event::new(id, kind, at, server, Role::Server, data)
    }

    /// The order every fold uses: time, then author, then id, so all devices agree.
    pub fn fold_key(&self) -> (Millis, &str, Uuid) {
        (self.at, self.by.as_str(), self.id)
    }

    /// Decodes `data` into a type-specific struct.
    pub fn data_as<T: for<'de> Deserialize<'de>>(&self) -> Result<T> {
        serde_json::from_value(self.data.clone())
            .map_err(|e| Error::invalid("event data", format!("{} ({}): {e}", self.kind, self.id)))
    }
}

/// The stage a photo proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum EvidenceStage {
    /// At report: the problem as found.
    Before,
    /// After handling: the fix, by the handler or contractor.
    After,
    /// The inspector's on-site verification photo (核查).
    Verification,
    /// A site-inspection or patrol finding.
    Finding,
}

/// Metadata of one photo, keyed in the document by the processed file's SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Evidence {
    pub stage: EvidenceStage,
    pub taken_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    pub by: String,
    /// 64-bit perceptual hash, for reuse detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phash: Option<u64>,
    /// Notice item or checklist item this photo answers, when it answers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The OS said the position came from a mock-location provider (recorded at capture,
    /// as for patrol fixes): such a position proves nothing about where the photo was
    /// taken. Absent in documents written before the flag was recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mock: bool,
    /// SHA-256 (hex) of the file as the camera handed it over, before processing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_sha256: Option<String>,
    /// What the photo's own EXIF said at capture. The processed file carries no EXIF,
    /// so these facts travel here, under the signature, for the server to compare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exif: Option<ExifFacts>,
    /// The capturing device's signature over this record (see [`crate::custody`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
}

impl Evidence {
    /// A photo record with only what every capture has: stage, time, place and author.
    /// The rest (pHash, item, mock flag, EXIF, original hash, seal) starts empty.
    pub fn new(
        stage: EvidenceStage,
        taken_at: Millis,
        position: Option<Position>,
        by: impl Into<String>,
    ) -> Evidence {
        Evidence {
            stage,
            taken_at,
            position,
            by: by.into(),
            phash: None,
            item: None,
            mock: false,
            original_sha256: None,
            exif: None,
            seal: None,
        }
    }
}

/// The time and place a photo's own EXIF block recorded, each when present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ExifFacts {
    /// DateTimeOriginal, the camera's wall clock counted as if it were UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_time: Option<Millis>,
    /// OffsetTimeOriginal in minutes east of UTC, when the camera wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_minutes: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// A device's ed25519 signature over one evidence record, made at capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Seal {
    /// The device (as registered with the server) whose key signed.
    pub device_id: String,
    /// The document the record was signed for: evidence copied elsewhere still names it.
    pub doc_id: Uuid,
    /// 64-byte signature, lower-case hex.
    pub signature: String,
}

/// An event a fold kept in the log but gave no effect, and why: the log is the audit
/// trail, so an event illegal where it lands is never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Ignored {
    pub event: Uuid,
    pub kind: String,
    pub reason: String,
}

/// Everything a fold needs, read out of the document at once. Serializable so a server
/// can keep it beside the document and fold without loading automerge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub header: Header,
    pub fields: BTreeMap<String, String>,
    /// Editable fields two writers set concurrently (automerge keeps both): every value
    /// kept, until someone allowed to edit the field picks one. `fields` holds automerge's
    /// arbitrary winner meanwhile, so nothing may read it as settled.
    pub conflicts: BTreeMap<String, Vec<String>>,
    /// Sorted by [`Event::fold_key`].
    pub events: Vec<Event>,
    pub evidence: BTreeMap<String, Evidence>,
}

/// A document in automerge. Cheap to create; load and save are explicit.
#[derive(Debug, Clone)]
pub struct Doc {
    am: AutoCommit,
}

fn obj(am: &AutoCommit, key: &str) -> Result<automerge::ObjId> {
    match am.get(ROOT, key)? {
        Some((Value::Object(_), id)) => Ok(id),
        _ => Err(Error::invalid("document", format!("no {key} object"))),
    }
}

fn as_str(value: &Value<'_>) -> Option<String> {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

impl Doc {
    /// A new document written by `actor` (the device's or the server's stable actor id).
    pub fn create(header: &Header, actor: &ActorId) -> Result<Doc> {
        let mut am = AutoCommit::new().with_actor(actor.clone());
        am.put(ROOT, HEADER, serde_json::to_string(header)?)?;
        am.put_object(ROOT, FIELDS, ObjType::Map)?;
        am.put_object(ROOT, EVENTS, ObjType::List)?;
        am.put_object(ROOT, EVIDENCE, ObjType::Map)?;
        am.commit();
        Ok(Doc { am })
    }

    /// Loads saved bytes (a full save, optionally followed by incremental saves).
    pub fn load(bytes: &[u8], actor: &ActorId) -> Result<Doc> {
        chunks_of_kinds(bytes, FIELDLOOP_CHUNKS)?;
        let am = decoding("a document", || Ok(AutoCommit::load(bytes)?))?;
        Ok(Doc {
            am: am.with_actor(actor.clone()),
        })
    }

    /// An empty document with no history, to receive a full copy from a peer.
    pub fn empty(actor: &ActorId) -> Doc {
        Doc {
            am: AutoCommit::new().with_actor(actor.clone()),
        }
    }

    pub fn header(&self) -> Result<Header> {
        match self.am.get(ROOT, HEADER)? {
            Some((v, _)) => {
                let s = as_str(&v)
                    .ok_or_else(|| Error::invalid("document", "header is not a string"))?;
                Ok(serde_json::from_str(&s)?)
            }
            None => Err(Error::invalid("document", "no header")),
        }
    }

    /// The header as stored, byte for byte, so a validator can tell it never changed.
    pub fn raw_header(&self) -> Result<Option<String>> {
        Ok(self.am.get(ROOT, HEADER)?.and_then(|(v, _)| as_str(&v)))
    }

    pub fn field(&self, name: &str) -> Result<Option<String>> {
        let fields = obj(&self.am, FIELDS)?;
        Ok(self.am.get(&fields, name)?.and_then(|(v, _)| as_str(&v)))
    }

    pub fn fields(&self) -> Result<BTreeMap<String, String>> {
        let fields = obj(&self.am, FIELDS)?;
        let mut out = BTreeMap::new();
        for key in self.am.keys(&fields) {
            if let Some((v, _)) = self.am.get(&fields, &key)? {
                if let Some(s) = as_str(&v) {
                    out.insert(key, s);
                }
            }
        }
        Ok(out)
    }

    /// The fields with concurrent values (see [`Snapshot::conflicts`]), values sorted.
    pub fn field_conflicts(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let fields = obj(&self.am, FIELDS)?;
        let mut out = BTreeMap::new();
        for key in self.am.keys(&fields) {
            let all = self.am.get_all(&fields, &key)?;
            if all.len() > 1 {
                let mut values: Vec<String> = all.iter().filter_map(|(v, _)| as_str(v)).collect();
                values.sort();
                values.dedup();
                out.insert(key, values);
            }
        }
        Ok(out)
    }

    /// Settles a conflicted field on one of its values: a write that supersedes every
    /// concurrent one this document has seen.
    pub fn resolve_field(&mut self, name: &str, value: &str) -> Result<()> {
        let conflicts = self.field_conflicts()?;
        let Some(values) = conflicts.get(name) else {
            return Err(Error::invalid(
                "field",
                format!("{name} has no conflicting values"),
            ));
        };
        if !values.iter().any(|v| v == value) {
            return Err(Error::invalid(
                "field",
                format!("{value:?} is not one of the values of {name}"),
            ));
        }
        self.set_field(name, value)
    }

    /// Last writer wins; meant for description, address and the like.
    pub fn set_field(&mut self, name: &str, value: &str) -> Result<()> {
        let fields = obj(&self.am, FIELDS)?;
        self.am.put(&fields, name, value)?;
        self.am.commit();
        Ok(())
    }

    /// Appends to the log. Events are never edited or removed.
    pub fn append_event(&mut self, event: &Event) -> Result<()> {
        let events = obj(&self.am, EVENTS)?;
        let len = self.am.length(&events);
        self.am
            .insert(&events, len, serde_json::to_string(event)?)?;
        self.am.commit();
        Ok(())
    }

    /// The log sorted by [`Event::fold_key`]. An entry that does not parse is an error:
    /// the server never accepts one, so it means the bytes are damaged.
    pub fn events(&self) -> Result<Vec<Event>> {
        let events = obj(&self.am, EVENTS)?;
        let mut out = Vec::with_capacity(self.am.length(&events));
        for item in self.am.list_range(&events, ..) {
            let s = as_str(&Value::from(item.value))
                .ok_or_else(|| Error::invalid("event", "not a string"))?;
            out.push(serde_json::from_str::<Event>(&s)?);
        }
        out.sort_by(|a, b| a.fold_key().cmp(&b.fold_key()));
        // Two merges of the same event (same id) count once.
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }

    /// Adds a photo reference. The first entry for a hash wins: evidence is never rewritten.
    pub fn add_evidence(&mut self, content_hash: &str, evidence: &Evidence) -> Result<bool> {
        let map = obj(&self.am, EVIDENCE)?;
        if self.am.get(&map, content_hash)?.is_some() {
            return Ok(false);
        }
        self.am
            .put(&map, content_hash, serde_json::to_string(evidence)?)?;
        self.am.commit();
        Ok(true)
    }

    pub fn evidence(&self) -> Result<BTreeMap<String, Evidence>> {
        let map = obj(&self.am, EVIDENCE)?;
        let mut out = BTreeMap::new();
        for key in self.am.keys(&map) {
            if let Some((v, _)) = self.am.get(&map, &key)? {
                let s = as_str(&v).ok_or_else(|| Error::invalid("evidence", "not a string"))?;
                out.insert(key, serde_json::from_str(&s)?);
            }
        }
        Ok(out)
    }

    pub fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot {
            header: self.header()?,
            fields: self.fields()?,
            conflicts: self.field_conflicts()?,
            events: self.events()?,
            evidence: self.evidence()?,
        })
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.am.get_heads()
    }

    /// Full compressed save.
    pub fn save(&mut self) -> Vec<u8> {
        self.am.save()
    }

    /// Full save without automerge's per-column DEFLATE, for a message whose body is
    /// compressed as a whole anyway: compressing twice costs CPU and gains nothing.
    pub fn save_uncompressed(&mut self) -> Vec<u8> {
        self.am.save_nocompress()
    }

    /// The changes since the last `save`/`save_incremental`, for appending to a store.
    pub fn save_incremental(&mut self) -> Vec<u8> {
        self.am.save_incremental()
    }

    /// The changes a peer that has `heads` lacks, as one byte string `load_changes` takes.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.am.save_after(heads)
    }

    /// Applies bytes from `save`, `save_incremental` or `save_after`. On an error the
    /// document may hold part of them: callers drop it (every caller loads into a copy or
    /// a document it has not stored yet).
    pub fn load_changes(&mut self, bytes: &[u8]) -> Result<usize> {
        self.load_chunks(bytes, FIELDLOOP_CHUNKS)
    }

    /// [`Doc::load_changes`] for what a phone pushes: changes only (chunk types 1 and 2),
    /// as `save_after` writes them. A document chunk's columns may be DEFLATE-compressed,
    /// each inflated whole by automerge; a push has no reason to carry one, so the server
    /// never parses them.
    pub fn load_pushed_changes(&mut self, bytes: &[u8]) -> Result<usize> {
        self.load_chunks(bytes, (&[1, 2], "changes"))
    }

    fn load_chunks(&mut self, bytes: &[u8], kinds: ChunkKinds) -> Result<usize> {
        chunks_of_kinds(bytes, kinds)?;
        decoding("changes", || Ok(self.am.load_incremental(bytes)?))
    }

    /// Heads we were told about but do not have: a sign that shared heads are stale.
    pub fn missing_deps(&mut self, heads: &[ChangeHash]) -> Vec<ChangeHash> {
        self.am.get_missing_deps(heads)
    }

    pub fn merge(&mut self, other: &mut Doc) -> Result<()> {
        self.am.merge(&mut other.am)?;
        Ok(())
    }

    /// The automerge document itself, for sync machinery and benchmarks.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.am
    }
}

/// Runs automerge's decoding of bytes from the network or a file. automerge 0.12's
/// column decoders (hexane) panic on some malformed input instead of returning an error
/// (two inputs found by `scripts/fuzz`, kept in `fuzz/regressions/`); such input must be
/// refused with a reason like any other bad bytes, not take down a request or an app.
pub fn decoding<T>(what: &'static str, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|_| {
        Err(Error::invalid(
            "automerge bytes",
            format!("{what} that do not decode (malformed columns)"),
        ))
    })
}

/// automerge's chunk header: magic bytes, checksum (4), chunk type (1), LEB128 length.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// The automerge chunk types fieldloop writes: documents (type 0) and changes (1, or 2
/// compressed). Type 3 is a "bundle" (made only by automerge's `bundle` calls). Every
/// input the fuzzer found that panics automerge's decoder, or makes it allocate gigabytes
/// from 185 bytes (a delta column's run length collected whole), is a bundle; refusing
/// other types keeps that parser away from the network.
const FIELDLOOP_CHUNKS: ChunkKinds = (&[0, 1, 2], "documents and changes");

/// Chunk types taken, and what they are called in a refusal.
type ChunkKinds = (&'static [u8], &'static str);

/// Refuses bytes holding a chunk of a type not `allowed`, and a compressed change that
/// inflates too far, before automerge parses anything. The walk stops where a header does
/// not parse: automerge stops there too.
fn chunks_of_kinds(bytes: &[u8], (allowed, what): ChunkKinds) -> Result<()> {
    let mut rest = bytes;
    while rest.len() > 9 && rest[..4] == CHUNK_MAGIC {
        let kind = rest[8];
        if !allowed.contains(&kind) {
            return Err(Error::invalid(
                "automerge bytes",
                format!("a chunk of type {kind} where only {what} are taken"),
            ));
        }
        let Some((len, used)) = leb128_u64(&rest[9..]) else {
            break;
        };
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| (9 + used).checked_add(len))
            .filter(|&end| end <= rest.len());
        let Some(end) = end else {
            break;
        };
        if kind == 2 {
            inflates_within_bounds(&rest[9 + used..end])?;
        }
        rest = &rest[end..];
    }
    Ok(())
}

/// The most a compressed change may inflate to; fieldloop's changes are a few KB.
const MAX_INFLATED_CHANGE: u64 = 8 * 1024 * 1024;

/// automerge inflates a compressed change into one buffer, however large: a few KB of
/// DEFLATE can claim gigabytes. Counted here first, streaming, without keeping it.
fn inflates_within_bounds(deflated: &[u8]) -> Result<()> {
    let mut inflated = std::io::Read::take(
        flate2::read::DeflateDecoder::new(deflated),
        MAX_INFLATED_CHANGE + 1,
    );
    // A stream that does not inflate is automerge's to refuse, with its own reason.
    let size = std::io::copy(&mut inflated, &mut std::io::sink()).unwrap_or(0);
    if size > MAX_INFLATED_CHANGE {
        return Err(Error::invalid(
            "automerge bytes",
            format!("a compressed change inflating past {MAX_INFLATED_CHANGE} bytes"),
        ));
    }
    Ok(())
}

/// An unsigned LEB128 number at the start of `bytes` and how many bytes it took.
fn leb128_u64(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Change hashes as hex, for storage and the wire.
pub fn heads_to_hex(heads: &[ChangeHash]) -> Vec<String> {
    heads.iter().map(|h| h.to_string()).collect()
}

pub fn heads_from_hex(hex: &[String]) -> Result<Vec<ChangeHash>> {
    hex.iter()
        .map(|h| {
            h.parse::<ChangeHash>()
                .map_err(|e| Error::invalid("change hash", format!("{h}: {e}")))
        })
        .collect()
}

/// A stable automerge actor id from a device or server id.
pub fn actor_for(id: &Uuid) -> ActorId {
    ActorId::from(id.as_bytes().as_slice())
}
