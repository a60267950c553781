//! The referee (裁判员): everything the server writes on its own authority.
//!
//! - After a device's change is accepted ([`react`], called from the sync hook): a case
//!   just registered is dispatched by the responsibility matrix; a case whose verification
//!   was submitted is judged (verdict + closed, or verdict + rework); a notice whose items
//!   are all confirmed is judged; an ended patrol gets its verdict.
//! - When a photo finishes uploading ([`photo_arrived`]): the documents that were waiting
//!   for it are judged again — a verdict waits for its evidence.
//! - On a timer ([`tick`], run by [`spawn_scheduler`]): deadline warnings (预警), overdue
//!   (超期) and escalation (督办) events, written when due and never twice; and each river
//!   chief's patrol plan for the month ([`issue_plans`]), issued once and updated when a
//!   segment's warning level changes. A valid river patrol marks its plan task done.
//!
//! The rules themselves live in `fieldloop_core::{verify, schedule}` and are the very ones
//! the phone runs; this module gathers their inputs from storage and writes their events as
//! the server's own changes. Each write is versioned on the document's last sequence
//! number and, when another writer (a device, another instance's referee) got there first,
//! decided again on the fresh copy ([`retry_stale`]): a verdict or a 超期 is written once
//! however many writers race, and no lock holds up an unrelated push.

use std::collections::BTreeMap;

use automerge::ChangeHash;
use fieldloop_core::case::{self, CaseEvent, CaseStatus};
use fieldloop_core::doc::{actor_for, Doc, DocKind, Event, Snapshot};
use fieldloop_core::doc::{DocScope, Header, SCHEMA_VERSION};
use fieldloop_core::media::{inspect_photo, PhotoLimits};
use fieldloop_core::patrol::{self, PatrolEvent, PatrolKind, PatrolState, PatrolStatus};
use fieldloop_core::plan::{fold_plan, PlanPeriod};
use fieldloop_core::roles::{Principal, Role};
use fieldloop_core::schedule::{auto_dispatch, due_deadline_events};
use fieldloop_core::schedule::{
    plan_event_at, plans_due, task_done_event, task_done_for, ChiefAssignment,
};
use fieldloop_core::time::Millis;
use fieldloop_core::verify::{
    case_verdict_events, verify_case, verify_patrol, Arrivals, CaseVerification, CustodyFacts,
    OtherEvidence, Outcome, PatrolTarget, ReuseIndex, UploadedPhoto,
};
use futures_util::StreamExt;
use uuid::Uuid;

use crate::error::Result;
use crate::projection::change_of;
use crate::state::AppState;
use crate::storage::{retry_stale, BlobHash, BlobState, Origin, Projection, Seq, StoredDoc};

/// The user id the server writes its events under.
pub const SERVER_USER: &str = "server";

/// Documents read per page of a scan (deadline tick, reuse candidates): the scans go on
/// page after page, never stopping at a count.
const SCAN_PAGE: usize = 1000;
/// Open cases whose deadlines one tick checks at once.
const DEADLINE_CHECKS_AT_ONCE: usize = 8;

/// The server's automerge actor for its own changes: stable, so its changes to one
/// document form one sequence.
pub(crate) fn writer_actor() -> automerge::ActorId {
    actor_for(&Uuid::from_u128(0x6669_656c_646c_6f6f_7073_6572_7665_7231))
}

/// Reference data the referee judges against; owned by the reference service.
pub use crate::reference::Reference;

/// What one pass wrote, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub documents: usize,
    pub events: usize,
    /// Documents whose reaction or deadline check failed (logged, counted, retried).
    pub failed: usize,
}

impl std::ops::Add for Written {
    type Output = Written;
    fn add(mut self, other: Written) -> Written {
        self += other;
        self
    }
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, other: Written) {
        self.documents += other.documents;
        self.events += other.events;
        self.failed += other.failed;
    }
}

/// Reactions to accepted device changes, each document on its own (a failure is logged,
/// counted and retried by the scheduler: see [`crate::judging`]).
pub async fn react(state: &AppState, docs: &[Uuid]) -> Result<Written> {
    Ok(crate::judging::react_each(state, docs).await)
}

