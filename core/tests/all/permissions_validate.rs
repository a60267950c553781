//! `validate_update`: what the server refuses from a device (and the device checks before
//! it writes): header changes, removed or altered events, forged authors, server-only
//! events, events outside the author's jurisdiction, rewritten evidence, bad new documents.

use crate::case_support;

use automerge::{transaction::Transactable, ReadDoc, ROOT};
use case_support::*;
use fieldloop_core::case::events::{Dispatched, Handled, Registered};
use fieldloop_core::case::{CaseEvent, PERMISSIONS};
use fieldloop_core::doc::{actor_for, Doc, EvidenceStage, Snapshot};
use fieldloop_core::roles::{Jurisdiction, Principal};
use fieldloop_core::rules::{
    validate_doc_update, validate_doc_update_pair, validate_update, Rejection,
};
use uuid::Uuid;

fn snapshot(w: &Walk) -> Snapshot {
    w.case.snapshot().unwrap()
}

/// `before` plus one event written by `author`, appended without any check.
fn with_event(w: &mut Walk, author: &Principal, event: CaseEvent) -> Snapshot {
    w.raw(author, event);
    snapshot(w)
}

fn rejected<T>(result: Result<T, Rejection>) -> String {
    match result {
        Err(r) => r.reason,
        Ok(_) => panic!("the update was accepted"),
    }
}

fn handled_with_photo(w: &mut Walk) -> CaseEvent {
    let h = w.photo(&handler(), EvidenceStage::After, "after");
    CaseEvent::Handled(Handled {
        note: None,
        photos: vec![h],
    })
}

#[test]
fn an_allowed_update_passes() {
    let mut w = Walk::dispatched();
    let before = snapshot(&w);
    let event = handled_with_photo(&mut w);
    let after = with_event(&mut w, &handler(), event);
    validate_update(&handler(), Some(&before), &after, PERMISSIONS).unwrap();
    // Nothing new at all is fine too (a repeated sync).
    validate_update(&handler(), Some(&after), &after, PERMISSIONS).unwrap();
}

#[test]
fn an_accepted_document_update_hands_back_both_folds() {
    let mut w = Walk::dispatched();
    let before_doc = w.case.doc().clone();
    let event = handled_with_photo(&mut w);
    w.step(&handler(), event).unwrap();
    let pair =
        validate_doc_update_pair(&handler(), Some(&before_doc), w.case.doc(), PERMISSIONS).unwrap();
    assert_eq!(pair.before, Some(before_doc.snapshot().unwrap()));
    assert_eq!(pair.after, snapshot(&w));
    assert_eq!(
        pair.after.events.len(),
        pair.before.unwrap().events.len() + 1
    );
}

#[test]
fn a_changed_header_is_refused() {
    let w = Walk::reported();
    let before = snapshot(&w);
    let mut after = before.clone();
    after.header.category = Some("20101".into());
    let reason = rejected(validate_update(
        &inspector(),
        Some(&before),
        &after,
        PERMISSIONS,
    ));
    assert!(reason.contains("header"), "{reason}");

    // On documents the stored text is compared, so even a re-serialisation that parses
    // to the same header is refused.
    let mut doc = w.case.doc().clone();
    let raw = doc.raw_header().unwrap().unwrap();
    let same_meaning = raw.replacen(',', ", ", 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&same_meaning).unwrap(),
        serde_json::from_str::<serde_json::Value>(&raw).unwrap()
    );
    doc.automerge().put(ROOT, "header", same_meaning).unwrap();
    let reason = rejected(validate_doc_update(
        &inspector(),
        Some(w.case.doc()),
        &doc,
        PERMISSIONS,
    ));
    assert!(reason.contains("header"), "{reason}");
    validate_doc_update(&inspector(), Some(w.case.doc()), w.case.doc(), PERMISSIONS).unwrap();
}

