//! §2 Cost grows with change, not size: one device's one-document sync with 1,000 and with
//! up to 1,000,000 documents stored on the server. The stored documents are real case
//! documents of other grids (out of the device's scope, as most of a city is), written in
//! bulk through the server's storage layer (`DocStore::append_changes`, 5,000 per
//! transaction) while the server is stopped; then the real binary serves the data
//! directory and the device times its syncs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldloop_core::case::events::{
    Check, Dispatched, Empty, Handled, Registered, Verdict, VerificationSubmitted,
};
use fieldloop_core::case::CaseEvent;
use fieldloop_core::doc::{DocKind, Evidence, EvidenceStage};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::store::sha256_hex;
use fieldloop_core::time::{Millis, DAY, HOUR, MINUTE};
use fieldloop_server::clock::SystemClock;
use fieldloop_server::evaluation_view::{self, EvaluationCache};
use fieldloop_server::projection::projection_of;
use fieldloop_server::reference::Reference;
use fieldloop_server::storage::open::Location;
use fieldloop_server::storage::{NewChange, Origin};
use fieldloop_server::{referee, AppState, Config};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{setup, Result};
use crate::fleet::{loose_case, Device, UNIT};
use crate::load::timed_sync;
use crate::server::{Backend, Server};
use crate::stats::median;

const BATCH: usize = 5_000;
/// The city outside the device's grid: community 099 of the same street.
const ELSEWHERE: &str = "110105001099";

#[derive(Debug, Clone, Serialize)]
pub struct ScalePoint {
    pub documents_stored: u64,
    /// Of those, open cases (with a unit, so the deadline tick looks at them).
    pub open_cases: u64,
    pub seed_seconds: f64,
    pub syncs: usize,
    pub sync_median_ms: f64,
    pub sync_p90_ms: f64,
    pub bytes_per_sync: u64,
    pub server_peak_rss_mb: f64,
    pub database_mb: f64,
    /// The scheduler's deadline tick (`referee::tick`), first (it writes what is due)
    /// and second (nothing new due) run, in this process on the same storage.
    pub tick_first_ms: f64,
    pub tick_second_ms: f64,
    /// The running month's evaluation for an admin on a cold server, then repeated.
    pub evaluation_cold_ms: f64,
    pub evaluation_warm_ms: f64,
    /// Documents the cold evaluation read (its active window meets the month).
    pub evaluation_docs_read: u64,
    /// Of those, read from their kept snapshots (the rest loaded whole).
    pub evaluation_snapshots_read: u64,
    /// The same cold evaluation loading every document whole (no kept snapshots), on a
    /// fresh cache right after: the peer of `evaluation_cold_ms`.
    pub evaluation_cold_whole_ms: f64,
    /// This process's peak RSS after the tick and the evaluation.
    pub bench_peak_rss_mb: f64,
}

/// One document in this many is an open case; the rest were closed over the years.
const OPEN_EVERY: u64 = 100;
/// How far back the closed cases go.
const HISTORY: Millis = 8 * 365 * DAY;

fn person(id: &str, role: Role, jurisdiction: Jurisdiction) -> Principal {
    Principal {
        user_id: id.into(),
        role,
        jurisdiction,
    }
}

fn seeder() -> Principal {
    person(
        "bench-seeder",
        Role::Inspector,
        Jurisdiction {
            grid_prefixes: vec![ELSEWHERE.into()],
            ..Jurisdiction::default()
        },
    )
}

