//! fieldloop sync server: the referee that verifies evidence and closes cases.
//!
//! [`app`] builds the whole HTTP surface on an [`AppState`]; tests drive it in-process
//! with `tower::ServiceExt::oneshot`, and [`serve::start`] puts it on a socket.
//!
//! Endpoints (all but `/health`, `/ready`, `/metrics` and `/v1/login` need
//! `Authorization: Bearer <token>`; every 4xx and 5xx, the framework's own included, has
//! the body `{"error": code, "reason": text}`, see [`ops::shape`]):
//!
//! | method | path                 | who                         |
//! |--------|----------------------|-----------------------------|
//! | GET    | `/health`            | anyone (alive)              |
//! | GET    | `/ready`             | anyone (database and blob store answer) |
//! | GET    | `/metrics`           | anyone (Prometheus text)    |
//! | POST   | `/v1/login`          | anyone with a password      |
//! | POST   | `/v1/logout`         | any person                  |
//! | GET    | `/v1/me`             | any person                  |
//! | POST   | `/v1/devices`        | any person                  |
//! | POST   | `/v1/users`          | admins                      |
//! | PATCH  | `/v1/users/{username}` | admins (role, jurisdiction, disabled) |
//! | POST   | `/v1/sync`           | any person, registered device (see [`sync`]) |
//! | PUT/HEAD | `/v1/blobs/{sha256}` | people who capture photos (see [`blobs`]) |
//! | GET    | `/v1/blobs/{sha256}` | uploader, jurisdiction, admins |
//! | GET    | `/v1/reference`      | any person (the city's reference data, newest version) |
//! | PUT    | `/v1/reference/{kind}` | admins (import a file, see [`reference`]) |
//! | GET    | `/v1/evaluation`     | dispatchers, admins (see [`evaluation`]) |

pub mod api;
pub mod audit_trail;
pub mod auth;
pub mod blobs;
pub mod clock;
pub mod console;
pub mod corrections;
pub mod demo;
pub mod device_keys;
pub mod doc_cache;
pub mod duplicates;
pub mod error;
pub mod evaluation;
pub mod evaluation_view;
pub mod extract;
pub mod intake;
pub mod judging;
pub mod metrics;
pub mod notices;
pub mod onboarding;
pub mod open311;
pub mod ops;
pub mod patrol_rules;
pub mod projection;
pub mod push_heads;
pub mod referee;
pub mod reference;
pub mod scheduler;
pub mod seed;
pub mod serve;
pub mod state;
pub mod storage;
pub mod sync;
pub mod throttle;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde_json::json;

pub use error::{Result, ServerError};
pub use state::{AppState, Config};

/// The whole HTTP surface, every error in one JSON shape.
pub fn app(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    ops::shape::layers(routes(state), timeout).layer(middleware::from_fn(log_request))
}

/// The endpoints without the error-shape layers (tests add a route to them first).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/health", get(ops::health::health))
        .route("/ready", get(ops::health::ready))
        .route("/metrics", get(ops::health::metrics))
        .route("/v1/login", post(auth::login))
        .route("/v1/logout", post(auth::logout))
        .route("/v1/me", get(auth::me))
        .route("/v1/devices", post(auth::register_device))
        .route("/v1/users", post(auth::create_user_handler))
        .route("/v1/users/{username}", patch(auth::update_user_handler))
        .route("/v1/reference", get(reference::routes::get_reference))
        .route(
            "/v1/reference/{kind}",
            put(reference::routes::put_reference)
                .layer(DefaultBodyLimit::max(reference::routes::MAX_IMPORT_BYTES)),
        )
        .route("/v1/evaluation", get(evaluation::evaluation))
        .route(
            "/v1/sync",
            post(sync::sync)
                .layer(DefaultBodyLimit::max(
                    fieldloop_core::sync::wire::MAX_BODY_BYTES,
                ))
                .layer(middleware::from_fn_with_state(
                    state.sync_turns.clone(),
                    sync::one_of_few,
                )),
        )
        .route(
            "/v1/blobs/{hash}",
            put(blobs::put_blob)
                .head(blobs::head_blob)
                .get(blobs::get_blob)
                // Photos are streamed to disk and limited by the handler, not buffered.
                .layer(DefaultBodyLimit::disable()),
        )
        .merge(api::routes())
        .merge(console::routes())
        .merge(open311::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> ServerError {
    ServerError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({
            "error": "method_not_allowed",
            "reason": "this endpoint does not take that method",
        })),
    )
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics::response(response.status().as_u16());
    if path == "/v1/sync" {
        metrics::sync_request(started.elapsed(), response.status().is_success());
    }
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
