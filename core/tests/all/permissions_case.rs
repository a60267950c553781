//! The case rows of the permission table: roles, jurisdiction by grid prefix and by unit,
//! and the events only the server writes.

use crate::case_support;

use std::collections::HashSet;

use case_support::*;
use fieldloop_core::case::{kinds, PERMISSIONS};
use fieldloop_core::doc::DocScope;
use fieldloop_core::roles::{all_rules, decide_in, server_only, Decision, Principal, Role};

fn at_grid(cell: &str, unit: Option<&str>) -> DocScope {
    DocScope {
        grid_cell: Some(cell.into()),
        unit: unit.map(String::from),
        ..Default::default()
    }
}

fn allowed(p: &Principal, event: &str, scope: &DocScope) -> bool {
    decide_in(PERMISSIONS, p, event, scope) == Decision::Allowed
}

const ALL_KINDS: &[&str] = &[
    kinds::REPORTED,
    kinds::SELF_FIXED,
    kinds::REGISTERED,
    kinds::REJECTED,
    kinds::VOIDED,
    kinds::MERGED,
    kinds::DISPATCHED,
    kinds::ACCEPTED,
    kinds::RETURNED_TO_DISPATCH,
    kinds::EXTENSION_REQUESTED,
    kinds::EXTENSION_GRANTED,
    kinds::EXTENSION_DENIED,
    kinds::SUSPENDED,
    kinds::RESUMED,
    kinds::HANDLED,
    kinds::VERIFICATION_SUBMITTED,
    kinds::VERDICT,
    kinds::CLOSED,
    kinds::REWORK,
    kinds::SUPERVISED,
    kinds::DEADLINE_WARNING,
    kinds::OVERDUE,
    kinds::ESCALATED,
    kinds::RECALLED,
    kinds::SUSPENSION_REQUESTED,
    kinds::SUSPENSION_DENIED,
    kinds::REOPENED,
    kinds::DUPLICATE_SUGGESTED,
    kinds::DUPLICATE_KEPT,
];

/// Events with a second row: an admin's corrections and 督办 anywhere.
const ADMIN_ROWS: &[&str] = &[kinds::SUPERVISED, kinds::VOIDED];

#[test]
fn every_case_event_has_exactly_one_row_besides_the_admins() {
    for kind in ALL_KINDS {
        let rows = PERMISSIONS.iter().filter(|r| r.event == *kind).count();
        let expected = if ADMIN_ROWS.contains(kind) { 2 } else { 1 };
        assert_eq!(rows, expected, "{kind}");
    }
    assert_eq!(PERMISSIONS.len(), ALL_KINDS.len() + ADMIN_ROWS.len());
    let all: HashSet<_> = all_rules().iter().map(|r| r.event).collect();
    for kind in ALL_KINDS {
        assert!(all.contains(kind), "all_rules lacks {kind}");
    }
}

#[test]
fn server_only_rows_are_the_referee_and_the_clock() {
    let only: HashSet<_> = PERMISSIONS
        .iter()
        .filter(|r| server_only(r))
        .map(|r| r.event)
        .collect();
    let expected: HashSet<_> = [
        kinds::VERDICT,
        kinds::CLOSED,
        kinds::REWORK,
        kinds::DEADLINE_WARNING,
        kinds::OVERDUE,
        kinds::ESCALATED,
        kinds::DUPLICATE_SUGGESTED,
    ]
    .into_iter()
    .collect();
    assert_eq!(only, expected);

    // Even a citywide dispatcher cannot write them.
    let mut chief = dispatcher();
    chief.jurisdiction.everywhere = true;
    for event in &expected {
        match decide_in(PERMISSIONS, &chief, event, &at_grid(GRID, Some(UNIT))) {
            Decision::Denied(r) => assert!(r.contains("server only"), "{r}"),
            Decision::Allowed => panic!("{event} allowed to a dispatcher"),
        }
        assert!(allowed(&server(), event, &at_grid(GRID, None)));
    }
}

#[test]
fn inspector_acts_in_his_own_cells() {
    let inspector = inspector();
    let here = at_grid(GRID, None);
    let next_community = at_grid("110105001009001", None);
    for event in [
        kinds::REPORTED,
        kinds::SELF_FIXED,
        kinds::VERIFICATION_SUBMITTED,
    ] {
        assert!(allowed(&inspector, event, &here), "{event}");
        assert!(!allowed(&inspector, event, &next_community), "{event}");
    }
    // No grid cell at all is not "anywhere".
    assert!(!allowed(&inspector, kinds::REPORTED, &DocScope::default()));
    for event in [
        kinds::REGISTERED,
        kinds::DISPATCHED,
        kinds::HANDLED,
        kinds::ACCEPTED,
    ] {
        assert!(
            !allowed(&inspector, event, &at_grid(GRID, Some(UNIT))),
            "{event}"
        );
    }
}