/// A photo finished uploading: judge again what was waiting for it.
pub async fn photo_arrived(state: &AppState, hash: &BlobHash) -> Result<Written> {
    let waiting: Vec<Uuid> = state
        .blob_index
        .referencing_docs(hash)
        .await?
        .into_iter()
        .map(|p| p.doc_id)
        .collect();
    if waiting.is_empty() {
        return Ok(Written::default());
    }
    react(state, &waiting).await
}

pub(crate) async fn react_one(state: &AppState, id: Uuid) -> Result<Written> {
    let Some(loaded) = state
        .doc_cache
        .load(&*state.docs, id, &writer_actor())
        .await?
    else {
        return Ok(Written::default());
    };
    let target = (loaded.id, loaded.kind, loaded.last_seq);
    let mut doc = loaded.doc;
    let snapshot = doc.snapshot()?;
    let now = state.clock.now();
    let stamp = stamp_after(&snapshot, now);
    let reference = &state.reference.current();
    let events: Vec<Event> =
        match snapshot.header.kind {
            DocKind::Case => {
                let case_state = case::fold(&snapshot);
                let mut typed = Vec::new();
                // A possible duplicate waits for the dispatcher instead of being dispatched.
                if let Some(suggested) =
                    crate::duplicates::suggestion(state, &snapshot, &case_state).await?
                {
                    typed.push(suggested);
                } else if let Some(cell) = snapshot.header.scope.grid_cell.as_deref() {
                    typed.extend(auto_dispatch(&case_state, cell, &reference.matrix));
                }
                if case_state.status == CaseStatus::VerificationSubmitted {
                    if let Some(verdict) = judge_case(state, target, &snapshot, now).await? {
                        typed.extend(case_verdict_events(verdict));
                    }
                }
                typed
                    .iter()
                    .map(|e| e.to_event(Uuid::now_v7(), stamp, SERVER_USER, Role::Server))
                    .collect::<fieldloop_core::Result<_>>()?
            }
            DocKind::Notice => crate::notices::judge(state, &snapshot, now).await?.events(
                [Uuid::now_v7(), Uuid::now_v7()],
                stamp,
                SERVER_USER,
            )?,
            DocKind::Patrol => {
                let patrol_state = patrol::fold(&snapshot);
                if patrol_state.status != PatrolStatus::Ended || patrol_state.verdict.is_some() {
                    Vec::new()
                } else {
                    let segment_id = snapshot.header.scope.segment.as_deref();
                    let segment = segment_id.and_then(|s| reference.segments.get(s));
                    let requirement = match segment_id {
                        Some(id) => {
                            crate::patrol_rules::requirement_for(state, &patrol_state, id).await?
                        }
                        None => reference.patrol_requirement,
                    };
                    let target = match (patrol_state.kind, segment) {
                        (Some(PatrolKind::River), Some(line)) => Some(PatrolTarget::River {
                            segment: line,
                            requirement: &requirement,
                        }),
                        (Some(PatrolKind::Grid), _) => Some(PatrolTarget::Grid {
                            limits: &reference.plausibility,
                        }),
                        // A river patrol on a segment the server does not know cannot count:
                        // the chief is told so rather than left waiting.
                        (Some(PatrolKind::River), None) => Some(PatrolTarget::UnknownSegment {
                            segment: snapshot.header.scope.segment.as_deref(),
                        }),
                        (None, _) => None,
                    };
                    match target {
                        Some(target) => {
                            vec![PatrolEvent::Verdict(verify_patrol(&patrol_state, target)?)
                                .to_event(Uuid::now_v7(), stamp, SERVER_USER, Role::Server)?]
                        }
                        None => Vec::new(),
                    }
                }
            }
            DocKind::SiteInspection | DocKind::PatrolPlan => Vec::new(),
        };
    let written = write_events(state, &mut doc, target, events, now).await?;
    if written.events > 0 && snapshot.header.kind == DocKind::Patrol {
        let judged = patrol::fold(&doc.snapshot()?);
        let marked = retry_stale(|| mark_plan_task(state, id, &judged, now)).await?;
        return Ok(written + marked);
    }
    Ok(written)
}

