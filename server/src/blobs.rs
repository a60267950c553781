//! Photo upload and download, content-addressed and resumable.
//!
//! Protocol (`{hash}` is the SHA-256 of the file, 64 hex digits):
//!
//! - `PUT /v1/blobs/{hash}` with the whole file as the body, or with
//!   `Content-Range: bytes START-END/TOTAL` (END inclusive) carrying a piece. The server
//!   appends at the offset it already holds: START may be at or before it (bytes it
//!   already has are skipped, so a repeated piece is harmless), never after it
//!   (`409 offset_mismatch`). Every answer that leaves the upload unfinished carries
//!   `Upload-Offset: N`, the bytes the server holds. An upload cut mid-body keeps what
//!   arrived. When all TOTAL bytes are there, the server checks SHA-256 = `{hash}`
//!   (else `400 hash_mismatch`, upload discarded), size ≤ 40 MB (`413 too_large`), and a
//!   JPEG or PNG that decodes whole within the photo limits (`400 not_an_image` /
//!   `415 unsupported_format`),
//!   then stores it at its address: `201` with `{"hash","size","format","width",
//!   "height","complete":true}`. Without Content-Range the body is the whole file and
//!   replaces any unfinished upload. A PUT of a blob already stored answers `200` with
//!   the same body and rewrites nothing. An unfinished piece answers `202` with
//!   `{"hash","offset","complete":false}`.
//! - `HEAD /v1/blobs/{hash}`: `Upload-Offset: N` and `Upload-Complete: ?1` (stored, N is
//!   its size) or `?0` (N bytes of an unfinished upload); `404` with `Upload-Offset: 0`
//!   when the server has nothing.
//! - `GET /v1/blobs/{hash}`: the bytes, to the uploader, to anyone whose jurisdiction
//!   covers a document referencing the photo, and to admins; `403` to others.

use std::io::Cursor;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes_buf::Buffer;
use fieldloop_core::media::{inspect_photo, PhotoLimits};
use fieldloop_core::roles::{Role, ScopeCheck};
use fieldloop_core::PhotoProblem;
use futures_util::StreamExt;
use image::ImageFormat;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::{Auth, PERSON_ROLES};
use crate::error::{Result, ServerError, UPLOAD_OFFSET};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::storage::{AuditEntry, BlobHash, BlobMeta, BlobState};

/// Header saying whether the server holds the whole blob (`?1`) or part of it (`?0`).
pub const UPLOAD_COMPLETE: &str = "upload-complete";

/// People who capture evidence. Dispatchers route cases; they do not take photos.
pub const UPLOAD_ROLES: &[Role] = &[
    Role::Inspector,
    Role::Handler,
    Role::Supervisor,
    Role::Contractor,
    Role::RiverChief,
    Role::Admin,
];

/// More pixels than any phone camera makes; the media module's limits will replace it.
const MAX_PIXELS: u64 = 200_000_000;

/// Bytes gathered before each write, so a cut loses at most this much.
const WRITE_CHUNK: usize = 256 * 1024;

mod bytes_buf {
    use axum::body::Bytes;

    /// Collects body frames into writes of a useful size.
    #[derive(Default)]
    pub struct Buffer(Vec<u8>);

    impl Buffer {
        pub fn push(&mut self, data: &[u8]) {
            self.0.extend_from_slice(data);
        }
        pub fn len(&self) -> usize {
            self.0.len()
        }
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        pub fn take(&mut self) -> Bytes {
            Bytes::from(std::mem::take(&mut self.0))
        }
    }
}

/// A parsed `Content-Range: bytes START-END/TOTAL`, END inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
    pub total: u64,
}