#[test]
fn dispatcher_acts_by_grid_prefix() {
    let dispatcher = dispatcher();
    let same_street = at_grid("110105001777001", None);
    let other_street = at_grid("110105002002003", None);
    for event in [
        kinds::REPORTED,
        kinds::REGISTERED,
        kinds::REJECTED,
        kinds::VOIDED,
        kinds::MERGED,
        kinds::DISPATCHED,
        kinds::EXTENSION_GRANTED,
        kinds::EXTENSION_DENIED,
        kinds::SUSPENDED,
        kinds::RESUMED,
    ] {
        assert!(allowed(&dispatcher, event, &same_street), "{event}");
        match decide_in(PERMISSIONS, &dispatcher, event, &other_street) {
            Decision::Denied(r) => assert!(r.contains("jurisdiction"), "{r}"),
            Decision::Allowed => panic!("{event} allowed in another street"),
        }
    }
    for event in [kinds::HANDLED, kinds::ACCEPTED, kinds::SELF_FIXED] {
        assert!(!allowed(&dispatcher, event, &same_street), "{event}");
    }
}

#[test]
fn handler_acts_for_his_unit_only() {
    let handler = handler();
    let ours = at_grid(GRID, Some(UNIT));
    let theirs = at_grid(GRID, Some(OTHER_UNIT));
    let undispatched = at_grid(GRID, None);
    for event in [
        kinds::ACCEPTED,
        kinds::RETURNED_TO_DISPATCH,
        kinds::EXTENSION_REQUESTED,
        kinds::HANDLED,
    ] {
        assert!(allowed(&handler, event, &ours), "{event}");
        assert!(!allowed(&handler, event, &theirs), "{event}");
        assert!(!allowed(&handler, event, &undispatched), "{event}");
    }
    for event in [kinds::REPORTED, kinds::DISPATCHED, kinds::EXTENSION_GRANTED] {
        assert!(!allowed(&handler, event, &ours), "{event}");
    }
}

#[test]
fn other_roles_and_unknown_events_are_refused() {
    for role in [
        Role::Supervisor,
        Role::Contractor,
        Role::RiverChief,
        Role::Admin,
    ] {
        let mut p = inspector();
        p.role = role;
        p.jurisdiction.everywhere = true;
        // 督办 (supervisors and admins) and an admin's corrections are their rows.
        let theirs: &[&str] = match role {
            Role::Supervisor => &[kinds::SUPERVISED],
            Role::Admin => &[kinds::SUPERVISED, kinds::VOIDED, kinds::REOPENED],
            _ => &[],
        };
        for event in ALL_KINDS.iter().filter(|e| !theirs.contains(e)) {
            assert!(
                !allowed(&p, event, &at_grid(GRID, Some(UNIT))),
                "{role:?} {event}"
            );
        }
    }
    match decide_in(
        PERMISSIONS,
        &inspector(),
        "case.teleported",
        &at_grid(GRID, None),
    ) {
        Decision::Denied(r) => assert!(r.contains("unknown event type")),
        Decision::Allowed => panic!("unknown event allowed"),
    }
}

#[test]
fn every_kind_shares_one_table_and_a_row_per_role_is_found() {
    use fieldloop_core::doc::DocScope;
    use fieldloop_core::roles::{all_rules, decide_in, Decision, Jurisdiction, Principal, Role};

    let rules = all_rules();
    for prefix in ["case.", "notice.", "inspection.", "patrol.", "plan."] {
        assert!(
            rules.iter().any(|r| r.event.starts_with(prefix)),
            "no {prefix} rows"
        );
    }
    // patrol.started has a row for inspectors (grid) and one for river chiefs (segment):
    // the chief must be judged by his own row, not the first one listed.
    let chief = Principal {
        user_id: "chief-1".into(),
        role: Role::RiverChief,
        jurisdiction: Jurisdiction {
            segments: vec!["xixi-01".into()],
            ..Jurisdiction::default()
        },
    };
    let on_segment = DocScope {
        segment: Some("xixi-01".into()),
        ..DocScope::default()
    };
    let elsewhere = DocScope {
        segment: Some("xixi-02".into()),
        ..DocScope::default()
    };
    assert_eq!(
        decide_in(rules, &chief, "patrol.started", &on_segment),
        Decision::Allowed
    );
    assert!(matches!(
        decide_in(rules, &chief, "patrol.started", &elsewhere),
        Decision::Denied(_)
    ));
    assert!(matches!(
        decide_in(rules, &chief, "patrol.verdict", &on_segment),
        Decision::Denied(_)
    ));
}
