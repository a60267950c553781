//! Every lifecycle path of a case through the checked device API, and what the fold does
//! with events that are illegal where they land.

use crate::case_support;

use case_support::*;
use fieldloop_core::case::events::{
    DeadlineNotice, Escalated, ExtensionGranted, ExtensionRequested, Handled, Merged, Registered,
    SelfFixed, VerificationSubmitted,
};
use fieldloop_core::case::{fold, kinds, CaseDoc, CaseEvent, CaseState, CaseStatus, NewCase};
use fieldloop_core::catalogue::Urgency;
use fieldloop_core::doc::{actor_for, Event, EvidenceStage, Position};
use fieldloop_core::sla::{LimitUnit, TimeLimit};
use fieldloop_core::Error;
use uuid::Uuid;

fn state(walk: &Walk) -> CaseState {
    walk.case.state().expect("state reads")
}

fn status(walk: &Walk) -> CaseStatus {
    state(walk).status
}

fn reason_of(state: &CaseState, event: &Event) -> String {
    state
        .ignored
        .iter()
        .find(|i| i.event == event.id)
        .map(|i| i.reason.clone())
        .unwrap_or_else(|| panic!("{} should be ignored", event.kind))
}

#[test]
fn main_path_reported_to_closed() {
    let mut w = Walk::reported();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Reported);
    assert_eq!(s.reporter.as_deref(), Some("inspector-li"));
    assert_eq!(s.reported_at, Some(T0));
    assert_eq!(s.category.as_deref(), Some("20102"));
    assert_eq!(
        w.case.doc().field("description").unwrap().as_deref(),
        Some("垃圾堆在路边")
    );

    w.register();
    assert_eq!(status(&w), CaseStatus::Registered);
    w.dispatch(UNIT);
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Dispatched);
    assert_eq!(s.unit.as_deref(), Some(UNIT));
    let dispatched_at = s.dispatched_at.expect("clock starts at dispatch");

    w.step(&handler(), CaseEvent::Accepted(empty())).unwrap();
    assert_eq!(status(&w), CaseStatus::Accepted);
    w.handle("after");
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Handled);
    assert_eq!(s.handler.as_deref(), Some("handler-chen"));
    assert!(s.handled_at.unwrap() > dispatched_at);

    w.verify("verification");
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::VerificationSubmitted);
    assert_eq!(s.verifier.as_deref(), Some("inspector-li"));

    w.verdict(true);
    assert_eq!(status(&w), CaseStatus::Judged);
    w.step(&server(), CaseEvent::Closed(empty())).unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Closed);
    assert_eq!(s.closed_at, Some(w.now));
    assert_eq!(s.ended_at, s.closed_at);
    assert!(s.last_verdict.as_ref().unwrap().passed());
    assert!(s.ignored.is_empty(), "{:?}", s.ignored);
    assert_eq!(w.case.snapshot().unwrap().events.len(), 8);
}

#[test]
fn failed_verdict_goes_to_rework_then_closes() {
    let mut w = Walk::dispatched();
    w.handle("after-1");
    w.verify("verification-1");
    w.verdict(false);
    // A failed verdict cannot close.
    let err = w.step(&server(), CaseEvent::Closed(empty())).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    w.step(&server(), CaseEvent::Rework(reason("照片与处置前相同")))
        .unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Rework);
    assert_eq!(s.rework_count, 1);
    assert_eq!(s.unit.as_deref(), Some(UNIT), "rework stays with the unit");

    w.handle("after-2");
    w.verify("verification-2");
    w.verdict(true);
    w.step(&server(), CaseEvent::Closed(empty())).unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Closed);
    assert_eq!(s.rework_count, 1);
    assert!(s.ignored.is_empty());
}