/// Document `i`: an open case dispatched in the last two weeks, or (99 in 100) a case
/// reported at a time spread over the past eight years and closed two days later, with
/// the events a real one has (registered, dispatched, accepted, handled, verified, a
/// passing verdict, closed). Built without the per-event permission check: the events
/// are the ones people and the referee write, and seeding a million must stay quick.
fn seeded_case(i: u64, now: Millis, reference: &Reference) -> Result<NewChange> {
    let by = seeder();
    let dispatcher = person(
        "bench-dispatcher",
        Role::Dispatcher,
        Jurisdiction::default(),
    );
    let handler = person("bench-handler", Role::Handler, Jurisdiction::default());
    let referee = person("server", Role::Server, Jurisdiction::default());
    let cell = format!("{ELSEWHERE}{:03}", i % 1000);
    // A spread that does not line up with the month boundaries (Knuth's multiplier).
    let spread = |range: Millis| (i.wrapping_mul(2_654_435_761) % range as u64) as Millis;
    let open = i.is_multiple_of(OPEN_EVERY);
    let reported = if open {
        now - spread(14 * DAY) - HOUR
    } else {
        now - 3 * DAY - spread(HISTORY)
    };
    let mut case = loose_case(&by, &cell, i as usize, reported)?;
    let mut steps: Vec<(&Principal, CaseEvent, Millis)> = vec![
        (
            &dispatcher,
            CaseEvent::Registered(Registered::default()),
            reported + 10 * MINUTE,
        ),
        (
            &dispatcher,
            CaseEvent::Dispatched(Dispatched {
                unit: UNIT.into(),
                note: None,
            }),
            reported + 20 * MINUTE,
        ),
    ];
    if !open {
        let after = sha256_hex(format!("after {i}").as_bytes());
        let check = sha256_hex(format!("check {i}").as_bytes());
        let handled_at = reported + DAY;
        let checked_at = reported + 2 * DAY;
        let doc = case.doc_mut();
        doc.add_evidence(
            &after,
            &Evidence::new(EvidenceStage::After, handled_at, None, &handler.user_id),
        )?;
        doc.add_evidence(
            &check,
            &Evidence::new(EvidenceStage::Verification, checked_at, None, &by.user_id),
        )?;
        steps.extend([
            (&handler, CaseEvent::Accepted(Empty {}), reported + HOUR),
            (
                &handler,
                CaseEvent::Handled(Handled {
                    note: None,
                    photos: vec![after],
                }),
                handled_at,
            ),
            (
                &by,
                CaseEvent::VerificationSubmitted(VerificationSubmitted {
                    fixed: true,
                    note: None,
                    photos: vec![check],
                }),
                checked_at,
            ),
            (
                &referee,
                CaseEvent::Verdict(Verdict {
                    checks: vec![Check {
                        name: "evidence".into(),
                        passed: true,
                        reason: "照片齐全".into(),
                    }],
                }),
                checked_at + MINUTE,
            ),
            (&referee, CaseEvent::Closed(Empty {}), checked_at + MINUTE),
        ]);
    }
    for (n, (who, event, at)) in steps.into_iter().enumerate() {
        let id = Uuid::from_u128(((i as u128) << 8) | n as u128 | (0xbe << 120));
        let entry = event.to_event(id, at, &who.user_id, who.role)?;
        case.doc_mut().append_event(&entry)?;
    }
    let snapshot = case.snapshot()?;
    Ok(NewChange {
        doc_id: snapshot.header.id,
        kind: DocKind::Case,
        bytes: case.doc_mut().save(),
        origin: Origin {
            user_id: by.user_id.clone(),
            device_id: None,
            arrived_at: reported,
        },
        projection: projection_of(&snapshot, reference),
        blob_refs: vec![],
        audit: Vec::new(),
        snapshot: fieldloop_server::storage::snapshots::encode(&snapshot),
    })
}

