//! A real fieldloop server for the bindings tests (Kotlin on the JVM, Python): the demo
//! city seeded on a temporary data directory, listening on 127.0.0.1 on a free port,
//! with the referee, the dispatcher by matrix and the deadline scheduler running.
//!
//! Prints `http://127.0.0.1:PORT` and then `clock MILLIS` (the server's clock, 08:30 on
//! the demo Monday) on stdout. Reads commands on stdin, one per line, answering `ok` or
//! `error …`:
//!   `at MILLIS`       set the server's clock (the phones' test clock follows the same day)
//!   `advance MILLIS`  move it forward
//! Serves until stdin closes (or the process is killed), then removes its data.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::time::Duration;

use fieldloop_server::clock::Clock;
use fieldloop_server::demo;

fn answer(clock: &fieldloop_server::clock::ManualClock, line: &str) -> Result<(), String> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    let millis: i64 = words
        .next()
        .ok_or("missing milliseconds")?
        .parse()
        .map_err(|e| format!("bad milliseconds: {e}"))?;
    match verb {
        "at" => clock.set(millis),
        "advance" => clock.advance(millis),
        other => return Err(format!("unknown command {other:?}")),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = tempfile::tempdir()?;
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    let server = demo::start(data.path(), listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", server.base_url())?;
        writeln!(out, "clock {}", server.clock.now())?;
        out.flush()?;
    }
    let clock = server.clock.clone();
    tokio::task::spawn_blocking(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            let reply = match answer(&clock, &line) {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("error {e}"),
            };
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    })
    .await?;
    server.shutdown(Duration::from_secs(2)).await?;
    Ok(())
}
