//! Issue 12 §7 on PostgreSQL: the login throttle lives in the shared database, so a lock
//! set through one instance holds on another and on an instance started afterwards, by
//! account name and by client address alike.

use std::sync::Arc;

use fieldloop_server::clock::ManualClock;
use fieldloop_server::storage::s3_blobs::S3Settings;
use fieldloop_server::throttle::{MAX_ADDRESS_FAILURES, MAX_FAILURES};
use fieldloop_tests::services::PgCluster;
use fieldloop_tests::*;

/// Status and error code of a login sent from the loopback address `from`.
fn login(server: &TestServer, from: &str, username: &str, password: &str) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().expect("address"))
        .build()
        .expect("client");
    let reply = client
        .post(format!("{}/v1/login", server.base))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .expect("login sent");
    let status = reply.status().as_u16();
    let body: serde_json::Value = reply.json().unwrap_or_default();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn a_lock_set_through_one_instance_holds_on_the_others_and_after_a_restart() {
    let Some(cluster) = PgCluster::shared() else {
        return;
    };
    let database = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(cluster.fresh_database());
    let photos = tempfile::tempdir().expect("temp dir");
    let blobs = photos.path().display().to_string();
    let clock = Arc::new(ManualClock::new(T0));
    let start = || TestServer::start_on(&database, &blobs, &S3Settings::default(), clock.clone());
    let (a, b) = (start(), start());
    a.add_street_people();

    // Guessing one name through A locks it on B.
    for _ in 0..MAX_FAILURES {
        assert_eq!(login(&a, "127.0.0.4", "inspector", "guess-guess").0, 401);
    }
    let right = password_of("inspector");
    let locked = login(&b, "127.0.0.5", "inspector", &right);
    assert_eq!(locked, (429, "too_many_attempts".to_owned()));
    // Guessing many names from one address through B locks the address on A.
    for n in 0..MAX_ADDRESS_FAILURES {
        let name = format!("guess-{n}");
        assert_eq!(login(&b, "127.0.0.6", &name, "guess-guess").0, 401);
    }
    let dispatcher = password_of("dispatcher");
    assert_eq!(login(&a, "127.0.0.6", "dispatcher", &dispatcher).0, 429);
    assert_eq!(login(&a, "127.0.0.7", "dispatcher", &dispatcher).0, 200);

    // The whole deployment restarts: both locks are still there.
    drop((a, b));
    let c = start();
    assert_eq!(login(&c, "127.0.0.8", "inspector", &right).0, 429);
    assert_eq!(login(&c, "127.0.0.6", "dispatcher", &dispatcher).0, 429);
    assert_eq!(login(&c, "127.0.0.8", "dispatcher", &dispatcher).0, 200);
}
