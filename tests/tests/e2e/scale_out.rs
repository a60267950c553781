//! A province's deployment in miniature: two server instances on one PostgreSQL database
//! and one S3 bucket, phones spread across both. Every phone converges; a case gets one
//! verdict per verification and one 超期 however many writers race; the scheduler runs on
//! one instance and moves to the other when that one dies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldloop_core::case::CaseEvent;
use fieldloop_core::doc::EvidenceStage;
use fieldloop_core::store::sha256_hex;
use fieldloop_core::sync::upload::{upload_pending, RetryPolicy};
use fieldloop_core::time::DAY;
use fieldloop_server::clock::ManualClock;
use fieldloop_server::referee;
use fieldloop_server::scheduler::{self, SCHEDULER_LEASE};
use fieldloop_server::storage::s3_blobs::S3Settings;
use fieldloop_tests::services::{PgCluster, S3Server};
use fieldloop_tests::*;
use uuid::Uuid;

/// Short enough that a handover is quick, long enough for a loaded CI machine.
const ROUND: Duration = Duration::from_millis(500);

fn upload(device: &mut Device) {
    let report =
        upload_pending(&device.client, &mut device.store, &RetryPolicy::default()).expect("upload");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
}

/// Appends `event` with the photo `bytes` captured beside it, as the app does.
fn act_with_photo(
    device: &mut Device,
    id: Uuid,
    event: CaseEvent,
    bytes: &[u8],
    stage: EvidenceStage,
    at: i64,
) {
    let hash = sha256_hex(bytes);
    let mut case = device.case(id);
    case.add_evidence(
        &device.principal,
        &hash,
        &evidence(stage, &device.principal, at),
    )
    .expect("evidence");
    case.append(&device.principal, &event, Uuid::now_v7(), at)
        .expect("event allowed");
    device.capture(&mut case, &[(&hash, bytes)]);
}

