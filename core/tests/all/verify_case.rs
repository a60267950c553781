//! The closure verdict on cases walked through the real document and fold: one passing
//! verdict, and a failing one for every check.

use crate::case_support;

use std::collections::BTreeMap;

use case_support::*;
use fieldloop_core::case::events::{Handled, SelfFixed, VerificationSubmitted};
use fieldloop_core::case::{CaseEvent, CaseStatus, Verdict};
use fieldloop_core::catalogue::Catalogue;
use fieldloop_core::doc::{EvidenceStage, Position};
use fieldloop_core::roles::{Principal, Role};
use fieldloop_core::sla::Calendar;
use fieldloop_core::time::{Millis, DAY, MINUTE};
use fieldloop_core::verify::{
    case_verdict_events, checks, verify_case, Arrivals, CaseVerification, OtherEvidence, Outcome,
    ReuseIndex, UploadedPhoto, VerifyPolicy,
};
use uuid::Uuid;

const BEFORE_PHASH: u64 = 0xF0F0_F0F0_F0F0_F0F0;

/// Perceptual hashes the server computed: far apart unless a test says otherwise.
fn phash_for(label_hash: &str, walk: &Walk) -> u64 {
    let stage = walk.case.snapshot().unwrap().evidence[label_hash].stage;
    match stage {
        EvidenceStage::Before => BEFORE_PHASH,
        // Derived from the content hash: different photos, different pictures.
        _ => u64::from_str_radix(&label_hash[..16], 16).unwrap() | 0x0F0F_0000_0000_0000,
    }
}

/// Every photo of the case received intact.
fn all_uploaded(walk: &Walk) -> BTreeMap<String, UploadedPhoto> {
    let snapshot = walk.case.snapshot().unwrap();
    snapshot
        .evidence
        .keys()
        .map(|h| {
            (
                h.clone(),
                UploadedPhoto {
                    hash_matches: true,
                    decodable: true,
                    phash: Some(phash_for(h, walk)),
                },
            )
        })
        .collect()
}

pub(crate) struct Judge {
    catalogue: Catalogue,
    calendar: Calendar,
    pub(crate) uploads: BTreeMap<String, UploadedPhoto>,
    pub(crate) arrivals: Arrivals,
    reuse: ReuseIndex,
    people: Option<BTreeMap<String, Principal>>,
    policy: VerifyPolicy,
    pub(crate) grid: Option<fieldloop_core::geo::GridIndex>,
    pub(crate) custody: Option<fieldloop_core::verify::CustodyFacts>,
}

impl Judge {
    pub(crate) fn new(walk: &Walk) -> Judge {
        Judge {
            catalogue: Catalogue::builtin().unwrap(),
            calendar: Calendar::bundled().unwrap(),
            uploads: all_uploaded(walk),
            arrivals: Arrivals::default(),
            reuse: ReuseIndex::default(),
            people: None,
            policy: VerifyPolicy::default(),
            grid: None,
            custody: None,
        }
    }

    pub(crate) fn run(&self, walk: &Walk) -> fieldloop_core::Result<Outcome> {
        let snapshot = walk.case.snapshot().unwrap();
        verify_case(&CaseVerification {
            snapshot: &snapshot,
            catalogue: &self.catalogue,
            calendar: &self.calendar,
            uploads: &self.uploads,
            arrivals: &self.arrivals,
            reuse: &self.reuse,
            people: self.people.as_ref(),
            policy: &self.policy,
            now: walk.now + MINUTE,
            grid: self.grid.as_ref(),
            custody: self.custody.as_ref(),
        })
    }

    pub(crate) fn verdict(&self, walk: &Walk) -> Verdict {
        match self.run(walk).expect("judgeable") {
            Outcome::Judged { verdict } => verdict,
            other => panic!("expected a verdict, got {other:?}"),
        }
    }
}

pub(crate) fn failed(verdict: &Verdict) -> Vec<&str> {
    verdict
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect()
}

pub(crate) fn reason<'v>(verdict: &'v Verdict, name: &str) -> &'v str {
    &verdict
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check"))
        .reason
}

/// Attaches a handler's after-photo with a chosen position and time, then handles.
pub(crate) fn handle_with(
    walk: &mut Walk,
    label: &str,
    position: Position,
    taken_at: Millis,
) -> String {
    let h = hash(label);
    let mut e = evidence(EvidenceStage::After, &handler(), taken_at);
    e.position = Some(position);
    walk.case.add_evidence(&handler(), &h, &e).unwrap();
    walk.step(
        &handler(),
        CaseEvent::Handled(Handled {
            note: None,
            photos: vec![h.clone()],
        }),
    )
    .unwrap();
    h
}