#[test]
fn self_fix_still_needs_verification_and_verdict() {
    let mut w = Walk::reported();
    let inspector = inspector();
    let after = w.photo(&inspector, EvidenceStage::After, "self-after");
    w.step(
        &inspector,
        CaseEvent::SelfFixed(SelfFixed {
            note: Some("当场清理".into()),
            before: vec![hash("before")],
            after: vec![after],
        }),
    )
    .unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::SelfFixed);
    assert!(s.self_fixed);
    assert_eq!(s.handler.as_deref(), Some("inspector-li"));
    assert_eq!(s.unit, None);
    assert_eq!(s.dispatched_at, None);

    // Not closed on the inspector's word.
    let err = w.step(&server(), CaseEvent::Closed(empty())).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }));
    w.verify("self-verification");
    w.verdict(true);
    w.step(&server(), CaseEvent::Closed(empty())).unwrap();
    assert_eq!(status(&w), CaseStatus::Closed);
}

#[test]
fn self_fix_needs_before_and_after_photos_by_the_reporter() {
    let mut w = Walk::reported();
    // No after-photos.
    let err = w
        .step(
            &inspector(),
            CaseEvent::SelfFixed(SelfFixed {
                note: None,
                before: vec![hash("before")],
                after: vec![],
            }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("After"), "{err}");
    // A photo that is not in the evidence map.
    let err = w
        .step(
            &inspector(),
            CaseEvent::SelfFixed(SelfFixed {
                note: None,
                before: vec![hash("before")],
                after: vec![hash("never attached")],
            }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("not in the evidence map"), "{err}");
    assert_eq!(status(&w), CaseStatus::Reported);
}

#[test]
fn dispatcher_rejects_voids_or_merges() {
    let mut w = Walk::reported();
    w.step(&dispatcher(), CaseEvent::Rejected(reason("不属于城管范围")))
        .unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Rejected);
    assert!(s.ended_at.is_some());
    let err = w
        .step(&dispatcher(), CaseEvent::Registered(Registered::default()))
        .unwrap_err();
    assert!(err.to_string().contains("Rejected"), "{err}");

    let mut w = Walk::dispatched();
    w.step(
        &dispatcher(),
        CaseEvent::Voided(reason("重复上报, 系统错误")),
    )
    .unwrap();
    assert_eq!(status(&w), CaseStatus::Voided);

    let mut w = Walk::reported();
    w.register();
    let original = Uuid::now_v7();
    w.step(
        &dispatcher(),
        CaseEvent::Merged(Merged {
            duplicate_of: original,
        }),
    )
    .unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Merged);
    assert_eq!(s.duplicate_of, Some(original));

    let mut w = Walk::reported();
    let own = w.case.header().unwrap().id;
    let err = w
        .step(
            &dispatcher(),
            CaseEvent::Merged(Merged { duplicate_of: own }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("itself"), "{err}");
}

#[test]
fn registration_may_raise_urgency() {
    let mut w = Walk::reported();
    assert_eq!(state(&w).urgency, Urgency::Normal);
    w.step(
        &dispatcher(),
        CaseEvent::Registered(Registered {
            urgency: Some(Urgency::Urgent),
            note: None,
        }),
    )
    .unwrap();
    assert_eq!(state(&w).urgency, Urgency::Urgent);
}

#[test]
fn return_to_dispatch_moves_the_case_to_another_unit() {
    let mut w = Walk::dispatched();
    let first = state(&w).dispatched_at.unwrap();
    w.step(
        &handler(),
        CaseEvent::ReturnedToDispatch(reason("非本单位职责")),
    )
    .unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Registered);
    assert_eq!(s.unit, None);
    assert_eq!(s.returns, 1);

    // The old unit can no longer act on it.
    let err = w
        .step(&handler(), CaseEvent::Accepted(empty()))
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");

    w.dispatch(OTHER_UNIT);
    let s = state(&w);
    assert_eq!(s.unit.as_deref(), Some(OTHER_UNIT));
    assert_eq!(s.first_dispatched_at, Some(first));
    assert!(s.dispatched_at.unwrap() > first, "the clock restarts");
    w.step(&other_handler(), CaseEvent::Accepted(empty()))
        .unwrap();
    assert_eq!(state(&w).accepted_by.as_deref(), Some("handler-sun"));
}

