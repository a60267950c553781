//! Patrol documents: the fold over a real automerge document, illegal events kept and
//! ignored, grid-patrol cells and coverage, river-patrol validity, permissions.

use fieldloop_core::doc::{actor_for, Doc, DocKind, DocScope, Event, Header, SCHEMA_VERSION};
use fieldloop_core::geo::{Fix, GridCell, GridIndex, LatLon};
use fieldloop_core::patrol::{
    self, decide, fold, grid_summary, river_report, CaseFound, ChecklistAnswer, PatrolEvent,
    PatrolKind, PatrolRequirement, PatrolStatus, PatrolVerdict, Started, TrackPoints,
};
use fieldloop_core::roles::{Decision, Jurisdiction, Principal, Role};
use fieldloop_core::time::{MINUTE, SECOND};
use uuid::Uuid;

pub(crate) const T0: i64 = 1_780_000_000_000;
pub(crate) const CHIEF: &str = "chief-li";
const INSPECTOR: &str = "inspector-wang";
pub(crate) const SEGMENT: &str = "GZ-SHIJING-03";

pub(crate) struct Log {
    pub(crate) doc: Doc,
    next_id: u128,
}

impl Log {
    pub(crate) fn new(kind_role: Role, by: &str, scope: DocScope) -> Log {
        let header = Header {
            id: Uuid::from_u128(1),
            kind: DocKind::Patrol,
            schema: SCHEMA_VERSION,
            created_by: by.into(),
            created_role: kind_role,
            created_at: T0,
            position: None,
            category: None,
            scope,
        };
        let doc = Doc::create(&header, &actor_for(&Uuid::from_u128(99))).unwrap();
        Log { doc, next_id: 1000 }
    }

    pub(crate) fn add(&mut self, event: PatrolEvent, at: i64, by: &str, role: Role) -> Uuid {
        self.next_id += 1;
        let id = Uuid::from_u128(self.next_id);
        let event = event.to_event(id, at, by, role).unwrap();
        self.doc.append_event(&event).unwrap();
        id
    }

    pub(crate) fn raw(
        &mut self,
        kind: &str,
        data: serde_json::Value,
        at: i64,
        by: &str,
        role: Role,
    ) -> Uuid {
        self.next_id += 1;
        let id = Uuid::from_u128(self.next_id);
        let event = Event {
            id,
            kind: kind.into(),
            at,
            by: by.into(),
            role,
            data,
        };
        self.doc.append_event(&event).unwrap();
        id
    }

    pub(crate) fn state(&self) -> patrol::PatrolState {
        fold(&self.doc.snapshot().unwrap())
    }
}

/// The river line: 1.5 km due east from a point on the bank.
pub(crate) fn segment() -> Vec<LatLon> {
    let start = LatLon {
        lat: 23.20,
        lon: 113.28,
    };
    let m_per_deg_lon = 111_195.0 * start.lat.to_radians().cos();
    (0..=15)
        .map(|i| LatLon {
            lat: start.lat,
            lon: start.lon + i as f64 * 100.0 / m_per_deg_lon,
        })
        .collect()
}

/// Fixes walking `metres` east along the bank (15 m north of the line) at 1.2 m/s,
/// one every 5 s, starting at `t0`.
pub(crate) fn walk_bank(t0: i64, metres: f64) -> Vec<Fix> {
    let start = LatLon {
        lat: 23.20 + 15.0 / 111_195.0,
        lon: 113.28,
    };
    let m_per_deg_lon = 111_195.0 * start.lat.to_radians().cos();
    let steps = (metres / 6.0) as i64;
    (0..=steps)
        .map(|i| Fix {
            t: t0 + i * 5 * SECOND,
            lat: start.lat,
            lon: start.lon + (i as f64 * 6.0) / m_per_deg_lon,
            accuracy_m: 6.0,
            mock: false,
        })
        .collect()
}

