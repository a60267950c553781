//! The device side of `POST /v1/sync`: pushes the store's outbox, applies what the server
//! answers, and moves refused changes to quarantine.
//!
//! One [`SyncClient::sync`] call loops over round trips until nothing is left to do (at
//! most [`SyncClient::max_rounds`]); the common case is one. Each round:
//! - pushes every outbox document as `save_after(shared heads)`;
//! - acks → the acknowledged heads become the shared heads;
//! - `NeedFull` → the server's copy (if any) is merged in and its heads become the shared
//!   heads (none: the server lacks the document, so shared heads are cleared), then the
//!   document is pushed again next round;
//! - `Forbidden` → the document is rebuilt on the server's copy: the device's events,
//!   photos and field edits the server lacks are replayed if the local permission check
//!   (with the logged-in principal) allows them, and quarantined with the server's reason
//!   otherwise; the replayed ones are pushed next round. A second refusal of the same
//!   document in one call quarantines all its unshared work, so it cannot loop;
//! - updates → merged into (or create) the local document, with its listing recomputed;
//!   a partial update that leaves missing dependencies is asked whole (`want_full`) next
//!   round. The cursor is stored last, so a crash mid-way only repeats work.
//!
//! The documents to ask whole are kept in the store, written with the cursor that
//! passed them: the server takes that cursor as proof the device holds what it sent, so
//! an app stopped before the next round must still ask for them after a restart, or the
//! document would stay behind for good. Listings carry status, title and openness from the
//! fold; deadline and band are left to the SLA module's caller.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::catalogue::Catalogue;
use crate::custody::EvidenceSigner;
use crate::doc::{heads_from_hex, heads_to_hex, Doc, Event, Evidence, Snapshot};
use crate::error::{Error, Result};
use crate::roles::{all_rules, Jurisdiction, Principal, Role};
use crate::rules::validate_update;
use crate::sla::Calendar;
use crate::status::{bundled_reference, summarize};
use crate::store::{due_reference, Batch, Listing, RejectedChange, Store};
use crate::sync::wire::{
    self, heads_from_wire, heads_to_wire, DocPush, DocUpdate, Rejection, RejectionKind,
    SyncRequest, SyncResponse,
};
use crate::time::Millis;

/// Update bytes asked per page unless changed.
pub const DEFAULT_PAGE_BYTES: u32 = 1024 * 1024;
/// Documents pushed per request at most; the rest go in the next round.
const MAX_PUSHES_PER_ROUND: usize = 500;

/// What one [`SyncClient::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncReport {
    pub round_trips: u32,
    /// Request bodies, as sent (compressed).
    pub bytes_sent: u64,
    /// Response bodies, as received (compressed).
    pub bytes_received: u64,
    pub docs_pushed: u32,
    pub docs_acked: u32,
    pub docs_rejected: u32,
    pub docs_received: u32,
    /// Changes moved to quarantine.
    pub quarantined: u32,
    /// Everything was exchanged (false when the round limit stopped it first).
    pub complete: bool,
    /// The reference version received this sync, when a newer one arrived.
    pub reference_version: Option<u64>,
}

/// What `POST /v1/login` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginInfo {
    pub token: String,
    pub expires_at: Millis,
    pub user_id: String,
    pub role: Role,
    pub jurisdiction: Jurisdiction,
}

impl LoginInfo {
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id.clone(),
            role: self.role,
            jurisdiction: self.jurisdiction.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    reason: String,
}

/// Talks to one server with one bearer token.
#[derive(Debug, Clone)]
pub struct SyncClient {
    http: Client,
    base: String,
    token: String,
    /// Update bytes asked per response page.
    pub page_bytes: u32,
    /// Round trips one `sync` call makes at most.
    pub max_rounds: u32,
}

fn http_client() -> Result<Client> {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| Error::Sync(format!("http client: {e}")))
}

/// A transport failure with its whole cause chain: reqwest's own text only names the
/// URL, the reason (refused, reset, closed early) is in the sources.
pub(crate) fn net(e: reqwest::Error) -> Error {
    let mut text = format!("network: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Error::Sync(text)
}

/// A non-success answer as an error with the server's code and reason.
pub(crate) fn refusal(response: Response) -> Error {
    let status = response.status();
    let body = response.bytes().unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(e) => Error::Sync(format!("{status} {}: {}", e.error, e.reason)),
        Err(_) => Error::Sync(format!("{status}: {}", String::from_utf8_lossy(&body))),
    }
}

