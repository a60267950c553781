//! Two devices fork one case, write offline, and merge both ways: every event of both is
//! kept and both fold to the same state, also when their events conflict.

use crate::case_support;

use case_support::*;
use fieldloop_core::case::events::{ExtensionRequested, Handled};
use fieldloop_core::case::{fold, CaseDoc, CaseEvent, CaseStatus, PERMISSIONS};
use fieldloop_core::doc::{actor_for, Doc, EvidenceStage, Snapshot};
use fieldloop_core::rules::validate_update;
use fieldloop_core::sla::{LimitUnit, TimeLimit};
use uuid::Uuid;

/// The dispatched case as two devices hold it after a sync: each with its own actor.
fn fork() -> (Walk, CaseDoc, CaseDoc) {
    let mut w = Walk::dispatched();
    let bytes = w.case.doc_mut().save();
    let open = |device: Uuid| {
        CaseDoc::open(Doc::load(&bytes, &actor_for(&device)).expect("loads")).expect("a case")
    };
    let a = open(Uuid::now_v7());
    let b = open(Uuid::now_v7());
    (w, a, b)
}

fn merge_both_ways(a: &mut CaseDoc, b: &mut CaseDoc) {
    let mut b_copy = b.doc().clone();
    let mut a_copy = a.doc().clone();
    a.doc_mut().merge(&mut b_copy).unwrap();
    b.doc_mut().merge(&mut a_copy).unwrap();
}

#[test]
fn concurrent_events_are_all_kept_and_fold_alike() {
    let (w, mut handler_phone, mut dispatcher_phone) = fork();
    let t = w.now;
    let accepted = handler_phone
        .append(
            &handler(),
            &CaseEvent::Accepted(empty()),
            Uuid::now_v7(),
            t + 60_000,
        )
        .unwrap();
    let asked = handler_phone
        .append(
            &handler(),
            &CaseEvent::ExtensionRequested(ExtensionRequested {
                extension: TimeLimit {
                    amount: 2,
                    unit: LimitUnit::WorkingDays,
                },
                reason: "材料未到".into(),
            }),
            Uuid::now_v7(),
            t + 180_000,
        )
        .unwrap();
    let suspended = dispatcher_phone
        .append(
            &dispatcher(),
            &CaseEvent::Suspended(reason("业主外出")),
            Uuid::now_v7(),
            t + 120_000,
        )
        .unwrap();

    merge_both_ways(&mut handler_phone, &mut dispatcher_phone);
    let on_h = handler_phone.snapshot().unwrap();
    let on_d = dispatcher_phone.snapshot().unwrap();
    assert_eq!(on_h, on_d);
    for e in [&accepted, &asked, &suspended] {
        assert_eq!(
            on_h.events.iter().filter(|x| x.id == e.id).count(),
            1,
            "{}",
            e.kind
        );
    }
    assert_eq!(on_h.events.len(), 6);
    let state = fold(&on_h);
    assert_eq!(state, fold(&on_d));
    assert_eq!(state.status, CaseStatus::Accepted);
    assert!(state.is_suspended());
    assert_eq!(state.pending_extension.map(|l| l.amount), Some(2));
    assert!(state.ignored.is_empty(), "{:?}", state.ignored);

    // The server would take either side's change on its own.
    let base = w.case.snapshot().unwrap();
    let mut only_h = base.clone();
    only_h.events.extend([accepted, asked]);
    only_h
        .events
        .sort_by(|a, b| a.fold_key().cmp(&b.fold_key()));
    validate_update(&handler(), Some(&base), &only_h, PERMISSIONS).unwrap();
}

#[test]
fn conflicting_offline_events_resolve_the_same_on_both_devices() {
    let (w, mut handler_phone, mut dispatcher_phone) = fork();
    let t = w.now;
    // The handler fixes it offline while the dispatcher, also offline, pulls it back.
    let after = hash("after-offline");
    handler_phone
        .add_evidence(
            &handler(),
            &after,
            &evidence(EvidenceStage::After, &handler(), t + 1),
        )
        .unwrap();
    let handled = handler_phone
        .append(
            &handler(),
            &CaseEvent::Handled(Handled {
                note: None,
                photos: vec![after.clone()],
            }),
            Uuid::now_v7(),
            t + 300_000,
        )
        .unwrap();
    let voided = dispatcher_phone
        .append(
            &dispatcher(),
            &CaseEvent::Voided(reason("重复案件")),
            Uuid::now_v7(),
            t + 200_000,
        )
        .unwrap();

    merge_both_ways(&mut handler_phone, &mut dispatcher_phone);
    let s_h = handler_phone.state().unwrap();
    let s_d = dispatcher_phone.state().unwrap();
    assert_eq!(s_h, s_d);
    // Voided came first in fold order; the handling stays in the log, ignored.
    assert_eq!(s_h.status, CaseStatus::Voided);
    assert_eq!(s_h.ignored.len(), 1);
    assert_eq!(s_h.ignored[0].event, handled.id);
    let snap = dispatcher_phone.snapshot().unwrap();
    assert!(snap.events.iter().any(|e| e.id == handled.id));
    assert!(snap.events.iter().any(|e| e.id == voided.id));
    assert!(
        snap.evidence.contains_key(&after),
        "the photo reference travelled too"
    );
}

