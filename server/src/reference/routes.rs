//! `GET /v1/reference` (any person: the phone needs the cells offline) and
//! `PUT /v1/reference/{kind}` (admins: the body is the file to import).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldloop_core::reference::ReferenceKind;
use fieldloop_core::roles::Role;
use serde_json::json;

use super::{import, ImportError, Imported};
use crate::auth::Auth;
use crate::error::{Result, ServerError};
use crate::state::AppState;

/// A province's grid can be tens of thousands of polygons.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

pub async fn get_reference(
    _auth: Auth,
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>> {
    Ok(Json(super::current_json(&state).await?))
}

pub async fn put_reference(
    auth: Auth,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    body: Bytes,
) -> Result<Response> {
    auth.require_role(&[Role::Admin], "import reference data")?;
    let Some(kind) = ReferenceKind::parse(&kind) else {
        let known: Vec<&str> = ReferenceKind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(ServerError::NotFound(format!(
            "no reference kind {kind:?}; one of {}",
            known.join(", ")
        )));
    };
    match import(&state, &auth.principal, kind, &body).await {
        Ok(imported) => {
            let status = match imported {
                Imported::New { .. } => StatusCode::CREATED,
                Imported::Unchanged { .. } => StatusCode::OK,
            };
            let body = json!({
                "kind": kind.as_str(),
                "version": imported.version(),
                "changed": matches!(imported, Imported::New { .. }),
            });
            Ok((status, Json(body)).into_response())
        }
        Err(ImportError::Invalid(problems)) => {
            let actor = crate::audit_trail::Actor::person(auth.user_id(), None);
            let detail = format!("{} problems", problems.len());
            crate::audit_trail::record(
                &state,
                state.clock.now(),
                actor,
                "reference.refused",
                kind.as_str(),
                Some(detail),
            )
            .await?;
            let body = json!({
                "error": "invalid_reference",
                "reason": format!(
                    "{}文件有{}处错误，未作任何修改",
                    kind.label_zh(),
                    problems.len()
                ),
                "problems": problems,
            });
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
        }
        Err(ImportError::Server(e)) => Err(e),
    }
}
