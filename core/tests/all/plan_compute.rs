//! River patrol plans from the bundled Guangzhou frequency table, and the plan document.

use chrono::NaiveDate;
use fieldloop_core::doc::{actor_for, Doc, DocKind, DocScope, Event, Header, SCHEMA_VERSION};
use fieldloop_core::plan::{
    fold_plan, plan_for, ChiefLevel, FrequencyTable, PeriodKind, Plan, PlanPeriod, Segment,
    WarningLevel, PERMISSIONS,
};
use fieldloop_core::roles::{decide_in, Decision, Jurisdiction, Principal, Role};
use fieldloop_core::sla::local_midnight;
use fieldloop_core::time::{Millis, HOUR};
use fieldloop_core::Error;
use serde_json::json;
use uuid::Uuid;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

fn segment(id: &str, chief_level: ChiefLevel, warning: WarningLevel) -> Segment {
    Segment {
        id: id.into(),
        name: format!("{id} 段"),
        river: "车陂涌".into(),
        chief_level,
        warning,
    }
}

fn march_2026() -> PlanPeriod {
    PlanPeriod::month(2026, 3).unwrap()
}

/// (required per window, number of windows, kind) of the one segment in the plan.
fn shape(plan: &Plan) -> (u32, usize, PeriodKind) {
    let windows = &plan.tasks[0].windows;
    (windows[0].required, windows.len(), windows[0].kind)
}

#[test]
fn bundled_table_marks_its_defaults() {
    let table = FrequencyTable::bundled().unwrap();
    assert_eq!(table.place, "广州");
    assert_eq!(table.rows.len(), 16);
    let published: Vec<(ChiefLevel, WarningLevel)> = table
        .rows
        .iter()
        .filter(|r| !r.default)
        .map(|r| (r.chief, r.warning))
        .collect();
    assert_eq!(
        published.len(),
        5,
        "city × 4 colours and village without warning"
    );
    assert!(published.contains(&(ChiefLevel::Village, WarningLevel::None)));
    assert!(table
        .rows
        .iter()
        .all(|r| r.min_duration_min == 10 && r.min_length_m == 1000));
    assert!(!table.defaults_note.is_empty());
}

#[test]
fn village_plan_for_each_warning_level() {
    let table = FrequencyTable::bundled().unwrap();
    let plan = |warning| {
        plan_for(
            "chief-7",
            &[segment("S1", ChiefLevel::Village, warning)],
            &march_2026(),
            &table,
        )
        .unwrap()
    };

    let none = plan(WarningLevel::None);
    assert_eq!(shape(&none), (1, 3, PeriodKind::Xun));
    let xun: Vec<(NaiveDate, NaiveDate)> = none.tasks[0]
        .windows
        .iter()
        .map(|w| (w.first_day, w.last_day))
        .collect();
    assert_eq!(
        xun,
        [
            (day(2026, 3, 1), day(2026, 3, 10)),
            (day(2026, 3, 11), day(2026, 3, 20)),
            (day(2026, 3, 21), day(2026, 3, 31)),
        ]
    );
    let first = &none.tasks[0].windows[0];
    assert_eq!((first.min_duration_min, first.min_length_m), (10, 1000));
    assert!(!first.default, "the 旬 rule is published");
    assert_eq!(first.starts, local_midnight(day(2026, 3, 1)));
    assert_eq!(first.ends, local_midnight(day(2026, 3, 11)));
    assert_eq!(none.total_required(), 3);

    // March 2026 starts on a Sunday: six Monday-to-Sunday weeks overlap it.
    let yellow = plan(WarningLevel::Yellow);
    assert_eq!(shape(&yellow), (1, 6, PeriodKind::Week));
    assert_eq!(yellow.tasks[0].windows[0].first_day, day(2026, 2, 23));
    assert_eq!(yellow.tasks[0].windows[5].last_day, day(2026, 4, 5));
    assert!(yellow.tasks[0].windows[0].default);

    assert_eq!(shape(&plan(WarningLevel::Orange)), (2, 6, PeriodKind::Week));
    let red = plan(WarningLevel::Red);
    assert_eq!(shape(&red), (5, 6, PeriodKind::Week));
    assert_eq!(red.total_required(), 30);
}

