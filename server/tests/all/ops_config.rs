//! The real binary's configuration (file < environment < flag) and JSON logs without
//! colour codes, then a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fieldloop-server"));
    for var in [
        "FIELDLOOP_DATA",
        "FIELDLOOP_LISTEN",
        "FIELDLOOP_CONFIG",
        "FIELDLOOP_LOG_FORMAT",
        "FIELDLOOP_LOG_FILE",
        "NO_COLOR",
    ] {
        command.env_remove(var);
    }
    command.env("RUST_LOG", "info");
    command
}

#[test]
fn file_then_environment_then_flags_and_json_logs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("from-file");
    let config = dir.path().join("fieldloop.toml");
    std::fs::write(
        &config,
        format!(
            "data = {:?}\nlisten = \"not an address: the environment wins\"\nlog-format = \"text\"\nshutdown_grace_secs = 3\n\
             login-max-failures = 2\nlogin-lock-minutes = 1\ntrusted-proxies = [\"10.0.0.1\", \"10.0.0.2\"]\n",
            data.display().to_string()
        ),
    )
    .expect("config written");
    let mut child = server()
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&config)
        .env("FIELDLOOP_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let stderr = child.stderr.take().expect("stderr");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            let _ = child.kill();
            panic!("no listening line: {seen:#?}");
        };
        assert!(
            !line.contains('\u{1b}'),
            "no colour codes in a pipe: {line:?}"
        );
        let record: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the flag's json beats the file's text ({e}): {line}"));
        seen.push(line.clone());
        if record["fields"]["message"] == "fieldloop-server listening" {
            break record["fields"]["addr"].as_str().expect("addr").to_owned();
        }
    };
    let ready = reqwest::blocking::get(format!("http://{addr}/ready")).expect("ready");
    assert_eq!(ready.status(), 200);
    // The login throttle's settings came from the file: 2 failures lock a name for 1 min.
    let login = || {
        reqwest::blocking::Client::new()
            .post(format!("http://{addr}/v1/login"))
            .json(&serde_json::json!({"username": "nobody", "password": "guess-guess"}))
            .send()
            .expect("login")
    };
    assert_eq!(login().status(), 401);
    assert_eq!(login().status(), 401);
    let locked = login();
    assert_eq!(locked.status(), 429);
    let retry = locked.headers().get("retry-after").expect("Retry-After");
    assert!(retry.to_str().expect("text").parse::<u64>().expect("secs") <= 60);
    assert!(
        data.join("fieldloop.sqlite3").is_file(),
        "the data directory came from the file"
    );
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
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("\"grace_secs\":3")),
        "grace from the file: {rest:#?}"
    );
}

#[test]
fn a_config_key_that_is_no_flag_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("fieldloop.toml");
    std::fs::write(&config, "lisen = \"127.0.0.1:8080\"\n").expect("config written");
    let out = server()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`lisen` is not a flag of `serve`"),
        "{stderr}"
    );
}
