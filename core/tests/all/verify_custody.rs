//! The verdict's exif and signature checks on cases walked through the real document:
//! the photo's own EXIF time and GPS against what the phone claims, and each record's
//! signature against the registered device keys.

use crate::case_support;
use crate::media_support;
use crate::verify_case::{failed, reason, Judge};

use case_support::*;
use fieldloop_core::case::events::Handled;
use fieldloop_core::case::CaseEvent;
use fieldloop_core::custody::EvidenceSigner;
use fieldloop_core::doc::{Evidence, EvidenceStage, ExifFacts, Position};
use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};
use fieldloop_core::time::{Millis, HOUR, MINUTE};
use fieldloop_core::verify::{checks, CustodyFacts, RegisteredKey};

/// Dispatched, handled with an after-photo whose record `edit` shapes, then verified.
fn handled(edit: impl FnOnce(&mut Evidence, Millis)) -> (Walk, String) {
    handled_in(|e, at, _| edit(e, at))
}

/// [`handled`], with the case id for a signature.
fn handled_in(edit: impl FnOnce(&mut Evidence, Millis, uuid::Uuid)) -> (Walk, String) {
    let mut walk = Walk::dispatched();
    let at = walk.tick();
    let h = hash("after");
    let mut e = evidence(EvidenceStage::After, &handler(), at);
    edit(&mut e, at, walk.case.header().unwrap().id);
    walk.case.add_evidence(&handler(), &h, &e).unwrap();
    walk.step(
        &handler(),
        CaseEvent::Handled(Handled {
            note: None,
            photos: vec![h.clone()],
        }),
    )
    .unwrap();
    walk.verify("verification");
    (walk, h)
}

/// EXIF written in the deployment's zone (UTC+8, no offset tag) `skew` after `at`.
fn exif_time(at: Millis, skew: Millis) -> ExifFacts {
    ExifFacts {
        local_time: Some(at + 8 * HOUR + skew),
        ..ExifFacts::default()
    }
}

#[test]
fn an_exif_time_within_ten_minutes_passes_and_one_hours_off_fails_with_figures() {
    let (walk, _) = handled(|e, at| e.exif = Some(exif_time(at, 9 * MINUTE)));
    let verdict = Judge::new(&walk).verdict(&walk);
    assert!(verdict.passed(), "{verdict:#?}");
    assert!(reason(&verdict, checks::EXIF).contains("比对了 1 个拍摄时间"));

    let (walk, h) = handled(|e, at| e.exif = Some(exif_time(at, -(3 * HOUR + 25 * MINUTE))));
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::EXIF]);
    let why = reason(&verdict, checks::EXIF);
    assert!(why.starts_with(&format!("after 照片 {}", &h[..8])), "{why}");
    assert!(
        why.contains("相差 3 小时 25 分钟，超过允许的 10 分钟"),
        "{why}"
    );
    assert!(why.contains("(UTC+8)"), "{why}");
}

#[test]
fn an_exif_offset_is_used_when_the_camera_wrote_one() {
    // A camera on UTC with its offset written: the same instant, no difference.
    let (walk, _) = handled(|e, at| {
        e.exif = Some(ExifFacts {
            local_time: Some(at),
            offset_minutes: Some(0),
            ..ExifFacts::default()
        })
    });
    assert!(Judge::new(&walk).verdict(&walk).passed());
    // Without the offset the same reading is taken as Beijing time: 8 h off.
    let (walk, _) = handled(|e, at| {
        e.exif = Some(ExifFacts {
            local_time: Some(at),
            ..ExifFacts::default()
        })
    });
    let verdict = Judge::new(&walk).verdict(&walk);
    assert!(reason(&verdict, checks::EXIF).contains("相差 8 小时 0 分钟"));
}

#[test]
fn an_exif_position_beyond_the_accuracy_fails_with_the_distance() {
    // 0.004° of latitude ≈ 445 m; accuracy 10 m + 30 m of camera GPS error allowed.
    let (walk, _) = handled(|e, _| {
        e.position = Some(Position {
            accuracy_m: 10.0,
            ..POSITION
        });
        e.exif = Some(ExifFacts {
            lat: Some(POSITION.lat + 0.004),
            lon: Some(POSITION.lon),
            ..ExifFacts::default()
        });
    });
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::EXIF]);
    let why = reason(&verdict, checks::EXIF);
    assert!(why.contains("相距 445 米，超过允许的 40 米"), "{why}");
    assert!(
        why.contains("定位精度 10 米 + 相机 GPS 误差 30 米"),
        "{why}"
    );

    // 25 m away is within 10 m + 30 m.
    let (walk, _) = handled(|e, _| {
        e.position = Some(Position {
            accuracy_m: 10.0,
            ..POSITION
        });
        e.exif = Some(ExifFacts {
            lat: Some(POSITION.lat + 0.000_225),
            lon: Some(POSITION.lon),
            ..ExifFacts::default()
        });
    });
    assert!(Judge::new(&walk).verdict(&walk).passed());
}

