//! A patrol's pause survives the app being killed: a river chief pauses, the phone object
//! goes away without a goodbye, and the app started again finds the patrol still paused
//! (fixes refused), resumes it, and the twenty-minute pause counts neither in the
//! duration nor as a GPS gap, so the patrol reads valid. A running patrol reopened keeps
//! taking fixes.
//!
//! The pause is part of the patrol document, so the server judges the same way: a chief
//! who takes a twenty-minute break gets a valid verdict and the plan task done; the same
//! walk without the pause events is refused for the gap.

use fieldloop_core::geo::{Fix, LatLon};
use fieldloop_core::patrol::{PatrolKind, PatrolStatus};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::{Millis, MINUTE, SECOND};
use fieldloop_ffi::{FieldError, FieldPhone};
use fieldloop_tests::{TestServer, POSITION, T0};

use crate::phone_support::{logged_in, open, sync, TestClock};
use crate::reference::{city_admin, import};

const SEGMENT: &str = "seg-pause";
const SEGMENT_M: f64 = 1_200.0;
/// Walking pace: one fix every 30 s, 45 m apart.
const STEP: Millis = 30 * SECOND;
const STEP_M: f64 = 45.0;

/// The point `metres` east of [`POSITION`] along the segment.
fn east(metres: f64) -> LatLon {
    let per_degree = 111_320.0 * POSITION.lat.to_radians().cos();
    LatLon {
        lat: POSITION.lat,
        lon: POSITION.lon + metres / per_degree,
    }
}

fn rivers() -> String {
    let line: Vec<[f64; 2]> = (0..=12)
        .map(|i| east(SEGMENT_M * f64::from(i) / 12.0))
        .map(|p| [p.lon, p.lat])
        .collect();
    serde_json::json!({"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {
            "id": SEGMENT, "name": "试验河 东段", "river": "试验河",
            "chief_level": "village", "warning": "none", "chiefs": ["chief"]
        },
        "geometry": {"type": "LineString", "coordinates": line}
    }]})
    .to_string()
}

/// Fixes `first..first + count` of the walk (fix i at `i * STEP_M` m), the first at `t`.
fn walk(first: u32, count: u32, t: Millis) -> Vec<Fix> {
    (0..count)
        .map(|k| {
            let at = east(f64::from(first + k) * STEP_M);
            Fix {
                t: t + i64::from(k) * STEP,
                lat: at.lat,
                lon: at.lon,
                accuracy_m: 5.0,
                mock: false,
            }
        })
        .collect()
}

#[test]
fn a_paused_patrol_is_still_paused_after_a_restart_and_the_pause_is_left_out() {
    let server = river_server();

    let dir = tempfile::tempdir().expect("temp dir");
    let start = T0;
    let clock = TestClock::at(start);
    let phone = logged_in(&server, dir.path(), "chief", &clock);
    // Six minutes of walking (fixes 0..=12), then a twenty-minute break.
    let id = six_minutes_walked(&phone, start);
    let paused_at = start + 6 * MINUTE;
    clock.set(paused_at);
    phone.pause_patrol(id.clone()).expect("pause");
    // Killed: no shutdown, the object simply goes away.
    drop(phone);

    let resumed_at = paused_at + 20 * MINUTE;
    clock.set(resumed_at);
    let phone = open(&server.base, dir.path(), &clock);
    let live = phone.patrol_live(id.clone()).expect("live");
    assert!(live.paused, "{live:?}");
    assert_eq!(live.fixes, 13);
    let refused = phone.add_fixes(id.clone(), walk(13, 1, resumed_at));
    assert!(
        matches!(refused, Err(FieldError::InvalidInput { .. })),
        "{refused:?}"
    );
    phone.resume_patrol(id.clone()).expect("resume");
    assert!(!phone.patrol_live(id.clone()).expect("live").paused);

    // Running, killed again: the reopened phone keeps appending.
    phone
        .add_fixes(id.clone(), walk(13, 6, resumed_at + STEP))
        .expect("fixes after resuming");
    drop(phone);
    let phone = open(&server.base, dir.path(), &clock);
    let live = phone.patrol_live(id.clone()).expect("live");
    assert!(!live.paused);
    assert_eq!(live.fixes, 19);
    phone
        .add_fixes(id.clone(), walk(19, 7, resumed_at + 7 * STEP))
        .expect("a running patrol takes fixes after a restart");
    let last_fix = resumed_at + 13 * STEP;
    clock.set(last_fix);
    phone.end_patrol(id.clone()).expect("end");

    let live = phone.patrol_live(id.clone()).expect("live");
    assert_eq!(live.status, PatrolStatus::Ended);
    assert_eq!(live.fixes, 26);
    // 12.5 minutes walked; the 20-minute break is not patrol time.
    let walked = last_fix - start - (resumed_at - paused_at);
    assert_eq!(live.duration_ms, walked);
    let river = live.river.expect("river report");
    assert_eq!(river.duration, walked);
    assert!(
        river.valid,
        "the break is no GPS gap and the walk is long enough: {:?}",
        river.reasons
    );
    drop(server);
    paused_on_ended_is_refused(&phone, &id);
}

