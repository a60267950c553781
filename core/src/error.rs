//! The one internal error type of fieldloop-core. The FFI and HTTP boundaries map it to
//! their own small public errors in one place each.

use thiserror::Error;

/// What went wrong with a photo, so a caller can tell the person what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PhotoProblem {
    /// A format the pipeline does not take (HEIC, …): convert to JPEG on the device.
    UnsupportedFormat,
    /// More pixels or bytes than the limits allow.
    TooLarge,
    /// The bytes are not a readable image (truncated, damaged, not an image).
    Undecodable,
}

#[derive(Debug, Error)]
pub enum Error {
    /// Input that does not meet the rules: a bad code, a malformed document, an
    /// out-of-range coordinate. `what` names the thing, `reason` says why in plain words.
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },

    /// The permission table said no.
    #[error("not allowed: {0}")]
    Forbidden(String),

    #[error("not found: {0}")]
    NotFound(String),

    #[error("photo {problem:?}: {detail}")]
    Photo {
        problem: PhotoProblem,
        detail: String,
    },

    #[error("document: {0}")]
    Automerge(#[from] automerge::AutomergeError),

    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),

    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),

    /// The device's signing key is sealed by the platform's key store and cannot be
    /// opened: no key store given, another key store, or one that fails. The store is left
    /// as it was; a new key is never made in its place (it would be a new identity).
    #[error("device key unavailable: {0}")]
    DeviceKeyUnavailable(String),

    /// The network or the server failed; the work stays queued and is tried again.
    #[error("sync: {0}")]
    Sync(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            reason: reason.into(),
        }
    }
}
