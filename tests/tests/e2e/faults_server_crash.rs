//! Issue 12 §1 (server part): the real `fieldloop-server serve` binary, on the embedded
//! store and on PostgreSQL + S3, is SIGKILLed at random moments while five phones sync,
//! report, dispatch, handle and verify against it and its scheduler writes 预警 / 超期.
//!
//! After each kill, on the storage the dead server left: every change a phone holds as
//! acknowledged is there; no document the phones did not report and none twice; no event
//! twice; at most one verdict per verification and one 预警 / 超期 / escalation per case.
//! After each restart the phones sync to quiet and hold the same heads of every case.
//! At the end, with everything synced: exactly one verdict per verification and exactly
//! one 预警 and one 超期 per dispatched case.
//!
//! `FIELDLOOP_SERVER_KILLS` kills per backend (default 5 embedded, 3 on PostgreSQL + S3);
//! the figure is 50 (RELIABILITY.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fieldloop_tests::faults::proxy::Draws;
use fieldloop_tests::faults::server_crash::{check_storage, create_people, Crew, Tally};
use fieldloop_tests::faults::server_process::{runtime, Deployment};
use fieldloop_tests::faults::Backend;

fn kills(default: usize) -> usize {
    std::env::var("FIELDLOOP_SERVER_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn killed_under_sync_load(backend: Backend, kills: usize) {
    let Some(deployment) = Deployment::new(backend) else {
        return;
    };
    let started = Instant::now();
    let rt = runtime();
    create_people(&deployment, &rt);
    let base = deployment.base();
    let server = deployment.serve();
    let mut crew = Crew::log_in(&base);
    let mut draws = Draws::new(0x5e7e_0001);
    let mut server = Some(server);
    let mut last = Tally::default();
    for kill in 1..=kills {
        let running = server.take().unwrap_or_else(|| deployment.serve());
        // The phones work; the server dies under them after 0.3 to 3 s.
        let stop = AtomicBool::new(false);
        let after = Duration::from_millis(300 + draws.below(2700) as u64);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(after);
                running.kill();
                // A moment of failing requests against the dead server, then stop.
                std::thread::sleep(Duration::from_millis(100));
                stop.store(true, Ordering::SeqCst);
            });
            crew.work(&base, &stop);
        });
        let state = deployment.open_state(&rt);
        last = check_storage(&state, &rt, &crew, false)
            .unwrap_or_else(|e| panic!("{backend:?}, after kill {kill}: {e}"));
        drop(state);
        // Back up: the phones catch up and agree.
        let restarted = deployment.serve();
        crew.settle(&base, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{backend:?}, after restart {kill}: {e}"));
        crew.converged().unwrap_or_else(|e| {
            let server_side = e
                .case
                .map(|case| server_view(&deployment, &rt, &crew, case))
                .unwrap_or_default();
            panic!("{backend:?}, after restart {kill}: {e}\n{server_side}")
        });
        server = Some(restarted);
    }
    // The end: the phones work on without kills until the referee has judged a case (a
    // short run may not have got that far), the scheduler has had its rounds (its lease
    // may wait for the dead holder's to run out); then settle, stop, and count exactly.
    for _ in 0..8 {
        if crew.verdict_seen() {
            break;
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_secs(4));
                stop.store(true, Ordering::SeqCst);
            });
            crew.work(&base, &stop);
        });
    }
    std::thread::sleep(Duration::from_secs(4));
    let settle = crew
        .settle(&base, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{backend:?}, final settle: {e}"));
    crew.converged()
        .unwrap_or_else(|e| panic!("{backend:?}, final: {e}"));
    if let Some(running) = server.take() {
        running.kill();
    }
    let state = deployment.open_state(&rt);
    let tally = check_storage(&state, &rt, &crew, true)
        .unwrap_or_else(|e| panic!("{backend:?}, final: {e}\n{}", deployment.log_tail()));
    let (syncs, cut) = crew.syncs();
    println!(
        "{backend:?}: {kills} server SIGKILLs survived in {:.1} s; {syncs} syncs completed, \
         {cut} cut by a kill; final settle {settle} passes; {tally:?} (after the last kill: \
         {last:?})",
        started.elapsed().as_secs_f64()
    );
    assert!(tally.cases >= 5, "the phones reported cases: {tally:?}");
    assert!(
        tally.warnings > 0 && tally.overdue > 0,
        "the scheduler wrote deadline events: {tally:?}"
    );
    assert!(tally.verdicts > 0, "the referee wrote verdicts: {tally:?}");
}

