//! Photo upload: every photo the store holds and the server lacks goes to
//! `PUT /v1/blobs/{sha256}`, resumed from what the server already has.
//!
//! Per photo: `HEAD` says how many bytes the server holds (`Upload-Offset`) and whether
//! the blob is complete (`Upload-Complete: ?1`); the rest is sent with
//! `Content-Range: bytes START-END/TOTAL`. A failed attempt (network, 5xx, an offset the
//! server disputes) is retried after a bounded, doubling delay, starting again from the
//! server's offset. A photo the server refuses for good (hash mismatch, not an image)
//! is reported and left pending.

use std::time::Duration;

use reqwest::StatusCode;

use crate::error::{Error, Result};
use crate::store::Store;
use crate::sync::client::{net, refusal, SyncClient};

const UPLOAD_OFFSET: &str = "upload-offset";
const UPLOAD_COMPLETE: &str = "upload-complete";

/// How hard to try before giving up on a photo for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Photos the server now holds whole.
    pub uploaded: u32,
    /// Of those, photos the server already had before this run.
    pub already_there: u32,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Photos left pending, with the last error.
    pub failed: Vec<(String, String)>,
}

/// What the server holds of one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteBlob {
    pub offset: u64,
    pub complete: bool,
}

fn offset_header(response: &reqwest::blocking::Response) -> Option<u64> {
    response
        .headers()
        .get(UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// `HEAD /v1/blobs/{hash}`.
pub fn remote_blob(client: &SyncClient, sha256: &str) -> Result<RemoteBlob> {
    let response = client
        .http()
        .head(client.url(&format!("/v1/blobs/{sha256}")))
        .bearer_auth(client.token())
        .send()
        .map_err(net)?;
    match response.status() {
        // A stored photo this person may not read (someone else's identical file): the
        // server says nothing about it; a whole PUT is answered "already stored".
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Ok(RemoteBlob {
            offset: offset_header(&response).unwrap_or(0),
            complete: false,
        }),
        status if status.is_success() => Ok(RemoteBlob {
            offset: offset_header(&response).unwrap_or(0),
            complete: response
                .headers()
                .get(UPLOAD_COMPLETE)
                .is_some_and(|v| v.as_bytes() == b"?1"),
        }),
        _ => Err(refusal(response)),
    }
}

/// Sends `file[start..end]` of a `file.len()`-byte photo; returns what the server holds
/// afterwards. Tests use it to cut an upload half-way.
pub fn put_range(
    client: &SyncClient,
    sha256: &str,
    file: &[u8],
    start: u64,
    end: u64,
) -> Result<RemoteBlob> {
    let total = file.len() as u64;
    if start >= end || end > total {
        return Err(Error::invalid(
            "upload range",
            format!("{start}..{end} of {total} bytes"),
        ));
    }
    let piece = file[start as usize..end as usize].to_vec();
    let response = client
        .http()
        .put(client.url(&format!("/v1/blobs/{sha256}")))
        .bearer_auth(client.token())
        .header(
            reqwest::header::CONTENT_RANGE,
            format!("bytes {start}-{}/{total}", end - 1),
        )
        .body(piece)
        .send()
        .map_err(net)?;
    match response.status() {
        StatusCode::OK | StatusCode::CREATED => Ok(RemoteBlob {
            offset: total,
            complete: true,
        }),
        StatusCode::ACCEPTED => Ok(RemoteBlob {
            offset: offset_header(&response).unwrap_or(end),
            complete: false,
        }),
        _ => Err(refusal(response)),
    }
}

/// Whether an error is worth another attempt (network trouble, a busy or failing server,
/// an offset that moved) rather than a refusal of the photo itself.
fn retryable(e: &Error) -> bool {
    match e {
        Error::Sync(text) => {
            text.starts_with("network")
                || text.starts_with('5')
                || text.contains("offset_mismatch")
                || text.contains("409")
        }
        _ => false,
    }
}

/// Uploads one photo from where the server stands; returns (already there, bytes sent).
fn upload_one(client: &SyncClient, file: &[u8], sha256: &str) -> Result<(bool, u64)> {
    let remote = remote_blob(client, sha256)?;
    if remote.complete {
        return Ok((true, 0));
    }
    let total = file.len() as u64;
    let start = remote.offset.min(total);
    if start == total {
        // The server holds every byte but has not finished: resend the last one to
        // trigger its check.
        let done = put_range(client, sha256, file, total.saturating_sub(1), total)?;
        return if done.complete {
            Ok((false, 1))
        } else {
            Err(Error::Sync(format!(
                "network: upload of {sha256} did not complete"
            )))
        };
    }
    let done = put_range(client, sha256, file, start, total)?;
    if done.complete {
        Ok((false, total - start))
    } else {
        Err(Error::Sync(format!(
            "network: upload of {sha256} stopped at {} of {total}",
            done.offset
        )))
    }
}

/// Uploads every pending photo of the store, marking each uploaded once the server holds
/// it whole.
pub fn upload_pending(
    client: &SyncClient,
    store: &mut Store,
    policy: &RetryPolicy,
) -> Result<UploadReport> {
    upload_pending_observed(client, store, policy, &mut |_| true)
}

/// [`upload_pending`], telling `observe` the report before each photo and after the
/// last; it stops (between photos, the store consistent) as soon as `observe` answers
/// false. The phone's progress bar and cancel button.
pub fn upload_pending_observed(
    client: &SyncClient,
    store: &mut Store,
    policy: &RetryPolicy,
    observe: &mut dyn FnMut(&UploadReport) -> bool,
) -> Result<UploadReport> {
    let mut report = UploadReport::default();
    for blob in store.pending_uploads(usize::MAX)? {
        if !observe(&report) {
            return Ok(report);
        }
        let file = store.read_photo(&blob.sha256)?;
        let mut delay = policy.first_delay;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match upload_one(client, &file, &blob.sha256) {
                Ok((already, sent)) => {
                    store.mark_uploaded(&blob.sha256)?;
                    report.uploaded += 1;
                    report.already_there += u32::from(already);
                    report.bytes_sent += sent;
                    break;
                }
                Err(e) if retryable(&e) && attempt < policy.attempts.max(1) => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(policy.max_delay);
                }
                Err(e) => {
                    report.failed.push((blob.sha256.clone(), e.to_string()));
                    break;
                }
            }
        }
    }
    observe(&report);
    Ok(report)
}
