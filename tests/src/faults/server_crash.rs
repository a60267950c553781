//! The phones of the server crash harness (issue 12 §1, server part): two inspectors, a
//! dispatcher and two handlers, each on its own thread, working cases through their whole
//! lifecycle against a `fieldloop-server serve` child that is SIGKILLed under them, and
//! the checks run on the killed server's storage.
//!
//! The child runs on the wall clock (there is no clock option on `serve`), so the cases are
//! dated in the past, as from phones that were offline for weeks: reported, registered and
//! dispatched 30 days ago. The server's scheduler (every second) then owes each of them a
//! 预警 and a 超期 at once; a handler handles a case only after its copy shows the 超期,
//! so every case that moves on went through a tick, and the inspectors' verifications
//! make the referee write verdicts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fieldloop_core::case::events::{Handled, Reason, VerificationSubmitted};
use fieldloop_core::case::{fold, kinds, CaseDoc, CaseEvent, CaseState, CaseStatus, NewCase};
use fieldloop_core::doc::{heads_from_hex, heads_to_hex, Evidence, EvidenceStage, Position};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::store::{NewPhoto, Store};
use fieldloop_core::sync::client::{listing_for, SyncClient};
use fieldloop_core::sync::upload::upload_pending;
use fieldloop_core::time::{Millis, DAY, MINUTE};
use fieldloop_server::auth::{create_user, NewUser};
use fieldloop_server::AppState;
use uuid::Uuid;

use super::server_process::Deployment;
use super::{photos, quick_retry, Post};
use crate::{password_of, COMMUNITY, GRID, POSITION, STREET, UNIT};

/// How far back the phones date a case's report, registration and dispatch: past any
/// category's limit and escalation threshold, holidays included.
const BACKDATED: Millis = 30 * DAY;
/// Open cases an inspector keeps at most before reporting another.
const OPEN_CASES: usize = 6;

const POSTS: [(Post, &str); 5] = [
    (Post::Inspector, "insp-0"),
    (Post::Inspector, "insp-1"),
    (Post::Dispatcher, "disp-2"),
    (Post::Handler, "hand-3"),
    (Post::Handler, "hand-4"),
];

fn wall_clock() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as Millis
}

/// One phone of the crew.
pub struct CrewPhone {
    pub post: Post,
    pub store: Store,
    pub token: String,
    pub principal: Principal,
    /// Syncs (with their upload run) that completed, and those a kill or a dead server cut.
    pub syncs: usize,
    pub cut: usize,
    pub moves: usize,
    _dir: tempfile::TempDir,
}

/// Cases reported so far, with the position each was reported at (each its own spot, so
/// none is suggested as another's duplicate).
#[derive(Default)]
pub struct Ledger {
    cases: Mutex<Vec<(Uuid, Position)>>,
    next_photo: AtomicUsize,
}

impl Ledger {
    fn cases(&self) -> Vec<(Uuid, Position)> {
        self.cases.lock().expect("ledger").clone()
    }

    pub fn ids(&self) -> BTreeSet<Uuid> {
        self.cases().into_iter().map(|(id, _)| id).collect()
    }

    fn position_of(&self, id: Uuid) -> Position {
        self.cases()
            .into_iter()
            .find(|(case, _)| *case == id)
            .map(|(_, p)| p)
            .unwrap_or(POSITION)
    }

    fn photo(&self) -> photos::Photo {
        photos::photo(self.next_photo.fetch_add(1, Ordering::SeqCst)).clone()
    }
}

pub struct Crew {
    pub phones: Vec<CrewPhone>,
    pub ledger: Ledger,
}

