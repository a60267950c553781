//! River patrol plans per period, pushed once and updated when a warning level changes,
//! and plan tasks completed by valid patrols.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use fieldloop_core::doc::{DocKind, DocScope, Event, Header, Snapshot, SCHEMA_VERSION};
use fieldloop_core::patrol::{fold_events, PatrolEvent, PatrolKind, PatrolVerdict, Started};
use fieldloop_core::plan::{
    fold_plan, plan_for, ChiefLevel, FrequencyTable, PlanPeriod, PlanState, Segment, WarningLevel,
};
use fieldloop_core::roles::Role;
use fieldloop_core::schedule::{
    plan_event, plans_due, task_done_event, task_done_for, ChiefAssignment, PlanChange,
};
use fieldloop_core::sla::local_midnight;
use fieldloop_core::time::{Millis, HOUR, MINUTE};
use fieldloop_core::Error;
use uuid::Uuid;

const CHIEF: &str = "chief-he";

fn segment(id: &str, warning: WarningLevel) -> Segment {
    Segment {
        id: id.into(),
        name: format!("{id} 段"),
        river: "车陂涌".into(),
        chief_level: ChiefLevel::Village,
        warning,
    }
}

fn november() -> PlanPeriod {
    PlanPeriod::month(2026, 11).unwrap()
}

fn day(d: u32) -> Millis {
    local_midnight(NaiveDate::from_ymd_opt(2026, 11, d).unwrap())
}

fn chiefs() -> Vec<ChiefAssignment> {
    vec![
        ChiefAssignment {
            chief: CHIEF.into(),
            segments: vec!["S1".into(), "S2".into()],
        },
        ChiefAssignment {
            chief: "chief-idle".into(),
            segments: vec![],
        },
    ]
}

/// A plan document holding `events`.
fn plan_doc(events: &[Event]) -> PlanState {
    let snapshot = Snapshot {
        header: Header {
            id: Uuid::from_u128(7),
            kind: DocKind::PatrolPlan,
            schema: SCHEMA_VERSION,
            created_by: "server".into(),
            created_role: Role::Server,
            created_at: day(1),
            position: None,
            category: None,
            scope: DocScope::default(),
        },
        fields: BTreeMap::new(),
        conflicts: BTreeMap::new(),
        events: events.to_vec(),
        evidence: BTreeMap::new(),
    };
    fold_plan(&snapshot).unwrap()
}

#[test]
fn every_chief_with_segments_gets_the_plan_for_the_period() {
    let table = FrequencyTable::bundled().unwrap();
    let segments = [
        segment("S1", WarningLevel::None),
        segment("S2", WarningLevel::Yellow),
        segment("S3", WarningLevel::Red),
    ];
    let plans = plans_due(&november(), &chiefs(), &segments, &table).unwrap();
    assert_eq!(plans.len(), 1, "a chief without segments gets no plan");
    let direct = plan_for(CHIEF, &segments[..2], &november(), &table).unwrap();
    assert_eq!(plans[0], direct);
    assert!(plans[0].total_required() > 0);

    let err = plans_due(&november(), &chiefs(), &segments[..1], &table).unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ref m) if m.contains("S2")),
        "{err}"
    );
}

#[test]
fn a_plan_is_issued_once_and_updated_when_a_warning_rises() {
    let table = FrequencyTable::bundled().unwrap();
    let mut segments = vec![
        segment("S1", WarningLevel::None),
        segment("S2", WarningLevel::Yellow),
    ];
    let plan = plans_due(&november(), &chiefs(), &segments, &table)
        .unwrap()
        .remove(0);
    let issue = plan_event(None, plan.clone()).expect("issued");
    assert!(matches!(issue, PlanChange::Issue(_)));
    let mut log = vec![issue.to_event(Uuid::now_v7(), day(1), "server").unwrap()];
    let state = plan_doc(&log);
    assert_eq!(state.plan.as_ref(), Some(&plan));
    assert_eq!(plan_event(Some(&state), plan), None, "unchanged: nothing");

    segments[0].warning = WarningLevel::Orange;
    let raised = plans_due(&november(), &chiefs(), &segments, &table)
        .unwrap()
        .remove(0);
    let update = plan_event(Some(&state), raised.clone()).expect("updated");
    match &update {
        PlanChange::Update(u) => assert!(
            u.reason.contains("S1 warning None → Orange"),
            "{}",
            u.reason
        ),
        other => panic!("{other:?}"),
    }
    log.push(update.to_event(Uuid::now_v7(), day(5), "server").unwrap());
    let state = plan_doc(&log);
    assert_eq!((state.updates, state.plan), (1, Some(raised)));
}

fn river_patrol(
    by: &str,
    segment: &str,
    started: Millis,
    valid: bool,
) -> fieldloop_core::patrol::PatrolState {
    let ev = |e: PatrolEvent, at: Millis, by: &str, role: Role| {
        e.to_event(Uuid::now_v7(), at, by, role).unwrap()
    };
    fold_events(&[
        ev(
            PatrolEvent::Started(Started {
                kind: PatrolKind::River,
                assigned_cells: vec![],
                segment: Some(segment.into()),
            }),
            started,
            by,
            Role::RiverChief,
        ),
        ev(
            PatrolEvent::Ended,
            started + 40 * MINUTE,
            by,
            Role::RiverChief,
        ),
        ev(
            PatrolEvent::Verdict(PatrolVerdict {
                valid,
                reasons: vec![],
            }),
            started + 41 * MINUTE,
            "server",
            Role::Server,
        ),
    ])
}

#[test]
fn a_valid_patrol_completes_its_window_once() {
    let table = FrequencyTable::bundled().unwrap();
    let segments = [
        segment("S1", WarningLevel::None),
        segment("S2", WarningLevel::Yellow),
    ];
    let plan = plans_due(&november(), &chiefs(), &segments, &table)
        .unwrap()
        .remove(0);
    let mut log = vec![plan_event(None, plan)
        .unwrap()
        .to_event(Uuid::now_v7(), day(1), "server")
        .unwrap()];
    let state = plan_doc(&log);

    let patrol_id = Uuid::now_v7();
    let started = day(10) + 10 * HOUR;
    let patrol = river_patrol(CHIEF, "S1", started, true);
    let done = task_done_for(&state, patrol_id, &patrol).expect("counts");
    assert_eq!((done.segment.as_str(), done.patrolled_at), ("S1", started));
    log.push(task_done_event(&done, Uuid::now_v7(), started + HOUR, "server").unwrap());
    let state = plan_doc(&log);
    assert!(state.ignored.is_empty(), "{:?}", state.ignored);
    let window = state
        .progress
        .iter()
        .find(|w| w.patrols.contains(&patrol_id))
        .expect("counted in a window");
    assert_eq!(window.segment, "S1");
    assert_eq!(task_done_for(&state, patrol_id, &patrol), None, "not twice");

    let other = Uuid::now_v7();
    let none = |p| task_done_for(&state, other, &p);
    assert_eq!(
        none(river_patrol(CHIEF, "S1", started, false)),
        None,
        "invalid"
    );
    assert_eq!(
        none(river_patrol("chief-x", "S1", started, true)),
        None,
        "other chief"
    );
    assert_eq!(
        none(river_patrol(CHIEF, "S9", started, true)),
        None,
        "not in the plan"
    );
    let december = local_midnight(NaiveDate::from_ymd_opt(2026, 12, 20).unwrap());
    assert_eq!(
        none(river_patrol(CHIEF, "S1", december, true)),
        None,
        "outside every window"
    );
}
