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
use crate::stats::median;

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
    /// Ours only: when the devices got through each step, to show where the time goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
}

/// Seconds from the start barrier at which the last device (and the median one) had
/// saved its cases and had its first sync answered, and how many devices needed more
/// than one sync (each further one waited a poll interval first).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    pub cases_saved_median_s: f64,
    pub cases_saved_last_s: f64,
    pub first_answer_median_s: f64,
    pub first_answer_last_s: f64,
    pub devices_syncing_again: u64,
    /// The device threads' CPU seconds, summed, in each step: creating and saving the
    /// cases, syncing (building the request, the exchange, applying the answer), and the
    /// bench's own check of what a device holds.
    pub device_cpu_create_s: f64,
    pub device_cpu_sync_s: f64,
    pub device_cpu_check_s: f64,
    /// The whole machine's CPU busy share (of both cores) from the barrier to convergence.
    pub machine_busy_share: f64,
}

/// One device's run: bytes, round trips and the moments of [`Phases`].
struct DeviceRun {
    up: u64,
    down: u64,
    trips: u64,
    cases_saved: Instant,
    first_answer: Instant,
    held: Instant,
    syncs: u64,
    cpu_create_s: f64,
    cpu_sync_s: f64,
    cpu_check_s: f64,
}

impl Phases {
    fn of(runs: &[DeviceRun], start: Instant, machine_busy_share: f64) -> Phases {
        let median_and_last = |pick: fn(&DeviceRun) -> Instant| {
            let seconds: Vec<f64> = runs
                .iter()
                .map(|r| pick(r).saturating_duration_since(start).as_secs_f64())
                .collect();
            (
                median(&seconds),
                seconds.iter().copied().fold(0.0, f64::max),
            )
        };
        let (cases_saved_median_s, cases_saved_last_s) = median_and_last(|r| r.cases_saved);
        let (first_answer_median_s, first_answer_last_s) = median_and_last(|r| r.first_answer);
        Phases {
            cases_saved_median_s,
            cases_saved_last_s,
            first_answer_median_s,
            first_answer_last_s,
            devices_syncing_again: runs.iter().filter(|r| r.syncs > 1).count() as u64,
            device_cpu_create_s: runs.iter().map(|r| r.cpu_create_s).sum(),
            device_cpu_sync_s: runs.iter().map(|r| r.cpu_sync_s).sum(),
            device_cpu_check_s: runs.iter().map(|r| r.cpu_check_s).sum(),
            machine_busy_share,
        }
    }
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
            // The device comes back with its run: closing its store (a WAL checkpoint and
            // fsync) is not part of holding the grid, so it is dropped after the figures.
            std::thread::spawn(move || -> Result<(DeviceRun, Device)> {
                barrier.wait();
                let start = Instant::now();
                let mut cpu = procfs::thread_cpu_seconds();
                let mut cpu_step = || {
                    let before = std::mem::replace(&mut cpu, procfs::thread_cpu_seconds());
                    cpu - before
                };
                for n in 0..cases {
                    device.create_case(n, now_millis())?;
                }
                let cpu_create_s = cpu_step();
                let mut run = DeviceRun {
                    up: 0,
                    down: 0,
                    trips: 0,
                    cases_saved: Instant::now(),
                    first_answer: start,
                    held: start,
                    syncs: 0,
                    cpu_create_s,
                    cpu_sync_s: 0.0,
                    cpu_check_s: 0.0,
                };
                loop {
                    let report = device.sync()?;
                    run.up += report.bytes_sent;
                    run.down += report.bytes_received;
                    run.trips += u64::from(report.round_trips);
                    run.syncs += 1;
                    if run.syncs == 1 {
                        run.first_answer = Instant::now();
                    }
                    run.cpu_sync_s += cpu_step();
                    let holds = device.holds(want)?;
                    run.cpu_check_s += cpu_step();
                    if holds {
                        run.held = Instant::now();
                        return Ok((run, device));
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
    let machine0 = procfs::machine_ticks();
    // Taken before the barrier, which this thread reaches last: after it, this thread may
    // wait its turn for a core behind fifty devices, and a later start would shorten
    // every figure measured from it.
    let start = Instant::now();
    barrier.wait();
    let mut figures = SyncFigures::default();
    let mut failure = None;
    let mut runs = Vec::with_capacity(handles.len());
    let mut synced = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.join() {
            Ok(Ok((run, device))) => {
                synced.push(device);
                figures.bytes_up += run.up;
                figures.bytes_down += run.down;
                figures.round_trips += run.trips;
                runs.push(run);
            }
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some(BenchError::Setup("a device thread panicked".into())),
        }
    }
    // The moment the last device found it held its grid, not when its thread was joined.
    figures.converged_s = runs
        .iter()
        .map(|r| r.held.saturating_duration_since(start).as_secs_f64())
        .fold(0.0, f64::max);
    figures.server_cpu_s = server.cpu_seconds() - server_cpu0;
    figures.device_cpu_s = procfs::own_cpu_seconds() - own_cpu0;
    figures.server_peak_rss_mb = server.peak_rss_bytes() as f64 / 1e6;
    let busy = procfs::busy_share(machine0, procfs::machine_ticks());
    figures.phases = Some(Phases::of(&runs, start, busy));
    if let Some(perf) = perf {
        perf.finish();
    }
    drop(synced);
    match failure {
        Some(e) => Err(e),
        None => Ok(figures),
    }
}