/// The time the server's events carry: now, but never before the last event of the log.
/// The fold orders events by time, so a verdict stamped before the verification it judges
/// (a phone clock running ahead of the server's) would land out of order and be ignored.
/// How far a phone's clock may run ahead is the verification's clock check, not this.
pub(crate) fn stamp_after(snapshot: &Snapshot, now: Millis) -> Millis {
    snapshot
        .events
        .iter()
        .map(|e| e.at)
        .max()
        .map_or(now, |last| last.max(now))
}

/// Appends the server's events to a document and stores them as one change.
pub(crate) async fn write_events(
    state: &AppState,
    doc: &mut Doc,
    target: (Uuid, DocKind, Seq),
    events: Vec<Event>,
    now: Millis,
) -> Result<Written> {
    let since = doc.heads();
    append_server_events(state, doc, target, &since, events, now).await
}

/// Appends `events` to `doc` and stores, in the server's name, every change after `since`
/// (empty for a document the server has just created), if the stored document is still
/// at `base` (0: absent); else a stale error, for the caller to decide again.
async fn append_server_events(
    state: &AppState,
    doc: &mut Doc,
    (id, kind, base): (Uuid, DocKind, Seq),
    since: &[ChangeHash],
    events: Vec<Event>,
    now: Millis,
) -> Result<Written> {
    if events.is_empty() {
        return Ok(Written::default());
    }
    for event in &events {
        doc.append_event(event)?;
    }
    let snapshot = doc.snapshot()?;
    let origin = Origin {
        user_id: SERVER_USER.to_owned(),
        device_id: None,
        arrived_at: now,
    };
    let bytes = doc.save_after(since);
    let mut change = change_of(
        (id, kind),
        &snapshot,
        bytes,
        origin,
        &state.reference.current(),
    );
    change.audit = crate::audit_trail::verdict_entries(id, &events, now);
    state.docs.append_versioned(vec![(change, base)]).await?;
    crate::metrics::verdicts_written(&events);
    tracing::info!(doc = %id, events = ?events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), "referee wrote");
    Ok(Written {
        documents: 1,
        events: events.len(),
        failed: 0,
    })
}

/// Runs the closure checks on a case; `None` while photos are still on their way.
async fn judge_case(
    state: &AppState,
    (id, _, judged_at): (Uuid, DocKind, Seq),
    snapshot: &Snapshot,
    now: Millis,
) -> Result<Option<case::Verdict>> {
    let reference = &state.reference.current();
    let (uploads, custody) = uploads_and_custody(state, snapshot).await?;
    // Arrival times need every change with its origin, which only the whole stored
    // document has. One that moved on since `snapshot` is judged again: the verdict's
    // write is checked against `judged_at`.
    let stored = state
        .docs
        .load_doc(id)
        .await?
        .ok_or_else(|| crate::error::ServerError::NotFound(format!("document {id}")))?;
    if stored.last_seq != judged_at {
        return Err(crate::storage::StoreError::Stale(id).into());
    }
    let arrivals = arrivals_of(state, &stored).await?;
    let reuse = reuse_index(state, snapshot).await?;
    let people = people_of(state, snapshot).await?;
    let input = CaseVerification {
        snapshot,
        catalogue: &reference.catalogue,
        calendar: &reference.calendar,
        uploads: &uploads,
        arrivals: &arrivals,
        reuse: &reuse,
        people: Some(&people),
        policy: &reference.verify_policy,
        now,
        grid: reference.grid.as_ref(),
        custody: Some(&custody),
    };
    match verify_case(&input)? {
        Outcome::Judged { verdict } => Ok(Some(verdict)),
        Outcome::Waiting { missing } => {
            tracing::info!(doc = %id, ?missing, "verdict waits for photos");
            Ok(None)
        }
    }
}

