//! `POST /v1/sync`: one round trip carries a device's changes up and its scope's changes
//! down. Body and answer are [`wire::encode`]d ([`wire::CONTENT_TYPE`]); a body that does
//! not decode, or speaks another protocol version, is a 400 with the reason.
//!
//! The caller must have registered the device (`POST /v1/devices`) with the token it syncs
//! with, and the request's `device_id` must be that device: the server keeps per-device
//! state and records (user, device) beside every change it accepts.
//!
//! Per push, on the document as stored now (read through [`crate::doc_cache`]):
//! - unknown document with non-empty `shared_heads` → `NeedFull` without a copy (the
//!   device pushes it whole next time);
//! - the changes applied to a copy leave missing dependencies (or the shared heads are
//!   unknown) → `NeedFull` with the server's whole copy;
//! - `validate_doc_update_pair` refuses → `Forbidden` with the reason and the server's copy
//!   (none for a new document); nothing of the push is applied;
//! - otherwise the new changes (only those the server lacked) are stored with the next
//!   sequence number, the sender and the arrival time, the projection and `blob_refs`
//!   rewritten, all pushes of one request in one transaction; then [`after_changes_accepted`]
//!   runs. A push the server already has is simply acknowledged.
//!
//! The acknowledgement's heads are the heads the device has after its push (its shared
//! heads plus its changes), which it records as shared. They equal the server's heads
//! unless the server holds more (another device's change): that arrives as an update in
//! the same response, even when those changes are older than the device's cursor.
//! Acknowledging the server's heads instead would make the device believe it shares
//! changes it never received.
//!
//! Updates: documents in the caller's scope (jurisdiction, or created by the caller) whose
//! latest change is past the cursor, by sequence, until `page_bytes` (capped at
//! [`MAX_PAGE_BYTES`]) is reached; `more` says the page was cut and `cursor` is then the
//! last included document's sequence number, else the store's head. Per (device,
//! document) the server keeps the heads it knows the device has: confirmed ones, plus the
//! heads sent in a response, kept pending until the next request: confirmed when it
//! carries a cursor at least that response's, dropped otherwise (the response was lost,
//! and a later one reaching that cursor must not confirm what it never carried). A
//! response that leaves the cursor where it was keeps nothing pending. Known heads →
//! only the changes after them; none, or asked in `want_full` → the whole document. A
//! document whose heads the device already has is skipped. The documents past the cursor
//! are listed before any copy is read, and every copy sent is read through at least its
//! listed sequence number, so the cursor passes only what the answer carries. A refused
//! document's copy is read while judging; when the listing finds it changed since, the
//! copy is read again through the listed number.
//!
//! Repeating a request changes nothing: pushes the server has are only acknowledged,
//! pending heads are not confirmed by the same cursor, so the same answer comes back.
//!
//! No lock is held while judging: each accepted change is stored with the document's
//! sequence number it was judged on ([`crate::storage::DocStore::append_versioned`]), so when another
//! device or another server instance changed the document meanwhile, nothing of the
//! request is stored and the pushes are judged again on the fresh copy. Pushes to
//! different documents never wait for each other, and neither do referee reactions.

use std::collections::{HashMap, HashSet};

use automerge::ChangeHash;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldloop_core::doc::{actor_for, Doc, DocKind};
use fieldloop_core::roles::{all_rules, Principal};
use fieldloop_core::rules::validate_doc_update_pair;
use fieldloop_core::sync::wire::{
    self, heads_from_wire, heads_to_wire, Ack, DocPush, DocUpdate, Head, Rejection, RejectionKind,
    SyncRequest, SyncResponse,
};
use uuid::Uuid;

use crate::auth::{Auth, PERSON_ROLES};
use crate::error::{Result, ServerError};
use crate::projection::change_of;
use crate::state::AppState;
use crate::storage::{retry_stale, DeviceHeads, NewChange, Origin, Projection, Seq};