#[test]
fn a_removed_or_altered_event_is_refused() {
    let mut w = Walk::dispatched();
    let before = snapshot(&w);

    let mut removed = before.clone();
    let gone = removed.events.remove(1);
    let reason = rejected(validate_update(
        &dispatcher(),
        Some(&before),
        &removed,
        PERMISSIONS,
    ));
    assert!(
        reason.contains("removed") && reason.contains(&gone.id.to_string()),
        "{reason}"
    );

    let mut altered = before.clone();
    altered.events[2].data = serde_json::json!({"unit": OTHER_UNIT});
    let reason = rejected(validate_update(
        &dispatcher(),
        Some(&before),
        &altered,
        PERMISSIONS,
    ));
    assert!(reason.contains("altered"), "{reason}");

    // Removing from the automerge list itself is caught on the documents too.
    let mut doc = w.case.doc().clone();
    let am = doc.automerge();
    let events = match am.get(ROOT, "events").unwrap() {
        Some((_, id)) => id,
        None => panic!("no events list"),
    };
    am.delete(&events, 0).unwrap();
    am.commit();
    let reason = rejected(validate_doc_update(
        &dispatcher(),
        Some(w.case.doc()),
        &doc,
        PERMISSIONS,
    ));
    assert!(reason.contains("removed"), "{reason}");

    // A second entry with an existing id but other contents.
    let mut twin = w.case.snapshot().unwrap().events[1].clone();
    // Sorted apart from the original, so the log reader cannot fold the two into one.
    twin.at += 90_000;
    w.case.doc_mut().append_event(&twin).unwrap();
    let reason = rejected(validate_update(
        &dispatcher(),
        Some(&before),
        &snapshot(&w),
        PERMISSIONS,
    ));
    assert!(reason.contains("twice"), "{reason}");
}

#[test]
fn a_forged_author_or_role_is_refused() {
    let mut w = Walk::dispatched();
    let before = snapshot(&w);
    let event = handled_with_photo(&mut w);
    // Written in the handler's name, sent by the dispatcher.
    let after = with_event(&mut w, &handler(), event);
    let reason = rejected(validate_update(
        &dispatcher(),
        Some(&before),
        &after,
        PERMISSIONS,
    ));
    assert!(reason.contains("claims to be by handler-chen"), "{reason}");

    // The right name with another role.
    let mut w = Walk::reported();
    let before = snapshot(&w);
    let mut posing = inspector();
    posing.role = fieldloop_core::roles::Role::Dispatcher;
    let after = with_event(
        &mut w,
        &posing,
        CaseEvent::Registered(Registered::default()),
    );
    let reason = rejected(validate_update(
        &inspector(),
        Some(&before),
        &after,
        PERMISSIONS,
    ));
    assert!(reason.contains("claims role"), "{reason}");
}

#[test]
fn a_server_only_event_from_a_device_is_refused() {
    let mut w = Walk::dispatched();
    w.handle("after");
    w.verify("verification");
    let before = snapshot(&w);
    // The inspector's device writes a passing verdict in its own name and role.
    let after = with_event(&mut w, &inspector(), verdict(true));
    let reason = rejected(validate_update(
        &inspector(),
        Some(&before),
        &after,
        PERMISSIONS,
    ));
    assert!(reason.contains("server only"), "{reason}");
    // The server itself may.
    let mut w2 = Walk::dispatched();
    w2.handle("after");
    w2.verify("verification");
    let before = snapshot(&w2);
    let after = with_event(&mut w2, &server(), verdict(true));
    validate_update(&server(), Some(&before), &after, PERMISSIONS).unwrap();
}

#[test]
fn jurisdiction_is_judged_where_the_event_lands() {
    // Dispatched to the other unit: our handler's event is refused.
    let mut w = Walk::reported();
    w.register();
    w.dispatch(OTHER_UNIT);
    let before = snapshot(&w);
    let after = with_event(&mut w, &handler(), CaseEvent::Accepted(empty()));
    let reason = rejected(validate_update(
        &handler(),
        Some(&before),
        &after,
        PERMISSIONS,
    ));
    assert!(reason.contains("jurisdiction"), "{reason}");

    // A dispatcher of another street cannot dispatch this case.
    let mut w = Walk::reported();
    w.register();
    let before = snapshot(&w);
    let mut far = dispatcher();
    far.jurisdiction.grid_prefixes = vec!["110105002".into()];
    let after = with_event(
        &mut w,
        &far,
        CaseEvent::Dispatched(Dispatched {
            unit: UNIT.into(),
            note: None,
        }),
    );
    let reason = rejected(validate_update(&far, Some(&before), &after, PERMISSIONS));
    assert!(reason.contains("jurisdiction"), "{reason}");
}