#[test]
fn extension_requested_then_granted_or_denied() {
    let mut w = Walk::dispatched();
    let days = |n| TimeLimit {
        amount: n,
        unit: LimitUnit::WorkingDays,
    };
    let hours = |n| TimeLimit {
        amount: n,
        unit: LimitUnit::WorkingHours,
    };
    // A grant with nothing asked for is refused.
    let err = w
        .step(
            &dispatcher(),
            CaseEvent::ExtensionGranted(ExtensionGranted { extension: days(1) }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("no extension request"), "{err}");

    let ask = |w: &mut Walk, limit| {
        w.step(
            &handler(),
            CaseEvent::ExtensionRequested(ExtensionRequested {
                extension: limit,
                reason: "需要协调产权单位".into(),
            }),
        )
        .unwrap();
    };
    ask(&mut w, days(3));
    assert_eq!(state(&w).pending_extension, Some(days(3)));
    // One request at a time.
    let err = w
        .step(
            &handler(),
            CaseEvent::ExtensionRequested(ExtensionRequested {
                extension: days(1),
                reason: "again".into(),
            }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("already pending"), "{err}");
    w.step(
        &dispatcher(),
        CaseEvent::ExtensionGranted(ExtensionGranted { extension: days(2) }),
    )
    .unwrap();
    ask(&mut w, hours(4));
    w.step(
        &dispatcher(),
        CaseEvent::ExtensionGranted(ExtensionGranted {
            extension: hours(4),
        }),
    )
    .unwrap();
    ask(&mut w, days(10));
    w.step(
        &dispatcher(),
        CaseEvent::ExtensionDenied(reason("理由不足")),
    )
    .unwrap();

    let s = state(&w);
    assert_eq!(s.pending_extension, None);
    assert_eq!(s.extensions, vec![days(2), hours(4)]);
    assert_eq!(s.total_extension.working_days, 2);
    assert_eq!(s.total_extension.working_hours, 4);
}

#[test]
fn suspension_stops_handling_until_resumed() {
    let mut w = Walk::dispatched();
    w.step(&dispatcher(), CaseEvent::Suspended(reason("待拆迁, 挂账")))
        .unwrap();
    let from = w.now;
    assert!(state(&w).is_suspended());
    let err = w
        .step(&dispatcher(), CaseEvent::Suspended(reason("twice")))
        .unwrap_err();
    assert!(err.to_string().contains("already suspended"), "{err}");

    let after = w.photo(&handler(), EvidenceStage::After, "after");
    let handled = CaseEvent::Handled(Handled {
        note: None,
        photos: vec![after],
    });
    let err = w.step(&handler(), handled.clone()).unwrap_err();
    assert!(err.to_string().contains("suspended"), "{err}");

    w.step(&dispatcher(), CaseEvent::Resumed(empty())).unwrap();
    let to = w.now;
    w.step(&handler(), handled).unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Handled);
    assert_eq!(s.suspensions.len(), 1);
    assert_eq!(s.suspensions[0].from, from);
    assert_eq!(s.suspensions[0].to, Some(to));
    assert!(!s.is_suspended());
}

#[test]
fn server_warns_supervises_and_escalates() {
    let mut w = Walk::dispatched();
    let deadline = w.now + 4 * fieldloop_core::time::HOUR;
    w.step(
        &server(),
        CaseEvent::DeadlineWarning(DeadlineNotice { deadline }),
    )
    .unwrap();
    let warned = w.now;
    w.step(&server(), CaseEvent::Overdue(DeadlineNotice { deadline }))
        .unwrap();
    let overdue = w.now;
    w.step(
        &server(),
        CaseEvent::Supervised(fieldloop_core::case::events::Supervision {
            reason: "超期督办".into(),
            due: None,
            automatic: true,
        }),
    )
    .unwrap();
    w.step(
        &server(),
        CaseEvent::Escalated(Escalated {
            to: "district-centre".into(),
            reason: "督办后仍未处置".into(),
        }),
    )
    .unwrap();
    let s = state(&w);
    assert_eq!(s.warned_at, Some(warned));
    assert_eq!(s.overdue_at, Some(overdue));
    assert!(s.supervised);
    assert_eq!(s.supervision_count, 1);
    assert_eq!(s.escalated_to.as_deref(), Some("district-centre"));
    assert_eq!(
        s.status,
        CaseStatus::Dispatched,
        "side paths keep the status"
    );

    // No deadline runs before dispatch.
    let mut w = Walk::reported();
    w.register();
    let err = w
        .step(
            &server(),
            CaseEvent::Overdue(DeadlineNotice { deadline: T0 }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("before dispatch"), "{err}");
}

#[test]
fn illegal_events_stay_in_the_log_marked_ignored() {
    let mut w = Walk::reported();
    // Handled before dispatch (the handler's device skipped the checks).
    let early = w.raw(
        &handler(),
        CaseEvent::Handled(Handled {
            note: None,
            photos: vec![hash("before")],
        }),
    );
    w.register();
    w.dispatch(UNIT);
    w.handle("after");
    w.verify("verification");
    // Closed by a device: only the server closes.
    let forged_close = w.raw(&dispatcher(), CaseEvent::Closed(empty()));
    w.verdict(true);
    let second_verdict = w.raw(&server(), verdict(false));
    w.step(&server(), CaseEvent::Closed(empty())).unwrap();
    let after_close = w.raw(&dispatcher(), CaseEvent::Voided(reason("too late")));

    let snapshot = w.case.snapshot().unwrap();
    let s = fold(&snapshot);
    assert_eq!(s.status, CaseStatus::Closed);
    assert_eq!(s.ignored.len(), 4, "{:#?}", s.ignored);
    assert!(reason_of(&s, &early).contains("Reported"));
    assert!(reason_of(&s, &forged_close).contains("may not write case.closed"));
    assert!(reason_of(&s, &second_verdict).contains("already has a verdict"));
    assert!(reason_of(&s, &after_close).contains("already Closed"));
    // Nothing dropped: the audit trail has every entry.
    for e in [&early, &forged_close, &second_verdict, &after_close] {
        assert!(snapshot.events.iter().any(|x| x.id == e.id));
    }
    // The ignored verdict did not replace the passed one.
    assert!(s.last_verdict.unwrap().passed());
}

#[test]
fn unknown_or_malformed_events_are_ignored_not_fatal() {
    let mut w = Walk::reported();
    let mut unknown = CaseEvent::Accepted(empty())
        .to_event(Uuid::now_v7(), T0 + 1, "inspector-li", inspector().role)
        .unwrap();
    unknown.kind = "case.teleported".into();
    w.case.doc_mut().append_event(&unknown).unwrap();
    let mut malformed = CaseEvent::Registered(Registered::default())
        .to_event(Uuid::now_v7(), T0 + 2, "dispatcher-zhao", dispatcher().role)
        .unwrap();
    malformed.data = serde_json::json!({"urgency": "whenever"});
    w.case.doc_mut().append_event(&malformed).unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Reported);
    assert!(reason_of(&s, &unknown).contains("unknown event type"));
    assert!(reason_of(&s, &malformed).contains("case.registered"));
}

#[test]
fn an_event_before_the_report_is_ignored_and_a_second_report_too() {
    let mut w = Walk::reported();
    let mut early = CaseEvent::Registered(Registered::default())
        .to_event(Uuid::now_v7(), T0 - 1, "dispatcher-zhao", dispatcher().role)
        .unwrap();
    early.data = serde_json::Value::Null;
    w.case.doc_mut().append_event(&early).unwrap();
    let again = w.raw(&inspector(), CaseEvent::Reported(Default::default()));
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Reported);
    assert!(reason_of(&s, &early).contains("not been reported"));
    assert!(reason_of(&s, &again).contains("already reported"));
}