/// The most update bytes one response carries, whatever the device asks.
pub const MAX_PAGE_BYTES: u32 = 4 * 1024 * 1024;
/// Documents looked at per page at most (each costs a load).
const MAX_PAGE_DOCS: usize = 2000;
/// Pushes per request at most.
const MAX_PUSHES: usize = 5000;
/// Syncs worked on at once by default. Each one in flight holds its body, its listing and
/// its answer: 1,000 phones syncing at the same instant held about 250 KB each (a heap
/// profile of §1 at 1,000 devices; 1 GB of server RSS when each answer carried 250 cases),
/// while a 2-core server is CPU-bound far below that. A turn limit bounds that memory
/// (1,000 devices: 1,020 → 390 MB at 256 turns, 247 MB at 64), but phones answered early
/// in a burst miss the pushes still waiting and sync again (twice the round trips in that
/// benchmark at 64 or 256). 256 leaves the 50- and 200-device benchmarks untouched.
pub const DEFAULT_CONCURRENT_SYNCS: usize = 256;

/// Lets a sync in only with a turn: the others wait (FIFO) before their body is read.
pub async fn one_of_few(
    State(turns): State<std::sync::Arc<tokio::sync::Semaphore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match turns.acquire_owned().await {
        Ok(_turn) => next.run(request).await,
        // The semaphore is never closed; a closed one must still answer.
        Err(_) => ServerError::Internal("no sync turns left".into()).into_response(),
    }
}

/// The server's own automerge actor: it only reads and merges here, but a loaded document
/// needs one.
pub(crate) fn server_actor() -> automerge::ActorId {
    actor_for(&Uuid::nil())
}

/// A document whose changes were just accepted: what reactions (closure verification,
/// dispatch by the responsibility matrix, …) need to decide whether to act.
#[derive(Debug, Clone)]
pub struct AcceptedDoc {
    pub doc_id: Uuid,
    pub kind: DocKind,
    pub seq: Seq,
    pub origin: Origin,
}

/// The hook where reactions to accepted device changes run, after they are stored and
/// before the response's updates are computed, so anything a reaction writes (a verdict)
/// reaches the device in the same round trip.
pub async fn after_changes_accepted(state: &AppState, accepted: &[AcceptedDoc]) -> Result<()> {
    let ids: Vec<Uuid> = accepted.iter().map(|a| a.doc_id).collect();
    crate::referee::react(state, &ids).await?;
    Ok(())
}

/// `POST /v1/sync`.
pub async fn sync(
    auth: Auth,
    State(state): State<AppState>,
    headers: header::HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let content_type = headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
    if content_type != Some(wire::CONTENT_TYPE.as_bytes()) {
        return Err(ServerError::bad_request(
            "wrong_content_type",
            format!("a sync body is {}", wire::CONTENT_TYPE),
        ));
    }
    let request: SyncRequest = wire::decode(&body)
        .map_err(|e| ServerError::bad_request("bad_sync_body", e.to_string()))?;
    let response = handle(&state, &auth, request).await?;
    let bytes = wire::encode(&response)?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(wire::CONTENT_TYPE),
        )],
        bytes,
    )
        .into_response())
}

/// The sync exchange itself, without HTTP framing: for the endpoint, tests and benches.
pub async fn handle(state: &AppState, auth: &Auth, request: SyncRequest) -> Result<SyncResponse> {
    if request.version != wire::PROTOCOL_VERSION {
        return Err(ServerError::bad_request(
            "version_mismatch",
            format!(
                "sync protocol {} is not this server's {}; update the app",
                request.version,
                wire::PROTOCOL_VERSION
            ),
        ));
    }
    auth.require_role(PERSON_ROLES, "sync")?;
    let device = request.device_id.to_string();
    match &auth.device_id {
        Some(bound) if *bound == device => {}
        Some(bound) => {
            return Err(ServerError::bad_request(
                "device_mismatch",
                format!("this token speaks for device {bound}, not {device}"),
            ))
        }
        None => {
            return Err(ServerError::bad_request(
                "device_not_registered",
                "register the device (POST /v1/devices) before syncing",
            ))
        }
    }
    if request.pushes.len() > MAX_PUSHES {
        return Err(ServerError::bad_request(
            "too_many_pushes",
            format!(
                "{} pushes; at most {MAX_PUSHES} per request",
                request.pushes.len()
            ),
        ));
    }
    let cursor = Seq::try_from(request.cursor).unwrap_or(Seq::MAX);
    state
        .docs
        .confirm_device_heads(device.clone(), cursor)
        .await?;

    let mut response = SyncResponse {
        version: wire::PROTOCOL_VERSION,
        ..SyncResponse::default()
    };
    let pushed = apply_pushes(state, auth, &device, request.pushes, &mut response).await?;
    collect_updates(
        state,
        &auth.principal,
        &device,
        Wanted {
            cursor,
            full: &request.want_full,
            behind: &pushed.behind,
            page_bytes: request.page_bytes.min(MAX_PAGE_BYTES),
        },
        &pushed.copies_read_at,
        &mut response,
    )
    .await?;
    if let Some(held) = request.reference_version {
        response.reference = crate::reference::update_for(state, held).await?;
    }
    Ok(response)
}

