//! Signed evidence (chain of custody) over real sync: every photo record is signed by the
//! capturing phone's registered key, and the server's verdict fails the signature check,
//! with a reason a person can read, when the signature is missing or does not match, the
//! device was revoked, the record was made for another document, or the photo file the
//! server holds changed after capture.

use fieldloop_core::case::events::Handled;
use fieldloop_core::case::CaseEvent;
use fieldloop_core::custody::EvidenceSigner;
use fieldloop_core::doc::{Evidence, EvidenceStage};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::Millis;
use fieldloop_tests::*;
use uuid::Uuid;

use crate::referee::{
    at, dispatched_case, photo, street, upload, verdict_checks, verify, Photo, Street,
};

/// A dispatched case handled with `after`, its evidence record passed through `tamper`
/// after the phone signed it (the identity for an honest phone).
fn handled_with(
    s: &mut Street,
    before: &Photo,
    after: &Photo,
    tamper: impl FnOnce(Uuid, &EvidenceSigner, Evidence) -> Evidence,
) -> Uuid {
    let id = dispatched_case(s, before);
    s.server.clock.set(minutes(30));
    s.handler.sync(minutes(30));
    s.handler.act(id, accept(), minutes(30));
    let mut case = s.handler.case(id);
    let honest = signed(
        &s.handler.store,
        id,
        &after.hash,
        at(POSITION, &s.handler, EvidenceStage::After, minutes(31)),
    );
    let signer = s.handler.store.evidence_signer().clone();
    case.add_evidence(
        &s.handler.principal,
        &after.hash,
        &tamper(id, &signer, honest),
    )
    .expect("evidence");
    let handled = CaseEvent::Handled(Handled {
        note: Some("清理完毕".into()),
        photos: vec![after.hash.clone()],
    });
    case.append(&s.handler.principal, &handled, Uuid::now_v7(), minutes(31))
        .expect("handled");
    s.handler.capture(&mut case, &[(&after.hash, &after.jpeg)]);
    s.handler.sync(minutes(31));
    upload(&mut s.handler);
    id
}

/// Verifies with a fresh photo and returns the signature check (passed, reason), after
/// asserting the case went the way `closed` says.
fn judged(s: &mut Street, id: Uuid, seed: u32, when: Millis, closed: bool) -> (bool, String) {
    verify(s, id, &photo(seed, 90), when);
    upload(&mut s.inspector);
    let checks = verdict_checks(s, id);
    let expected = if closed { "closed" } else { "rework" };
    assert_eq!(
        s.server.status(id).as_deref(),
        Some(expected),
        "verdict: {checks:?}"
    );
    let (_, passed, reason) = checks
        .into_iter()
        .find(|c| c.0 == "signature")
        .expect("a signature check");
    (passed, reason)
}

#[test]
fn signed_evidence_closes_the_case_and_names_the_registered_device() {
    let mut s = street();
    let id = handled_with(&mut s, &photo(21, 90), &photo(22, 90), |_, _, e| e);
    let (passed, reason) = judged(&mut s, id, 23, minutes(60), true);
    assert!(passed, "{reason}");
    assert!(reason.contains("3 张照片的证据签名有效"), "{reason}");
    assert!(reason.contains("来自 2 台登记设备"), "{reason}");
    // The seal travels in the document's evidence map, naming the phone that took it.
    let evidence = s.server.doc(id).unwrap().evidence().unwrap();
    let seals: Vec<&str> = evidence
        .values()
        .map(|e| e.seal.as_ref().expect("sealed").device_id.as_str())
        .collect();
    assert!(seals.contains(&s.handler.store.device_id().to_string().as_str()));
    assert!(seals.contains(&s.inspector.store.device_id().to_string().as_str()));
}

#[test]
fn unsigned_evidence_fails_the_signature_check() {
    let mut s = street();
    let after = photo(24, 90);
    let id = handled_with(&mut s, &photo(25, 90), &after, |_, _, e| Evidence {
        seal: None,
        ..e
    });
    let (passed, reason) = judged(&mut s, id, 26, minutes(60), false);
    assert!(!passed);
    assert!(
        reason.contains(&format!("after 照片 {} 没有设备签名", &after.hash[..8])),
        "{reason}"
    );
}

