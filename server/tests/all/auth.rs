//! Health, login, logout, tokens, devices and role checks, in-process.

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{jurisdiction_cells, TestServer};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_server::auth::token_hash;

#[tokio::test]
async fn health_answers_ok_without_a_token() {
    let server = TestServer::new();
    let reply = server
        .call(Method::GET, "/health", None, Body::empty())
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn login_gives_a_token_that_resolves_to_the_principal() {
    let server = TestServer::new();
    server
        .add_user(
            "li.wei",
            Role::Inspector,
            jurisdiction_cells("330106001001"),
        )
        .await;
    let reply = server.login("li.wei", "li.wei-password").await;
    assert_eq!(reply.status, StatusCode::OK);
    let login = reply.json();
    assert_eq!(login["role"], "inspector");
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["jurisdiction"]["grid_prefixes"][0], "330106001001");
    let token = login["token"].as_str().expect("token");
    assert!(token.len() >= 64, "token has 256 random bits: {token}");

    let me = server
        .call(Method::GET, "/v1/me", Some(token), Body::empty())
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["role"], "inspector");
    assert_eq!(me.json()["user_id"], login["user_id"]);

    // Only the token's SHA-256 is stored, never the token itself.
    let (stored, _) = server
        .state
        .auth
        .token_owner(token_hash(token))
        .await
        .expect("lookup")
        .expect("token stored by hash");
    assert_eq!(stored.hash, token_hash(token));
    let db = std::fs::read(server.dir.path().join("fieldloop.sqlite3")).expect("db file");
    let wal = std::fs::read(server.dir.path().join("fieldloop.sqlite3-wal")).unwrap_or_default();
    for file in [&db, &wal] {
        assert!(
            !file.windows(token.len()).any(|w| w == token.as_bytes()),
            "the clear token must not be in the database"
        );
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let server = TestServer::new();
    server
        .add_user("li.wei", Role::Inspector, Jurisdiction::default())
        .await;
    let wrong = server.login("li.wei", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error_code(), "bad_credentials");
    let unknown = server.login("nobody", "whatever-password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.error_code(), "bad_credentials");
    assert_eq!(wrong.json()["reason"], unknown.json()["reason"]);

    let audit = server.state.audit.recent(10).await.expect("audit");
    assert_eq!(
        audit.iter().filter(|e| e.action == "login.failed").count(),
        2,
        "failed logins are audited: {audit:?}"
    );
}

#[tokio::test]
async fn malformed_login_body_is_a_json_400() {
    let server = TestServer::new();
    let reply = server
        .send(
            Request::post("/v1/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"username\": 12"))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "bad_json");
}

