//! `GET /v1/evaluation?period=YYYY-MM[&format=json|csv][&rows=units|inspectors]`: the
//! 综合评价 of units and inspectors for a month, computed from the event logs with
//! `fieldloop_core::evaluation` (formulas in its docs). Dispatchers and admins only.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldloop_core::roles::Role;
use serde::Deserialize;

use crate::auth::Auth;
use crate::error::{Result, ServerError};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct EvaluationQuery {
    pub period: Option<String>,
    pub format: Option<String>,
    pub rows: Option<String>,
}

pub async fn evaluation(
    auth: Auth,
    State(state): State<AppState>,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<EvaluationQuery>,
) -> Result<Response> {
    auth.require_role(&[Role::Dispatcher, Role::Admin], "read the evaluation")?;
    let period = query
        .period
        .ok_or_else(|| ServerError::bad_request("missing_period", "give ?period=YYYY-MM"))?;
    let format = query.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        return Err(ServerError::bad_request(
            "bad_format",
            format!("format {format:?}: use json or csv"),
        ));
    }
    let rows = query.rows.as_deref().unwrap_or("units");
    if !matches!(rows, "units" | "inspectors") {
        return Err(ServerError::bad_request(
            "bad_rows",
            format!("rows {rows:?}: use units or inspectors"),
        ));
    }

    // Kept up to date incrementally and cut to the reader's jurisdiction.
    let evaluation = crate::evaluation_view::evaluation(&state, &auth.principal, &period).await?;

    if format == "csv" {
        let body = if rows == "units" {
            evaluation.units_csv()
        } else {
            evaluation.inspectors_csv()
        };
        return Ok((
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            )],
            body,
        )
            .into_response());
    }
    let body = evaluation.to_json()?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}