impl SyncClient {
    /// A client for `base_url` (`https://host:port`, no trailing path) with a token.
    pub fn new(base_url: &str, token: &str) -> Result<SyncClient> {
        Ok(SyncClient {
            http: http_client()?,
            base: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            page_bytes: DEFAULT_PAGE_BYTES,
            max_rounds: 16,
        })
    }

    /// `POST /v1/login`; the client carries the token it answers.
    pub fn login(
        base_url: &str,
        username: &str,
        password: &str,
    ) -> Result<(SyncClient, LoginInfo)> {
        let http = http_client()?;
        let base = base_url.trim_end_matches('/');
        let response = http
            .post(format!("{base}/v1/login"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .map_err(net)?;
        if !response.status().is_success() {
            return Err(refusal(response));
        }
        let info: LoginInfo = response.json().map_err(net)?;
        let client = SyncClient::new(base, &info.token)?;
        Ok((client, info))
    }

    /// `POST /v1/devices`: binds this token to the device, so its changes name it, and
    /// registers the device's evidence signing key (see [`crate::custody`]).
    pub fn register_device(&self, signer: &EvidenceSigner, name: &str) -> Result<()> {
        let response = self
            .http
            .post(self.url("/v1/devices"))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({
                "device_id": signer.device_id(),
                "name": name,
                "public_key": signer.public_key_hex(),
            }))
            .send()
            .map_err(net)?;
        if !response.status().is_success() {
            return Err(refusal(response));
        }
        Ok(())
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `POST /v1/logout`: revokes this client's token on the server.
    pub fn logout(&self) -> Result<()> {
        let response = self
            .http
            .post(self.url("/v1/logout"))
            .bearer_auth(&self.token)
            .send()
            .map_err(net)?;
        if !response.status().is_success() {
            return Err(refusal(response));
        }
        Ok(())
    }

    /// A JSON `GET` with this client's token (`/v1/reference`, `/v1/me`); `None` when
    /// the server has no such endpoint.
    pub fn get_json(&self, path: &str) -> Result<Option<serde_json::Value>> {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .map_err(net)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(refusal(response));
        }
        response.json().map(Some).map_err(net)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn http(&self) -> &Client {
        &self.http
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// One round trip: the encoded request, the decoded answer and the body sizes.
    pub fn exchange(&self, request: &SyncRequest) -> Result<(SyncResponse, usize, usize)> {
        let body = wire::encode(request)?;
        let sent = body.len();
        let response = self
            .http
            .post(self.url("/v1/sync"))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, wire::CONTENT_TYPE)
            .body(body)
            .send()
            .map_err(net)?;
        if !response.status().is_success() {
            return Err(refusal(response));
        }
        let bytes = response.bytes().map_err(net)?;
        let answer: SyncResponse = wire::decode(&bytes)?;
        if answer.version != wire::PROTOCOL_VERSION {
            return Err(Error::Sync(format!(
                "server speaks sync protocol {}, this app {}",
                answer.version,
                wire::PROTOCOL_VERSION
            )));
        }
        Ok((answer, sent, bytes.len()))
    }

    /// The next request from the store: outbox pushes, cursor, documents wanted whole.
    pub fn build_request(&self, store: &Store) -> Result<SyncRequest> {
        let mut pushes = Vec::new();
        for entry in store.outbox()?.into_iter().take(MAX_PUSHES_PER_ROUND) {
            let mut doc = store.load_doc(entry.doc_id)?;
            let shared = heads_from_hex(&entry.shared_heads)?;
            // Shared heads the document lacks (a damaged record) would make save_after
            // unreliable: send everything, the server keeps what it lacks.
            let shared = if shared
                .iter()
                .all(|h| doc.automerge().get_change_by_hash(h).is_some())
            {
                shared
            } else {
                Vec::new()
            };
            pushes.push(DocPush {
                id: entry.doc_id,
                kind: entry.kind,
                shared_heads: heads_to_wire(&shared),
                changes: doc.save_after(&shared),
            });
        }
        Ok(SyncRequest {
            version: wire::PROTOCOL_VERSION,
            device_id: store.device_id(),
            cursor: u64::try_from(store.sync_cursor()?).unwrap_or(0),
            pushes,
            want_full: store.wanted_whole()?,
            page_bytes: self.page_bytes,
            reference_version: Some(store.reference_version()?),
        })
    }

    /// Exchanges everything with the server; `now` stamps quarantine entries.
    pub fn sync(&mut self, store: &mut Store, now: Millis) -> Result<SyncReport> {
        self.sync_observed(store, now, &mut |_| true)
    }

    /// [`SyncClient::sync`], telling `observe` the report before each round trip; it
    /// stops between rounds (every applied answer is saved whole) as soon as `observe`
    /// answers false, with `complete` false. The phone's progress and cancel.
    pub fn sync_observed(
        &mut self,
        store: &mut Store,
        now: Millis,
        observe: &mut dyn FnMut(&SyncReport) -> bool,
    ) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        let mut rejected_before: HashSet<Uuid> = HashSet::new();
        for _ in 0..self.max_rounds {
            if !observe(&report) {
                return Ok(report);
            }
            let request = self.build_request(store)?;
            let (response, sent, received) = self.exchange(&request)?;
            report.round_trips += 1;
            report.bytes_sent += sent as u64;
            report.bytes_received += received as u64;
            report.docs_pushed += request.pushes.len() as u32;
            let again = self.apply(store, response, now, &mut rejected_before, &mut report)?;
            let outbox_waits = request.pushes.len() >= MAX_PUSHES_PER_ROUND;
            if !again && !outbox_waits {
                report.complete = true;
                break;
            }
        }
        Ok(report)
    }

    /// Applies one answer; true when another round is needed. The acknowledgements, the
    /// merged documents and the new cursor are written in one transaction (one commit,
    /// one fsync, instead of one per document): an answer is kept whole or not at all,
    /// and a crash before the commit only means the same answer is asked for again. Each
    /// document is merged, written into the transaction and dropped before the next: a
    /// page of thousands of documents never sits in memory parsed at once.
    pub fn apply(
        &mut self,
        store: &mut Store,
        response: SyncResponse,
        now: Millis,
        rejected_before: &mut HashSet<Uuid>,
        report: &mut SyncReport,
    ) -> Result<bool> {
        let mut again = response.more;
        for rejection in response.rejections {
            report.docs_rejected += 1;
            again = true;
            let second = !rejected_before.insert(rejection.id);
            report.quarantined += handle_rejection(store, rejection, second, now)?;
        }
        let cursor = i64::try_from(response.cursor).unwrap_or(i64::MAX);
        // A new reference re-lists the open documents in its own transaction; the cursor
        // moves only after it, so a crash in between asks for the reference again.
        let reference = response.reference.as_ref();
        let city = store.city_reference()?;
        let due_by = due_reference(city.as_deref());
        let (received, incomplete) = store.batch(|b| {
            for ack in &response.acks {
                b.record_shared(ack.id, &heads_to_hex(&heads_from_wire(&ack.heads)))?;
            }
            let (mut received, mut incomplete) = (0, Vec::new());
            for update in &response.updates {
                match merge_update(b, update, due_by)? {
                    Some(mut merged) => {
                        b.save_doc(&mut merged.doc, &merged.listing)?;
                        b.record_shared(update.id, &merged.heads)?;
                        received += 1;
                    }
                    None => incomplete.push(update.id),
                }
            }
            // Replaces what the request asked for whole: those that came are merged,
            // those the server did not send are out of reach (scope, unknown).
            b.set_wanted_whole(&incomplete)?;
            if reference.is_none() {
                b.set_sync_cursor(cursor)?;
            }
            Ok((received, incomplete))
        })?;
        report.docs_received += received;
        report.docs_acked += response.acks.len() as u32;
        if let Some(reference) = reference {
            if store.save_reference(reference)? {
                report.reference_version = Some(reference.version);
            }
            store.set_sync_cursor(cursor)?;
        }
        Ok(again || !incomplete.is_empty())
    }
}

/// A document merged with the server's update, ready to be saved with its listing.
struct MergedUpdate {
    doc: Doc,
    listing: Listing,
    heads: Vec<String>,
}

/// Merges one update into the copy in the answer's transaction (stored before, or written
/// by an earlier update of the same answer); `None` when it cannot be applied (missing
/// dependencies). `due_by`: the catalogue and calendar its listing's deadline is on.
fn merge_update(
    batch: &Batch<'_>,
    update: &DocUpdate,
    due_by: Option<(&Catalogue, &Calendar)>,
) -> Result<Option<MergedUpdate>> {
    let mut doc = match batch.load_doc_if_any(update.id)? {
        Some(doc) => doc,
        None if update.full => Doc::empty(batch.actor()),
        None => return Ok(None),
    };
    if doc.load_changes(&update.bytes).is_err() || !doc.missing_deps(&[]).is_empty() {
        return Ok(None);
    }
    // The update's heads become the shared heads: recording one the merge did not bring
    // (the server sent less than it believed this device lacked) would hide that change
    // from the device for good. Ask for the whole document instead.
    let server_heads = heads_from_wire(&update.heads);
    if !server_heads
        .iter()
        .all(|h| doc.automerge().get_change_by_hash(h).is_some())
    {
        return Ok(None);
    }
    let header = doc.header()?;
    if header.id != update.id || header.kind != update.kind {
        return Err(Error::Sync(format!(
            "update for {} carries document {} ({:?})",
            update.id, header.id, header.kind
        )));
    }
    Ok(Some(MergedUpdate {
        listing: listing_with(&doc, due_by)?,
        heads: heads_to_hex(&server_heads),
        doc,
    }))
}

/// The list projection of a document, from its fold, with deadlines on the bundled
/// catalogue and calendar (a store lists on the city's: [`Store::listing_for`]).
pub fn listing_for(doc: &Doc) -> Result<Listing> {
    listing_with(doc, bundled_reference())
}

/// The list projection of a document, deadlines on `due_by` (catalogue and calendar).
pub fn listing_with(doc: &Doc, due_by: Option<(&Catalogue, &Calendar)>) -> Result<Listing> {
    let snapshot = doc.snapshot()?;
    let updated_at = snapshot
        .events
        .iter()
        .map(|e| e.at)
        .max()
        .unwrap_or(snapshot.header.created_at);
    let title = match (
        &snapshot.header.category,
        snapshot.fields.get("description"),
    ) {
        (Some(c), Some(d)) => format!("{c} {d}"),
        (Some(c), None) => c.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => format!("{:?}", snapshot.header.kind),
    };
    let summary = summarize(&snapshot, due_by)?;
    let title = match &summary.badge {
        Some(badge) => format!("【{badge}】{title}"),
        None => title,
    };
    Ok(Listing {
        status: summary.status.status,
        title,
        deadline: summary.due.deadline,
        band: summary.due.band_name(),
        open: summary.status.open,
        updated_at,
    })
}

/// Returns how many changes went to quarantine.
fn handle_rejection(
    store: &mut Store,
    rejection: Rejection,
    second: bool,
    now: Millis,
) -> Result<u32> {
    let id = rejection.id;
    match rejection.kind {
        RejectionKind::NeedFull => {
            match rejection.server_copy {
                Some(copy) => {
                    let mut doc = store.load_doc(id)?;
                    let mut server = Doc::load(&copy, store.actor())?;
                    let server_heads = heads_to_hex(&server.heads());
                    doc.merge(&mut server)?;
                    let listing = store.listing_for(&doc)?;
                    store.batch(|b| {
                        b.save_doc(&mut doc, &listing)?;
                        b.record_shared(id, &server_heads)
                    })?;
                }
                // The server lacks the document: push it whole.
                None => store.record_shared(id, &[])?,
            }
            Ok(0)
        }
        RejectionKind::Forbidden | RejectionKind::Malformed => {
            let replay = rejection.kind == RejectionKind::Forbidden && !second;
            rebuild_on_server_copy(
                store,
                id,
                &rejection.reason,
                rejection.server_copy,
                replay,
                now,
            )
        }
    }
}

fn evidence_change(hash: &str, evidence: &Evidence) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(
        &serde_json::json!({ "evidence": hash, "entry": evidence }),
    )?)
}

