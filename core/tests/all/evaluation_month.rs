//! 综合评价 for November 2026 on a hand-computed set of real case documents.
//!
//! Unit `chaoyang-sanitation-1`, all dispatched Monday 11-23 09:02 (暴露垃圾, due 14:32):
//!   A closed on time · B handled Wednesday, closed (超期) · C suspended (缓办) ·
//!   D reworked once, then closed on time · E never handled (超期) ·
//!   F extended by a working day (延期), closed on time.
//!   应结案 6, 缓办 1, 结案 4, 按期结案 3, 返工 1, 超期 2, 延期 1; d = 5:
//!   结案率 0.8, 按期结案率 0.6, 返工率 0.2, 超期率 0.4.
//! Unit `u-suspended`: one case, suspended → d = 0, no rates.
//! Unit `chaoyang-roads-2`: listed, no case → no rates.
//! Also reported by inspector-li: H rejected, I registered only in December (after the
//! cut-off), J 自查自纠. Verifications: A, B (late: Saturday), D ×2, F, J.

use crate::case_support;

use case_support::*;
use fieldloop_core::case::events::SelfFixed;
use fieldloop_core::case::events::{ExtensionGranted, ExtensionRequested};
use fieldloop_core::case::CaseEvent;
use fieldloop_core::catalogue::Catalogue;
use fieldloop_core::doc::{EvidenceStage, Snapshot};
use fieldloop_core::evaluation::{
    active_window, evaluate, Evaluation, EvaluationInput, Period, DEFAULT_VERIFICATION_LIMIT,
};
use fieldloop_core::geo::{Fix, GridCell, GridIndex, LatLon};
use fieldloop_core::patrol::{
    fold_events, PatrolEvent, PatrolKind, PatrolState, PatrolVerdict, Started, TrackPoints,
};
use fieldloop_core::roles::Role;
use fieldloop_core::sla::{Calendar, LimitUnit, TimeLimit};
use fieldloop_core::time::{DAY, HOUR, MINUTE, SECOND};
use uuid::Uuid;

const SUSPENDED_UNIT: &str = "u-suspended";
const CELL_A: &str = "110105001002003";
const CELL_B: &str = "110105001002004";

fn close(walk: &mut Walk) {
    walk.verdict(true);
    walk.step(&server(), CaseEvent::Closed(empty())).unwrap();
}

fn done(walk: &mut Walk, label: &str) {
    walk.handle(&format!("{label} after"));
    walk.verify(&format!("{label} check"));
    close(walk);
}

fn snapshot(walk: &Walk) -> Snapshot {
    walk.case.snapshot().unwrap()
}

fn cases() -> Vec<Snapshot> {
    let mut out = Vec::new();

    let mut a = Walk::dispatched();
    done(&mut a, "A");
    out.push(snapshot(&a));

    let mut b = Walk::dispatched();
    b.now += 2 * DAY;
    b.handle("B after");
    b.now += 3 * DAY; // Saturday: past the 1-working-day 核查 limit
    b.verify("B check");
    close(&mut b);
    out.push(snapshot(&b));

    let mut c = Walk::dispatched();
    c.step(&dispatcher(), CaseEvent::Suspended(reason("待拆迁")))
        .unwrap();
    out.push(snapshot(&c));

    let mut d = Walk::dispatched();
    d.handle("D after 1");
    d.verify("D check 1");
    d.verdict(false);
    d.step(&server(), CaseEvent::Rework(reason("仍有垃圾")))
        .unwrap();
    done(&mut d, "D 2");
    out.push(snapshot(&d));

    out.push(snapshot(&Walk::dispatched())); // E

    let mut f = Walk::dispatched();
    let one_day = TimeLimit {
        amount: 1,
        unit: LimitUnit::WorkingDays,
    };
    f.step(
        &handler(),
        CaseEvent::ExtensionRequested(ExtensionRequested {
            extension: one_day,
            reason: "需调车".into(),
        }),
    )
    .unwrap();
    f.step(
        &dispatcher(),
        CaseEvent::ExtensionGranted(ExtensionGranted { extension: one_day }),
    )
    .unwrap();
    done(&mut f, "F");
    out.push(snapshot(&f));

    let mut g = Walk::reported();
    g.register();
    g.dispatch(SUSPENDED_UNIT);
    g.step(&dispatcher(), CaseEvent::Suspended(reason("挂账")))
        .unwrap();
    out.push(snapshot(&g));

    let mut h = Walk::reported();
    h.step(&dispatcher(), CaseEvent::Rejected(reason("不属于城管")))
        .unwrap();
    out.push(snapshot(&h));

    let mut i = Walk::reported();
    i.now += 10 * DAY; // registered and dispatched on December 3
    i.register();
    i.dispatch(UNIT);
    out.push(snapshot(&i));

    let mut j = Walk::reported();
    let after = j.photo(&inspector(), EvidenceStage::After, "J after");
    j.step(
        &inspector(),
        CaseEvent::SelfFixed(SelfFixed {
            note: None,
            before: vec![hash("before")],
            after: vec![after],
        }),
    )
    .unwrap();
    j.verify("J check");
    close(&mut j);
    out.push(snapshot(&j));

    out
}