#[test]
fn the_device_refuses_what_the_table_or_the_lifecycle_forbids() {
    let mut w = Walk::reported();
    // Wrong role.
    let err = w
        .step(&inspector(), CaseEvent::Registered(Registered::default()))
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    // Server-only, whatever the role.
    let err = w.step(&dispatcher(), verdict(true)).unwrap_err();
    assert!(
        matches!(&err, Error::Forbidden(r) if r.contains("server only")),
        "{err}"
    );
    // Outside the dispatcher's street.
    let mut far = dispatcher();
    far.jurisdiction.grid_prefixes = vec!["110105002".into()];
    let err = w
        .step(&far, CaseEvent::Registered(Registered::default()))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Forbidden(r) if r.contains("jurisdiction")),
        "{err}"
    );
    // Allowed by the table, not by the lifecycle.
    let err = w
        .step(
            &handler(),
            CaseEvent::Handled(Handled {
                note: None,
                photos: vec![],
            }),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "no unit yet: {err}");
    w.register();
    let err = w
        .step(
            &inspector(),
            CaseEvent::VerificationSubmitted(VerificationSubmitted::default()),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    // Nothing of that reached the log.
    let s = state(&w);
    assert_eq!(w.case.snapshot().unwrap().events.len(), 2);
    assert!(s.ignored.is_empty());
}