#[test]
fn changes_travel_as_bytes_since_shared_heads() {
    let (w, mut handler_phone, mut server_copy) = fork();
    let shared = handler_phone.doc_mut().heads();
    handler_phone
        .append(
            &handler(),
            &CaseEvent::Accepted(empty()),
            Uuid::now_v7(),
            w.now + 1_000,
        )
        .unwrap();
    let delta = handler_phone.doc_mut().save_after(&shared);
    assert!(!delta.is_empty());
    let applied = server_copy.doc_mut().load_changes(&delta).unwrap();
    assert!(applied > 0);
    // Applying the same bytes again changes nothing (a retried request).
    server_copy.doc_mut().load_changes(&delta).unwrap();
    assert_eq!(
        server_copy.snapshot().unwrap(),
        handler_phone.snapshot().unwrap()
    );
    assert_eq!(server_copy.state().unwrap().status, CaseStatus::Accepted);
    assert_eq!(
        server_copy.doc_mut().heads(),
        handler_phone.doc_mut().heads()
    );
}

/// The server's copy with the handler's return, and a colleague's offline handling at
/// `handled_at`, merged; returns (before, after, handled event id, merged doc).
fn overtaken(handled_at_offset: i64) -> (Snapshot, Snapshot, Uuid, CaseDoc) {
    let (w, mut colleague_phone, mut server_copy) = fork();
    let t = w.now;
    // A dispatcher does not return a case; the handler does.
    let err = server_copy
        .append(
            &dispatcher(),
            &CaseEvent::ReturnedToDispatch(reason("改派")),
            Uuid::now_v7(),
            t + 60_000,
        )
        .unwrap_err();
    assert!(matches!(err, fieldloop_core::Error::Forbidden(_)));
    server_copy
        .append(
            &handler(),
            &CaseEvent::ReturnedToDispatch(reason("非本单位职责")),
            Uuid::now_v7(),
            t + 60_000,
        )
        .unwrap();
    let colleague = {
        let mut p = handler();
        p.user_id = "handler-zhou".into();
        p
    };
    let after = hash("after-overtaken");
    colleague_phone
        .add_evidence(
            &colleague,
            &after,
            &evidence(EvidenceStage::After, &colleague, t + 10_000),
        )
        .unwrap();
    let handled = colleague_phone
        .append(
            &colleague,
            &CaseEvent::Handled(Handled {
                note: None,
                photos: vec![after],
            }),
            Uuid::now_v7(),
            t + handled_at_offset,
        )
        .unwrap();
    let before = server_copy.snapshot().unwrap();
    let mut incoming = colleague_phone.doc().clone();
    server_copy.doc_mut().merge(&mut incoming).unwrap();
    (
        before,
        server_copy.snapshot().unwrap(),
        handled.id,
        server_copy,
    )
}

#[test]
fn offline_work_is_judged_by_who_held_the_case_when_it_was_written() {
    let colleague = {
        let mut p = handler();
        p.user_id = "handler-zhou".into();
        p
    };
    // Handled before the return: accepted; the return, now after the handling, is ignored.
    let (before, after, handled, merged) = overtaken(30_000);
    validate_update(&colleague, Some(&before), &after, PERMISSIONS)
        .expect("written while the unit held the case");
    let state = merged.state().unwrap();
    assert_eq!(state.status, CaseStatus::Handled);
    assert!(!state.is_ignored(handled));
    assert_eq!(state.ignored.len(), 1);
    assert_eq!(state.ignored[0].kind, "case.returned_to_dispatch");

    // Handled after the return: the unit no longer held the case, so the server refuses
    // the change (the device keeps it in quarantine and shows it).
    let (before, after, _, _) = overtaken(120_000);
    let refused = validate_update(&colleague, Some(&before), &after, PERMISSIONS).unwrap_err();
    assert!(
        refused.reason.contains("jurisdiction"),
        "{}",
        refused.reason
    );
}
