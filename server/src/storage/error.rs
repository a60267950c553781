//! The storage layer's one error type. Storage knows nothing of HTTP: the server maps
//! these to responses in exactly one place (`impl From<StoreError> for ServerError`).

use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),

    /// The write contradicts what is stored (username taken, device bound elsewhere).
    #[error("conflict ({code}): {reason}")]
    Conflict { code: &'static str, reason: String },

    /// The caller passed something the store cannot take (a malformed blob address).
    #[error("invalid ({code}): {reason}")]
    Invalid { code: &'static str, reason: String },

    /// An upload append whose offset is not the length held; `held` is where to resume.
    #[error("the store holds {held} bytes of the upload, not {asked}")]
    OffsetMismatch { held: u64, asked: u64 },

    /// A versioned write found the document changed since it was read: reload and retry.
    #[error("document {0} changed since it was read")]
    Stale(Uuid),

    /// A row or object the store wrote itself no longer reads back.
    #[error("damaged stored data: {0}")]
    Damaged(String),

    /// The schema is not one this server can run on (newer, foreign).
    #[error("schema: {0}")]
    Schema(String),

    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),

    #[error("database pool: {0}")]
    Pool(String),

    /// The S3 endpoint answered with an error, or could not be reached.
    #[error("s3: {0}")]
    S3(String),

    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),

    /// Bad configuration (an unparsable URL, a missing bucket).
    #[error("configuration: {0}")]
    Config(String),

    /// The group commit this write was part of did not commit (the disk failed).
    #[error("commit failed: {0}")]
    Commit(String),

    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl StoreError {
    pub fn conflict(code: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Conflict {
            code,
            reason: reason.into(),
        }
    }

    pub fn invalid(code: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Invalid {
            code,
            reason: reason.into(),
        }
    }

    pub fn damaged(what: impl std::fmt::Display) -> Self {
        StoreError::Damaged(what.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Damaged(format!("json: {e}"))
    }
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;