#[test]
fn handled_needs_after_photos_from_the_evidence_map() {
    let mut w = Walk::dispatched();
    let err = w
        .step(
            &handler(),
            CaseEvent::Handled(Handled {
                note: None,
                photos: vec![hash("before")],
            }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("is Before evidence"), "{err}");
    let err = w
        .step(
            &handler(),
            CaseEvent::Handled(Handled {
                note: None,
                photos: vec![],
            }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("without After photos"), "{err}");
}

#[test]
fn an_event_that_would_break_a_later_one_is_refused() {
    let mut w = Walk::dispatched();
    w.step(&handler(), CaseEvent::Accepted(empty())).unwrap();
    // The dispatcher's clock is behind: a return before the acceptance would make the
    // acceptance illegal.
    let at = w.now - 30_000;
    let err = w
        .case
        .append(
            &handler(),
            &CaseEvent::ReturnedToDispatch(reason("wrong unit")),
            Uuid::now_v7(),
            at,
        )
        .unwrap_err();
    assert!(err.to_string().contains("later case.accepted"), "{err}");
}

#[test]
fn evidence_is_added_in_ones_own_name_and_role() {
    let mut w = Walk::dispatched();
    let mut forged = evidence(EvidenceStage::After, &handler(), w.now);
    forged.by = "someone-else".into();
    let err = w
        .case
        .add_evidence(&handler(), &hash("x"), &forged)
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    let err = w
        .case
        .add_evidence(
            &handler(),
            &hash("y"),
            &evidence(EvidenceStage::Verification, &handler(), w.now),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    let err = w
        .case
        .add_evidence(
            &other_handler(),
            &hash("z"),
            &evidence(EvidenceStage::After, &other_handler(), w.now),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Forbidden(r) if r.contains("jurisdiction")),
        "{err}"
    );
    let err = w
        .case
        .add_evidence(
            &handler(),
            "not-a-hash",
            &evidence(EvidenceStage::After, &handler(), w.now),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "photo hash",
                ..
            }
        ),
        "{err}"
    );
    // The first entry for a hash wins.
    let h = w.photo(&handler(), EvidenceStage::After, "after");
    let again = w
        .case
        .add_evidence(
            &handler(),
            &h,
            &evidence(EvidenceStage::After, &handler(), 0),
        )
        .unwrap();
    assert!(!again);
    assert_eq!(w.case.snapshot().unwrap().evidence[&h].taken_at, w.now);
}

fn new_case(category: &str, grid: &str) -> NewCase {
    NewCase {
        id: Uuid::now_v7(),
        event_id: Uuid::now_v7(),
        at: T0,
        category: category.into(),
        position: POSITION,
        grid_cell: grid.into(),
        description: None,
        address: None,
        report: Default::default(),
        before_photos: vec![],
    }
}

