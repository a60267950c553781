//! `fieldloop-server serve|demo`: the sync server on the embedded store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fieldloop_server::clock::SystemClock;
use fieldloop_server::{app, referee, serve, AppState, Config};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "fieldloop-server", version, about = "fieldloop sync server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve on the embedded store (SQLite + files in --data), or on PostgreSQL + S3.
    Serve(ServeArgs),
    /// Seed the demo city, run a simulated working day against this server over HTTP,
    /// print the summary, then keep serving.
    Demo(DemoArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Data directory: the SQLite database and the photos.
    #[arg(long, default_value = "./fieldloop-data")]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PEM certificate chain; serves HTTPS together with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    storage: StorageArgs,
}

/// Where the deployment keeps its data: the embedded default under --data, or PostgreSQL
/// and an S3-compatible bucket shared by several instances.
#[derive(Args)]
struct StorageArgs {
    /// Database: postgres://USER:PASSWORD@HOST:PORT/DB, or a SQLite file
    /// [default: DATA/fieldloop.sqlite3].
    #[arg(long)]
    database: Option<String>,
    /// Photo store: s3://BUCKET, or a directory [default: DATA/blobs].
    #[arg(long)]
    blobs: Option<String>,
    /// S3 endpoint URL (else AWS_ENDPOINT; else AWS itself).
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// S3 region (else AWS_REGION / AWS_DEFAULT_REGION).
    #[arg(long)]
    s3_region: Option<String>,
    /// S3 access key id (else AWS_ACCESS_KEY_ID).
    #[arg(long)]
    s3_access_key_id: Option<String>,
    /// S3 secret access key (else AWS_SECRET_ACCESS_KEY).
    #[arg(long)]
    s3_secret_access_key: Option<String>,
    /// Allow plain HTTP to the S3 endpoint (a private network).
    #[arg(long)]
    s3_allow_http: bool,
    /// Seconds between scheduler rounds; one instance at a time runs them, by a lease
    /// of three rounds.
    #[arg(long, default_value_t = 60)]
    scheduler_every_secs: u64,
}

impl StorageArgs {
    fn database(&self, data: &std::path::Path) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| data.join("fieldloop.sqlite3").display().to_string())
    }

    fn blobs(&self, data: &std::path::Path) -> String {
        self.blobs
            .clone()
            .unwrap_or_else(|| data.join("blobs").display().to_string())
    }

    fn s3(&self) -> fieldloop_server::storage::s3_blobs::S3Settings {
        fieldloop_server::storage::s3_blobs::S3Settings {
            bucket: String::new(),
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
            allow_http: self.s3_allow_http,
        }
    }
}

#[derive(Args)]
struct DemoArgs {
    /// Data directory: the server's database and photos, and `devices/` with one store
    /// file per simulated phone.
    #[arg(long, default_value = "./fieldloop-data")]
    data: PathBuf,
    /// Address to listen on (plain HTTP: the simulated phones are on this machine).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seconds (real time) to wait for the server's verdicts and deadline checks.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
}

async fn run_demo(args: DemoArgs) -> fieldloop_server::Result<()> {
    let demo = fieldloop_server::demo::start(&args.data, args.listen).await?;
    tracing::info!(
        addr = %demo.server.addr,
        tls = false,
        data = %args.data.display(),
        "fieldloop-server listening"
    );
    println!(
        "fieldloop demo: 杭州市西湖区, Monday 2026-11-23; server on {}, data in {}",
        demo.base_url(),
        args.data.display()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let day = fieldloop_server::demo::run_day_on(
        &demo,
        Duration::from_secs(args.settle_secs),
        stop.clone(),
        |line| println!("{line}"),
    );
    // Ctrl-C during the day stops the phones at their next sync, then the server.
    let summary = tokio::select! {
        summary = day => summary,
        () = serve::shutdown_signal() => {
            stop.store(true, Ordering::SeqCst);
            tracing::info!("shutting down during the simulated day");
            demo.shutdown(Duration::from_secs(10)).await?;
            tracing::info!("stopped");
            return Ok(());
        }
    };
    match &summary {
        Ok(summary) => print!("{}", summary.render()),
        Err(e) => println!("the simulated day stopped: {e}"),
    }
    // From here the day's clock runs at real speed from where the scenario left it.
    let clock = demo.clock.clone();
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            clock.advance(1000);
        }
    });
    println!(
        "serving on {} (logins in server/README.md, \"Demo city\"); Ctrl-C to stop",
        demo.base_url()
    );
    serve::shutdown_signal().await;
    ticker.abort();
    tracing::info!("shutting down; letting open requests finish");
    demo.shutdown(Duration::from_secs(10)).await?;
    tracing::info!("stopped");
    summary.map(|_| ())
}

async fn run(args: ServeArgs) -> fieldloop_server::Result<()> {
    let storage = &args.storage;
    let (database, blobs) = (storage.database(&args.data), storage.blobs(&args.data));
    let clock = Arc::new(SystemClock);
    let state = AppState::open(&database, &blobs, &storage.s3(), clock, Config::default()).await?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(serve::tls_config(cert, key).await?),
        _ => None,
    };
    if tls.is_none() && !args.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %args.listen,
            "serving plain HTTP off loopback: tokens and passwords travel in clear; \
             give --tls-cert and --tls-key"
        );
    }
    let (stop_scheduler, scheduler_stopped) = tokio::sync::oneshot::channel::<()>();
    let every = Duration::from_secs(storage.scheduler_every_secs.max(1));
    let scheduler = referee::spawn_scheduler(state.clone(), every, async {
        let _ = scheduler_stopped.await;
    });
    let server = serve::start(app(state), args.listen, tls).await?;
    tracing::info!(
        addr = %server.addr,
        tls = server.tls,
        data = %args.data.display(),
        "fieldloop-server listening"
    );
    serve::shutdown_signal().await;
    tracing::info!("shutting down; letting open requests finish");
    server.shutdown(Duration::from_secs(10)).await?;
    let _ = stop_scheduler.send(());
    let _ = scheduler.await;
    tracing::info!("stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => run(args).await,
        Command::Demo(args) => run_demo(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "fieldloop-server failed");
            ExitCode::FAILURE
        }
    }
}
