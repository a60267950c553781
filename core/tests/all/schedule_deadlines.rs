//! Deadline events (预警 / 超期 / 督办) on real case documents and the bundled calendar:
//! each band at its time, never twice, the clock standing still while suspended, and a
//! new dispatch owing its own warnings.
//!
//! The case: 暴露垃圾 (20102, 4 working hours), dispatched Monday 2026-11-23 09:02.
//! Office hours 09:00–12:00, 13:30–18:00. So: yellow (80 %, 3 h 12 min) from 13:44, due
//! 14:32, escalated (150 %, 6 h) after 16:32.

use crate::case_support;

use case_support::*;
use fieldloop_core::case::events::DeadlineNotice;
use fieldloop_core::case::{CaseEvent, CaseState};
use fieldloop_core::catalogue::Catalogue;
use fieldloop_core::schedule::{case_countdown, due_deadline_events, DeadlinePolicy};
use fieldloop_core::sla::{Band, Calendar, SlaPolicy};
use fieldloop_core::time::{Millis, DAY, HOUR, MINUTE};

/// Monday 2026-11-23, local time.
fn monday(h: i64, m: i64) -> Millis {
    T0 + (h - 9) * HOUR + m * MINUTE
}

const DUE: Millis = T0 + 5 * HOUR + 32 * MINUTE;

struct Clock {
    catalogue: Catalogue,
    calendar: Calendar,
    policy: DeadlinePolicy,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            catalogue: Catalogue::builtin().unwrap(),
            calendar: Calendar::bundled().unwrap(),
            policy: DeadlinePolicy::default(),
        }
    }

    fn due_at(&self, walk: &Walk, now: Millis) -> Vec<CaseEvent> {
        let snapshot = walk.case.snapshot().unwrap();
        let state: CaseState = walk.case.state().unwrap();
        due_deadline_events(
            &state,
            &snapshot.events,
            &self.catalogue,
            &self.calendar,
            &self.policy,
            now,
        )
        .unwrap()
    }

    fn band_at(&self, walk: &Walk, now: Millis) -> Band {
        let state = walk.case.state().unwrap();
        case_countdown(
            &state,
            &self.catalogue,
            &self.calendar,
            &SlaPolicy::default(),
            now,
        )
        .unwrap()
        .unwrap()
        .band
    }
}

/// Writes `events` as the server at `at`.
fn write_at(walk: &mut Walk, at: Millis, events: Vec<CaseEvent>) {
    walk.now = at - MINUTE;
    for event in events {
        walk.step(&server(), event)
            .expect("the server's event applies");
    }
}

fn kinds(events: &[CaseEvent]) -> Vec<&'static str> {
    events.iter().map(CaseEvent::kind).collect()
}

#[test]
fn each_band_brings_its_event_once() {
    let clock = Clock::new();
    let mut walk = Walk::dispatched();
    assert_eq!(walk.case.state().unwrap().dispatched_at, Some(monday(9, 2)));

    assert_eq!(clock.band_at(&walk, monday(13, 40)), Band::Green);
    assert!(clock.due_at(&walk, monday(13, 40)).is_empty());

    let yellow = clock.due_at(&walk, monday(13, 50));
    assert_eq!(
        yellow,
        [CaseEvent::DeadlineWarning(DeadlineNotice { deadline: DUE })]
    );
    write_at(&mut walk, monday(13, 50), yellow);
    assert!(clock.due_at(&walk, monday(13, 55)).is_empty(), "not twice");

    let red = clock.due_at(&walk, monday(14, 40));
    assert_eq!(red, [CaseEvent::Overdue(DeadlineNotice { deadline: DUE })]);
    write_at(&mut walk, monday(14, 40), red);
    assert!(clock.due_at(&walk, monday(16, 0)).is_empty());

    let escalated = clock.due_at(&walk, monday(16, 40));
    assert_eq!(kinds(&escalated), ["case.supervised", "case.escalated"]);
    match &escalated[1] {
        CaseEvent::Escalated(e) => {
            assert_eq!(e.to, "督办中心");
            assert!(e.reason.contains(UNIT), "{}", e.reason);
        }
        other => panic!("{other:?}"),
    }
    write_at(&mut walk, monday(16, 40), escalated);
    assert!(clock.due_at(&walk, monday(17, 0)).is_empty());
    assert!(clock.due_at(&walk, monday(17, 0) + 3 * DAY).is_empty());

    let state = walk.case.state().unwrap();
    assert_eq!(state.warned_at, Some(monday(13, 50)));
    assert_eq!(state.overdue_at, Some(monday(14, 40)));
    assert_eq!(state.escalated_to.as_deref(), Some("督办中心"));
    assert!(state.supervised, "the automatic 督办 is on the case");
    assert_eq!(state.supervision_count, 1);
}

