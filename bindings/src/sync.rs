//! Sync now: photos first (resumed from what the server holds), then documents with the
//! city's reference data when the server holds a newer version. Runs on the FFI's runtime; progress goes to a listener, and the
//! handle's `cancel` (or its drop) stops the work between two steps, each of which the
//! store saved whole.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fieldloop_core::sync::client::SyncReport;
use fieldloop_core::sync::upload::{upload_pending_observed, RetryPolicy, UploadReport};

use crate::error::{FieldError, Result};
use crate::phone::{runtime, FieldPhone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    Photos,
    Documents,
    Reference,
    Done,
}

/// Where a running sync stands.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub photos_uploaded: u32,
    pub photos_total: u32,
    pub round_trips: u32,
    pub docs_pushed: u32,
    pub docs_received: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// What a finished sync did.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncResult {
    pub photos_uploaded: u32,
    /// Photos the server refused or that could not be sent, with the reason; they stay
    /// queued for the next sync.
    pub photos_failed: Vec<String>,
    pub round_trips: u32,
    pub docs_pushed: u32,
    pub docs_acked: u32,
    pub docs_rejected: u32,
    pub docs_received: u32,
    /// Own changes the server refused, now in quarantine (see `quarantined()`).
    pub quarantined: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Everything was exchanged (false when the round limit stopped it first).
    pub complete: bool,
}

/// Told about progress; called on the FFI's worker thread, not the UI thread.
#[uniffi::export(callback_interface)]
pub trait SyncListener: Send + Sync {
    fn on_progress(&self, progress: SyncProgress);
}

type Outcome = Result<SyncResult>;

/// A running sync. `cancel()` or dropping the handle stops it at the next step.
#[derive(uniffi::Object)]
pub struct SyncHandle {
    cancel: Arc<AtomicBool>,
    state: tokio::sync::Mutex<HandleState>,
}

struct HandleState {
    receiver: Option<tokio::sync::oneshot::Receiver<Outcome>>,
    outcome: Option<Outcome>,
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

#[uniffi::export]
impl SyncHandle {
    /// Asks the sync to stop; it answers `Cancelled` once it has.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Waits for the sync to finish and answers its result (the same on every call).
    pub async fn result(&self) -> Result<SyncResult> {
        let mut state = self.state.lock().await;
        if let Some(receiver) = state.receiver.take() {
            let outcome = receiver.await.unwrap_or_else(|_| {
                Err(FieldError::Storage {
                    reason: "the sync worker stopped without an answer".into(),
                })
            });
            state.outcome = Some(outcome);
        }
        state.outcome.clone().unwrap_or(Err(FieldError::Cancelled))
    }
}

struct Progress<'a> {
    listener: Option<&'a dyn SyncListener>,
    now: SyncProgress,
}

impl Progress<'_> {
    fn tell(&mut self) {
        if let Some(listener) = self.listener {
            listener.on_progress(self.now.clone());
        }
    }

    fn photos(&mut self, r: &UploadReport) {
        self.now.phase = SyncPhase::Photos;
        self.now.photos_uploaded = r.uploaded;
        self.now.bytes_sent = r.bytes_sent;
        self.tell();
    }

    fn documents(&mut self, r: &SyncReport, photo_bytes: u64) {
        self.now.phase = SyncPhase::Documents;
        self.now.round_trips = r.round_trips;
        self.now.docs_pushed = r.docs_pushed;
        self.now.docs_received = r.docs_received;
        self.now.bytes_sent = photo_bytes + r.bytes_sent;
        self.now.bytes_received = r.bytes_received;
        self.tell();
    }
}

fn run(phone: &FieldPhone, cancel: &AtomicBool, listener: Option<&dyn SyncListener>) -> Outcome {
    let mut client = phone.client()?;
    let going = || !cancel.load(Ordering::SeqCst);
    let total = phone.write(|s| Ok(s.pending_uploads(usize::MAX)?.len() as u32))?;
    let mut progress = Progress {
        listener,
        now: SyncProgress {
            phase: SyncPhase::Photos,
            photos_uploaded: 0,
            photos_total: total,
            round_trips: 0,
            docs_pushed: 0,
            docs_received: 0,
            bytes_sent: 0,
            bytes_received: 0,
        },
    };
    let uploads = phone.write(|store| {
        Ok(upload_pending_observed(
            &client,
            store,
            &RetryPolicy::default(),
            &mut |r| {
                progress.photos(r);
                going()
            },
        )?)
    })?;
    if !going() {
        return Err(FieldError::Cancelled);
    }
    let now = phone.now();
    let report = phone.write(|store| {
        Ok(client.sync_observed(store, now, &mut |r| {
            progress.documents(r, uploads.bytes_sent);
            going()
        })?)
    })?;
    if !going() && !report.complete {
        return Err(FieldError::Cancelled);
    }
    progress.now.phase = SyncPhase::Reference;
    progress.tell();
    // The store saved a newer version with the documents: the phone works on it from now.
    if report.reference_version.is_some() {
        phone.reload_reference()?;
    }
    progress.documents(&report, uploads.bytes_sent);
    progress.now.phase = SyncPhase::Done;
    progress.tell();
    Ok(SyncResult {
        photos_uploaded: uploads.uploaded,
        photos_failed: uploads
            .failed
            .iter()
            .map(|(hash, why)| format!("{}: {why}", hash.get(..8).unwrap_or(hash)))
            .collect(),
        round_trips: report.round_trips,
        docs_pushed: report.docs_pushed,
        docs_acked: report.docs_acked,
        docs_rejected: report.docs_rejected,
        docs_received: report.docs_received,
        quarantined: report.quarantined,
        bytes_sent: uploads.bytes_sent + report.bytes_sent,
        bytes_received: report.bytes_received,
        complete: report.complete && uploads.failed.is_empty(),
    })
}

impl FieldPhone {
    fn spawn_sync(self: Arc<Self>, listener: Option<Box<dyn SyncListener>>) -> Arc<SyncHandle> {
        let cancel = Arc::new(AtomicBool::new(false));
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let flag = cancel.clone();
        runtime().spawn_blocking(move || {
            let outcome = run(&self, &flag, listener.as_deref());
            let _ = sender.send(outcome);
        });
        Arc::new(SyncHandle {
            cancel,
            state: tokio::sync::Mutex::new(HandleState {
                receiver: Some(receiver),
                outcome: None,
            }),
        })
    }
}

#[uniffi::export]
impl FieldPhone {
    /// Starts a sync in the background; progress goes to `listener`.
    pub fn start_sync(self: Arc<Self>, listener: Box<dyn SyncListener>) -> Arc<SyncHandle> {
        self.spawn_sync(Some(listener))
    }

    /// Syncs and answers the result: the call for WorkManager / BGTaskScheduler work.
    pub async fn sync_now(self: Arc<Self>) -> Result<SyncResult> {
        let handle = self.spawn_sync(None);
        handle.result().await
    }
}