/// What the server holds of each photo a document references: absent ones are missing.
pub(crate) async fn uploads_for(
    state: &AppState,
    snapshot: &Snapshot,
) -> Result<BTreeMap<String, UploadedPhoto>> {
    let mut uploads = BTreeMap::new();
    for (hash, evidence) in &snapshot.evidence {
        if let Some(never) = state.judging.never_arriving(hash, &evidence.by) {
            uploads.insert(hash.clone(), never);
            continue;
        }
        if let Some(phash) = photo_phash(state, hash).await? {
            uploads.insert(
                hash.clone(),
                UploadedPhoto {
                    // The blob store verified the SHA-256 against the address on arrival.
                    hash_matches: true,
                    decodable: phash.is_some(),
                    phash,
                },
            );
        }
    }
    Ok(uploads)
}

/// The photos as a verdict judges them: what arrived, and the custody facts (registered
/// keys, the files re-hashed as held now). A file changed at rest after its verified
/// arrival no longer matches its address.
pub(crate) async fn uploads_and_custody(
    state: &AppState,
    snapshot: &Snapshot,
) -> Result<(BTreeMap<String, UploadedPhoto>, CustodyFacts)> {
    let mut uploads = uploads_for(state, snapshot).await?;
    let custody = crate::device_keys::custody_facts(state, snapshot).await?;
    for (hash, held) in &custody.stored_sha256 {
        if let Some(upload) = uploads.get_mut(hash) {
            upload.hash_matches = held == hash;
        }
    }
    Ok((uploads, custody))
}

/// `None`: not (completely) uploaded. `Some(None)`: stored but not decodable.
async fn photo_phash(state: &AppState, hash: &str) -> Result<Option<Option<u64>>> {
    let Ok(address) = BlobHash::parse(hash) else {
        return Ok(None);
    };
    if !matches!(state.blobs.state(&address).await?, BlobState::Complete(_)) {
        return Ok(None);
    }
    if let Some(phash) = state
        .blob_index
        .blob_meta(&address)
        .await?
        .and_then(|m| m.phash)
    {
        return Ok(Some(Some(phash)));
    }
    computed_phash(state, &address).await.map(Some)
}

/// Decodes a stored photo recorded without its perceptual hash (stored before the hash
/// was kept) and keeps the hash for next time.
async fn computed_phash(state: &AppState, address: &BlobHash) -> Result<Option<u64>> {
    let Some(bytes) = state.blobs.read(address).await? else {
        return Ok(None);
    };
    let phash = tokio::task::spawn_blocking(move || {
        inspect_photo(&bytes, &PhotoLimits::default(), 320)
            .ok()
            .map(|p| p.phash)
    })
    .await
    .map_err(|e| crate::error::ServerError::Internal(format!("photo inspection: {e}")))?;
    if let Some(phash) = phash {
        state.blob_index.record_phash(address, phash).await?;
    }
    Ok(phash)
}

/// When each event and evidence entry reached the server: replay the stored changes in
/// order and note what each one added. What a compaction folded together counts as
/// arriving with the last change it holds (the later time, which only loosens the check
/// against a backdated clock for old history).
async fn arrivals_of(state: &AppState, stored: &StoredDoc) -> Result<Arrivals> {
    let origins: BTreeMap<_, _> = state.docs.origins(stored.id).await?.into_iter().collect();
    let actor = writer_actor();
    let mut arrivals = Arrivals::default();
    let mut doc = if stored.compacted.is_empty() {
        Doc::empty(&actor)
    } else {
        let doc = Doc::load(&stored.compacted, &actor)?;
        if let Some(origin) = origins.get(&stored.compacted_through) {
            note_new(&doc, origin.arrived_at, &mut arrivals)?;
        }
        doc
    };
    for change in &stored.changes {
        doc.load_changes(&change.bytes)?;
        note_new(&doc, change.origin.arrived_at, &mut arrivals)?;
    }
    Ok(arrivals)
}

fn note_new(doc: &Doc, at: Millis, arrivals: &mut Arrivals) -> Result<()> {
    // A document without its header yet (changes still missing) has nothing to note.
    let Ok(snapshot) = doc.snapshot() else {
        return Ok(());
    };
    for event in snapshot.events {
        arrivals.events.entry(event.id).or_insert(at);
    }
    for hash in snapshot.evidence.into_keys() {
        arrivals.evidence.entry(hash).or_insert(at);
    }
    Ok(())
}