pub(crate) fn river_started() -> PatrolEvent {
    PatrolEvent::Started(Started {
        kind: PatrolKind::River,
        assigned_cells: vec![],
        segment: Some(SEGMENT.into()),
    })
}

pub(crate) fn river_log() -> Log {
    Log::new(
        Role::RiverChief,
        CHIEF,
        DocScope {
            segment: Some(SEGMENT.into()),
            ..Default::default()
        },
    )
}

/// A complete river patrol: the bank walked in three batches, then ended.
fn walked_river_patrol(metres: f64, mutate: impl FnOnce(&mut Vec<Fix>)) -> Log {
    let mut log = river_log();
    log.add(river_started(), T0, CHIEF, Role::RiverChief);
    let mut fixes = walk_bank(T0 + SECOND, metres);
    mutate(&mut fixes);
    let end = fixes.iter().map(|f| f.t).max().unwrap_or(T0) + SECOND;
    for (k, batch) in fixes.chunks(fixes.len() / 3 + 1).enumerate() {
        let at = batch.last().unwrap().t + k as i64; // written as each batch fills
        log.add(
            PatrolEvent::TrackPoints(TrackPoints {
                fixes: batch.to_vec(),
            }),
            at,
            CHIEF,
            Role::RiverChief,
        );
    }
    log.add(PatrolEvent::Ended, end, CHIEF, Role::RiverChief);
    log
}

