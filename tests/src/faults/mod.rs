//! Harnesses for issue 12 (reliability under faults): a "world" of phones working a
//! street's cases offline against a real server, driven by a schedule of [`Step`]s, then
//! brought to a full sync and checked against the invariants every fault test shares.
//!
//! The server behind a world is chosen by [`Backend`]; the phones may talk to it directly
//! or through the fault-injecting [`proxy`].

pub mod dump;
pub mod photos;
pub mod proxy;
pub mod server_crash;
pub mod server_process;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use fieldloop_core::case::events::{Handled, VerificationSubmitted};
use fieldloop_core::case::{fold, kinds, CaseDoc, CaseEvent, CaseStatus, NewCase};
use fieldloop_core::doc::{heads_to_hex, Doc, EvidenceStage};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::store::{NewPhoto, Store};
use fieldloop_core::sync::client::{listing_for, SyncClient};
use fieldloop_core::sync::upload::{upload_pending, RetryPolicy};
use fieldloop_core::time::{Millis, MINUTE};
use fieldloop_server::clock::ManualClock;
use fieldloop_server::referee::Reference;
use fieldloop_server::serve::start;
use fieldloop_server::{app, AppState, Config};
use std::sync::Arc;
use uuid::Uuid;

use crate::{evidence, Device, TestServer, COMMUNITY, GRID, POSITION, STREET, T0, UNIT};
use photos::Photo;

/// Where the server keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file + photo files in a temp dir.
    Embedded,
    /// A fresh database on the throwaway PostgreSQL 15 cluster and a bucket on s3s-fs,
    /// both on loopback (`crate::services`).
    PgS3,
}

impl Backend {
    /// The backends to run on: `FIELDLOOP_BACKENDS` (comma separated: `embedded`,
    /// `pg-s3`), else the embedded one.
    pub fn selected() -> Vec<Backend> {
        match std::env::var("FIELDLOOP_BACKENDS") {
            Ok(list) => list
                .split(',')
                .map(|name| match name.trim() {
                    "embedded" => Backend::Embedded,
                    "pg-s3" => Backend::PgS3,
                    other => panic!("unknown backend {other:?} (embedded, pg-s3)"),
                })
                .collect(),
            Err(_) => vec![Backend::Embedded],
        }
    }

    /// A server on this backend. On PostgreSQL + S3 where either is not installed: a
    /// failure under `CI=true`, else a panic naming what to install (a test that asked
    /// for this backend by name cannot pass without it).
    pub fn start(self) -> TestServer {
        start_server(self, None)
    }
}

/// A server on `backend`, with a deployment's reference data in place of the bundled one.
pub fn start_server(backend: Backend, reference: Option<Reference>) -> TestServer {
    if backend == Backend::PgS3 {
        return start_on_postgres_and_s3(reference);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(T0));
    let state =
        AppState::embedded(dir.path(), clock.clone(), Config::default()).expect("server state");
    serve_state(state, reference, clock, server_process::runtime(), dir)
}

fn serve_state(
    state: AppState,
    reference: Option<Reference>,
    clock: Arc<ManualClock>,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
) -> TestServer {
    let state = match reference {
        Some(reference) => state.with_reference(reference),
        None => state,
    };
    let running = rt
        .block_on(start(
            app(state.clone()),
            "127.0.0.1:0".parse().expect("address"),
            None,
        ))
        .expect("server starts");
    let base = format!("http://{}", running.addr);
    TestServer {
        state,
        clock,
        base,
        running: Some(running),
        rt,
        _dir: dir,
        backing: None,
    }
}

/// [`start_server`] on a fresh PostgreSQL database and an s3s-fs bucket, both kept
/// running as long as the server.
fn start_on_postgres_and_s3(reference: Option<Reference>) -> TestServer {
    let missing =
        "PostgreSQL 15 and s3s-fs (scripts/install-services) for FIELDLOOP_BACKENDS=pg-s3";
    let cluster = crate::services::PgCluster::shared().expect(missing);
    let bucket = crate::services::S3Server::start().expect(missing);
    let rt = server_process::runtime();
    let database = rt.block_on(cluster.fresh_database());
    let location = fieldloop_server::storage::open::Location {
        database: database.clone(),
        blobs: format!("s3://{}", bucket.bucket),
        s3: bucket.settings(),
    };
    let clock = Arc::new(ManualClock::new(T0));
    let state = rt
        .block_on(AppState::open(&location, clock.clone(), Config::default()))
        .expect("server state on postgres and s3");
    let mut server = serve_state(
        state,
        reference,
        clock,
        rt,
        tempfile::tempdir().expect("temp dir"),
    );
    server.keep_running(database, cluster, bucket);
    server
}

