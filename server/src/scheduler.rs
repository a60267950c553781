//! The scheduler: every round, on one instance at a time (the holder of a lease in the
//! shared store), the referee's [`tick`] (deadline warnings, plans, retries), the sweep of
//! abandoned uploads, the compaction of long documents and the snapshots of documents
//! stored before snapshots were kept. It only calls those services;
//! none of them calls back here.

use std::time::Duration;

use uuid::Uuid;

use crate::referee::tick;
use crate::state::AppState;

/// The lease naming the instance that runs the scheduler.
pub const SCHEDULER_LEASE: &str = "scheduler";

/// Runs [`tick`] every `every` on the state's clock, sweeps abandoned uploads and
/// compacts long documents, until `stop` resolves — on one instance at a time: each
/// round first takes or renews the [`SCHEDULER_LEASE`] for three rounds, so when the
/// holder dies another instance takes over within four. (Were two ever to overlap, the
/// versioned writes still write each event once.)
pub fn spawn_scheduler(
    state: AppState,
    every: Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let holder = format!("instance-{}", Uuid::now_v7());
    spawn_scheduler_as(state, holder, every, stop)
}

/// [`spawn_scheduler`] under a chosen lease holder name (an instance's name).
pub fn spawn_scheduler_as(
    state: AppState,
    holder: String,
    every: Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::pin!(stop);
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leading = false;
        let mut backfill = crate::storage::snapshots::Backfill::default();
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = interval.tick() => {
                    let started = std::time::Instant::now();
                    let held = state.leases.acquire_lease(SCHEDULER_LEASE, &holder, every * 3).await;
                    match held {
                        Ok(held) if held != leading => {
                            tracing::info!(%holder, leading = held, "scheduler lease changed hands");
                            leading = held;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "scheduler lease unreachable");
                            leading = false;
                        }
                    }
                    if leading {
                        scheduled_round(&state, &mut backfill).await;
                    }
                    crate::metrics::scheduler_tick(started);
                }
            }
        }
        if leading {
            if let Err(e) = state.leases.release_lease(SCHEDULER_LEASE, &holder).await {
                tracing::warn!(error = %e, "scheduler lease not released; it expires");
            }
        }
    })
}

/// Documents with this many changes since their last compaction are compacted.
const COMPACT_AFTER_CHANGES: u32 = 32;
/// Documents compacted per scheduler round at most, so a round stays short.
const COMPACT_PER_ROUND: usize = 200;

/// Older documents given their kept snapshot per scheduler round at most (each is
/// loaded and folded once).
const SNAPSHOTS_PER_ROUND: usize = 2_000;

async fn scheduled_round(state: &AppState, backfill: &mut crate::storage::snapshots::Backfill) {
    let now = state.clock.now();
    match tick(state, now).await {
        Ok(w) if w.events > 0 => tracing::info!(
            documents = w.documents,
            events = w.events,
            "deadline events written"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "scheduler tick failed"),
    }
    if let Err(e) = crate::blobs::sweep_abandoned_uploads(state).await {
        tracing::error!(error = %e, "sweeping abandoned uploads failed");
    }
    let compacted = crate::storage::compaction::compact_long_documents(
        state.docs.as_ref(),
        COMPACT_AFTER_CHANGES,
        COMPACT_PER_ROUND,
    )
    .await;
    if let Err(e) = compacted {
        tracing::error!(error = %e, "compaction failed");
    }
    if !backfill.finished {
        let kept = crate::storage::snapshots::keep_missing_snapshots(
            state.docs.as_ref(),
            backfill,
            SNAPSHOTS_PER_ROUND,
        )
        .await;
        if let Err(e) = kept {
            tracing::error!(error = %e, "keeping older documents' snapshots failed");
        }
    }
}
