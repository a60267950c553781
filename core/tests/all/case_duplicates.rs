//! 疑似重复: the rule that finds open cases a new one may duplicate, and the fold of the
//! server's suggestion, the dispatcher's keep and merge, and automatic dispatch held back
//! while a suggestion waits.

use crate::case_support::*;
use fieldloop_core::case::events::{DuplicateCandidate, DuplicateSuggested, Merged, Reason};
use fieldloop_core::case::{nearby_duplicates, CaseEvent, CaseStatus, OpenCase};
use fieldloop_core::catalogue::{Catalogue, DuplicateRule};
use fieldloop_core::geo::LatLon;
use fieldloop_core::schedule::{auto_dispatch, ResponsibilityMatrix};
use fieldloop_core::time::HOUR;
use uuid::Uuid;

const AT: LatLon = LatLon {
    lat: 39.9219,
    lon: 116.4436,
};

fn open(category: &str, north_m: f64, reported_at: i64) -> OpenCase {
    OpenCase {
        id: Uuid::now_v7(),
        category: category.into(),
        position: LatLon {
            lat: AT.lat + north_m / 111_195.0,
            lon: AT.lon,
        },
        reported_at,
    }
}

#[test]
fn the_rule_keeps_same_category_within_radius_and_window_nearest_first() {
    let rule = DuplicateRule {
        radius_m: 50.0,
        window_hours: 72,
        default: false,
    };
    let near = open("20102", 30.0, T0 - 2 * HOUR);
    let nearer = open("20102", 10.0, T0 + HOUR);
    let far = open("20102", 80.0, T0);
    let other_category = open("20103", 5.0, T0);
    let too_old = open("20102", 5.0, T0 - 73 * HOUR);
    let itself = open("20102", 0.0, T0);
    let found = nearby_duplicates(
        &rule,
        Some(itself.id),
        "20102",
        AT,
        T0,
        [
            near.clone(),
            nearer.clone(),
            far,
            other_category,
            too_old,
            itself,
        ],
    );
    let ids: Vec<Uuid> = found.iter().map(|c| c.case_id).collect();
    assert_eq!(ids, vec![nearer.id, near.id]);
    assert!((found[0].distance_m - 10.0).abs() < 0.5, "{found:?}");
    assert!((found[1].distance_m - 30.0).abs() < 0.5, "{found:?}");
}

#[test]
fn the_catalogue_carries_a_rule_per_category_and_refuses_a_bad_one() {
    let catalogue = Catalogue::builtin().unwrap();
    let component = catalogue.get_by_key("10101").unwrap();
    let event = catalogue.get_by_key("20102").unwrap();
    assert_eq!(component.duplicates.radius_m, 20.0);
    assert_eq!(event.duplicates.window_hours, 72);

    let mut file: serde_json::Value =
        serde_json::from_str(fieldloop_core::catalogue::BUILTIN_JSON).unwrap();
    file["categories"][0]["duplicates"]["radius_m"] = serde_json::json!(5000);
    let err = Catalogue::from_json(&file.to_string()).unwrap_err();
    assert!(err.to_string().contains("duplicate radius"), "{err}");
    file["categories"][0]["duplicates"] = serde_json::json!({"radius_m": 30, "window_hours": 0});
    let err = Catalogue::from_json(&file.to_string()).unwrap_err();
    assert!(err.to_string().contains("duplicate window"), "{err}");
    // A catalogue written before the rule existed still loads, with the fallback.
    file["categories"][0]
        .as_object_mut()
        .unwrap()
        .remove("duplicates");
    let old = Catalogue::from_json(&file.to_string()).unwrap();
    let first = old.iter().next().unwrap();
    assert!(first.duplicates.default);
}

fn suggestion(of: Uuid) -> CaseEvent {
    CaseEvent::DuplicateSuggested(DuplicateSuggested {
        candidates: vec![DuplicateCandidate {
            case_id: of,
            distance_m: 12.0,
            reported_at: T0,
        }],
    })
}

#[test]
fn a_suggestion_holds_dispatch_until_the_dispatcher_keeps_the_case() {
    let matrix = ResponsibilityMatrix {
        version: "t".into(),
        rules: vec![fieldloop_core::schedule::ResponsibilityRule {
            category: "*".into(),
            area: String::new(),
            unit: UNIT.into(),
        }],
    };
    let mut w = Walk::reported();
    let other = Uuid::now_v7();
    w.step(&server(), suggestion(other))
        .expect("server suggests");
    w.register();
    let s = w.case.state().unwrap();
    assert_eq!(s.duplicate_candidates.len(), 1);
    assert!(
        auto_dispatch(&s, GRID, &matrix).is_none(),
        "held for the dispatcher"
    );
    // Only a dispatcher keeps; an inspector may not.
    assert!(w
        .step(
            &inspector(),
            CaseEvent::DuplicateKept(Reason {
                reason: "不是同一处".into()
            })
        )
        .is_err());
    w.step(
        &dispatcher(),
        CaseEvent::DuplicateKept(Reason {
            reason: "不是同一处".into(),
        }),
    )
    .expect("dispatcher keeps");
    let s = w.case.state().unwrap();
    assert!(s.duplicate_candidates.is_empty() && s.duplicate_kept);
    assert!(auto_dispatch(&s, GRID, &matrix).is_some());
    // Kept once, never suggested again.
    assert!(w.step(&server(), suggestion(other)).is_err());
}

#[test]
fn a_suggested_case_merges_into_the_other() {
    let mut w = Walk::reported();
    let other = Uuid::now_v7();
    w.step(&server(), suggestion(other)).unwrap();
    w.step(
        &dispatcher(),
        CaseEvent::Merged(Merged {
            duplicate_of: other,
        }),
    )
    .unwrap();
    let s = w.case.state().unwrap();
    assert_eq!(s.status, CaseStatus::Merged);
    assert_eq!(s.duplicate_of, Some(other));
    assert!(s.duplicate_candidates.is_empty());
    // Keeping needs a pending suggestion.
    let mut fresh = Walk::reported();
    assert!(fresh
        .step(
            &dispatcher(),
            CaseEvent::DuplicateKept(Reason { reason: "x".into() })
        )
        .is_err());
}
