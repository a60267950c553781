//! Working-calendar arithmetic on the bundled 2025–2027 data.

use chrono::NaiveDate;
use fieldloop_core::sla::{local_midnight, Calendar, Interval, WorkingHours};
use fieldloop_core::time::{Millis, HOUR, MINUTE};
use fieldloop_core::Error;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

/// China local wall-clock time as an instant.
fn at(y: i32, m: u32, d: u32, h: i64, min: i64) -> Millis {
    local_midnight(day(y, m, d)) + h * HOUR + min * MINUTE
}

fn cal() -> Calendar {
    Calendar::bundled().expect("bundled calendar loads")
}

#[test]
fn local_midnight_is_utc_plus_8() {
    // 2026-03-01 00:00 +08:00 = 2026-02-28T16:00:00Z
    assert_eq!(local_midnight(day(2026, 3, 1)), 1_772_294_400_000);
}

#[test]
fn bundled_years_know_holidays_and_swapped_days() {
    let c = cal();
    assert_eq!(c.years(), vec![2025, 2026, 2027]);
    // 2025
    assert!(!c.is_working_day(day(2025, 1, 1)));
    assert!(
        c.is_working_day(day(2025, 1, 26)),
        "Sun 26 Jan 2025 is a 调休 working day"
    );
    assert!(!c.is_working_day(day(2025, 2, 4)));
    assert!(!c.is_working_day(day(2025, 10, 8)));
    assert!(
        c.is_working_day(day(2025, 10, 11)),
        "Sat 11 Oct 2025 is worked"
    );
    // 2026
    assert!(
        !c.is_working_day(day(2026, 1, 2)),
        "Fri 2 Jan 2026 is a holiday"
    );
    assert!(
        c.is_working_day(day(2026, 1, 4)),
        "Sun 4 Jan 2026 is worked"
    );
    assert!(
        c.is_working_day(day(2026, 2, 14)),
        "Sat 14 Feb 2026 is worked"
    );
    assert!(
        !c.is_working_day(day(2026, 2, 16)),
        "Mon 16 Feb 2026 is Spring Festival"
    );
    assert!(!c.is_working_day(day(2026, 10, 7)));
    assert!(c.is_working_day(day(2026, 10, 10)));
    assert!(!c.is_working_day(day(2026, 3, 7)), "an ordinary Saturday");
    assert!(c.is_working_day(day(2026, 3, 9)), "an ordinary Monday");
    assert!(!c.is_provisional(day(2026, 6, 1)));
    // 2027 and beyond: weekends only, provisional
    assert!(c.is_provisional(day(2027, 1, 1)));
    assert!(
        c.is_working_day(day(2027, 1, 1)),
        "no notice yet: 1 Jan 2027 counts as a Friday"
    );
    assert!(!c.is_working_day(day(2027, 1, 2)));
    assert!(c.is_provisional(day(2028, 5, 1)));
    assert!(c.is_provisional(day(2024, 5, 1)));
}

#[test]
fn working_hours_across_a_weekend() {
    let due = cal().add_working_hours(at(2026, 3, 6, 16, 0), 4).unwrap();
    // Fri 16:00–18:00, then Mon 09:00–11:00.
    assert_eq!(due.due, at(2026, 3, 9, 11, 0));
    assert!(!due.provisional);
}

#[test]
fn working_hours_cross_lunch_and_evening() {
    let c = cal();
    assert_eq!(
        c.add_working_hours(at(2026, 3, 10, 11, 0), 2).unwrap().due,
        at(2026, 3, 10, 14, 30),
        "11:00–12:00 then 13:30–14:30"
    );
    assert_eq!(
        c.add_working_hours(at(2026, 3, 10, 9, 0), 3).unwrap().due,
        at(2026, 3, 10, 12, 0),
        "running out at noon is due at noon, not at 13:30"
    );
    assert_eq!(
        c.add_working_hours(at(2026, 3, 10, 17, 0), 2).unwrap().due,
        at(2026, 3, 11, 10, 0),
        "17:00–18:00 then the next morning"
    );
    assert_eq!(
        c.add_working_hours(at(2026, 3, 10, 12, 40), 1).unwrap().due,
        at(2026, 3, 10, 14, 30),
        "a start at lunch starts at 13:30"
    );
    assert_eq!(
        c.add_working_hours(at(2026, 3, 10, 7, 15), 1).unwrap().due,
        at(2026, 3, 10, 10, 0),
        "a start before opening starts at 09:00"
    );
    assert_eq!(
        c.add_working_hours(at(2026, 3, 7, 10, 0), 1).unwrap().due,
        at(2026, 3, 9, 10, 0),
        "a Saturday start starts on Monday"
    );
}

#[test]
fn working_days_count_whole_days_only() {
    let c = cal();
    assert_eq!(
        c.add_working_days(at(2026, 3, 9, 8, 0), 1).unwrap().due,
        at(2026, 3, 9, 18, 0),
        "before opening, the day itself is day 1"
    );
    assert_eq!(
        c.add_working_days(at(2026, 3, 9, 10, 0), 1).unwrap().due,
        at(2026, 3, 10, 18, 0),
        "the starting day is not counted once office hours began"
    );
    assert_eq!(
        c.add_working_days(at(2026, 3, 6, 10, 0), 1).unwrap().due,
        at(2026, 3, 9, 18, 0),
        "Friday's 1 working day ends on Monday"
    );
    assert_eq!(
        c.add_working_days(at(2026, 3, 9, 20, 0), 3).unwrap().due,
        at(2026, 3, 12, 18, 0)
    );
}

