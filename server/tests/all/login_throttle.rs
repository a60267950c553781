//! The login throttle is kept in the database and counts per client address as well as
//! per account name: a restart forgives nothing, one address guessing many names is
//! locked, and another address still logs in.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::StatusCode;
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_server::throttle::{ThrottleSettings, LOCK_FOR, MAX_ADDRESS_FAILURES, MAX_FAILURES};
use fieldloop_server::{serve, AppState, Config};

use crate::common::TestServer;

#[tokio::test]
async fn a_locked_account_name_is_still_locked_after_a_restart() {
    let server = TestServer::new();
    server
        .add_user("li.wei", Role::Inspector, Jurisdiction::default())
        .await;
    for _ in 0..MAX_FAILURES {
        let wrong = server.login("li.wei", "guess-guess").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        server.login("li.wei", "li.wei-password").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // The process ends; a new one opens the same data directory.
    let TestServer { state, clock, dir } = server;
    drop(state);
    clock.advance(LOCK_FOR / 3);
    let state = AppState::embedded(dir.path(), clock.clone(), Config::default()).expect("reopen");
    let server = TestServer { state, clock, dir };
    let locked = server.login("li.wei", "li.wei-password").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.error_code(), "too_many_attempts");
    let reason = locked.json()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("该账号") && reason.contains("10 分钟"),
        "{reason}"
    );
    let retry: i64 = locked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert_eq!(retry, (LOCK_FOR - LOCK_FOR / 3) / 1000);

    server.clock.advance(LOCK_FOR);
    assert_eq!(
        server.login("li.wei", "li.wei-password").await.status,
        StatusCode::OK
    );
}

/// A client whose connections come from `from` (a loopback address of its own).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().expect("address"))
        .build()
        .expect("client")
}

async fn login(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (u16, Option<String>, serde_json::Value) {
    let mut request = client
        .post(format!("{base}/v1/login"))
        .json(&serde_json::json!({ "username": username, "password": password }));
    if let Some(forwarded) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded);
    }
    let reply = request.send().await.expect("login sent");
    let status = reply.status().as_u16();
    let retry = reply
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("text").to_owned());
    (status, retry, reply.json().await.unwrap_or_default())
}

#[tokio::test]
async fn one_address_guessing_many_names_is_locked_and_another_still_logs_in() {
    let server = TestServer::new();
    for name in ["li.wei", "wang.fang"] {
        server
            .add_user(name, Role::Inspector, Jurisdiction::default())
            .await;
    }
    let running = serve::start(server.app(), "127.0.0.1:0".parse().expect("addr"), None)
        .await
        .expect("start");
    let base = format!("http://{}", running.addr);
    let guesser = client_from("127.0.0.2");
    // A different name each time, so no account name is locked, only the address; the
    // guesser's own X-Forwarded-For changes nothing when no proxy is trusted.
    for n in 0..MAX_ADDRESS_FAILURES {
        let (status, _, _) = login(
            &guesser,
            &base,
            &format!("user-{n}"),
            "guess-guess",
            Some(&format!("203.0.113.{n}")),
        )
        .await;
        assert_eq!(status, 401, "attempt {n}");
    }
    let (status, retry, body) = login(&guesser, &base, "li.wei", "li.wei-password", None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "too_many_attempts");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("此网络地址") && reason.contains("15 分钟"),
        "{reason}"
    );
    assert_eq!(retry.as_deref(), Some("900"));

    let colleague = client_from("127.0.0.3");
    let (status, _, body) = login(&colleague, &base, "wang.fang", "wang.fang-password", None).await;
    assert_eq!(status, 200, "{body}");
    // The account names the guesser tried are not locked for anyone else.
    let (status, _, _) = login(&colleague, &base, "li.wei", "li.wei-password", None).await;
    assert_eq!(status, 200);
    running
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_counted() {
    let server = TestServer::with_config(Config {
        login_throttle: ThrottleSettings {
            per_address: 3,
            trusted_proxies: vec!["127.0.0.1".parse().expect("proxy")],
            ..ThrottleSettings::default()
        },
        ..Config::default()
    });
    server
        .add_user("li.wei", Role::Inspector, Jurisdiction::default())
        .await;
    let running = serve::start(server.app(), "127.0.0.1:0".parse().expect("addr"), None)
        .await
        .expect("start");
    let base = format!("http://{}", running.addr);
    let proxy = client_from("127.0.0.1");
    for n in 0..3 {
        let name = format!("user-{n}");
        let (status, _, _) = login(&proxy, &base, &name, "guess", Some("203.0.113.5")).await;
        assert_eq!(status, 401);
    }
    let guesser = login(
        &proxy,
        &base,
        "li.wei",
        "li.wei-password",
        Some("203.0.113.5"),
    )
    .await;
    assert_eq!(guesser.0, 429, "{}", guesser.2);
    // Another client through the same proxy, and the one the guesser pretends to be.
    let other = login(
        &proxy,
        &base,
        "li.wei",
        "li.wei-password",
        Some("198.51.100.7"),
    )
    .await;
    assert_eq!(other.0, 200, "{}", other.2);
    let spoofed = login(
        &proxy,
        &base,
        "li.wei",
        "li.wei-password",
        Some("198.51.100.7, 203.0.113.5"),
    )
    .await;
    assert_eq!(spoofed.0, 429, "the proxy's right-most entry is the client");
    running
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}