/// Dispatched, handled with one after-photo, verified with one verification photo.
fn verified() -> Walk {
    let mut walk = Walk::dispatched();
    walk.handle("after");
    walk.verify("verification");
    walk
}

#[test]
fn a_clean_case_passes_every_check_and_closes() {
    let mut walk = verified();
    let judge = Judge::new(&walk);
    let verdict = judge.verdict(&walk);
    assert!(verdict.passed(), "{verdict:#?}");
    let names: Vec<&str> = verdict.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            checks::EVIDENCE,
            checks::UPLOADS,
            checks::EXIF,
            checks::PLACE,
            checks::TIME,
            checks::CLOCK,
            checks::PEOPLE,
            checks::REUSE,
            checks::WORKFLOW,
            checks::DEADLINE
        ]
    );
    assert!(reason(&verdict, checks::DEADLINE).contains("on time"));

    let events = case_verdict_events(verdict);
    assert!(matches!(events[1], CaseEvent::Closed(_)));
    for event in events {
        walk.step(&server(), event)
            .expect("the server writes the verdict");
    }
    assert_eq!(walk.case.state().unwrap().status, CaseStatus::Closed);
}

#[test]
fn an_after_photo_too_far_from_the_case_fails_place() {
    let mut walk = Walk::dispatched();
    let at = walk.tick();
    // 0.003° of latitude ≈ 334 m north; the radius of 暴露垃圾 is 100 m.
    let far = Position {
        lat: POSITION.lat + 0.003,
        ..POSITION
    };
    handle_with(&mut walk, "far", far, at);
    walk.verify("verification");
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::PLACE]);
    let why = reason(&verdict, checks::PLACE);
    assert!(why.contains("334 m from the case"), "{why}");

    let events = case_verdict_events(verdict);
    match &events[1] {
        CaseEvent::Rework(r) => assert!(r.reason.starts_with("place: "), "{}", r.reason),
        other => panic!("expected rework, got {other:?}"),
    }
    for event in events {
        walk.step(&server(), event).unwrap();
    }
    let state = walk.case.state().unwrap();
    assert_eq!((state.status, state.rework_count), (CaseStatus::Rework, 1));
}

#[test]
fn the_phone_accepts_a_near_photo_within_accuracy() {
    let mut walk = Walk::dispatched();
    let at = walk.tick();
    // ≈ 111 m away, 100 m allowed, the phone's 8 m + the case's 8 m accuracy cover it.
    let near = Position {
        lat: POSITION.lat + 0.001,
        ..POSITION
    };
    handle_with(&mut walk, "near", near, at);
    walk.verify("verification");
    assert!(Judge::new(&walk).verdict(&walk).passed());
}

#[test]
fn an_after_photo_already_evidence_in_another_case_fails_reuse() {
    let walk = verified();
    let mut judge = Judge::new(&walk);
    let other = Uuid::now_v7();
    judge.reuse.cases_by_hash.insert(hash("after"), vec![other]);
    let verdict = judge.verdict(&walk);
    assert_eq!(failed(&verdict), [checks::REUSE]);
    assert!(reason(&verdict, checks::REUSE).contains(&other.to_string()));

    // The case's own entry in the index is not reuse.
    let own = walk.case.state().unwrap().id;
    judge.reuse.cases_by_hash.insert(hash("after"), vec![own]);
    assert!(judge.verdict(&walk).passed());
}

#[test]
fn an_after_photo_that_is_the_before_photo_again_fails_reuse() {
    let walk = verified();
    let mut judge = Judge::new(&walk);
    // Re-encoded copy: 8 bits differ, the threshold.
    judge.uploads.get_mut(&hash("after")).unwrap().phash = Some(BEFORE_PHASH ^ 0xFF);
    let verdict = judge.verdict(&walk);
    assert_eq!(failed(&verdict), [checks::REUSE]);
    assert!(reason(&verdict, checks::REUSE).contains("before-photo"));

    // 9 bits apart is a different picture.
    judge.uploads.get_mut(&hash("after")).unwrap().phash = Some(BEFORE_PHASH ^ 0x1FF);
    assert!(judge.verdict(&walk).passed());
}

#[test]
fn a_perceptual_copy_of_another_cases_photo_fails_reuse() {
    let walk = verified();
    let mut judge = Judge::new(&walk);
    let mine = judge.uploads[&hash("verification")].phash.unwrap();
    let other = Uuid::now_v7();
    judge.reuse.phashes.push(OtherEvidence {
        case_id: other,
        hash: hash("someone else's photo"),
        phash: mine ^ 0b1011,
    });
    let verdict = judge.verdict(&walk);
    assert_eq!(failed(&verdict), [checks::REUSE]);
    assert!(reason(&verdict, checks::REUSE).contains(&other.to_string()));
}