#[test]
fn working_days_across_national_day_2026() {
    let due = cal().add_working_days(at(2026, 9, 30, 10, 0), 3).unwrap();
    // 1–7 Oct off: Thu 8 Oct, Fri 9 Oct, then Sat 10 Oct which is a 调休 working day.
    assert_eq!(due.due, at(2026, 10, 10, 18, 0));
    assert!(!due.provisional);
    let hours = cal().add_working_hours(at(2026, 9, 30, 17, 0), 2).unwrap();
    assert_eq!(hours.due, at(2026, 10, 8, 10, 0));
}

#[test]
fn working_days_across_spring_festival_and_its_working_saturday() {
    let c = cal();
    assert_eq!(
        c.add_working_days(at(2026, 2, 13, 10, 0), 1).unwrap().due,
        at(2026, 2, 14, 18, 0),
        "Sat 14 Feb 2026 is a working day"
    );
    assert_eq!(
        c.add_working_days(at(2026, 2, 13, 10, 0), 2).unwrap().due,
        at(2026, 2, 24, 18, 0),
        "15–23 Feb are off"
    );
    assert_eq!(
        c.add_working_hours(at(2026, 2, 13, 17, 0), 2).unwrap().due,
        at(2026, 2, 14, 10, 0),
        "working hours run on into the working Saturday"
    );
}

#[test]
fn a_new_year_holiday_start_counts_the_working_sunday() {
    // Fri 2 Jan and Sat 3 Jan 2026 are off, Sun 4 Jan is worked.
    let due = cal().add_working_days(at(2026, 1, 2, 10, 0), 1).unwrap();
    assert_eq!(due.due, at(2026, 1, 4, 18, 0));
}

#[test]
fn a_deadline_in_2027_is_provisional() {
    let c = cal();
    let due = c.add_working_days(at(2027, 3, 1, 10, 0), 2).unwrap();
    assert_eq!(due.due, at(2027, 3, 3, 18, 0));
    assert!(due.provisional);

    // Starting in published 2026 but running into 2027.
    let across = c.add_working_days(at(2026, 12, 30, 10, 0), 3).unwrap();
    assert_eq!(
        across.due,
        at(2027, 1, 4, 18, 0),
        "31 Dec, 1 Jan (unknown), 4 Jan"
    );
    assert!(across.provisional);

    let inside = c.add_working_days(at(2026, 12, 28, 10, 0), 2).unwrap();
    assert_eq!(inside.due, at(2026, 12, 30, 18, 0));
    assert!(!inside.provisional, "a deadline that stays in 2026 is firm");
}

#[test]
fn working_time_between_instants_with_suspension() {
    let c = cal();
    let from = at(2026, 3, 6, 16, 0);
    let to = at(2026, 3, 9, 11, 0);
    let span = c.working_minutes_between(from, to, &[]).unwrap();
    assert_eq!(span.minutes, 240);
    assert!(!span.provisional);
    assert_eq!(
        c.working_minutes_between(to, from, &[]).unwrap().minutes,
        -240
    );

    let suspended = [Interval {
        from: at(2026, 3, 6, 17, 0),
        to: at(2026, 3, 9, 10, 0),
    }];
    assert_eq!(
        c.working_minutes_between(from, to, &suspended)
            .unwrap()
            .minutes,
        120,
        "Fri 17–18 and Mon 9–10 are suspended"
    );
    // Overlapping suspensions count once.
    let overlapping = [
        suspended[0],
        Interval {
            from: at(2026, 3, 9, 9, 30),
            to: at(2026, 3, 9, 10, 30),
        },
    ];
    assert_eq!(
        c.working_minutes_between(from, to, &overlapping)
            .unwrap()
            .minutes,
        90
    );
    let bad = [Interval { from: to, to: from }];
    assert!(matches!(
        c.working_minutes_between(from, to, &bad),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn office_hours_are_configurable() {
    let hours = WorkingHours::parse("08:30-12:00,14:00-17:30").unwrap();
    assert_eq!(hours.day_ms(), 7 * HOUR);
    let c = cal().with_hours(hours);
    assert_eq!(
        c.add_working_hours(at(2026, 3, 10, 11, 0), 4).unwrap().due,
        at(2026, 3, 10, 17, 0)
    );
    assert_eq!(
        c.add_working_days(at(2026, 3, 10, 8, 0), 1).unwrap().due,
        at(2026, 3, 10, 17, 30)
    );
    for bad in [
        "25:00-26:00",
        "12:00-09:00",
        "09:00-12:00,11:00-13:00",
        "nine-five",
        "",
    ] {
        assert!(
            matches!(WorkingHours::parse(bad), Err(Error::Invalid { .. })),
            "{bad:?} must be refused"
        );
    }
}

#[test]
fn bad_calendar_data_and_instants_are_typed_errors() {
    let weekday_as_swap =
        r#"{"year":2026,"source":"x","holidays":[],"working_weekends":["2026-03-10"]}"#;
    assert!(matches!(
        Calendar::from_year_files(&[weekday_as_swap], WorkingHours::default()),
        Err(Error::Invalid { .. })
    ));
    let wrong_year = r#"{"year":2026,"source":"x","holidays":[{"name":"x","from":"2025-12-31","to":"2026-01-01"}],"working_weekends":[]}"#;
    assert!(Calendar::from_year_files(&[wrong_year], WorkingHours::default()).is_err());
    assert!(Calendar::from_year_files(&["{not json"], WorkingHours::default()).is_err());

    let c = cal();
    assert!(matches!(
        c.add_working_hours(i64::MAX, 1),
        Err(Error::Invalid { .. })
    ));
    assert!(c.add_working_hours(i64::MIN, 1).is_err());
    assert!(c.working_minutes_between(0, i64::MAX, &[]).is_err());
    // A huge limit ends in an error, not an endless walk.
    assert!(c.add_working_days(at(2026, 3, 9, 9, 0), u32::MAX).is_err());
}
