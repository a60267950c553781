//! `GET /v1/evaluation?period=YYYY-MM[&format=json|csv][&rows=units|inspectors]`: the
//! 综合评价 of units and inspectors for a month, computed from the event logs with
//! `fieldloop_core::evaluation` (formulas in its docs). Dispatchers and admins only.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldloop_core::doc::DocKind;
use fieldloop_core::evaluation::{evaluate, EvaluationInput, DEFAULT_VERIFICATION_LIMIT};
use fieldloop_core::geo::GridIndex;
use fieldloop_core::patrol;
use fieldloop_core::roles::{Jurisdiction, Role};
use serde::Deserialize;

use crate::auth::Auth;
use crate::error::{Result, ServerError};
use crate::state::AppState;

/// Documents read for one evaluation at most; a city larger than this needs the
/// projection-based evaluation the PostgreSQL backend will bring.
const MAX_DOCS: usize = 200_000;

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

/// The evaluation of `period` ("YYYY-MM") over every case and patrol, on the server's
/// clock; a malformed period is a 400 `bad_period`.
pub async fn compute(
    state: &AppState,
    period: String,
) -> Result<fieldloop_core::evaluation::Evaluation> {
    let everywhere = Jurisdiction {
        everywhere: true,
        ..Jurisdiction::default()
    };
    let mut cases = Vec::new();
    let mut patrols = Vec::new();
    let actor = fieldloop_core::doc::actor_for(&uuid::Uuid::nil());
    for projection in state.docs.changed_since(0, everywhere, MAX_DOCS).await? {
        if !matches!(projection.kind, DocKind::Case | DocKind::Patrol) {
            continue;
        }
        let Some(stored) = state.docs.load_doc(projection.doc_id).await? else {
            continue;
        };
        let snapshot = stored.load(&actor)?.snapshot()?;
        match projection.kind {
            DocKind::Case => cases.push(snapshot),
            _ => patrols.push(patrol::fold(&snapshot)),
        }
    }
    let reference = state.reference.current();
    let now = state.clock.now();
    let result = tokio::task::spawn_blocking(move || {
        let no_grid;
        let grid = match &reference.grid {
            Some(grid) => grid,
            None => {
                no_grid = GridIndex::new(Vec::new())?;
                &no_grid
            }
        };
        evaluate(&EvaluationInput {
            period: &period,
            cases: &cases,
            patrols: &patrols,
            grid,
            catalogue: &reference.catalogue,
            calendar: &reference.calendar,
            units: &reference.units,
            verification_limit: DEFAULT_VERIFICATION_LIMIT,
            now,
        })
    })
    .await
    .map_err(|e| ServerError::Internal(format!("evaluation: {e}")))?;
    result.map_err(|e| match e {
        fieldloop_core::Error::Invalid { what, reason } => {
            ServerError::bad_request("bad_period", format!("{what}: {reason}"))
        }
        other => other.into(),
    })
}
