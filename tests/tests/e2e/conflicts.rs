//! Concurrent edits of one field on two phones offline are never silently lost: after
//! both sync, each phone (and the server) holds both values and the case shows 冲突 until
//! someone allowed to edit picks one; someone without that right cannot.

use fieldloop_core::case::FieldConflict;
use fieldloop_tests::*;

#[test]
fn two_phones_editing_the_description_offline_keep_both_until_one_is_picked() {
    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    let mut dispatcher = Device::login(&server, "dispatcher");
    let mut other = Device::login(&server, "other-inspector");

    let id = report_case(&mut inspector, GRID, minutes(0));
    server.clock.set(minutes(1));
    inspector.sync(minutes(1));
    dispatcher.sync(minutes(2));

    // Both offline: the reporter corrects the description, the dispatcher tidies it.
    let mut case = inspector.case(id);
    case.edit_field(
        &inspector.principal,
        "description",
        "垃圾堆在路边，约两立方",
    )
    .expect("the reporter edits their own report");
    inspector.save(case.doc_mut());
    let mut case = dispatcher.case(id);
    case.edit_field(
        &dispatcher.principal,
        "description",
        "三里屯路19号门前暴露垃圾",
    )
    .expect("a dispatcher edits in their grid");
    dispatcher.save(case.doc_mut());

    server.clock.set(minutes(10));
    inspector.sync(minutes(10));
    dispatcher.sync(minutes(11));
    inspector.sync(minutes(12));

    let both = vec![
        "三里屯路19号门前暴露垃圾".to_owned(),
        "垃圾堆在路边，约两立方".to_owned(),
    ];
    let expected = vec![FieldConflict {
        field: "description".into(),
        values: both.clone(),
    }];
    for device in [&inspector, &dispatcher] {
        let state = device.case(id).state().unwrap();
        assert_eq!(
            state.field_conflicts, expected,
            "{:?}",
            device.principal.role
        );
        let listing = device.store.listing(id).unwrap().unwrap().listing;
        assert!(listing.title.starts_with("【冲突】"), "{}", listing.title);
    }
    let on_server = server.doc(id).unwrap().snapshot().unwrap();
    assert_eq!(on_server.conflicts.get("description"), Some(&both));

    // An inspector of another community may not settle it: the device refuses, and the
    // server refuses the same change sent without the device's check.
    other.sync(minutes(13));
    assert!(
        !other.store.contains_doc(id).unwrap(),
        "outside the other inspector's scope"
    );
    let mut copy = inspector.case(id);
    let wrong = fieldloop_core::roles::Principal {
        user_id: "someone-else".into(),
        ..inspector.principal.clone()
    };
    assert!(copy.resolve_field(&wrong, "description", &both[0]).is_err());
    // Picking a value that is not one of the two is no resolution.
    assert!(copy
        .resolve_field(&inspector.principal, "description", "别的")
        .is_err());

    // The dispatcher picks the reporter's wording; both phones converge on it.
    let mut case = dispatcher.case(id);
    case.resolve_field(&dispatcher.principal, "description", &both[1])
        .expect("the dispatcher may pick");
    dispatcher.save(case.doc_mut());
    dispatcher.sync(minutes(20));
    inspector.sync(minutes(21));
    for device in [&inspector, &dispatcher] {
        let case = device.case(id);
        assert!(case.state().unwrap().field_conflicts.is_empty());
        assert_eq!(
            case.doc().field("description").unwrap().as_deref(),
            Some(both[1].as_str())
        );
        let listing = device.store.listing(id).unwrap().unwrap().listing;
        assert!(!listing.title.contains("冲突"), "{}", listing.title);
    }
    let on_server = server.doc(id).unwrap().snapshot().unwrap();
    assert!(on_server.conflicts.is_empty());
}
