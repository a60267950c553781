//! The real `fieldloop-server serve` binary as a child process on a deployment's storage
//! (issue 12 §1, server part): started, SIGKILLed, started again on the same storage and
//! the same port, so the phones' base URL never changes.

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldloop_server::clock::SystemClock;
use fieldloop_server::storage::open::Location;
use fieldloop_server::{AppState, Config};

use super::Backend;
use crate::services::{PgCluster, S3Server};

/// The server binary: `FIELDLOOP_SERVER_BIN`, else `fieldloop-server` beside this test
/// executable's directory (`target/debug/`), which `cargo test --workspace` builds for the
/// server's own integration tests.
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FIELDLOOP_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("fieldloop-server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no fieldloop-server binary beside {}: build the workspace \
                 (cargo test --workspace --no-run) or set FIELDLOOP_SERVER_BIN",
                exe.display()
            )
        })
}

/// Where a deployment keeps its data, and the services it runs on (kept alive with it).
pub struct Deployment {
    pub backend: Backend,
    pub location: Location,
    data: tempfile::TempDir,
    pub port: u16,
    _postgres: Option<Arc<PgCluster>>,
    _s3: Option<S3Server>,
}

impl Deployment {
    /// A fresh deployment on `backend`; `None` when PostgreSQL or s3s-fs is missing
    /// here (a recorded skip locally, a failure under `CI=true`, see `services`).
    pub fn new(backend: Backend) -> Option<Deployment> {
        let data = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let (location, postgres, s3) = match backend {
            Backend::Embedded => (Location::embedded(data.path()), None, None),
            Backend::PgS3 => {
                let cluster = PgCluster::shared()?;
                let s3 = S3Server::start()?;
                let database = runtime().block_on(cluster.fresh_database());
                let location = Location {
                    database,
                    blobs: format!("s3://{}", s3.bucket),
                    s3: s3.settings(),
                };
                (location, Some(cluster), Some(s3))
            }
        };
        Some(Deployment {
            backend,
            location,
            data,
            port,
            _postgres: postgres,
            _s3: s3,
        })
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The deployment's storage opened in this process (the server is down): to create
    /// its people before the first start and to check what it holds after a kill.
    pub fn open_state(&self, rt: &tokio::runtime::Runtime) -> AppState {
        rt.block_on(AppState::open(
            &self.location,
            Arc::new(SystemClock),
            Config::default(),
        ))
        .expect("the deployment's storage opens")
    }

    fn log_path(&self) -> PathBuf {
        self.data.path().join("server.log")
    }

    /// The last lines the server wrote, for a failure message.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.log_path()) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `fieldloop-server serve` on this deployment, its scheduler ticking every second;
    /// returns once it accepts connections.
    pub fn serve(&self) -> ServerProcess {
        let binary = server_binary();
        // The previous process's port may still be held for a moment after a kill.
        for attempt in 0..50 {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_path())
                .expect("server log");
            let mut command = Command::new(&binary);
            command
                .arg("serve")
                .arg("--data")
                .arg(self.data.path())
                .args(["--listen", &format!("127.0.0.1:{}", self.port)])
                .args(["--scheduler-every-secs", "1"])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            if self.backend == Backend::PgS3 {
                let s3 = &self.location.s3;
                command
                    .args(["--database", &self.location.database])
                    .args(["--blobs", &self.location.blobs])
                    .args(["--s3-endpoint", s3.endpoint.as_deref().unwrap_or_default()])
                    .args(["--s3-region", s3.region.as_deref().unwrap_or("us-east-1")])
                    .args([
                        "--s3-access-key-id",
                        s3.access_key_id.as_deref().unwrap_or_default(),
                    ])
                    .args([
                        "--s3-secret-access-key",
                        s3.secret_access_key.as_deref().unwrap_or_default(),
                    ])
                    .arg("--s3-allow-http");
            }
            let mut child = command.spawn().expect("spawn fieldloop-server");
            let started = Instant::now();
            loop {
                if let Some(status) = child.try_wait().expect("server status") {
                    assert!(
                        attempt < 49,
                        "fieldloop-server exited at start ({status}):\n{}",
                        self.log_tail()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                    break;
                }
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    let pid = child.id();
                    return ServerProcess { child, pid };
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "fieldloop-server did not listen within a minute:\n{}",
                    self.log_tail()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        unreachable!("the loop returns or panics")
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }
}

/// A running `fieldloop-server` child; SIGKILLed when dropped.
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
}

impl ServerProcess {
    /// SIGKILL, then reap it; asserts it died of that signal (not of its own error).
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        let status = self.child.wait().expect("wait for the server");
        assert_eq!(
            status.signal(),
            Some(9),
            "server died of SIGKILL: {status:?}"
        );
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
