//! Shared helpers for the end-to-end tests: a real server on 127.0.0.1:0 with its data in
//! a temp dir, and devices, each with its own store file, talking to it over HTTP with the
//! same client a phone uses.

pub mod faults;
pub mod store_hooks;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fieldloop_core::case::events::{
    Dispatched, Empty, Handled, Registered, Reported, VerificationSubmitted,
};
use fieldloop_core::case::{CaseDoc, CaseEvent, NewCase};
use fieldloop_core::doc::{actor_for, Doc, Evidence, EvidenceStage, Position};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::store::{sha256_hex, NewPhoto, Store};
use fieldloop_core::sync::client::{listing_for, SyncClient, SyncReport};
use fieldloop_core::time::{Millis, MINUTE};
use fieldloop_server::auth::{create_user, NewUser};
use fieldloop_server::clock::ManualClock;
use fieldloop_server::serve::{start, RunningServer};
use fieldloop_server::storage::open::Location;
use fieldloop_server::storage::s3_blobs::S3Settings;
use fieldloop_server::storage::{DocStore, Origin, Projection, Seq};
use fieldloop_server::{app, AppState, Config};
use tokio::runtime::Runtime;
use uuid::Uuid;

/// Throwaway PostgreSQL and S3 servers on loopback (shared with the server's storage tests).
#[path = "../../server/tests/all/storage_services.rs"]
pub mod services;

/// 110105 朝阳区, street 001, community 002, cell 003.
pub const GRID: &str = "110105001002003";
/// A cell of another community of the same street.
pub const OTHER_GRID: &str = "110105001009001";
pub const STREET: &str = "110105001";
pub const COMMUNITY: &str = "110105001002";
pub const UNIT: &str = "chaoyang-sanitation-1";
/// 2026-11-23 09:00 Beijing time.
pub const T0: Millis = 1_795_395_600_000;
pub const POSITION: Position = Position {
    lat: 39.9219,
    lon: 116.4436,
    accuracy_m: 8.0,
};

pub fn password_of(username: &str) -> String {
    format!("{username}-e2e-password")
}

/// A server on loopback, with its own runtime and data dir; dropped at the end of a test.
pub struct TestServer {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub base: String,
    running: Option<RunningServer>,
    rt: Runtime,
    _dir: tempfile::TempDir,
    /// The PostgreSQL database and S3 server under a `pg-s3` fault-test server.
    pub backing: Option<Backing>,
}