fn square(code: &str, lat: f64, lon: f64, size: f64) -> GridCell {
    GridCell {
        code: code.into(),
        ring: vec![
            LatLon { lat, lon },
            LatLon {
                lat,
                lon: lon + size,
            },
            LatLon {
                lat: lat + size,
                lon: lon + size,
            },
            LatLon {
                lat: lat + size,
                lon,
            },
        ],
    }
}

fn grid() -> GridIndex {
    GridIndex::new(vec![
        square(CELL_A, 39.92, 116.44, 0.005),
        square(CELL_B, 39.92, 116.445, 0.005),
    ])
    .unwrap()
}

/// A grid patrol inside cell A, 0.001° of latitude (≈ 111 m) north in 12 fixes.
fn grid_patrol(verdict: Option<bool>) -> PatrolState {
    let by = inspector().user_id;
    let start = T0 + DAY + HOUR;
    let ev = |e: PatrolEvent, at, by: &str, role| e.to_event(Uuid::now_v7(), at, by, role).unwrap();
    let fixes: Vec<Fix> = (0..=11)
        .map(|k| Fix {
            t: start + 10 * SECOND * (k + 1),
            lat: 39.9205 + 0.001 * k as f64 / 11.0,
            lon: 116.4436,
            accuracy_m: 5.0,
            mock: false,
        })
        .collect();
    let mut events = vec![
        ev(
            PatrolEvent::Started(Started {
                kind: PatrolKind::Grid,
                assigned_cells: vec![CELL_A.into(), CELL_B.into()],
                segment: None,
            }),
            start,
            &by,
            Role::Inspector,
        ),
        ev(
            PatrolEvent::TrackPoints(TrackPoints { fixes }),
            start + 3 * MINUTE,
            &by,
            Role::Inspector,
        ),
        ev(PatrolEvent::Ended, start + 4 * MINUTE, &by, Role::Inspector),
    ];
    if let Some(valid) = verdict {
        events.push(ev(
            PatrolEvent::Verdict(PatrolVerdict {
                valid,
                reasons: vec![],
            }),
            start + 5 * MINUTE,
            "server",
            Role::Server,
        ));
    }
    fold_events(&events)
}

fn november() -> Evaluation {
    let catalogue = Catalogue::builtin().unwrap();
    let calendar = Calendar::bundled().unwrap();
    let cases = cases();
    let patrols = [grid_patrol(Some(true)), grid_patrol(Some(false))];
    let grid = grid();
    let units = [UNIT.to_string(), OTHER_UNIT.to_string()];
    evaluate(&EvaluationInput {
        period: "2026-11",
        cases: &cases,
        patrols: &patrols,
        grid: &grid,
        catalogue: &catalogue,
        calendar: &calendar,
        units: &units,
        verification_limit: DEFAULT_VERIFICATION_LIMIT,
        now: T0 + 12 * DAY,
    })
    .unwrap()
}