impl ContentRange {
    pub fn parse(text: &str) -> Result<ContentRange> {
        let bad = || {
            ServerError::bad_request(
                "bad_content_range",
                format!("expected 'bytes START-END/TOTAL', got {text:?}"),
            )
        };
        let rest = text.trim().strip_prefix("bytes ").ok_or_else(bad)?;
        let (span, total) = rest.split_once('/').ok_or_else(bad)?;
        let (start, end) = span.split_once('-').ok_or_else(bad)?;
        let number = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
        let range = ContentRange {
            start: number(start)?,
            end: number(end)?,
            total: number(total)?,
        };
        if range.start > range.end || range.end >= range.total {
            return Err(bad());
        }
        Ok(range)
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<&str>> {
    headers
        .get(&name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ServerError::bad_request("bad_header", format!("{name} is not text")))
        })
        .transpose()
}

fn too_large(max: u64) -> ServerError {
    ServerError::Core(fieldloop_core::Error::Photo {
        problem: PhotoProblem::TooLarge,
        detail: format!("a photo is at most {max} bytes"),
    })
}

/// What was stored, as the PUT answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredBlob {
    pub hash: String,
    pub size: u64,
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub complete: bool,
}

impl From<BlobMeta> for StoredBlob {
    fn from(meta: BlobMeta) -> Self {
        StoredBlob {
            hash: meta.hash,
            size: meta.size,
            format: meta.format,
            width: meta.width,
            height: meta.height,
            complete: true,
        }
    }
}

/// Deletes unfinished uploads abandoned for [`crate::Config::abandoned_upload_after`],
/// skipping any being written right now. Returns how many went.
pub async fn sweep_abandoned_uploads(state: &AppState) -> Result<usize> {
    let mut swept = 0;
    for hash in state
        .blobs
        .stale_parts(state.config.abandoned_upload_after)
        .await?
    {
        let Ok(_slot) = UploadSlot::take(state, &hash) else {
            continue;
        };
        state.blobs.discard_part(&hash).await?;
        tracing::info!(%hash, "abandoned upload deleted");
        swept += 1;
    }
    Ok(swept)
}

/// Held while a hash is being written; a second writer of the same hash gets a 409.
struct UploadSlot {
    state: AppState,
    hash: BlobHash,
}

impl UploadSlot {
    fn take(state: &AppState, hash: &BlobHash) -> Result<UploadSlot> {
        let mut running = state
            .uploads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !running.insert(hash.clone()) {
            return Err(ServerError::conflict(
                "upload_in_progress",
                "another upload of this photo is running; retry shortly",
            ));
        }
        Ok(UploadSlot {
            state: state.clone(),
            hash: hash.clone(),
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.state
            .uploads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.hash);
    }
}

fn unfinished(offset: u64, status: StatusCode, code: &'static str, reason: String) -> ServerError {
    ServerError::Upload {
        status,
        code,
        reason,
        offset,
    }
}

/// Checks that `bytes` are a JPEG or PNG whose header reads; returns format and size.
pub fn inspect_image(bytes: &[u8]) -> fieldloop_core::Result<(ImageFormat, u32, u32)> {
    let photo = |problem, detail: String| fieldloop_core::Error::Photo { problem, detail };
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| photo(PhotoProblem::Undecodable, e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png) => {}
        Some(other) => {
            return Err(photo(
                PhotoProblem::UnsupportedFormat,
                format!("{other:?} is not taken; send JPEG or PNG"),
            ))
        }
        None => {
            return Err(photo(
                PhotoProblem::Undecodable,
                "not a JPEG or PNG image".into(),
            ))
        }
    }
    let format = reader.format().unwrap_or(ImageFormat::Jpeg);
    let (width, height) = reader.into_dimensions().map_err(|e| {
        photo(
            PhotoProblem::Undecodable,
            format!("unreadable image header: {e}"),
        )
    })?;
    if width == 0 || height == 0 {
        return Err(photo(
            PhotoProblem::Undecodable,
            "image has no pixels".into(),
        ));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(photo(
            PhotoProblem::TooLarge,
            format!("{width}×{height} is more than {MAX_PIXELS} pixels"),
        ));
    }
    Ok((format, width, height))
}