/// The storage a point is measured on: the embedded default in the data directory, or
/// the database URL given to `serve` with `--database`.
fn location(data: &std::path::Path, backend: &Backend) -> Location {
    let mut location = Location::embedded(data);
    if let Backend::External { serve_args, .. } = backend {
        if let Some(at) = serve_args.iter().position(|a| a == "--database") {
            if let Some(url) = serve_args.get(at + 1) {
                location.database = url.clone();
            }
        }
    }
    location
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Appends documents `from..to` to the storage; stops early when `budget` runs out and
/// answers the count reached. Two threads build documents while a third stores them.
fn seed(location: &Location, from: u64, to: u64, now: Millis, budget: Duration) -> Result<u64> {
    let rt = runtime()?;
    let state = rt
        .block_on(AppState::open(
            location,
            Arc::new(SystemClock),
            Config::default(),
        ))
        .map_err(|e| setup(format!("open the server's storage: {e}")))?;
    let reference = state.reference.current();
    let start = Instant::now();
    let mut n = from;
    while n < to && start.elapsed() < budget {
        let end = (n + BATCH as u64).min(to);
        let half = n + (end - n) / 2;
        let build = |range: std::ops::Range<u64>| {
            range
                .map(|i| seeded_case(i, now, &reference))
                .collect::<Result<Vec<_>>>()
        };
        let (a, b) = std::thread::scope(|scope| {
            let first = scope.spawn(|| build(n..half));
            let second = build(half..end);
            (first.join(), second)
        });
        let mut batch = a.map_err(|_| setup("a seeding thread panicked".to_owned()))??;
        batch.extend(b?);
        rt.block_on(state.docs.append_changes(batch))
            .map_err(|e| setup(format!("seed: {e}")))?;
        n = end;
    }
    Ok(n)
}

/// The deadline tick twice and the running month's evaluation cold then warm, on a fresh
/// state over the same storage (as a restarted server would be).
struct Timings {
    tick_first_ms: f64,
    tick_second_ms: f64,
    evaluation_cold_ms: f64,
    evaluation_warm_ms: f64,
    evaluation_docs_read: u64,
    evaluation_snapshots_read: u64,
    evaluation_cold_whole_ms: f64,
}

fn time_tick_and_evaluation(location: &Location, now: Millis) -> Result<Timings> {
    let rt = runtime()?;
    rt.block_on(async {
        // One instant for every evaluation below, so the two ways of reading compare.
        let clock = Arc::new(fieldloop_server::clock::ManualClock::new(
            fieldloop_server::clock::Clock::now(&SystemClock),
        ));
        let state = AppState::open(location, clock, Config::default())
            .await
            .map_err(|e| setup(format!("open the server's storage: {e}")))?;
        let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        referee::tick(&state, now)
            .await
            .map_err(|e| setup(format!("tick: {e}")))?;
        let tick_first_ms = ms(t);
        let t = Instant::now();
        referee::tick(&state, now)
            .await
            .map_err(|e| setup(format!("tick: {e}")))?;
        let tick_second_ms = ms(t);
        let admin = person(
            "bench-admin",
            Role::Admin,
            Jurisdiction {
                everywhere: true,
                ..Jurisdiction::default()
            },
        );
        let month = chrono::DateTime::from_timestamp_millis(now + 8 * HOUR)
            .map(|d| d.format("%Y-%m").to_string())
            .ok_or_else(|| setup("now is not a date".to_owned()))?;
        let t = Instant::now();
        evaluation_view::evaluation(&state, &admin, &month)
            .await
            .map_err(|e| setup(format!("evaluation: {e}")))?;
        let evaluation_cold_ms = ms(t);
        let read = state.evaluation_cache.counters();
        let t = Instant::now();
        let kept = evaluation_view::evaluation(&state, &admin, &month)
            .await
            .map_err(|e| setup(format!("evaluation: {e}")))?;
        let evaluation_warm_ms = ms(t);
        let mut whole_state = state.clone();
        whole_state.evaluation_cache = Arc::new(EvaluationCache::loading_whole_documents());
        let t = Instant::now();
        let whole = evaluation_view::evaluation(&whole_state, &admin, &month)
            .await
            .map_err(|e| setup(format!("evaluation: {e}")))?;
        let evaluation_cold_whole_ms = ms(t);
        if whole != kept {
            return Err(setup(
                "the evaluation from kept snapshots differs from the documents'".to_owned(),
            ));
        }
        Ok(Timings {
            tick_first_ms,
            tick_second_ms,
            evaluation_cold_ms,
            evaluation_warm_ms,
            evaluation_docs_read: read.docs_loaded + read.snapshots_read,
            evaluation_snapshots_read: read.snapshots_read,
            evaluation_cold_whole_ms,
        })
    })
}

/// Measures at each count in `counts` (ascending), seeding the difference between them
/// into the same server; stops early when seeding runs out of `budget` in total.
pub fn run(
    binary: &std::path::Path,
    backend: &Backend,
    counts: &[u64],
    syncs: usize,
    budget: Duration,
    perf: Option<&std::path::Path>,
) -> Result<Vec<ScalePoint>> {
    let backend = &backend.resolve()?;
    let dir = crate::server::bench_dir()?;
    let data = dir.path().join("server");
    Server::init_on(binary, &data, backend)?;
    let location = location(&data, backend);
    let now = crate::fleet::now_millis();
    let mut dir = Some(dir);
    let mut stored = 0u64;
    let mut device: Option<(Device, uuid::Uuid)> = None;
    let mut port: Option<u16> = None;
    let mut points = Vec::new();
    let devices_dir = crate::server::bench_dir()?;
    let started = Instant::now();
    for &count in counts {
        let seed_start = Instant::now();
        let left = budget.saturating_sub(started.elapsed());
        stored = seed(&location, stored, count, now, left)?;
        let seed_seconds = seed_start.elapsed().as_secs_f64();
        // The same port each time: the phone logged in at the first count syncs on.
        let server = match port {
            None => Server::serve(
                binary,
                backend,
                dir.take().expect("directory"),
                data.clone(),
            )?,
            Some(port) => Server::serve_at(
                binary,
                backend,
                dir.take().expect("directory"),
                data.clone(),
                port,
            )?,
        };
        port = Some(server.port);
        if device.is_none() {
            server.create_users(&crate::fleet::people(1))?;
            let mut d = Device::login(&server, devices_dir.path(), 0, 1)?;
            let case = d.create_case(0, crate::fleet::now_millis())?;
            d.sync()?;
            device = Some((d, case));
        }
        let (d, case) = device.as_mut().expect("device");
        // The device catches up first (nothing of its scope is new), and the scheduler's
        // first tick ends; then the timed syncs.
        d.sync()?;
        server.wait_first_tick(Duration::from_secs(600))?;
        let perf = perf.and_then(|dir| {
            std::fs::create_dir_all(dir).ok()?;
            crate::procfs::Perf::attach(server.pid, &dir.join(format!("scale-{stored}.data")))
        });
        let mut times = Vec::new();
        let mut bytes = 0;
        for i in 0..syncs {
            d.edit(*case, &format!("垃圾堆在路边 {count} {i}"))?;
            let (ms, sent, received) = timed_sync(d)?;
            times.push(ms);
            bytes += (sent + received) as u64;
        }
        if let Some(perf) = perf {
            perf.finish();
        }
        let database_mb = std::fs::metadata(data.join("fieldloop.sqlite3"))
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0);
        let server_peak_rss_mb = server.peak_rss_bytes() as f64 / 1e6;
        dir = Some(server.stop());
        let timings = time_tick_and_evaluation(&location, now)?;
        points.push(ScalePoint {
            documents_stored: stored,
            open_cases: stored.div_ceil(OPEN_EVERY),
            seed_seconds,
            syncs,
            sync_median_ms: median(&times),
            sync_p90_ms: crate::stats::percentile(&times, 90.0),
            bytes_per_sync: bytes / syncs.max(1) as u64,
            server_peak_rss_mb,
            database_mb,
            tick_first_ms: timings.tick_first_ms,
            tick_second_ms: timings.tick_second_ms,
            evaluation_cold_ms: timings.evaluation_cold_ms,
            evaluation_warm_ms: timings.evaluation_warm_ms,
            evaluation_docs_read: timings.evaluation_docs_read,
            evaluation_snapshots_read: timings.evaluation_snapshots_read,
            evaluation_cold_whole_ms: timings.evaluation_cold_whole_ms,
            bench_peak_rss_mb: crate::procfs::peak_rss_bytes(std::process::id()) as f64 / 1e6,
        });
        if stored < count {
            break;
        }
    }
    Ok(points)
}
