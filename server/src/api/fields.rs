//! 冲突 settled from the console (issue 9 §6): two phones set the same field offline, the
//! case keeps both values, and someone allowed to edit the field picks one. The console
//! writes the very edit a phone's `resolveCaseField` writes (`Doc::resolve_field`: a put
//! that supersedes every concurrent value), validated by the same permission table a
//! phone's push meets, then the referee reacts as after a sync.

use axum::extract::State;
use axum::Json;
use fieldloop_core::doc::Snapshot;
use fieldloop_core::roles::{all_rules, Principal};
use fieldloop_core::rules::{field_edit_scope, scopes_along, validate_doc_update};
use fieldloop_core::Error as CoreError;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::actions::{console_actor, console_origin, store_console_edit};
use super::cases::{case_detail, load_visible, CaseDetail};
use crate::auth::Auth;
use crate::error::{Result, ServerError};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::storage::retry_stale;

/// The value to keep for a conflicted field.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// `description` or `address`: a field listed in the case's `field_conflicts`.
    pub field: String,
    /// One of that conflict's `values`.
    pub value: String,
}

/// Whether `who` may settle the conflicts of the case in `snapshot`: the rule
/// [`validate_doc_update`] applies to field edits (its reporter; a dispatcher whose grid
/// covers it; an admin), asked before anything is written so the console offers the
/// buttons only to them.
pub fn may_edit_fields(who: &Principal, snapshot: &Snapshot) -> bool {
    if snapshot.header.created_by == who.user_id {
        return true;
    }
    let scopes = scopes_along(snapshot);
    let scope = scopes.last().unwrap_or(&snapshot.header.scope);
    field_edit_scope(who.role).is_some_and(|check| who.jurisdiction.covers(check, scope))
}

/// Keeps `request.value` for `request.field` of case `id` in `who`'s name; the case after.
pub async fn resolve(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    request: &ResolveRequest,
) -> Result<CaseDetail> {
    load_visible(state, who, id).await?;
    retry_stale(|| resolve_once(state, who, id, request)).await?;
    case_detail(state, who, id).await
}

async fn resolve_once(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    request: &ResolveRequest,
) -> Result<()> {
    let stored = state
        .docs
        .load_doc(id)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("no case {id}")))?;
    let mut before = stored.load(&console_actor(&who.user_id))?;
    let mut after = before.clone();
    after
        .resolve_field(&request.field, &request.value)
        .map_err(|e| match e {
            CoreError::Invalid { .. } => ServerError::conflict("no_such_conflict", e.to_string()),
            other => other.into(),
        })?;
    let snapshot = validate_doc_update(who, Some(&before), &after, all_rules())
        .map_err(|rejection| ServerError::Forbidden(rejection.reason))?;
    let now = state.clock.now();
    let actor = crate::audit_trail::Actor::person(&who.user_id, None);
    let detail = format!("{} = {}", request.field, request.value);
    let audit = vec![crate::audit_trail::entry(
        now,
        actor,
        "console.field_resolved",
        id.to_string(),
        Some(detail),
    )];
    let target = (id, snapshot.header.kind, stored.last_seq);
    let docs = (&mut before, &mut after);
    store_console_edit(
        state,
        console_origin(who, now),
        target,
        &snapshot,
        docs,
        audit,
    )
    .await?;
    Ok(())
}

#[utoipa::path(post, path = "/v1/cases/{id}/fields", tag = "cases",
    params(("id" = Uuid, Path, description = "Case id")),
    request_body = ResolveRequest,
    responses((status = 200, description = "The case with the conflict settled", body = CaseDetail),
              (status = 403, description = "The caller may not edit this case's fields", body = super::openapi::ApiError),
              (status = 409, description = "The field has no such conflicting value", body = super::openapi::ApiError)),
    security(("bearer" = [])))]
pub async fn resolve_handler(
    auth: Auth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<ResolveRequest>,
) -> Result<Json<CaseDetail>> {
    Ok(Json(resolve(&state, &auth.principal, id, &request).await?))
}