/// `PUT /v1/blobs/{hash}`.
pub async fn put_blob(
    auth: Auth,
    State(state): State<AppState>,
    ApiPath(hash): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    auth.require_role(UPLOAD_ROLES, "upload photos")?;
    let hash = BlobHash::parse(&hash)?;
    let max = state.config.max_blob_bytes;
    let range = header_text(&headers, header::CONTENT_RANGE)?
        .map(ContentRange::parse)
        .transpose()?;
    let declared =
        header_text(&headers, header::CONTENT_LENGTH)?.and_then(|v| v.trim().parse::<u64>().ok());

    if let BlobState::Complete(_) = state.blobs.state(&hash).await? {
        return already_stored(&state, &hash).await;
    }
    let too_big = match range {
        Some(range) => range.total > max,
        None => declared.is_some_and(|len| len > max),
    };
    let _slot = UploadSlot::take(&state, &hash)?;
    if too_big {
        state.blobs.discard_part(&hash).await?;
        let e = too_large(max);
        let actor = crate::audit_trail::Actor::person(auth.user_id(), auth.device_id.as_deref());
        crate::audit_trail::refused_upload(&state, actor, hash.as_str(), e.to_string()).await;
        return Err(e);
    }
    // Checked again under the slot: another upload may have just finished it.
    let mut have = match state.blobs.state(&hash).await? {
        BlobState::Complete(_) => return already_stored(&state, &hash).await,
        BlobState::Partial(n) => n,
        BlobState::Absent => 0,
    };
    let (start, end_exclusive, total) = match range {
        Some(r) => (r.start, Some(r.end + 1), Some(r.total)),
        None => {
            if have > 0 {
                state.blobs.discard_part(&hash).await?;
                have = 0;
            }
            (0, None, None)
        }
    };
    if start > have {
        return Err(unfinished(
            have,
            StatusCode::CONFLICT,
            "offset_mismatch",
            format!("the server holds {have} bytes; resume from there, not from {start}"),
        ));
    }

    // Body bytes before `have` are already stored; skip them.
    let mut skip = have - start;
    let mut received = start;
    let mut offset = have;
    let mut buffer = Buffer::default();
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let mut data: Bytes = match frame {
            Ok(data) => data,
            Err(e) => {
                if !buffer.is_empty() {
                    offset = state
                        .blobs
                        .append_part(&hash, offset, buffer.take())
                        .await?;
                }
                tracing::info!(%hash, offset, error = %e, "upload cut; keeping what arrived");
                return Err(unfinished(
                    offset,
                    StatusCode::BAD_REQUEST,
                    "body_interrupted",
                    format!("the body was cut; the server holds {offset} bytes"),
                ));
            }
        };
        received += data.len() as u64;
        if end_exclusive.is_some_and(|end| received > end) {
            return Err(unfinished(
                offset,
                StatusCode::BAD_REQUEST,
                "body_longer_than_range",
                "the body is longer than its Content-Range".into(),
            ));
        }
        if skip > 0 {
            let dropped = skip.min(data.len() as u64);
            data = data.slice(dropped as usize..);
            skip -= dropped;
        }
        if offset + (buffer.len() + data.len()) as u64 > max {
            drop(stream);
            state.blobs.discard_part(&hash).await?;
            return Err(too_large(max));
        }
        buffer.push(&data);
        if buffer.len() >= WRITE_CHUNK {
            offset = state
                .blobs
                .append_part(&hash, offset, buffer.take())
                .await?;
        }
    }
    if !buffer.is_empty() {
        offset = state
            .blobs
            .append_part(&hash, offset, buffer.take())
            .await?;
    }
    if let Some(end) = end_exclusive {
        if received < end {
            return Err(unfinished(
                offset,
                StatusCode::BAD_REQUEST,
                "body_shorter_than_range",
                format!("the body ended at byte {received}, before its Content-Range end {end}"),
            ));
        }
    }
    let complete = total.is_none_or(|total| offset >= total);
    if !complete {
        let mut response = (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "hash": hash.as_str(), "offset": offset, "complete": false })),
        )
            .into_response();
        response
            .headers_mut()
            .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
        return Ok(response);
    }
    finish(&state, &auth, &hash).await
}

