//! §1 Sync at city scale, fieldloop's side: N devices in G grids each create C cases and
//! sync until they hold every case of their grid with its full content.
//!
//! Each device is a thread with its own store; after a start barrier it creates its cases
//! (saved durably), syncs, and then syncs again every `poll` until it holds all of its
//! grid's cases. Request/response has no push: a device learns of others' cases at its
//! next sync, so the poll interval is part of the time to convergence and is reported.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{BenchError, Result};
use crate::fleet::{now_millis, Device};
use crate::procfs;
use crate::server::Server;

#[derive(Debug, Clone, Serialize)]
pub struct CityConfig {
    pub devices: usize,
    pub grids: usize,
    pub cases_per_device: usize,
    pub poll_ms: u64,
    pub timeout_s: u64,
}

/// One run's figures, for either stack.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncFigures {
    /// Start barrier → the last device holds all of its grid's cases.
    pub converged_s: f64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Ours: HTTP requests. automerge-repo: websocket messages devices sent (it has no
    /// request/response round trip; each message is answered asynchronously).
    pub round_trips: u64,
    pub server_cpu_s: f64,
    pub server_peak_rss_mb: f64,
    pub device_cpu_s: f64,
    /// automerge-repo: websocket connections beyond one per device (its server drops a
    /// socket that misses a 5 s keep-alive ping, the client reconnects 5 s later).
    pub reconnections: u64,
}

impl SyncFigures {
    pub fn bytes(&self) -> u64 {
        self.bytes_up + self.bytes_down
    }
}

/// The fleet, logged in and registered: the setup that is not measured.
pub struct Fleet {
    devices: Vec<Device>,
    per_grid: Vec<usize>,
    _dir: tempfile::TempDir,
}

/// Creates the people and logs every device in (an argon2id hash on the server each).
/// Tokens survive a server restart, so the caller may restart the server before
/// [`measure`]: the memory argon2 took then stays out of the measured peak.
pub fn prepare(server: &Server, config: &CityConfig) -> Result<Fleet> {
    server.create_users(&crate::fleet::people(config.grids))?;
    let dir = crate::server::bench_dir()?;
    let devices = Device::fleet(server, dir.path(), config.devices, config.grids)?;
    let per_grid: Vec<usize> = (0..config.grids)
        .map(|g| devices.iter().filter(|d| d.grid == g).count() * config.cases_per_device)
        .collect();
    Ok(Fleet {
        devices,
        per_grid,
        _dir: dir,
    })
}

/// [`prepare`] and [`measure`] on one server (the harness's test).
pub fn run(server: &Server, config: &CityConfig, perf: Option<&Path>) -> Result<SyncFigures> {
    let fleet = prepare(server, config)?;
    measure(server, fleet, config, perf)
}

/// `perf`: where to record a profile of the server during the measured phase.
pub fn measure(
    server: &Server,
    fleet: Fleet,
    config: &CityConfig,
    perf: Option<&Path>,
) -> Result<SyncFigures> {
    let Fleet {
        devices,
        per_grid,
        _dir,
    } = fleet;
    let barrier = Arc::new(Barrier::new(devices.len() + 1));
    let poll = Duration::from_millis(config.poll_ms);
    let timeout = Duration::from_secs(config.timeout_s);
    let cases = config.cases_per_device;
    let handles: Vec<_> = devices
        .into_iter()
        .map(|mut device| {
            let barrier = barrier.clone();
            let want = per_grid[device.grid];
            std::thread::spawn(move || -> Result<(u64, u64, u64)> {
                barrier.wait();
                let start = Instant::now();
                for n in 0..cases {
                    device.create_case(n, now_millis())?;
                }
                let (mut up, mut down, mut trips) = (0, 0, 0);
                loop {
                    let report = device.sync()?;
                    up += report.bytes_sent;
                    down += report.bytes_received;
                    trips += u64::from(report.round_trips);
                    if device.holds(want)? {
                        return Ok((up, down, trips));
                    }
                    if start.elapsed() > timeout {
                        return Err(BenchError::NoConvergence(format!(
                            "device {} held {} of {want} cases after {timeout:?}",
                            device.index,
                            device.store.doc_count()?
                        )));
                    }
                    std::thread::sleep(poll);
                }
            })
        })
        .collect();
    let perf = perf.and_then(|out| procfs::Perf::attach(server.pid, out));
    procfs::reset_peak_rss(server.pid);
    let server_cpu0 = server.cpu_seconds();
    let own_cpu0 = procfs::own_cpu_seconds();
    barrier.wait();
    let start = Instant::now();
    let mut figures = SyncFigures::default();
    let mut failure = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok((up, down, trips))) => {
                figures.bytes_up += up;
                figures.bytes_down += down;
                figures.round_trips += trips;
            }
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some(BenchError::Setup("a device thread panicked".into())),
        }
    }
    figures.converged_s = start.elapsed().as_secs_f64();
    figures.server_cpu_s = server.cpu_seconds() - server_cpu0;
    figures.device_cpu_s = procfs::own_cpu_seconds() - own_cpu0;
    figures.server_peak_rss_mb = server.peak_rss_bytes() as f64 / 1e6;
    if let Some(perf) = perf {
        perf.finish();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(figures),
    }
}
