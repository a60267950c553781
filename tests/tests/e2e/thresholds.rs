//! The city's verification thresholds (核查阈值) as reference data over the real server:
//! an admin imports stricter figures and a case whose after-photo (a real phone photo
//! with its real EXIF time) closed under the defaults goes back for rework, the figures in
//! the reason; the phones receive the same figures; a bad file is refused whole, naming
//! each bad field, and nothing stored changes. The inspector's on-site pre-check judges
//! with the figures the phone synced: a photo the defaults place near enough reads as
//! too far once the city's stricter accuracy cap arrives.

use fieldloop_core::case::events::Handled;
use fieldloop_core::case::CaseEvent;
use fieldloop_core::doc::{Evidence, EvidenceStage};
use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions, ProcessedPhoto};
use fieldloop_core::time::{Millis, MINUTE};
use fieldloop_core::verify::VerifyPolicy;
use fieldloop_tests::*;
use uuid::Uuid;

use crate::phone_support::{logged_in, sync, TestClock};
use crate::referee::{
    at, dispatched_case_from, handled_case, photo, street, upload, verdict_checks, verify, Photo,
    Street,
};
use crate::reference::{city_admin, import};

/// The Jolla phone's photo: EXIF capture time 2014-09-21 16:00:56 with no zone and no
/// GPS, so only the time is compared (read as UTC+8, the default zone).
fn jolla() -> Option<ProcessedPhoto> {
    let dir = shared_photos("thresholds_jolla_photo")?;
    let bytes = std::fs::read(dir.join("jolla-phone-8mp.jpg")).expect("photo readable");
    Some(
        process_photo(&bytes, &PhotoLimits::default(), &ProcessOptions::default())
            .expect("processed"),
    )
}

/// A street whose server clock starts at `start`, with a city admin.
fn street_at(start: Millis) -> (Street, String) {
    let server = TestServer::with_street_people();
    server.clock.set(start);
    let admin = city_admin(&server);
    let inspector = Device::login(&server, "inspector");
    let dispatcher = Device::login(&server, "dispatcher");
    let handler = Device::login(&server, "handler");
    let street = Street {
        server,
        inspector,
        dispatcher,
        handler,
    };
    (street, admin)
}

struct Judged {
    status: Option<String>,
    checks: Vec<(String, bool, String)>,
    /// The policy the handler's phone builds from the reference it synced.
    phone_policy: VerifyPolicy,
}

/// A case handled with the Jolla photo, the phone claiming it was taken 6 minutes after
/// its EXIF time, judged after the city imported `thresholds` (none: never imported).
fn judged_under(after: &ProcessedPhoto, thresholds: Option<&str>) -> Judged {
    let exif = after
        .exif
        .facts()
        .expect("the Jolla wrote its capture time");
    let zone = exif.offset_minutes.unwrap_or(8 * 60);
    let exif_utc = exif.local_time.expect("a capture time") - i64::from(zone) * MINUTE;
    let taken = exif_utc + 6 * MINUTE;
    let start = taken - 31 * MINUTE;

    let (mut s, admin) = street_at(start);
    if let Some(file) = thresholds {
        import(&s.server, &admin, "thresholds", file.to_owned());
    }
    let id = dispatched_case_from(&mut s, &photo(51, 90), start);
    let accepted = start + 30 * MINUTE;
    s.server.clock.set(accepted);
    s.handler.sync(accepted);
    s.handler.act(id, accept(), accepted);

    let photo_file = Photo {
        hash: after.content_hash.clone(),
        jpeg: after.jpeg.clone(),
    };
    let recorded = Evidence {
        original_sha256: Some(after.original_sha256.clone()),
        exif: Some(exif),
        ..at(POSITION, &s.handler, EvidenceStage::After, taken)
    };
    let mut case = s.handler.case(id);
    let sealed = signed(&s.handler.store, id, &photo_file.hash, recorded);
    case.add_evidence(&s.handler.principal, &photo_file.hash, &sealed)
        .expect("evidence");
    let handled = CaseEvent::Handled(Handled {
        note: Some("清理完毕".into()),
        photos: vec![photo_file.hash.clone()],
    });
    case.append(&s.handler.principal, &handled, Uuid::now_v7(), taken)
        .expect("handled");
    s.handler
        .capture(&mut case, &[(&photo_file.hash, &photo_file.jpeg)]);
    s.server.clock.set(taken);
    s.handler.sync(taken);
    upload(&mut s.handler);

    verify(&mut s, id, &photo(52, 90), start + 60 * MINUTE);
    upload(&mut s.inspector);
    let phone_policy = s
        .handler
        .store
        .reference()
        .expect("store reads")
        .map(|city| city.verify_policy())
        .unwrap_or_default();
    Judged {
        status: s.server.status(id),
        checks: verdict_checks(&s, id),
        phone_policy,
    }
}

