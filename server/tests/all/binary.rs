//! The real `fieldloop-server` binary: `demo` seeds and serves, SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn wait_for(lines: &mpsc::Receiver<String>, needle: &str, log: &mut Vec<String>) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                log.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn demo_seeds_serves_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldloop-server"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let listening = wait_for(&lines, "fieldloop-server listening", &mut log);
    let Some(listening) = listening else {
        let _ = child.kill();
        panic!("server did not start: {log:#?}");
    };
    let addr = listening
        .split_whitespace()
        .find_map(|word| word.strip_prefix("addr="))
        .expect("addr in log line")
        .to_owned();

    let client = reqwest::blocking::Client::new();
    let health = client
        .get(format!("http://{addr}/health"))
        .send()
        .expect("health");
    assert_eq!(health.status(), 200);
    let login = client
        .post(format!("http://{addr}/v1/login"))
        .json(&serde_json::json!({ "username": "admin", "password": "admin-demo-pass" }))
        .send()
        .expect("login");
    assert_eq!(login.status(), 200, "demo users are seeded");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("server did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit: {status}");
    assert!(wait_for(&lines, "stopped", &mut log).is_some(), "{log:#?}");
    assert!(dir.path().join("fieldloop.sqlite3").is_file());
}
