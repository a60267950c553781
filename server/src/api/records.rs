//! Notices (整改通知单), patrols and river patrol plans: scoped, filtered by status,
//! cursor-paged lists, each row with the document's folded state.

use axum::extract::{Query, State};
use axum::Json;
use fieldloop_core::doc::{actor_for, DocKind, Snapshot};
use fieldloop_core::roles::Principal;
use fieldloop_core::{notice, patrol, plan};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::names::People;
use super::{iso, scan, Page, Paging};
use crate::auth::Auth;
use crate::error::Result;
use crate::state::AppState;

/// Rows per page at most (each row folds its document).
const MAX_RECORDS: usize = 500;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordFilter {
    /// Statuses, comma-separated.
    pub status: Option<String>,
    /// Project id (notices), segment id (patrols, plans).
    pub project: Option<String>,
    pub segment: Option<String>,
    pub cursor: Option<String>,
    /// Rows per page (default 50, at most 500).
    pub limit: Option<usize>,
}

/// One notice, patrol or plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordRow {
    pub id: Uuid,
    pub kind: String,
    pub status: Option<String>,
    pub band: Option<String>,
    pub deadline: Option<String>,
    pub project: Option<String>,
    pub segment: Option<String>,
    pub unit: Option<String>,
    pub created_by: String,
    pub created_at: String,
    /// The document's fold (items and their states, track summary and verdict, plan
    /// windows and progress), as the core defines it.
    #[schema(value_type = Object)]
    pub state: serde_json::Value,
}

fn fold(kind: DocKind, snapshot: &Snapshot) -> serde_json::Value {
    let value = match kind {
        DocKind::Notice => notice::fold_notice(snapshot).ok().map(serde_json::to_value),
        DocKind::Patrol => {
            let state = patrol::fold(snapshot);
            // The track itself is in /v1/geo/patrols; a list row keeps its summary.
            Some(Ok(serde_json::json!({
                "status": state.status,
                "kind": state.kind,
                "segment": state.segment,
                "started_at": state.started_at.map(iso),
                "ended_at": state.ended_at.map(iso),
                "fixes": state.fixes.len(),
                "verdict": state.verdict,
            })))
        }
        DocKind::PatrolPlan => plan::fold_plan(snapshot).ok().map(serde_json::to_value),
        _ => None,
    };
    value
        .and_then(|v| v.ok())
        .unwrap_or(serde_json::Value::Null)
}

pub async fn list_records(
    state: &AppState,
    who: &Principal,
    kind: DocKind,
    filter: &RecordFilter,
) -> Result<Page<RecordRow>> {
    let statuses: Vec<String> = filter
        .status
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let paging = Paging {
        cursor: filter.cursor.clone(),
        limit: filter.limit,
    };
    let (found, next) = scan(
        state,
        who,
        paging.start()?,
        paging.limit(50, MAX_RECORDS),
        |p| {
            p.kind == kind
                && (statuses.is_empty()
                    || p.fields
                        .status
                        .as_ref()
                        .is_some_and(|s| statuses.contains(s)))
                && filter
                    .project
                    .as_ref()
                    .is_none_or(|x| p.fields.project.as_ref() == Some(x))
                && filter
                    .segment
                    .as_ref()
                    .is_none_or(|x| p.fields.segment.as_ref() == Some(x))
        },
    )
    .await?;
    let actor = actor_for(&Uuid::nil());
    let mut people = People::default();
    let mut items = Vec::with_capacity(found.len());
    for p in found {
        let Some(stored) = state.docs.load_doc(p.doc_id).await? else {
            continue;
        };
        let snapshot = stored.load(&actor)?.snapshot()?;
        items.push(RecordRow {
            id: p.doc_id,
            kind: super::word(&kind),
            status: p.fields.status.clone(),
            band: p.fields.band.clone(),
            deadline: p.fields.deadline.map(iso),
            project: p.fields.project.clone(),
            segment: p.fields.segment.clone(),
            unit: p.fields.unit.clone(),
            created_by: people.name(state, &snapshot.header.created_by).await?,
            created_at: iso(snapshot.header.created_at),
            state: fold(kind, &snapshot),
        });
    }
    Ok(Page {
        items,
        next_cursor: next.map(|s| s.to_string()),
    })
}

#[utoipa::path(get, path = "/v1/notices", tag = "records", params(RecordFilter),
    responses((status = 200, description = "Rectification notices", body = Page<RecordRow>)),
    security(("bearer" = [])))]
pub async fn notices_handler(
    auth: Auth,
    State(state): State<AppState>,
    Query(filter): Query<RecordFilter>,
) -> Result<Json<Page<RecordRow>>> {
    Ok(Json(
        list_records(&state, &auth.principal, DocKind::Notice, &filter).await?,
    ))
}

#[utoipa::path(get, path = "/v1/patrols", tag = "records", params(RecordFilter),
    responses((status = 200, description = "Patrols with their verdicts", body = Page<RecordRow>)),
    security(("bearer" = [])))]
pub async fn patrols_handler(
    auth: Auth,
    State(state): State<AppState>,
    Query(filter): Query<RecordFilter>,
) -> Result<Json<Page<RecordRow>>> {
    Ok(Json(
        list_records(&state, &auth.principal, DocKind::Patrol, &filter).await?,
    ))
}

#[utoipa::path(get, path = "/v1/plans", tag = "records", params(RecordFilter),
    responses((status = 200, description = "River patrol plans with progress", body = Page<RecordRow>)),
    security(("bearer" = [])))]
pub async fn plans_handler(
    auth: Auth,
    State(state): State<AppState>,
    Query(filter): Query<RecordFilter>,
) -> Result<Json<Page<RecordRow>>> {
    Ok(Json(
        list_records(&state, &auth.principal, DocKind::PatrolPlan, &filter).await?,
    ))
}
