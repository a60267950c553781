//! One error shape: every 4xx and 5xx the real router gives, the framework's own answers
//! included, is `{"error": code, "reason": text}` in JSON.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request, StatusCode};
use axum::routing::get;
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_server::{ops, routes, Config};
use futures_util::StreamExt as _;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::common::{Reply, TestServer};

/// The shape, and the code expected.
fn assert_shape(what: &str, reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        reply.status,
        status,
        "{what}: {:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json"),
        "{what}"
    );
    let body = reply.json();
    let object = body.as_object().expect("a JSON object");
    assert_eq!(object.len(), 2, "{what}: only error and reason: {body}");
    assert_eq!(body["error"], code, "{what}: {body}");
    let reason = body["reason"].as_str().expect("reason is text");
    assert!(!reason.trim().is_empty(), "{what}: a reason for people");
}

fn json_post(uri: &str, token: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(body.into()).expect("request")
}

#[tokio::test]
async fn framework_answers_have_the_json_error_shape() {
    let server = TestServer::new();
    server
        .add_user("root", Role::Admin, Jurisdiction::default())
        .await;
    let token = server.token("root").await;

    let reply = server
        .call(Method::GET, "/v1/nothing", None, Body::empty())
        .await;
    assert_shape("unknown path", &reply, StatusCode::NOT_FOUND, "not_found");

    let reply = server
        .call(Method::DELETE, "/health", None, Body::empty())
        .await;
    assert_shape(
        "wrong method",
        &reply,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let reply = server
        .call(Method::PUT, "/v1/sync", Some(&token), Body::empty())
        .await;
    assert_shape(
        "wrong method on sync",
        &reply,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );

    // axum's default 2 MB limit on JSON endpoints.
    let big = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(3 << 20)
    );
    let reply = server.send(json_post("/v1/login", None, big)).await;
    assert_shape(
        "JSON body over the limit",
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    );

    // The sync endpoint's own limit, enforced while the body is read.
    let huge = vec![0u8; fieldloop_core::sync::wire::MAX_BODY_BYTES + 1];
    let reply = server
        .send(
            Request::post("/v1/sync")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(huge))
                .expect("request"),
        )
        .await;
    assert_shape(
        "sync body over the limit",
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    );

    let reply = server
        .send(json_post("/v1/login", None, "{\"username\":"))
        .await;
    assert_shape("broken JSON", &reply, StatusCode::BAD_REQUEST, "bad_json");
    let reply = server
        .send(
            Request::post("/v1/login")
                .body(Body::from("{}"))
                .expect("request"),
        )
        .await;
    assert_shape(
        "JSON without a content type",
        &reply,
        StatusCode::BAD_REQUEST,
        "bad_json",
    );

    let reply = server
        .call(
            Method::GET,
            "/v1/evaluation?period=2026-11&period=2026-12",
            Some(&token),
            Body::empty(),
        )
        .await;
    assert_shape(
        "query the extractor refuses",
        &reply,
        StatusCode::BAD_REQUEST,
        "bad_query",
    );

    let reply = server
        .send(
            Request::patch("/v1/users/%FF%FE")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"disabled\":true}"))
                .expect("request"),
        )
        .await;
    assert_shape(
        "path that is not UTF-8",
        &reply,
        StatusCode::BAD_REQUEST,
        "bad_path",
    );

    let reply = server
        .send(
            Request::post("/v1/sync")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(
                    header::CONTENT_TYPE,
                    fieldloop_core::sync::wire::CONTENT_TYPE,
                )
                .body(Body::from("not postcard"))
                .expect("request"),
        )
        .await;
    assert_shape(
        "undecodable sync body",
        &reply,
        StatusCode::BAD_REQUEST,
        "bad_sync_body",
    );

    let reply = server
        .call(Method::GET, "/v1/me", None, Body::empty())
        .await;
    assert_shape(
        "no token",
        &reply,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    );
}

#[tokio::test]
async fn a_request_that_never_finishes_gets_a_json_408() {
    let server = TestServer::with_config(Config {
        request_timeout: Duration::from_millis(300),
        ..Config::default()
    });
    // The body's first bytes arrive, the rest never does.
    let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
        b"{\"username\":",
    ))])
    .chain(futures_util::stream::pending());
    let started = std::time::Instant::now();
    let reply = server
        .send(json_post("/v1/login", None, Body::from_stream(stream)))
        .await;
    assert_shape(
        "stalled body",
        &reply,
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_panicking_handler_answers_a_json_500_without_the_panic_text() {
    let server = TestServer::new();
    let router = ops::shape::layers(
        routes(server.state.clone()).route(
            "/test/panic",
            get(|| async {
                if true {
                    panic!("secret detail from a bug");
                }
                "unreachable"
            }),
        ),
        Duration::from_secs(5),
    );
    let response = router
        .clone()
        .oneshot(
            Request::get("/test/panic")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let reply = Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec(),
    };
    assert_shape(
        "panic",
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
    );
    assert!(!String::from_utf8_lossy(&reply.body).contains("secret"));
    // The router still serves after the panic.
    let health = router
        .oneshot(
            Request::get("/health")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(health.status(), StatusCode::OK);
}
