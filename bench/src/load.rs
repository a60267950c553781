//! §3 Load: N devices syncing concurrently on loopback. Each device holds one case of its
//! grid; every turn it edits that case, then syncs (one round trip: its push, plus the
//! grid's other changes since its cursor). Latency is the HTTP exchange of `POST /v1/sync`
//! as the device sees it (request build and applying the answer to the store excluded).
//!
//! Paced: each device syncs once every `pace_ms` (phones sync when something changed,
//! not in a tight loop), starts spread over the first interval. Closed loop (`pace_ms`
//! 0): every device syncs again as soon as it is answered, for the saturation rate.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use uuid::Uuid;

use fieldloop_core::sync::client::SyncReport;
use serde::Serialize;

use crate::error::{BenchError, Result};
use crate::fleet::{now_millis, Device, T0};
use crate::server::Server;
use crate::stats::{median, percentile};

#[derive(Debug, Clone, Serialize)]
pub struct LoadFigures {
    pub devices: usize,
    pub pace_ms: u64,
    pub seconds: f64,
    pub requests: usize,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub server_cpu_s: f64,
    pub server_peak_rss_mb: f64,
    /// CPU seconds of this process (the simulated phones: edits, durable saves, applying
    /// the answers to their stores), which shares the machine's cores with the server.
    pub devices_cpu_s: f64,
}

/// The median of each figure over `runs` of one pace (each figure on its own: the
/// median p99 need not come from the run with the median p50).
pub fn median_figures(runs: &[LoadFigures]) -> LoadFigures {
    let m = |f: &dyn Fn(&LoadFigures) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    LoadFigures {
        devices: runs.first().map_or(0, |r| r.devices),
        pace_ms: runs.first().map_or(0, |r| r.pace_ms),
        seconds: m(&|r| r.seconds),
        requests: m(&|r| r.requests as f64) as usize,
        requests_per_s: m(&|r| r.requests_per_s),
        p50_ms: m(&|r| r.p50_ms),
        p99_ms: m(&|r| r.p99_ms),
        max_ms: m(&|r| r.max_ms),
        server_cpu_s: m(&|r| r.server_cpu_s),
        server_peak_rss_mb: m(&|r| r.server_peak_rss_mb),
        devices_cpu_s: m(&|r| r.devices_cpu_s),
    }
}

/// One fleet of `devices` on `server`, measured at each pace of `paces` in turn.
/// With several `servers` (instances of one deployment) the devices are spread over
/// them; CPU seconds and peak RSS are their sums.
pub fn run(
    servers: &[Server],
    devices: usize,
    paces: &[u64],
    duration: Duration,
) -> Result<Vec<LoadFigures>> {
    let grids = 20.min(devices);
    servers
        .first()
        .ok_or_else(|| BenchError::Setup("no server".into()))?
        .create_users(&crate::fleet::people(grids))?;
    let dir = crate::server::bench_dir()?;
    let mut fleet = Vec::new();
    for mut device in Device::fleet_over(servers, dir.path(), devices, grids)? {
        let case = device.create_case(0, now_millis())?;
        device.sync()?;
        fleet.push((device, case));
    }
    // Everyone holds the grid's cases before the clock starts.
    for (device, _) in &mut fleet {
        device.sync()?;
    }
    let mut figures = Vec::new();
    for &pace in paces {
        let (back, f) = phase(servers, fleet, pace, duration)?;
        fleet = back;
        figures.push(f);
    }
    Ok(figures)
}

type Phone = (Device, Uuid);

fn phase(
    servers: &[Server],
    fleet: Vec<Phone>,
    pace_ms: u64,
    duration: Duration,
) -> Result<(Vec<Phone>, LoadFigures)> {
    let devices = fleet.len();
    let barrier = Arc::new(Barrier::new(fleet.len() + 1));
    let handles: Vec<_> = fleet
        .into_iter()
        .map(|(mut device, case)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Result<(Phone, Vec<f64>)> {
                barrier.wait();
                let start = Instant::now();
                let pace = Duration::from_millis(pace_ms);
                // Spread the first syncs over one interval.
                let offset = pace.mul_f64((device.index % 97) as f64 / 97.0);
                std::thread::sleep(offset);
                let mut latencies = Vec::new();
                let mut turn = 0u64;
                while start.elapsed() < duration {
                    let due = offset + pace * turn as u32;
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    turn += 1;
                    device.edit(case, &format!("垃圾堆在路边 第{turn}次更新"))?;
                    latencies.push(timed_sync(&mut device)?.0);
                }
                Ok(((device, case), latencies))
            })
        })
        .collect();
    for server in servers {
        crate::procfs::reset_peak_rss(server.pid);
    }
    let cpu = || servers.iter().map(Server::cpu_seconds).sum::<f64>();
    let cpu0 = cpu();
    let devices_cpu0 = crate::procfs::own_cpu_seconds();
    barrier.wait();
    let start = Instant::now();
    let mut all = Vec::new();
    let mut back = Vec::new();
    for handle in handles {
        let (phone, latencies) = handle
            .join()
            .map_err(|_| BenchError::Setup("a device thread panicked".into()))??;
        back.push(phone);
        all.extend(latencies);
    }
    let seconds = start.elapsed().as_secs_f64();
    let figures = LoadFigures {
        devices,
        pace_ms,
        seconds,
        requests: all.len(),
        requests_per_s: all.len() as f64 / seconds,
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        max_ms: percentile(&all, 100.0),
        server_cpu_s: cpu() - cpu0,
        server_peak_rss_mb: servers
            .iter()
            .map(|s| s.peak_rss_bytes() as f64 / 1e6)
            .sum(),
        devices_cpu_s: crate::procfs::own_cpu_seconds() - devices_cpu0,
    };
    Ok((back, figures))
}

/// One round trip, timed around the HTTP exchange only; the answer is applied after.
/// Milliseconds, and the request and response body bytes.
pub fn timed_sync(device: &mut Device) -> Result<(f64, usize, usize)> {
    let request = device.client.build_request(&device.store)?;
    let started = Instant::now();
    let (response, sent, received) = device.client.exchange(&request)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut report = SyncReport::default();
    let mut rejected = HashSet::new();
    device
        .client
        .apply(&mut device.store, response, T0, &mut rejected, &mut report)?;
    if report.docs_rejected > 0 {
        return Err(BenchError::Setup(format!(
            "device {}: the server refused a push",
            device.index
        )));
    }
    Ok((ms, sent, received))
}