/// Other cases' evidence: which cases use the same photo, and the perceptual hashes of
/// the photos of cases in the same street (where a reused photo would come from).
async fn reuse_index(state: &AppState, snapshot: &Snapshot) -> Result<ReuseIndex> {
    let own = snapshot.header.id;
    let mut index = ReuseIndex::default();
    for hash in snapshot.evidence.keys() {
        let Ok(address) = BlobHash::parse(hash) else {
            continue;
        };
        let others: Vec<Uuid> = state
            .blob_index
            .referencing_docs(&address)
            .await?
            .into_iter()
            .filter(|p| p.doc_id != own && p.kind == DocKind::Case)
            .map(|p| p.doc_id)
            .collect();
        if !others.is_empty() {
            index.cases_by_hash.insert(hash.clone(), others);
        }
    }
    let street: Option<String> = snapshot
        .header
        .scope
        .grid_cell
        .as_ref()
        .map(|cell| cell.chars().take(9).collect());
    let Some(street) = street else {
        return Ok(index);
    };
    let mut after = None;
    loop {
        let nearby = state
            .blob_index
            .case_evidence_near(&street, own, after.take(), SCAN_PAGE)
            .await?;
        let Some(last) = nearby.last() else {
            break;
        };
        after = Some((last.case_id, last.hash.clone()));
        for evidence in nearby {
            let phash = match evidence.phash {
                Some(phash) => Some(phash),
                None => match BlobHash::parse(&evidence.hash) {
                    Ok(address) => computed_phash(state, &address).await?,
                    Err(_) => None,
                },
            };
            if let Some(phash) = phash {
                index.phashes.push(OtherEvidence {
                    case_id: evidence.case_id,
                    hash: evidence.hash,
                    phash,
                });
            }
        }
    }
    Ok(index)
}

/// The people who wrote the case's events, as the server knows them now.
async fn people_of(state: &AppState, snapshot: &Snapshot) -> Result<BTreeMap<String, Principal>> {
    let mut people = BTreeMap::new();
    for event in &snapshot.events {
        if event.role == Role::Server || people.contains_key(&event.by) {
            continue;
        }
        if let Some(user) = state.users.user_by_id(&event.by).await? {
            people.insert(event.by.clone(), user.principal());
        }
    }
    Ok(people)
}

/// Writes the deadline events due at `now` for every open case, issues the month's plans
/// and retries the reactions that failed. A failure on one document is logged, counted
/// (`failed`) and tried again next tick; it never stops the others.
pub async fn tick(state: &AppState, now: Millis) -> Result<Written> {
    let mut written = Written::default();
    match month_of(now) {
        Ok(month) => match issue_plans(state, &month, now).await {
            Ok(w) => written += w,
            Err(e) => {
                state.judging.failed(None, "issuing the plans", &e);
                written.failed += 1;
            }
        },
        Err(e) => state.judging.failed(None, "the plans' month", &e.into()),
    }
    written += deadline_events(state, now).await?;
    written += crate::notices::warnings(state, now).await?;
    written += crate::judging::retry_failed(state).await;
    Ok(written)
}

async fn deadline_events(state: &AppState, now: Millis) -> Result<Written> {
    let mut written = Written::default();
    let mut after = None;
    loop {
        // Only cases a unit holds: a page of the (kind, status) index, by document id.
        let page = state
            .docs
            .with_status(DocKind::Case, with_unit_statuses(), after, SCAN_PAGE)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.doc_id);
        // Cases are independent: a few at once, so a remote database's round trips
        // overlap instead of adding up over ten thousand open cases.
        let due: Vec<Uuid> = page
            .iter()
            .filter(|p| may_cross_a_threshold(p))
            .map(|p| p.doc_id)
            .collect();
        let mut checks = futures_util::stream::iter(due)
            .map(|id| check_deadlines(state, id, now))
            .buffer_unordered(DEADLINE_CHECKS_AT_ONCE);
        while let Some((id, checked)) = checks.next().await {
            match checked {
                Ok(w) => written += w,
                Err(e) => {
                    state
                        .judging
                        .failed(None, &format!("deadline check of {id}"), &e);
                    written.failed += 1;
                }
            }
        }
    }
    Ok(written)
}