/// The crew's people, created straight in the deployment's storage before its first start.
pub fn create_people(deployment: &Deployment, rt: &tokio::runtime::Runtime) {
    let state = deployment.open_state(rt);
    for (post, name) in POSTS {
        let (role, jurisdiction) = match post {
            Post::Inspector => (Role::Inspector, prefixes(COMMUNITY)),
            Post::Dispatcher => (Role::Dispatcher, prefixes(STREET)),
            Post::Handler => (
                Role::Handler,
                Jurisdiction {
                    units: vec![UNIT.into()],
                    ..Jurisdiction::default()
                },
            ),
        };
        rt.block_on(create_user(
            &state,
            NewUser {
                username: name.into(),
                password: password_of(name),
                role,
                jurisdiction,
            },
        ))
        .expect("create user");
    }
}

fn prefixes(prefix: &str) -> Jurisdiction {
    Jurisdiction {
        grid_prefixes: vec![prefix.into()],
        ..Jurisdiction::default()
    }
}

impl Crew {
    /// Every phone logs in to the running server at `base` and registers its device.
    pub fn log_in(base: &str) -> Crew {
        let phones = POSTS
            .iter()
            .map(|&(post, name)| {
                let dir = tempfile::tempdir().expect("temp dir");
                let mut store = Store::open(dir.path().join("phone.sqlite3")).expect("store");
                let (client, info) =
                    SyncClient::login(base, name, &password_of(name)).expect("login");
                let principal = info.principal();
                store.set_principal(Some(&principal)).expect("principal");
                client
                    .register_device(store.evidence_signer(), &format!("{name}'s phone"))
                    .expect("device registers");
                CrewPhone {
                    post,
                    store,
                    token: info.token,
                    principal,
                    syncs: 0,
                    cut: 0,
                    moves: 0,
                    _dir: dir,
                }
            })
            .collect();
        Crew {
            phones,
            ledger: Ledger::default(),
        }
    }

    /// Every phone works and syncs on its own thread until `stop` is set.
    pub fn work(&mut self, base: &str, stop: &AtomicBool) {
        let ledger = &self.ledger;
        std::thread::scope(|scope| {
            for phone in &mut self.phones {
                scope.spawn(move || phone.work(base, ledger, stop));
            }
        });
    }

    /// Every phone syncs and uploads, pass after pass, until two passes a scheduler round
    /// apart move nothing (or `limit` passes). Returns the passes, or the phones' errors.
    pub fn settle(&mut self, base: &str, limit: Duration) -> Result<usize, String> {
        let started = Instant::now();
        let mut quiet = 0;
        let mut passes = 0;
        while started.elapsed() < limit {
            passes += 1;
            let mut moved = false;
            let mut errors = Vec::new();
            for phone in &mut self.phones {
                match phone.sync_once(base) {
                    Ok(m) => moved |= m,
                    Err(e) => errors.push(format!("{}: {e}", phone.principal.user_id)),
                }
            }
            quiet = if moved || !errors.is_empty() {
                0
            } else {
                quiet + 1
            };
            if quiet >= 2 {
                return Ok(passes);
            }
            if quiet == 1 {
                std::thread::sleep(Duration::from_millis(1200));
            }
            if !errors.is_empty() && started.elapsed() >= limit {
                return Err(errors.join("\n"));
            }
        }
        Err(format!("not quiet after {passes} passes in {limit:?}"))
    }

