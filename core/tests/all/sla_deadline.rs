//! Clocks, bands and countdowns of time limits on the bundled calendar.

use chrono::NaiveDate;
use fieldloop_core::sla::{
    local_midnight, Band, Calendar, Escalation, LimitUnit, SlaPolicy, StepLimit, TimeLimit,
};
use fieldloop_core::time::{Millis, HOUR, MINUTE};

fn at(y: i32, m: u32, d: u32, h: i64, min: i64) -> Millis {
    local_midnight(NaiveDate::from_ymd_opt(y, m, d).expect("valid test date"))
        + h * HOUR
        + min * MINUTE
}

fn hours(amount: u32) -> TimeLimit {
    TimeLimit {
        amount,
        unit: LimitUnit::WorkingHours,
    }
}

fn days(amount: u32) -> TimeLimit {
    TimeLimit {
        amount,
        unit: LimitUnit::WorkingDays,
    }
}

#[test]
fn bands_change_exactly_at_their_thresholds() {
    let cal = Calendar::bundled().unwrap();
    let policy = SlaPolicy::default();
    // 10 working hours from Mon 9 Mar 2026 09:00: 7.5 h on Monday, due Tue 11:30.
    let clock = cal.start_clock(at(2026, 3, 9, 9, 0), &hours(10)).unwrap();
    assert_eq!(cal.due(&clock).unwrap().due, at(2026, 3, 10, 11, 30));

    // 80 % = 8 working hours, reached Tue 09:30.
    let yellow = at(2026, 3, 10, 9, 30);
    assert_eq!(
        clock.band_at(&cal, &policy, yellow - 1).unwrap(),
        Band::Green
    );
    assert_eq!(clock.band_at(&cal, &policy, yellow).unwrap(), Band::Yellow);
    // Lunch and the evening do not move the band on: Monday 19:00 is still 7.5 h used.
    assert_eq!(
        clock.band_at(&cal, &policy, at(2026, 3, 9, 19, 0)).unwrap(),
        Band::Green
    );

    let due = at(2026, 3, 10, 11, 30);
    let on_time = cal.countdown(&clock, &policy, due).unwrap();
    assert_eq!(on_time.band, Band::Yellow);
    assert_eq!(on_time.remaining_minutes, 0);
    let late = cal.countdown(&clock, &policy, due + 1).unwrap();
    assert_eq!(late.band, Band::Red);
    assert_eq!(
        late.remaining_minutes, -1,
        "one millisecond late already shows −1"
    );

    // 1.5 × 10 h = 15 working hours: the whole of Monday and Tuesday.
    assert_eq!(
        clock
            .band_at(&cal, &policy, at(2026, 3, 10, 18, 0))
            .unwrap(),
        Band::Red
    );
    assert_eq!(
        clock
            .band_at(&cal, &policy, at(2026, 3, 11, 9, 0) + 1)
            .unwrap(),
        Band::Escalated
    );
}

#[test]
fn countdown_is_negative_when_overdue() {
    let cal = Calendar::bundled().unwrap();
    let clock = cal.start_clock(at(2026, 3, 9, 9, 0), &hours(10)).unwrap();
    // Wed 10:00: 7.5 + 7.5 + 1 = 16 h used of 10.
    let c = cal
        .countdown(&clock, &SlaPolicy::default(), at(2026, 3, 11, 10, 0))
        .unwrap();
    assert_eq!(c.remaining_minutes, -360);
    assert_eq!(c.elapsed_ms, 16 * HOUR);
    assert_eq!(c.band, Band::Escalated);
    assert_eq!(
        clock
            .remaining_minutes_at(&cal, at(2026, 3, 9, 10, 0))
            .unwrap(),
        540
    );
    // Before the clock starts nothing is used.
    assert_eq!(
        clock
            .remaining_minutes_at(&cal, at(2026, 3, 8, 10, 0))
            .unwrap(),
        600
    );
}

