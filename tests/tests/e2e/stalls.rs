//! Verdicts never stall and the scheduler never halts (issue 9 §2): a photo the server
//! refused, an evidence key that is no content address, a river segment the server does
//! not know and a document the scheduler cannot read each end in a readable answer or a
//! logged, counted failure, never in a silent wait.

use fieldloop_core::doc::{Doc, DocKind, DocScope, Event, EvidenceStage, Header, SCHEMA_VERSION};
use fieldloop_core::geo::Fix;
use fieldloop_core::patrol::{self, PatrolKind, Started, TrackPoints};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::{DAY, MINUTE};
use fieldloop_server::storage::{NewChange, Origin, ProjectionFields};
use fieldloop_tests::*;
use uuid::Uuid;

use crate::referee::{dispatched_case, photo, street, upload, verdict_checks, verify};

fn put_blob(server: &TestServer, token: &str, hash: &str, bytes: &[u8]) -> reqwest::StatusCode {
    reqwest::blocking::Client::new()
        .put(format!("{}/v1/blobs/{hash}", server.base))
        .bearer_auth(token)
        .body(bytes.to_vec())
        .send()
        .expect("put")
        .status()
}

#[test]
fn a_photo_the_server_refused_fails_the_verdict_instead_of_waiting_for_good() {
    let mut s = street();
    let id = dispatched_case(&mut s, &photo(21, 90));
    s.server.clock.set(minutes(30));
    s.handler.sync(minutes(30));
    s.handler.act(id, accept(), minutes(30));
    // The handler's phone references a file that is no picture at all.
    let broken = b"not a photo: the camera app wrote garbage".to_vec();
    let hash = s.handler.photo(
        id,
        EvidenceStage::After,
        std::str::from_utf8(&broken).expect("text"),
        minutes(31),
    );
    s.handler.act(id, handled(&hash), minutes(31));
    s.handler.sync(minutes(31));
    verify(&mut s, id, &photo(22, 90), minutes(60));
    upload(&mut s.inspector);
    assert_eq!(
        s.server.status(id).as_deref(),
        Some("verification_submitted"),
        "waits for the after-photo"
    );

    // Someone else's bad bytes at that address prove nothing against the handler.
    let by_other = put_blob(&s.server, &s.inspector.token, &hash, &broken);
    assert_eq!(by_other, 400);
    assert_eq!(
        s.server.status(id).as_deref(),
        Some("verification_submitted")
    );

    let refused = put_blob(&s.server, &s.handler.token, &hash, &broken);
    assert_eq!(refused, 400, "the server refuses a file that is no image");
    assert_eq!(
        s.server.status(id).as_deref(),
        Some("rework"),
        "the refusal is the answer: the verdict comes"
    );
    let checks = verdict_checks(&s, id);
    let uploads = checks
        .iter()
        .find(|c| c.0 == "uploads")
        .expect("uploads check");
    assert!(!uploads.1, "{checks:?}");
    assert!(
        uploads.2.contains(&hash[..8]) && uploads.2.contains("不是可读的图片"),
        "a reason in Chinese naming the photo: {}",
        uploads.2
    );
    s.handler.sync(minutes(61));
    assert_eq!(s.handler.status(id), "rework", "the phone shows it");
}

#[test]
fn an_evidence_key_that_is_no_content_address_is_judged_not_waited_for() {
    let mut s = street();
    s.server.clock.set(minutes(0));
    let before = photo(23, 90);
    let placed = crate::referee::at(POSITION, &s.inspector, EvidenceStage::Before, minutes(0));
    let id = report_with_photo(
        &mut s.inspector,
        minutes(0),
        &before.hash,
        &before.jpeg,
        placed.clone(),
    );
    // A buggy phone stores a file name where the content hash belongs.
    let mut doc = s.inspector.store.load_doc(id).expect("doc");
    doc.add_evidence("IMG_0042.jpg", &placed)
        .expect("raw evidence");
    s.inspector.save(&mut doc);
    s.inspector.sync(minutes(0));
    upload(&mut s.inspector);

    s.server.clock.set(minutes(5));
    s.dispatcher.sync(minutes(5));
    s.dispatcher.act(id, register(), minutes(5));
    s.dispatcher.sync(minutes(5));
    assert_eq!(
        s.server.status(id).as_deref(),
        Some("dispatched"),
        "the server's own writes do not fail on the bad key"
    );

    s.server.clock.set(minutes(30));
    s.handler.sync(minutes(30));
    s.handler.act(id, accept(), minutes(30));
    let after = photo(24, 90);
    crate::referee::act_with_photo(
        &mut s.handler,
        id,
        handled(&after.hash),
        &after,
        EvidenceStage::After,
        minutes(31),
        POSITION,
    );
    s.handler.sync(minutes(31));
    upload(&mut s.handler);
    verify(&mut s, id, &photo(25, 90), minutes(60));
    upload(&mut s.inspector);
    assert_eq!(s.server.status(id).as_deref(), Some("rework"));
    let checks = verdict_checks(&s, id);
    let uploads = checks
        .iter()
        .find(|c| c.0 == "uploads")
        .expect("uploads check");
    assert!(
        !uploads.1 && uploads.2.contains("IMG_0042"),
        "the bad key is named: {checks:?}"
    );
}

