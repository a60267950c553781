//! `fieldloop-server serve|demo|init|import`: the sync server on the embedded store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fieldloop_server::clock::SystemClock;
use fieldloop_server::ops::logging::LogTarget;
use fieldloop_server::ops::{self, OpsArgs, ServeOps};
use fieldloop_server::reference::ImportError;
use fieldloop_server::storage::open::Location;
use fieldloop_server::storage::s3_blobs::S3Settings;
use fieldloop_server::{app, onboarding, scheduler, serve, AppState};

#[derive(Parser)]
#[command(name = "fieldloop-server", version, about = "fieldloop sync server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    ops: OpsArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve on the embedded store (SQLite + files in --data), or on PostgreSQL + S3.
    Serve(ServeArgs),
    /// Seed the demo city, run a simulated working day against this server over HTTP,
    /// print the summary, then keep serving.
    Demo(DemoArgs),
    /// Copy the embedded store (SQLite online backup + photo files), safe while serving.
    Backup(ops::BackupArgs),
    /// Lay a backup out as a new data directory.
    Restore(ops::RestoreArgs),
    /// Create an empty deployment in --data and its first admin (password from
    /// FIELDLOOP_ADMIN_PASSWORD or asked on the terminal).
    Init(InitArgs),
    /// Import a reference file (KIND: grid, units, matrix, categories, rivers, projects,
    /// clauses, calendar) into the deployment in --data, as a new reference version.
    Import(ImportArgs),
}

#[derive(Args)]
struct InitArgs {
    #[arg(long, default_value = "./fieldloop-data")]
    data: PathBuf,
    /// Username of the first admin.
    #[arg(long)]
    admin: String,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Args)]
struct ImportArgs {
    #[arg(long, default_value = "./fieldloop-data")]
    data: PathBuf,
    kind: String,
    file: PathBuf,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// Data directory: the SQLite database and the photos.
    #[arg(long, env = "FIELDLOOP_DATA", default_value = "./fieldloop-data")]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "FIELDLOOP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PEM certificate chain; serves HTTPS together with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    storage: StorageArgs,
    /// Seconds between scheduler rounds; one instance at a time runs them, by a lease
    /// of three rounds.
    #[arg(long, default_value_t = 60)]
    scheduler_every_secs: u64,
    #[command(flatten)]
    ops: ServeOps,
}

/// Where the deployment keeps its data: the embedded default under --data, or PostgreSQL
/// and an S3-compatible bucket shared by several instances.
#[derive(Args)]
struct StorageArgs {
    /// Database: postgres://USER:PASSWORD@HOST:PORT/DB, or a SQLite file
    /// [default: DATA/fieldloop.sqlite3].
    #[arg(long, env = "FIELDLOOP_DATABASE")]
    database: Option<String>,
    /// Photo store: s3://BUCKET, or a directory [default: DATA/blobs].
    #[arg(long, env = "FIELDLOOP_BLOBS")]
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
}

impl StorageArgs {
    /// The addresses given, else the embedded default under `data`.
    fn location(&self, data: &std::path::Path) -> Location {
        let embedded = Location::embedded(data);
        Location {
            database: self.database.clone().unwrap_or(embedded.database),
            blobs: self.blobs.clone().unwrap_or(embedded.blobs),
            s3: S3Settings {
                bucket: String::new(),
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                allow_http: self.s3_allow_http,
            },
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
    /// Stop after the summary instead of serving on (scripts/demo-figures).
    #[arg(long)]
    exit_after_day: bool,
}

async fn run_demo(args: DemoArgs, logs: LogTarget) -> fieldloop_server::Result<()> {
    let demo = fieldloop_server::demo::start(&args.data, args.listen).await?;
    tracing::info!(
        addr = %demo.server.addr,
        tls = false,
        data = %args.data.display(),
        "fieldloop-server listening"
    );
    println!(
        "fieldloop demo: 杭州市西湖区, {} (day {} on this data directory); server on {}, data in {}; logs {}",
        demo.day.label(),
        demo.day.number,
        demo.base_url(),
        args.data.display(),
        match &logs {
            LogTarget::File(path) => format!("in {}", path.display()),
            LogTarget::Stderr => "on stderr".to_owned(),
        }
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
    if args.exit_after_day {
        demo.shutdown(Duration::from_secs(10)).await?;
        return summary.map(|_| ());
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
    let location = storage.location(&args.data);
    let config = args.ops.app_config();
    let state = AppState::open(&location, Arc::new(SystemClock), config).await?;
    fieldloop_server::reference::refresh(&state).await?;
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
    let every = Duration::from_secs(args.scheduler_every_secs.max(1));
    let scheduler = scheduler::spawn_scheduler(state.clone(), every, async {
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
    tracing::info!(
        grace_secs = args.ops.grace().as_secs(),
        "shutting down; letting open requests finish"
    );
    server.shutdown(args.ops.grace()).await?;
    let _ = stop_scheduler.send(());
    let _ = scheduler.await;
    tracing::info!("stopped");
    Ok(())
}

async fn run_init(args: InitArgs) -> fieldloop_server::Result<()> {
    let password = onboarding::admin_password()?;
    let admin = onboarding::init(&args.storage.location(&args.data), &args.admin, password).await?;
    println!(
        "{} 已创建管理员 {} (admin created)",
        args.storage.location(&args.data).describe(),
        admin.username
    );
    Ok(())
}

/// Prints every numbered problem of a refused file, one a line.
async fn run_import(args: ImportArgs) -> ExitCode {
    match onboarding::import_file(&args.storage.location(&args.data), &args.kind, &args.file).await
    {
        Ok(imported) => {
            println!("{}: reference version {}", args.kind, imported.version());
            ExitCode::SUCCESS
        }
        Err(ImportError::Invalid(problems)) => {
            eprintln!(
                "{}: {} 处错误，未作任何修改 (nothing imported)",
                args.file.display(),
                problems.len()
            );
            for problem in problems {
                eprintln!("  [{}] {}", problem.code, problem.reason);
            }
            ExitCode::FAILURE
        }
        Err(ImportError::Server(e)) => {
            eprintln!("import failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = ops::config::parse();
    // The demo's own lines go to stdout; its server's logs to a file beside its data.
    let default_log = match &cli.command {
        Command::Demo(args) => Some(args.data.join("server.log")),
        _ => None,
    };
    let logs = match ops::logging::init(&cli.ops, default_log.as_deref()) {
        Ok(logs) => logs,
        Err(e) => {
            eprintln!("error: cannot open the log file: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => run(args).await,
        Command::Demo(args) => run_demo(args, logs).await,
        Command::Backup(args) => ops::run_backup(args).await,
        Command::Restore(args) => ops::run_restore(args).await,
        Command::Init(args) => run_init(args).await,
        Command::Import(args) => return run_import(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "fieldloop-server failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
