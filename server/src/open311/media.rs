//! A citizen's photo sent with `POST requests` as the multipart `media` field (GeoReport
//! v2 clients upload it beside, or instead of, `media_url`). It goes through the phone's
//! capture pipeline (`process_photo`: the same byte and pixel limits, a whole decode,
//! orientation, resize, re-encode without EXIF, SHA-256 of the original and of the
//! result, perceptual hash), then into the evidence store the way a phone's upload does
//! (`blobs::store_part`: address, decode and size checked again), and the case records it
//! as its before-photo.

use axum::http::StatusCode;
use bytes::Bytes;
use fieldloop_core::doc::{Evidence, EvidenceStage, Position};
use fieldloop_core::error::PhotoProblem;
use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions, ProcessedPhoto};
use fieldloop_core::time::{Millis, MINUTE};

use super::Open311Error;
use crate::state::AppState;
use crate::storage::{BlobHash, BlobState};

/// The zone of an EXIF time that carries no offset: the deployment's, China's UTC+8.
const EXIF_ZONE_MINUTES: i64 = 8 * 60;

/// The largest `media` file taken: the phone pipeline's own limit for a camera original.
pub fn max_media_bytes() -> u64 {
    PhotoLimits::default().max_bytes
}

/// A citizen's photo as processed and stored: its content address and evidence record.
#[derive(Debug, Clone)]
pub struct StoredMedia {
    pub hash: String,
    pub evidence: Evidence,
}

fn refusal(problem: PhotoProblem, detail: &str) -> Open311Error {
    match problem {
        PhotoProblem::TooLarge => Open311Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("media 照片过大 (too large): {detail}"),
        ),
        PhotoProblem::UnsupportedFormat => Open311Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("media 照片格式不支持，请上传 JPEG 或 PNG (unsupported format): {detail}"),
        ),
        PhotoProblem::Undecodable => Open311Error::bad(format!(
            "media 不是可读的图片 (not a readable image): {detail}"
        )),
    }
}

/// Processes `bytes` as a phone processes a capture and stores the result for
/// `reporter`; `position` is where the report says it is, `now` the server's arrival time.
pub async fn store(
    state: &AppState,
    reporter: &str,
    bytes: Bytes,
    position: Position,
    now: Millis,
) -> Result<StoredMedia, Open311Error> {
    let limits = PhotoLimits::default();
    if bytes.len() as u64 > limits.max_bytes {
        return Err(refusal(
            PhotoProblem::TooLarge,
            &format!(
                "{} bytes is more than the {} bytes allowed",
                bytes.len(),
                limits.max_bytes
            ),
        ));
    }
    let processed = tokio::task::spawn_blocking(move || {
        process_photo(&bytes, &limits, &ProcessOptions::default())
    })
    .await
    .map_err(|e| Open311Error::from(crate::error::ServerError::Internal(e.to_string())))?
    .map_err(|e| match e {
        fieldloop_core::Error::Photo { problem, detail } => refusal(problem, &detail),
        other => other.into(),
    })?;
    let hash = BlobHash::parse(&processed.content_hash)?;
    if !matches!(state.blobs.state(&hash).await?, BlobState::Complete(_)) {
        // A part left by an earlier, cut attempt at the same picture is replaced whole.
        state.blobs.discard_part(&hash).await?;
        state
            .blobs
            .append_part(&hash, 0, Bytes::from(processed.jpeg.clone()))
            .await?;
        crate::blobs::store_part(state, reporter, None, &hash).await?;
    }
    Ok(StoredMedia {
        hash: processed.content_hash.clone(),
        evidence: evidence(&processed, reporter, position, now),
    })
}

/// The before-photo's record. Its time is the photo's own (EXIF) when it has one, else
/// its arrival: a citizen's app claims no capture time of its own.
fn evidence(
    processed: &ProcessedPhoto,
    reporter: &str,
    position: Position,
    now: Millis,
) -> Evidence {
    let exif_time = processed.exif.taken_at.as_ref().map(|t| {
        t.utc_millis.unwrap_or_else(|| {
            t.local_as_utc_millis
                .saturating_sub(EXIF_ZONE_MINUTES.saturating_mul(MINUTE))
        })
    });
    let mut evidence = Evidence::new(
        EvidenceStage::Before,
        exif_time.filter(|t| *t <= now).unwrap_or(now),
        Some(position),
        reporter,
    );
    evidence.phash = Some(processed.phash);
    evidence.original_sha256 = Some(processed.original_sha256.clone());
    evidence.exif = processed.exif.facts();
    evidence
}
