//! The referee over real sync: the server dispatches by the responsibility matrix, waits
//! for the photos a verification references, judges the case (closed, or rework with the
//! failing check), writes deadline events on its clock, and serves the evaluation.

use fieldloop_core::case::events::{Handled, VerificationSubmitted};
use fieldloop_core::case::{CaseDoc, CaseEvent};
use fieldloop_core::doc::{EvidenceStage, Position};
use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::sync::upload::{upload_pending, RetryPolicy};
use fieldloop_core::time::{Millis, DAY, MINUTE};
use fieldloop_tests::*;
use uuid::Uuid;

/// A processed JPEG of a generated scene: distinct seeds are distinct pictures.
pub(crate) struct Photo {
    pub(crate) hash: String,
    pub(crate) jpeg: Vec<u8>,
}

fn scene_jpeg(seed: u32, quality: u8) -> Vec<u8> {
    let s = seed as f32;
    let img = image::RgbImage::from_fn(960, 720, |x, y| {
        let (u, v) = (x as f32 / 960.0, y as f32 / 720.0);
        let a = ((u * (3.0 + s) + s).sin() * (v * (2.0 + 0.7 * s) - s).cos() + 1.0) * 0.5;
        let b = (((u - 0.3 * s.sin()).powi(2) + (v - 0.5).powi(2)).sqrt() * (6.0 + s)).cos();
        image::Rgb([
            (a * 255.0) as u8,
            ((b + 1.0) * 127.0) as u8,
            (v * 255.0) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&img)
        .expect("encode");
    out
}

pub(crate) fn photo(seed: u32, quality: u8) -> Photo {
    let processed = process_photo(
        &scene_jpeg(seed, quality),
        &PhotoLimits::default(),
        &ProcessOptions::default(),
    )
    .expect("processed");
    Photo {
        hash: processed.content_hash,
        jpeg: processed.jpeg,
    }
}

pub(crate) fn at(
    position: Position,
    device: &Device,
    stage: EvidenceStage,
    when: Millis,
) -> fieldloop_core::doc::Evidence {
    let mut e = evidence(stage, &device.principal, when);
    e.position = Some(position);
    e
}

/// Appends `event` with `photo` captured beside it, durably, like the app does.
pub(crate) fn act_with_photo(
    device: &mut Device,
    id: Uuid,
    event: CaseEvent,
    photo: &Photo,
    stage: EvidenceStage,
    when: Millis,
    position: Position,
) {
    let mut case: CaseDoc = device.case(id);
    let placed = signed(
        &device.store,
        id,
        &photo.hash,
        at(position, device, stage, when),
    );
    case.add_evidence(&device.principal, &photo.hash, &placed)
        .expect("evidence");
    case.append(&device.principal, &event, Uuid::now_v7(), when)
        .expect("event allowed");
    device.capture(&mut case, &[(&photo.hash, &photo.jpeg)]);
}

pub(crate) fn upload(device: &mut Device) {
    upload_pending(&device.client, &mut device.store, &RetryPolicy::default()).expect("upload");
}

pub(crate) struct Street {
    pub(crate) server: TestServer,
    pub(crate) inspector: Device,
    pub(crate) dispatcher: Device,
    pub(crate) handler: Device,
}

pub(crate) fn street() -> Street {
    let server = TestServer::with_street_people();
    let inspector = Device::login(&server, "inspector");
    let dispatcher = Device::login(&server, "dispatcher");
    let handler = Device::login(&server, "handler");
    Street {
        server,
        inspector,
        dispatcher,
        handler,
    }
}

/// Reported with `before`, registered, and dispatched by the server's matrix.
pub(crate) fn dispatched_case(s: &mut Street, before: &Photo) -> Uuid {
    dispatched_case_from(s, before, minutes(0))
}

/// [`dispatched_case`] reported at `start` instead of [`T0`] (dispatched 5 minutes on).
pub(crate) fn dispatched_case_from(s: &mut Street, before: &Photo, start: Millis) -> Uuid {
    let minutes = |n: i64| start + n * MINUTE;
    s.server.clock.set(minutes(0));
    let placed = at(POSITION, &s.inspector, EvidenceStage::Before, minutes(0));
    let id = report_with_photo(
        &mut s.inspector,
        minutes(0),
        &before.hash,
        &before.jpeg,
        placed,
    );
    s.inspector.sync(minutes(0));
    upload(&mut s.inspector);

    s.server.clock.set(minutes(5));
    s.dispatcher.sync(minutes(5));
    s.dispatcher.act(id, register(), minutes(5));
    s.dispatcher.sync(minutes(5));
    // A second case of a test at the same place waits as a possible duplicate (疑似重复)
    // until the dispatcher keeps it.
    if s.server.status(id).as_deref() == Some("registered") {
        let keep = CaseEvent::DuplicateKept(fieldloop_core::case::events::Reason {
            reason: "另一处问题".into(),
        });
        s.dispatcher.act(id, keep, minutes(5));
        s.dispatcher.sync(minutes(5));
    }
    assert_eq!(
        s.server.status(id).as_deref(),
        Some("dispatched"),
        "the server dispatches a registered case by the responsibility matrix"
    );
    id
}

/// A dispatched case, accepted and handled with `after` taken at `after_at`.
pub(crate) fn handled_case(
    s: &mut Street,
    before: &Photo,
    after: &Photo,
    after_at: Position,
) -> Uuid {
    let id = dispatched_case(s, before);

    s.server.clock.set(minutes(30));
    s.handler.sync(minutes(30));
    s.handler.act(id, accept(), minutes(30));
    let handled = CaseEvent::Handled(Handled {
        note: Some("清理完毕".into()),
        photos: vec![after.hash.clone()],
    });
    act_with_photo(
        &mut s.handler,
        id,
        handled,
        after,
        EvidenceStage::After,
        minutes(31),
        after_at,
    );
    s.handler.sync(minutes(31));
    upload(&mut s.handler);
    id
}

pub(crate) fn verify(s: &mut Street, id: Uuid, photo: &Photo, when: Millis) {
    verify_on(&s.server, &mut s.inspector, id, photo, when);
}

fn verify_on(server: &TestServer, device: &mut Device, id: Uuid, photo: &Photo, when: Millis) {
    server.clock.set(when);
    device.sync(when);
    let event = CaseEvent::VerificationSubmitted(VerificationSubmitted {
        fixed: true,
        note: None,
        photos: vec![photo.hash.clone()],
    });
    act_with_photo(
        device,
        id,
        event,
        photo,
        EvidenceStage::Verification,
        when,
        POSITION,
    );
    device.sync(when);
}

pub(crate) fn verdict_checks(s: &Street, id: Uuid) -> Vec<(String, bool, String)> {
    let doc = s.server.doc(id).expect("server doc");
    let state = fieldloop_core::case::fold(&doc.snapshot().expect("snapshot"));
    let verdict = state.last_verdict.expect("a verdict");
    verdict
        .checks
        .into_iter()
        .map(|c| (c.name, c.passed, c.reason))
        .collect()
}

#[test]
fn a_case_closes_once_its_verification_photo_arrives() {
    let mut s = street();
    let (before, after, check) = (photo(1, 90), photo(2, 90), photo(3, 90));
    let id = handled_case(&mut s, &before, &after, POSITION);
    verify(&mut s, id, &check, minutes(60));
    assert_eq!(
        s.server.status(id).as_deref(),
        Some("verification_submitted"),
        "the verdict waits for the verification photo"
    );
    upload(&mut s.inspector);
    assert_eq!(s.server.status(id).as_deref(), Some("closed"));
    assert!(verdict_checks(&s, id).iter().all(|(_, passed, _)| *passed));
    s.inspector.sync(minutes(61));
    assert_eq!(
        s.inspector.status(id),
        "closed",
        "the verdict reaches the phone"
    );
}

#[test]
fn a_far_after_photo_and_a_reused_before_photo_send_the_case_back() {
    let mut s = street();
    let before = photo(4, 90);
    // The "after" photo is the before-photo re-encoded: a different file, the same picture.
    let reused = photo(4, 60);
    assert_ne!(before.hash, reused.hash);
    let far = Position {
        lat: POSITION.lat + 0.01,
        ..POSITION
    }; // about 1.1 km north
    let id = handled_case(&mut s, &before, &reused, far);
    let check = photo(5, 90);
    verify(&mut s, id, &check, minutes(60));
    upload(&mut s.inspector);
    assert_eq!(s.server.status(id).as_deref(), Some("rework"));
    let checks = verdict_checks(&s, id);
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.1)
        .map(|c| c.0.as_str())
        .collect();
    assert!(failed.contains(&"place"), "failed checks: {checks:?}");
    assert!(failed.contains(&"reuse"), "failed checks: {checks:?}");
    let place = checks.iter().find(|c| c.0 == "place").expect("place check");
    assert!(place.2.contains(" m "), "a readable distance: {}", place.2);
}

#[test]
fn a_handler_moved_to_inspector_cannot_verify_their_own_repair() {
    let mut s = street();
    let (before, after, check) = (photo(7, 90), photo(8, 90), photo(9, 90));
    let id = handled_case(&mut s, &before, &after, POSITION);

    // The handler is moved to the street's inspection team by an admin.
    s.server.add_user(
        "admin",
        Role::Admin,
        Jurisdiction {
            everywhere: true,
            ..Jurisdiction::default()
        },
    );
    let http = reqwest::blocking::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/v1/login", s.server.base))
        .json(&serde_json::json!({"username": "admin", "password": password_of("admin")}))
        .send()
        .and_then(|r| r.json())
        .expect("admin login");
    let moved = http
        .patch(format!("{}/v1/users/handler", s.server.base))
        .bearer_auth(login["token"].as_str().expect("token"))
        .json(&serde_json::json!({
            "role": "inspector",
            "jurisdiction": { "grid_prefixes": [COMMUNITY] }
        }))
        .send()
        .expect("patch");
    assert_eq!(moved.status(), 200);

    // On their new post they verify the case they repaired themselves.
    let mut same_person = Device::login(&s.server, "handler");
    assert_eq!(same_person.principal.role, Role::Inspector);
    verify_on(&s.server, &mut same_person, id, &check, minutes(60));
    upload(&mut same_person);
    assert_eq!(s.server.status(id).as_deref(), Some("rework"));
    let checks = verdict_checks(&s, id);
    let people = checks
        .iter()
        .find(|c| c.0 == "people")
        .expect("people check");
    assert!(!people.1, "{checks:?}");
    assert!(
        !people.2.contains("moved post"),
        "the move itself is not held against them: {}",
        people.2
    );
    assert!(
        people.2.contains("both handled and verified"),
        "a readable reason: {}",
        people.2
    );
    let passed: Vec<&str> = checks
        .iter()
        .filter(|c| c.1)
        .map(|c| c.0.as_str())
        .collect();
    assert!(passed.contains(&"place"), "only people fails: {checks:?}");
    assert!(passed.contains(&"reuse"), "only people fails: {checks:?}");
}

#[test]
fn the_scheduler_writes_overdue_once_and_the_evaluation_counts_it() {
    let mut s = street();
    let id = dispatched_case(&mut s, &photo(6, 90));
    let dispatched = s.server.projection(id).expect("projection").fields;
    let due = dispatched
        .deadline
        .expect("a dispatched case has a due time");
    assert!(due > minutes(5), "due after the dispatch: {due}");
    assert_eq!(dispatched.band.as_deref(), Some("green"));
    s.handler.sync(minutes(10));
    let listed = s
        .handler
        .store
        .listing(id)
        .expect("listing")
        .expect("listed");
    assert_eq!(
        listed.listing.deadline,
        Some(due),
        "the phone counts down to the server's due time"
    );
    assert_eq!(listed.listing.band.as_deref(), Some("green"));
    // Never handled: a week later the case is long overdue.
    let later = minutes(0) + 7 * DAY;
    s.server.clock.set(later);
    let state = &s.server.state;
    let rt = s.server.runtime();
    let first = rt
        .block_on(fieldloop_server::referee::tick(state, later))
        .expect("tick");
    assert!(first.events >= 1, "deadline events written: {first:?}");
    let again = rt
        .block_on(fieldloop_server::referee::tick(state, later))
        .expect("tick");
    assert_eq!(again.events, 0, "never twice");
    let doc = s.server.doc(id).expect("doc");
    let kinds: Vec<String> = doc
        .events()
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "case.overdue"), "{kinds:?}");
    let overdue = s.server.projection(id).expect("projection").fields;
    assert_eq!(overdue.band.as_deref(), Some("escalated"), "{kinds:?}");
    assert_eq!(overdue.deadline, Some(due), "the due time itself stays");
    s.handler.sync(later);
    let listed = s
        .handler
        .store
        .listing(id)
        .expect("listing")
        .expect("listed");
    assert_eq!(listed.listing.band.as_deref(), Some("escalated"));

    let http = reqwest::blocking::Client::new();
    let url = format!("{}/v1/evaluation?period=2026-11", s.server.base);
    let as_dispatcher = http
        .get(&url)
        .bearer_auth(&s.dispatcher.token)
        .send()
        .expect("get");
    assert_eq!(as_dispatcher.status(), 200);
    let body: serde_json::Value = as_dispatcher.json().expect("json");
    let unit = body["units"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["unit"] == UNIT))
        .unwrap_or_else(|| panic!("a row for {UNIT}: {body}"));
    assert!(unit["overdue"].as_u64().unwrap_or(0) >= 1, "{unit}");

    let csv = http
        .get(format!("{url}&format=csv"))
        .bearer_auth(&s.dispatcher.token)
        .send()
        .expect("csv");
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.text().expect("text").contains(UNIT));

    let as_inspector = http
        .get(&url)
        .bearer_auth(&s.inspector.token)
        .send()
        .expect("get");
    assert_eq!(as_inspector.status(), 403);
    let bad = http
        .get(format!("{}/v1/evaluation?period=2026-13", s.server.base))
        .bearer_auth(&s.dispatcher.token)
        .send()
        .expect("get");
    assert_eq!(bad.status(), 400);
}
