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