#[test]
fn evidence_changed_after_signing_fails_the_signature_check() {
    let mut s = street();
    let after = photo(27, 90);
    let hash = after.hash.clone();
    // Taken 1.1 km away and signed there, then moved onto the case to pass the place check.
    let id = handled_with(&mut s, &photo(28, 90), &after, |id, signer, honest| {
        let mut far = honest.clone();
        far.position.as_mut().unwrap().lat += 0.01;
        let sealed_far = signer.seal(id, &hash, far).expect("signs");
        Evidence {
            position: honest.position,
            ..sealed_far
        }
    });
    let (passed, reason) = judged(&mut s, id, 29, minutes(60), false);
    assert!(!passed);
    assert!(reason.contains("签名与记录不符"), "{reason}");
    let place = verdict_checks(&s, id)
        .into_iter()
        .find(|c| c.0 == "place")
        .expect("place check");
    assert!(
        place.1,
        "the forged position itself passes the place check: {place:?}"
    );
}

#[test]
fn evidence_signed_for_another_case_fails_as_copied() {
    let mut s = street();
    let other = report_case(&mut s.inspector, GRID, minutes(0));
    let after = photo(30, 90);
    let hash = after.hash.clone();
    let id = handled_with(&mut s, &photo(31, 90), &after, |_, signer, honest| {
        signer
            .seal(
                other,
                &hash,
                Evidence {
                    seal: None,
                    ..honest
                },
            )
            .expect("signs")
    });
    let (passed, reason) = judged(&mut s, id, 32, minutes(60), false);
    assert!(!passed);
    assert!(
        reason.contains(&format!(
            "证据签名属于另一份文档 {other}，被复制到本案 {id}"
        )),
        "{reason}"
    );
}

/// An admin revokes `device` over HTTP (at the server clock's time).
fn revoke(s: &mut Street, device: &str) {
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
    let revoked = http
        .post(format!(
            "{}/v1/admin/devices/{device}/revoke",
            s.server.base
        ))
        .bearer_auth(login["token"].as_str().expect("token"))
        .send()
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
}

#[test]
fn a_revoked_device_vouches_only_for_evidence_the_server_received_before_the_revocation() {
    let mut s = street();
    // Handled with the handler's phone and synced at 00:30, before the revocation.
    let early = handled_with(&mut s, &photo(33, 90), &photo(34, 90), |_, _, e| e);
    // Another case: accepted, and its after-photo signed on the same phone at 00:32 (the
    // time the phone claims), but not sent.
    let late = dispatched_case(&mut s, &photo(40, 90));
    s.server.clock.set(minutes(30));
    s.handler.sync(minutes(30));
    s.handler.act(late, accept(), minutes(30));
    let after = photo(41, 90);
    let record = signed(
        &s.handler.store,
        late,
        &after.hash,
        at(POSITION, &s.handler, EvidenceStage::After, minutes(32)),
    );
    // 00:40: the phone is reported lost; an admin revokes it.
    s.server.clock.set(minutes(40));
    let device = s.handler.store.device_id().to_string();
    revoke(&mut s, &device);
    // 00:41: the record, signed before the revocation by its own claim, reaches the
    // server afterwards from another phone of the same person.
    s.server.clock.set(minutes(41));
    let mut other_phone = Device::login(&s.server, "handler");
    other_phone.sync(minutes(41));
    let mut case = other_phone.case(late);
    case.add_evidence(&other_phone.principal, &after.hash, &record)
        .expect("evidence");
    let handled = CaseEvent::Handled(Handled {
        note: Some("清理完毕".into()),
        photos: vec![after.hash.clone()],
    });
    case.append(
        &other_phone.principal,
        &handled,
        Uuid::now_v7(),
        minutes(41),
    )
    .expect("handled");
    other_phone.capture(&mut case, &[(&after.hash, &after.jpeg)]);
    other_phone.sync(minutes(41));
    upload(&mut other_phone);

    let (passed, reason) = judged(&mut s, early, 35, minutes(60), true);
    assert!(passed, "{reason}");
    assert!(
        reason.contains("其中 1 张由已吊销的设备签名，但在吊销前已到达服务器"),
        "{reason}"
    );

    let (passed, reason) = judged(&mut s, late, 36, minutes(61), false);
    assert!(!passed);
    assert!(
        reason.contains(&format!(
            "after 照片 {} 由设备 {device} 签名，该设备已于 2026-",
            &after.hash[..8]
        )) && reason.contains("被吊销，而此证据 2026-")
            && reason.contains("才到达服务器，其签名不再可信"),
        "{reason}"
    );
}