fn exif_check(judged: &Judged) -> &(String, bool, String) {
    judged
        .checks
        .iter()
        .find(|c| c.0 == "exif")
        .expect("an exif check")
}

#[test]
fn stricter_imported_thresholds_fail_a_verdict_that_passed_with_the_figures() {
    let Some(after) = jolla() else {
        return;
    };
    // Two servers, one per city, judged side by side to keep the test short.
    let strict_file = r#"{"source": "测试：从严", "max_exif_time_gap_minutes": 3}"#;
    let (defaults, strict) = std::thread::scope(|scope| {
        let strict = scope.spawn(|| judged_under(&after, Some(strict_file)));
        let defaults = judged_under(&after, None);
        (defaults, strict.join().expect("the strict city's case"))
    });
    assert_eq!(
        defaults.status.as_deref(),
        Some("closed"),
        "{:#?}",
        defaults.checks
    );
    let exif = exif_check(&defaults);
    assert!(exif.1 && exif.2.contains("比对了 1 个拍摄时间"), "{exif:?}");
    assert_eq!(defaults.phone_policy, VerifyPolicy::default());

    assert_eq!(
        strict.status.as_deref(),
        Some("rework"),
        "{:#?}",
        strict.checks
    );
    let failed: Vec<&str> = strict
        .checks
        .iter()
        .filter(|c| !c.1)
        .map(|c| c.0.as_str())
        .collect();
    assert_eq!(
        failed,
        vec!["exif"],
        "only the threshold changed: {:#?}",
        strict.checks
    );
    let exif = exif_check(&strict);
    assert!(
        exif.2
            .contains("照片自带的拍摄时间 (EXIF) 为 2014-09-21 16:00:56 (UTC+8)")
            && exif.2.contains("相差 6 分钟，超过允许的 3 分钟"),
        "{}",
        exif.2
    );
    assert_eq!(
        strict.phone_policy.max_exif_time_gap,
        3 * MINUTE,
        "the phone judges by the figures the server does"
    );
}

fn get(server: &TestServer, token: &str, path: &str) -> serde_json::Value {
    reqwest::blocking::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .expect("get")
        .json()
        .expect("json")
}

#[test]
fn a_bad_thresholds_file_is_refused_whole_naming_each_field_and_nothing_changes() {
    let server = TestServer::start();
    let admin = city_admin(&server);
    import(
        &server,
        &admin,
        "thresholds",
        r#"{"exif_gps_slack_m": 20}"#.into(),
    );
    let before = get(&server, &admin, "/v1/reference");
    assert_eq!(before["thresholds"]["exif_gps_slack_m"], 20.0);
    assert_eq!(
        before["thresholds"]["max_upload_delay_hours"], 72.0,
        "figures left out are stored as their defaults"
    );

    let bad = r#"{"max_exif_time_gap_minutes": -5, "exif_gps_slack_m": "NaN",
        "accuracy_cap_m": 1e9, "max_phash_distance_bits": 8.5, "max_clock_ahead": 5}"#;
    let reply = reqwest::blocking::Client::new()
        .put(format!("{}/v1/reference/thresholds", server.base))
        .bearer_auth(&admin)
        .body(bad)
        .send()
        .expect("import");
    assert_eq!(reply.status().as_u16(), 422);
    let answer: serde_json::Value = reply.json().expect("json");
    assert_eq!(answer["error"], "invalid_reference");
    assert!(
        answer["reason"]
            .as_str()
            .is_some_and(|r| r.contains("核查阈值文件有5处错误，未作任何修改")),
        "{answer}"
    );
    let problems = answer["problems"].as_array().expect("problems");
    let fields: Vec<&str> = problems
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    for field in [
        "max_exif_time_gap_minutes",
        "exif_gps_slack_m",
        "accuracy_cap_m",
        "max_phash_distance_bits",
    ] {
        assert!(fields.contains(&field), "{field} named in {answer:#}");
    }
    let reasons: Vec<&str> = problems
        .iter()
        .filter_map(|p| p["reason"].as_str())
        .collect();
    let all = reasons.join("\n");
    assert!(all.contains("为 -5 分钟，应大于 0"), "{all}");
    assert!(all.contains("max_clock_ahead"), "the unknown name: {all}");
    assert!(
        all.contains("accuracy_cap_m = 1000000000 m is out of range"),
        "{all}"
    );

    assert_eq!(
        get(&server, &admin, "/v1/reference"),
        before,
        "a refused file changes nothing stored"
    );
    assert_eq!(
        server
            .state
            .reference
            .current()
            .verify_policy
            .exif_gps_slack_m,
        20.0,
        "the referee still judges by the stored figures"
    );
}

