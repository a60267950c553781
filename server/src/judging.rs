//! Keeping the referee going: a verdict must come, and one bad document must not stop
//! the others.
//!
//! - A reaction or deadline check that fails on one document is logged, counted
//!   ([`Judging::failures`]) and that document is queued; the scheduler's next tick tries it
//!   again ([`retry_failed`]). The push that caused it is stored and acknowledged all the
//!   same.
//! - A photo the server refused (its bytes do not hash to its address, not an image, too
//!   large) is remembered here, so the verdict of a case referencing it fails the uploads
//!   check with the reason instead of waiting for a photo that will never be accepted.
//! - An evidence key that is not a content address at all can never arrive: it is judged
//!   as a file that does not match its address.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use fieldloop_core::case::CaseStatus;
use fieldloop_core::doc::DocKind;
use fieldloop_core::verify::UploadedPhoto;
use uuid::Uuid;

use crate::error::{Result, ServerError};
use crate::referee::{self, Written};
use crate::state::AppState;
use crate::storage::{BlobHash, Projection};

/// Refusals remembered at most; the oldest are forgotten first (a phone retries a refused
/// upload on its next run, which records it again).
const MAX_REFUSALS: usize = 10_000;

/// The referee's own bookkeeping, one per server.
#[derive(Debug, Default)]
pub struct Judging {
    retry: Mutex<BTreeSet<Uuid>>,
    /// Refused photos by content hash, with who uploaded them.
    refused: Mutex<BTreeMap<String, (UploadedPhoto, String)>>,
    failures: AtomicU64,
}

impl Judging {
    /// Reactions and deadline checks that failed since the server started.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Documents whose reaction failed and waits for the next tick.
    pub fn queued(&self) -> Vec<Uuid> {
        lock(&self.retry).iter().copied().collect()
    }

    /// Notes a failure on `doc` (when known): logged, counted, and a reaction queued.
    pub fn failed(&self, doc: Option<Uuid>, what: &str, error: &ServerError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        match doc {
            Some(id) => {
                tracing::error!(doc = %id, error = %error, "{what} failed; retried on the next tick");
                lock(&self.retry).insert(id);
            }
            None => tracing::error!(error = %error, "{what} failed; retried on the next tick"),
        }
    }

    fn succeeded(&self, doc: Uuid) {
        lock(&self.retry).remove(&doc);
    }

    /// What the verdict is to know of a photo the server will never hold: a refused
    /// upload by the person who captured it (`captured_by`; someone else's bad bytes at
    /// that address prove nothing against them), or a key that is no content address.
    /// None for anything else.
    pub fn never_arriving(&self, hash: &str, captured_by: &str) -> Option<UploadedPhoto> {
        if BlobHash::parse(hash).is_err() {
            return Some(UploadedPhoto {
                hash_matches: false,
                decodable: false,
                phash: None,
            });
        }
        lock(&self.refused)
            .get(hash)
            .filter(|(_, uploader)| uploader == captured_by)
            .map(|(photo, _)| *photo)
    }

    fn refuse(&self, hash: &str, photo: UploadedPhoto, uploader: &str) {
        let mut refused = lock(&self.refused);
        if refused.len() >= MAX_REFUSALS {
            if let Some(first) = refused.keys().next().cloned() {
                refused.remove(&first);
            }
        }
        refused.insert(hash.to_owned(), (photo, uploader.to_owned()));
    }

    /// A photo that finally arrived intact is no longer refused.
    pub fn arrived(&self, hash: &str) {
        lock(&self.refused).remove(hash);
    }
}

/// A poisoned lock only means another thread panicked mid-update of a plain set; the set
/// itself is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reacts to each document on its own: a failure is noted and the rest go on. A reaction
/// that loses its versioned write to another writer decides again on the fresh copy.
pub async fn react_each(state: &AppState, docs: &[Uuid]) -> Written {
    let mut written = Written::default();
    for id in docs {
        match crate::storage::retry_stale(|| referee::react_one(state, *id)).await {
            Ok(w) => {
                state.judging.succeeded(*id);
                written += w;
            }
            Err(e) => {
                state.judging.failed(Some(*id), "referee reaction", &e);
                written.failed += 1;
            }
        }
    }
    written
}

/// Tries the queued reactions again, judges every case whose verification still waits
/// for a verdict, and dispatches every registration still owed its dispatch by the
/// matrix. The queue lives in memory: a server killed after it stored a verification or
/// a registration and before it reacted queued nothing, and the stored row is then the
/// only record that a verdict or a dispatch is owed (found by the server crash harness's
/// design, tests/tests/e2e/faults_server_crash.rs).
pub async fn retry_failed(state: &AppState) -> Written {
    let mut docs: BTreeSet<Uuid> = state.judging.queued().into_iter().collect();
    match awaiting_verdict(state).await {
        Ok(waiting) => docs.extend(waiting),
        Err(e) => state
            .judging
            .failed(None, "the scan for verifications awaiting a verdict", &e),
    }
    match dispatch_owed(state).await {
        Ok(owed) => docs.extend(owed),
        Err(e) => state
            .judging
            .failed(None, "the scan for registrations owed a dispatch", &e),
    }
    if docs.is_empty() {
        return Written::default();
    }
    react_each(state, &docs.into_iter().collect::<Vec<_>>()).await
}

/// Cases whose latest verification has no verdict yet, through the status index.
async fn awaiting_verdict(state: &AppState) -> Result<Vec<Uuid>> {
    cases_in(state, CaseStatus::VerificationSubmitted, |_| true).await
}

/// Registered cases whose dispatch by the matrix was never written (a server killed
/// between storing the registration and its reaction), from the projection rows of the
/// status index: the cases held as possible duplicates, sent back by a unit or outside
/// the matrix wait for a dispatcher and are not loaded.
pub async fn dispatch_owed(state: &AppState) -> Result<Vec<Uuid>> {
    cases_in(state, CaseStatus::Registered, |p| {
        p.fields.json[crate::projection::DISPATCH_OWED] == true
    })
    .await
}

/// The cases in `status` whose row passes `wanted`, page by page of the status index.
async fn cases_in(
    state: &AppState,
    status: CaseStatus,
    wanted: impl Fn(&Projection) -> bool,
) -> Result<Vec<Uuid>> {
    let statuses = crate::projection::status_names(&[status]);
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .docs
            .with_status(DocKind::Case, statuses.clone(), after, 1000)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.doc_id);
        found.extend(page.iter().filter(|p| wanted(p)).map(|p| p.doc_id));
    }
    Ok(found)
}

/// The blob store refused `uploader`'s upload of `hash` with `error`: the documents
/// waiting for it are judged now, the photo counting as received and broken.
pub async fn photo_refused(
    state: &AppState,
    hash: &BlobHash,
    uploader: &str,
    error: &ServerError,
) -> Result<()> {
    let photo = match error {
        ServerError::BadRequest {
            code: "hash_mismatch",
            ..
        } => UploadedPhoto {
            hash_matches: false,
            decodable: true,
            phash: None,
        },
        // Not an image, an unsupported format, too large to decode within the limits.
        ServerError::BadRequest { .. } | ServerError::Core(_) | ServerError::Upload { .. } => {
            UploadedPhoto {
                hash_matches: true,
                decodable: false,
                phash: None,
            }
        }
        // Anything else (storage trouble) is the server's problem, not the photo's.
        _ => return Ok(()),
    };
    tracing::info!(%hash, error = %error, "photo refused; documents referencing it are judged");
    state.judging.refuse(hash.as_str(), photo, uploader);
    referee::photo_arrived(state, hash).await.map(|_| ())
}