enum PushOutcome {
    /// The server had the push already; `behind` holds the device's heads when the
    /// server holds changes the device lacks.
    Ack {
        ack: Ack,
        behind: Option<Vec<ChangeHash>>,
    },
    /// `base`: the document's sequence number its server copy (if any) was read at.
    Reject { rejection: Rejection, base: Seq },
    /// New changes to store; acknowledged once stored. `base` is the document's sequence
    /// number they were judged on (0: new document).
    Accept {
        change: Box<NewChange>,
        ack: Ack,
        base: Seq,
        behind: Option<Vec<ChangeHash>>,
    },
}

/// What a device asked for besides its pushes: everything in scope past `cursor`, the
/// documents it wants whole, and the pushed documents it is behind on.
struct Wanted<'a> {
    cursor: Seq,
    full: &'a [Uuid],
    behind: &'a [(Uuid, Vec<ChangeHash>)],
    page_bytes: u32,
}

fn reject(
    id: Uuid,
    kind: RejectionKind,
    reason: impl Into<String>,
    copy: Option<(&mut Doc, Seq)>,
) -> PushOutcome {
    let (server_copy, base) = match copy {
        Some((doc, base)) => (Some(doc.save_uncompressed()), base),
        None => (None, 0),
    };
    PushOutcome::Reject {
        rejection: Rejection {
            id,
            kind,
            reason: reason.into(),
            server_copy,
        },
        base,
    }
}

/// What a request's pushes leave for its answer to send.
struct Pushed {
    /// Acknowledged documents the device is behind on, with the device's heads.
    behind: Vec<(Uuid, Vec<ChangeHash>)>,
    /// Refused documents whose rejection carries the server's copy, with the sequence
    /// number that copy was read at.
    copies_read_at: HashMap<Uuid, Seq>,
}

async fn apply_pushes(
    state: &AppState,
    auth: &Auth,
    device: &str,
    pushes: Vec<DocPush>,
    response: &mut SyncResponse,
) -> Result<Pushed> {
    if pushes.is_empty() {
        return Ok(Pushed {
            behind: Vec::new(),
            copies_read_at: HashMap::new(),
        });
    }
    let origin = Origin {
        user_id: auth.principal.user_id.clone(),
        device_id: Some(device.to_owned()),
        arrived_at: state.clock.now(),
    };
    let judged = retry_stale(|| judge_and_store(state, &auth.principal, &origin, &pushes)).await?;
    response.acks.extend(judged.acks);
    crate::audit_trail::rejected_changes(state, &origin, &judged.rejections).await;
    response.rejections.extend(judged.rejections);
    if !judged.accepted.is_empty() {
        after_changes_accepted(state, &judged.accepted).await?;
    }
    crate::metrics::pushes(judged.accepted.len(), response.rejections.len());
    let known = response
        .acks
        .iter()
        .map(|ack| DeviceHeads {
            doc_id: ack.id,
            heads: ack.heads.clone(),
            pending_until: None,
        })
        .collect();
    // Acks come in push order for stored ones last; keep the answer deterministic.
    response.acks.sort_by_key(|a| a.id);
    response.rejections.sort_by_key(|r| r.id);
    state
        .docs
        .set_device_heads(device.to_owned(), known)
        .await?;
    Ok(Pushed {
        behind: judged.behind,
        copies_read_at: judged.copies_read_at,
    })
}

/// What one judging of a request's pushes decided and stored.
struct Judged {
    acks: Vec<Ack>,
    /// Acknowledged documents where the server holds changes the device lacks, with the
    /// device's heads: they are sent in the same answer whatever the cursor says.
    behind: Vec<(Uuid, Vec<ChangeHash>)>,
    rejections: Vec<Rejection>,
    /// Refused documents whose rejection carries the server's copy, with the sequence
    /// number that copy was read at.
    copies_read_at: HashMap<Uuid, Seq>,
    accepted: Vec<AcceptedDoc>,
}