fn kinds(server: &TestServer, id: Uuid) -> Vec<String> {
    server
        .doc(id)
        .expect("server doc")
        .events()
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

fn holder(server: &TestServer) -> Option<String> {
    server
        .runtime()
        .block_on(server.state.leases.lease_holder(SCHEDULER_LEASE))
        .expect("lease")
}

#[test]
fn two_instances_on_one_database_and_bucket_converge_judge_once_and_hand_over_the_scheduler() {
    let Some(cluster) = PgCluster::shared() else {
        return;
    };
    let Some(bucket) = S3Server::start() else {
        return;
    };
    let blobs = format!("s3://{}", bucket.bucket);
    two_instances(&cluster, &blobs, &bucket.settings());
}

/// The same deployment with its photos in one directory both instances mount.
#[test]
fn two_instances_on_one_database_and_shared_photo_files_behave_the_same() {
    let Some(cluster) = PgCluster::shared() else {
        return;
    };
    let shared = tempfile::tempdir().expect("temp dir");
    let blobs = shared.path().join("blobs").display().to_string();
    two_instances(&cluster, &blobs, &S3Settings::default());
}

fn two_instances(cluster: &PgCluster, blobs: &str, s3: &S3Settings) {
    let Some(photos) = shared_photos("scale_out::two_instances") else {
        return;
    };
    let database = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(cluster.fresh_database());
    let read = |name: &str| std::fs::read(photos.join(name)).expect("photo readable");
    let (before, after, check) = (
        read("coolpix-gps-a.jpg"),
        read("coolpix-gps-b.jpg"),
        read("jolla-phone-8mp.jpg"),
    );

    let clock = Arc::new(ManualClock::new(T0));
    let a = TestServer::start_on(&database, blobs, s3, clock.clone());
    let b = TestServer::start_on(&database, blobs, s3, clock.clone());
    a.add_street_people();
    // A's scheduler starts first and takes the lease; B's waits behind it.
    let scheduler_a = {
        let _inside = a.runtime().enter();
        scheduler::spawn_scheduler_as(
            a.state.clone(),
            "instance-a".into(),
            ROUND,
            std::future::pending(),
        )
    };
    wait_for("A takes the lease", Duration::from_secs(10), || {
        holder(&a).as_deref() == Some("instance-a")
    });
    let _scheduler_b = {
        let _inside = b.runtime().enter();
        scheduler::spawn_scheduler_as(
            b.state.clone(),
            "instance-b".into(),
            ROUND,
            std::future::pending(),
        )
    };

    // Phones on both instances.
    let mut inspector = Device::login(&a, "inspector");
    let mut dispatcher = Device::login(&b, "dispatcher");
    let mut handler = Device::login(&a, "handler");
    let mut checker = Device::login(&b, "inspector");

    clock.set(minutes(0));
    let before_hash = sha256_hex(&before);
    let placed = evidence(EvidenceStage::Before, &inspector.principal, minutes(0));
    let judged = report_with_photo(&mut inspector, minutes(0), &before_hash, &before, placed);
    let late: Vec<Uuid> = (0..2)
        .map(|i| report_case(&mut inspector, GRID, minutes(1 + i)))
        .collect();
    inspector.sync(minutes(2));
    upload(&mut inspector);

    // Registered through B: B's referee dispatches by the matrix, A sees it at once.
    clock.set(minutes(5));
    dispatcher.sync(minutes(5));
    for id in std::iter::once(judged).chain(late.iter().copied()) {
        dispatcher.act(id, register(), minutes(5));
    }
    dispatcher.sync(minutes(5));
    // Same place, same category, minutes apart: the later reports wait as possible
    // duplicates (疑似重复) until the dispatcher keeps them; then B's referee dispatches.
    let held: Vec<Uuid> = std::iter::once(judged)
        .chain(late.iter().copied())
        .filter(|id| a.status(*id).as_deref() == Some("registered"))
        .collect();
    assert!(held.len() < 3, "the first report is nobody's duplicate");
    for id in &held {
        let keep = CaseEvent::DuplicateKept(fieldloop_core::case::events::Reason {
            reason: "另一处问题".into(),
        });
        dispatcher.act(*id, keep, minutes(5));
    }
    dispatcher.sync(minutes(5));
    for id in std::iter::once(judged).chain(late.iter().copied()) {
        assert_eq!(a.status(id).as_deref(), Some("dispatched"), "{id}");
    }

    // Handled through A with its after-photo in the bucket; verified through B.
    clock.set(minutes(30));
    handler.sync(minutes(30));
    handler.act(judged, accept(), minutes(30));
    act_with_photo(
        &mut handler,
        judged,
        handled(&sha256_hex(&after)),
        &after,
        EvidenceStage::After,
        minutes(31),
    );
    handler.sync(minutes(31));
    upload(&mut handler);
    clock.set(minutes(60));
    checker.sync(minutes(60));
    act_with_photo(
        &mut checker,
        judged,
        verification(&sha256_hex(&check)),
        &check,
        EvidenceStage::Verification,
        minutes(60),
    );
    checker.sync(minutes(60));
    upload(&mut checker);
    // Both instances' referees react to the same case at the same moment.
    let (on_a, on_b) = (a.state.clone(), b.state.clone());
    let race_a = a
        .runtime()
        .spawn(async move { referee::react(&on_a, &[judged]).await });
    let race_b = b
        .runtime()
        .spawn(async move { referee::react(&on_b, &[judged]).await });
    a.runtime()
        .block_on(race_a)
        .expect("task")
        .expect("react on A");
    b.runtime()
        .block_on(race_b)
        .expect("task")
        .expect("react on B");
    let judged_kinds = kinds(&a, judged);
    assert_eq!(count(&judged_kinds, "case.verdict"), 1, "{judged_kinds:?}");
    assert_eq!(
        count(&judged_kinds, "case.closed") + count(&judged_kinds, "case.rework"),
        1,
        "{judged_kinds:?}"
    );

    // Every phone converges on the server's copy, whichever instance it talks to.
    for device in [&mut inspector, &mut dispatcher, &mut handler, &mut checker] {
        device.sync(minutes(61));
    }
    for id in std::iter::once(judged).chain(late.iter().copied()) {
        let mut server_doc = b.doc(id).expect("server doc");
        for device in [&inspector, &dispatcher, &handler, &checker] {
            if let Ok(mut copy) = device.store.load_doc(id) {
                assert_eq!(
                    copy.heads(),
                    server_doc.heads(),
                    "{id} on {:?}",
                    device.principal.role
                );
            }
        }
    }

    // A week on, the cases nobody handled are overdue: one 超期 each, though the lease
    // holder's scheduler and two manual ticks on both instances race to write it.
    let week = minutes(0) + 7 * DAY;
    clock.set(week);
    let (on_a, on_b) = (a.state.clone(), b.state.clone());
    let tick_a = a
        .runtime()
        .spawn(async move { referee::tick(&on_a, week).await });
    let tick_b = b
        .runtime()
        .spawn(async move { referee::tick(&on_b, week).await });
    a.runtime()
        .block_on(tick_a)
        .expect("task")
        .expect("tick on A");
    b.runtime()
        .block_on(tick_b)
        .expect("task")
        .expect("tick on B");
    std::thread::sleep(ROUND * 3);
    for id in &late {
        let found = kinds(&a, *id);
        assert_eq!(count(&found, "case.overdue"), 1, "{found:?}");
    }

    // Instance A dies without a word: B takes the scheduler over within a minute.
    assert_eq!(holder(&b).as_deref(), Some("instance-a"));
    scheduler_a.abort();
    drop(a);
    let handover = wait_for("B takes the scheduler", Duration::from_secs(60), || {
        holder(&b).as_deref() == Some("instance-b")
    });
    println!("scheduler moved to instance B {handover:?} after instance A died");

    // And B's scheduler does the work: a case dispatched now goes overdue on B alone.
    let mut inspector_b = Device::login(&b, "inspector");
    let fresh = report_case(&mut inspector_b, GRID, week);
    inspector_b.sync(week);
    dispatcher.sync(week);
    dispatcher.act(fresh, register(), week);
    dispatcher.sync(week);
    clock.set(week + 7 * DAY);
    wait_for(
        "B writes the new case's 超期",
        Duration::from_secs(30),
        || count(&kinds(&b, fresh), "case.overdue") == 1,
    );
}