#[tokio::test]
async fn protected_endpoints_answer_401_with_a_reason_without_a_token() {
    let server = TestServer::new();
    let reply = server
        .call(Method::GET, "/v1/me", None, Body::empty())
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "missing_token");
    assert!(!reply.json()["reason"]
        .as_str()
        .unwrap_or_default()
        .is_empty());
    assert_eq!(reply.header("www-authenticate").as_deref(), Some("Bearer"));

    let forged = server
        .call(Method::GET, "/v1/me", Some("flt_0000"), Body::empty())
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged.error_code(), "unknown_token");

    let basic = server
        .send(
            Request::get("/v1/me")
                .header(header::AUTHORIZATION, "Basic YWxhZGRpbjpvcGVu")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(basic.error_code(), "bad_token");

    let blob = server
        .call(
            Method::GET,
            &format!("/v1/blobs/{}", "a".repeat(64)),
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(blob.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_revokes_the_token_but_not_others() {
    let server = TestServer::new();
    server
        .add_user("li.wei", Role::Inspector, Jurisdiction::default())
        .await;
    let first = server.token("li.wei").await;
    let second = server.token("li.wei").await;
    assert_ne!(first, second);

    let out = server
        .call(Method::POST, "/v1/logout", Some(&first), Body::empty())
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);

    let after = server
        .call(Method::GET, "/v1/me", Some(&first), Body::empty())
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.error_code(), "revoked_token");
    let other = server
        .call(Method::GET, "/v1/me", Some(&second), Body::empty())
        .await;
    assert_eq!(
        other.status,
        StatusCode::OK,
        "the other session stays valid"
    );
}

#[tokio::test]
async fn tokens_expire_by_the_server_clock() {
    let server = TestServer::new();
    server
        .add_user("li.wei", Role::Inspector, Jurisdiction::default())
        .await;
    let token = server.token("li.wei").await;
    server
        .clock
        .advance(server.state.config.token_ttl + fieldloop_core::time::SECOND);
    let reply = server
        .call(Method::GET, "/v1/me", Some(&token), Body::empty())
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "expired_token");
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_name_for_a_while() {
    use fieldloop_server::throttle::{LOCK_FOR, MAX_FAILURES};
    let server = TestServer::new();
    for name in ["li.wei", "wang.fang"] {
        server
            .add_user(name, Role::Inspector, Jurisdiction::default())
            .await;
    }
    // Failures that a success interrupts do not add up.
    for _ in 0..MAX_FAILURES - 1 {
        assert_eq!(
            server.login("li.wei", "guess-guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        server.login("li.wei", "li.wei-password").await.status,
        StatusCode::OK
    );
    for _ in 0..MAX_FAILURES {
        let wrong = server.login("li.wei", "guess-guess").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits, with a reason and Retry-After.
    let locked = server.login("li.wei", "li.wei-password").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.error_code(), "too_many_attempts");
    assert!(locked.json()["reason"]
        .as_str()
        .unwrap()
        .contains("15 分钟"));
    let retry: u64 = locked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert_eq!(retry, (LOCK_FOR / 1000) as u64);
    // Another account is not affected; an unknown name locks the same way.
    assert_eq!(
        server.login("wang.fang", "wang.fang-password").await.status,
        StatusCode::OK
    );
    for _ in 0..MAX_FAILURES {
        server.login("nobody", "guess-guess").await;
    }
    assert_eq!(
        server.login("nobody", "guess-guess").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    server.clock.advance(LOCK_FOR);
    assert_eq!(
        server.login("li.wei", "li.wei-password").await.status,
        StatusCode::OK
    );
}

fn device_body(id: &str, name: &str) -> Body {
    Body::from(serde_json::json!({ "device_id": id, "name": name }).to_string())
}

async fn post_device(server: &TestServer, token: &str, id: &str, name: &str) -> common::Reply {
    server
        .send(
            Request::post("/v1/devices")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(device_body(id, name))
                .expect("request"),
        )
        .await
}

#[tokio::test]
async fn a_device_is_bound_to_its_user_and_to_the_token() {
    let server = TestServer::new();
    server
        .add_user("li.wei", Role::Inspector, Jurisdiction::default())
        .await;
    server
        .add_user("wang.fang", Role::Handler, Jurisdiction::default())
        .await;
    let li = server.token("li.wei").await;
    let wang = server.token("wang.fang").await;

    let created = post_device(&server, &li, "phone-7f3a", "Li's phone").await;
    assert_eq!(created.status, StatusCode::CREATED);
    let again = post_device(&server, &li, "phone-7f3a", "Li's new name").await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "repeating registration is harmless"
    );
    assert_eq!(again.json()["name"], "Li's new name");

    let me = server
        .call(Method::GET, "/v1/me", Some(&li), Body::empty())
        .await;
    assert_eq!(me.json()["device_id"], "phone-7f3a");

    let stolen = post_device(&server, &wang, "phone-7f3a", "mine now").await;
    assert_eq!(stolen.status, StatusCode::CONFLICT);
    assert_eq!(stolen.error_code(), "device_taken");

    let bad = post_device(&server, &li, "../../etc", "x").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "bad_device_id");
}

#[tokio::test]
async fn only_admins_create_users() {
    let server = TestServer::new();
    server
        .add_user(
            "root",
            Role::Admin,
            Jurisdiction {
                everywhere: true,
                ..Default::default()
            },
        )
        .await;
    server
        .add_user("li.wei", Role::Inspector, Jurisdiction::default())
        .await;
    let admin = server.token("root").await;
    let inspector = server.token("li.wei").await;
    let new_user = serde_json::json!({
        "username": "zhao.lei", "password": "river-chief-pw", "role": "river_chief",
        "jurisdiction": { "segments": ["xixi-01"] }
    })
    .to_string();
    let create = |token: String| {
        Request::post("/v1/users")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(new_user.clone()))
            .expect("request")
    };
    let refused = server.send(create(inspector)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "forbidden");

    let made = server.send(create(admin.clone())).await;
    assert_eq!(made.status, StatusCode::CREATED);
    assert_eq!(made.json()["role"], "river_chief");
    let login = server.login("zhao.lei", "river-chief-pw").await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.json()["jurisdiction"]["segments"][0], "xixi-01");

    let duplicate = server.send(create(admin)).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.error_code(), "user_exists");
}