#[test]
fn a_photo_file_changed_on_the_server_after_capture_fails() {
    let mut s = street();
    let after = photo(36, 90);
    let id = handled_with(&mut s, &photo(37, 90), &after, |_, _, e| e);
    // The stored file is replaced at rest (same address, other bytes).
    let stored = s
        .server
        .data_dir()
        .join("blobs/sha256")
        .join(&after.hash[..2])
        .join(&after.hash);
    let other = photo(38, 90);
    std::fs::write(&stored, &other.jpeg).expect("overwrite the stored photo");
    let (passed, reason) = judged(&mut s, id, 39, minutes(60), false);
    assert!(!passed);
    assert!(
        reason.contains(&format!(
            "after 照片 {} 的文件在拍摄后被改动：服务器保存的文件 SHA-256 为 {}",
            &after.hash[..8],
            &other.hash[..8]
        )),
        "{reason}"
    );
    let uploads = verdict_checks(&s, id)
        .into_iter()
        .find(|c| c.0 == "uploads")
        .expect("uploads check");
    assert!(!uploads.1, "{uploads:?}");
}

#[test]
fn a_device_key_is_registered_once_and_checked() {
    let server = TestServer::with_street_people();
    let phone = Device::login(&server, "inspector");
    let http = reqwest::blocking::Client::new();
    let register = |key: &str| {
        http.post(format!("{}/v1/devices", server.base))
            .bearer_auth(&phone.token)
            .json(&serde_json::json!({
                "device_id": phone.store.device_id().to_string(),
                "name": "inspector's phone",
                "public_key": key,
            }))
            .send()
            .expect("register")
    };
    // Again with the same key: harmless.
    let same = phone.store.evidence_signer().public_key_hex();
    assert_eq!(register(&same).status(), 200);
    // Another key for the same device: refused, the first key stays.
    let other = EvidenceSigner::from_secret("x", &[9u8; 32]).public_key_hex();
    let refused = register(&other);
    assert_eq!(refused.status(), 409);
    let body: serde_json::Value = refused.json().expect("json");
    assert_eq!(body["error"], "device_key_taken");
    assert!(
        body["reason"].as_str().unwrap().contains("公钥不能更换"),
        "{body}"
    );
    // Not a key at all.
    let bad = register("not-a-key");
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().expect("json");
    assert_eq!(body["error"], "bad_public_key");
    let keys = server
        .runtime()
        .block_on(
            server
                .state
                .device_keys
                .device_keys(vec![phone.store.device_id().to_string()]),
        )
        .expect("keys");
    assert_eq!(keys.values().next().expect("registered").public_key, same);
}

#[test]
fn the_photos_own_exif_reaches_the_verdict_under_the_signature() {
    let Some(dir) = shared_photos("the_photos_own_exif_reaches_the_verdict_under_the_signature")
    else {
        return;
    };
    let bytes = std::fs::read(dir.join("coolpix-gps-a.jpg")).expect("photo readable");
    let processed = fieldloop_core::media::process_photo(
        &bytes,
        &fieldloop_core::media::PhotoLimits::default(),
        &fieldloop_core::media::ProcessOptions::default(),
    )
    .expect("processed");
    let facts = processed
        .exif
        .facts()
        .expect("the Coolpix wrote time and GPS");
    let after = Photo {
        hash: processed.content_hash.clone(),
        jpeg: processed.jpeg.clone(),
    };
    let hash = after.hash.clone();
    let mut s = street();
    // The phone claims Beijing today; the camera recorded Tuscany in 2008.
    let id = handled_with(&mut s, &photo(41, 90), &after, |id, signer, honest| {
        let recorded = Evidence {
            original_sha256: Some(processed.original_sha256.clone()),
            exif: Some(facts),
            seal: None,
            ..honest
        };
        signer.seal(id, &hash, recorded).expect("signs")
    });
    let (passed, reason) = judged(&mut s, id, 42, minutes(60), false);
    assert!(passed, "the record is intact: {reason}");
    let exif = verdict_checks(&s, id)
        .into_iter()
        .find(|c| c.0 == "exif")
        .expect("exif check");
    assert!(!exif.1, "{exif:?}");
    assert!(
        exif.2
            .contains("照片自带的拍摄时间 (EXIF) 为 2008-10-22 16:28:39"),
        "{}",
        exif.2
    );
    assert!(
        exif.2.contains("GPS 位置与手机记录的位置相距"),
        "{}",
        exif.2
    );
}