#[test]
fn evidence_is_only_added_in_ones_own_name() {
    let mut w = Walk::dispatched();
    let before = snapshot(&w);
    let mut changed = before.clone();
    changed.evidence.values_mut().next().unwrap().taken_at += 1;
    let reason = rejected(validate_update(
        &inspector(),
        Some(&before),
        &changed,
        PERMISSIONS,
    ));
    assert!(reason.contains("changed"), "{reason}");

    let mut removed = before.clone();
    removed.evidence.clear();
    let reason = rejected(validate_update(
        &inspector(),
        Some(&before),
        &removed,
        PERMISSIONS,
    ));
    assert!(reason.contains("removed"), "{reason}");

    w.case
        .doc_mut()
        .add_evidence(
            &hash("someone's"),
            &evidence(EvidenceStage::After, &handler(), T0),
        )
        .unwrap();
    let reason = rejected(validate_update(
        &other_handler(),
        Some(&before),
        &snapshot(&w),
        PERMISSIONS,
    ));
    assert!(reason.contains("claims to be by handler-chen"), "{reason}");

    // A handler cannot vouch for the verification, nor add photos to another unit's case.
    let before = snapshot(&w);
    w.case
        .doc_mut()
        .add_evidence(
            &hash("self-verified"),
            &evidence(EvidenceStage::Verification, &handler(), T0),
        )
        .unwrap();
    let reason = rejected(validate_update(
        &handler(),
        Some(&before),
        &snapshot(&w),
        PERMISSIONS,
    ));
    assert!(reason.contains("may not add Verification"), "{reason}");
    let mut w = Walk::dispatched();
    let before = snapshot(&w);
    w.case
        .doc_mut()
        .add_evidence(
            &hash("other unit"),
            &evidence(EvidenceStage::After, &other_handler(), T0),
        )
        .unwrap();
    let reason = rejected(validate_update(
        &other_handler(),
        Some(&before),
        &snapshot(&w),
        PERMISSIONS,
    ));
    assert!(reason.contains("jurisdiction"), "{reason}");
}

#[test]
fn a_new_document_comes_from_its_creator_with_an_allowed_first_event() {
    let w = Walk::reported();
    let new = snapshot(&w);
    validate_update(&inspector(), None, &new, PERMISSIONS).unwrap();
    validate_doc_update(&inspector(), None, w.case.doc(), PERMISSIONS).unwrap();

    // Sent by someone else than the header's creator.
    let reason = rejected(validate_update(&other_inspector(), None, &new, PERMISSIONS));
    assert!(reason.contains("created by its sender"), "{reason}");

    // No events.
    let mut empty_log = new.clone();
    empty_log.events.clear();
    let reason = rejected(validate_update(&inspector(), None, &empty_log, PERMISSIONS));
    assert!(reason.contains("first event"), "{reason}");

    // Created in a cell outside the inspector's grid.
    let mut header = new.header.clone();
    header.scope.grid_cell = Some("110105001009001".into());
    let mut doc = Doc::create(&header, &actor_for(&Uuid::now_v7())).unwrap();
    doc.append_event(&new.events[0]).unwrap();
    let reason = rejected(validate_doc_update(&inspector(), None, &doc, PERMISSIONS));
    assert!(reason.contains("jurisdiction"), "{reason}");

    // A new document whose first event the creator may not write.
    let mut doc = Doc::create(&new.header, &actor_for(&Uuid::now_v7())).unwrap();
    let registered = CaseEvent::Registered(Registered::default())
        .to_event(Uuid::now_v7(), T0, "inspector-li", inspector().role)
        .unwrap();
    doc.append_event(&registered).unwrap();
    let reason = rejected(validate_doc_update(&inspector(), None, &doc, PERMISSIONS));
    assert!(reason.contains("may not write case.registered"), "{reason}");
}

#[test]
fn fields_are_edited_by_the_reporter_or_a_dispatcher_of_the_place_never_removed() {
    let w = Walk::dispatched();
    let before = snapshot(&w);
    let edited = |key: &str, value: &str| {
        let mut after = before.clone();
        after.fields.insert(key.into(), value.into());
        after
    };
    let retyped = edited("description", "垃圾堆在路边，约两立方");
    validate_update(&inspector(), Some(&before), &retyped, PERMISSIONS)
        .expect("the reporter corrects their own report");
    validate_update(&dispatcher(), Some(&before), &retyped, PERMISSIONS)
        .expect("the street's dispatcher tidies it");

    let reason = rejected(validate_update(
        &handler(),
        Some(&before),
        &retyped,
        PERMISSIONS,
    ));
    assert!(reason.contains("may not edit description"), "{reason}");
    let reason = rejected(validate_update(
        &other_inspector(),
        Some(&before),
        &edited("address", "别处"),
        PERMISSIONS,
    ));
    assert!(reason.contains("may not edit address"), "{reason}");
    let far_dispatcher = Principal {
        jurisdiction: Jurisdiction {
            grid_prefixes: vec!["110105002".into()],
            ..Default::default()
        },
        ..dispatcher()
    };
    let reason = rejected(validate_update(
        &far_dispatcher,
        Some(&before),
        &retyped,
        PERMISSIONS,
    ));
    assert!(reason.contains("outside"), "{reason}");

    let mut removed = before.clone();
    removed.fields.remove("address");
    let reason = rejected(validate_update(
        &inspector(),
        Some(&before),
        &removed,
        PERMISSIONS,
    ));
    assert!(reason.contains("field address was removed"), "{reason}");
}