#[test]
fn the_console_import_page_offers_the_thresholds_kind() {
    let server = TestServer::start();
    let config: serde_json::Value =
        reqwest::blocking::get(format!("{}/console/config.json", server.base))
            .expect("config")
            .json()
            .expect("json");
    let kinds = config["reference_kinds"].as_array().expect("kinds");
    assert!(
        kinds
            .iter()
            .any(|k| k["kind"] == "thresholds" && k["name"] == "核查阈值"),
        "{config:#}"
    );
}

#[test]
fn the_phones_precheck_judges_with_the_synced_thresholds_not_the_defaults() {
    let mut s = street();
    let admin = city_admin(&s.server);
    let id = handled_case(&mut s, &photo(61, 90), &photo(62, 90), POSITION);
    let now = minutes(40);
    s.server.clock.set(now);
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = TestClock::at(now);
    let phone = logged_in(&s.server, dir.path(), "inspector", &clock);
    sync(&s.server, &phone);

    // The verification photo `radius + 25` m from the case, its position good to 25 m:
    // the defaults excuse 25 + 8 m of accuracy (capped at 30 m each), a cap of 5 m only
    // 5 + 5 m.
    let case =
        fieldloop_core::case::fold(&s.server.doc(id).expect("doc").snapshot().expect("snapshot"));
    let category = case.category.expect("a category");
    let radius = fieldloop_core::catalogue::Catalogue::builtin()
        .expect("catalogue")
        .get_by_key(&category)
        .expect("known category")
        .radius_m;
    let metres = radius + 25.0;
    let path = dir.path().join("verification.jpg");
    std::fs::write(&path, &photo(63, 90).jpeg).expect("photo written");
    let input = fieldloop_ffi::PhotoInput {
        path: path.to_string_lossy().into_owned(),
        position: fieldloop_ffi::PositionFix {
            lat: POSITION.lat,
            lon: POSITION.lon + metres / (111_320.0 * POSITION.lat.to_radians().cos()),
            accuracy_m: 25.0,
            provider: "gps".into(),
            mock: false,
        },
    };
    let place = || {
        let report = s
            .server
            .runtime()
            .block_on(phone.clone().precheck_verification(
                id.to_string(),
                true,
                vec![input.clone()],
            ))
            .expect("pre-check");
        let place = report
            .checks
            .iter()
            .find(|c| c.name == "place")
            .cloned()
            .expect("a place check");
        let warned = report.warnings.iter().any(|c| c.name == "place");
        (place, warned)
    };

    let (defaults, warned) = place();
    assert!(defaults.passed && !warned, "{defaults:?}");

    import(
        &s.server,
        &admin,
        "thresholds",
        r#"{"source": "测试：定位精度最多抵扣 5 米", "accuracy_cap_m": 5}"#.into(),
    );
    let (not_yet, _) = place();
    assert!(not_yet.passed, "the phone has not synced the figures yet");
    sync(&s.server, &phone);
    let (synced, warned) = place();
    assert!(!synced.passed && warned, "{synced:?}");
}