/// What a server on PostgreSQL + S3 runs on, kept running as long as it.
pub struct Backing {
    pub database: String,
    pub cluster: Arc<services::PgCluster>,
    pub s3: services::S3Server,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_in(tempfile::tempdir().expect("temp dir"))
    }

    /// A server whose document store is `wrap`ped (a test's hook around some calls).
    pub fn start_wrapping_docs(
        wrap: impl FnOnce(Arc<dyn DocStore>) -> Arc<dyn DocStore>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(T0));
        let mut state =
            AppState::embedded(dir.path(), clock.clone(), Config::default()).expect("server state");
        state.docs = wrap(state.docs.clone());
        TestServer::serve(state, clock, runtime(), dir)
    }

    /// A server on the data directory `dir` (a fresh one, or one restored from a backup).
    pub fn start_in(dir: tempfile::TempDir) -> TestServer {
        let clock = Arc::new(ManualClock::new(T0));
        let state =
            AppState::embedded(dir.path(), clock.clone(), Config::default()).expect("server state");
        TestServer::serve(state, clock, runtime(), dir)
    }

    /// One instance of a scaled-out deployment: its records in the database at
    /// `database`, its photos at `blobs` (`s3://BUCKET` reached with `s3`, or a directory
    /// the instances share), on the deployment's `clock`.
    pub fn start_on(
        database: &str,
        blobs: &str,
        s3: &S3Settings,
        clock: Arc<ManualClock>,
    ) -> TestServer {
        let rt = runtime();
        let state = rt
            .block_on(AppState::open(
                &Location {
                    database: database.to_owned(),
                    blobs: blobs.to_owned(),
                    s3: s3.clone(),
                },
                clock.clone(),
                Config::default(),
            ))
            .expect("server state on postgres and s3");
        TestServer::serve(state, clock, rt, tempfile::tempdir().expect("temp dir"))
    }

    fn serve(
        state: AppState,
        clock: Arc<ManualClock>,
        rt: Runtime,
        dir: tempfile::TempDir,
    ) -> TestServer {
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

    /// Keeps the database and S3 server this server runs on alive with it.
    pub fn keep_running(
        &mut self,
        database: String,
        cluster: Arc<services::PgCluster>,
        s3: services::S3Server,
    ) {
        self.backing = Some(Backing {
            database,
            cluster,
            s3,
        });
    }

    pub fn add_user(&self, username: &str, role: Role, jurisdiction: Jurisdiction) {
        self.rt
            .block_on(create_user(
                &self.state,
                NewUser {
                    username: username.into(),
                    password: password_of(username),
                    role,
                    jurisdiction,
                },
            ))
            .expect("create user");
    }

    /// The street's people: an inspector of community 002, a dispatcher of the street, a
    /// handler of the sanitation unit, and an inspector of community 009.
    pub fn with_street_people() -> TestServer {
        let server = TestServer::start();
        server.add_street_people();
        server
    }

    /// Adds the street's people (see [`TestServer::with_street_people`]).
    pub fn add_street_people(&self) {
        let server = self;
        let cells = |p: &str| Jurisdiction {
            grid_prefixes: vec![p.into()],
            ..Jurisdiction::default()
        };
        server.add_user("inspector", Role::Inspector, cells(COMMUNITY));
        server.add_user("other-inspector", Role::Inspector, cells("110105001009"));
        server.add_user("dispatcher", Role::Dispatcher, cells(STREET));
        server.add_user(
            "handler",
            Role::Handler,
            Jurisdiction {
                units: vec![UNIT.into()],
                ..Jurisdiction::default()
            },
        );
    }

    pub fn head_seq(&self) -> Seq {
        self.rt
            .block_on(self.state.docs.head_seq())
            .expect("head seq")
    }

    /// The server's copy of a document.
    pub fn doc(&self, id: Uuid) -> Option<Doc> {
        let stored = self
            .rt
            .block_on(self.state.docs.load_doc(id))
            .expect("load doc")?;
        Some(
            stored
                .load(&actor_for(&Uuid::nil()))
                .expect("server doc loads"),
        )
    }

    pub fn status(&self, id: Uuid) -> Option<String> {
        self.projection(id).and_then(|p| p.fields.status)
    }

    pub fn projection(&self, id: Uuid) -> Option<Projection> {
        self.rt
            .block_on(self.state.docs.projection(id))
            .expect("projection")
    }

    pub fn origins(&self, id: Uuid) -> Vec<(Seq, Origin)> {
        self.rt
            .block_on(self.state.docs.origins(id))
            .expect("origins")
    }

    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = self
                .rt
                .block_on(running.shutdown(Duration::from_millis(200)));
        }
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A phone: its own store file, logged in and registered with the server.
pub struct Device {
    pub store: Store,
    pub client: SyncClient,
    pub principal: Principal,
    pub token: String,
    _dir: tempfile::TempDir,
}

impl Device {
    pub fn login(server: &TestServer, username: &str) -> Device {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::open(dir.path().join("device.sqlite3")).expect("store opens");
        let (client, info) =
            SyncClient::login(&server.base, username, &password_of(username)).expect("login");
        let principal = info.principal();
        store.set_principal(Some(&principal)).expect("principal");
        client
            .register_device(store.evidence_signer(), &format!("{username}'s phone"))
            .expect("device registers");
        Device {
            store,
            client,
            principal,
            token: info.token,
            _dir: dir,
        }
    }

    pub fn sync(&mut self, now: Millis) -> SyncReport {
        self.client.sync(&mut self.store, now).expect("sync")
    }

    pub fn case(&self, id: Uuid) -> CaseDoc {
        CaseDoc::open(self.store.load_doc(id).expect("doc on device")).expect("a case")
    }

    /// Appends through the device's checked path and saves.
    pub fn act(&mut self, id: Uuid, event: CaseEvent, at: Millis) {
        let mut case = self.case(id);
        case.append(&self.principal, &event, Uuid::now_v7(), at)
            .unwrap_or_else(|e| panic!("{:?} may append {event:?}: {e}", self.principal.role));
        self.save(case.doc_mut());
    }

    /// Saves a case with the photo files it references in one durable capture, as the
    /// app does when the person takes a photo.
    pub fn capture(&mut self, case: &mut CaseDoc, photos: &[(&str, &[u8])]) {
        let listing = listing_for(case.doc()).expect("listing");
        let files: Vec<NewPhoto<'_>> = photos
            .iter()
            .map(|(sha256, bytes)| NewPhoto { sha256, bytes })
            .collect();
        self.store
            .capture(case.doc_mut(), &listing, &files)
            .expect("capture");
    }

    pub fn save(&mut self, doc: &mut Doc) {
        let listing = listing_for(doc).expect("listing");
        self.store.save_doc(doc, &listing).expect("save");
    }