/// What a phone's person does in the street.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Post {
    Inspector,
    Dispatcher,
    Handler,
}

/// Posts in the order devices are made: two inspectors, a dispatcher, two handlers, again.
const POSTS: [Post; 5] = [
    Post::Inspector,
    Post::Inspector,
    Post::Dispatcher,
    Post::Handler,
    Post::Handler,
];

/// One thing that happens in a schedule. Devices and cases are picked modulo what exists,
/// so any generated value is a valid step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An inspector reports a new case with a before-photo (offline).
    Report { device: usize },
    /// The device does the next thing its post does on one of the cases it holds: register,
    /// accept, handle with an after-photo, or verify with a photo (offline).
    Advance { device: usize, case: usize },
    /// The device corrects the description of a case it may edit (offline, last writer wins).
    Edit { device: usize, case: usize },
    /// The device comes online: pushes, pulls, then uploads its photos.
    Sync { device: usize },
}

/// A phone in a world, with what it wrote so the checks can find it again.
pub struct Phone {
    pub post: Post,
    pub device: Device,
    /// Events this phone appended (including the report events of its cases).
    pub wrote_events: Vec<Uuid>,
    /// Whether the last sync or upload of this phone failed (through a faulty network).
    pub last_error: Option<String>,
}

/// Figures a world reports after its checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub cases: usize,
    pub closed: usize,
    pub reworks: usize,
    pub verdicts: usize,
    pub events: usize,
    pub quarantined: usize,
    pub settle_passes: usize,
}

pub struct World {
    pub server: TestServer,
    pub phones: Vec<Phone>,
    /// Every case reported, in order.
    pub cases: Vec<Uuid>,
    /// The simulated minute; the server's clock follows it.
    pub minute: i64,
    next_photo: usize,
    pub retry: RetryPolicy,
}

fn username(post: Post, index: usize) -> String {
    match post {
        Post::Inspector => format!("insp-{index}"),
        Post::Dispatcher => format!("disp-{index}"),
        Post::Handler => format!("hand-{index}"),
    }
}

impl World {
    /// `devices` phones (posts cycling through [`POSTS`]) logged in to a fresh server.
    pub fn new(backend: Backend, devices: usize) -> World {
        let server = backend.start();
        let mut phones = Vec::with_capacity(devices);
        for index in 0..devices {
            let post = POSTS[index % POSTS.len()];
            let name = username(post, index);
            let (role, jurisdiction) = match post {
                Post::Inspector => (Role::Inspector, cells(COMMUNITY)),
                Post::Dispatcher => (Role::Dispatcher, cells(STREET)),
                Post::Handler => (
                    Role::Handler,
                    Jurisdiction {
                        units: vec![UNIT.into()],
                        ..Jurisdiction::default()
                    },
                ),
            };
            server.add_user(&name, role, jurisdiction);
            phones.push(Phone {
                post,
                device: Device::login(&server, &name),
                wrote_events: Vec::new(),
                last_error: None,
            });
        }
        World {
            server,
            phones,
            cases: Vec::new(),
            minute: 0,
            next_photo: 0,
            retry: RetryPolicy::default(),
        }
    }

    /// Points every phone's client at `base` (a proxy) instead of the server.
    pub fn route_through(&mut self, base: &str) {
        for phone in &mut self.phones {
            phone.device.client =
                SyncClient::new(base, &phone.device.token).expect("client for the proxy");
        }
    }

    pub fn now(&self) -> Millis {
        T0 + self.minute * MINUTE
    }

    fn take_photo(&mut self) -> Photo {
        let photo = photos::photo(self.next_photo).clone();
        self.next_photo += 1;
        photo
    }

    /// Runs one step a minute after the previous one; the server's clock moves with it.
    /// Network failures are kept in the phone's `last_error`, never a panic: a phone
    /// offline or on a bad network simply tries again later.
    pub fn run(&mut self, step: Step) {
        let touched = match step {
            Step::Report { .. } => None,
            Step::Advance { device, case } | Step::Edit { device, case } => {
                let i = device % self.phones.len();
                self.held_case(i, case).map(|id| (i, vec![id]))
            }
            Step::Sync { device } => {
                let i = device % self.phones.len();
                Some((i, self.outbox_ids(i)))
            }
        };
        let Some((i, ids)) = touched else {
            self.run_step(step);
            return;
        };
        if let Err(e) = self.checking_heads(i, ids, |world| world.run_step(step)) {
            panic!("after {step:?} at minute {}: {e}", self.minute);
        }
    }

