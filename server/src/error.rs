//! The server's one internal error type and its one mapping to HTTP responses.
//!
//! Every 4xx and 5xx answer has the body `{"error": code, "reason": text}`: `code` is
//! stable and meant for programs, `reason` is for a person. 5xx answers never leak
//! internals; the detail goes to the log instead. Answers the framework makes by itself
//! get the same shape from [`crate::ops::shape`].

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldloop_core::PhotoProblem;
use serde_json::json;

use crate::storage::{IsStale, StoreError};

/// Header telling a resuming client how many bytes of a blob the server holds.
pub const UPLOAD_OFFSET: &str = "upload-offset";

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No usable credentials: missing, unknown, revoked or expired token, bad password.
    #[error("unauthorized: {reason}")]
    Unauthorized { code: &'static str, reason: String },

    /// Authenticated, but role or jurisdiction does not allow it.
    #[error("forbidden: {0}")]
    Forbidden(String),

    #[error("not found: {0}")]
    NotFound(String),

    #[error("bad request ({code}): {reason}")]
    BadRequest { code: &'static str, reason: String },

    /// The request contradicts what the server holds (device bound to another user,
    /// username taken, upload already running).
    #[error("conflict ({code}): {reason}")]
    Conflict { code: &'static str, reason: String },

    /// An upload answer that must tell the client where to resume from.
    #[error("upload ({code}): {reason}")]
    Upload {
        status: StatusCode,
        code: &'static str,
        reason: String,
        offset: u64,
    },

    /// Too many attempts: try again after `retry_after_secs`.
    #[error("too many requests ({code}): {reason}")]
    TooMany {
        code: &'static str,
        reason: String,
        retry_after_secs: u64,
    },

    /// A request body over the endpoint's limit.
    #[error("too large: {0}")]
    TooLarge(String),

    #[error(transparent)]
    Core(#[from] fieldloop_core::Error),

    /// Storage failures the handlers did not handle themselves; see the `From` below.
    #[error("storage: {0}")]
    Storage(StoreError),

    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),

    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;

impl ServerError {
    pub fn bad_request(code: &'static str, reason: impl Into<String>) -> Self {
        ServerError::BadRequest {
            code,
            reason: reason.into(),
        }
    }

    pub fn unauthorized(code: &'static str, reason: impl Into<String>) -> Self {
        ServerError::Unauthorized {
            code,
            reason: reason.into(),
        }
    }

    pub fn conflict(code: &'static str, reason: impl Into<String>) -> Self {
        ServerError::Conflict {
            code,
            reason: reason.into(),
        }
    }

    /// Status, stable code and a reason safe to show to the caller.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use fieldloop_core::Error as Core;
        match self {
            ServerError::Unauthorized { code, reason } => {
                (StatusCode::UNAUTHORIZED, code, reason.clone())
            }
            ServerError::Forbidden(reason) => (StatusCode::FORBIDDEN, "forbidden", reason.clone()),
            ServerError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", what.clone()),
            ServerError::BadRequest { code, reason } => {
                (StatusCode::BAD_REQUEST, code, reason.clone())
            }
            ServerError::Conflict { code, reason } => (StatusCode::CONFLICT, code, reason.clone()),
            ServerError::Upload {
                status,
                code,
                reason,
                ..
            } => (*status, code, reason.clone()),
            ServerError::TooLarge(reason) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large", reason.clone())
            }
            ServerError::TooMany { code, reason, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, code, reason.clone())
            }
            ServerError::Core(core) => match core {
                Core::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid", core.to_string()),
                Core::Forbidden(reason) => (StatusCode::FORBIDDEN, "forbidden", reason.clone()),
                Core::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", what.clone()),
                Core::Photo { problem, detail } => match problem {
                    PhotoProblem::TooLarge => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "too_large", detail.clone())
                    }
                    PhotoProblem::UnsupportedFormat => (
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported_format",
                        detail.clone(),
                    ),
                    PhotoProblem::Undecodable => {
                        (StatusCode::BAD_REQUEST, "not_an_image", detail.clone())
                    }
                },
                Core::Json(e) => (StatusCode::BAD_REQUEST, "bad_json", e.to_string()),
                Core::Automerge(e) => (StatusCode::BAD_REQUEST, "bad_document", e.to_string()),
                // The server never opens a device store; a device key error is a bug here.
                Core::Sqlite(_) | Core::Io(_) | Core::Sync(_) | Core::DeviceKeyUnavailable(_) => {
                    internal()
                }
            },
            // A versioned write lost every retry to other writers of the same document.
            ServerError::Storage(StoreError::Stale(id)) => (
                StatusCode::CONFLICT,
                "busy_document",
                format!("document {id} is being changed by others; sync again"),
            ),
            ServerError::Storage(_) | ServerError::Io(_) | ServerError::Internal(_) => internal(),
        }
    }
}

fn internal() -> (StatusCode, &'static str, String) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; it has been logged".to_owned(),
    )
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let (status, code, reason) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(%status, code, %reason, "request refused");
        }
        let mut response =
            (status, Json(json!({ "error": code, "reason": reason }))).into_response();
        if let ServerError::Upload { offset, .. } = &self {
            response
                .headers_mut()
                .insert(UPLOAD_OFFSET, HeaderValue::from(*offset));
        }
        if let ServerError::TooMany {
            retry_after_secs, ..
        } = &self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(*retry_after_secs),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<tokio::task::JoinError> for ServerError {
    fn from(e: tokio::task::JoinError) -> Self {
        ServerError::Internal(format!("blocking task failed: {e}"))
    }
}

/// The tools that work on the embedded database's file itself (backup, restore) meet
/// SQLite's errors directly; they are storage errors like any other.
impl From<rusqlite::Error> for ServerError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::from(e).into()
    }
}

/// The one mapping of storage errors to answers: what the caller can act on keeps its
/// status, everything else is a logged 500.
impl From<StoreError> for ServerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ServerError::NotFound(what),
            StoreError::Conflict { code, reason } => ServerError::Conflict { code, reason },
            StoreError::Invalid { code, reason } => ServerError::BadRequest { code, reason },
            StoreError::OffsetMismatch { held, asked } => ServerError::Upload {
                status: StatusCode::CONFLICT,
                code: "offset_mismatch",
                reason: format!("the server holds {held} bytes, not {asked}"),
                offset: held,
            },
            other => ServerError::Storage(other),
        }
    }
}

impl IsStale for ServerError {
    fn is_stale(&self) -> bool {
        matches!(self, ServerError::Storage(e) if e.is_stale())
    }
}
