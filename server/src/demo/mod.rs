//! `fieldloop-server demo`: a seeded city and a simulated working day, run by simulated
//! phones against the real listener over HTTP, then the server keeps serving.
//!
//! - [`city`]: the reference data (grid cells, units, responsibility matrix, river
//!   segments, the canal-2026 project), served by `GET /v1/reference` ([`routes`]).
//! - [`scenario`]: the day itself; [`scenario::run_day`] returns a [`Summary`] folded
//!   from the documents the admin's phone synced.
//! - [`device`], [`link`], [`photos`]: a simulated phone (its own store file, the core's
//!   client), its HTTP line, and the JPEGs it takes.
//!
//! [`start`] opens the embedded store on a [`ManualClock`] set to the morning of the day,
//! seeds it and listens; [`run_day_on`] runs the day against that listener.

pub mod city;
pub mod device;
pub mod link;
pub mod photos;
pub mod routes;
pub mod scenario;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

pub use scenario::{DayOptions, Summary};

use crate::clock::ManualClock;
use crate::error::{Result, ServerError};
use crate::serve::{self, RunningServer};
use crate::state::{AppState, Config};
use crate::{app, seed};

/// A demo server on the embedded store, listening, with the day's clock.
pub struct DemoServer {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub server: RunningServer,
    pub data: PathBuf,
}

impl DemoServer {
    /// `http://ADDR`, what the simulated phones talk to.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }
}

/// Opens `<data>` with the day's clock (08:30 on 2026-11-23, China time), seeds the
/// demo users (idempotent) and listens on `listen` over plain HTTP.
pub async fn start(data: &Path, listen: SocketAddr) -> Result<DemoServer> {
    let clock = Arc::new(ManualClock::new(scenario::at(8, 30)));
    let dir = data.to_path_buf();
    let server_clock: Arc<dyn crate::clock::Clock> = clock.clone();
    let state = tokio::task::spawn_blocking(move || {
        AppState::embedded(&dir, server_clock, Config::default())
    })
    .await??;
    let created = seed::seed_demo(&state).await?;
    tracing::info!(created, "demo users seeded");
    let server = serve::start(app(state.clone()), listen, None).await?;
    Ok(DemoServer {
        state,
        clock,
        server,
        data: data.to_path_buf(),
    })
}

/// Runs the simulated day against `demo`'s listener (on a blocking thread: the phones
/// use the blocking HTTP client). Phones keep their stores in `<data>/devices/`.
pub async fn run_day_on(
    demo: &DemoServer,
    settle: Duration,
    stop: Arc<AtomicBool>,
    mut progress: impl FnMut(&str) + Send + 'static,
) -> Result<Summary> {
    let base_url = demo.base_url();
    let devices = demo.data.join("devices");
    let clock = demo.clock.clone();
    let summary = tokio::task::spawn_blocking(move || {
        scenario::run_day(
            DayOptions {
                base_url,
                devices_dir: &devices,
                clock,
                settle,
                stop,
            },
            &mut progress,
        )
    })
    .await?;
    summary.map_err(ServerError::from)
}