fn close_to(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn unit_counts_and_rates_match_the_hand_computation() {
    let eval = november();
    assert_eq!(eval.period, "2026-11");
    assert!(eval.skipped.is_empty(), "{:?}", eval.skipped);
    let u = &eval.units[0];
    assert_eq!(u.unit, UNIT);
    assert_eq!(
        (
            u.due,
            u.suspended,
            u.closed,
            u.closed_on_time,
            u.rework,
            u.overdue,
            u.extended
        ),
        (6, 1, 4, 3, 1, 2, 1)
    );
    assert!(close_to(u.close_rate, 0.8));
    assert!(close_to(u.on_time_rate, 0.6));
    assert!(close_to(u.rework_rate, 0.2));
    assert!(close_to(u.overdue_rate, 0.4));
    assert_eq!(u.rank, 1);
}

#[test]
fn nothing_to_divide_by_gives_no_rate_and_the_last_shared_rank() {
    let eval = november();
    let names: Vec<&str> = eval.units.iter().map(|u| u.unit.as_str()).collect();
    assert_eq!(names, [UNIT, OTHER_UNIT, SUSPENDED_UNIT]);
    let empty = &eval.units[1];
    assert_eq!(empty.due, 0);
    let all_suspended = &eval.units[2];
    assert_eq!((all_suspended.due, all_suspended.suspended), (1, 1));
    for row in &eval.units[1..] {
        assert_eq!(
            (
                row.close_rate,
                row.on_time_rate,
                row.rework_rate,
                row.overdue_rate
            ),
            (None, None, None, None)
        );
        assert_eq!(row.rank, 2);
    }
}

#[test]
fn inspector_reports_verifications_and_patrols() {
    let eval = november();
    assert_eq!(eval.inspectors.len(), 1);
    let li = &eval.inspectors[0];
    assert_eq!(li.inspector, inspector().user_id);
    assert_eq!(
        (li.reports, li.valid_reports, li.self_fixed),
        (10, 8, 1),
        "H rejected and I not registered by the cut-off are not valid"
    );
    assert_eq!((li.verifications, li.on_time_verifications), (6, 5));
    assert_eq!(li.patrols, 1, "the invalid patrol does not count");
    assert!((li.mileage_m - 111.2).abs() < 0.5, "{}", li.mileage_m);
    assert!(close_to(li.coverage, 0.5));
}

#[test]
fn rows_serialise_to_json_and_csv() {
    let eval = november();
    let json: serde_json::Value = serde_json::from_str(&eval.to_json().unwrap()).unwrap();
    assert_eq!(json["units"][0]["due"], 6);
    assert!(json["units"][1]["close_rate"].is_null());

    let csv = eval.units_csv();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "排名,单位,应结案,结案,按期结案,缓办,返工,超期,延期,结案率,按期结案率,返工率,超期率,督办"
    );
    assert_eq!(
        lines[1],
        "1,chaoyang-sanitation-1,6,4,3,1,1,2,1,0.8000,0.6000,0.2000,0.4000,0"
    );
    assert_eq!(lines[2], "2,chaoyang-roads-2,0,0,0,0,0,0,0,,,,,0");
    assert_eq!(
        lines.len(),
        5,
        "three rows, a header and the final line break"
    );

    let inspectors = eval.inspectors_csv();
    assert!(
        inspectors.contains("\r\ninspector-li,10,8,1,6,5,1,0.111,0.5000\r\n"),
        "{inspectors}"
    );
}

#[test]
fn a_past_month_does_not_move_when_later_events_arrive() {
    let october = {
        let catalogue = Catalogue::builtin().unwrap();
        let calendar = Calendar::bundled().unwrap();
        let cases = cases();
        evaluate(&EvaluationInput {
            period: "2026-10",
            cases: &cases,
            patrols: &[],
            grid: &grid(),
            catalogue: &catalogue,
            calendar: &calendar,
            units: &[],
            verification_limit: DEFAULT_VERIFICATION_LIMIT,
            now: T0 + 12 * DAY,
        })
        .unwrap()
    };
    assert!(october.units.is_empty());
    assert!(october.inspectors.is_empty());
}

