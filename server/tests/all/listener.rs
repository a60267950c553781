//! The server on a real socket: plain HTTP on loopback, and TLS with a certificate made
//! here and a client that trusts exactly it.

use crate::common;

use std::time::Duration;

use common::TestServer;
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_server::serve;

#[tokio::test]
async fn plain_http_on_loopback_serves_health_and_login() {
    let server = TestServer::new();
    server
        .add_user("li.wei", Role::Inspector, Jurisdiction::default())
        .await;
    let running = serve::start(server.app(), "127.0.0.1:0".parse().expect("addr"), None)
        .await
        .expect("start");
    assert!(running.addr.port() != 0);
    let client = reqwest::Client::new();
    let base = format!("http://{}", running.addr);

    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let login = client
        .post(format!("{base}/v1/login"))
        .json(&serde_json::json!({ "username": "li.wei", "password": "li.wei-password" }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let token = login.json::<serde_json::Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let me = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);

    running
        .shutdown(Duration::from_secs(5))
        .await
        .expect("graceful shutdown");
    assert!(
        client.get(format!("{base}/health")).send().await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn tls_is_served_with_a_self_signed_certificate() {
    let server = TestServer::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert_pem = certified.cert.pem();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).expect("write cert");
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).expect("write key");

    let tls = serve::tls_config(&cert_path, &key_path)
        .await
        .expect("tls config");
    let running = serve::start(
        server.app(),
        "127.0.0.1:0".parse().expect("addr"),
        Some(tls),
    )
    .await
    .expect("start");
    let url = format!("https://localhost:{}/health", running.addr.port());

    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem")])
        .resolve("localhost", running.addr)
        .build()
        .expect("client");
    let health = trusting.get(&url).send().await.expect("https health");
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.expect("json")["status"],
        "ok"
    );

    // A client that does not trust the certificate refuses the connection.
    let stranger = reqwest::Client::builder()
        .tls_certs_only([])
        .resolve("localhost", running.addr)
        .build()
        .expect("client");
    assert!(stranger.get(&url).send().await.is_err());
    // And plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/health", running.addr.port()))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    running
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn a_missing_certificate_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = serve::tls_config(&dir.path().join("nope.pem"), &dir.path().join("nope.key"))
        .await
        .expect_err("no such certificate");
    assert!(err.to_string().contains("nope.pem"), "{err}");
}
