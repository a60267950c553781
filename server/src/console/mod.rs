//! The command-centre console (指挥中心) at `/`: a small vanilla-JS single-page app over
//! the `/v1` API, with Leaflet (vendored, BSD-2) for the map. Every asset is compiled into
//! the binary: no CDN and no internet map tiles (cells, rivers, cases and tracks are drawn
//! from the server's own GeoJSON). An optional tile layer is configured with
//! `FIELDLOOP_TILE_URL` (e.g. a city's own tile server, `https://…/{z}/{x}/{y}.png`).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fieldloop_core::reference::ReferenceKind;
use serde_json::json;

use crate::state::AppState;

/// (path, content type, bytes) of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/console/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/app.js"),
    ),
    (
        "/console/pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/pages.js"),
    ),
    (
        "/console/points.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/points.js"),
    ),
    (
        "/console/i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/i18n.js"),
    ),
    (
        "/console/app.css",
        "text/css; charset=utf-8",
        include_str!("../../console/app.css"),
    ),
    (
        "/console/vendor/leaflet.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/vendor/leaflet.js"),
    ),
    (
        "/console/vendor/leaflet.css",
        "text/css; charset=utf-8",
        include_str!("../../console/vendor/leaflet.css"),
    ),
];

const INDEX: &str = include_str!("../../console/index.html");

pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/", get(index))
        .route("/console", get(index))
        .route("/console/config.json", get(config));
    for &(path, content_type, body) in ASSETS {
        router = router.route(path, get(move || asset(content_type, body)));
    }
    router
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX).await
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src * blob: data:; style-src 'self' 'unsafe-inline'",
        ),
    );
    response
}

/// Console settings read from the environment at request time, and the reference kinds
/// an admin imports, from the one list `PUT /v1/reference/{kind}` and the `import`
/// command take (`kind` is the API name, `name` the Chinese one shown).
async fn config() -> Json<serde_json::Value> {
    let tiles = std::env::var("FIELDLOOP_TILE_URL")
        .ok()
        .filter(|t| !t.is_empty());
    let kinds: Vec<serde_json::Value> = ReferenceKind::ALL
        .iter()
        .map(|k| json!({ "kind": k.as_str(), "name": k.label_zh() }))
        .collect();
    Json(json!({ "tile_url": tiles, "reference_kinds": kinds }))
}