    fn outbox_ids(&self, i: usize) -> Vec<Uuid> {
        let outbox = self.phones[i].device.store.outbox().expect("outbox");
        outbox.into_iter().map(|e| e.doc_id).collect()
    }

    /// Runs `act`, then checks phone `i`'s documents it may have written (`ids`, and
    /// every case whose recorded heads moved): recorded heads must equal the content's.
    fn checking_heads<T>(
        &mut self,
        i: usize,
        mut ids: Vec<Uuid>,
        act: impl FnOnce(&mut World) -> T,
    ) -> Result<T, String> {
        let before = self.all_recorded(i);
        let out = act(self);
        for (id, heads) in self.all_recorded(i) {
            if before.get(&id) != Some(&heads) {
                ids.push(id);
            }
        }
        self.recorded_heads_match(i, &ids)?;
        Ok(out)
    }

    fn all_recorded(&self, i: usize) -> HashMap<Uuid, Vec<String>> {
        let store = &self.phones[i].device.store;
        self.cases
            .iter()
            .filter_map(|&id| store.recorded_heads(id).ok().map(|h| (id, h)))
            .collect()
    }

    /// The named documents' recorded heads equal their stored content's heads.
    pub fn recorded_heads_match(&self, i: usize, ids: &[Uuid]) -> Result<(), String> {
        let store = &self.phones[i].device.store;
        for &id in ids {
            if !store.contains_doc(id).map_err(|e| e.to_string())? {
                continue;
            }
            // Stored sorted.
            let recorded = store.recorded_heads(id).map_err(|e| e.to_string())?;
            let mut actual = heads_to_hex(&store.load_doc(id).map_err(|e| e.to_string())?.heads());
            actual.sort();
            if recorded != actual {
                return Err(format!(
                    "phone {i}: case {id} records heads {recorded:?}, holds {actual:?}; shared {:?}",
                    store.shared_heads(id)
                ));
            }
        }
        Ok(())
    }

    fn run_step(&mut self, step: Step) {
        self.minute += 1;
        let now = self.now();
        self.server.clock.set(now);
        match step {
            Step::Report { device } => {
                let Some(i) = self.nth_with_post(device, Post::Inspector) else {
                    return;
                };
                let photo = self.take_photo();
                let phone = &mut self.phones[i];
                let principal = phone.device.principal.clone();
                let (id, event) =
                    report(&mut phone.device.store, &principal, now, &photo).expect("report");
                phone.wrote_events.push(event);
                self.cases.push(id);
            }
            Step::Advance { device, case } => {
                let i = device % self.phones.len();
                let Some(id) = self.held_case(i, case) else {
                    return;
                };
                let photo = self.take_photo();
                let phone = &mut self.phones[i];
                if let Some(event) = advance(phone.post, &mut phone.device, id, now, &photo) {
                    phone.wrote_events.push(event);
                }
            }
            Step::Edit { device, case } => {
                let i = device % self.phones.len();
                let Some(id) = self.held_case(i, case) else {
                    return;
                };
                let phone = &mut self.phones[i];
                let mut doc = phone.device.store.load_doc(id).expect("held doc");
                let creator = doc.header().expect("header").created_by;
                if phone.post == Post::Dispatcher || creator == phone.device.principal.user_id {
                    doc.set_field("description", &format!("第 {} 分钟更正", self.minute))
                        .expect("set field");
                    phone.device.save(&mut doc);
                }
            }
            Step::Sync { device } => {
                let i = device % self.phones.len();
                self.sync_phone(i);
            }
        }
    }

    /// One phone online: sync, then upload its photos. Errors are remembered, not fatal.
    pub fn sync_phone(&mut self, i: usize) -> bool {
        let now = self.now();
        let retry = self.retry;
        let phone = &mut self.phones[i];
        let synced = phone.device.client.sync(&mut phone.device.store, now);
        let uploaded = upload_pending(&phone.device.client, &mut phone.device.store, &retry);
        phone.last_error = match (&synced, &uploaded) {
            (Err(e), _) => Some(format!("sync: {e}")),
            (_, Err(e)) => Some(format!("upload: {e}")),
            (_, Ok(report)) if !report.failed.is_empty() => {
                Some(format!("upload: {:?}", report.failed))
            }
            _ => None,
        };
        phone.last_error.is_none()
    }

