//! Real storage services for the tests, started on loopback and stopped after: a
//! throwaway PostgreSQL 15 cluster (initdb + pg_ctl in a temp dir) and an S3 server
//! (s3s-fs on a temp dir). `scripts/install-services` installs both. Where one is
//! missing the test is a recorded skip, except under CI, where it fails.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `None` when `what` is not installed here: a recorded skip locally (in the skip log
/// `scripts/test-all` prints), a failure under CI.
fn missing(what: &str) -> Option<std::convert::Infallible> {
    let test = std::thread::current()
        .name()
        .unwrap_or("a storage test")
        .to_owned();
    fieldloop_testdata::missing(
        &test,
        &format!("{what} is not installed (scripts/install-services installs it)"),
        "skipped",
    );
    None
}

/// A PostgreSQL cluster shared by the tests running at the same time; stopped when the
/// last of them lets go.
pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
}

static CLUSTER: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (initdb refuses root).
fn pg_command(tool: &str) -> Command {
    let binary = Path::new(PG_BIN).join(tool);
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(binary);
        command
    } else {
        Command::new(binary)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PgCluster {
    fn start() -> PgCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        if is_root() {
            // The postgres user must own its data directory.
            let mut chown = Command::new("chown");
            chown.arg("postgres:").arg(dir.path());
            run(chown, "chown");
        }
        let data = dir.path().join("data");
        let mut initdb = pg_command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "fieldloop",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb");
        let port = free_port();
        let mut start = pg_command("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"));
        start.arg("-o").arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.path().display()
        ));
        start.args(["-w", "start"]);
        run(start, "pg_ctl start");
        PgCluster { dir, port }
    }

    /// The running cluster, started if none is.
    pub fn shared() -> Option<Arc<PgCluster>> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            missing("PostgreSQL 15")?;
        }
        let mut slot = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cluster) = slot.upgrade() {
            return Some(cluster);
        }
        let cluster = Arc::new(PgCluster::start());
        *slot = Arc::downgrade(&cluster);
        Some(cluster)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://fieldloop@127.0.0.1:{}/{database}", self.port)
    }

    /// A new empty database of its own for one test.
    pub async fn fresh_database(&self) -> String {
        let name = format!("t{}", uuid::Uuid::now_v7().simple());
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .expect("connect to the cluster");
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        drop(client);
        let _ = connection.await;
        self.url(&name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut stop = pg_command("pg_ctl");
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"]);
        let _ = stop.stdin(Stdio::null()).output();
    }
}

/// The running cluster and a fresh database URL on it; `None` when PostgreSQL is missing.
pub async fn postgres() -> Option<(Arc<PgCluster>, String)> {
    let cluster = PgCluster::shared()?;
    let url = cluster.fresh_database().await;
    Some((cluster, url))
}

pub const S3_KEY: &str = "fieldloop-test";
pub const S3_SECRET: &str = "fieldloop-test-secret";

/// An S3 server (s3s-fs) on loopback with one empty bucket.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
    dir: tempfile::TempDir,
}

fn s3s_fs() -> Option<PathBuf> {
    let installed = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cargo/bin/s3s-fs"))
        .filter(|p| p.exists());
    installed.or_else(|| {
        Command::new("s3s-fs")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| PathBuf::from("s3s-fs"))
    })
}

impl S3Server {
    pub fn start() -> Option<S3Server> {
        let Some(binary) = s3s_fs() else {
            missing("s3s-fs")?;
            unreachable!()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let bucket = "fieldloop-photos".to_owned();
        std::fs::create_dir_all(dir.path().join(&bucket)).expect("bucket dir");
        let port = free_port();
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// The directory s3s-fs keeps its buckets' objects in, one file per object.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn settings(&self) -> fieldloop_server::storage::s3_blobs::S3Settings {
        fieldloop_server::storage::s3_blobs::S3Settings {
            bucket: self.bucket.clone(),
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some(S3_KEY.into()),
            secret_access_key: Some(S3_SECRET.into()),
            allow_http: true,
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
