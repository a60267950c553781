//! Extractors whose rejections use the server's JSON error shape.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ServerError;

/// `axum::Json`, but a malformed body answers `{"error":"bad_json","reason":…}`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ServerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ServerError::bad_request("bad_json", rejection.body_text())),
        }
    }
}