#[test]
fn a_river_patrol_folds_from_its_document_and_is_valid() {
    let mut log = walked_river_patrol(1_500.0, |_| {});
    let item = ChecklistAnswer {
        item: "no sewage outfall".into(),
        ok: false,
        note: Some("dark water at pier 3".into()),
    };
    // Answers and finds written during the walk.
    log.add(
        PatrolEvent::ChecklistAnswered(item.clone()),
        T0 + 3 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    let case = Uuid::from_u128(777);
    log.add(
        PatrolEvent::CaseFound(CaseFound { case_id: case }),
        T0 + 4 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    log.add(
        PatrolEvent::CaseFound(CaseFound { case_id: case }),
        T0 + 5 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );

    let state = log.state();
    assert!(state.ignored.is_empty(), "{:?}", state.ignored);
    assert_eq!(state.status, PatrolStatus::Ended);
    assert_eq!(state.kind, Some(PatrolKind::River));
    assert_eq!(state.segment.as_deref(), Some(SEGMENT));
    assert_eq!(state.fixes.len(), 251);
    assert!(state.fixes.windows(2).all(|w| w[0].t < w[1].t));
    assert_eq!(state.checklist.get("no sewage outfall"), Some(&item));
    assert_eq!(
        state.cases_found,
        vec![case],
        "a case mentioned twice counts once"
    );

    let report = river_report(&state, &segment(), &PatrolRequirement::default()).unwrap();
    assert!(report.valid, "{:?}", report.reasons);
    assert_eq!(report.duration, 250 * 5 * SECOND);
    assert!(
        (report.length_m - 1_500.0).abs() < 5.0,
        "{}",
        report.length_m
    );
    assert!(report.coverage.share > 0.99, "{:?}", report.coverage);

    // The server writes its verdict; it lands in the state.
    let verdict = report.verdict();
    log.add(
        PatrolEvent::Verdict(verdict.clone()),
        T0 + 30 * MINUTE,
        "server",
        Role::Server,
    );
    assert_eq!(log.state().verdict, Some(verdict));
}

#[test]
fn the_same_batch_sent_twice_counts_once() {
    let mut log = walked_river_patrol(600.0, |_| {});
    let state_before = log.state();
    // A phone that lost the answer re-sends the first batch before ending... after the
    // end it is ignored; resent during the patrol it must not double the track.
    let mut again = river_log();
    again.add(river_started(), T0, CHIEF, Role::RiverChief);
    let mut batch = walk_bank(T0 + SECOND, 300.0);
    // Two fixes sharing a timestamp (fused providers do that) must not defeat the dedup.
    let twin = Fix {
        lon: batch[3].lon + 1e-5,
        ..batch[3]
    };
    batch.push(twin);
    again.add(
        PatrolEvent::TrackPoints(TrackPoints {
            fixes: batch.clone(),
        }),
        T0 + 2 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    again.add(
        PatrolEvent::TrackPoints(TrackPoints {
            fixes: batch.clone(),
        }),
        T0 + 3 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    assert_eq!(again.state().fixes.len(), batch.len());
    // Late batch after the end: kept in the log, ignored.
    let late = log.add(
        PatrolEvent::TrackPoints(TrackPoints {
            fixes: walk_bank(T0 + 60 * MINUTE, 60.0),
        }),
        T0 + 61 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    let state = log.state();
    assert_eq!(state.fixes, state_before.fixes);
    assert_eq!(state.ignored.len(), 1);
    assert_eq!(state.ignored[0].event, late);
    assert!(state.ignored[0].reason.contains("after patrol.ended"));
}

#[test]
fn too_short_too_brief_or_elsewhere_is_not_valid() {
    let requirement = PatrolRequirement::default();

    // 600 m in ~8 minutes: below 1 km and 10 min, and only ~40% of the segment.
    let state = walked_river_patrol(600.0, |_| {}).state();
    let report = river_report(&state, &segment(), &requirement).unwrap();
    assert!(!report.valid);
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.starts_with("lasted 8 min, needs 10 min")),
        "{:?}",
        report.reasons
    );
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.starts_with("walked 0.60 km")),
        "{:?}",
        report.reasons
    );
    assert!(
        report.reasons.iter().any(|r| r.starts_with("covered 4")),
        "{:?}",
        report.reasons
    );
    assert!(!report.verdict().valid);
    assert_eq!(report.verdict().reasons, report.reasons);

    // Long and long enough, but 300 m away from the river.
    let state = walked_river_patrol(1_500.0, |fixes| {
        for f in fixes.iter_mut() {
            f.lat += 300.0 / 111_195.0;
        }
    })
    .state();
    let report = river_report(&state, &segment(), &requirement).unwrap();
    assert!(!report.valid);
    assert_eq!(report.coverage.share, 0.0);
    assert_eq!(
        report.reasons,
        vec!["covered 0% of the segment, needs 60%".to_string()]
    );

    // A patrol that never ended does not count yet.
    let mut log = river_log();
    log.add(river_started(), T0, CHIEF, Role::RiverChief);
    log.add(
        PatrolEvent::TrackPoints(TrackPoints {
            fixes: walk_bank(T0, 1_500.0),
        }),
        T0 + 30 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    let report = river_report(&log.state(), &segment(), &requirement).unwrap();
    assert_eq!(report.reasons, vec!["the patrol has not ended".to_string()]);
}

#[test]
fn teleport_mock_and_gap_make_a_river_patrol_invalid() {
    let requirement = PatrolRequirement::default();
    let check = |mutate: fn(&mut Vec<Fix>), expect: &str| {
        let state = walked_river_patrol(1_500.0, mutate).state();
        let report = river_report(&state, &segment(), &requirement).unwrap();
        assert!(!report.valid, "{expect}");
        assert!(
            report
                .reasons
                .iter()
                .any(|r| r.starts_with("track implausible") && r.contains(expect)),
            "{expect}: {:?}",
            report.reasons
        );
    };
    check(|f| f[100].lat += 0.05, "km/h");
    check(|f| f[30].mock = true, "mock-location");
    check(
        |f| f.retain(|x| x.t < T0 + 5 * MINUTE || x.t > T0 + 12 * MINUTE),
        "no GPS fix for",
    );
}

#[test]
fn illegal_events_stay_in_the_log_and_are_ignored() {
    let mut log = river_log();
    let early = log.add(
        PatrolEvent::TrackPoints(TrackPoints {
            fixes: walk_bank(T0, 30.0),
        }),
        T0 - MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    log.add(river_started(), T0, CHIEF, Role::RiverChief);
    let twice = log.add(river_started(), T0 + SECOND, CHIEF, Role::RiverChief);
    let stranger = log.add(
        PatrolEvent::Ended,
        T0 + 2 * SECOND,
        "chief-zhao",
        Role::RiverChief,
    );
    let mut bad = walk_bank(T0 + 10 * SECOND, 60.0);
    bad[2].lat = 123.0;
    let bad_batch = log.add(
        PatrolEvent::TrackPoints(TrackPoints { fixes: bad }),
        T0 + MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    let malformed = log.raw(
        "patrol.track_points",
        serde_json::json!({"fixes": "lots"}),
        T0 + 2 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    let foreign = log.raw(
        "case.handled",
        serde_json::Value::Null,
        T0 + 3 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    let early_verdict = log.add(
        PatrolEvent::Verdict(PatrolVerdict {
            valid: true,
            reasons: vec![],
        }),
        T0 + 4 * MINUTE,
        "server",
        Role::Server,
    );
    log.add(PatrolEvent::Ended, T0 + 5 * MINUTE, CHIEF, Role::RiverChief);
    let device_verdict = log.add(
        PatrolEvent::Verdict(PatrolVerdict {
            valid: true,
            reasons: vec![],
        }),
        T0 + 6 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );
    log.add(
        PatrolEvent::Verdict(PatrolVerdict {
            valid: false,
            reasons: vec!["short".into()],
        }),
        T0 + 7 * MINUTE,
        "server",
        Role::Server,
    );
    let second_verdict = log.add(
        PatrolEvent::Verdict(PatrolVerdict {
            valid: true,
            reasons: vec![],
        }),
        T0 + 8 * MINUTE,
        "server",
        Role::Server,
    );
    let after_end = log.add(
        PatrolEvent::CaseFound(CaseFound {
            case_id: Uuid::from_u128(5),
        }),
        T0 + 9 * MINUTE,
        CHIEF,
        Role::RiverChief,
    );

    let state = log.state();
    let ignored: Vec<_> = state
        .ignored
        .iter()
        .map(|i| (i.event, i.reason.as_str()))
        .collect();
    let reason = |id: Uuid| {
        ignored
            .iter()
            .find(|(e, _)| *e == id)
            .map(|(_, r)| *r)
            .unwrap_or("NOT IGNORED")
    };
    assert!(reason(early).contains("before patrol.started"));
    assert!(reason(twice).contains("already started"));
    assert!(reason(stranger).contains("only chief-li"));
    assert!(
        reason(bad_batch).contains("latitude 123"),
        "{}",
        reason(bad_batch)
    );
    assert!(
        reason(malformed).contains("invalid event data"),
        "{}",
        reason(malformed)
    );
    assert!(reason(foreign).contains("not a patrol event"));
    assert!(reason(early_verdict).contains("after patrol.ended"));
    assert!(reason(device_verdict).contains("server only"));
    assert!(reason(second_verdict).contains("already has a verdict"));
    assert!(reason(after_end).contains("after patrol.ended"));
    assert_eq!(ignored.len(), 10, "{ignored:?}");

    // Nothing was dropped from the log, and the legal events took effect.
    assert_eq!(log.doc.events().unwrap().len(), 13);
    assert_eq!(state.status, PatrolStatus::Ended);
    assert!(state.fixes.is_empty());
    assert!(state.cases_found.is_empty());
    assert_eq!(
        state.verdict,
        Some(PatrolVerdict {
            valid: false,
            reasons: vec!["short".into()]
        })
    );
}

#[test]
fn a_patrol_must_be_started_by_the_right_role_with_its_place() {
    let mut log = river_log();
    let grid_by_chief = log.add(
        PatrolEvent::Started(Started {
            kind: PatrolKind::Grid,
            assigned_cells: vec!["440106001001001".into()],
            segment: None,
        }),
        T0,
        CHIEF,
        Role::RiverChief,
    );
    let river_without_segment = log.add(
        PatrolEvent::Started(Started {
            kind: PatrolKind::River,
            assigned_cells: vec![],
            segment: None,
        }),
        T0 + 1,
        CHIEF,
        Role::RiverChief,
    );
    let bad_cell = log.add(
        PatrolEvent::Started(Started {
            kind: PatrolKind::Grid,
            assigned_cells: vec!["4401".into()],
            segment: None,
        }),
        T0 + 2,
        INSPECTOR,
        Role::Inspector,
    );
    let state = log.state();
    assert_eq!(state.status, PatrolStatus::NotStarted);
    let ids: Vec<_> = state.ignored.iter().map(|i| i.event).collect();
    assert_eq!(ids, vec![grid_by_chief, river_without_segment, bad_cell]);
    assert!(state.ignored[2].reason.contains("15 digits"));
}

// ---------------------------------------------------------------- grid patrol

const LAT0: f64 = 23.10;
const LON0: f64 = 113.25;
const STEP: f64 = 0.002;

fn code(row: usize, col: usize) -> String {
    format!("440106001001{:03}", row * 10 + col + 1)
}

/// 3 × 3 cells of about 200 m.
fn grid() -> GridIndex {
    let mut cells = Vec::new();
    for row in 0..3 {
        for col in 0..3 {
            let (la, lo) = (LAT0 + row as f64 * STEP, LON0 + col as f64 * STEP);
            cells.push(GridCell {
                code: code(row, col),
                ring: vec![
                    LatLon { lat: la, lon: lo },
                    LatLon {
                        lat: la,
                        lon: lo + STEP,
                    },
                    LatLon {
                        lat: la + STEP,
                        lon: lo + STEP,
                    },
                    LatLon {
                        lat: la + STEP,
                        lon: lo,
                    },
                ],
            });
        }
    }
    GridIndex::new(cells).unwrap()
}

#[test]
fn a_grid_patrol_knows_its_cells_mileage_and_coverage() {
    let assigned = vec![code(0, 0), code(0, 1), code(1, 1), code(2, 2)];
    let mut log = Log::new(
        Role::Inspector,
        INSPECTOR,
        DocScope {
            grid_cell: Some(code(0, 0)),
            ..Default::default()
        },
    );
    log.add(
        PatrolEvent::Started(Started {
            kind: PatrolKind::Grid,
            assigned_cells: assigned.clone(),
            segment: None,
        }),
        T0,
        INSPECTOR,
        Role::Inspector,
    );
    // Along row 0 from west to east through (0,0), (0,1), (0,2), one fix every 10 s at
    // ~1.2 m/s; fixes are ~12 m apart, so every crossing is interpolated.
    let lat = LAT0 + STEP / 2.0;
    let lon_span = 3.0 * STEP - 0.0002;
    let n = 50;
    let mut fixes: Vec<Fix> = (0..=n)
        .map(|i| Fix {
            t: T0 + i * 10 * SECOND,
            lat,
            lon: LON0 + 0.0001 + lon_span * i as f64 / n as f64,
            accuracy_m: 5.0,
            mock: false,
        })
        .collect();
    // A mock fix in cell (2, 2) proves nothing.
    fixes.push(Fix {
        t: T0 + 3 * MINUTE + 5 * SECOND,
        lat: LAT0 + 2.5 * STEP,
        lon: LON0 + 2.5 * STEP,
        accuracy_m: 3.0,
        mock: true,
    });
    log.add(
        PatrolEvent::TrackPoints(TrackPoints { fixes }),
        T0 + 9 * MINUTE,
        INSPECTOR,
        Role::Inspector,
    );
    log.add(
        PatrolEvent::Ended,
        T0 + 10 * MINUTE,
        INSPECTOR,
        Role::Inspector,
    );

    let state = log.state();
    assert!(state.ignored.is_empty(), "{:?}", state.ignored);
    assert_eq!(state.kind, Some(PatrolKind::Grid));
    let summary = grid_summary(&state, &grid());
    assert_eq!(
        summary.cells_passed,
        vec![code(0, 0), code(0, 1), code(0, 2)]
    );
    assert_eq!(summary.assigned_covered, vec![code(0, 0), code(0, 1)]);
    assert_eq!(summary.assigned_count, 4);
    assert_eq!(summary.coverage, 0.5);
    let expected_m = lon_span * 111_195.0 * lat.to_radians().cos();
    assert!(
        (summary.mileage_m - expected_m).abs() < 2.0,
        "{} vs {expected_m}",
        summary.mileage_m
    );
}

#[test]
fn a_cell_corner_cut_between_two_fixes_still_counts_but_a_jump_does_not() {
    let mut log = Log::new(
        Role::Inspector,
        INSPECTOR,
        DocScope {
            grid_cell: Some(code(0, 0)),
            ..Default::default()
        },
    );
    log.add(
        PatrolEvent::Started(Started {
            kind: PatrolKind::Grid,
            assigned_cells: vec![code(0, 0)],
            segment: None,
        }),
        T0,
        INSPECTOR,
        Role::Inspector,
    );
    // A fix near the north-east corner of (0,0), the next ~50 m on near the south-west
    // corner of (1,1): the straight line between them crosses (1,0), where no fix is.
    let corner = (LAT0 + STEP, LON0 + STEP);
    let fix = |t: i64, lat: f64, lon: f64| Fix {
        t,
        lat,
        lon,
        accuracy_m: 5.0,
        mock: false,
    };
    let fixes = vec![
        fix(T0, corner.0 - 0.0001, corner.1 - 0.0003),
        fix(T0 + 40 * SECOND, corner.0 + 0.0003, corner.1 + 0.0001),
        // ~520 m on, to the far corner of (2,2): the line crosses (2,1), but a stretch that
        // long was not recorded, so no cell is claimed for it.
        fix(
            T0 + 400 * SECOND,
            LAT0 + 3.0 * STEP - 0.0001,
            LON0 + 3.0 * STEP - 0.0001,
        ),
    ];
    log.add(
        PatrolEvent::TrackPoints(TrackPoints { fixes }),
        T0 + 3 * MINUTE,
        INSPECTOR,
        Role::Inspector,
    );
    let summary = grid_summary(&log.state(), &grid());
    assert_eq!(
        summary.cells_passed,
        vec![code(0, 0), code(1, 0), code(1, 1), code(2, 2)]
    );
    assert_eq!(summary.coverage, 1.0);
}

// ---------------------------------------------------------------- permissions

fn principal(role: Role, jurisdiction: Jurisdiction) -> Principal {
    Principal {
        user_id: "u".into(),
        role,
        jurisdiction,
    }
}

#[test]
fn permissions_inspectors_by_cell_river_chiefs_by_segment_verdict_by_server() {
    let grid_scope = DocScope {
        grid_cell: Some("440106001001007".into()),
        ..Default::default()
    };
    let river_scope = DocScope {
        segment: Some(SEGMENT.into()),
        ..Default::default()
    };
    let inspector = principal(
        Role::Inspector,
        Jurisdiction {
            grid_prefixes: vec!["440106001".into()],
            ..Default::default()
        },
    );
    let far_inspector = principal(
        Role::Inspector,
        Jurisdiction {
            grid_prefixes: vec!["440104".into()],
            ..Default::default()
        },
    );
    let chief = principal(
        Role::RiverChief,
        Jurisdiction {
            segments: vec![SEGMENT.into()],
            ..Default::default()
        },
    );
    let other_chief = principal(
        Role::RiverChief,
        Jurisdiction {
            segments: vec!["GZ-OTHER-01".into()],
            ..Default::default()
        },
    );
    let handler = principal(
        Role::Handler,
        Jurisdiction {
            everywhere: false,
            units: vec!["u1".into()],
            ..Default::default()
        },
    );
    let server = principal(
        Role::Server,
        Jurisdiction {
            everywhere: true,
            ..Default::default()
        },
    );

    for event in [
        patrol::STARTED,
        patrol::TRACK_POINTS,
        patrol::CHECKLIST_ANSWERED,
        patrol::CASE_FOUND,
        patrol::PAUSED,
        patrol::RESUMED,
        patrol::ENDED,
    ] {
        assert_eq!(
            decide(&inspector, event, &grid_scope),
            Decision::Allowed,
            "{event}"
        );
        assert_eq!(
            decide(&chief, event, &river_scope),
            Decision::Allowed,
            "{event}"
        );
        assert!(
            matches!(
                decide(&far_inspector, event, &grid_scope),
                Decision::Denied(_)
            ),
            "{event}"
        );
        assert!(
            matches!(
                decide(&other_chief, event, &river_scope),
                Decision::Denied(_)
            ),
            "{event}"
        );
        // A chief has no say over a grid patrol's cell and vice versa.
        assert!(
            matches!(decide(&chief, event, &grid_scope), Decision::Denied(_)),
            "{event}"
        );
        assert!(
            matches!(decide(&inspector, event, &river_scope), Decision::Denied(_)),
            "{event}"
        );
        assert!(
            matches!(decide(&handler, event, &grid_scope), Decision::Denied(_)),
            "{event}"
        );
    }
    let Decision::Denied(reason) = decide(&chief, patrol::VERDICT, &river_scope) else {
        panic!("a device may not write a verdict");
    };
    assert!(reason.contains("server only"), "{reason}");
    assert_eq!(
        decide(&server, patrol::VERDICT, &river_scope),
        Decision::Allowed
    );
    assert!(matches!(
        decide(&chief, "patrol.unknown", &river_scope),
        Decision::Denied(_)
    ));
    assert!(patrol::PERMISSIONS
        .iter()
        .all(|r| r.event.starts_with("patrol.")));
}

#[test]
fn events_round_trip_through_their_log_form() {
    let events = [
        river_started(),
        PatrolEvent::TrackPoints(TrackPoints {
            fixes: walk_bank(T0, 20.0),
        }),
        PatrolEvent::ChecklistAnswered(ChecklistAnswer {
            item: "bank intact".into(),
            ok: true,
            note: None,
        }),
        PatrolEvent::CaseFound(CaseFound {
            case_id: Uuid::from_u128(3),
        }),
        PatrolEvent::Ended,
        PatrolEvent::Verdict(PatrolVerdict {
            valid: true,
            reasons: vec![],
        }),
    ];
    for e in events {
        let logged = e
            .to_event(Uuid::from_u128(8), T0, CHIEF, Role::RiverChief)
            .unwrap();
        let json = serde_json::to_string(&logged).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(PatrolEvent::from_event(&back).unwrap(), e);
    }
    // The wire form of a fix, as the issue names its fields.
    let logged = PatrolEvent::TrackPoints(TrackPoints {
        fixes: vec![Fix {
            t: T0,
            lat: 23.2,
            lon: 113.28,
            accuracy_m: 4.5,
            mock: true,
        }],
    })
    .to_event(Uuid::from_u128(9), T0, CHIEF, Role::RiverChief)
    .unwrap();
    assert_eq!(
        logged.data,
        serde_json::json!({"fixes": [{"t": T0, "lat": 23.2, "lon": 113.28, "accuracy_m": 4.5, "mock": true}]})
    );
}