    /// Attaches a photo reference (no bytes) of `stage`, returning its hash.
    pub fn photo(&mut self, id: Uuid, stage: EvidenceStage, label: &str, at: Millis) -> String {
        let hash = sha256_hex(label.as_bytes());
        let mut case = self.case(id);
        let placed = signed(&self.store, id, &hash, evidence(stage, &self.principal, at));
        case.add_evidence(&self.principal, &hash, &placed)
            .expect("photo attaches");
        self.save(case.doc_mut());
        hash
    }

    pub fn status(&self, id: Uuid) -> String {
        self.store
            .listing(id)
            .expect("listing")
            .expect("listed")
            .listing
            .status
    }

    /// Event ids in fold order.
    pub fn event_ids(&self, id: Uuid) -> Vec<Uuid> {
        self.store
            .load_doc(id)
            .expect("doc")
            .events()
            .expect("events")
            .iter()
            .map(|e| e.id)
            .collect()
    }
}

/// `evidence` signed with `store`'s device key as photo `hash` of document `doc`, as the
/// app signs every capture.
pub fn signed(store: &Store, doc: Uuid, hash: &str, evidence: Evidence) -> Evidence {
    store
        .evidence_signer()
        .seal(doc, hash, evidence)
        .expect("evidence signs")
}

pub fn evidence(stage: EvidenceStage, by: &Principal, at: Millis) -> Evidence {
    Evidence::new(stage, at, Some(POSITION), &by.user_id)
}

/// A 暴露垃圾 report in `grid_cell` by the device's inspector, saved on the device.
/// A 暴露垃圾 (20102) case at [`POSITION`] with one before-photo.
fn new_case(id: Uuid, grid_cell: &str, at: Millis, before: (String, Evidence)) -> NewCase {
    NewCase {
        id,
        event_id: Uuid::now_v7(),
        at,
        category: "20102".into(),
        position: POSITION,
        grid_cell: grid_cell.into(),
        description: Some("垃圾堆在路边".into()),
        address: Some("朝阳区三里屯路 19 号".into()),
        report: Reported::default(),
        before_photos: vec![before],
    }
}

/// A case reported in `grid_cell`, its before-photo referenced but no file kept.
pub fn report_case(device: &mut Device, grid_cell: &str, at: Millis) -> Uuid {
    let id = Uuid::now_v7();
    let hash = sha256_hex(format!("before {id}").as_bytes());
    let placed = evidence(EvidenceStage::Before, &device.principal, at);
    let before = (hash.clone(), signed(&device.store, id, &hash, placed));
    let new = new_case(id, grid_cell, at, before);
    let mut case = CaseDoc::create(&device.principal, device.store.actor(), new).expect("report");
    device.save(case.doc_mut());
    id
}

/// A case reported in [`GRID`] with the photo `jpeg` (at address `hash`) as its
/// before-photo, captured with the file like the app does.
pub fn report_with_photo(
    device: &mut Device,
    at: Millis,
    hash: &str,
    jpeg: &[u8],
    before: Evidence,
) -> Uuid {
    let id = Uuid::now_v7();
    let before = signed(&device.store, id, hash, before);
    let new = new_case(id, GRID, at, (hash.to_owned(), before));
    let mut case = CaseDoc::create(&device.principal, device.store.actor(), new).expect("report");
    device.capture(&mut case, &[(hash, jpeg)]);
    id
}

pub fn register() -> CaseEvent {
    CaseEvent::Registered(Registered::default())
}

pub fn dispatch(unit: &str) -> CaseEvent {
    CaseEvent::Dispatched(Dispatched {
        unit: unit.into(),
        note: None,
    })
}

pub fn accept() -> CaseEvent {
    CaseEvent::Accepted(Empty {})
}

pub fn handled(photo: &str) -> CaseEvent {
    CaseEvent::Handled(Handled {
        note: Some("清理完毕".into()),
        photos: vec![photo.into()],
    })
}

pub fn verification(photo: &str) -> CaseEvent {
    CaseEvent::VerificationSubmitted(VerificationSubmitted {
        fixed: true,
        note: None,
        photos: vec![photo.into()],
    })
}

pub fn minutes(n: i64) -> Millis {
    T0 + n * MINUTE
}

/// `<repo>/../shared/photos` (or `FIELDLOOP_PHOTOS`); when absent, a failure under CI
/// and a recorded skip (`None`) locally.
pub fn shared_photos(test: &str) -> Option<PathBuf> {
    fieldloop_testdata::photos_dir(test)
}
