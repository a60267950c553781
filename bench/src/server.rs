//! The server under test: the real `fieldloop-server` binary as its own process on
//! 127.0.0.1 (so its CPU seconds and peak RSS are its own, from /proc), or, for the
//! harness's own test, the same app in this process.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_server::clock::SystemClock;
use fieldloop_server::serve::RunningServer;
use fieldloop_server::{app, AppState, Config};

use crate::error::{setup, Result};
use crate::procfs;

pub const ADMIN: &str = "bench-admin";
pub const PASSWORD: &str = "bench-password-1";

/// Which storage the server runs on. Embedded is SQLite + files in a temp dir; External
/// passes its flags to `serve` (e.g. `--database postgres://… --blobs s3://BUCKET`);
/// Services is PostgreSQL + S3 started by the bench itself on loopback, a new empty
/// database for each server it starts.
#[derive(Debug, Clone)]
pub enum Backend {
    Embedded,
    External {
        name: String,
        serve_args: Vec<String>,
    },
    Services(Arc<Services>),
}

impl Backend {
    pub fn name(&self) -> &str {
        match self {
            Backend::Embedded => "sqlite",
            Backend::External { name, .. } => name,
            Backend::Services(_) => "postgres+s3",
        }
    }

    /// The flags one deployment is started with: for Services, a new empty database.
    pub(crate) fn resolve(&self) -> Result<Backend> {
        match self {
            Backend::Services(services) => Ok(Backend::External {
                name: self.name().to_owned(),
                serve_args: services.fresh_deployment()?,
            }),
            other => Ok(other.clone()),
        }
    }
}

/// A throwaway PostgreSQL 15 cluster and an s3s-fs server on loopback, the same ones the
/// storage tests start (`scripts/install-services` installs both); stopped on drop.
pub struct Services {
    cluster: Arc<storage_services::PgCluster>,
    s3: storage_services::S3Server,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Services(postgres :{}, s3 {})",
            self.cluster.port, self.s3.endpoint
        )
    }
}

impl Services {
    pub fn start() -> Result<Arc<Services>> {
        let missing = || setup("PostgreSQL 15 or s3s-fs missing: bash scripts/install-services");
        let cluster = storage_services::PgCluster::shared().ok_or_else(missing)?;
        let s3 = storage_services::S3Server::start().ok_or_else(missing)?;
        Ok(Arc::new(Services { cluster, s3 }))
    }

    /// `serve` flags for a new empty database and the shared bucket.
    fn fresh_deployment(&self) -> Result<Vec<String>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let database = rt.block_on(self.cluster.fresh_database());
        let s3 = self.s3.settings();
        Ok([
            "--database",
            &database,
            "--blobs",
            &format!("s3://{}", s3.bucket),
            "--s3-endpoint",
            &self.s3.endpoint,
            "--s3-region",
            "us-east-1",
            "--s3-access-key-id",
            storage_services::S3_KEY,
            "--s3-secret-access-key",
            storage_services::S3_SECRET,
            "--s3-allow-http",
        ]
        .map(str::to_owned)
        .to_vec())
    }
}

#[path = "../../server/tests/all/storage_services.rs"]
mod storage_services;

enum Inner {
    Child(Child),
    InProcess {
        running: Option<RunningServer>,
        rt: tokio::runtime::Runtime,
    },
}

pub struct Server {
    pub base: String,
    /// The storage this server runs on, resolved (a Services backend's own database).
    pub backend: Backend,
    pub pid: u32,
    pub data: PathBuf,
    pub port: u16,
    inner: Inner,
    dir: Option<tempfile::TempDir>,
}

/// The release server binary: `FIELDLOOP_SERVER_BIN`, else beside this executable.
pub fn server_binary() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("FIELDLOOP_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join("fieldloop-server");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(setup(
        "fieldloop-server binary not found beside the bench: cargo build --release --workspace --bins, or set FIELDLOOP_SERVER_BIN",
    ))
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn bench_dir() -> Result<tempfile::TempDir> {
    let root = std::env::var("FIELDLOOP_BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    Ok(tempfile::Builder::new()
        .prefix("fieldloop-bench-")
        .tempdir_in(root)?)
}

impl Server {
    /// An empty deployment (`init` with the bench admin) served by the binary.
    pub fn start(binary: &Path, backend: &Backend) -> Result<Server> {
        let backend = backend.resolve()?;
        let dir = bench_dir()?;
        let data = dir.path().join("server");
        Server::init_on(binary, &data, &backend)?;
        Server::serve(binary, &backend, dir, data)
    }

    /// One more stateless instance of this deployment (same database and photo store),
    /// on its own port: what a load balancer spreads phones over.
    pub fn another_instance(&self, binary: &Path) -> Result<Server> {
        if matches!(self.backend, Backend::Embedded) {
            return Err(setup("two instances need a shared database (--pg-s3)"));
        }
        let dir = bench_dir()?;
        let data = dir.path().join("server");
        std::fs::create_dir_all(&data)?;
        Server::serve(binary, &self.backend, dir, data)
    }

    /// `fieldloop-server init` on `data` (before seeding its storage directly).
    pub fn init(binary: &Path, data: &Path) -> Result<()> {
        Server::init_on(binary, data, &Backend::Embedded)
    }

    /// [`Server::init`] on the backend's storage (`init` takes `serve`'s storage flags).
    pub fn init_on(binary: &Path, data: &Path, backend: &Backend) -> Result<()> {
        let mut command = Command::new(binary);
        command.args(["init", "--admin", ADMIN, "--data"]).arg(data);
        if let Backend::External { serve_args, .. } = backend {
            command.args(serve_args);
        }
        let status = command
            .env("FIELDLOOP_ADMIN_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(setup(format!("fieldloop-server init failed: {status}")));
        }
        Ok(())
    }

