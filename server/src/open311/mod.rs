//! Open311 GeoReport v2 (citizen reports) under `/open311/v2/`: discovery, services (the
//! category catalogue), service definitions, `POST requests` with an admin-issued
//! `api_key` (form-encoded, or multipart with the photo as `media`), `GET requests` and
//! `GET requests/{id}`; each in `.json` or `.xml`, errors in
//! the spec's `[{code, description}]` form. A report becomes a case in the register
//! queue (status `reported`, field `source` = `open311`).
//!
//! Admins issue a client app's key with `POST /v1/admin/open311/keys {"client": name}`.

pub mod media;
pub mod service;
mod upload;
pub mod xml;

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, Form, FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldloop_core::roles::Role;
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::error::ServerError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/open311/v2/{file}",
            get(get_top)
                .post(post_top)
                .layer(DefaultBodyLimit::max(upload::MAX_BODY_BYTES)),
        )
        .route("/open311/v2/services/{file}", get(get_service))
        .route("/open311/v2/requests/{file}", get(get_request))
        .route("/v1/admin/open311/keys", post(issue_key))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

/// An answer in the spec's error form, with its HTTP status.
#[derive(Debug)]
pub struct Open311Error {
    pub status: StatusCode,
    pub description: String,
}

impl Open311Error {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Open311Error {
            status,
            description: description.into(),
        }
    }

    pub fn bad(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }
}

impl From<ServerError> for Open311Error {
    fn from(e: ServerError) -> Self {
        let response = e.into_response();
        let status = response.status();
        let description = if status.is_server_error() {
            "internal error; it has been logged".to_owned()
        } else {
            status.canonical_reason().unwrap_or("error").to_owned()
        };
        Open311Error::new(status, description)
    }
}

impl From<crate::storage::StoreError> for Open311Error {
    fn from(e: crate::storage::StoreError) -> Self {
        ServerError::from(e).into()
    }
}

impl From<fieldloop_core::Error> for Open311Error {
    fn from(e: fieldloop_core::Error) -> Self {
        match e {
            fieldloop_core::Error::Invalid { .. } => Open311Error::bad(e.to_string()),
            other => ServerError::from(other).into(),
        }
    }
}

/// Splits "services.json" into ("services", format).
fn split(file: &str) -> Result<(&str, Format), (Open311Error, Format)> {
    let (name, ext) = file.rsplit_once('.').unwrap_or((file, ""));
    match ext {
        "json" => Ok((name, Format::Json)),
        "xml" => Ok((name, Format::Xml)),
        other => Err((
            Open311Error::bad(format!("format {other:?}: use .json or .xml")),
            Format::Json,
        )),
    }
}

fn answer(format: Format, root: &str, value: Value) -> Response {
    match format {
        Format::Json => Json(value).into_response(),
        Format::Xml => (
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            xml::document(root, &value, &xml::item_name),
        )
            .into_response(),
    }
}

fn error(format: Format, e: Open311Error) -> Response {
    let body = json!([{ "code": e.status.as_u16(), "description": e.description }]);
    let mut response = answer(format, "errors", body);
    *response.status_mut() = e.status;
    response
}

fn respond(format: Format, root: &str, result: Result<Value, Open311Error>) -> Response {
    match result {
        Ok(value) => answer(format, root, value),
        Err(e) => error(format, e),
    }
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/open311/v2")
}

async fn get_top(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (name, format) = match split(&file) {
        Ok(split) => split,
        Err((e, format)) => return error(format, e),
    };
    match name {
        "discovery" => answer(format, "discovery", service::discovery(&base_url(&headers))),
        "services" => answer(format, "services", service::services(&state)),
        "requests" => respond(
            format,
            "service_requests",
            service::list_requests(&state, &query).await,
        ),
        other => error(
            format,
            Open311Error::new(StatusCode::NOT_FOUND, format!("no resource {other:?}")),
        ),
    }
}

async fn post_top(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
    request: Request,
) -> Response {
    let (name, format) = match split(&file) {
        Ok(split) => split,
        Err((e, format)) => return error(format, e),
    };
    if name != "requests" {
        return error(
            format,
            Open311Error::new(StatusCode::NOT_FOUND, format!("cannot POST {name:?}")),
        );
    }
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"));
    let (form, media) = if multipart {
        match upload::read(request, &state).await {
            Ok(read) => read,
            Err(e) => return error(format, e),
        }
    } else {
        match Form::<HashMap<String, String>>::from_request(request, &state).await {
            Ok(Form(form)) => (form, None),
            Err(rejection) => return error(format, Open311Error::bad(rejection.body_text())),
        }
    };
    respond(
        format,
        "service_requests",
        service::create_request_with_media(&state, &form, media).await,
    )
}

async fn get_service(State(state): State<AppState>, ApiPath(file): ApiPath<String>) -> Response {
    match split(&file) {
        Ok((code, format)) => respond(
            format,
            "service_definition",
            service::definition(&state, code),
        ),
        Err((e, format)) => error(format, e),
    }
}

async fn get_request(State(state): State<AppState>, ApiPath(file): ApiPath<String>) -> Response {
    match split(&file) {
        Ok((id, format)) => respond(
            format,
            "service_requests",
            service::one_request(&state, id).await,
        ),
        Err((e, format)) => error(format, e),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRequest {
    client: String,
}

/// `POST /v1/admin/open311/keys`: a new api_key for a client app (shown once).
async fn issue_key(
    auth: Auth,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<KeyRequest>,
) -> Result<(StatusCode, Json<Value>), ServerError> {
    auth.require_role(&[Role::Admin], "issue Open311 keys")?;
    let client = request.client.trim().to_owned();
    if client.is_empty() || client.chars().count() > 64 {
        return Err(ServerError::bad_request(
            "bad_client",
            "a client app's name is 1 to 64 characters",
        ));
    }
    let key = service::issue_key(&state, &client, auth.user_id()).await?;
    let actor = crate::audit_trail::Actor::person(auth.user_id(), auth.device_id.as_deref());
    crate::audit_trail::record(
        &state,
        state.clock.now(),
        actor,
        "open311.key_issued",
        client.clone(),
        None,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "client": client, "api_key": key })),
    ))
}