/// What the server holds of the case a convergence failure names: each change's sequence
/// number and sender, the document's heads, and the heads the server believes each phone
/// has. The server keeps running meanwhile; the embedded database is read beside it.
fn server_view(
    deployment: &Deployment,
    rt: &tokio::runtime::Runtime,
    crew: &Crew,
    id: uuid::Uuid,
) -> String {
    let state = deployment.open_state(rt);
    let hex = |h: &[u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut out = format!(
        "server side of {id}: head seq {:?}\n  changes (seq, user, device, arrived): {:?}\n",
        rt.block_on(state.docs.head_seq()),
        rt.block_on(state.docs.origins(id))
    );
    if let Ok(Some(stored)) = rt.block_on(state.docs.load_doc(id)) {
        let actor = fieldloop_core::doc::actor_for(&uuid::Uuid::nil());
        let heads = stored.load(&actor).map(|mut d| {
            let mut h = fieldloop_core::doc::heads_to_hex(&d.heads());
            h.sort();
            h
        });
        out += &format!("  heads {heads:?}, last seq {}\n", stored.last_seq);
    }
    for (user, device) in crew.devices() {
        let known = rt.block_on(state.docs.device_heads(device.clone(), vec![id]));
        let known = known.map(|rows| {
            rows.into_iter()
                .flat_map(|(_, heads)| heads.iter().map(hex).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        });
        out += &format!("  believed held by {user} ({device}): {known:?}\n");
    }
    out
}

#[test]
fn the_server_killed_under_sync_load_loses_and_repeats_nothing() {
    killed_under_sync_load(Backend::Embedded, kills(5));
}

#[test]
fn the_server_on_postgres_and_s3_killed_under_sync_load_loses_and_repeats_nothing() {
    killed_under_sync_load(Backend::PgS3, kills(3));
}

/// The window the kills above rarely hit: a server that stored a verification and died
/// before judging it. Here the verification is stored straight through the storage trait
/// (as the dead server left it, no reaction run) and its photo is already held, so no
/// later upload wakes the referee: the scheduler's next tick writes the verdict, once.
#[test]
fn a_verification_stored_but_never_judged_gets_its_verdict_from_the_next_tick() {
    use fieldloop_core::doc::EvidenceStage;
    use fieldloop_core::sync::upload::{upload_pending, RetryPolicy};
    use fieldloop_server::referee;
    use fieldloop_tests::faults::{photos, report};
    use fieldloop_tests::*;

    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    let mut dispatcher = Device::login(&server, "dispatcher");
    let mut handler = Device::login(&server, "handler");
    let upload = |device: &mut Device| {
        let report = upload_pending(&device.client, &mut device.store, &RetryPolicy::default())
            .expect("upload");
        assert!(report.failed.is_empty(), "{:?}", report.failed);
    };
    let (before, after) = (photos::photo(0), photos::photo(1));
    server.clock.set(minutes(0));
    let principal = inspector.principal.clone();
    let (id, _) = report(&mut inspector.store, &principal, minutes(0), before).expect("report");
    inspector.sync(minutes(0));
    upload(&mut inspector);
    dispatcher.sync(minutes(1));
    dispatcher.act(id, register(), minutes(1));
    dispatcher.sync(minutes(1));
    assert_eq!(server.status(id).as_deref(), Some("dispatched"));
    handler.sync(minutes(2));
    handler.act(id, accept(), minutes(2));
    let mut case = handler.case(id);
    let placed = signed(
        &handler.store,
        id,
        &after.hash,
        evidence(EvidenceStage::After, &handler.principal, minutes(3)),
    );
    case.add_evidence(&handler.principal, &after.hash, &placed)
        .expect("evidence");
    case.append(
        &handler.principal,
        &handled(&after.hash),
        uuid::Uuid::now_v7(),
        minutes(3),
    )
    .expect("handled");
    handler.capture(&mut case, &[(&after.hash, &after.jpeg[..])]);
    handler.sync(minutes(3));
    upload(&mut handler);

    // The inspector verifies with a photo that reaches the server before the change does.
    inspector.sync(minutes(4));
    let check = photos::photo(2);
    server.clock.set(minutes(5));
    let mut case = inspector.case(id);
    let placed = signed(
        &inspector.store,
        id,
        &check.hash,
        evidence(
            EvidenceStage::Verification,
            &inspector.principal,
            minutes(5),
        ),
    );
    case.add_evidence(&inspector.principal, &check.hash, &placed)
        .expect("evidence");
    case.append(
        &inspector.principal,
        &verification(&check.hash),
        uuid::Uuid::now_v7(),
        minutes(5),
    )
    .expect("verification");
    inspector.capture(&mut case, &[(&check.hash, &check.jpeg[..])]);
    upload(&mut inspector);
    store_unreacted(&server, &inspector, id, minutes(5));
    let verdicts = || events_of(&server, id, "case.verdict");
    assert_eq!(server.status(id).as_deref(), Some("verification_submitted"));
    assert_eq!(verdicts(), 0, "nothing judged it yet");
    for _ in 0..2 {
        server
            .runtime()
            .block_on(referee::tick(&server.state, minutes(6)))
            .expect("tick");
    }
    assert_eq!(verdicts(), 1, "the tick judged it, once");
}

/// Stores what `device` changed in case `id` beyond the server's copy straight through
/// the storage trait, as a server killed right after its commit left it: no reaction ran.
/// How many events of `kind` the server's copy of `id` holds.
fn events_of(server: &fieldloop_tests::TestServer, id: uuid::Uuid, kind: &str) -> usize {
    server
        .doc(id)
        .expect("doc")
        .events()
        .expect("events")
        .iter()
        .filter(|e| e.kind == kind)
        .count()
}

fn store_unreacted(
    server: &fieldloop_tests::TestServer,
    device: &fieldloop_tests::Device,
    id: uuid::Uuid,
    at: fieldloop_core::time::Millis,
) {
    use fieldloop_core::doc::DocKind;
    use fieldloop_server::projection::projection_of;
    use fieldloop_server::storage::{NewChange, Origin};

    let mut server_copy = server.doc(id).expect("server copy");
    let mut local = device.store.load_doc(id).expect("local copy");
    let bytes = local.save_after(&server_copy.heads());
    server_copy
        .load_changes(&bytes)
        .expect("the change applies");
    let snapshot = server_copy.snapshot().expect("snapshot");
    let change = NewChange {
        doc_id: id,
        kind: DocKind::Case,
        bytes,
        origin: Origin {
            user_id: device.principal.user_id.clone(),
            device_id: None,
            arrived_at: at,
        },
        projection: projection_of(&snapshot, &server.state.reference.current()),
        blob_refs: snapshot.evidence.keys().cloned().collect(),
        audit: Vec::new(),
        snapshot: fieldloop_server::storage::snapshots::encode(&snapshot),
    };
    server
        .runtime()
        .block_on(server.state.docs.append_change(change))
        .expect("stored as the dead server left it");
}

/// The other window: a server that stored a dispatcher's registration and died before
/// its reaction dispatched the case by the responsibility matrix. The registration is
/// stored straight through the storage trait; the next tick dispatches it, once. A case
/// held as a possible duplicate, registered beside it, waits for the dispatcher: the
/// tick's scan does not even list it (so it is not reloaded every tick).
#[test]
fn a_registration_stored_but_never_dispatched_is_dispatched_by_the_next_tick_once() {
    use fieldloop_server::{judging, referee};
    use fieldloop_tests::faults::{photos, report};
    use fieldloop_tests::*;

    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    let mut dispatcher = Device::login(&server, "dispatcher");
    let principal = inspector.principal.clone();
    server.clock.set(minutes(0));
    let (lost, _) = report(
        &mut inspector.store,
        &principal,
        minutes(0),
        photos::photo(0),
    )
    .expect("report");
    inspector.sync(minutes(0));
    // Same category, same place: the referee holds it as a possible duplicate of `lost`.
    let (held, _) = report(
        &mut inspector.store,
        &principal,
        minutes(1),
        photos::photo(1),
    )
    .expect("report");
    inspector.sync(minutes(1));
    dispatcher.sync(minutes(2));
    dispatcher.act(held, register(), minutes(2));
    dispatcher.sync(minutes(2));
    assert_eq!(server.status(held).as_deref(), Some("registered"), "held");
    dispatcher.act(lost, register(), minutes(3));
    store_unreacted(&server, &dispatcher, lost, minutes(3));

    let dispatches = |id| events_of(&server, id, "case.dispatched");
    assert_eq!(server.status(lost).as_deref(), Some("registered"));
    assert_eq!(dispatches(lost), 0, "nothing dispatched it yet");
    let owed = || {
        server
            .runtime()
            .block_on(judging::dispatch_owed(&server.state))
            .expect("scan")
    };
    assert_eq!(owed(), vec![lost], "only the lost dispatch is owed");
    for _ in 0..2 {
        server
            .runtime()
            .block_on(referee::tick(&server.state, minutes(4)))
            .expect("tick");
    }
    assert_eq!(dispatches(lost), 1, "the tick dispatched it, once");
    assert_eq!(server.status(lost).as_deref(), Some("dispatched"));
    assert_eq!(
        dispatches(held),
        0,
        "the held case waits for the dispatcher"
    );
    assert_eq!(server.status(held).as_deref(), Some("registered"));
    assert!(owed().is_empty(), "nothing owed after the tick");
    dispatcher.sync(minutes(5));
    assert_eq!(
        dispatcher.status(lost),
        "dispatched",
        "the phone hears of it"
    );
}