/// Judges every push on the stored copies and stores the accepted changes in one
/// versioned transaction; fails with a stale error (and stores nothing) when one of the
/// documents changed since it was loaded.
async fn judge_and_store(
    state: &AppState,
    principal: &Principal,
    origin: &Origin,
    pushes: &[DocPush],
) -> Result<Judged> {
    let mut seen = HashSet::new();
    let mut judged = Judged {
        acks: Vec::new(),
        behind: Vec::new(),
        rejections: Vec::new(),
        copies_read_at: HashMap::new(),
        accepted: Vec::new(),
    };
    let mut to_store = Vec::new();
    let mut acks_after_store = Vec::new();
    for push in pushes {
        let outcome = if !seen.insert(push.id) {
            reject(
                push.id,
                RejectionKind::Malformed,
                "the document is pushed twice in one request",
                None,
            )
        } else {
            judge_push(state, principal, origin, push).await?
        };
        match outcome {
            PushOutcome::Ack { ack, behind } => {
                judged.behind.extend(behind.map(|heads| (ack.id, heads)));
                judged.acks.push(ack);
            }
            PushOutcome::Reject { rejection, base } => {
                if rejection.server_copy.is_some() {
                    judged.copies_read_at.insert(rejection.id, base);
                }
                judged.rejections.push(rejection);
            }
            PushOutcome::Accept {
                change,
                ack,
                base,
                behind,
            } => {
                judged.behind.extend(behind.map(|heads| (ack.id, heads)));
                to_store.push((*change, base));
                acks_after_store.push(ack);
            }
        }
    }
    if to_store.is_empty() {
        return Ok(judged);
    }
    let stored: Vec<(Uuid, DocKind)> = to_store.iter().map(|(c, _)| (c.doc_id, c.kind)).collect();
    let seqs = state.docs.append_versioned(to_store).await?;
    judged.accepted = stored
        .into_iter()
        .zip(seqs)
        .map(|((doc_id, kind), seq)| AcceptedDoc {
            doc_id,
            kind,
            seq,
            origin: origin.clone(),
        })
        .collect();
    judged.acks.extend(acks_after_store);
    Ok(judged)
}

