//! One error shape for every answer: the layers that turn what the framework makes by
//! itself (a body over the limit, an extractor's rejection, a wrong method, an unknown
//! path, a timeout, a panic) into `{"error": code, "reason": text}`, like the handlers'
//! own [`ServerError`](crate::ServerError) answers.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use futures_util::FutureExt;
use serde_json::json;

/// Longest error body read back to reuse as the reason; framework rejections are short.
const MAX_REASON_BYTES: usize = 2048;

/// Said for every 5xx instead of the detail, which goes to the log.
const INTERNAL_REASON: &str = "internal error; it has been logged";

/// Wraps `router` so that every answer at or over 400 has the JSON error body, panics in
/// a handler answer 500, and a request taking longer than `timeout` answers 408 — except
/// photo uploads and downloads, which stream for as long as the phone's network needs.
pub fn layers(router: Router, timeout: Duration) -> Router {
    router
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            bounded(request, next, timeout)
        }))
        .layer(middleware::from_fn(catch_panic))
        .layer(middleware::from_fn(reshape))
}

/// The JSON error answer.
pub fn error_response(status: StatusCode, code: &str, reason: &str) -> Response {
    (status, Json(json!({ "error": code, "reason": reason }))).into_response()
}

/// The stable code for a status the framework chose.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 => "timeout",
        409 => "conflict",
        411 => "length_required",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => "too_many_requests",
        503 => "unavailable",
        504 => "timeout",
        _ if status.is_server_error() => "internal",
        _ => "error",
    }
}

async fn bounded(request: Request, next: Next, timeout: Duration) -> Response {
    if request.uri().path().starts_with("/v1/blobs/") {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%method, %path, secs = timeout.as_secs_f64(), "request timed out");
            error_response(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                &format!(
                    "the request took longer than {} s; send it again",
                    timeout.as_secs()
                ),
            )
        }
    }
}

async fn catch_panic(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%method, %path, panic = %what, "handler panicked");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                INTERNAL_REASON,
            )
        }
    }
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Error answers that are not already JSON get the JSON shape; status and headers such
/// as `Allow` or `Retry-After` are kept. A short plain-text 4xx body (an extractor's
/// rejection) becomes the reason; a 5xx body never does.
async fn reshape(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.as_u16() < 400 || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match to_bytes(body, MAX_REASON_BYTES).await {
        Ok(bytes) => String::from_utf8(bytes.to_vec()).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let reason = if status.is_server_error() {
        INTERNAL_REASON.to_owned()
    } else if !text.trim().is_empty() {
        text.trim().to_owned()
    } else {
        status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_lowercase()
    };
    let body = serde_json::to_vec(&json!({ "error": code_for(status), "reason": reason }))
        .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}