#[test]
fn a_verifier_who_handled_the_case_fails_people() {
    let mut walk = Walk::dispatched();
    walk.handle("after");
    // The handler's own id, acting as the inspector of the cell.
    let referee_player = Principal {
        user_id: handler().user_id,
        role: Role::Inspector,
        jurisdiction: inspector().jurisdiction,
    };
    let h = walk.photo(&referee_player, EvidenceStage::Verification, "own check");
    walk.step(
        &referee_player,
        CaseEvent::VerificationSubmitted(VerificationSubmitted {
            fixed: true,
            note: None,
            photos: vec![h],
        }),
    )
    .unwrap();
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::PEOPLE]);
    assert!(reason(&verdict, checks::PEOPLE).contains("referee"));
}

#[test]
fn people_who_moved_post_since_acting_are_judged_as_they_acted() {
    let walk = verified();
    let mut judge = Judge::new(&walk);
    let mut people = BTreeMap::new();
    for p in [inspector(), handler()] {
        people.insert(p.user_id.clone(), p);
    }
    judge.people = Some(people.clone());
    assert!(judge.verdict(&walk).passed());

    // The handler has since moved to another unit: the repair was theirs to do then.
    people.insert(handler().user_id, other_handler_named(&handler().user_id));
    judge.people = Some(people.clone());
    let verdict = judge.verdict(&walk);
    assert!(verdict.passed(), "{verdict:?}");
    assert!(reason(&verdict, checks::PEOPLE).contains("moved post since"));

    // Someone the server does not know at all fails.
    people.remove(&handler().user_id);
    judge.people = Some(people);
    let verdict = judge.verdict(&walk);
    assert_eq!(failed(&verdict), [checks::PEOPLE]);
    assert!(reason(&verdict, checks::PEOPLE).contains("not a known user"));
}

fn other_handler_named(id: &str) -> Principal {
    Principal {
        user_id: id.to_string(),
        ..other_handler()
    }
}

#[test]
fn an_after_photo_taken_before_dispatch_fails_time() {
    let mut walk = Walk::dispatched();
    // Taken at the report, two minutes before the dispatch.
    handle_with(&mut walk, "old", POSITION, T0);
    walk.verify("verification");
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::TIME]);
    let why = reason(&verdict, checks::TIME);
    assert!(why.contains("2 min before dispatch"), "{why}");
}

#[test]
fn a_photo_from_the_future_fails_time() {
    let mut walk = Walk::dispatched();
    let future = walk.now + DAY;
    handle_with(&mut walk, "future", POSITION, future);
    // The verification photo must come after the fix it verifies, so date it too.
    let h = hash("verification");
    let mut e = evidence(EvidenceStage::Verification, &inspector(), future + MINUTE);
    e.position = Some(POSITION);
    walk.case.add_evidence(&inspector(), &h, &e).unwrap();
    walk.step(
        &inspector(),
        CaseEvent::VerificationSubmitted(VerificationSubmitted {
            fixed: true,
            note: None,
            photos: vec![h],
        }),
    )
    .unwrap();
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::TIME]);
    assert!(reason(&verdict, checks::TIME).contains("in the future"));
}

#[test]
fn a_photo_not_uploaded_yet_makes_the_verdict_wait() {
    let walk = verified();
    let mut judge = Judge::new(&walk);
    judge.uploads.remove(&hash("after"));
    assert_eq!(
        judge.run(&walk).unwrap(),
        Outcome::Waiting {
            missing: vec![hash("after")]
        }
    );
}

#[test]
fn a_damaged_upload_fails_uploads() {
    let walk = verified();
    let mut judge = Judge::new(&walk);
    judge.uploads.get_mut(&hash("after")).unwrap().decodable = false;
    judge
        .uploads
        .get_mut(&hash("verification"))
        .unwrap()
        .hash_matches = false;
    let verdict = judge.verdict(&walk);
    assert_eq!(failed(&verdict), [checks::UPLOADS]);
    let why = reason(&verdict, checks::UPLOADS);
    assert!(
        why.contains("not a readable image") && why.contains("does not match"),
        "{why}"
    );
}