    /// `serve` on an initialised data directory inside `dir`.
    pub fn serve(
        binary: &Path,
        backend: &Backend,
        dir: tempfile::TempDir,
        data: PathBuf,
    ) -> Result<Server> {
        Server::serve_at(binary, backend, dir, data, free_port()?)
    }

    /// [`Server::serve`] on a chosen port: a restarted server where its phones expect it.
    pub fn serve_at(
        binary: &Path,
        backend: &Backend,
        dir: tempfile::TempDir,
        data: PathBuf,
        port: u16,
    ) -> Result<Server> {
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        if let Backend::External { serve_args, .. } = backend {
            command.args(serve_args);
        }
        let child = command.spawn()?;
        let server = Server {
            base: format!("http://127.0.0.1:{port}"),
            backend: backend.clone(),
            port,
            pid: child.id(),
            data,
            inner: Inner::Child(child),
            dir: Some(dir),
        };
        server.wait_ready(Duration::from_secs(60))?;
        Ok(server)
    }

    /// The same app in this process (the harness's test: no release binary needed).
    pub fn in_process() -> Result<Server> {
        let dir = bench_dir()?;
        let data = dir.path().join("server");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let running = rt.block_on(async {
            fieldloop_server::onboarding::init(
                &fieldloop_server::storage::open::Location::embedded(&data),
                ADMIN,
                PASSWORD.into(),
            )
            .await
            .map_err(|e| setup(format!("init: {e}")))?;
            let state = AppState::embedded(&data, Arc::new(SystemClock), Config::default())
                .map_err(|e| setup(format!("state: {e}")))?;
            fieldloop_server::serve::start(
                app(state),
                "127.0.0.1:0".parse().expect("address"),
                None,
            )
            .await
            .map_err(|e| setup(format!("serve: {e}")))
        })?;
        Ok(Server {
            base: format!("http://{}", running.addr),
            backend: Backend::Embedded,
            port: running.addr.port(),
            pid: std::process::id(),
            data,
            inner: Inner::InProcess {
                running: Some(running),
                rt,
            },
            dir: Some(dir),
        })
    }

    fn wait_ready(&self, within: Duration) -> Result<()> {
        let http = http()?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/health", self.base)).send() {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(setup(format!(
            "server did not answer /health at {}",
            self.base
        )))
    }

    /// Waits until the scheduler has finished its first tick (`/metrics`): a restarted
    /// server's first tick writes every deadline event owed, and timing syncs beside it
    /// would measure that work, not the sync.
    pub fn wait_first_tick(&self, within: Duration) -> Result<()> {
        let http = http()?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let ticks = http
                .get(format!("{}/metrics", self.base))
                .send()
                .and_then(|r| r.text())
                .ok()
                .and_then(|text| {
                    text.lines()
                        .find_map(|l| l.strip_prefix("fieldloop_scheduler_ticks_total "))
                        .and_then(|n| n.trim().parse::<u64>().ok())
                });
            if ticks.is_some_and(|n| n > 0) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(setup(format!(
            "no scheduler tick at {} within {within:?}",
            self.base
        )))
    }

    pub fn cpu_seconds(&self) -> f64 {
        procfs::cpu_seconds(self.pid)
    }

    pub fn peak_rss_bytes(&self) -> u64 {
        procfs::peak_rss_bytes(self.pid)
    }

    pub fn rss_bytes(&self) -> u64 {
        procfs::rss_bytes(self.pid)
    }

    /// Creates people through the admin API (argon2 on the server: setup, not measured).
    pub fn create_users(&self, users: &[(String, Role, Jurisdiction)]) -> Result<()> {
        let http = http()?;
        let login: serde_json::Value = http
            .post(format!("{}/v1/login", self.base))
            .json(&serde_json::json!({"username": ADMIN, "password": PASSWORD}))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .map_err(|e| setup(format!("admin login: {e}")))?;
        let token = login["token"].as_str().unwrap_or_default().to_owned();
        for (username, role, jurisdiction) in users {
            http.post(format!("{}/v1/users", self.base))
                .bearer_auth(&token)
                .json(&serde_json::json!({
                    "username": username,
                    "password": PASSWORD,
                    "role": role,
                    "jurisdiction": jurisdiction,
                }))
                .send()
                .and_then(|r| r.error_for_status())
                .map_err(|e| setup(format!("create user {username}: {e}")))?;
        }
        Ok(())
    }

    /// The server's log so far (for a failure's message).
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        let Some(dir) = &self.dir else {
            return text;
        };
        if let Ok(mut f) = std::fs::File::open(dir.path().join("server.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text.chars()
            .rev()
            .take(2000)
            .collect::<String>()
            .chars()
            .rev()
            .collect()
    }
}

pub fn http() -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| setup(format!("http client: {e}")))
}

impl Server {
    /// Stops the server and hands back its directory (to seed it and serve it again).
    pub fn stop(mut self) -> tempfile::TempDir {
        self.halt();
        self.dir
            .take()
            .expect("a running server owns its directory")
    }

    fn halt(&mut self) {
        match &mut self.inner {
            Inner::Child(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Inner::InProcess { running, rt } => {
                if let Some(running) = running.take() {
                    let _ = rt.block_on(running.shutdown(Duration::from_millis(200)));
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.halt();
    }
}
