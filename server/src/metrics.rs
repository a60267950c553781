//! Process-wide counters for Prometheus (`GET /metrics`, text exposition format 0.0.4).
//!
//! Other modules record with one call each ([`sync_request`], [`pushes`], [`verdict`],
//! [`scheduler_tick`], [`blob_stored`], [`blob_served`], [`response`]); [`render`] writes
//! them out. Plain atomics, no registry: the set is small and fixed, and a scrape must not
//! take a lock a sync holds. Counters are per process, as Prometheus expects: each
//! instance behind a load balancer is scraped on its own.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the sync latency histogram's buckets.
const SYNC_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

struct Histogram {
    buckets: [AtomicU64; SYNC_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

struct Metrics {
    sync_latency: Histogram,
    sync_failed: AtomicU64,
    pushes_accepted: AtomicU64,
    pushes_rejected: AtomicU64,
    /// [kind][passed]: case, notice, patrol × failed, passed.
    verdicts: [[AtomicU64; 2]; 3],
    scheduler_ticks: AtomicU64,
    scheduler_tick_micros: AtomicU64,
    /// Micros since [`started`] when the last tick ended; 0 before the first.
    scheduler_last_tick: AtomicU64,
    blob_bytes_stored: AtomicU64,
    blobs_stored: AtomicU64,
    blob_bytes_served: AtomicU64,
    /// Responses by class: below 400, 4xx, 5xx.
    responses: [AtomicU64; 3],
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);

static METRICS: Metrics = Metrics {
    sync_latency: Histogram {
        buckets: [ZERO; SYNC_BUCKETS.len()],
        count: ZERO,
        sum_micros: ZERO,
    },
    sync_failed: ZERO,
    pushes_accepted: ZERO,
    pushes_rejected: ZERO,
    verdicts: [[ZERO; 2], [ZERO; 2], [ZERO; 2]],
    scheduler_ticks: ZERO,
    scheduler_tick_micros: ZERO,
    scheduler_last_tick: ZERO,
    blob_bytes_stored: ZERO,
    blobs_stored: ZERO,
    blob_bytes_served: ZERO,
    responses: [ZERO; 3],
};

fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What a verdict judged.
#[derive(Debug, Clone, Copy)]
pub enum VerdictKind {
    Case,
    Notice,
    Patrol,
}

const VERDICT_KINDS: [(VerdictKind, &str); 3] = [
    (VerdictKind::Case, "case"),
    (VerdictKind::Notice, "notice"),
    (VerdictKind::Patrol, "patrol"),
];

/// One `POST /v1/sync` answered after `took`; `ok` when it was a 2xx.
pub fn sync_request(took: Duration, ok: bool) {
    let h = &METRICS.sync_latency;
    let secs = took.as_secs_f64();
    if let Some(i) = SYNC_BUCKETS.iter().position(|&bound| secs <= bound) {
        h.buckets[i].fetch_add(1, Relaxed);
    }
    h.count.fetch_add(1, Relaxed);
    h.sum_micros.fetch_add(micros(took), Relaxed);
    if !ok {
        METRICS.sync_failed.fetch_add(1, Relaxed);
    }
}

/// Pushes judged in one sync: new changes stored, and rejected ones.
pub fn pushes(accepted: usize, rejected: usize) {
    METRICS.pushes_accepted.fetch_add(accepted as u64, Relaxed);
    METRICS.pushes_rejected.fetch_add(rejected as u64, Relaxed);
}

/// A verdict the referee wrote.
pub fn verdict(kind: VerdictKind, passed: bool) {
    METRICS.verdicts[kind as usize][usize::from(passed)].fetch_add(1, Relaxed);
}

/// The verdicts among events the server has just stored (`case.verdict`,
/// `notice.verdict`, `patrol.verdict`), counted by outcome.
pub fn verdicts_written(events: &[fieldloop_core::doc::Event]) {
    use fieldloop_core::case::Verdict;
    use fieldloop_core::notice::NoticeVerdict;
    use fieldloop_core::patrol::PatrolVerdict;
    for event in events {
        let data = event.data.clone();
        let judged = match event.kind.as_str() {
            fieldloop_core::case::kinds::VERDICT => {
                serde_json::from_value::<Verdict>(data).map(|v| (VerdictKind::Case, v.passed()))
            }
            fieldloop_core::notice::NOTICE_VERDICT => serde_json::from_value::<NoticeVerdict>(data)
                .map(|v| (VerdictKind::Notice, v.passed)),
            fieldloop_core::patrol::VERDICT => serde_json::from_value::<PatrolVerdict>(data)
                .map(|v| (VerdictKind::Patrol, v.valid)),
            _ => continue,
        };
        if let Ok((kind, passed)) = judged {
            verdict(kind, passed);
        }
    }
}

/// A scheduler tick that started at `started_at` has just ended.
pub fn scheduler_tick(started_at: Instant) {
    let now = Instant::now();
    METRICS.scheduler_ticks.fetch_add(1, Relaxed);
    METRICS
        .scheduler_tick_micros
        .store(micros(now.saturating_duration_since(started_at)), Relaxed);
    let since_start = micros(now.saturating_duration_since(started())).max(1);
    METRICS.scheduler_last_tick.store(since_start, Relaxed);
}

/// A verified photo of `bytes` was stored.
pub fn blob_stored(bytes: u64) {
    METRICS.blobs_stored.fetch_add(1, Relaxed);
    METRICS.blob_bytes_stored.fetch_add(bytes, Relaxed);
}

/// A photo of `bytes` was sent to a reader.
pub fn blob_served(bytes: u64) {
    METRICS.blob_bytes_served.fetch_add(bytes, Relaxed);
}

/// Any HTTP answer, by status.
pub fn response(status: u16) {
    let class = match status {
        500.. => 2,
        400..=499 => 1,
        _ => 0,
    };
    METRICS.responses[class].fetch_add(1, Relaxed);
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The exposition text for a scrape.
pub fn render() -> String {
    let m = &METRICS;
    let mut out = String::new();
    let load = |a: &AtomicU64| a.load(Relaxed);

    family(
        &mut out,
        "fieldloop_sync_request_duration_seconds",
        "histogram",
        "Time to answer POST /v1/sync.",
    );
    let mut cumulative = 0;
    for (bound, bucket) in SYNC_BUCKETS.iter().zip(&m.sync_latency.buckets) {
        cumulative += load(bucket);
        let _ = writeln!(
            out,
            "fieldloop_sync_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    let count = load(&m.sync_latency.count);
    let _ = writeln!(
        out,
        "fieldloop_sync_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(
        out,
        "fieldloop_sync_request_duration_seconds_sum {}",
        load(&m.sync_latency.sum_micros) as f64 / 1e6
    );
    let _ = writeln!(out, "fieldloop_sync_request_duration_seconds_count {count}");

    family(
        &mut out,
        "fieldloop_sync_requests_total",
        "counter",
        "POST /v1/sync requests answered, by outcome.",
    );
    let failed = load(&m.sync_failed);
    let _ = writeln!(
        out,
        "fieldloop_sync_requests_total{{outcome=\"ok\"}} {}",
        count.saturating_sub(failed)
    );
    let _ = writeln!(
        out,
        "fieldloop_sync_requests_total{{outcome=\"error\"}} {failed}"
    );

    family(
        &mut out,
        "fieldloop_pushes_total",
        "counter",
        "Document pushes with new changes, accepted (stored) or rejected.",
    );
    let _ = writeln!(
        out,
        "fieldloop_pushes_total{{outcome=\"accepted\"}} {}",
        load(&m.pushes_accepted)
    );
    let _ = writeln!(
        out,
        "fieldloop_pushes_total{{outcome=\"rejected\"}} {}",
        load(&m.pushes_rejected)
    );

    family(
        &mut out,
        "fieldloop_verdicts_total",
        "counter",
        "Verdicts written by the referee, by what was judged and outcome.",
    );
    for (kind, name) in VERDICT_KINDS {
        for (passed, outcome) in [(1, "passed"), (0, "failed")] {
            let _ = writeln!(
                out,
                "fieldloop_verdicts_total{{kind=\"{name}\",outcome=\"{outcome}\"}} {}",
                load(&m.verdicts[kind as usize][passed])
            );
        }
    }

    family(
        &mut out,
        "fieldloop_scheduler_lag_seconds",
        "gauge",
        "Seconds since the deadline scheduler last finished a tick (-1 before the first).",
    );
    let last = load(&m.scheduler_last_tick);
    let lag = if last == 0 {
        -1.0
    } else {
        (micros(started().elapsed()).saturating_sub(last)) as f64 / 1e6
    };
    let _ = writeln!(out, "fieldloop_scheduler_lag_seconds {lag}");
    family(
        &mut out,
        "fieldloop_scheduler_tick_duration_seconds",
        "gauge",
        "How long the last scheduler tick took.",
    );
    let _ = writeln!(
        out,
        "fieldloop_scheduler_tick_duration_seconds {}",
        load(&m.scheduler_tick_micros) as f64 / 1e6
    );
    family(
        &mut out,
        "fieldloop_scheduler_ticks_total",
        "counter",
        "Scheduler ticks run by this instance.",
    );
    let _ = writeln!(
        out,
        "fieldloop_scheduler_ticks_total {}",
        load(&m.scheduler_ticks)
    );

    family(
        &mut out,
        "fieldloop_blob_bytes_total",
        "counter",
        "Photo bytes verified and stored, and sent to readers.",
    );
    let _ = writeln!(
        out,
        "fieldloop_blob_bytes_total{{direction=\"stored\"}} {}",
        load(&m.blob_bytes_stored)
    );
    let _ = writeln!(
        out,
        "fieldloop_blob_bytes_total{{direction=\"served\"}} {}",
        load(&m.blob_bytes_served)
    );
    family(
        &mut out,
        "fieldloop_blobs_stored_total",
        "counter",
        "Photos verified and stored.",
    );
    let _ = writeln!(
        out,
        "fieldloop_blobs_stored_total {}",
        load(&m.blobs_stored)
    );

    family(
        &mut out,
        "fieldloop_http_responses_total",
        "counter",
        "HTTP answers by status class.",
    );
    for (i, class) in ["below_400", "4xx", "5xx"].iter().enumerate() {
        let _ = writeln!(
            out,
            "fieldloop_http_responses_total{{class=\"{class}\"}} {}",
            load(&m.responses[i])
        );
    }
    out
}
