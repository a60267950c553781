//! `GET /health` (the process answers), `GET /ready` (it can do its work: the database
//! and the blob store answer) and `GET /metrics` (Prometheus).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// How long a readiness probe waits for each store before calling it unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Liveness: answers while the process runs, touching no store (a load balancer must
/// not restart an instance because the database is slow).
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn probe<T, E: std::fmt::Display>(
    what: &str,
    check: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what} unreachable: {e}")),
        Err(_) => Err(format!(
            "{what} did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}

/// Readiness: 200 with the database's head sequence when the database and the blob store
/// both answer, else 503 `not_ready` naming which one failed and why.
pub async fn ready(State(state): State<AppState>) -> Response {
    let database = probe("database", state.docs.head_seq()).await;
    // Listing unfinished uploads reads the blob store's own directory (or bucket prefix):
    // it fails when the store is gone, where a lookup of one absent photo would not.
    let blobs = probe(
        "blob store",
        state
            .blobs
            .stale_parts(Duration::from_secs(u32::MAX.into())),
    )
    .await;
    match (database, blobs) {
        (Ok(seq), Ok(_)) => Json(json!({
            "status": "ready",
            "version": env!("CARGO_PKG_VERSION"),
            "seq": seq,
        }))
        .into_response(),
        (database, blobs) => {
            let reason = [database.err(), blobs.err()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ");
            tracing::warn!(%reason, "not ready");
            crate::ops::shape::error_response(StatusCode::SERVICE_UNAVAILABLE, "not_ready", &reason)
        }
    }
}

/// Prometheus text exposition of this process's counters.
pub async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}