#[test]
fn escalation_by_a_fixed_extra_and_thresholds_from_policy() {
    let cal = Calendar::bundled().unwrap();
    let clock = cal.start_clock(at(2026, 3, 9, 9, 0), &hours(10)).unwrap();
    let policy = SlaPolicy {
        yellow_share: 0.5,
        escalation: Escalation::ExtraAfterDue { extra: hours(1) },
    };
    // 5 h used at Mon 15:30.
    assert_eq!(
        clock
            .band_at(&cal, &policy, at(2026, 3, 9, 15, 29))
            .unwrap(),
        Band::Green
    );
    assert_eq!(
        clock
            .band_at(&cal, &policy, at(2026, 3, 9, 15, 30))
            .unwrap(),
        Band::Yellow
    );
    // due Tue 11:30; escalated past 11 h = Tue 14:00 (lunch does not count).
    assert_eq!(
        clock
            .band_at(&cal, &policy, at(2026, 3, 10, 14, 0))
            .unwrap(),
        Band::Red
    );
    assert_eq!(
        clock
            .band_at(&cal, &policy, at(2026, 3, 10, 14, 1))
            .unwrap(),
        Band::Escalated
    );

    for bad in [
        SlaPolicy {
            yellow_share: 1.5,
            ..SlaPolicy::default()
        },
        SlaPolicy {
            yellow_share: 0.0,
            ..SlaPolicy::default()
        },
        SlaPolicy {
            yellow_share: 0.8,
            escalation: Escalation::ShareOfLimit { share: 0.9 },
        },
        SlaPolicy {
            yellow_share: f64::NAN,
            ..SlaPolicy::default()
        },
    ] {
        assert!(cal.countdown(&clock, &bad, at(2026, 3, 9, 10, 0)).is_err());
    }
}

#[test]
fn suspension_is_excluded_and_pushes_the_due_time() {
    let cal = Calendar::bundled().unwrap();
    let policy = SlaPolicy::default();
    let mut clock = cal.start_clock(at(2026, 3, 9, 9, 0), &hours(10)).unwrap();
    // Suspended (挂账) from Monday 13:30 to Tuesday 09:00: 4.5 working hours stand still.
    clock
        .suspend(at(2026, 3, 9, 13, 30), at(2026, 3, 10, 9, 0))
        .unwrap();
    let due = cal.due(&clock).unwrap();
    assert_eq!(due.due, at(2026, 3, 10, 17, 30), "3 h Monday + 7 h Tuesday");

    let c = cal
        .countdown(&clock, &policy, at(2026, 3, 10, 11, 30))
        .unwrap();
    assert_eq!(c.elapsed_ms, 5 * HOUR + 30 * MINUTE);
    assert_eq!(c.remaining_minutes, 270);
    assert_eq!(
        c.band,
        Band::Green,
        "without the suspension this would be yellow"
    );
    assert!(clock
        .suspend(at(2026, 3, 10, 9, 0), at(2026, 3, 9, 9, 0))
        .is_err());
}

#[test]
fn working_day_clocks_and_provisional_years() {
    let cal = Calendar::bundled().unwrap();
    let clock = cal.start_clock(at(2026, 9, 30, 10, 0), &days(3)).unwrap();
    assert_eq!(clock.counts_from, at(2026, 10, 8, 9, 0));
    assert_eq!(cal.due(&clock).unwrap().due, at(2026, 10, 10, 18, 0));
    // During the National Day holiday nothing is used.
    let c = cal
        .countdown(&clock, &SlaPolicy::default(), at(2026, 10, 5, 12, 0))
        .unwrap();
    assert_eq!(
        (c.band, c.remaining_minutes, c.provisional),
        (Band::Green, 3 * 450, false)
    );

    let late_2026 = cal.start_clock(at(2026, 12, 29, 10, 0), &days(5)).unwrap();
    let c = cal
        .countdown(&late_2026, &SlaPolicy::default(), at(2026, 12, 30, 10, 0))
        .unwrap();
    assert!(c.provisional, "its due time lies in unpublished 2027");
    assert!(c.due.provisional);
}

#[test]
fn multi_step_limits_chain() {
    let cal = Calendar::bundled().unwrap();
    let steps = [
        StepLimit {
            name: "派遣".into(),
            limit: hours(1),
        },
        StepLimit {
            name: "处置".into(),
            limit: days(3),
        },
    ];
    let start = at(2026, 3, 9, 17, 30);
    let planned = cal.step_deadlines(start, &steps, &[]).unwrap();
    assert_eq!(planned[0].due, at(2026, 3, 10, 9, 30));
    // Dispatch due Tue 09:30, so handling counts from Wednesday.
    assert_eq!(planned[1].due, at(2026, 3, 13, 18, 0));

    let dispatched_early = cal
        .step_deadlines(start, &steps, &[at(2026, 3, 9, 17, 45)])
        .unwrap();
    assert_eq!(dispatched_early[0].due, planned[0].due);
    assert_eq!(dispatched_early[1].due, at(2026, 3, 12, 18, 0));
    assert!(dispatched_early.iter().all(|d| !d.provisional));
}
