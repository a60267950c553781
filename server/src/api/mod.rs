//! The data-sharing and command-centre API: reads of cases, notices, patrols and plans
//! scoped by the caller's role and jurisdiction, with filters and cursor paging; GeoJSON
//! and CSV exports; queues; the evaluation by name; the console's case actions; and the
//! OpenAPI document at `/openapi.json`, generated from these handlers.
//!
//! Handlers only resolve the caller ([`Auth`]) and the request; the functions they call
//! (`list_cases`, `case_detail`, `act`, …) take a [`Principal`] and the [`AppState`], so
//! tests, the console and Open311 call the same code without HTTP.

pub mod actions;
pub mod admin;
pub mod cases;
pub mod export;
pub mod fields;
pub mod geo;
pub mod names;
pub mod openapi;
pub mod queues;
pub mod records;
pub mod scoring;

use axum::routing::{get, post};
use axum::Router;
use fieldloop_core::roles::Principal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Result, ServerError};
use crate::state::AppState;
use crate::storage::{Projection, Seq};

/// The routes of this module, merged into [`crate::app`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/v1/cases", get(cases::list_handler))
        .route("/v1/cases.geojson", get(geo::cases_handler))
        .route("/v1/cases.csv", get(export::cases_csv_handler))
        .route("/v1/cases/{id}", get(cases::detail_handler))
        .route("/v1/cases/{id}/actions", post(actions::act_handler))
        .route("/v1/cases/{id}/fields", post(fields::resolve_handler))
        .route("/v1/queues", get(queues::queues_handler))
        .route("/v1/units", get(names::units_handler))
        .route("/v1/notices", get(records::notices_handler))
        .route("/v1/patrols", get(records::patrols_handler))
        .route("/v1/plans", get(records::plans_handler))
        .route("/v1/geo/cells", get(geo::cells_handler))
        .route("/v1/geo/segments", get(geo::segments_handler))
        .route("/v1/geo/patrols", get(geo::patrols_handler))
        .route("/v1/ranking", get(scoring::ranking_handler))
        .route("/v1/ranking.csv", get(scoring::ranking_csv_handler))
        .route("/v1/admin/users", get(admin::users_handler))
        .route(
            "/v1/admin/users/{username}/password",
            post(admin::reset_password_handler),
        )
        .route("/v1/admin/devices", get(admin::devices_handler))
        .route("/v1/admin/audit", get(admin::audit_handler))
        .route("/v1/admin/audit/check", get(admin::audit_check_handler))
        .route(
            "/v1/admin/devices/{id}/revoke",
            post(admin::revoke_device_handler),
        )
}

/// One page of a list and where the next one starts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Paging parameters shared by every list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Paging {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// Lists give at most this many items per page.
pub const MAX_PAGE: usize = 1000;
/// Exports (GeoJSON, CSV) give at most this many features.
pub const MAX_EXPORT: usize = 50_000;
/// Projections read from the store per batch while filtering.
const BATCH: usize = 2000;

impl Paging {
    pub fn start(&self) -> Result<Seq> {
        match self.cursor.as_deref() {
            None | Some("") => Ok(0),
            Some(text) => text.parse::<Seq>().ok().filter(|s| *s >= 0).ok_or_else(|| {
                ServerError::bad_request("bad_cursor", "cursor is what next_cursor gave")
            }),
        }
    }

    pub fn limit(&self, default: usize, max: usize) -> usize {
        self.limit.unwrap_or(default).clamp(1, max)
    }
}

/// Projections in the principal's jurisdiction after `cursor` that `keep` accepts, in
/// change-sequence order, at most `limit`; and the cursor after the last one when more
/// may follow.
pub async fn scan(
    state: &AppState,
    who: &Principal,
    cursor: Seq,
    limit: usize,
    keep: impl Fn(&Projection) -> bool,
) -> Result<(Vec<Projection>, Option<Seq>)> {
    let mut found = Vec::new();
    let mut at = cursor;
    loop {
        let batch = state
            .docs
            .changed_since(at, who.jurisdiction.clone(), BATCH)
            .await?;
        let exhausted = batch.len() < BATCH;
        for projection in batch {
            at = projection.seq;
            if keep(&projection) {
                found.push(projection);
                if found.len() == limit {
                    return Ok((found, Some(at)));
                }
            }
        }
        if exhausted {
            return Ok((found, None));
        }
    }
}

/// Whether a document's projection lies in the principal's jurisdiction.
pub fn visible(who: &Principal, projection: &Projection) -> bool {
    crate::sync::in_scope(who, projection)
}

/// A text field of the projection's kind-specific JSON.
pub fn json_str<'a>(projection: &'a Projection, key: &str) -> Option<&'a str> {
    projection.fields.json.get(key).and_then(|v| v.as_str())
}

/// Milliseconds since the epoch as an ISO-8601 text in China time (+08:00).
pub fn iso(at: fieldloop_core::time::Millis) -> String {
    use chrono::{FixedOffset, TimeZone};
    let china = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    china
        .timestamp_millis_opt(at)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
        .unwrap_or_default()
}

/// A unit-like enum's serde name ("river_chief", "after").
pub fn word<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
