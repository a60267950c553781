//! Patrol pauses as events of the patrol document: a break longer than the allowed GPS
//! gap is no gap and no patrol time, a gap outside a pause still fails, the track is not
//! joined across a pause, and misplaced pause events stay in the log, ignored. (Who may
//! write them: the permissions test in `patrol_doc`.)

use fieldloop_core::geo::{Finding, Fix};
use fieldloop_core::patrol::{
    river_report, PatrolEvent, PatrolPause, PatrolRequirement, RiverPatrolReport, TrackPoints,
};
use fieldloop_core::roles::Role;
use fieldloop_core::time::{Millis, MINUTE, SECOND};

use crate::patrol_doc::{river_log, river_started, segment, walk_bank, Log, CHIEF, T0};

const BREAK: Millis = 20 * MINUTE;
/// The last fix before the break: 625 s and 750 m into the 1.5 km walk.
const SPLIT: usize = 125;

/// The bank walked in two legs with a 20-minute break between them (the second leg's
/// fixes 20 minutes later than an unbroken walk); `paused` says whether the phone wrote
/// the pause and resume events. Answers the log and the time lost to the break.
fn broken_walk(paused: bool, mutate: impl FnOnce(&mut Vec<Fix>)) -> Log {
    let mut fixes = walk_bank(T0 + SECOND, 1_500.0);
    for fix in &mut fixes[SPLIT + 1..] {
        fix.t += BREAK;
    }
    let pause_at = fixes[SPLIT].t + 2 * SECOND;
    mutate(&mut fixes);
    let mut log = river_log();
    chief(&mut log, river_started(), T0);
    let (before, after): (Vec<Fix>, Vec<Fix>) = fixes.iter().partition(|f| f.t < pause_at);
    let batch = |fixes: Vec<Fix>| PatrolEvent::TrackPoints(TrackPoints { fixes });
    let end = after.last().map_or(pause_at, |f| f.t) + SECOND;
    chief(&mut log, batch(before), pause_at - SECOND);
    if paused {
        chief(&mut log, PatrolEvent::Paused, pause_at);
        chief(&mut log, PatrolEvent::Resumed, pause_at + BREAK);
    }
    chief(&mut log, batch(after), end - SECOND);
    chief(&mut log, PatrolEvent::Ended, end);
    log
}

/// Writes `event` at `at` in the chief's name.
fn chief(log: &mut Log, event: PatrolEvent, at: Millis) -> uuid::Uuid {
    log.add(event, at, CHIEF, Role::RiverChief)
}

fn report(log: &Log) -> RiverPatrolReport {
    river_report(&log.state(), &segment(), &PatrolRequirement::default()).unwrap()
}

fn gaps(report: &RiverPatrolReport) -> Vec<Millis> {
    report
        .plausibility
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::Gap { duration, .. } => Some(*duration),
            _ => None,
        })
        .collect()
}

#[test]
fn a_twenty_minute_pause_is_no_gap_and_no_patrol_time() {
    let log = broken_walk(true, |_| {});
    let state = log.state();
    assert!(state.ignored.is_empty(), "{:?}", state.ignored);
    assert_eq!(state.pauses.len(), 1);
    let report = report(&log);
    assert!(report.valid, "{:?}", report.reasons);
    assert!(gaps(&report).is_empty());
    // 250 steps of 5 s walked; the break is not patrol time.
    assert_eq!(report.duration, 250 * 5 * SECOND);
    assert!(
        (report.length_m - 1_500.0).abs() < 10.0,
        "{}",
        report.length_m
    );
}

#[test]
fn the_same_track_without_its_pause_events_fails_with_the_gap() {
    let report = report(&broken_walk(false, |_| {}));
    assert!(!report.valid);
    assert_eq!(gaps(&report), vec![BREAK + 5 * SECOND]);
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.contains("no GPS fix for 1205 s")),
        "{:?}",
        report.reasons
    );
    assert_eq!(report.duration, 250 * 5 * SECOND + BREAK);
}