#[test]
fn creation_validates_codes_place_and_reporter() {
    let actor = actor_for(&Uuid::now_v7());
    let invalid = |new: NewCase, what: &str| match CaseDoc::create(&inspector(), &actor, new) {
        Err(Error::Invalid { what: w, .. }) => assert_eq!(w, what),
        other => panic!("expected invalid {what}, got {other:?}"),
    };
    invalid(new_case("30102", GRID), "category key");
    invalid(new_case("2010", GRID), "category code");
    invalid(new_case("20102", "11010500100200"), "grid cell");
    invalid(new_case("20102", "000105001002003"), "grid cell");
    let mut bad = new_case("20102", GRID);
    bad.position = Position {
        lat: 139.9,
        lon: 116.4,
        accuracy_m: 5.0,
    };
    invalid(bad, "position");
    let mut nan = new_case("20102", GRID);
    nan.position.lon = f64::NAN;
    invalid(nan, "position");
    // The component id names another category than the case.
    let mut wrong = new_case("10101", GRID);
    wrong.report.component_id = Some("1101050118000042".into());
    invalid(wrong, "component id");
    let mut event_case = new_case("20101", GRID);
    event_case.report.component_id = Some("1101050101000042".into());
    invalid(event_case, "component id");

    let mut ok = new_case("10101", GRID);
    ok.report.component_id = Some("1101050101000042".into());
    let case = CaseDoc::create(&inspector(), &actor, ok).unwrap();
    let s = case.state().unwrap();
    assert_eq!(s.component_id.as_deref(), Some("1101050101000042"));
    assert_eq!(
        case.header().unwrap().scope.grid_cell.as_deref(),
        Some(GRID)
    );

    // Not in this inspector's cells.
    match CaseDoc::create(&other_inspector(), &actor, new_case("20102", GRID)) {
        Err(Error::Forbidden(r)) => assert!(r.contains("jurisdiction"), "{r}"),
        other => panic!("expected forbidden, got {other:?}"),
    }
    // A handler does not file reports.
    assert!(matches!(
        CaseDoc::create(&handler(), &actor, new_case("20102", GRID)),
        Err(Error::Forbidden(_))
    ));
}

#[test]
fn open_refuses_other_document_kinds() {
    let w = Walk::reported();
    let mut header = w.case.header().unwrap();
    header.kind = fieldloop_core::doc::DocKind::Notice;
    let doc = fieldloop_core::doc::Doc::create(&header, &actor_for(&Uuid::now_v7())).unwrap();
    assert!(matches!(
        CaseDoc::open(doc),
        Err(Error::Invalid {
            what: "case document",
            ..
        })
    ));
    let reopened = CaseDoc::open(w.case.clone().into_doc()).unwrap();
    assert_eq!(reopened.state().unwrap(), w.case.state().unwrap());
}

#[test]
fn state_and_events_round_trip_through_json() {
    let mut w = Walk::dispatched();
    w.step(&dispatcher(), CaseEvent::Suspended(reason("挂账")))
        .unwrap();
    w.step(&dispatcher(), CaseEvent::Resumed(empty())).unwrap();
    w.handle("after");
    w.raw(&inspector(), CaseEvent::Closed(empty()));
    let s = state(&w);
    let json = serde_json::to_string(&s).unwrap();
    let back: CaseState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);

    // Every stored event reads back as the typed event it was written from.
    for event in w.case.snapshot().unwrap().events {
        let typed = CaseEvent::from_event(&event).unwrap();
        assert_eq!(typed.kind(), event.kind);
        let again = typed
            .to_event(event.id, event.at, &event.by, event.role)
            .unwrap();
        assert_eq!(again, event);
    }
    assert_eq!(kinds::SELF_FIXED, "case.self_fixed");
}

#[test]
fn a_failed_self_fix_is_fixed_again_by_the_inspector() {
    let mut w = Walk::reported();
    let inspector = inspector();
    let self_fix = |w: &mut Walk, label: &str| {
        let after = w.photo(&inspector, EvidenceStage::After, label);
        w.step(
            &inspector,
            CaseEvent::SelfFixed(SelfFixed {
                note: None,
                before: vec![hash("before")],
                after: vec![after],
            }),
        )
        .unwrap();
    };
    self_fix(&mut w, "self-after-1");
    w.verify("self-verification-1");
    w.verdict(false);
    w.step(&server(), CaseEvent::Rework(reason("仍有垃圾")))
        .unwrap();
    assert_eq!(status(&w), CaseStatus::Rework);
    // No unit holds a self-fixed case, so no handler can take the rework.
    let err = w
        .step(
            &handler(),
            CaseEvent::Handled(Handled {
                note: None,
                photos: vec![],
            }),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    self_fix(&mut w, "self-after-2");
    w.verify("self-verification-2");
    w.verdict(true);
    w.step(&server(), CaseEvent::Closed(empty())).unwrap();
    let s = state(&w);
    assert_eq!(s.status, CaseStatus::Closed);
    assert_eq!(s.rework_count, 1);
    assert!(s.ignored.is_empty());
}