#[test]
fn a_device_clock_running_ahead_fails_clock() {
    let walk = verified();
    let mut judge = Judge::new(&walk);
    let snapshot = walk.case.snapshot().unwrap();
    let handled = snapshot
        .events
        .iter()
        .find(|e| e.kind == "case.handled")
        .unwrap();
    // Within 5 minutes of lead passes.
    judge
        .arrivals
        .events
        .insert(handled.id, handled.at - 4 * MINUTE);
    assert!(judge.verdict(&walk).passed());
    // The server received it 10 minutes before the time the device wrote on it.
    judge
        .arrivals
        .events
        .insert(handled.id, handled.at - 10 * MINUTE);
    let verdict = judge.verdict(&walk);
    assert_eq!(failed(&verdict), [checks::CLOCK]);
    assert!(reason(&verdict, checks::CLOCK).contains("runs ahead"));
}

#[test]
fn a_photo_held_back_for_days_fails_clock() {
    let walk = verified();
    let mut judge = Judge::new(&walk);
    let taken = walk.case.snapshot().unwrap().evidence[&hash("after")].taken_at;
    judge
        .arrivals
        .evidence
        .insert(hash("after"), taken + 4 * DAY);
    let verdict = judge.verdict(&walk);
    assert_eq!(failed(&verdict), [checks::CLOCK]);
    assert!(reason(&verdict, checks::CLOCK).contains("72 h"));
}

#[test]
fn an_inspector_who_finds_it_not_fixed_fails_workflow() {
    let mut walk = Walk::dispatched();
    walk.handle("after");
    let h = walk.photo(&inspector(), EvidenceStage::Verification, "still dirty");
    walk.step(
        &inspector(),
        CaseEvent::VerificationSubmitted(VerificationSubmitted {
            fixed: false,
            note: Some("垃圾还在".into()),
            photos: vec![h],
        }),
    )
    .unwrap();
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::WORKFLOW]);
}

#[test]
fn a_late_handling_is_recorded_but_does_not_fail() {
    let mut walk = Walk::dispatched();
    // 暴露垃圾 allows 4 working hours; two days later is overdue.
    walk.now += 2 * DAY;
    walk.handle("after");
    walk.verify("verification");
    let verdict = Judge::new(&walk).verdict(&walk);
    assert!(verdict.passed(), "{verdict:#?}");
    assert!(reason(&verdict, checks::DEADLINE).contains("超期"));
}

#[test]
fn a_case_without_a_verification_cannot_be_judged() {
    let mut walk = Walk::dispatched();
    walk.handle("after");
    let err = Judge::new(&walk).run(&walk).unwrap_err();
    assert!(err.to_string().contains("nothing to judge"), "{err}");
}

/// 自查自纠 by the inspector, before and after in one visit.
fn self_fixed(after_label: &str) -> Walk {
    let mut walk = Walk::reported();
    let after = walk.photo(&inspector(), EvidenceStage::After, after_label);
    walk.step(
        &inspector(),
        CaseEvent::SelfFixed(SelfFixed {
            note: None,
            before: vec![hash("before")],
            after: vec![after],
        }),
    )
    .unwrap();
    walk
}

#[test]
fn a_self_fix_may_be_verified_by_the_inspector_who_fixed_it() {
    let mut walk = self_fixed("after");
    walk.verify("verification");
    let verdict = Judge::new(&walk).verdict(&walk);
    assert!(verdict.passed(), "{verdict:#?}");
    assert!(reason(&verdict, checks::PEOPLE).contains("自查自纠"));
    assert!(reason(&verdict, checks::DEADLINE).contains("no unit deadline"));
}

#[test]
fn a_self_fix_still_faces_the_reuse_check() {
    let mut walk = self_fixed("after");
    walk.verify("verification");
    let mut judge = Judge::new(&walk);
    judge.uploads.get_mut(&hash("after")).unwrap().phash = Some(BEFORE_PHASH);
    let verdict = judge.verdict(&walk);
    assert_eq!(failed(&verdict), [checks::REUSE]);
}

#[test]
fn after_rework_the_old_after_photo_no_longer_counts() {
    let mut walk = verified();
    let verdict = {
        let mut judge = Judge::new(&walk);
        judge.uploads.get_mut(&hash("after")).unwrap().phash = Some(BEFORE_PHASH);
        judge.verdict(&walk)
    };
    for event in case_verdict_events(verdict) {
        walk.step(&server(), event).unwrap();
    }
    // The handler resubmits the photo of the first round.
    walk.step(
        &handler(),
        CaseEvent::Handled(Handled {
            note: None,
            photos: vec![hash("after")],
        }),
    )
    .unwrap();
    walk.verify("verification 2");
    let verdict = Judge::new(&walk).verdict(&walk);
    assert_eq!(failed(&verdict), [checks::TIME]);
    assert!(reason(&verdict, checks::TIME).contains("rework order"));
}
