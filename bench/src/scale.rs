//! §2 Cost grows with change, not size: one device's one-document sync with 1,000 and with
//! up to 1,000,000 documents stored on the server. The stored documents are real case
//! documents of other grids (out of the device's scope, as most of a city is), written in
//! bulk through the server's storage layer (`DocStore::append_changes`, 5,000 per
//! transaction) while the server is stopped; then the real binary serves the data
//! directory and the device times its syncs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldloop_core::doc::DocKind;
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_server::clock::SystemClock;
use fieldloop_server::storage::{NewChange, Origin, ProjectionFields};
use fieldloop_server::{AppState, Config};
use serde::Serialize;

use crate::error::{setup, Result};
use crate::fleet::{loose_case, Device, T0};
use crate::load::timed_sync;
use crate::server::{Backend, Server};
use crate::stats::median;

const BATCH: usize = 5_000;
/// The city outside the device's grid: community 099 of the same street.
const ELSEWHERE: &str = "110105001099";

#[derive(Debug, Clone, Serialize)]
pub struct ScalePoint {
    pub documents_stored: u64,
    pub seed_seconds: f64,
    pub syncs: usize,
    pub sync_median_ms: f64,
    pub sync_p90_ms: f64,
    pub bytes_per_sync: u64,
    pub server_peak_rss_mb: f64,
    pub database_mb: f64,
}

fn seeder() -> Principal {
    Principal {
        user_id: "bench-seeder".into(),
        role: Role::Inspector,
        jurisdiction: Jurisdiction {
            grid_prefixes: vec![ELSEWHERE.into()],
            ..Jurisdiction::default()
        },
    }
}

/// Appends documents `from..to` to the store in `data`; false if `budget` ran out first
/// (then `to` is not reached and the caller reports the count reached).
fn seed(data: &std::path::Path, from: u64, to: u64, budget: Duration) -> Result<u64> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let state = AppState::embedded(data, Arc::new(SystemClock), Config::default())
        .map_err(|e| setup(format!("open the server's storage: {e}")))?;
    let by = seeder();
    let start = Instant::now();
    let mut n = from;
    while n < to && start.elapsed() < budget {
        let end = (n + BATCH as u64).min(to);
        let batch = (n..end)
            .map(|i| {
                let cell = format!("{ELSEWHERE}{:03}", i % 1000);
                let mut case = loose_case(&by, &cell, i as usize, T0)?;
                Ok(NewChange {
                    doc_id: case.header()?.id,
                    kind: DocKind::Case,
                    bytes: case.doc_mut().save(),
                    origin: Origin {
                        user_id: by.user_id.clone(),
                        device_id: None,
                        arrived_at: T0,
                    },
                    projection: ProjectionFields {
                        status: Some("reported".into()),
                        grid_cell: Some(cell),
                        json: serde_json::json!({
                            "created_by": by.user_id, "category": "20102", "created_at": T0,
                        }),
                        ..ProjectionFields::default()
                    },
                    blob_refs: vec![],
                })
            })
            .collect::<Result<Vec<_>>>()?;
        rt.block_on(state.docs.append_changes(batch))
            .map_err(|e| setup(format!("seed: {e}")))?;
        n = end;
    }
    Ok(n)
}

/// Measures at each count in `counts` (ascending), seeding the difference between them
/// into the same server; stops early when seeding runs out of `budget` in total.
pub fn run(
    binary: &std::path::Path,
    counts: &[u64],
    syncs: usize,
    budget: Duration,
) -> Result<Vec<ScalePoint>> {
    let dir = crate::server::bench_dir()?;
    let data = dir.path().join("server");
    Server::init(binary, &data)?;
    let mut dir = Some(dir);
    let mut stored = 0u64;
    let mut device: Option<(Device, uuid::Uuid)> = None;
    let mut points = Vec::new();
    let devices_dir = crate::server::bench_dir()?;
    let started = Instant::now();
    for &count in counts {
        let seed_start = Instant::now();
        let left = budget.saturating_sub(started.elapsed());
        stored = seed(&data, stored, count, left)?;
        let seed_seconds = seed_start.elapsed().as_secs_f64();
        let server = Server::serve(
            binary,
            &Backend::Embedded,
            dir.take().expect("directory"),
            data.clone(),
        )?;
        if device.is_none() {
            server.create_users(&crate::fleet::people(1))?;
            let mut d = Device::login(&server, devices_dir.path(), 0, 1)?;
            let case = d.create_case(0, crate::fleet::now_millis())?;
            d.sync()?;
            device = Some((d, case));
        }
        let (d, case) = device.as_mut().expect("device");
        // The device catches up first (nothing of its scope is new); then the timed syncs.
        d.sync()?;
        let mut times = Vec::new();
        let mut bytes = 0;
        for i in 0..syncs {
            d.edit(*case, &format!("垃圾堆在路边 {count} {i}"))?;
            let (ms, sent, received) = timed_sync(d)?;
            times.push(ms);
            bytes += (sent + received) as u64;
        }
        let database_mb = std::fs::metadata(data.join("fieldloop.sqlite3"))
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0);
        points.push(ScalePoint {
            documents_stored: stored,
            seed_seconds,
            syncs,
            sync_median_ms: median(&times),
            sync_p90_ms: crate::stats::percentile(&times, 90.0),
            bytes_per_sync: bytes / syncs.max(1) as u64,
            server_peak_rss_mb: server.peak_rss_bytes() as f64 / 1e6,
            database_mb,
        });
        dir = Some(server.stop());
        if stored < count {
            break;
        }
    }
    Ok(points)
}