/// Decides one push without writing anything.
async fn judge_push(
    state: &AppState,
    principal: &Principal,
    origin: &Origin,
    push: &DocPush,
) -> Result<PushOutcome> {
    let id = push.id;
    let actor = server_actor();
    let loaded = state.doc_cache.load(&*state.docs, id, &actor).await?;
    let base = loaded.as_ref().map_or(0, |l| l.last_seq);
    let mut before = match loaded {
        Some(stored) => {
            if stored.kind != push.kind {
                return Ok(reject(
                    id,
                    RejectionKind::Malformed,
                    format!(
                        "document {id} is a {:?}, not a {:?}",
                        stored.kind, push.kind
                    ),
                    None,
                ));
            }
            if !may_see(state, principal, origin, id).await? {
                return Ok(reject(
                    id,
                    RejectionKind::Forbidden,
                    format!(
                        "document {id} is outside {}'s jurisdiction",
                        principal.user_id
                    ),
                    None,
                ));
            }
            Some(stored.doc)
        }
        None if !push.shared_heads.is_empty() => {
            return Ok(reject(
                id,
                RejectionKind::NeedFull,
                "the server does not have this document: send it whole",
                None,
            ))
        }
        None => None,
    };
    let mut after = match &mut before {
        Some(doc) => doc.clone(),
        None => Doc::empty(&actor),
    };
    if let Err(e) = after.load_pushed_changes(&push.changes) {
        return Ok(reject(
            id,
            RejectionKind::Malformed,
            format!("the changes do not load: {e}"),
            before.as_mut().map(|doc| (doc, base)),
        ));
    }
    let shared = heads_from_wire(&push.shared_heads);
    let missing = after.missing_deps(&shared);
    if !missing.is_empty() {
        return Ok(reject(
            id,
            RejectionKind::NeedFull,
            format!(
                "{} change(s) the push builds on are unknown to the server: merge its copy and push again",
                missing.len()
            ),
            before.as_mut().map(|doc| (doc, base)),
        ));
    }
    match after.header() {
        Ok(h) if h.id == id && h.kind == push.kind => {}
        Ok(h) => {
            return Ok(reject(
                id,
                RejectionKind::Malformed,
                format!(
                    "the header names {} ({:?}), the push {id} ({:?})",
                    h.id, h.kind, push.kind
                ),
                before.as_mut().map(|doc| (doc, base)),
            ))
        }
        Err(e) => {
            return Ok(reject(
                id,
                RejectionKind::Malformed,
                format!("no readable header: {e}"),
                before.as_mut().map(|doc| (doc, base)),
            ))
        }
    }
    let device_heads =
        device_heads_after_push(before.as_mut(), &mut after, &shared, &push.changes)?;
    let ack = Ack {
        id,
        heads: heads_to_wire(&device_heads),
    };
    let before_heads = before.as_mut().map(|d| d.heads()).unwrap_or_default();
    let after_heads = after.heads();
    // Every device head is in `after`, so the device has all of it exactly when each
    // of its heads is one of the device's (a server head is nobody's ancestor there).
    let behind = (!after_heads.iter().all(|h| device_heads.contains(h))).then_some(device_heads);
    if before.is_some() && after_heads == before_heads {
        return Ok(PushOutcome::Ack { ack, behind });
    }
    let (before_snapshot, snapshot) =
        match validate_doc_update_pair(principal, before.as_ref(), &after, all_rules()) {
            Ok(pair) => (pair.before, pair.after),
            Err(rejection) => {
                return Ok(reject(
                    id,
                    RejectionKind::Forbidden,
                    rejection.reason,
                    before.as_mut().map(|doc| (doc, base)),
                ))
            }
        };
    if let Err(reason) = crate::intake::check_new_content(
        before_snapshot.as_ref(),
        &snapshot,
        origin.arrived_at,
        &state.reference.current(),
    ) {
        return Ok(reject(
            id,
            RejectionKind::Malformed,
            reason,
            before.as_mut().map(|doc| (doc, base)),
        ));
    }
    let known: HashSet<Uuid> = before_snapshot
        .as_ref()
        .map(|b| b.events.iter().map(|e| e.id).collect())
        .unwrap_or_default();
    let new_events: Vec<_> = snapshot
        .events
        .iter()
        .filter(|e| !known.contains(&e.id))
        .cloned()
        .collect();
    let mut change = change_of(
        (id, push.kind),
        &snapshot,
        // Only what the server lacked: a push may repeat changes it already has.
        after.save_after(&before_heads),
        origin.clone(),
        &state.reference.current(),
    );
    change.audit = crate::corrections::audit_entries((id, push.kind), origin, &new_events);
    Ok(PushOutcome::Accept {
        change: Box::new(change),
        ack,
        base,
        behind,
    })
}

/// The device's heads after its push: its shared heads plus its changes, which may be
/// fewer than the server's when the server holds others' changes. Read off the pushed
/// changes' headers ([`crate::push_heads`]) when they are plain new changes; otherwise by
/// applying the push to a fork of the document at the shared heads.
fn device_heads_after_push(
    before: Option<&mut Doc>,
    after: &mut Doc,
    shared: &[ChangeHash],
    changes: &[u8],
) -> Result<Vec<ChangeHash>> {
    let server = before.map(|doc| doc.automerge().document());
    let from_headers = crate::push_heads::pushed_changes(changes).and_then(|pushed| {
        crate::push_heads::heads_after_push(shared, &pushed, |h| {
            server.is_some_and(|s| s.get_change_meta_by_hash(h).is_some())
        })
    });
    if let Some(heads) = from_headers {
        return Ok(heads);
    }
    let mut device = if shared.is_empty() {
        automerge::AutoCommit::new()
    } else {
        after
            .automerge()
            .fork_at(shared)
            .map_err(fieldloop_core::Error::from)?
    };
    fieldloop_core::doc::decoding("pushed changes", || Ok(device.load_incremental(changes)?))?;
    Ok(device.get_heads())
}

/// Whether the sender may be shown the server's copy of an existing document: it is in
/// their scope now, or the server has sent it to this device before (a case returned
/// from the handler's unit stays readable to the handler's pending work). Without this, a
/// push naming any id with made-up heads would fetch any document.
async fn may_see(
    state: &AppState,
    principal: &Principal,
    origin: &Origin,
    id: Uuid,
) -> Result<bool> {
    if let Some(projection) = state.docs.projection(id).await? {
        if in_scope(principal, &projection) {
            return Ok(true);
        }
    }
    let Some(device) = origin.device_id.clone() else {
        return Ok(false);
    };
    let known = state.docs.device_heads(device, vec![id]).await?;
    Ok(known.iter().any(|(_, heads)| !heads.is_empty()))
}