/// One case's deadline check, decided again while another writer moves it on.
async fn check_deadlines(state: &AppState, id: Uuid, now: Millis) -> (Uuid, Result<Written>) {
    (
        id,
        retry_stale(|| case_deadline_events(state, id, now)).await,
    )
}

/// The statuses in which a case's clock runs (`CaseStatus::is_with_unit`), as stored.
fn with_unit_statuses() -> Vec<String> {
    crate::projection::status_names(&[
        CaseStatus::Dispatched,
        CaseStatus::Accepted,
        CaseStatus::Rework,
    ])
}

/// The deadline events due on one case; the next tick looks at it again whatever happens.
async fn case_deadline_events(state: &AppState, id: Uuid, now: Millis) -> Result<Written> {
    let reference = &state.reference.current();
    let Some(loaded) = state
        .doc_cache
        .load(&*state.docs, id, &writer_actor())
        .await?
    else {
        return Ok(Written::default());
    };
    let target = (loaded.id, loaded.kind, loaded.last_seq);
    let mut doc = loaded.doc;
    let snapshot = doc.snapshot()?;
    let case_state = case::fold(&snapshot);
    let due = match due_deadline_events(
        &case_state,
        &snapshot.events,
        &reference.catalogue,
        &reference.calendar,
        &reference.deadline_policy,
        now,
    ) {
        Ok(due) => due,
        Err(e) => {
            // A case the rules cannot time (unknown category) has no deadline events;
            // its verdict says why.
            tracing::warn!(doc = %id, error = %e, "no deadline for case");
            return Ok(Written::default());
        }
    };
    let stamp = stamp_after(&snapshot, now);
    let events = due
        .iter()
        .map(|e: &CaseEvent| e.to_event(Uuid::now_v7(), stamp, SERVER_USER, Role::Server))
        .collect::<fieldloop_core::Result<Vec<_>>>()?;
    write_events(state, &mut doc, target, events, now).await
}

/// Whether a case's projection leaves a deadline event to write: its clock runs only
/// while a unit has it, and after 督办 nothing further is due. Saves loading every case
/// of the city each minute.
fn may_cross_a_threshold(projection: &Projection) -> bool {
    let with_unit = projection
        .fields
        .status
        .as_deref()
        .and_then(|s| serde_json::from_value::<case::CaseStatus>(serde_json::json!(s)).ok())
        .is_some_and(case::CaseStatus::is_with_unit);
    with_unit && projection.fields.band.as_deref() != Some("escalated")
}

/// The calendar month (China time) an instant falls in: the plans' period.
pub fn month_of(at: Millis) -> fieldloop_core::Result<PlanPeriod> {
    use chrono::Datelike;
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    let local = chrono::DateTime::from_timestamp_millis(at)
        .ok_or_else(|| fieldloop_core::Error::invalid("time", format!("{at} ms is out of range")))?
        .with_timezone(&china);
    PlanPeriod::month(local.year(), local.month())
}

/// A chief's plan document for a period has a fixed id, so issuing twice finds it.
fn plan_doc_id(chief: &str, period: &PlanPeriod) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("plan|{chief}|{}", period.first_day).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Issues (or updates) every river chief's plan for `period`. Chiefs unknown to the user store are skipped with a warning.
pub async fn issue_plans(state: &AppState, period: &PlanPeriod, now: Millis) -> Result<Written> {
    let reference = &state.reference.current();
    if reference.chiefs.is_empty() {
        return Ok(Written::default());
    }
    let mut chiefs = Vec::with_capacity(reference.chiefs.len());
    for assignment in &reference.chiefs {
        match state.users.user_by_name(&assignment.chief).await? {
            Some(user) => chiefs.push(ChiefAssignment {
                chief: user.id,
                segments: assignment.segments.clone(),
            }),
            None => tracing::warn!(chief = %assignment.chief, "plan for an unknown chief skipped"),
        }
    }
    let plans = plans_due(
        period,
        &chiefs,
        &reference.river_segments,
        &reference.frequency,
    )?;
    let mut written = Written::default();
    for plan in plans {
        written += retry_stale(|| issue_plan(state, period, plan.clone(), now)).await?;
    }
    Ok(written)
}