async fn already_stored(state: &AppState, hash: &BlobHash) -> Result<Response> {
    let meta = state
        .blob_index
        .blob_meta(hash)
        .await?
        .ok_or_else(|| ServerError::Internal(format!("blob {hash} stored but not indexed")))?;
    let size = meta.size;
    let mut response = (StatusCode::OK, Json(StoredBlob::from(meta))).into_response();
    response
        .headers_mut()
        .insert(UPLOAD_OFFSET, HeaderValue::from(size));
    Ok(response)
}

/// Verifies a finished upload and stores it at its address, or discards it.
async fn finish(state: &AppState, auth: &Auth, hash: &BlobHash) -> Result<Response> {
    let meta = store_part(state, &auth.principal.user_id, auth.device_id.clone(), hash).await?;
    let size = meta.size;
    let mut response = (StatusCode::CREATED, Json(StoredBlob::from(meta))).into_response();
    response
        .headers_mut()
        .insert(UPLOAD_OFFSET, HeaderValue::from(size));
    Ok(response)
}

/// Verifies the unfinished upload at `hash` (its address, a whole decodable picture
/// within the photo limits) and stores it there for `uploaded_by`, or discards it. Every
/// photo the server keeps passes here: a phone's upload, a citizen's Open311 `media`.
pub(crate) async fn store_part(
    state: &AppState,
    uploaded_by: &str,
    device_id: Option<String>,
    hash: &BlobHash,
) -> Result<BlobMeta> {
    let bytes = state.blobs.read_part(hash).await?;
    let size = bytes.len() as u64;
    let expected = hash.clone();
    let limits = PhotoLimits {
        max_bytes: state.config.max_blob_bytes,
        ..PhotoLimits::default()
    };
    let checked = tokio::task::spawn_blocking(move || -> Result<(ImageFormat, u32, u32, u64)> {
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != expected.as_str() {
            return Err(ServerError::bad_request(
                "hash_mismatch",
                format!("the bytes hash to {actual}, not to the address {expected}"),
            ));
        }
        let (format, width, height) = inspect_image(&bytes)?;
        // A readable header is not enough for evidence: decode the whole picture within
        // the photo limits, and keep its perceptual hash for the reuse check.
        let seen = inspect_photo(&bytes, &limits, 320)?;
        Ok((format, width, height, seen.phash))
    })
    .await?;
    let (format, width, height, phash) = match checked {
        Ok(found) => found,
        Err(e) => {
            state.blobs.discard_part(hash).await?;
            refused(state, uploaded_by, device_id.as_deref(), hash, &e).await;
            return Err(e);
        }
    };
    if size > state.config.max_blob_bytes {
        state.blobs.discard_part(hash).await?;
        let e = too_large(state.config.max_blob_bytes);
        refused(state, uploaded_by, device_id.as_deref(), hash, &e).await;
        return Err(e);
    }
    // Index first: a crash between the two leaves an index row without bytes, which the
    // next upload of the same photo repairs, never bytes the index does not know.
    let meta = BlobMeta {
        hash: hash.to_string(),
        size,
        format: if format == ImageFormat::Png {
            "png"
        } else {
            "jpeg"
        }
        .to_owned(),
        width,
        height,
        uploaded_by: uploaded_by.to_owned(),
        uploaded_at: state.clock.now(),
        phash: Some(phash),
    };
    state.blob_index.record_blob(meta.clone()).await?;
    state.blobs.promote_part(hash).await?;
    crate::metrics::blob_stored(meta.size);
    state
        .audit
        .record(AuditEntry {
            at: meta.uploaded_at,
            user_id: Some(meta.uploaded_by.clone()),
            device_id,
            action: "blob.stored".into(),
            target: Some(meta.hash.clone()),
            detail: Some(format!(
                "{} {}×{} {} bytes",
                meta.format, width, height, size
            )),
        })
        .await?;
    // A verdict waits for its photos: judge what was waiting for this one now. The upload
    // itself has succeeded whatever the referee finds, so its failure is only logged.
    state.judging.arrived(hash.as_str());
    if let Err(e) = crate::referee::photo_arrived(state, hash).await {
        tracing::error!(%hash, error = %e, "referee after upload failed");
    }
    Ok(meta)
}