fn patch_user(token: &str, username: &str, body: serde_json::Value) -> Request<Body> {
    Request::patch(format!("/v1/users/{username}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// A server with the admin `root` (whose token is returned) and the handler `wang.fang`.
async fn admin_and_handler() -> (TestServer, String) {
    let server = TestServer::new();
    let everywhere = Jurisdiction {
        everywhere: true,
        ..Default::default()
    };
    server.add_user("root", Role::Admin, everywhere).await;
    server
        .add_user("wang.fang", Role::Handler, Jurisdiction::default())
        .await;
    let admin = server.token("root").await;
    (server, admin)
}

#[tokio::test]
async fn admins_move_and_disable_people_and_it_takes_effect_on_their_next_request() {
    let (server, admin) = admin_and_handler().await;
    let moved = server.token("wang.fang").await;

    let reassign = serde_json::json!({
        "role": "inspector",
        "jurisdiction": { "grid_prefixes": ["330106001001"] }
    });
    let refused = server
        .send(patch_user(&moved, "wang.fang", reassign.clone()))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "only admins");

    let done = server.send(patch_user(&admin, "wang.fang", reassign)).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.json());
    assert_eq!(done.json()["role"], "inspector");
    let me = server
        .call(Method::GET, "/v1/me", Some(&moved), Body::empty())
        .await;
    assert_eq!(
        me.json()["role"],
        "inspector",
        "the same token, the new post"
    );
    assert_eq!(
        me.json()["jurisdiction"]["grid_prefixes"][0],
        "330106001001"
    );
    let audit = server.state.audit.recent(5).await.expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "user.updated"
            && a.detail.as_deref().is_some_and(|d| d.contains("Handler"))),
        "{audit:?}"
    );

    let disabled = server
        .send(patch_user(
            &admin,
            "wang.fang",
            serde_json::json!({ "disabled": true }),
        ))
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    let locked = server
        .call(Method::GET, "/v1/me", Some(&moved), Body::empty())
        .await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.error_code(), "account_disabled");
}

#[tokio::test]
async fn a_bad_user_change_is_refused_with_a_reason_and_changes_nothing() {
    let (server, admin) = admin_and_handler().await;
    let cases = [
        (
            "nobody",
            serde_json::json!({ "disabled": true }),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wang.fang",
            serde_json::json!({}),
            StatusCode::BAD_REQUEST,
            "nothing_to_change",
        ),
        (
            "wang.fang",
            serde_json::json!({ "role": "server" }),
            StatusCode::BAD_REQUEST,
            "bad_role",
        ),
        (
            "wang.fang",
            serde_json::json!({ "rol": "inspector" }),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            "root",
            serde_json::json!({ "disabled": true }),
            StatusCode::CONFLICT,
            "own_account",
        ),
        (
            "root",
            serde_json::json!({ "role": "inspector" }),
            StatusCode::CONFLICT,
            "own_account",
        ),
    ];
    for (who, body, status, code) in cases {
        let reply = server.send(patch_user(&admin, who, body.clone())).await;
        assert_eq!(reply.status, status, "{who} {body}: {:?}", reply.json());
        assert_eq!(reply.error_code(), code, "{who} {body}");
        assert!(!reply.json()["reason"].as_str().unwrap_or("").is_empty());
    }
    let unchanged = server
        .state
        .users
        .user_by_name("wang.fang")
        .await
        .expect("lookup")
        .expect("user");
    assert_eq!(unchanged.role, Role::Handler);
    assert!(!unchanged.disabled);
    let root = server
        .state
        .users
        .user_by_name("root")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(root.role, Role::Admin);
    assert!(!root.disabled);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let server = TestServer::new();
    let missing = server
        .call(Method::GET, "/v1/nothing", None, Body::empty())
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "not_found");
    let wrong = server
        .call(Method::DELETE, "/health", None, Body::empty())
        .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.error_code(), "method_not_allowed");
}
