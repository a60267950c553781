//! Verdicts never stall (issue 9 §2): what a case holds — a category the catalogue
//! lacks, times before 1990, absurd device clocks — becomes a failed check with a reason
//! a person can read, never an error that leaves the case without a verdict, and never
//! an arithmetic overflow.

use crate::case_support::*;
use crate::verify_case::{failed, reason, Judge};

use fieldloop_core::geo::{assess_track, Fix, PlausibilityLimits};
use fieldloop_core::time::Millis;
use fieldloop_core::verify::{checks, Outcome};

fn verified(category: &str, at: Millis) -> Walk {
    let mut walk = Walk::reported_as(category, at);
    walk.register();
    walk.dispatch(UNIT);
    walk.handle("after");
    walk.verify("verification");
    walk
}

#[test]
fn a_category_the_catalogue_lacks_fails_the_place_check_with_a_reason() {
    let walk = verified("19999", T0);
    let verdict = Judge::new(&walk).verdict(&walk);
    assert!(failed(&verdict).contains(&checks::PLACE), "{verdict:?}");
    let why = reason(&verdict, checks::PLACE);
    assert!(
        why.contains("19999") && why.contains("不在类目目录中"),
        "{why}"
    );
    assert!(
        failed(&verdict).contains(&checks::DEADLINE),
        "no deadline without the category either: {verdict:?}"
    );
    assert!(reason(&verdict, checks::DEADLINE).contains("无法计算处置时限"));
}

#[test]
fn a_case_dispatched_before_1990_fails_the_deadline_check_instead_of_erroring() {
    // 1985-06-03 09:00 Beijing time: a phone whose clock was reset.
    let walk = verified("20102", 486_608_400_000);
    let verdict = match Judge::new(&walk).run(&walk) {
        Ok(Outcome::Judged { verdict }) => verdict,
        other => panic!("expected a verdict, got {other:?}"),
    };
    assert!(failed(&verdict).contains(&checks::DEADLINE), "{verdict:?}");
    let why = reason(&verdict, checks::DEADLINE);
    assert!(
        why.contains("无法计算处置时限") && why.contains("1990"),
        "{why}"
    );
}

#[test]
fn absurd_device_times_neither_overflow_nor_pass() {
    let walk = {
        let mut walk = Walk::reported();
        walk.register();
        walk.dispatch(UNIT);
        walk
    };
    let mut walk = walk;
    walk.handle("after");
    walk.verify("verification");
    let mut judge = Judge::new(&walk);
    // The server received the photos at the far ends of time: the subtractions the
    // clock check makes would overflow i64 if done unchecked.
    let snapshot = walk.case.snapshot().unwrap();
    for (h, e) in &snapshot.evidence {
        let arrived = if e.stage == fieldloop_core::doc::EvidenceStage::After {
            Millis::MIN
        } else {
            Millis::MAX
        };
        judge.arrivals.evidence.insert(h.clone(), arrived);
    }
    for event in &snapshot.events {
        judge.arrivals.events.insert(event.id, Millis::MIN);
    }
    let verdict = judge.verdict(&walk);
    assert!(failed(&verdict).contains(&checks::CLOCK), "{verdict:?}");
}

#[test]
fn track_times_at_the_ends_of_i64_do_not_overflow() {
    let fix = |t: Millis, lat: f64| Fix {
        t,
        lat,
        lon: 116.4436,
        accuracy_m: 5.0,
        mock: false,
    };
    let report = assess_track(
        &[fix(Millis::MIN, 39.92), fix(Millis::MAX, 39.93)],
        &PlausibilityLimits::default(),
    )
    .expect("assessed");
    assert_eq!(report.duration, Millis::MAX, "saturated, not wrapped");
    assert!(!report.findings.is_empty(), "a gap of ages is a finding");
}

/// Issue 9 §3: the mock-location flag is recorded for case photos too, and a mocked
/// position fails the place check whatever its coordinates say.
#[test]
fn a_mocked_after_photo_position_fails_the_place_check() {
    use fieldloop_core::case::events::Handled;
    use fieldloop_core::case::CaseEvent;
    use fieldloop_core::doc::EvidenceStage;

    let mut walk = Walk::dispatched();
    let h = hash("mocked after");
    let mut e = evidence(EvidenceStage::After, &handler(), walk.now + 1);
    e.mock = true;
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
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::PLACE], "{verdict:?}");
    let why = reason(&verdict, checks::PLACE);
    assert!(why.contains(&h[..8]) && why.contains("模拟定位"), "{why}");
    let stored = walk.case.snapshot().unwrap().evidence[&h].clone();
    assert!(stored.mock, "the flag survives the document");
}

/// A square cell of about 220 m around `centre`.
fn cell(code: &str, lat: f64, lon: f64) -> fieldloop_core::geo::GridCell {
    use fieldloop_core::geo::LatLon;
    let d = 0.001;
    fieldloop_core::geo::GridCell {
        code: code.into(),
        ring: vec![
            LatLon {
                lat: lat - d,
                lon: lon - d,
            },
            LatLon {
                lat: lat - d,
                lon: lon + d,
            },
            LatLon {
                lat: lat + d,
                lon: lon + d,
            },
            LatLon {
                lat: lat + d,
                lon: lon - d,
            },
        ],
    }
}

/// Issue 9 §3: the case position must lie in the grid cell the case claims.
#[test]
fn a_case_outside_the_cell_it_claims_fails_the_place_check() {
    use fieldloop_core::geo::GridIndex;
    let walk = verified("20102", T0);
    let mut judge = Judge::new(&walk);
    // The claimed cell holds the case position: passes.
    judge.grid = Some(
        GridIndex::new(vec![
            cell(GRID, POSITION.lat, POSITION.lon),
            cell("110105001002004", POSITION.lat + 0.01, POSITION.lon),
        ])
        .unwrap(),
    );
    let verdict = judge.verdict(&walk);
    assert!(verdict.passed(), "{verdict:?}");
    // The same case where the city's map puts its position in the next cell.
    judge.grid = Some(
        GridIndex::new(vec![
            cell(GRID, POSITION.lat + 0.01, POSITION.lon),
            cell("110105001002004", POSITION.lat, POSITION.lon),
        ])
        .unwrap(),
    );
    let verdict = judge.verdict(&walk);
    assert_eq!(failed(&verdict), [checks::PLACE], "{verdict:?}");
    let why = reason(&verdict, checks::PLACE);
    assert!(
        why.contains("110105001002004") && why.contains(GRID),
        "{why}"
    );
}
