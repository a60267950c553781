//! The console's case actions: 立案 (register), reject, merge, dispatch and re-dispatch,
//! extension and suspension decisions, 督办, void. The server writes each as an event on
//! the case document in the signed-in person's name, after the same validation a phone's
//! push gets (the core's permission table and the append-only rules); then the referee
//! reacts as it does to a sync (a registered case is dispatched by the matrix).

use axum::extract::State;
use axum::Json;
use fieldloop_core::case::{self, CaseEvent};
use fieldloop_core::doc::{actor_for, DocKind, Event};
use fieldloop_core::roles::{all_rules, Principal};
use fieldloop_core::rules::validate_doc_update;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::cases::{case_detail, CaseDetail, CONSOLE_ACTIONS};
use crate::auth::Auth;
use crate::error::{Result, ServerError};
use crate::extract::{ApiJson, ApiPath};
use crate::projection::change_of;
use crate::state::AppState;
use crate::storage::retry_stale;
use crate::storage::{NewChange, Origin, Seq};
use crate::sync::{after_changes_accepted, AcceptedDoc};

/// An event to write on a case: its type and its data, as the core defines them
/// (`case.dispatched` takes `{"unit": …}`, `case.rejected` takes `{"reason": …}`, …).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// The console writes with one automerge actor per person, distinct from their phones'.
pub(crate) fn console_actor(user_id: &str) -> automerge::ActorId {
    let digest = Sha256::digest(format!("fieldloop console {user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    actor_for(&Uuid::from_bytes(bytes))
}

/// Writes one event on a case in `who`'s name; the case as it is afterwards.
pub async fn act(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    request: ActionRequest,
) -> Result<CaseDetail> {
    if !CONSOLE_ACTIONS.iter().any(|(k, _)| *k == request.kind) {
        return Err(ServerError::bad_request(
            "unknown_action",
            format!("{:?} is not a console action", request.kind),
        ));
    }
    let data = if request.data.is_null() {
        serde_json::json!({})
    } else {
        request.data
    };
    // The typed event checks the data's shape before anything is written.
    let probe = Event::new(Uuid::nil(), &request.kind, 0, &who.user_id, who.role, data);
    let typed = CaseEvent::from_event(&probe)
        .map_err(|e| ServerError::bad_request("bad_action_data", e.to_string()))?;
    write_event(state, who, id, &typed).await?;
    case_detail(state, who, id).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/actions", tag = "cases",
    params(("id" = Uuid, Path, description = "Case id")),
    request_body = ActionRequest,
    responses((status = 200, description = "The case after the action", body = CaseDetail),
              (status = 403, description = "Role or jurisdiction does not allow it", body = super::openapi::ApiError),
              (status = 409, description = "Not possible in the case's current state", body = super::openapi::ApiError)),
    security(("bearer" = [])))]
pub async fn act_handler(
    auth: Auth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<ActionRequest>,
) -> Result<Json<CaseDetail>> {
    Ok(Json(act(&state, &auth.principal, id, request).await?))
}

/// Writes `typed` on case `id` in `who`'s name, validated as a phone's push would be
/// (permission table, append-only log) and refused when the lifecycle would ignore it;
/// then the referee reacts. For the console's actions and for tools acting as a person.
pub async fn write_event(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    typed: &CaseEvent,
) -> Result<()> {
    super::cases::load_visible(state, who, id).await?;
    // Decided on the latest copy, and decided again if another writer stores first.
    retry_stale(|| write_event_once(state, who, id, typed)).await
}

/// One read-decide-write of [`write_event`]: stale when the case moved on meanwhile.
async fn write_event_once(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    typed: &CaseEvent,
) -> Result<()> {
    let stored = state
        .docs
        .load_doc(id)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("no case {id}")))?;
    let mut before = stored.load(&console_actor(&who.user_id))?;
    let mut after = before.clone();
    let now = state.clock.now();
    // Never at or before the log's last event: the fold orders by time, then author,
    // so an equal time could put this event before the one it follows.
    let after_last = before
        .snapshot()?
        .events
        .iter()
        .map(|e| e.at + 1)
        .max()
        .unwrap_or(now);
    let event = typed.to_event(Uuid::now_v7(), now.max(after_last), &who.user_id, who.role)?;
    after.append_event(&event)?;
    let snapshot = validate_doc_update(who, Some(&before), &after, all_rules())
        .map_err(|rejection| ServerError::Forbidden(rejection.reason))?;
    let fold = case::fold(&snapshot);
    if let Some(ignored) = fold.ignored.iter().find(|i| i.event == event.id) {
        return Err(ServerError::conflict(
            "not_allowed_now",
            format!("{}: {}", typed.kind(), ignored.reason),
        ));
    }
    let origin = console_origin(who, now);
    let actor = crate::audit_trail::Actor::person(&who.user_id, None);
    let action = format!("console.{}", typed.kind());
    let mut audit = vec![crate::audit_trail::entry(
        now,
        actor,
        &action,
        id.to_string(),
        None,
    )];
    audit.extend(crate::corrections::audit_entries(
        (id, DocKind::Case),
        &origin,
        &[event],
    ));
    let docs = (&mut before, &mut after);
    let target = (id, DocKind::Case, stored.last_seq);
    store_console_edit(state, origin, target, &snapshot, docs, audit).await?;
    Ok(())
}

/// A change the console writes in `who`'s name at `now`: from no device.
pub(crate) fn console_origin(who: &Principal, now: fieldloop_core::time::Millis) -> Origin {
    Origin {
        user_id: who.user_id.clone(),
        device_id: None,
        arrived_at: now,
    }
}

/// Stores the console's edit of a document (`after`, made from `before` by `origin`, whose
/// fold is `snapshot`) with the audit entries of its decision, if the document is still at
/// `base` (else a stale error), then the referee reacts.
pub(crate) async fn store_console_edit(
    state: &AppState,
    origin: Origin,
    (id, kind, base): (Uuid, DocKind, Seq),
    snapshot: &fieldloop_core::doc::Snapshot,
    (before, after): (&mut fieldloop_core::doc::Doc, &mut fieldloop_core::doc::Doc),
    audit: Vec<crate::storage::AuditEntry>,
) -> Result<Seq> {
    let bytes = after.save_after(&before.heads());
    let mut change = change_of(
        (id, kind),
        snapshot,
        bytes,
        origin,
        &state.reference.current(),
    );
    change.audit = audit;
    store_and_react(state, change, base).await
}

/// Stores a change the server wrote on someone's behalf (a console action, a citizen
/// report), if the document is still at `base` (0: new; else a stale error), and lets the
/// referee react as it does after a sync.
pub(crate) async fn store_and_react(state: &AppState, change: NewChange, base: Seq) -> Result<Seq> {
    let accepted = AcceptedDoc {
        doc_id: change.doc_id,
        kind: change.kind,
        seq: 0,
        origin: change.origin.clone(),
    };
    let seq = state
        .docs
        .append_versioned(vec![(change, base)])
        .await?
        .pop()
        .ok_or_else(|| ServerError::Internal("a stored change without its sequence".into()))?;
    after_changes_accepted(state, &[AcceptedDoc { seq, ..accepted }]).await?;
    Ok(seq)
}