#[test]
fn other_levels_for_each_warning_level() {
    let table = FrequencyTable::bundled().unwrap();
    let one = |level, warning| {
        shape(&plan_for("c", &[segment("S", level, warning)], &march_2026(), &table).unwrap())
    };
    for warning in [
        WarningLevel::None,
        WarningLevel::Yellow,
        WarningLevel::Orange,
        WarningLevel::Red,
    ] {
        // The city level is not differentiated: one patrol in the quarter.
        assert_eq!(one(ChiefLevel::City, warning), (1, 1, PeriodKind::Quarter));
    }
    assert_eq!(
        one(ChiefLevel::District, WarningLevel::None),
        (1, 1, PeriodKind::Month)
    );
    assert_eq!(
        one(ChiefLevel::District, WarningLevel::Yellow),
        (2, 1, PeriodKind::Month)
    );
    assert_eq!(
        one(ChiefLevel::District, WarningLevel::Orange),
        (1, 6, PeriodKind::Week)
    );
    assert_eq!(
        one(ChiefLevel::District, WarningLevel::Red),
        (2, 6, PeriodKind::Week)
    );
    assert_eq!(
        one(ChiefLevel::Town, WarningLevel::None),
        (1, 3, PeriodKind::Xun)
    );
    assert_eq!(
        one(ChiefLevel::Town, WarningLevel::Red),
        (3, 6, PeriodKind::Week)
    );

    let city = plan_for(
        "c",
        &[segment("S", ChiefLevel::City, WarningLevel::Red)],
        &march_2026(),
        &table,
    )
    .unwrap();
    let quarter = &city.tasks[0].windows[0];
    assert_eq!(
        (quarter.first_day, quarter.last_day),
        (day(2026, 1, 1), day(2026, 3, 31))
    );
    // The highest colour wins when several warnings fire.
    assert_eq!(
        WarningLevel::Yellow
            .max(WarningLevel::Orange)
            .max(WarningLevel::None),
        WarningLevel::Orange
    );
}

#[test]
fn a_plan_lists_every_segment_and_refuses_bad_input() {
    let table = FrequencyTable::bundled().unwrap();
    let segments = [
        segment("S1", ChiefLevel::Village, WarningLevel::None),
        segment("S2", ChiefLevel::Village, WarningLevel::Red),
    ];
    let plan = plan_for("chief-7", &segments, &march_2026(), &table).unwrap();
    assert_eq!(plan.chief, "chief-7");
    assert_eq!(plan.tasks.len(), 2);
    assert_eq!(plan.total_required(), 3 + 30);
    assert!(plan.table.contains("广州"));

    let twice = [segments[0].clone(), segments[0].clone()];
    assert!(matches!(
        plan_for("c", &twice, &march_2026(), &table),
        Err(Error::Invalid { .. })
    ));
    assert!(PlanPeriod::new(day(2026, 3, 31), day(2026, 3, 1)).is_err());
    assert!(PlanPeriod::new(day(2026, 1, 1), day(2027, 6, 1)).is_err());
    assert!(PlanPeriod::month(2026, 13).is_err());
    let reversed = PlanPeriod {
        first_day: day(2026, 3, 31),
        last_day: day(2026, 3, 1),
    };
    assert!(plan_for("c", &segments, &reversed, &table).is_err());
    assert!(FrequencyTable::from_json(r#"{"place":"x","version":"1","rows":[{"chief":"city","warning":"none","patrols":0,"per":"month","min_duration_min":1,"min_length_m":1,"source":""}]}"#).is_err());
    assert!(FrequencyTable::from_json("[]").is_err());
}

#[test]
fn seasonal_rows_apply_only_in_season() {
    // 阿合奇县-style: village chiefs patrol weekly from March to December.
    let table = FrequencyTable::from_json(
        r#"{"place":"阿合奇县","version":"2022","rows":[
            {"chief":"village","warning":"none","season":{"from_month":3,"to_month":12},
             "patrols":1,"per":"week","min_duration_min":30,"min_length_m":2000,"source":"R7"}]}"#,
    )
    .unwrap();
    let seg = [segment("S", ChiefLevel::Village, WarningLevel::None)];
    let february = plan_for("c", &seg, &PlanPeriod::month(2027, 2).unwrap(), &table).unwrap();
    assert!(february.tasks[0].windows.is_empty(), "out of season");
    let straddling = PlanPeriod::new(day(2027, 2, 20), day(2027, 3, 10)).unwrap();
    let plan = plan_for("c", &seg, &straddling, &table).unwrap();
    let firsts: Vec<NaiveDate> = plan.tasks[0].windows.iter().map(|w| w.first_day).collect();
    assert_eq!(firsts, [day(2027, 3, 1), day(2027, 3, 8)]);
    assert_eq!(plan.tasks[0].windows[0].min_length_m, 2000);
}

fn plan_doc() -> Doc {
    let header = Header {
        id: Uuid::now_v7(),
        kind: DocKind::PatrolPlan,
        schema: SCHEMA_VERSION,
        created_by: "server".into(),
        created_role: Role::Server,
        created_at: local_midnight(day(2026, 3, 1)),
        position: None,
        category: None,
        scope: DocScope::default(),
    };
    Doc::create(&header, &actor_for(&Uuid::now_v7())).unwrap()
}

