//! `fieldloop-server serve|demo`: the sync server on the embedded store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fieldloop_server::clock::SystemClock;
use fieldloop_server::{app, referee, seed, serve, AppState, Config};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "fieldloop-server", version, about = "fieldloop sync server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve on the embedded store (SQLite + files in --data).
    Serve(ServeArgs),
    /// Seed a demo city (users for every role) and serve it.
    Demo(ServeArgs),
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
}

/// How often deadline warnings, overdue and escalation events are looked for.
const SCHEDULER_EVERY: Duration = Duration::from_secs(60);

async fn run(args: ServeArgs, demo: bool) -> fieldloop_server::Result<()> {
    let data = args.data.clone();
    let state = tokio::task::spawn_blocking(move || {
        AppState::embedded(&data, Arc::new(SystemClock), Config::default())
    })
    .await??;
    if demo {
        let created = seed::seed_demo(&state).await?;
        tracing::info!(
            created,
            "demo users seeded (see fieldloop_server::seed for logins)"
        );
    }
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
    let scheduler = referee::spawn_scheduler(state.clone(), SCHEDULER_EVERY, async {
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
        Command::Serve(args) => run(args, false).await,
        Command::Demo(args) => run(args, true).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "fieldloop-server failed");
            ExitCode::FAILURE
        }
    }
}
