//! Shared test setup: a real SQLite file and blob directory in a temp dir, the real app,
//! driven in-process with `oneshot`.
#![allow(dead_code)]

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_server::auth::{create_user, NewUser};
use fieldloop_server::clock::ManualClock;
use fieldloop_server::{app, AppState, Config};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

/// 2026-11-20T08:00:00Z.
pub const T0: i64 = 1_795_248_000_000;

pub struct TestServer {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The stable error code of a 4xx answer.
    pub fn error_code(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header text").to_owned())
    }
}

impl TestServer {
    pub fn new() -> TestServer {
        TestServer::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(T0));
        let state = AppState::embedded(dir.path(), clock.clone(), config).expect("open state");
        TestServer { state, clock, dir }
    }

    pub fn app(&self) -> Router {
        app(self.state.clone())
    }

    pub async fn add_user(&self, username: &str, role: Role, jurisdiction: Jurisdiction) {
        create_user(
            &self.state,
            NewUser {
                username: username.into(),
                password: format!("{username}-password"),
                role,
                jurisdiction,
            },
        )
        .await
        .expect("create user");
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .app()
            .oneshot(request)
            .await
            .expect("infallible service");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("response body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({ "username": username, "password": password });
        self.send(
            Request::post("/v1/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await
    }

    /// Logs in a user made by [`TestServer::add_user`] and returns the bearer token.
    pub async fn token(&self, username: &str) -> String {
        let reply = self.login(username, &format!("{username}-password")).await;
        assert_eq!(reply.status, StatusCode::OK, "login {username}");
        reply.json()["token"]
            .as_str()
            .expect("token in login answer")
            .to_owned()
    }

    pub async fn call(&self, method: Method, uri: &str, token: Option<&str>, body: Body) -> Reply {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(builder.body(body).expect("request")).await
    }
}

pub fn jurisdiction_cells(prefix: &str) -> Jurisdiction {
    Jurisdiction {
        grid_prefixes: vec![prefix.to_owned()],
        ..Jurisdiction::default()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A real JPEG, encoded here: a gradient with some noise so it does not compress to nothing.
pub fn make_jpeg(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let n = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ seed.wrapping_mul(31)) % 64;
        image::Rgb([(x % 256) as u8, (y % 256) as u8, (n * 4) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode jpeg");
    out.into_inner()
}

pub fn make_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 3 % 256) as u8, (y * 5 % 256) as u8, 128])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

/// `<repo>/../shared/photos` (or `$FIELDLOOP_PHOTOS`); when absent, a failure under CI
/// and a recorded skip (`None`) locally.
pub fn shared_photos(test: &str) -> Option<PathBuf> {
    fieldloop_testdata::photos_dir(test)
}