/// What a device that holds `known` lacks of `doc`: the changes after `known`, or the
/// whole document when `known` is empty or unknown here; `None` when the device has
/// everything.
fn update_after(id: Uuid, kind: DocKind, doc: &mut Doc, known: &[ChangeHash]) -> Option<DocUpdate> {
    let server_heads = doc.heads();
    if !known.is_empty() && server_heads.iter().all(|h| known.contains(h)) {
        return None;
    }
    let usable = !known.is_empty()
        && known.iter().all(|h| {
            doc.automerge()
                .document()
                .get_change_meta_by_hash(h)
                .is_some()
        });
    let (full, bytes) = if usable {
        (false, doc.save_after(known))
    } else {
        (true, doc.save_uncompressed())
    };
    Some(DocUpdate {
        id,
        kind,
        full,
        bytes,
        heads: heads_to_wire(&server_heads),
    })
}

/// Puts `update` in the answer and remembers its heads as sent (pending for the device).
fn send(
    update: DocUpdate,
    total: &mut usize,
    sent: &mut Vec<(Uuid, Vec<Head>)>,
    response: &mut SyncResponse,
) {
    *total += update.bytes.len();
    sent.push((update.id, update.heads.clone()));
    response.updates.push(update);
}

pub(crate) fn in_scope(principal: &Principal, projection: &Projection) -> bool {
    let j = &principal.jurisdiction;
    if j.everywhere {
        return true;
    }
    let f = &projection.fields;
    let created = f.json.get("created_by").and_then(|v| v.as_str()) == Some(&principal.user_id);
    let has = |list: &[String], value: &Option<String>| {
        value.as_ref().is_some_and(|v| list.iter().any(|x| x == v))
    };
    created
        || f.grid_cell
            .as_ref()
            .is_some_and(|cell| j.grid_prefixes.iter().any(|p| cell.starts_with(p.as_str())))
        || has(&j.units, &f.unit)
        || has(&j.projects, &f.project)
        || has(&j.segments, &f.segment)
}

