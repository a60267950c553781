//! Running the server in production: the error shape of every answer ([`shape`]),
//! health, readiness and metrics endpoints ([`health`]), configuration ([`config`]),
//! logs ([`logging`]), and backup / restore of the embedded default ([`backup`]).

pub mod backup;
pub mod config;
pub mod health;
pub mod logging;
pub mod shape;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

pub use logging::{LogFormat, OpsArgs};

/// `serve` flags for how requests and shutdown are bounded.
#[derive(Debug, Clone, Args)]
pub struct ServeOps {
    /// Seconds open requests (a sync in flight) get to finish after SIGINT/SIGTERM.
    #[arg(long, env = "FIELDLOOP_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// Seconds before a request other than a photo transfer is answered 408.
    #[arg(long, env = "FIELDLOOP_REQUEST_TIMEOUT_SECS", default_value_t = 120)]
    pub request_timeout_secs: u64,
    /// Failed logins in a row for one account name before it is locked.
    #[arg(long, env = "FIELDLOOP_LOGIN_MAX_FAILURES", default_value_t = crate::throttle::MAX_FAILURES)]
    pub login_max_failures: u32,
    /// Failed logins from one client address (any names) before it is locked.
    #[arg(long, env = "FIELDLOOP_LOGIN_MAX_ADDRESS_FAILURES",
          default_value_t = crate::throttle::MAX_ADDRESS_FAILURES)]
    pub login_max_address_failures: u32,
    /// Minutes a lock lasts after the failure that set it.
    #[arg(long, env = "FIELDLOOP_LOGIN_LOCK_MINUTES", default_value_t = 15)]
    pub login_lock_minutes: u32,
    /// A reverse proxy whose X-Forwarded-For names the client (repeat, or comma
    /// separated). None by default: the socket's peer is the client.
    #[arg(
        long = "trusted-proxy",
        env = "FIELDLOOP_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Documents kept loaded in memory between requests (0: none, every read loads).
    #[arg(long, env = "FIELDLOOP_CACHED_DOCS", default_value_t = crate::doc_cache::DEFAULT_CACHED_DOCS)]
    pub cached_docs: usize,
    /// Syncs worked on at once; more wait their turn (each one worked on holds its body,
    /// its listing and its answer in memory).
    #[arg(long, env = "FIELDLOOP_MAX_CONCURRENT_SYNCS", default_value_t = crate::sync::DEFAULT_CONCURRENT_SYNCS)]
    pub max_concurrent_syncs: usize,
}

impl ServeOps {
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The app's settings with this request timeout.
    pub fn app_config(&self) -> crate::Config {
        crate::Config {
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            login_throttle: crate::throttle::ThrottleSettings {
                per_account: self.login_max_failures.max(1),
                per_address: self.login_max_address_failures.max(1),
                lock_for: i64::from(self.login_lock_minutes.max(1)) * fieldloop_core::time::MINUTE,
                trusted_proxies: self.trusted_proxies.clone(),
            },
            cached_docs: self.cached_docs,
            max_concurrent_syncs: self.max_concurrent_syncs.max(1),
            ..crate::Config::default()
        }
    }
}

/// `fieldloop-server backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The data directory of the running (or stopped) server.
    #[arg(long, env = "FIELDLOOP_DATA", default_value = "./fieldloop-data")]
    pub data: PathBuf,
    /// A new (or empty) directory to write the backup into.
    #[arg(long)]
    pub to: PathBuf,
}

/// `fieldloop-server restore`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// A directory written by `backup`.
    #[arg(long)]
    pub from: PathBuf,
    /// The data directory to create (must hold no database yet).
    #[arg(long, env = "FIELDLOOP_DATA", default_value = "./fieldloop-data")]
    pub data: PathBuf,
}

/// Runs `backup` and prints what was copied.
pub async fn run_backup(args: BackupArgs) -> crate::Result<()> {
    let (data, to) = (args.data.clone(), args.to.clone());
    let manifest = tokio::task::spawn_blocking(move || backup::backup(&data, &to)).await??;
    println!(
        "backup of {} in {}: {} documents up to change {}, {} photos ({} bytes)",
        args.data.display(),
        args.to.display(),
        manifest.documents,
        manifest.head_seq,
        manifest.photos,
        manifest.photo_bytes
    );
    Ok(())
}

/// Runs `restore` and prints what was laid out.
pub async fn run_restore(args: RestoreArgs) -> crate::Result<()> {
    let (from, data) = (args.from.clone(), args.data.clone());
    let manifest = tokio::task::spawn_blocking(move || backup::restore(&from, &data)).await??;
    println!(
        "restored {} (taken {}) into {}: {} documents up to change {}, {} photos; start it with `fieldloop-server serve --data {}`",
        args.from.display(),
        manifest.taken_at,
        args.data.display(),
        manifest.documents,
        manifest.head_seq,
        manifest.photos,
        args.data.display()
    );
    Ok(())
}
