//! The responsibility matrix: most specific area, then most specific category; no match;
//! refused ambiguous or malformed data; the automatic dispatch of a registered case.

use crate::case_support;

use case_support::*;
use fieldloop_core::case::{CaseEvent, CaseStatus};
use fieldloop_core::schedule::{auto_dispatch, dispatch_unit, ResponsibilityMatrix};

fn matrix() -> ResponsibilityMatrix {
    ResponsibilityMatrix::builtin().expect("the bundled matrix loads")
}

#[test]
fn the_most_specific_area_wins() {
    let m = matrix();
    // Street 001 has its own sanitation team for 暴露垃圾 …
    assert_eq!(
        dispatch_unit(&m, "20102", "110105001002003"),
        Some("chaoyang-sanitation-1")
    );
    // … other streets fall back to the district's 201* rule.
    assert_eq!(
        dispatch_unit(&m, "20102", "110105002001001"),
        Some("chaoyang-sanitation")
    );
}

#[test]
fn at_one_area_a_full_key_beats_a_prefix_which_beats_the_wildcard() {
    let m = matrix();
    assert_eq!(
        dispatch_unit(&m, "10111", "110105002001001"),
        Some("beijing-gas-chaoyang")
    );
    assert_eq!(
        dispatch_unit(&m, "10103", "110105002001001"),
        Some("chaoyang-water")
    );
    assert_eq!(
        dispatch_unit(&m, "10301", "110105002001001"),
        Some("chaoyang-municipal")
    );
    assert_eq!(
        dispatch_unit(&m, "20301", "110105002001001"),
        Some("chaoyang-city-management")
    );
    // 私搭乱建 in street 001: no street rule for it, so the district's full key.
    assert_eq!(
        dispatch_unit(&m, "20101", "110105001002003"),
        Some("chaoyang-law-enforcement")
    );
}

#[test]
fn no_rule_no_unit() {
    let m = matrix();
    // 海淀区 is not in the demo matrix.
    assert_eq!(dispatch_unit(&m, "20102", "110108001001001"), None);
}

#[test]
fn ambiguous_or_malformed_rules_are_refused() {
    let twice = r#"{"version":"t","rules":[
        {"category":"201*","area":"110105","unit":"a"},
        {"category":"201*","area":"110105","unit":"b"}]}"#;
    let err = ResponsibilityMatrix::from_json(twice).unwrap_err();
    assert!(err.to_string().contains("both cover"), "{err}");

    for bad in [
        r#"{"version":"t","rules":[{"category":"2010x","area":"110105","unit":"a"}]}"#,
        r#"{"version":"t","rules":[{"category":"*","area":"11010A","unit":"a"}]}"#,
        r#"{"version":"t","rules":[{"category":"*","area":"1101050010020031","unit":"a"}]}"#,
        r#"{"version":"t","rules":[{"category":"*","area":"110105","unit":" "}]}"#,
        r#"{"version":"t","rules":[{"category":"2*x*","area":"110105","unit":"a"}]}"#,
        r#"not json"#,
    ] {
        assert!(ResponsibilityMatrix::from_json(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_registered_case_is_dispatched_by_the_matrix_once() {
    let m = matrix();
    let mut walk = Walk::reported();
    assert_eq!(auto_dispatch(&walk.case.state().unwrap(), GRID, &m), None);
    walk.register();
    let event = auto_dispatch(&walk.case.state().unwrap(), GRID, &m).expect("a unit");
    match &event {
        CaseEvent::Dispatched(d) => assert_eq!(d.unit, "chaoyang-sanitation-1"),
        other => panic!("{other:?}"),
    }
    walk.step(&server(), event).unwrap();
    let state = walk.case.state().unwrap();
    assert_eq!(state.status, CaseStatus::Dispatched);
    assert_eq!(auto_dispatch(&state, GRID, &m), None, "not twice");

    // Returned as the wrong unit: a dispatcher decides, not the matrix again.
    walk.step(
        &handler_of("chaoyang-sanitation-1"),
        CaseEvent::ReturnedToDispatch(reason("错派")),
    )
    .unwrap();
    let state = walk.case.state().unwrap();
    assert_eq!(state.status, CaseStatus::Registered);
    assert_eq!(auto_dispatch(&state, GRID, &m), None);
}

fn handler_of(unit: &str) -> fieldloop_core::roles::Principal {
    let mut p = handler();
    p.jurisdiction.units = vec![unit.to_string()];
    p
}