#[test]
fn a_scheduler_that_missed_the_yellow_band_writes_warning_and_overdue() {
    let clock = Clock::new();
    let walk = Walk::dispatched();
    assert_eq!(
        kinds(&clock.due_at(&walk, monday(15, 0))),
        ["case.deadline_warning", "case.overdue"]
    );
    assert_eq!(
        kinds(&clock.due_at(&walk, monday(17, 0))),
        [
            "case.deadline_warning",
            "case.overdue",
            "case.supervised",
            "case.escalated"
        ]
    );
}

#[test]
fn a_suspended_case_keeps_its_clock_still() {
    let clock = Clock::new();
    let mut walk = Walk::dispatched();
    walk.step(&dispatcher(), CaseEvent::Suspended(reason("待拆迁, 挂账")))
        .unwrap();
    // Suspended at 09:03: one working minute used, however long it stays suspended.
    assert!(clock.due_at(&walk, monday(15, 0)).is_empty());
    assert!(clock.due_at(&walk, monday(15, 0) + 2 * DAY).is_empty());
    assert_eq!(clock.band_at(&walk, monday(17, 0)), Band::Green);

    // Resumed at 15:00: 1 min + 3 h (15:00–18:00) = 3 h 01 min at close, still green;
    // yellow (3 h 12 min) on Tuesday from 09:11.
    walk.now = monday(15, 0) - MINUTE;
    walk.step(&dispatcher(), CaseEvent::Resumed(empty()))
        .unwrap();
    assert!(clock.due_at(&walk, monday(18, 0)).is_empty());
    assert!(clock.due_at(&walk, monday(9, 5) + DAY).is_empty());
    assert_eq!(
        kinds(&clock.due_at(&walk, monday(9, 15) + DAY)),
        ["case.deadline_warning"]
    );
}

#[test]
fn a_handled_case_owes_no_deadline_events() {
    let clock = Clock::new();
    let mut walk = Walk::dispatched();
    walk.handle("after");
    assert!(clock.due_at(&walk, monday(17, 0)).is_empty());
}

#[test]
fn a_new_dispatch_owes_its_own_warning() {
    let clock = Clock::new();
    let mut walk = Walk::dispatched();
    let yellow = clock.due_at(&walk, monday(13, 50));
    write_at(&mut walk, monday(13, 50), yellow);
    walk.step(
        &handler(),
        CaseEvent::ReturnedToDispatch(reason("非本单位职责")),
    )
    .unwrap();
    walk.dispatch(OTHER_UNIT);
    let redispatched = walk.case.state().unwrap().dispatched_at.unwrap();
    assert!(clock.due_at(&walk, redispatched + MINUTE).is_empty());
    // Dispatched again at 13:52: yellow (3 h 12 min) from 17:04, whatever the first
    // unit's warning said.
    assert_eq!(redispatched, monday(13, 52));
    assert_eq!(
        kinds(&clock.due_at(&walk, monday(17, 10))),
        ["case.deadline_warning"]
    );
}

#[test]
fn warnings_need_a_known_category() {
    let clock = Clock::new();
    let walk = Walk::dispatched();
    let mut state = walk.case.state().unwrap();
    state.category = Some("29999".into());
    let err = due_deadline_events(
        &state,
        &[],
        &clock.catalogue,
        &clock.calendar,
        &clock.policy,
        monday(15, 0),
    )
    .unwrap_err();
    assert!(err.to_string().contains("29999"), "{err}");
}