fn event(kind: &str, at: Millis, role: Role, data: serde_json::Value) -> Event {
    Event {
        id: Uuid::now_v7(),
        kind: kind.into(),
        at,
        by: if role == Role::Server {
            "server".into()
        } else {
            "chief-7".into()
        },
        role,
        data,
    }
}

#[test]
fn plan_document_counts_patrols_per_window_and_survives_an_update() {
    let table = FrequencyTable::bundled().unwrap();
    let mut seg = segment("S1", ChiefLevel::Village, WarningLevel::None);
    let plan = plan_for("chief-7", &[seg.clone()], &march_2026(), &table).unwrap();
    let t = |d: u32, h: i64| local_midnight(day(2026, 3, d)) + h * HOUR;
    let p1 = Uuid::now_v7();
    let p2 = Uuid::now_v7();

    let mut doc = plan_doc();
    let mut append = |e: Event| {
        doc.append_event(&e).unwrap();
        e.id
    };
    append(event(
        "plan.issued",
        t(1, 8),
        Role::Server,
        json!({ "plan": plan }),
    ));
    append(event(
        "plan.task_done",
        t(4, 10),
        Role::Server,
        json!({"segment": "S1", "patrol": p1, "patrolled_at": t(4, 9)}),
    ));
    let duplicate = append(event(
        "plan.task_done",
        t(4, 11),
        Role::Server,
        json!({"segment": "S1", "patrol": p1, "patrolled_at": t(4, 9)}),
    ));
    let unknown_segment = append(event(
        "plan.task_done",
        t(5, 11),
        Role::Server,
        json!({"segment": "S9", "patrol": Uuid::now_v7(), "patrolled_at": t(5, 9)}),
    ));
    let outside = append(event(
        "plan.task_done",
        t(5, 12),
        Role::Server,
        json!({"segment": "S1", "patrol": Uuid::now_v7(), "patrolled_at": t(1, 0) - 1}),
    ));
    let by_chief = append(event(
        "plan.task_done",
        t(5, 13),
        Role::RiverChief,
        json!({"segment": "S1", "patrol": Uuid::now_v7(), "patrolled_at": t(5, 9)}),
    ));

    let state = fold_plan(&doc.snapshot().unwrap()).unwrap();
    assert_eq!(state.progress.len(), 3);
    assert_eq!(state.progress[0].patrols, [p1]);
    assert!(state.progress[0].satisfied());
    assert_eq!(state.outstanding().count(), 2);
    let ignored: Vec<Uuid> = state.ignored.iter().map(|i| i.event_id).collect();
    assert_eq!(ignored, [duplicate, unknown_segment, outside, by_chief]);
    assert!(state.ignored[0].reason.contains("already counted"));
    assert!(state.ignored[3]
        .reason
        .contains("river_chief may not write"));

    // The segment turns red mid-month: weekly windows, five patrols each.
    seg.warning = WarningLevel::Red;
    let red = plan_for("chief-7", &[seg], &march_2026(), &table).unwrap();
    let mut doc2 = doc.clone();
    doc2.append_event(&event(
        "plan.updated",
        t(10, 8),
        Role::Server,
        json!({"plan": red, "reason": "S1 红色预警"}),
    ))
    .unwrap();
    doc2.append_event(&event(
        "plan.task_done",
        t(11, 10),
        Role::Server,
        json!({"segment": "S1", "patrol": p2, "patrolled_at": t(11, 9)}),
    ))
    .unwrap();
    let state = fold_plan(&doc2.snapshot().unwrap()).unwrap();
    assert_eq!(state.updates, 1);
    assert_eq!(state.progress.len(), 6);
    // p1 (Wed 4 Mar) now counts in the week of 2–8 March; p2 (Wed 11) in 9–15 March.
    assert_eq!(state.progress[1].first_day, day(2026, 3, 2));
    assert_eq!(state.progress[1].patrols, [p1]);
    assert_eq!(state.progress[2].patrols, [p2]);
    assert_eq!(state.progress[2].required, 5);
    assert!(!state.progress[2].satisfied());
}

#[test]
fn plan_events_are_server_only() {
    let chief = Principal {
        user_id: "chief-7".into(),
        role: Role::RiverChief,
        jurisdiction: Jurisdiction {
            segments: vec!["S1".into()],
            ..Jurisdiction::default()
        },
    };
    let scope = DocScope {
        segment: Some("S1".into()),
        ..DocScope::default()
    };
    for kind in ["plan.issued", "plan.updated", "plan.task_done"] {
        assert!(matches!(
            decide_in(PERMISSIONS, &chief, kind, &scope),
            Decision::Denied(_)
        ));
    }
    let mut doc = plan_doc();
    doc.append_event(&event("plan.updated", 0, Role::Server, json!({})))
        .unwrap();
    let state = fold_plan(&doc.snapshot().unwrap()).unwrap();
    assert!(state.plan.is_none());
    assert!(state.ignored[0].reason.contains("not issued yet"));
}
