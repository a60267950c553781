//! The real `fieldloop-server` binary: `demo` seeds and serves, prints its own lines on
//! stdout with the logs in a file, and SIGTERM stops it cleanly.

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
    let banner = wait_for(&lines, "server on http://", &mut log);
    let Some(banner) = banner else {
        let _ = child.kill();
        panic!("server did not start: {log:#?}");
    };
    let addr = banner
        .split("server on http://")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("address in the banner")
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
    log.extend(lines.try_iter());
    assert!(
        log.iter()
            .all(|l| !l.contains(" INFO ") && !l.contains('\u{1b}')),
        "stdout has the demo's lines, not logs: {log:#?}"
    );
    let logs = std::fs::read_to_string(dir.path().join("server.log")).expect("log file");
    assert!(logs.contains("fieldloop-server listening"), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "no colour codes in a file");
    assert!(dir.path().join("fieldloop.sqlite3").is_file());
}
