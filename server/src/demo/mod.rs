//! `fieldloop-server demo`: a seeded city and a simulated working day, run by simulated
//! phones against the real listener over HTTP, then the server keeps serving.
//!
//! - [`city`]: the demo city (grid cells, units, responsibility matrix, river segments,
//!   the canal-2026 project), which the simulated phones know their way around;
//!   [`city_files`]: the same city as import files, seeded through the reference import.
//! - [`scenario`]: the day itself; [`scenario::run_day`] returns a [`Summary`] folded
//!   from the documents the admin's phone synced.
//! - [`device`], [`link`], [`photos`]: a simulated phone (its own store file, the core's
//!   client), its HTTP line, and the JPEGs it takes.
//!
//! [`start`] opens the embedded store on a [`ManualClock`] set to the morning of the day,
//! seeds it and listens; [`run_day_on`] runs the day against that listener.

pub mod city;
pub mod city_files;
pub mod days;
pub mod device;
pub mod link;
pub mod photos;
pub mod scenario;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

pub use days::DemoDay;
pub use scenario::{DayOptions, Summary};

use crate::clock::ManualClock;
use crate::error::{Result, ServerError};
use crate::serve::{self, RunningServer};
use crate::state::{AppState, Config};
use crate::{app, seed};

/// How often the demo server's scheduler looks for due deadline events. Short, because
/// the day's clock jumps: the scheduler reads that clock, not the wall clock.
pub const SCHEDULER_EVERY: Duration = Duration::from_millis(250);

/// A demo server on the embedded store, listening, with the day's clock.
pub struct DemoServer {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub server: RunningServer,
    pub data: PathBuf,
    /// The working day this run plays (the next one after those already played in `data`).
    pub day: DemoDay,
    scheduler: tokio::task::JoinHandle<()>,
    stop_scheduler: tokio::sync::oneshot::Sender<()>,
}

impl DemoServer {
    /// Stops the scheduler, then the listener (open requests get `grace`).
    pub async fn shutdown(self, grace: Duration) -> Result<()> {
        let _ = self.stop_scheduler.send(());
        let _ = self.scheduler.await;
        self.server.shutdown(grace).await
    }

    /// `http://ADDR`, what the simulated phones talk to.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }
}

/// Opens `<data>` with the day's clock (08:30 China time on the next working day to play,
/// see [`days`]), seeds the demo users and imports the demo city's files as the admin (both
/// idempotent), starts the deadline scheduler and listens on `listen` over plain HTTP.
pub async fn start(data: &Path, listen: SocketAddr) -> Result<DemoServer> {
    let day = days::next_day(data, &fieldloop_core::sla::Calendar::bundled()?)?;
    let clock = Arc::new(ManualClock::new(day.at(8, 30)));
    let dir = data.to_path_buf();
    let server_clock: Arc<dyn crate::clock::Clock> = clock.clone();
    let state = tokio::task::spawn_blocking(move || {
        AppState::embedded(&dir, server_clock, Config::default())
    })
    .await??;
    let created = seed::seed_demo(&state).await?;
    tracing::info!(created, "demo users seeded");
    let admin = state
        .users
        .user_by_name("admin")
        .await?
        .ok_or_else(|| ServerError::Internal("the demo admin was not seeded".into()))?;
    let imported = city_files::import_demo_city(&state, &admin.principal()).await?;
    tracing::info!(version = imported.version(), "demo city imported");
    let (stop_scheduler, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = crate::scheduler::spawn_scheduler(state.clone(), SCHEDULER_EVERY, async {
        let _ = stopped.await;
    });
    let server = serve::start(app(state.clone()), listen, None).await?;
    Ok(DemoServer {
        state,
        clock,
        server,
        data: data.to_path_buf(),
        day,
        scheduler,
        stop_scheduler,
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
    days::record(&demo.data, &demo.day)?;
    let base_url = demo.base_url();
    let day = demo.day;
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
                day,
            },
            &mut progress,
        )
    })
    .await?;
    summary.map_err(ServerError::from)
}
