use thiserror::Error;

/// Why a benchmark could not produce its figures.
#[derive(Debug, Error)]
pub enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error("core: {0}")]
    Core(#[from] fieldloop_core::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("did not converge: {0}")]
    NoConvergence(String),
}

pub type Result<T> = std::result::Result<T, BenchError>;

pub(crate) fn setup(what: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(what.to_string())
}
