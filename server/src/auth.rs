//! Who is calling: argon2id passwords, revocable bearer tokens stored only as their
//! SHA-256, device registration, and the [`Auth`] extractor every protected handler takes.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::time::Millis;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Result, ServerError};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::storage::{AuditEntry, DeviceRecord, Registration, TokenRecord, UserRecord};
use crate::throttle::{self, ClientAddr};

/// Every role a person can hold. `Role::Server` is the server itself, never a login.
pub const PERSON_ROLES: &[Role] = &[
    Role::Inspector,
    Role::Dispatcher,
    Role::Handler,
    Role::Supervisor,
    Role::Contractor,
    Role::RiverChief,
    Role::Admin,
];

const MAX_USERNAME: usize = 100;
/// Bounds argon2's work per request, whatever a client sends.
const MAX_PASSWORD: usize = 1024;
const MIN_PASSWORD: usize = 8;

/// argon2id with the crate's defaults (19 MiB, 2 passes), as a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| ServerError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ServerError::Internal(format!("password hash: {e}")))
}

/// False for a wrong password and for a stored hash that does not parse.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so a wrong username takes as
/// long as a wrong password and does not reveal which usernames exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password").unwrap_or_default())
}

/// A fresh bearer token: 256 random bits, hex.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("flt_{}", hex::encode(bytes))
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The caller of a protected endpoint, resolved from `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct Auth {
    pub principal: Principal,
    /// The device the token was bound to by `POST /v1/devices`, if any.
    pub device_id: Option<String>,
    pub token_hash: [u8; 32],
}

impl Auth {
    pub fn user_id(&self) -> &str {
        &self.principal.user_id
    }

    pub fn role(&self) -> Role {
        self.principal.role
    }

    /// Admins (and anyone holding a citywide jurisdiction) see everything.
    pub fn sees_everything(&self) -> bool {
        self.principal.role == Role::Admin || self.principal.jurisdiction.everywhere
    }

    /// Refuses with a reason naming the action when the caller's role is not listed.
    pub fn require_role(&self, allowed: &[Role], action: &str) -> Result<()> {
        if allowed.contains(&self.principal.role) {
            Ok(())
        } else {
            Err(ServerError::Forbidden(format!(
                "a {} may not {action}",
                self.principal.role
            )))
        }
    }
}

fn bearer(parts: &Parts) -> Result<&str> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ServerError::unauthorized("missing_token", "send Authorization: Bearer <token>")
    })?;
    let text = value
        .to_str()
        .map_err(|_| ServerError::unauthorized("bad_token", "authorization header is not text"))?;
    let (scheme, token) = text.split_once(' ').ok_or_else(|| {
        ServerError::unauthorized("bad_token", "authorization header is not 'Bearer <token>'")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ServerError::unauthorized(
            "bad_token",
            "authorization header is not 'Bearer <token>'",
        ));
    }
    Ok(token.trim())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let hash = token_hash(bearer(parts)?);
        let Some((token, user)) = state.auth.token_owner(hash).await? else {
            return Err(ServerError::unauthorized(
                "unknown_token",
                "token not recognised; log in again",
            ));
        };
        if token.revoked_at.is_some() {
            return Err(ServerError::unauthorized(
                "revoked_token",
                "token was revoked (logged out); log in again",
            ));
        }
        if token.expires_at <= state.clock.now() {
            return Err(ServerError::unauthorized(
                "expired_token",
                "token expired; log in again",
            ));
        }
        if user.disabled {
            return Err(ServerError::unauthorized(
                "account_disabled",
                "this account is disabled",
            ));
        }
        Ok(Auth {
            principal: user.principal(),
            device_id: token.device_id,
            token_hash: hash,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Users

/// A user to create, with the password in clear (hashed before it is stored).
#[derive(Debug, Clone, Deserialize)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: Role,
    #[serde(default)]
    pub jurisdiction: Jurisdiction,
}

fn check_username(username: &str) -> Result<()> {
    let ok = !username.is_empty()
        && username.len() <= MAX_USERNAME
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ServerError::bad_request(
            "bad_username",
            format!("a username is 1 to {MAX_USERNAME} letters, digits or . _ - @"),
        ))
    }
}

/// Creates a user (hashing the password off the async runtime). For seeding, tools and
/// the admin endpoint.
pub async fn create_user(state: &AppState, new: NewUser) -> Result<UserRecord> {
    check_username(&new.username)?;
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&new.password.chars().count()) {
        return Err(ServerError::bad_request(
            "weak_password",
            format!("a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        ));
    }
    if !PERSON_ROLES.contains(&new.role) {
        return Err(ServerError::bad_request(
            "bad_role",
            "the server role is not given to people",
        ));
    }
    let password = new.password;
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
    let user = UserRecord {
        id: Uuid::now_v7().to_string(),
        username: new.username,
        password_hash,
        role: new.role,
        jurisdiction: new.jurisdiction,
        created_at: state.clock.now(),
        disabled: false,
    };
    state.users.create_user(user.clone()).await?;
    Ok(user)
}

#[derive(Debug, Serialize)]
struct UserView {
    id: String,
    username: String,
    role: Role,
    jurisdiction: Jurisdiction,
    disabled: bool,
}

impl From<&UserRecord> for UserView {
    fn from(user: &UserRecord) -> Self {
        UserView {
            id: user.id.clone(),
            username: user.username.clone(),
            role: user.role,
            jurisdiction: user.jurisdiction.clone(),
            disabled: user.disabled,
        }
    }
}

/// Body of `PATCH /v1/users/{username}`: what changes; absent fields stay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub role: Option<Role>,
    pub jurisdiction: Option<Jurisdiction>,
    pub disabled: Option<bool>,
}

/// `PATCH /v1/users/{username}` (admins only): staff move between posts and leave, so a
/// role, a jurisdiction or the account itself changes. It takes effect on the person's
/// next request; what they wrote before stays judged by the role they held then.
pub async fn update_user_handler(
    auth: Auth,
    State(state): State<AppState>,
    ApiPath(username): ApiPath<String>,
    ApiJson(update): ApiJson<UserUpdate>,
) -> Result<Response> {
    auth.require_role(&[Role::Admin], "change users")?;
    let mut user = state
        .users
        .user_by_name(&username)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("user {username}")))?;
    if update.role.is_none() && update.jurisdiction.is_none() && update.disabled.is_none() {
        return Err(ServerError::bad_request(
            "nothing_to_change",
            "give at least one of role, jurisdiction, disabled",
        ));
    }
    if update.role == Some(Role::Server) {
        return Err(ServerError::bad_request(
            "bad_role",
            "the server role is not given to people",
        ));
    }
    let demotes_self =
        update.role.is_some_and(|r| r != Role::Admin) || update.disabled == Some(true);
    if user.id == auth.principal.user_id && demotes_self {
        return Err(ServerError::conflict(
            "own_account",
            "an admin cannot demote or disable their own account; another admin can",
        ));
    }
    let before = UserView::from(&user);
    user.role = update.role.unwrap_or(user.role);
    user.jurisdiction = update.jurisdiction.unwrap_or(user.jurisdiction);
    user.disabled = update.disabled.unwrap_or(user.disabled);
    if !state.users.update_user(user.clone()).await? {
        return Err(ServerError::NotFound(format!("user {username}")));
    }
    let after = UserView::from(&user);
    audit(
        &state,
        &auth,
        "user.updated",
        Some(user.id.clone()),
        Some(format!(
            "{}: {:?} {:?} disabled={} -> {:?} {:?} disabled={}",
            user.username,
            before.role,
            before.jurisdiction,
            before.disabled,
            after.role,
            after.jurisdiction,
            after.disabled
        )),
    )
    .await?;
    Ok(Json(after).into_response())
}

/// `POST /v1/users` (admins only).
pub async fn create_user_handler(
    auth: Auth,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<Response> {
    auth.require_role(&[Role::Admin], "create users")?;
    let user = create_user(&state, new).await?;
    audit(
        &state,
        &auth,
        "user.created",
        Some(user.id.clone()),
        Some(user.username.clone()),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))).into_response())
}

async fn audit(
    state: &AppState,
    auth: &Auth,
    action: &str,
    target: Option<String>,
    detail: Option<String>,
) -> Result<()> {
    state
        .audit
        .record(AuditEntry {
            at: state.clock.now(),
            user_id: Some(auth.principal.user_id.clone()),
            device_id: auth.device_id.clone(),
            action: action.to_owned(),
            target,
            detail,
        })
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Login, logout, me

#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub token_type: String,
    pub expires_at: Millis,
    pub user_id: String,
    pub role: Role,
    pub jurisdiction: Jurisdiction,
}

fn bad_credentials() -> ServerError {
    ServerError::unauthorized("bad_credentials", "unknown user or wrong password")
}

/// `POST /v1/login`.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>> {
    if request.username.len() > MAX_USERNAME || request.password.len() > MAX_PASSWORD {
        return Err(bad_credentials());
    }
    let now = state.clock.now();
    throttle::check(&state, &request.username, address, now).await?;
    let user = state.users.user_by_name(&request.username).await?;
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_owned());
    let password = request.password;
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored)).await?;
    let user = match user {
        Some(user) if matches => user,
        _ => {
            throttle::failed(&state, &request.username, address, now).await?;
            state
                .audit
                .record(AuditEntry {
                    at: now,
                    user_id: user.map(|u| u.id),
                    device_id: None,
                    action: "login.failed".into(),
                    target: Some(request.username),
                    detail: address.map(|a| format!("from {a}")),
                })
                .await?;
            return Err(bad_credentials());
        }
    };
    throttle::succeeded(&state, &request.username).await?;
    if user.disabled {
        return Err(ServerError::unauthorized(
            "account_disabled",
            "this account is disabled",
        ));
    }
    let token = new_token();
    let expires_at = now.saturating_add(state.config.token_ttl);
    state
        .auth
        .insert_token(TokenRecord {
            hash: token_hash(&token),
            user_id: user.id.clone(),
            device_id: None,
            created_at: now,
            expires_at,
            revoked_at: None,
        })
        .await?;
    state
        .audit
        .record(AuditEntry {
            at: now,
            user_id: Some(user.id.clone()),
            device_id: None,
            action: "login".into(),
            target: None,
            detail: None,
        })
        .await?;
    Ok(Json(LoginResponse {
        token,
        token_type: "Bearer".into(),
        expires_at,
        user_id: user.id,
        role: user.role,
        jurisdiction: user.jurisdiction,
    }))
}

/// `POST /v1/logout`: revokes the token it is called with.
pub async fn logout(auth: Auth, State(state): State<AppState>) -> Result<StatusCode> {
    auth.require_role(PERSON_ROLES, "log out")?;
    state
        .auth
        .revoke_token(auth.token_hash, state.clock.now())
        .await?;
    audit(&state, &auth, "logout", None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
struct MeView {
    #[serde(flatten)]
    principal: Principal,
    device_id: Option<String>,
}

/// `GET /v1/me`: the principal the token resolves to.
pub async fn me(auth: Auth) -> Result<Response> {
    auth.require_role(PERSON_ROLES, "read their profile")?;
    Ok(Json(MeView {
        principal: auth.principal,
        device_id: auth.device_id,
    })
    .into_response())
}

// ---------------------------------------------------------------------------------------
// Devices

#[derive(Debug, Deserialize)]
pub struct DeviceRequest {
    pub device_id: String,
    pub name: String,
    /// The device's ed25519 evidence signing key, 64 hex digits. Optional for phones
    /// built before evidence was signed; their evidence then fails the signature check.
    #[serde(default)]
    pub public_key: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceResponse {
    pub device_id: String,
    pub user_id: String,
    pub name: String,
}

fn check_device(request: &DeviceRequest) -> Result<()> {
    let id_ok = !request.device_id.is_empty()
        && request.device_id.len() <= 128
        && request
            .device_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !id_ok {
        return Err(ServerError::bad_request(
            "bad_device_id",
            "a device id is 1 to 128 characters: ASCII letters, digits, - _ . :",
        ));
    }
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ServerError::bad_request(
            "bad_device_name",
            "a device name is 1 to 200 characters",
        ));
    }
    Ok(())
}

/// `POST /v1/devices`: binds a device to the caller and the caller's token to the device,
/// so every change sent with this token records (user, device). Repeating it is harmless.
pub async fn register_device(
    auth: Auth,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<DeviceRequest>,
) -> Result<Response> {
    auth.require_role(PERSON_ROLES, "register a device")?;
    check_device(&request)?;
    // A token speaks for one device: rebinding it would let one login sign for two phones.
    if let Some(bound) = auth
        .device_id
        .as_deref()
        .filter(|b| *b != request.device_id)
    {
        return Err(ServerError::conflict(
            "token_bound",
            format!("this login already speaks for device {bound}; log in on the other device"),
        ));
    }
    let device = DeviceRecord {
        id: request.device_id.clone(),
        user_id: auth.principal.user_id.clone(),
        name: request.name.trim().to_owned(),
        registered_at: state.clock.now(),
    };
    let public_key = request
        .public_key
        .as_deref()
        .map(crate::device_keys::parse)
        .transpose()?;
    let outcome = state.users.register_device(device.clone()).await?;
    if let Some(key) = public_key {
        state
            .device_keys
            .register_key(device.id.clone(), key, device.registered_at)
            .await?;
    }
    state
        .auth
        .bind_token_device(auth.token_hash, &device.id)
        .await?;
    let status = match outcome {
        Registration::Created => {
            audit(
                &state,
                &auth,
                "device.registered",
                Some(device.id.clone()),
                Some(device.name.clone()),
            )
            .await?;
            StatusCode::CREATED
        }
        Registration::Existing => StatusCode::OK,
    };
    Ok((
        status,
        Json(DeviceResponse {
            device_id: device.id,
            user_id: device.user_id,
            name: device.name,
        }),
    )
        .into_response())
}