#[test]
fn a_gap_outside_a_pause_still_fails() {
    // Seven silent minutes in the first leg.
    let report = report(&broken_walk(true, |fixes| {
        fixes.retain(|f| f.t < T0 + MINUTE || f.t > T0 + 8 * MINUTE);
    }));
    assert!(!report.valid);
    assert_eq!(gaps(&report).len(), 1, "{:?}", report.reasons);
    assert!(report.reasons.iter().any(|r| r.contains("no GPS fix for")));

    // Silent for 3 minutes before the pause and 3 after it: 6 minutes of patrol time
    // without a fix, though neither side alone is too long.
    let report = report_of_silence_around_the_pause(3 * MINUTE);
    assert_eq!(gaps(&report).len(), 1, "{:?}", report.reasons);
    assert!(!report.valid);
    let report = report_of_silence_around_the_pause(2 * MINUTE);
    assert!(gaps(&report).is_empty(), "{:?}", report.reasons);
}

fn report_of_silence_around_the_pause(silence: Millis) -> RiverPatrolReport {
    let split_t = walk_bank(T0 + SECOND, 1_500.0)[SPLIT].t;
    report(&broken_walk(true, |fixes| {
        fixes.retain(|f| {
            let before = f.t > split_t - silence && f.t <= split_t;
            let after = f.t > split_t + BREAK && f.t < split_t + BREAK + silence;
            !(before || after)
        });
    }))
}

#[test]
fn the_track_is_not_joined_across_a_pause() {
    // During the break the chief rode 600 m on: no speed check and no length for the
    // ride, which nobody recorded.
    let log = broken_walk(true, |fixes| {
        let shift = fixes[SPLIT + 1].lon - fixes[SPLIT].lon;
        for fix in &mut fixes[SPLIT + 1..] {
            fix.lon += 100.0 * shift;
        }
    });
    let report = report(&log);
    assert!(
        !report
            .plausibility
            .findings
            .iter()
            .any(|f| matches!(f, Finding::TooFast { .. })),
        "{:?}",
        report.plausibility.findings
    );
    assert!(
        (report.length_m - 1_500.0).abs() < 10.0,
        "{}",
        report.length_m
    );
    assert_eq!(log.state().real_legs().len(), 2);
}

#[test]
fn misplaced_pause_events_stay_in_the_log_and_are_ignored() {
    let mut log = river_log();
    chief(&mut log, river_started(), T0);
    let resume_first = chief(&mut log, PatrolEvent::Resumed, T0 + MINUTE);
    chief(&mut log, PatrolEvent::Paused, T0 + 2 * MINUTE);
    let twice = chief(&mut log, PatrolEvent::Paused, T0 + 3 * MINUTE);
    let while_paused = chief(
        &mut log,
        PatrolEvent::TrackPoints(TrackPoints {
            fixes: walk_bank(T0 + 3 * MINUTE, 60.0),
        }),
        T0 + 4 * MINUTE,
    );
    let by_other = log.add(
        PatrolEvent::Resumed,
        T0 + 5 * MINUTE,
        "someone",
        Role::RiverChief,
    );
    // Never resumed: the pause ends with the patrol.
    let end = T0 + 6 * MINUTE;
    chief(&mut log, PatrolEvent::Ended, end);
    let after_end = chief(&mut log, PatrolEvent::Paused, end + MINUTE);

    let state = log.state();
    let ignored: Vec<_> = state
        .ignored
        .iter()
        .map(|i| (i.event, i.reason.as_str()))
        .collect();
    assert_eq!(
        ignored,
        vec![
            (resume_first, "the patrol is not paused"),
            (twice, "the patrol is paused already"),
            (
                while_paused,
                "the patrol is paused: no fixes until it resumes"
            ),
            (by_other, "only chief-li records this patrol"),
            (after_end, "after patrol.ended"),
        ]
    );
    assert_eq!(
        state.pauses,
        vec![PatrolPause {
            paused_at: T0 + 2 * MINUTE,
            resumed_at: Some(end),
        }]
    );
    assert!(!state.is_paused());
    assert!(state.fixes.is_empty());
    assert_eq!(log.doc.snapshot().unwrap().events.len(), 8, "all kept");
}