#[test]
fn a_river_patrol_on_a_segment_the_server_does_not_know_is_told_why() {
    let server = TestServer::start();
    server.add_user(
        "chief",
        Role::RiverChief,
        Jurisdiction {
            segments: vec!["no-such-river".into()],
            ..Jurisdiction::default()
        },
    );
    let mut chief = Device::login(&server, "chief");
    let id = Uuid::now_v7();
    let header = Header {
        id,
        kind: DocKind::Patrol,
        schema: SCHEMA_VERSION,
        created_by: chief.principal.user_id.clone(),
        created_role: Role::RiverChief,
        created_at: minutes(0),
        position: None,
        category: None,
        scope: DocScope {
            segment: Some("no-such-river".into()),
            ..DocScope::default()
        },
    };
    let mut doc = Doc::create(&header, chief.store.actor()).expect("create");
    let by = chief.principal.user_id.clone();
    let event =
        |kind: &str, at, data| Event::new(Uuid::now_v7(), kind, at, &by, Role::RiverChief, data);
    let fixes: Vec<Fix> = (0..30)
        .map(|i| Fix {
            t: minutes(1) + i * MINUTE,
            lat: POSITION.lat + i as f64 * 0.0003,
            lon: POSITION.lon,
            accuracy_m: 5.0,
            mock: false,
        })
        .collect();
    for e in [
        event(
            patrol::STARTED,
            minutes(0),
            serde_json::to_value(Started {
                kind: PatrolKind::River,
                assigned_cells: vec![],
                segment: Some("no-such-river".into()),
            })
            .expect("json"),
        ),
        event(
            patrol::TRACK_POINTS,
            minutes(31),
            serde_json::to_value(TrackPoints { fixes }).expect("json"),
        ),
        event(patrol::ENDED, minutes(32), serde_json::Value::Null),
    ] {
        doc.append_event(&e).expect("append");
    }
    chief.save(&mut doc);
    server.clock.set(minutes(33));
    chief.sync(minutes(33));
    let judged = patrol::fold(&server.doc(id).expect("doc").snapshot().expect("snapshot"));
    let verdict = judged
        .verdict
        .expect("a verdict, not a silent wait for reference data");
    assert!(!verdict.valid);
    assert!(
        verdict
            .reasons
            .iter()
            .any(|r| r.contains("no-such-river") && r.contains("河段")),
        "{verdict:?}"
    );
}

#[test]
fn a_document_the_scheduler_cannot_read_does_not_stop_the_others() {
    let mut s = street();
    let id = dispatched_case(&mut s, &photo(26, 90));
    // A stored case whose bytes are not an automerge document (a torn write, a bug).
    let broken = Uuid::now_v7();
    let rt = s.server.runtime();
    rt.block_on(s.server.state.docs.append_change(NewChange {
        doc_id: broken,
        kind: DocKind::Case,
        bytes: b"these bytes are no automerge change".to_vec(),
        origin: Origin {
            user_id: "inspector".into(),
            device_id: None,
            arrived_at: minutes(6),
        },
        projection: ProjectionFields {
            status: Some("dispatched".into()),
            band: Some("green".into()),
            ..ProjectionFields::default()
        },
        blob_refs: vec![],
        audit: Vec::new(),
        snapshot: None,
    }))
    .expect("stored");

    let later = minutes(0) + 7 * DAY;
    s.server.clock.set(later);
    let written = rt
        .block_on(fieldloop_server::referee::tick(&s.server.state, later))
        .expect("the tick goes on past the broken document");
    assert!(written.events >= 1, "the good case is marked: {written:?}");
    assert!(
        written.failed >= 1,
        "the broken one is counted: {written:?}"
    );
    assert!(s.server.state.judging.failures() >= 1);
    let kinds: Vec<String> = s
        .server
        .doc(id)
        .expect("doc")
        .events()
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "case.overdue"), "{kinds:?}");
    // Retried, and counted again, on the next tick: never forgotten, never fatal.
    let again = rt
        .block_on(fieldloop_server::referee::tick(&s.server.state, later))
        .expect("tick");
    assert_eq!(again.events, 0);
    assert!(again.failed >= 1);
}
