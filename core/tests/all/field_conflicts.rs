//! 冲突: two concurrent values of one editable field are both kept, the case state and the
//! list title say so, and only someone with the right to edit settles it.

use crate::case_support::*;
use fieldloop_core::case::CaseDoc;
use fieldloop_core::doc::{actor_for, Doc};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::rules::validate_update;
use uuid::Uuid;

/// The walk's case edited concurrently by the inspector and the dispatcher, merged.
fn conflicted() -> (Doc, String) {
    let w = Walk::reported();
    let mut a = CaseDoc::open(w.case.doc().clone()).unwrap();
    let mut b = CaseDoc::open(
        Doc::load(&w.case.doc().clone().save(), &actor_for(&Uuid::now_v7())).unwrap(),
    )
    .unwrap();
    a.edit_field(&inspector(), "address", "甲").unwrap();
    b.edit_field(&dispatcher(), "address", "乙").unwrap();
    let mut merged = a.into_doc();
    merged.merge(b.doc_mut()).unwrap();
    let winner = merged.field("address").unwrap().unwrap();
    (merged, winner)
}

#[test]
fn both_values_are_kept_and_the_state_says_conflict() {
    let (merged, _) = conflicted();
    let snapshot = merged.snapshot().unwrap();
    assert_eq!(
        snapshot.conflicts.get("address"),
        Some(&vec!["乙".to_owned(), "甲".to_owned()])
    );
    let state = CaseDoc::open(merged).unwrap().state().unwrap();
    assert_eq!(state.field_conflicts.len(), 1);
    assert_eq!(state.field_conflicts[0].field, "address");
    let summary = fieldloop_core::status::summarize(&snapshot, None).unwrap();
    assert_eq!(summary.badge.as_deref(), Some("冲突"));
}

#[test]
fn settling_needs_the_right_to_edit_even_when_the_winner_stays() {
    let (merged, winner) = conflicted();
    let before = merged.snapshot().unwrap();
    let mut picked = merged.clone();
    picked.resolve_field("address", &winner).unwrap();
    let after = picked.snapshot().unwrap();
    assert_eq!(after.fields, before.fields, "automerge's winner was picked");
    assert!(after.conflicts.is_empty());
    let handler = Principal {
        user_id: "handler-x".into(),
        role: Role::Handler,
        jurisdiction: Jurisdiction {
            units: vec![UNIT.into()],
            ..Default::default()
        },
    };
    let perms = fieldloop_core::case::PERMISSIONS;
    let refused = validate_update(&handler, Some(&before), &after, perms);
    assert!(refused.is_err(), "a handler may not settle a field");
    assert!(validate_update(&dispatcher(), Some(&before), &after, perms).is_ok());
    assert!(validate_update(&inspector(), Some(&before), &after, perms).is_ok());
    // Through the checked path, the handler is refused before anything is written.
    let mut case = CaseDoc::open(merged).unwrap();
    assert!(case.resolve_field(&handler, "address", &winner).is_err());
    assert_eq!(case.state().unwrap().field_conflicts.len(), 1);
}