fn paused_on_ended_is_refused(phone: &FieldPhone, id: &str) {
    let refused = phone.pause_patrol(id.to_owned());
    assert!(
        matches!(refused, Err(FieldError::InvalidInput { .. })),
        "{refused:?}"
    );
}

/// A chief on the segment, with the city's rivers imported (which issues the month's plan).
fn river_server() -> TestServer {
    let server = TestServer::start();
    server.add_user(
        "chief",
        Role::RiverChief,
        Jurisdiction {
            segments: vec![SEGMENT.into()],
            ..Jurisdiction::default()
        },
    );
    import(&server, &city_admin(&server), "rivers", rivers());
    server
}

/// A river patrol started at `start` (the phone's clock) and walked for six minutes,
/// fixes 0..=12.
fn six_minutes_walked(phone: &FieldPhone, start: Millis) -> String {
    let id = phone
        .start_patrol(PatrolKind::River, Some(SEGMENT.into()), Vec::new())
        .expect("start");
    phone
        .add_fixes(id.clone(), walk(0, 13, start))
        .expect("fixes");
    id
}

/// Walks the segment from `start`: 6 minutes, a 20-minute break (paused on the phone when
/// `pause`, otherwise just silent), 6.5 minutes more; ends and syncs. Answers the patrol.
fn walk_with_a_break(
    server: &TestServer,
    phone: &std::sync::Arc<FieldPhone>,
    clock: &TestClock,
    start: Millis,
    pause: bool,
) -> String {
    clock.set(start);
    let id = six_minutes_walked(phone, start);
    let paused_at = start + 6 * MINUTE;
    let resumed_at = paused_at + 20 * MINUTE;
    if pause {
        clock.set(paused_at);
        phone.pause_patrol(id.clone()).expect("pause");
        clock.set(resumed_at);
        phone.resume_patrol(id.clone()).expect("resume");
    }
    phone
        .add_fixes(id.clone(), walk(13, 14, resumed_at + STEP))
        .expect("fixes after the break");
    clock.set(resumed_at + 14 * STEP);
    phone.end_patrol(id.clone()).expect("end");
    server.clock.set(resumed_at + 15 * STEP);
    sync(server, phone);
    sync(server, phone);
    id
}

#[test]
fn the_server_counts_a_patrol_with_a_long_pause_and_refuses_the_same_walk_without_it() {
    let server = river_server();
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = TestClock::at(T0);
    let phone = logged_in(&server, dir.path(), "chief", &clock);
    sync(&server, &phone);
    let plans = phone.plan_progress().expect("plans");
    assert_eq!(plans.len(), 1, "the chief has this month's plan: {plans:?}");
    assert_eq!(plans[0].done, 0);

    // The same walk, no pause pressed: twenty silent minutes are a gap.
    let silent = walk_with_a_break(&server, &phone, &clock, T0 + MINUTE, false);
    let verdict = phone
        .patrol_live(silent.clone())
        .expect("live")
        .verdict
        .expect("the server judged it");
    assert!(!verdict.valid, "{verdict:?}");
    assert!(
        verdict.reasons.iter().any(|r| r.contains("no GPS fix for")),
        "{verdict:?}"
    );
    assert_eq!(phone.plan_progress().expect("plans")[0].done, 0);

    // Paused for the break: valid, and the plan task is done.
    let paused = walk_with_a_break(&server, &phone, &clock, T0 + 2 * 60 * MINUTE, true);
    let live = phone.patrol_live(paused.clone()).expect("live");
    let verdict = live.verdict.expect("the server judged it");
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!(live.duration_ms, 13 * STEP + 12 * STEP + STEP);
    let server_side = fieldloop_core::patrol::fold(
        &server
            .doc(paused.parse().expect("uuid"))
            .expect("the server has it")
            .snapshot()
            .expect("snapshot"),
    );
    assert_eq!(server_side.pauses.len(), 1, "the pause reached the server");
    assert!(server_side.ignored.is_empty(), "{:?}", server_side.ignored);
    let plans = phone.plan_progress().expect("plans");
    assert_eq!(plans[0].done, 1, "{plans:?}");
}
