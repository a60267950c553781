//! `/health`, `/ready`, `/metrics`, and a graceful shutdown that finishes a sync in flight.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use fieldloop_core::roles::Role;
use fieldloop_core::sync::wire::{self, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use fieldloop_server::{app, serve};
use uuid::Uuid;

use crate::common::TestServer;

/// The value of an unlabelled or labelled sample in Prometheus text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} not in:\n{text}"))
        .trim()
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn health_is_alive_and_ready_names_the_store_that_is_gone() {
    let server = TestServer::new();
    let health = server
        .call(Method::GET, "/health", None, Body::empty())
        .await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "ok");

    let ready = server
        .call(Method::GET, "/ready", None, Body::empty())
        .await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");
    assert_eq!(ready.json()["seq"], 0);

    // The photo store's directory disappears (a lost mount).
    let blobs = server.dir.path().join("blobs");
    std::fs::rename(&blobs, server.dir.path().join("blobs-gone")).expect("move blobs away");
    let ready = server
        .call(Method::GET, "/ready", None, Body::empty())
        .await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.error_code(), "not_ready");
    let reason = ready.json()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("blob store"), "{reason}");
    assert!(
        !reason.contains("database"),
        "the database is fine: {reason}"
    );
    // Alive all the same: a load balancer must not restart it for a store's sake.
    let health = server
        .call(Method::GET, "/health", None, Body::empty())
        .await;
    assert_eq!(health.status, StatusCode::OK);

    std::fs::rename(server.dir.path().join("blobs-gone"), &blobs).expect("put it back");
    let ready = server
        .call(Method::GET, "/ready", None, Body::empty())
        .await;
    assert_eq!(ready.status, StatusCode::OK);
}

/// A registered device's token and an encoded empty sync request for it.
async fn device(server: &TestServer, username: &str) -> (String, Vec<u8>) {
    server
        .add_user(
            username,
            Role::Inspector,
            crate::common::jurisdiction_cells("110105"),
        )
        .await;
    let token = server.token(username).await;
    let device_id = Uuid::now_v7();
    let reply = server
        .send(
            Request::post("/v1/devices")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    serde_json::json!({ "device_id": device_id, "name": "phone" }).to_string(),
                ))
                .expect("request"),
        )
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.status);
    let request = SyncRequest {
        version: PROTOCOL_VERSION,
        device_id,
        cursor: 0,
        pushes: vec![],
        want_full: vec![],
        page_bytes: 1 << 20,
        reference_version: None,
    };
    (token, wire::encode(&request).expect("encode"))
}

#[tokio::test]
async fn metrics_count_syncs_in_prometheus_text() {
    let server = TestServer::new();
    let (token, body) = device(&server, "metrics-inspector").await;
    let before = server
        .call(Method::GET, "/metrics", None, Body::empty())
        .await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(before
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
    let before = String::from_utf8(before.body).expect("text");
    for family in [
        "fieldloop_sync_request_duration_seconds",
        "fieldloop_sync_requests_total",
        "fieldloop_pushes_total",
        "fieldloop_verdicts_total",
        "fieldloop_scheduler_lag_seconds",
        "fieldloop_blob_bytes_total",
    ] {
        assert!(before.contains(&format!("# TYPE {family} ")), "{family}");
    }
    let reply = server
        .send(
            Request::post("/v1/sync")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, wire::CONTENT_TYPE)
                .body(Body::from(body))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let after = server
        .call(Method::GET, "/metrics", None, Body::empty())
        .await;
    let after = String::from_utf8(after.body).expect("text");
    // Other tests in this binary sync too: counters only grow, by at least this one.
    let count = "fieldloop_sync_request_duration_seconds_count";
    assert!(sample(&after, count) >= sample(&before, count) + 1.0);
    let ok = "fieldloop_sync_requests_total{outcome=\"ok\"}";
    assert!(sample(&after, ok) >= sample(&before, ok) + 1.0);
    let inf = "fieldloop_sync_request_duration_seconds_bucket{le=\"+Inf\"}";
    assert_eq!(sample(&after, inf), sample(&after, count));
}

/// Writes `head` and part of `body` of a request, then the rest when told.
fn start_request(addr: std::net::SocketAddr, head: String, body: Vec<u8>) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(head.as_bytes()).expect("head");
    stream
        .write_all(&body[..body.len() / 2])
        .expect("first half");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_a_sync_in_flight_and_takes_no_new_ones() {
    let server = TestServer::new();
    let (token, body) = device(&server, "shutdown-inspector").await;
    let running = serve::start(
        app(server.state.clone()),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .expect("listens");
    let addr = running.addr;
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        wire::CONTENT_TYPE,
        body.len()
    );
    let half = body.len() / 2;
    let rest = body[half..].to_vec();
    let mut in_flight = {
        let head = head.clone();
        let body = body.clone();
        tokio::task::spawn_blocking(move || start_request(addr, head, body))
            .await
            .expect("thread")
    };
    // Give the server a moment to take the request in, then ask it to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(running.shutdown(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let refused = tokio::task::spawn_blocking(move || TcpStream::connect(addr).is_err())
        .await
        .expect("thread");
    assert!(refused, "a stopping server takes no new connections");

    let answer = tokio::task::spawn_blocking(move || {
        in_flight.write_all(&rest).expect("second half");
        let mut answer = Vec::new();
        in_flight.read_to_end(&mut answer).expect("answer");
        answer
    })
    .await
    .expect("thread");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let status_line = String::from_utf8_lossy(&answer[..split]);
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line}");
    let response: SyncResponse = wire::decode(&answer[split + 4..]).expect("a sync answer");
    assert_eq!(response.version, PROTOCOL_VERSION);
    stopping
        .await
        .expect("join")
        .expect("stops cleanly once the sync is answered");
}