    fn nth_with_post(&self, n: usize, post: Post) -> Option<usize> {
        let with: Vec<usize> = (0..self.phones.len())
            .filter(|&i| self.phones[i].post == post)
            .collect();
        (!with.is_empty()).then(|| with[n % with.len()])
    }

    fn held_case(&self, phone: usize, n: usize) -> Option<Uuid> {
        let store = &self.phones[phone].device.store;
        let held: Vec<Uuid> = self
            .cases
            .iter()
            .copied()
            .filter(|id| store.contains_doc(*id).expect("store readable"))
            .collect();
        (!held.is_empty()).then(|| held[n % held.len()])
    }

    /// Every phone syncs and uploads, pass after pass, until a whole pass changes nothing
    /// on the server and every phone succeeded (at most `max_passes`). Returns the passes.
    pub fn settle(&mut self, max_passes: usize) -> usize {
        let mut quiet_before = None;
        for pass in 1..=max_passes {
            self.minute += 1;
            self.server.clock.set(self.now());
            let mut all_ok = true;
            for i in 0..self.phones.len() {
                let outbox = self.outbox_ids(i);
                match self.checking_heads(i, outbox, |world| world.sync_phone(i)) {
                    Ok(synced) => all_ok &= synced,
                    Err(e) => panic!("settle pass {pass}: {e}"),
                }
            }
            let head = self.server.head_seq();
            if all_ok && quiet_before == Some(head) {
                return pass;
            }
            quiet_before = all_ok.then_some(head);
        }
        max_passes
    }