/// Takes the server's copy and replays the device's unshared work on it (or quarantines
/// all of it when `replay` is false).
fn rebuild_on_server_copy(
    store: &mut Store,
    id: Uuid,
    reason: &str,
    server_copy: Option<Vec<u8>>,
    replay: bool,
    now: Millis,
) -> Result<u32> {
    let principal = store.principal()?;
    let mut local = store.load_doc(id)?;
    let local_snapshot = local.snapshot()?;
    let Some(copy) = server_copy else {
        // The server refuses the document itself: keep its work in quarantine and stop
        // offering it (it stays readable on the device).
        let mut rejected = Vec::new();
        for event in &local_snapshot.events {
            rejected.push(RejectedChange {
                change: serde_json::to_vec(event)?,
                reason: reason.to_owned(),
            });
        }
        let heads = heads_to_hex(&local.heads());
        let count = rejected.len() as u32;
        store.batch(|b| {
            for r in &rejected {
                b.quarantine(id, &r.change, &r.reason, now)?;
            }
            b.record_shared(id, &heads)
        })?;
        return Ok(count);
    };
    let mut rebuilt = Doc::load(&copy, store.actor())?;
    let server_heads = heads_to_hex(&rebuilt.heads());
    let server_snapshot = rebuilt.snapshot()?;
    let server_events: HashSet<Uuid> = server_snapshot.events.iter().map(|e| e.id).collect();
    let rules = all_rules();
    let mut rejected = Vec::new();

    let check =
        |rebuilt: &Doc, apply: &dyn Fn(&mut Snapshot)| -> Result<std::result::Result<(), String>> {
            if !replay {
                return Ok(Err("refused twice; kept aside".to_owned()));
            }
            let Some(principal) = &principal else {
                return Ok(Err("no one is logged in to check it".to_owned()));
            };
            let before = rebuilt.snapshot()?;
            let mut after = before.clone();
            apply(&mut after);
            Ok(validate_update(principal, Some(&before), &after, rules).map_err(|r| r.reason))
        };

    for event in local_snapshot
        .events
        .iter()
        .filter(|e| !server_events.contains(&e.id))
    {
        let add = |s: &mut Snapshot| {
            s.events.push(event.clone());
            s.events.sort_by(|a, b| a.fold_key().cmp(&b.fold_key()));
        };
        match check(&rebuilt, &add)? {
            Ok(()) => rebuilt.append_event(event)?,
            Err(local_reason) => rejected.push(RejectedChange {
                change: serde_json::to_vec::<Event>(event)?,
                reason: format!("{reason} ({local_reason})"),
            }),
        }
    }
    for (hash, evidence) in local_snapshot
        .evidence
        .iter()
        .filter(|(h, _)| !server_snapshot.evidence.contains_key(*h))
    {
        let add = |s: &mut Snapshot| {
            s.evidence.insert(hash.clone(), evidence.clone());
        };
        match check(&rebuilt, &add)? {
            Ok(()) => {
                rebuilt.add_evidence(hash, evidence)?;
            }
            Err(local_reason) => rejected.push(RejectedChange {
                change: evidence_change(hash, evidence)?,
                reason: format!("{reason} ({local_reason})"),
            }),
        }
    }
    for (name, value) in edited_fields(store, id, &mut local)? {
        if server_snapshot.fields.get(&name) == Some(&value) {
            continue;
        }
        let add = |s: &mut Snapshot| {
            s.fields.insert(name.clone(), value.clone());
        };
        match check(&rebuilt, &add)? {
            Ok(()) => rebuilt.set_field(&name, &value)?,
            Err(local_reason) => rejected.push(RejectedChange {
                change: serde_json::to_vec(&serde_json::json!({ "field": name, "value": value }))?,
                reason: format!("{reason} ({local_reason})"),
            }),
        }
    }
    let listing = store.listing_for(&rebuilt)?;
    let count = rejected.len() as u32;
    store.batch(|b| {
        for r in &rejected {
            b.quarantine(id, &r.change, &r.reason, now)?;
        }
        b.replace_doc(&mut rebuilt, &listing)?;
        b.record_shared(id, &server_heads)
    })?;
    Ok(count)
}

/// Fields the device edited since it last shared the document.
fn edited_fields(store: &Store, id: Uuid, local: &mut Doc) -> Result<BTreeMap<String, String>> {
    let now = local.fields()?;
    let shared = heads_from_hex(&store.shared_heads(id)?)?;
    if shared.is_empty()
        || !shared
            .iter()
            .all(|h| local.automerge().get_change_by_hash(h).is_some())
    {
        return Ok(now);
    }
    let mut then = local.automerge().fork_at(&shared)?;
    let then = Doc::load(&then.save(), store.actor())?.fields()?;
    Ok(now
        .into_iter()
        .filter(|(k, v)| then.get(k) != Some(v))
        .collect())
}