/// Reads again, through its listed sequence number, the copy of each refused document
/// that changed after the copy was read while judging: the cursor passes the listed
/// number and the device takes the copy as the server's document (with nothing to push,
/// it would never be sent the change in between).
async fn refresh_refused_copies(
    state: &AppState,
    listed: &HashMap<Uuid, Seq>,
    copies_read_at: &HashMap<Uuid, Seq>,
    rejections: &mut [Rejection],
) -> Result<()> {
    for rejection in rejections {
        let (Some(&read_at), Some(&listed_at)) =
            (copies_read_at.get(&rejection.id), listed.get(&rejection.id))
        else {
            continue;
        };
        if listed_at <= read_at {
            continue;
        }
        let fresh = state
            .doc_cache
            .read(&*state.docs, rejection.id, Some(listed_at), |doc, _| {
                doc.save_uncompressed()
            })
            .await?;
        if let Some(copy) = fresh {
            rejection.server_copy = Some(copy);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn collect_updates(
    state: &AppState,
    principal: &Principal,
    device: &str,
    wanted: Wanted<'_>,
    copies_read_at: &HashMap<Uuid, Seq>,
    response: &mut SyncResponse,
) -> Result<()> {
    let Wanted {
        cursor,
        full: want_full,
        behind,
        page_bytes,
    } = wanted;
    let page_bytes = page_bytes as usize;
    let head = state.docs.head_seq().await?;
    // Read before any document is: the cursor passes each listed document's sequence
    // number, so every copy this answer sends must be read through at least that number
    // (a change stored between a copy's read and this list would otherwise be passed
    // without being sent, and never sent again).
    let changed = state
        .docs
        .changed_for_sync(
            cursor,
            principal.jurisdiction.clone(),
            principal.user_id.clone(),
            MAX_PAGE_DOCS,
        )
        .await?;
    let listed: HashMap<Uuid, Seq> = changed.iter().map(|e| (e.doc_id, e.seq)).collect();
    refresh_refused_copies(state, &listed, copies_read_at, &mut response.rejections).await?;
    let mut total = 0usize;
    let mut sent = Vec::new();
    // A refused document travels as its rejection's copy, never as an update too.
    let mut done: HashSet<Uuid> = response.rejections.iter().map(|r| r.id).collect();

    // Documents asked for whole come first, whatever their sequence number, if in scope.
    for &id in want_full.iter().take(MAX_PAGE_DOCS) {
        if !done.insert(id) {
            continue;
        }
        let Some(projection) = state.docs.projection(id).await? else {
            continue;
        };
        if !in_scope(principal, &projection) {
            continue;
        }
        let whole = state
            .doc_cache
            .read(&*state.docs, id, Some(projection.seq), |doc, kind| {
                update_after(id, kind, doc, &[])
            })
            .await?;
        if let Some(update) = whole.flatten() {
            send(update, &mut total, &mut sent, response);
        }
    }

    // Pushed documents the device is behind on: their changes may be older than its
    // cursor (it pushed on stale shared heads), so the cursor alone would never send them.
    for (id, device_heads) in behind {
        if !done.insert(*id) {
            continue;
        }
        let update = state
            .doc_cache
            .read(&*state.docs, *id, listed.get(id).copied(), |doc, kind| {
                update_after(*id, kind, doc, device_heads)
            })
            .await?;
        if let Some(update) = update.flatten() {
            send(update, &mut total, &mut sent, response);
        }
    }

    let known: HashMap<Uuid, Vec<Head>> = state
        .docs
        .device_heads(
            device.to_owned(),
            changed.iter().map(|e| e.doc_id).collect(),
        )
        .await?
        .into_iter()
        .collect();
    let mut last_included = cursor;
    let mut cut = false;
    for entry in &changed {
        let id = entry.doc_id;
        if done.contains(&id) {
            last_included = entry.seq;
            continue;
        }
        let known_heads = heads_from_wire(known.get(&id).map(Vec::as_slice).unwrap_or(&[]));
        let update = state
            .doc_cache
            .read(&*state.docs, id, Some(entry.seq), |doc, kind| {
                update_after(id, kind, doc, &known_heads)
            })
            .await?;
        let Some(update) = update.flatten() else {
            last_included = entry.seq;
            continue;
        };
        if total + update.bytes.len() > page_bytes && !response.updates.is_empty() {
            cut = true;
            break;
        }
        send(update, &mut total, &mut sent, response);
        last_included = entry.seq;
    }
    let more = cut || changed.len() >= MAX_PAGE_DOCS;
    response.more = more;
    let next = if more {
        last_included
    } else {
        head.max(last_included)
    };
    response.cursor = u64::try_from(next.max(cursor)).unwrap_or(0);

    let pending_until = Seq::try_from(response.cursor).unwrap_or(Seq::MAX);
    // A device's next cursor confirms what this answer sent only if the cursor moved:
    // an answer that leaves it where it was (nothing new but documents asked for) could
    // be lost and its cursor still come back, so its heads are not kept even as pending.
    if pending_until <= cursor {
        return Ok(());
    }
    let entries = sent
        .into_iter()
        .map(|(doc_id, heads)| DeviceHeads {
            doc_id,
            heads,
            pending_until: Some(pending_until),
        })
        .collect();
    state
        .docs
        .set_device_heads(device.to_owned(), entries)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use axum::body::Body;
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    /// However many syncs arrive at once, at most the turns given are worked on together.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn syncs_beyond_the_turns_wait_for_one() {
        let working = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let handler = {
            let (working, most) = (working.clone(), most.clone());
            move || async move {
                let now = working.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                working.fetch_sub(1, Ordering::SeqCst);
                StatusCode::OK
            }
        };
        let turns = Arc::new(tokio::sync::Semaphore::new(3));
        let app = Router::new().route(
            "/v1/sync",
            post(handler).layer(axum::middleware::from_fn_with_state(turns, one_of_few)),
        );
        let calls = (0..24).map(|_| {
            let request = axum::http::Request::post("/v1/sync")
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(request)
        });
        for answer in futures_util::future::join_all(calls).await {
            assert_eq!(answer.unwrap().status(), StatusCode::OK);
        }
        let most = most.load(Ordering::SeqCst);
        assert!((2..=3).contains(&most), "{most} syncs worked on at once");
    }
}