    /// The invariants after a full sync; the first broken one as an error.
    pub fn check(&self) -> Result<Figures, String> {
        let mut figures = Figures {
            cases: self.cases.len(),
            ..Figures::default()
        };
        let mut server_docs: HashMap<Uuid, Doc> = HashMap::new();
        for &id in &self.cases {
            let doc = self
                .server
                .doc(id)
                .ok_or_else(|| format!("case {id} never reached the server"))?;
            server_docs.insert(id, doc);
        }
        let mut on_server_events: HashMap<Uuid, usize> = HashMap::new();
        for (id, doc) in &server_docs {
            let snapshot = doc.snapshot().map_err(|e| format!("{id}: {e}"))?;
            unique_events(&format!("server copy of {id}"), doc)?;
            for event in &snapshot.events {
                *on_server_events.entry(event.id).or_default() += 1;
            }
            let state = fold(&snapshot);
            figures.events += snapshot.events.len();
            let count = |kind: &str| snapshot.events.iter().filter(|e| e.kind == kind).count();
            figures.verdicts += count(kinds::VERDICT);
            figures.reworks += count(kinds::REWORK);
            let verifications = count(kinds::VERIFICATION_SUBMITTED);
            if count(kinds::VERDICT) > verifications {
                return Err(format!(
                    "{id}: {} verdicts for {verifications} verifications",
                    count(kinds::VERDICT)
                ));
            }
            if count(kinds::CLOSED) > 1 {
                return Err(format!("{id} closed {} times", count(kinds::CLOSED)));
            }
            if state.status == CaseStatus::Closed {
                figures.closed += 1;
                match &state.last_verdict {
                    Some(v) if v.passed() => {}
                    other => {
                        return Err(format!(
                            "{id} is closed without a passing verdict: {other:?}"
                        ))
                    }
                }
            }
            for hash in snapshot.evidence.keys() {
                let blob = fieldloop_server::storage::BlobHash::parse(hash)
                    .map_err(|e| format!("{id}: evidence {hash}: {e}"))?;
                let stored = self
                    .server
                    .runtime()
                    .block_on(self.server.state.blobs.read(&blob))
                    .map_err(|e| format!("{id}: read blob {hash}: {e}"))?;
                if stored.is_none() {
                    return Err(format!("{id}: photo {hash} never arrived whole"));
                }
            }
        }
        for phone in &self.phones {
            let device = &phone.device;
            let who = &device.principal.user_id;
            if !device.store.outbox().map_err(|e| e.to_string())?.is_empty() {
                return Err(format!("{who}: outbox not empty after a full sync"));
            }
            let pending = device
                .store
                .pending_uploads(10)
                .map_err(|e| e.to_string())?;
            if !pending.is_empty() {
                return Err(format!("{who}: {} photos still to upload", pending.len()));
            }
            let quarantined: BTreeSet<Uuid> = device
                .store
                .quarantined()
                .map_err(|e| e.to_string())?
                .iter()
                .filter_map(|q| {
                    serde_json::from_slice::<fieldloop_core::doc::Event>(&q.change).ok()
                })
                .map(|e| e.id)
                .collect();
            figures.quarantined += quarantined.len();
            for event in &phone.wrote_events {
                let n = on_server_events.get(event).copied().unwrap_or(0);
                if n != 1 && !quarantined.contains(event) {
                    return Err(format!(
                        "{who}: event {event} is on the server {n} times and not in quarantine"
                    ));
                }
            }
            for (id, server_doc) in &server_docs {
                let held = device.store.contains_doc(*id).map_err(|e| e.to_string())?;
                let server_state = fold(&server_doc.snapshot().map_err(|e| e.to_string())?);
                let should_hold = match phone.post {
                    Post::Inspector | Post::Dispatcher => true,
                    Post::Handler => server_state.unit.as_deref() == Some(UNIT),
                };
                if !held {
                    if should_hold {
                        return Err(format!("{who} lacks case {id} ({:?})", server_state.status));
                    }
                    continue;
                }
                let mut local = device.store.load_doc(*id).map_err(|e| e.to_string())?;
                let mut server_copy = server_doc.clone();
                if heads_to_hex(&local.heads()) != heads_to_hex(&server_copy.heads()) {
                    // Which side lacks what, so a failure of a long run says where to look.
                    let describe = |changes: Vec<automerge::Change>| {
                        changes
                            .iter()
                            .map(|c| {
                                format!(
                                    "{} by {} seq {} at {} with {} ops on {:?}",
                                    c.hash(),
                                    c.actor_id(),
                                    c.seq(),
                                    c.timestamp(),
                                    c.len(),
                                    c.deps()
                                )
                            })
                            .collect::<Vec<_>>()
                    };
                    // `a.get_changes_added(b)`: the changes of `b` that `a` lacks.
                    let local_only =
                        describe(server_copy.automerge().get_changes_added(local.automerge()));
                    let server_only =
                        describe(local.automerge().get_changes_added(server_copy.automerge()));
                    let actors: Vec<String> = self
                        .phones
                        .iter()
                        .map(|p| {
                            format!(
                                "{:?} {} = {}",
                                p.post,
                                p.device.principal.user_id,
                                p.device.store.actor()
                            )
                        })
                        .collect();
                    return Err(format!(
                        "{who} ({:?}): case {id} ({:?}) has other heads than the server; \
                         only here: {local_only:?}; only on the server: {server_only:?}; \
                         last error: {:?}; outbox: {:?}; shared heads here: {:?}; \
                         quarantined here: {:?}; heads here {:?}, recorded {:?}, on the \
                         server {:?}; actors: {actors:?}",
                        phone.post,
                        server_state.status,
                        phone.last_error,
                        device
                            .store
                            .outbox()
                            .map(|o| o.iter().filter(|e| e.doc_id == *id).count()),
                        device.store.shared_heads(*id),
                        device
                            .store
                            .quarantined()
                            .map(|q| q.iter().filter(|e| e.doc_id == *id).count()),
                        heads_to_hex(&local.heads()),
                        device.store.recorded_heads(*id),
                        heads_to_hex(&server_copy.heads())
                    ));
                }
                unique_events(&format!("{who}'s copy of {id}"), &local)?;
                let local_state = fold(&local.snapshot().map_err(|e| e.to_string())?);
                if local_state != server_state {
                    return Err(format!(
                        "{who}: the fold of {id} differs: {:?} here, {:?} on the server",
                        local_state.status, server_state.status
                    ));
                }
                let expected = listing_for(server_doc).map_err(|e| e.to_string())?;
                if device.status(*id) != expected.status {
                    return Err(format!("{who}: listing of {id} is stale"));
                }
            }
        }
        Ok(figures)
    }

    /// Every phone's last error, for a failure message.
    pub fn errors(&self) -> String {
        let mut out = String::new();
        for phone in &self.phones {
            if let Some(e) = &phone.last_error {
                let _ = writeln!(out, "{}: {e}", phone.device.principal.user_id);
            }
        }
        out
    }
}