#[test]
fn a_real_photo_claimed_elsewhere_and_at_another_time_fails_with_both_figures() {
    let Some(dir) = media_support::photos_dir(
        "a_real_photo_claimed_elsewhere_and_at_another_time_fails_with_both_figures",
    ) else {
        return;
    };
    let bytes = std::fs::read(dir.join("coolpix-gps-a.jpg")).expect("readable");
    let photo = process_photo(&bytes, &PhotoLimits::default(), &ProcessOptions::default())
        .expect("processed");
    let facts = photo.exif.facts().expect("the Coolpix wrote time and GPS");
    // Claimed in Beijing in 2026; the camera says Italy (43.47 N, 11.89 E) in 2008.
    let (walk, _) = handled(|e, _| e.exif = Some(facts));
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::EXIF]);
    let why = reason(&verdict, checks::EXIF);
    assert!(
        why.contains("照片自带的拍摄时间 (EXIF) 为 2008-10-22 16:28:39 (UTC+8)"),
        "{why}"
    );
    assert!(why.contains("天"), "a gap of years is told in days: {why}");
    assert!(why.contains("GPS 位置与手机记录的位置相距"), "{why}");
}

#[test]
fn photos_without_exif_are_not_failed_for_it() {
    let (walk, _) = handled(|_, _| {});
    let verdict = Judge::new(&walk).verdict(&walk);
    assert!(verdict.passed());
    assert!(reason(&verdict, checks::EXIF).contains("比对了 0 个拍摄时间、0 个 GPS 位置"));
}

fn key_of(signer: &EvidenceSigner, user: &str) -> RegisteredKey {
    RegisteredKey {
        public_key: fieldloop_core::custody::parse_public_key(&signer.public_key_hex()).unwrap(),
        user_id: user.into(),
        revoked_at: None,
    }
}

#[test]
fn a_signature_by_another_persons_device_fails() {
    let phone = EvidenceSigner::from_secret("phone-h", &[1u8; 32]);
    let (walk, h) = handled_in(|e, _, case_id| {
        *e = phone.seal(case_id, &hash("after"), e.clone()).unwrap();
    });
    let custody = |owner: &str| {
        let mut judge = Judge::new(&walk);
        judge.custody = Some(CustodyFacts {
            keys: [("phone-h".to_string(), key_of(&phone, owner))].into(),
            stored_sha256: Default::default(),
            evidence_arrived_at: Default::default(),
        });
        judge.verdict(&walk)
    };
    // Registered to the inspector, used for the handler's photo.
    let verdict = custody(&inspector().user_id);
    let why = reason(&verdict, checks::SIGNATURE);
    assert!(
        why.contains(&format!(
            "after 照片 {} 署名为 {}，但签名设备 phone-h 登记在 {} 名下",
            &h[..8],
            handler().user_id,
            inspector().user_id
        )),
        "{why}"
    );
    // Registered to the handler: the after-photo holds; the unsigned others do not.
    let verdict = custody(&handler().user_id);
    let why = reason(&verdict, checks::SIGNATURE);
    assert!(!why.contains(&h[..8]), "{why}");
    assert!(
        why.contains("verification 照片") && why.contains("没有设备签名"),
        "{why}"
    );
}

#[test]
fn a_revoked_devices_signature_stands_on_evidence_that_arrived_before_the_revocation() {
    let phone = EvidenceSigner::from_secret("phone-h", &[1u8; 32]);
    let (walk, h) = handled_in(|e, _, case_id| {
        *e = phone.seal(case_id, &hash("after"), e.clone()).unwrap();
    });
    let revoked_at: Millis = 1_800_000_000_000;
    let signature_reason = |arrived: Option<Millis>| {
        let mut judge = Judge::new(&walk);
        let mut key = key_of(&phone, &handler().user_id);
        key.revoked_at = Some(revoked_at);
        judge.custody = Some(CustodyFacts {
            keys: [("phone-h".to_string(), key)].into(),
            stored_sha256: Default::default(),
            evidence_arrived_at: arrived.map(|at| (h.clone(), at)).into_iter().collect(),
        });
        reason(&judge.verdict(&walk), checks::SIGNATURE).to_owned()
    };
    let photo = format!("after 照片 {}", &h[..8]);
    let before = signature_reason(Some(revoked_at - 1));
    assert!(!before.contains(&photo), "{before}");
    let after = signature_reason(Some(revoked_at));
    assert!(
        after.contains(&format!("{photo} 由设备 phone-h 签名，该设备已于"))
            && after.contains("才到达服务器"),
        "{after}"
    );
    let unknown = signature_reason(None);
    assert!(
        unknown.contains(&format!("{photo} 由设备 phone-h 签名"))
            && unknown.contains("服务器没有吊销前收到此证据的记录"),
        "{unknown}"
    );
}
