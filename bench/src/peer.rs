//! §1's peer: the automerge-repo reference stack (bench/peer: a Node sync server with
//! nodefs storage and the websocket adapter on 127.0.0.1, and Node processes of devices,
//! one per 50, each device its own Repo with its own nodefs storage and websocket). Same
//! work as ours: one index document per grid lists its cases; every device ends up
//! holding all of them.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::city::{CityConfig, SyncFigures};
use crate::error::{setup, BenchError, Result};
use crate::procfs;

/// Devices per Node process of the peer (at least one per grid in the first).
const DEVICES_PER_PROCESS: usize = 50;

pub fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peer")
}

/// Whether `bench/peer/install` has been run.
pub fn installed() -> bool {
    peer_dir()
        .join("node_modules/@automerge/automerge-repo")
        .is_dir()
}

struct Node {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Node {
    fn spawn(script: &str, args: &[String]) -> Result<Node> {
        let mut child = Command::new("node")
            .arg(peer_dir().join(script))
            .args(args)
            .current_dir(peer_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| setup("node stdin"))?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| setup("node stdout"))?);
        Ok(Node {
            child,
            stdin,
            stdout,
        })
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(setup("the automerge-repo peer exited early"));
        }
        Ok(line.trim().to_owned())
    }

    fn say(&mut self, line: &str) -> Result<()> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Deserialize)]
struct DevicesResult {
    converged_ms: f64,
    device_cpu_s: f64,
}

#[derive(Deserialize)]
struct ServerCounters {
    bytes_in: u64,
    bytes_out: u64,
    messages_in: u64,
    connections: u64,
}

/// The devices' JSON result; other lines they print (automerge-repo's own logging) are
/// passed on to stderr rather than taken for the result.
fn devices_result(devices: &mut Node) -> Result<DevicesResult> {
    loop {
        let line = devices.line().map_err(|_| {
            BenchError::NoConvergence("automerge-repo devices stopped (timeout?)".into())
        })?;
        match serde_json::from_str(&line) {
            Ok(result) => return Ok(result),
            Err(_) => eprintln!("automerge-repo devices: {line}"),
        }
    }
}

pub fn run(config: &CityConfig) -> Result<SyncFigures> {
    if !installed() {
        return Err(setup(
            "automerge-repo peer not installed: bash bench/peer/install",
        ));
    }
    let dir = crate::server::bench_dir()?;
    let mut server = Node::spawn(
        "server.mjs",
        &[dir.path().join("server").display().to_string()],
    )?;
    let ready = server.line()?;
    let port = ready
        .strip_prefix("ready ")
        .ok_or_else(|| setup(format!("peer server said {ready:?}")))?
        .to_owned();
    let server_pid = server.child.id();
    let deadline = Instant::now() + Duration::from_secs(config.timeout_s);
    // Node runs one thread: a fleet beyond one process's share is spread over several, as
    // ours spreads its devices over threads. The first creates the grids' indexes.
    let per_process = DEVICES_PER_PROCESS.max(config.grids);
    let mut processes = Vec::new();
    let mut indexes: Option<String> = None;
    for first in (0..config.devices).step_by(per_process) {
        let count = per_process.min(config.devices - first);
        let mut args = vec![
            format!("ws://127.0.0.1:{port}"),
            dir.path().join("devices").display().to_string(),
            config.devices.to_string(),
            config.grids.to_string(),
            config.cases_per_device.to_string(),
            (config.timeout_s * 1000).to_string(),
            first.to_string(),
            count.to_string(),
        ];
        args.extend(indexes.clone());
        let mut devices = Node::spawn("devices.mjs", &args)?;
        loop {
            let line = devices.line()?;
            if let Some(urls) = line.strip_prefix("indexes ") {
                indexes = Some(urls.to_owned());
            } else if line == "ready" {
                break;
            }
            if Instant::now() > deadline {
                return Err(setup("automerge-repo devices never got ready"));
            }
        }
        if indexes.is_none() {
            return Err(setup("the first automerge-repo devices gave no index URLs"));
        }
        processes.push(devices);
    }
    server.say("stats")?;
    let before: ServerCounters = serde_json::from_str(&server.line()?)?;
    procfs::reset_peak_rss(server_pid);
    let cpu0 = procfs::cpu_seconds(server_pid);
    for devices in &mut processes {
        devices.say("go")?;
    }
    let (mut converged_ms, mut device_cpu_s) = (0.0f64, 0.0);
    for devices in &mut processes {
        let result = devices_result(devices)?;
        converged_ms = converged_ms.max(result.converged_ms);
        device_cpu_s += result.device_cpu_s;
    }
    let server_cpu_s = procfs::cpu_seconds(server_pid) - cpu0;
    server.say("stats")?;
    let after: ServerCounters = serde_json::from_str(&server.line()?)?;
    Ok(SyncFigures {
        converged_s: converged_ms / 1000.0,
        bytes_up: after.bytes_in - before.bytes_in,
        bytes_down: after.bytes_out - before.bytes_out,
        round_trips: after.messages_in - before.messages_in,
        server_cpu_s,
        server_peak_rss_mb: procfs::peak_rss_bytes(server_pid) as f64 / 1e6,
        device_cpu_s,
        reconnections: after.connections - before.connections,
        phases: None,
    })
}
