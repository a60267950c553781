//! 督办 and dispatch control (issue 9 §1), in the one permission table and the fold:
//! 督办 by a dispatcher with a reason and a new due time, shown in the phone's list and
//! counted in the evaluation; the scheduler's automatic 督办; the dispatcher's 收回 and
//! re-dispatch; a handler's 退回 in the dispatcher's queue; suspension requests decided by
//! the dispatcher; an admin's void and reopen.

use crate::case_support::*;

use fieldloop_core::case::events::{Reason, Supervision};
use fieldloop_core::case::{kinds, CaseEvent, CaseStatus};
use fieldloop_core::catalogue::Catalogue;
use fieldloop_core::roles::{all_rules, decide_in, Decision, Jurisdiction, Principal, Role};
use fieldloop_core::schedule::{due_deadline_events, DeadlinePolicy};
use fieldloop_core::sla::Calendar;
use fieldloop_core::sync::client::listing_for;
use fieldloop_core::time::{DAY, HOUR};

fn admin() -> Principal {
    Principal {
        user_id: "admin-qian".into(),
        role: Role::Admin,
        jurisdiction: Jurisdiction {
            everywhere: true,
            ..Default::default()
        },
    }
}

fn why(text: &str) -> Reason {
    Reason {
        reason: text.into(),
    }
}

fn accepted() -> Walk {
    let mut walk = Walk::dispatched();
    walk.step(&handler(), CaseEvent::Accepted(Default::default()))
        .expect("accept");
    walk
}

#[test]
fn a_dispatcher_orders_supervision_with_a_reason_and_a_new_due_time() {
    let mut walk = accepted();
    let due = walk.now + 2 * HOUR;
    let order = CaseEvent::Supervised(Supervision {
        reason: "群众多次投诉，限两小时内处置".into(),
        due: Some(due),
        automatic: false,
    });
    for (who, role) in [(handler(), "handler"), (inspector(), "inspector")] {
        assert!(
            walk.step(&who, order.clone()).is_err(),
            "a {role} may not order 督办"
        );
    }
    walk.step(&dispatcher(), order)
        .expect("the dispatcher orders 督办");
    let state = walk.case.state().unwrap();
    assert!(state.supervised);
    assert_eq!(state.supervision_count, 1);
    assert_eq!(state.supervision_due, Some(due));
    assert_eq!(
        state.supervision_reason.as_deref(),
        Some("群众多次投诉，限两小时内处置")
    );
    let listing = listing_for(walk.case.doc()).unwrap();
    assert!(listing.title.starts_with("【督办】"), "{}", listing.title);
    assert_eq!(
        listing.deadline,
        Some(due),
        "the phone counts down to the new due time"
    );
    let without_reason = CaseEvent::Supervised(Supervision::default());
    assert!(walk.step(&dispatcher(), without_reason).is_err());
    assert!(matches!(
        decide_in(
            all_rules(),
            &admin(),
            kinds::SUPERVISED,
            &Default::default()
        ),
        Decision::Allowed
    ));
}

#[test]
fn the_scheduler_orders_automatic_supervision_past_the_threshold() {
    let walk = accepted();
    let snapshot = walk.case.snapshot().unwrap();
    let state = walk.case.state().unwrap();
    let due = due_deadline_events(
        &state,
        &snapshot.events,
        &Catalogue::builtin().unwrap(),
        &Calendar::bundled().unwrap(),
        &DeadlinePolicy::default(),
        walk.now + 30 * DAY,
    )
    .unwrap();
    let automatic = due
        .iter()
        .find_map(|e| match e {
            CaseEvent::Supervised(s) => Some(s.clone()),
            _ => None,
        })
        .expect("an automatic 督办 among the deadline events");
    assert!(automatic.automatic);
    assert!(
        automatic.reason.contains("自动督办"),
        "{}",
        automatic.reason
    );
}

#[test]
fn the_dispatcher_takes_a_case_back_and_dispatches_it_again() {
    let mut walk = accepted();
    assert!(
        walk.step(&handler(), CaseEvent::Recalled(why("不作为")))
            .is_err(),
        "only the dispatcher takes a case back"
    );
    walk.step(&dispatcher(), CaseEvent::Recalled(why("单位三天未处置")))
        .expect("recall");
    let state = walk.case.state().unwrap();
    assert_eq!(state.status, CaseStatus::Registered);
    assert_eq!(state.unit, None);
    assert_eq!(state.recalls, 1);
    assert!(state.back_to_dispatch.as_deref().unwrap().contains("收回"));
    walk.dispatch(OTHER_UNIT);
    let state = walk.case.state().unwrap();
    assert_eq!(state.unit.as_deref(), Some(OTHER_UNIT));
    assert_eq!(state.back_to_dispatch, None);
    assert!(
        walk.step(&handler(), CaseEvent::Accepted(Default::default()))
            .is_err(),
        "the first unit has lost it"
    );
}

#[test]
fn a_handlers_return_lands_in_the_dispatchers_queue_with_its_reason() {
    let mut walk = accepted();
    walk.step(
        &handler(),
        CaseEvent::ReturnedToDispatch(why("不属于本单位职责")),
    )
    .expect("return");
    let state = walk.case.state().unwrap();
    assert_eq!(state.status, CaseStatus::Registered);
    assert_eq!(
        state.back_to_dispatch.as_deref(),
        Some("退回: 不属于本单位职责")
    );
    assert!(matches!(
        decide_in(
            all_rules(),
            &dispatcher(),
            kinds::DISPATCHED,
            &state.scope(&walk.case.snapshot().unwrap().header)
        ),
        Decision::Allowed
    ));
}

#[test]
fn a_suspension_request_is_refused_or_approved_by_the_dispatcher() {
    let mut walk = accepted();
    walk.step(
        &handler(),
        CaseEvent::SuspensionRequested(why("需等待管线迁改")),
    )
    .expect("request");
    assert!(walk
        .step(&handler(), CaseEvent::SuspensionDenied(why("x")))
        .is_err());
    walk.step(
        &dispatcher(),
        CaseEvent::SuspensionDenied(why("可以先行处置")),
    )
    .expect("denied");
    let state = walk.case.state().unwrap();
    assert_eq!(state.pending_suspension, None);
    assert!(!state.is_suspended());
    walk.step(
        &handler(),
        CaseEvent::SuspensionRequested(why("需等待管线迁改")),
    )
    .expect("asked again");
    walk.step(&dispatcher(), CaseEvent::Suspended(why("同意缓办")))
        .expect("approved");
    let state = walk.case.state().unwrap();
    assert!(state.is_suspended());
    assert_eq!(state.pending_suspension, None);
}

#[test]
fn an_admin_voids_and_reopens_with_a_reason() {
    let mut walk = accepted();
    assert!(walk
        .step(&dispatcher(), CaseEvent::Reopened(why("x")))
        .is_err());
    walk.step(&admin(), CaseEvent::Voided(why("重复录入")))
        .expect("an admin voids");
    assert_eq!(walk.case.state().unwrap().status, CaseStatus::Voided);
    walk.step(&admin(), CaseEvent::Reopened(why("并非重复，误作废")))
        .expect("an admin reopens");
    let state = walk.case.state().unwrap();
    assert_eq!(state.status, CaseStatus::Registered);
    assert_eq!(state.reopened, 1);
    assert_eq!(state.ended_at, None);
    walk.dispatch(UNIT);
    assert_eq!(walk.case.state().unwrap().status, CaseStatus::Dispatched);
    assert!(
        walk.step(&admin(), CaseEvent::Reopened(why("again")))
            .is_err(),
        "only an ended case is reopened"
    );
}
