//! A patrol's pause survives the app being killed: a river chief pauses, the phone object
//! goes away without a goodbye, and the app started again finds the patrol still paused
//! (fixes refused), resumes it, and the twenty-minute pause counts neither in the
//! duration nor as a GPS gap, so the patrol reads valid. A running patrol reopened keeps
//! taking fixes.

use fieldloop_core::geo::{Fix, LatLon};
use fieldloop_core::patrol::{PatrolKind, PatrolStatus};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::{Millis, MINUTE, SECOND};
use fieldloop_ffi::{FieldError, FieldPhone};
use fieldloop_tests::{TestServer, POSITION, T0};

use crate::phone_support::{logged_in, open, TestClock};
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

    let dir = tempfile::tempdir().expect("temp dir");
    let start = T0;
    let clock = TestClock::at(start);
    let phone = logged_in(&server, dir.path(), "chief", &clock);
    let id = phone
        .start_patrol(PatrolKind::River, Some(SEGMENT.into()), Vec::new())
        .expect("start");
    // Six minutes of walking (fixes 0..=12), then a twenty-minute break.
    phone
        .add_fixes(id.clone(), walk(0, 13, start))
        .expect("fixes");
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