fn unique_events(what: &str, doc: &Doc) -> Result<(), String> {
    let events = doc.events().map_err(|e| format!("{what}: {e}"))?;
    let mut seen = BTreeMap::new();
    for event in events {
        *seen.entry(event.id).or_insert(0) += 1;
    }
    match seen.into_iter().find(|(_, n)| *n > 1) {
        Some((id, n)) => Err(format!("{what}: event {id} appears {n} times")),
        None => Ok(()),
    }
}

fn cells(prefix: &str) -> Jurisdiction {
    Jurisdiction {
        grid_prefixes: vec![prefix.into()],
        ..Jurisdiction::default()
    }
}

/// A 暴露垃圾 case in [`GRID`] at [`POSITION`] reported by `principal`, captured with its
/// photo in one durable write. Returns the case and its report event.
pub fn report(
    store: &mut Store,
    principal: &Principal,
    now: Millis,
    photo: &Photo,
) -> fieldloop_core::Result<(Uuid, Uuid)> {
    report_in(store, principal, now, photo, GRID)
}

/// [`report`] in another grid cell.
pub fn report_in(
    store: &mut Store,
    principal: &Principal,
    now: Millis,
    photo: &Photo,
    grid_cell: &str,
) -> fieldloop_core::Result<(Uuid, Uuid)> {
    let id = Uuid::now_v7();
    let event_id = Uuid::now_v7();
    let before = crate::signed(
        store,
        id,
        &photo.hash,
        evidence(EvidenceStage::Before, principal, now),
    );
    let new = NewCase {
        id,
        event_id,
        at: now,
        category: "20102".into(),
        position: POSITION,
        grid_cell: grid_cell.into(),
        description: Some("垃圾堆在路边".into()),
        address: Some("朝阳区三里屯路 19 号".into()),
        report: Default::default(),
        before_photos: vec![(photo.hash.clone(), before)],
    };
    let mut case = CaseDoc::create(principal, store.actor(), new)?;
    let listing = listing_for(case.doc())?;
    let file = NewPhoto {
        sha256: &photo.hash,
        bytes: &photo.jpeg,
    };
    store.capture(case.doc_mut(), &listing, &[file])?;
    Ok((id, event_id))
}

/// The post's next move on the case as the phone sees it; the event id when one was written.
fn advance(post: Post, device: &mut Device, id: Uuid, now: Millis, photo: &Photo) -> Option<Uuid> {
    let mut case = device.case(id);
    let state = case.state().ok()?;
    let (event, stage) = match (post, state.status) {
        (Post::Dispatcher, CaseStatus::Reported) => (crate::register(), None),
        // The street's cases are all at one spot: the server suggests each later one as a
        // duplicate (疑似重复), and the dispatcher keeps it so it is dispatched.
        (Post::Dispatcher, CaseStatus::Registered) if !state.duplicate_candidates.is_empty() => (
            CaseEvent::DuplicateKept(fieldloop_core::case::events::Reason {
                reason: "另一处问题".into(),
            }),
            None,
        ),
        (Post::Handler, CaseStatus::Dispatched) => (crate::accept(), None),
        (Post::Handler, CaseStatus::Accepted | CaseStatus::Rework) => (
            CaseEvent::Handled(Handled {
                note: Some("清理完毕".into()),
                photos: vec![photo.hash.clone()],
            }),
            Some(EvidenceStage::After),
        ),
        (Post::Inspector, CaseStatus::Handled) => (
            CaseEvent::VerificationSubmitted(VerificationSubmitted {
                fixed: true,
                note: None,
                photos: vec![photo.hash.clone()],
            }),
            Some(EvidenceStage::Verification),
        ),
        _ => return None,
    };
    if let Some(stage) = stage {
        let placed = crate::signed(
            &device.store,
            id,
            &photo.hash,
            evidence(stage, &device.principal, now),
        );
        case.add_evidence(&device.principal, &photo.hash, &placed)
            .ok()?;
    }
    // The lifecycle may refuse (another phone's move already landed here): nothing written.
    let written = case
        .append(&device.principal, &event, Uuid::now_v7(), now)
        .ok()?;
    match stage {
        Some(_) => device.capture(&mut case, &[(&photo.hash, &photo.jpeg)]),
        None => device.save(case.doc_mut()),
    }
    Some(written.id)
}

/// A retry policy for faulty networks: quick, few attempts (the next sync tries again).
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}