/// Issues or updates one chief's plan document.
async fn issue_plan(
    state: &AppState,
    period: &PlanPeriod,
    plan: fieldloop_core::plan::Plan,
    now: Millis,
) -> Result<Written> {
    let id = plan_doc_id(&plan.chief, period);
    let first_segment = plan.tasks.first().map(|t| t.segment.id.clone());
    let (mut doc, stored_kind) = match state
        .doc_cache
        .load(&*state.docs, id, &writer_actor())
        .await?
    {
        Some(loaded) => (loaded.doc, Some((loaded.id, loaded.kind, loaded.last_seq))),
        None => {
            let header = Header {
                id,
                kind: DocKind::PatrolPlan,
                schema: SCHEMA_VERSION,
                created_by: SERVER_USER.to_owned(),
                created_role: Role::Server,
                created_at: now,
                position: None,
                category: Some(format!("{}..{}", period.first_day, period.last_day)),
                scope: DocScope {
                    segment: first_segment,
                    ..DocScope::default()
                },
            };
            (Doc::create(&header, &writer_actor())?, None)
        }
    };
    let existing = match &stored_kind {
        Some(_) => Some(fold_plan(&doc.snapshot()?)?),
        None => None,
    };
    let Some(change) = plan_event_at(existing.as_ref(), plan, now) else {
        return Ok(Written::default());
    };
    let event = change.to_event(Uuid::now_v7(), now, SERVER_USER)?;
    match stored_kind {
        Some(target) => write_events(state, &mut doc, target, vec![event], now).await,
        None => {
            let target = (id, DocKind::PatrolPlan, 0);
            append_server_events(state, &mut doc, target, &[], vec![event], now).await
        }
    }
}

/// Brings `period`'s plans to the current reference at once (after an import changed
/// the rivers).
pub async fn replan(state: &AppState, period: &PlanPeriod, now: Millis) -> Result<Written> {
    issue_plans(state, period, now).await
}

/// A valid river patrol completes its task in the chief's plan for the month it started.
async fn mark_plan_task(
    state: &AppState,
    patrol_id: Uuid,
    patrol: &PatrolState,
    now: Millis,
) -> Result<Written> {
    let (Some(chief), Some(started)) = (patrol.patroller.as_deref(), patrol.started_at) else {
        return Ok(Written::default());
    };
    let plan_id = plan_doc_id(chief, &month_of(started)?);
    let Some(loaded) = state
        .doc_cache
        .load(&*state.docs, plan_id, &writer_actor())
        .await?
    else {
        return Ok(Written::default());
    };
    let target = (loaded.id, loaded.kind, loaded.last_seq);
    let mut doc = loaded.doc;
    let plan = fold_plan(&doc.snapshot()?)?;
    let Some(done) = task_done_for(&plan, patrol_id, patrol) else {
        return Ok(Written::default());
    };
    let event = task_done_event(&done, Uuid::now_v7(), now, SERVER_USER)?;
    write_events(state, &mut doc, target, vec![event], now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ProjectionFields;

    fn case_with(status: &str, band: Option<&str>) -> Projection {
        Projection {
            doc_id: Uuid::nil(),
            kind: DocKind::Case,
            fields: ProjectionFields {
                status: Some(status.into()),
                band: band.map(Into::into),
                ..ProjectionFields::default()
            },
            seq: 1,
        }
    }

    #[test]
    fn only_cases_a_unit_holds_short_of_escalation_are_loaded_by_the_deadline_scan() {
        for status in ["dispatched", "accepted", "rework"] {
            assert!(
                may_cross_a_threshold(&case_with(status, Some("red"))),
                "{status}"
            );
        }
        assert!(!may_cross_a_threshold(&case_with(
            "accepted",
            Some("escalated")
        )));
        for status in [
            "reported",
            "registered",
            "handled",
            "verification_submitted",
            "closed",
        ] {
            assert!(!may_cross_a_threshold(&case_with(status, None)), "{status}");
        }
        assert!(!may_cross_a_threshold(&case_with("no-such-status", None)));
    }
}