/// A refused photo will never arrive: what waited for it is judged now. The refusal
/// itself is the answer to the upload, so the referee's trouble is only logged.
async fn refused(
    state: &AppState,
    uploader: &str,
    device_id: Option<&str>,
    hash: &BlobHash,
    refusal: &ServerError,
) {
    let actor = crate::audit_trail::Actor::person(uploader, device_id);
    crate::audit_trail::refused_upload(state, actor, hash.as_str(), refusal.to_string()).await;
    if let Err(e) = crate::judging::photo_refused(state, hash, uploader, refusal).await {
        tracing::error!(%hash, error = %e, "referee after a refused upload failed");
    }
}

/// `HEAD /v1/blobs/{hash}`.
pub async fn head_blob(
    auth: Auth,
    State(state): State<AppState>,
    ApiPath(hash): ApiPath<String>,
) -> Result<Response> {
    auth.require_role(UPLOAD_ROLES, "upload photos")?;
    let hash = BlobHash::parse(&hash)?;
    let (status, offset, complete) = match state.blobs.state(&hash).await? {
        BlobState::Complete(size) => {
            // Answer like GET for someone who may not read the photo: no size, no "?1".
            let readable = match state.blob_index.blob_meta(&hash).await? {
                Some(meta) => may_read(&state, &auth, &hash, &meta).await?,
                None => false,
            };
            if !readable {
                return Err(ServerError::Forbidden(format!(
                    "photo {hash} belongs to no document in your jurisdiction"
                )));
            }
            (StatusCode::OK, size, true)
        }
        BlobState::Partial(have) => (StatusCode::OK, have, false),
        BlobState::Absent => (StatusCode::NOT_FOUND, 0, false),
    };
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(offset));
    headers.insert(
        UPLOAD_COMPLETE,
        HeaderValue::from_static(if complete { "?1" } else { "?0" }),
    );
    Ok(response)
}

/// May `auth` read the photo? Uploader, admin, or a referencing document in scope.
async fn may_read(state: &AppState, auth: &Auth, hash: &BlobHash, meta: &BlobMeta) -> Result<bool> {
    if auth.sees_everything() || meta.uploaded_by == auth.principal.user_id {
        return Ok(true);
    }
    let checks = [
        ScopeCheck::GridCell,
        ScopeCheck::Unit,
        ScopeCheck::Project,
        ScopeCheck::Segment,
    ];
    let docs = state.blob_index.referencing_docs(hash).await?;
    Ok(docs.iter().any(|doc| {
        let scope = doc.scope();
        checks
            .iter()
            .any(|check| auth.principal.jurisdiction.covers(*check, &scope))
    }))
}

/// `GET /v1/blobs/{hash}`.
pub async fn get_blob(
    auth: Auth,
    State(state): State<AppState>,
    ApiPath(hash): ApiPath<String>,
) -> Result<Response> {
    auth.require_role(PERSON_ROLES, "read photos")?;
    let hash = BlobHash::parse(&hash)?;
    let Some(meta) = state.blob_index.blob_meta(&hash).await? else {
        return Err(ServerError::NotFound(format!("photo {hash}")));
    };
    if !may_read(&state, &auth, &hash, &meta).await? {
        return Err(ServerError::Forbidden(format!(
            "photo {hash} belongs to no document in your jurisdiction"
        )));
    }
    let Some(bytes) = state.blobs.read(&hash).await? else {
        return Err(ServerError::NotFound(format!("photo {hash}")));
    };
    crate::metrics::blob_served(bytes.len() as u64);
    let content_type = if meta.format == "png" {
        "image/png"
    } else {
        "image/jpeg"
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::ETAG, format!("\"{hash}\"")),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_owned(),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}