#[test]
fn periods_parse_strictly() {
    let p = Period::parse("2026-11").unwrap();
    assert_eq!(p.label(), "2026-11");
    // Local midnight, 16:00 UTC the day before.
    assert_eq!(p.starts, 1_793_462_400_000);
    assert_eq!(p.ends - p.starts, 30 * DAY);
    assert_eq!(
        Period::parse("2026-12").unwrap().ends - Period::parse("2026-12").unwrap().starts,
        31 * DAY
    );
    for bad in [
        "2026-13",
        "2026-00",
        "2026-1",
        "26-11",
        "2026/11",
        "２０２６-11",
        "",
    ] {
        assert!(Period::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_case_with_an_unknown_category_is_skipped_and_said_so() {
    let catalogue = Catalogue::builtin().unwrap();
    let calendar = Calendar::bundled().unwrap();
    let mut odd = snapshot(&Walk::dispatched());
    odd.header.category = Some("29999".into());
    let eval = evaluate(&EvaluationInput {
        period: "2026-11",
        cases: &[odd],
        patrols: &[],
        grid: &grid(),
        catalogue: &catalogue,
        calendar: &calendar,
        units: &[],
        verification_limit: DEFAULT_VERIFICATION_LIMIT,
        now: T0 + 12 * DAY,
    })
    .unwrap();
    assert!(eval.units.is_empty());
    assert_eq!(eval.skipped.len(), 1);
    assert!(eval.skipped[0].contains("29999"), "{:?}", eval.skipped);
    // The report still counts for the inspector.
    assert_eq!(eval.inspectors[0].reports, 1);
}

/// The server reads only the cases whose active window meets the month; for each month
/// around the hand-computed one that must give exactly the figures of reading them all.
#[test]
fn reading_only_the_cases_active_in_a_month_gives_the_same_figures() {
    let catalogue = Catalogue::builtin().unwrap();
    let calendar = Calendar::bundled().unwrap();
    let cases = cases();
    let grid = grid();
    let units = [UNIT.to_string(), OTHER_UNIT.to_string()];
    let mut left_out = 0;
    for month in ["2026-10", "2026-11", "2026-12", "2027-01"] {
        let period = Period::parse(month).unwrap();
        let active: Vec<Snapshot> = cases
            .iter()
            .filter(|c| active_window(c, &catalogue, &calendar).meets(period.starts, period.ends))
            .cloned()
            .collect();
        left_out += cases.len() - active.len();
        let run = |cases: &[Snapshot]| {
            evaluate(&EvaluationInput {
                period: month,
                cases,
                patrols: &[],
                grid: &grid,
                catalogue: &catalogue,
                calendar: &calendar,
                units: &units,
                verification_limit: DEFAULT_VERIFICATION_LIMIT,
                now: T0 + 70 * DAY,
            })
            .unwrap()
        };
        assert_eq!(run(&active), run(&cases), "{month}");
    }
    // Closed November cases are not read for October or for the months after.
    assert!(left_out >= 10, "only {left_out} case-months left out");
}

#[test]
fn an_open_case_stays_active_and_a_closed_one_ends_at_its_due_time_or_last_event() {
    let catalogue = Catalogue::builtin().unwrap();
    let calendar = Calendar::bundled().unwrap();
    let open = Walk::dispatched();
    let window = active_window(&snapshot(&open), &catalogue, &calendar);
    assert_eq!(window.until, None);
    assert!(window.meets(T0 + 400 * DAY, T0 + 430 * DAY));
    assert!(!window.meets(T0 - 60 * DAY, T0 - 30 * DAY));

    let mut closed = Walk::dispatched();
    done(&mut closed, "A");
    let snap = snapshot(&closed);
    let window = active_window(&snap, &catalogue, &calendar);
    let last = snap.events.iter().map(|e| e.at).max().unwrap();
    let until = window.until.expect("a closed case ends");
    assert!(until >= last);
    assert!(!window.meets(until + 1, until + DAY));
}
