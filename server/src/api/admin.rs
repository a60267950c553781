//! Admin pages' reads and the two writes the existing user endpoints lack: listing
//! accounts and devices, resetting a password (the person's tokens are revoked), revoking
//! a device. Creating users and changing role, jurisdiction or disabled use
//! `POST /v1/users` and `PATCH /v1/users/{username}`.

use axum::extract::State;
use axum::Json;
use fieldloop_core::roles::{Principal, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{hash_password, Auth};
use crate::error::{Result, ServerError};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::storage::accounts::{AccountRow, DeviceRow};
use crate::storage::audit::{check_chain, ChainCheck};
use crate::storage::{AuditEntry, ChainedAudit};

/// Shortest password an admin may set.
const MIN_PASSWORD: usize = 8;

fn require_admin(who: &Principal, action: &str) -> Result<()> {
    if who.role == Role::Admin {
        Ok(())
    } else {
        Err(ServerError::Forbidden(format!(
            "only an admin may {action}"
        )))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked_tokens: usize,
}

async fn audit(state: &AppState, who: &Principal, action: &str, target: &str) -> Result<()> {
    state
        .audit
        .record(AuditEntry {
            at: state.clock.now(),
            user_id: Some(who.user_id.clone()),
            device_id: None,
            action: action.to_owned(),
            target: Some(target.to_owned()),
            detail: None,
        })
        .await?;
    Ok(())
}

#[utoipa::path(get, path = "/v1/admin/users", tag = "admin",
    responses((status = 200, description = "Every account", body = Vec<AccountRow>)),
    security(("bearer" = [])))]
pub async fn users_handler(
    auth: Auth,
    State(state): State<AppState>,
) -> Result<Json<Vec<AccountRow>>> {
    require_admin(&auth.principal, "list accounts")?;
    Ok(Json(state.accounts.list_accounts().await?))
}

#[utoipa::path(post, path = "/v1/admin/users/{username}/password", tag = "admin",
    params(("username" = String, Path)), request_body = PasswordReset,
    responses((status = 204, description = "Password replaced, the person's tokens revoked"),
              (status = 404, description = "No such user", body = super::openapi::ApiError)),
    security(("bearer" = [])))]
pub async fn reset_password_handler(
    auth: Auth,
    State(state): State<AppState>,
    ApiPath(username): ApiPath<String>,
    ApiJson(reset): ApiJson<PasswordReset>,
) -> Result<axum::http::StatusCode> {
    require_admin(&auth.principal, "reset passwords")?;
    if reset.password.chars().count() < MIN_PASSWORD {
        return Err(ServerError::bad_request(
            "weak_password",
            format!("a password has at least {MIN_PASSWORD} characters"),
        ));
    }
    let user = state
        .users
        .user_by_name(&username)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("no user {username}")))?;
    let password = reset.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
    state
        .accounts
        .set_password(user.id.clone(), hash, state.clock.now())
        .await?;
    audit(&state, &auth.principal, "user.password_reset", &username).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/admin/devices", tag = "admin",
    responses((status = 200, description = "Every registered device", body = Vec<DeviceRow>)),
    security(("bearer" = [])))]
pub async fn devices_handler(
    auth: Auth,
    State(state): State<AppState>,
) -> Result<Json<Vec<DeviceRow>>> {
    require_admin(&auth.principal, "list devices")?;
    Ok(Json(state.accounts.list_devices(state.clock.now()).await?))
}

#[utoipa::path(post, path = "/v1/admin/devices/{id}/revoke", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, description = "The device's tokens are revoked", body = Revoked)),
    security(("bearer" = [])))]
pub async fn revoke_device_handler(
    auth: Auth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Revoked>> {
    require_admin(&auth.principal, "revoke devices")?;
    if state.users.device(&id).await?.is_none() {
        return Err(ServerError::NotFound(format!("no device {id}")));
    }
    let revoked_tokens = state
        .accounts
        .revoke_device(id.clone(), state.clock.now())
        .await?;
    // Its evidence signatures stop counting in verdicts from now on.
    state
        .device_keys
        .revoke_key(id.clone(), state.clock.now())
        .await?;
    audit(&state, &auth.principal, "device.revoked", &id).await?;
    Ok(Json(Revoked { revoked_tokens }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Rows with ids above this one (0: from the start).
    pub after: Option<i64>,
    /// At most this many rows (default and cap 500).
    pub limit: Option<usize>,
}

/// Rows per page of `GET /v1/admin/audit` at most.
const AUDIT_PAGE: usize = 500;

#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin",
    params(AuditQuery),
    responses((status = 200, description = "Audit rows oldest first, each with its chain hash", body = Vec<ChainedAudit>)),
    security(("bearer" = [])))]
pub async fn audit_handler(
    auth: Auth,
    State(state): State<AppState>,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<AuditQuery>,
) -> Result<Json<Vec<ChainedAudit>>> {
    require_admin(&auth.principal, "read the audit log")?;
    let limit = query.limit.unwrap_or(AUDIT_PAGE).clamp(1, AUDIT_PAGE);
    let after = query.after.unwrap_or(0);
    Ok(Json(state.audit.chain_page(after, limit).await?))
}

#[utoipa::path(get, path = "/v1/admin/audit/check", tag = "admin",
    responses((status = 200, description = "The hash chain recomputed over every row", body = ChainCheck)),
    security(("bearer" = [])))]
pub async fn audit_check_handler(
    auth: Auth,
    State(state): State<AppState>,
) -> Result<Json<ChainCheck>> {
    require_admin(&auth.principal, "check the audit log")?;
    Ok(Json(check_chain(state.audit.as_ref()).await?))
}