    /// After a settle: every phone pushed everything, and every phone that holds a case
    /// holds the same heads of it.
    pub fn converged(&self) -> Result<(), Divergence> {
        let mut heads: BTreeMap<Uuid, (usize, Vec<String>)> = BTreeMap::new();
        for (n, phone) in self.phones.iter().enumerate() {
            let who = &phone.principal.user_id;
            if !phone.store.outbox().map_err(|e| e.to_string())?.is_empty() {
                return Err(format!("{who}: outbox not empty after settling").into());
            }
            if !phone
                .store
                .pending_uploads(10)
                .map_err(|e| e.to_string())?
                .is_empty()
            {
                return Err(format!("{who}: photos still to upload after settling").into());
            }
            for id in self.ledger.ids() {
                if !phone.store.contains_doc(id).map_err(|e| e.to_string())? {
                    if matches!(phone.post, Post::Dispatcher) {
                        return Err(format!("{who} lacks case {id}").into());
                    }
                    continue;
                }
                let mut doc = phone.store.load_doc(id).map_err(|e| e.to_string())?;
                let mut mine = heads_to_hex(&doc.heads());
                mine.sort();
                match heads.get(&id) {
                    Some((other, theirs)) if *theirs != mine => {
                        return Err(Divergence {
                            case: Some(id),
                            report: format!(
                                "{id}: two phones hold different heads\n{}\n{}",
                                self.phones[*other].describe(id),
                                phone.describe(id)
                            ),
                        });
                    }
                    Some(_) => {}
                    None => {
                        heads.insert(id, (n, mine));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether some phone holds a case the referee has judged.
    pub fn verdict_seen(&self) -> bool {
        let ids = self.ledger.ids();
        self.phones.iter().any(|phone| {
            ids.iter().any(|id| {
                phone
                    .status(*id)
                    .is_some_and(|s| matches!(s.as_str(), "judged" | "closed" | "rework"))
            })
        })
    }

    /// Each phone's person and device, for a failure's report of the server's side.
    pub fn devices(&self) -> Vec<(String, String)> {
        self.phones
            .iter()
            .map(|p| (p.principal.user_id.clone(), p.store.device_id().to_string()))
            .collect()
    }

    pub fn syncs(&self) -> (usize, usize) {
        self.phones
            .iter()
            .fold((0, 0), |(s, c), p| (s + p.syncs, c + p.cut))
    }
}

/// Why the crew has not converged: the report, and the case two phones disagree on when
/// that is the cause (the caller adds the server's side of it).
#[derive(Debug)]
pub struct Divergence {
    pub case: Option<Uuid>,
    pub report: String,
}

impl From<String> for Divergence {
    fn from(report: String) -> Divergence {
        Divergence { case: None, report }
    }
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.report)
    }
}

impl CrewPhone {
    /// What this phone holds of case `id` and believes it shares with the server, for a
    /// convergence failure's report: an intermittent one must be diagnosable from its log.
    fn describe(&self, id: Uuid) -> String {
        let held = self.store.load_doc(id).map(|mut doc| {
            let mut heads = heads_to_hex(&doc.heads());
            heads.sort();
            let events: Vec<String> = doc
                .events()
                .map(|events| {
                    events
                        .iter()
                        .map(|e| format!("{} by {} at {}", e.kind, e.by, e.at))
                        .collect()
                })
                .unwrap_or_default();
            (heads, events)
        });
        format!(
            "  {} ({:?}): heads {:?}; recorded {:?}; shared {:?}; sync cursor {:?}; \
             outbox {:?}; asked whole {:?}; quarantined {:?}",
            self.principal.user_id,
            self.post,
            held.as_ref().map(|(h, _)| h),
            self.store.recorded_heads(id),
            self.store.shared_heads(id),
            self.store.sync_cursor(),
            self.store.outbox().map(|o| o.len()),
            self.store.wanted_whole(),
            self.store
                .quarantined()
                .map(|q| q.iter().map(|e| e.reason.clone()).collect::<Vec<_>>()),
        ) + &format!(
            "\n    events: {:?}",
            held.map(|(_, e)| e).unwrap_or_default()
        )
    }

    fn work(&mut self, base: &str, ledger: &Ledger, stop: &AtomicBool) {
        let Ok(mut client) = SyncClient::new(base, &self.token) else {
            return;
        };
        while !stop.load(Ordering::SeqCst) {
            if self.make_move(ledger) {
                self.moves += 1;
            }
            let synced = client
                .sync(&mut self.store, wall_clock())
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    upload_pending(&client, &mut self.store, &quick_retry())
                        .map_err(|e| e.to_string())
                });
            match synced {
                Ok(report) if report.failed.is_empty() => self.syncs += 1,
                _ => {
                    self.cut += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// One sync and upload run; whether anything moved either way.
    fn sync_once(&mut self, base: &str) -> Result<bool, String> {
        let mut client = SyncClient::new(base, &self.token).map_err(|e| e.to_string())?;
        let report = client
            .sync(&mut self.store, wall_clock())
            .map_err(|e| format!("sync: {e}"))?;
        let up = upload_pending(&client, &mut self.store, &quick_retry())
            .map_err(|e| format!("upload: {e}"))?;
        if !up.failed.is_empty() {
            return Err(format!("upload: {:?}", up.failed));
        }
        Ok(report.docs_pushed + report.docs_received + up.uploaded > 0)
    }

    fn status(&self, id: Uuid) -> Option<String> {
        self.store
            .listing(id)
            .ok()
            .flatten()
            .map(|l| l.listing.status)
    }

    /// The next thing this phone's person does on the cases it holds (offline); whether
    /// something was written.
    fn make_move(&mut self, ledger: &Ledger) -> bool {
        let held: Vec<(Uuid, String)> = ledger
            .ids()
            .into_iter()
            .filter_map(|id| self.status(id).map(|s| (id, s)))
            .collect();
        let first = |wanted: &[&str]| {
            held.iter()
                .find(|(_, s)| wanted.contains(&s.as_str()))
                .map(|(id, _)| *id)
        };
        match self.post {
            Post::Inspector => {
                if let Some(id) = first(&["handled"]) {
                    return self.verify(id, ledger);
                }
                let open = held
                    .iter()
                    .filter(|(_, s)| !matches!(s.as_str(), "closed" | "merged" | "rejected"))
                    .count();
                open < OPEN_CASES && self.report(ledger)
            }
            Post::Dispatcher => match first(&["reported", "registered"]) {
                Some(id) => self.dispatch(id),
                None => false,
            },
            Post::Handler => {
                if let Some(id) = first(&["dispatched"]) {
                    return self.append(id, CaseEvent::Accepted(Default::default()), None);
                }
                let ready = held.iter().find(|(id, s)| {
                    matches!(s.as_str(), "accepted" | "rework") && self.overdue_seen(*id)
                });
                match ready {
                    Some(&(id, _)) => {
                        let photo = ledger.photo();
                        let event = CaseEvent::Handled(Handled {
                            note: Some("清理完毕".into()),
                            photos: vec![photo.hash.clone()],
                        });
                        let stage = (EvidenceStage::After, photo, ledger.position_of(id));
                        self.append(id, event, Some(stage))
                    }
                    None => false,
                }
            }
        }
    }

    fn overdue_seen(&self, id: Uuid) -> bool {
        self.store
            .load_doc(id)
            .and_then(|d| d.events())
            .map(|events| events.iter().any(|e| e.kind == kinds::OVERDUE))
            .unwrap_or(false)
    }

    fn report(&mut self, ledger: &Ledger) -> bool {
        let photo = ledger.photo();
        let mut cases = ledger.cases.lock().expect("ledger");
        // Each case 220 m north of the previous one: never within a duplicate's radius.
        let position = Position {
            lat: POSITION.lat + 0.002 * cases.len() as f64,
            ..POSITION
        };
        let at = wall_clock() - BACKDATED;
        let id = Uuid::now_v7();
        let before = self.evidence(id, &photo.hash, EvidenceStage::Before, at, position);
        let new = NewCase {
            id,
            event_id: Uuid::now_v7(),
            at,
            category: "20102".into(),
            position,
            grid_cell: GRID.into(),
            description: Some("垃圾堆在路边".into()),
            address: Some("朝阳区三里屯路 19 号".into()),
            report: Default::default(),
            before_photos: vec![(photo.hash.clone(), before)],
        };
        let mut case = CaseDoc::create(&self.principal, self.store.actor(), new).expect("report");
        self.capture(&mut case, Some(&photo));
        cases.push((id, position));
        true
    }

    /// 立案 and 派遣 dated a minute and two after the (backdated) report.
    fn dispatch(&mut self, id: Uuid) -> bool {
        let Ok(mut case) = self.store.load_doc(id).and_then(CaseDoc::open) else {
            return false;
        };
        let Ok(state) = case.state() else {
            return false;
        };
        let at = state.reported_at.unwrap_or_else(wall_clock);
        let mut events = Vec::new();
        if state.status == CaseStatus::Reported {
            events.push(crate::register());
        }
        if !state.duplicate_candidates.is_empty() && !state.duplicate_kept {
            events.push(CaseEvent::DuplicateKept(Reason {
                reason: "另一处问题".into(),
            }));
        }
        events.push(crate::dispatch(UNIT));
        for (i, event) in events.iter().enumerate() {
            let when = at + (i as i64 + 1) * MINUTE;
            if case
                .append(&self.principal, event, Uuid::now_v7(), when)
                .is_err()
            {
                return false;
            }
        }
        self.capture(&mut case, None);
        true
    }

    fn verify(&mut self, id: Uuid, ledger: &Ledger) -> bool {
        let photo = ledger.photo();
        let event = CaseEvent::VerificationSubmitted(VerificationSubmitted {
            fixed: true,
            note: None,
            photos: vec![photo.hash.clone()],
        });
        let stage = (EvidenceStage::Verification, photo, ledger.position_of(id));
        self.append(id, event, Some(stage))
    }

    /// Appends `event` now, with a photo of `stage` taken at `position` when given.
    fn append(
        &mut self,
        id: Uuid,
        event: CaseEvent,
        photo: Option<(EvidenceStage, photos::Photo, Position)>,
    ) -> bool {
        let Ok(mut case) = self.store.load_doc(id).and_then(CaseDoc::open) else {
            return false;
        };
        let now = wall_clock();
        if let Some((stage, photo, position)) = &photo {
            let placed = self.evidence(id, &photo.hash, *stage, now, *position);
            if case
                .add_evidence(&self.principal, &photo.hash, &placed)
                .is_err()
            {
                return false;
            }
        }
        // The lifecycle may refuse (another phone's move landed first): nothing written.
        if case
            .append(&self.principal, &event, Uuid::now_v7(), now)
            .is_err()
        {
            return false;
        }
        self.capture(&mut case, photo.as_ref().map(|(_, p, _)| p));
        true
    }

    fn evidence(
        &self,
        id: Uuid,
        hash: &str,
        stage: EvidenceStage,
        at: Millis,
        position: Position,
    ) -> Evidence {
        let placed = Evidence::new(stage, at, Some(position), &self.principal.user_id);
        crate::signed(&self.store, id, hash, placed)
    }

    fn capture(&mut self, case: &mut CaseDoc, photo: Option<&photos::Photo>) {
        let listing = listing_for(case.doc()).expect("listing");
        let files: Vec<NewPhoto<'_>> = photo
            .iter()
            .map(|p| NewPhoto {
                sha256: &p.hash,
                bytes: &p.jpeg,
            })
            .collect();
        self.store
            .capture(case.doc_mut(), &listing, &files)
            .expect("capture");
    }
}

/// What the server's storage holds, counted by the checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub cases: usize,
    pub events: usize,
    pub acknowledged_heads: usize,
    pub verifications: usize,
    pub verdicts: usize,
    pub closed: usize,
    pub warnings: usize,
    pub overdue: usize,
    pub escalated: usize,
}

/// The checks on a killed (or stopped) server's storage, opened in this process.
/// Always: every change a phone holds as acknowledged (its shared heads) is stored; the
/// server holds no document no phone reported, none twice; no event twice in a document;
/// per case at most one verdict per accepted verification, one closure, one 预警, one 超期,
/// one escalation. When `settled` (every phone synced to quiet first): exactly one verdict
/// per verification, and exactly one 预警 and one 超期 on every case dispatched.
pub fn check_storage(
    state: &AppState,
    rt: &tokio::runtime::Runtime,
    crew: &Crew,
    settled: bool,
) -> Result<Tally, String> {
    let everywhere = Jurisdiction {
        everywhere: true,
        ..Jurisdiction::default()
    };
    let stored = rt
        .block_on(state.docs.changed_since(0, everywhere, 1_000_000))
        .map_err(|e| e.to_string())?;
    let reported = crew.ledger.ids();
    let mut seen = BTreeSet::new();
    for projection in &stored {
        if !reported.contains(&projection.doc_id) {
            return Err(format!("a document nobody reported: {}", projection.doc_id));
        }
        if !seen.insert(projection.doc_id) {
            return Err(format!("{} listed twice", projection.doc_id));
        }
    }
    let mut tally = Tally {
        cases: seen.len(),
        ..Tally::default()
    };
    let mut docs = BTreeMap::new();
    for &id in &seen {
        let doc = rt
            .block_on(state.docs.load_doc(id))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{id} listed but not loadable"))?
            .load(&fieldloop_core::doc::actor_for(&Uuid::nil()))
            .map_err(|e| format!("{id}: {e}"))?;
        docs.insert(id, doc);
    }
    for phone in &crew.phones {
        let who = &phone.principal.user_id;
        for id in &reported {
            if !phone.store.contains_doc(*id).map_err(|e| e.to_string())? {
                continue;
            }
            let shared = phone.store.shared_heads(*id).map_err(|e| e.to_string())?;
            if shared.is_empty() {
                continue;
            }
            let doc = docs
                .get_mut(id)
                .ok_or_else(|| format!("{who}: acknowledged case {id} is not stored"))?;
            for head in heads_from_hex(&shared).map_err(|e| e.to_string())? {
                if doc.automerge().get_change_by_hash(&head).is_none() {
                    return Err(format!("{who}: acknowledged change {head} of {id} lost"));
                }
                tally.acknowledged_heads += 1;
            }
        }
    }
    for (id, doc) in &docs {
        let snapshot = doc.snapshot().map_err(|e| format!("{id}: {e}"))?;
        let case = fold(&snapshot);
        let mut ids = BTreeSet::new();
        for event in &snapshot.events {
            if !ids.insert(event.id) {
                return Err(format!("{id}: event {} stored twice", event.id));
            }
        }
        tally.events += snapshot.events.len();
        let count = |kind: &str| {
            snapshot
                .events
                .iter()
                .filter(|e| e.kind == kind && !case.is_ignored(e.id))
                .count()
        };
        let (verifications, verdicts) =
            (count(kinds::VERIFICATION_SUBMITTED), count(kinds::VERDICT));
        let (warnings, overdue, escalated) = (
            count(kinds::DEADLINE_WARNING),
            count(kinds::OVERDUE),
            count(kinds::ESCALATED),
        );
        tally.verifications += verifications;
        tally.verdicts += verdicts;
        tally.warnings += warnings;
        tally.overdue += overdue;
        tally.escalated += escalated;
        tally.closed += count(kinds::CLOSED);
        let all_verdicts = snapshot
            .events
            .iter()
            .filter(|e| e.kind == kinds::VERDICT)
            .count();
        if all_verdicts > verifications || (settled && verdicts != verifications) {
            return Err(format!(
                "{id}: {all_verdicts} verdicts for {verifications} verifications ({:?})",
                case.status
            ));
        }
        let once = |n: usize, what: &str| {
            if n > 1 {
                Err(format!("{id}: {what} written {n} times"))
            } else {
                Ok(())
            }
        };
        once(count(kinds::CLOSED), "closed")?;
        once(warnings, "预警")?;
        once(overdue, "超期")?;
        once(escalated, "督办 escalation")?;
        if settled && was_dispatched(&case) && (warnings != 1 || overdue != 1) {
            return Err(format!(
                "{id}: dispatched 30 days ago but {warnings} 预警 and {overdue} 超期 ({:?})",
                case.status
            ));
        }
    }
    Ok(tally)
}

fn was_dispatched(case: &CaseState) -> bool {
    case.dispatched_at
        .is_some_and(|at| at < wall_clock() - BACKDATED / 2)
}
