//! The working calendar: which days are working days (public holidays and 调休 as
//! published by the State Council, one data file per year) and which hours of a working
//! day are office hours, all in China local time (UTC+8, no DST).
//!
//! Office hours default to 09:00–12:00 and 13:30–18:00 (7.5 working hours a day); a
//! deployment sets its own with [`WorkingHours::parse`]. A year with no published notice
//! counts weekends only and is *provisional*: every result that touched such a day says so.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time::{Millis, DAY, HOUR, MINUTE};

/// China local time is UTC+8 all year.
const UTC8: Millis = 8 * HOUR;
/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const EPOCH_DAYS_FROM_CE: i64 = 719_163;
/// Instants outside [1990, 2200) are refused: nothing real lies there, and the bound keeps
/// every millisecond sum far from overflow.
const EARLIEST: Millis = 631_123_200_000; // 1990-01-01T00:00:00Z
const LATEST: Millis = 7_258_118_400_000; // 2200-01-01T00:00:00Z
/// A walk over more days than this means a limit nobody means (or a calendar with no
/// working day left); it ends with an error instead of running on.
const MAX_WALK_DAYS: u32 = 366 * 30;

/// The year files shipped with the app, as JSON text.
pub const BUNDLED_YEARS: &[&str] = &[
    include_str!("../../data/holidays/2025.json"),
    include_str!("../../data/holidays/2026.json"),
    include_str!("../../data/holidays/2027.json"),
];

/// One office-hours window of a working day, in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OfficeWindow {
    pub opens_min: u32,
    pub closes_min: u32,
}

/// The office hours of every working day: sorted, non-overlapping windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHours {
    windows: Vec<OfficeWindow>,
}

impl Default for WorkingHours {
    /// 09:00–12:00 and 13:30–18:00 China time.
    fn default() -> Self {
        WorkingHours {
            windows: vec![
                OfficeWindow {
                    opens_min: 9 * 60,
                    closes_min: 12 * 60,
                },
                OfficeWindow {
                    opens_min: 13 * 60 + 30,
                    closes_min: 18 * 60,
                },
            ],
        }
    }
}

fn parse_hhmm(text: &str) -> Result<u32> {
    let bad = || Error::invalid("working hours", format!("{text:?} is not HH:MM"));
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h * 60 + m > 24 * 60 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl WorkingHours {
    pub fn new(windows: Vec<OfficeWindow>) -> Result<WorkingHours> {
        if windows.is_empty() {
            return Err(Error::invalid("working hours", "no office window"));
        }
        let mut previous_close = 0;
        for (i, w) in windows.iter().enumerate() {
            if w.opens_min >= w.closes_min || w.closes_min > 24 * 60 {
                return Err(Error::invalid(
                    "working hours",
                    format!("window {i} must open before it closes, within the day"),
                ));
            }
            if i > 0 && w.opens_min < previous_close {
                return Err(Error::invalid(
                    "working hours",
                    "windows must be in order and must not overlap",
                ));
            }
            previous_close = w.closes_min;
        }
        Ok(WorkingHours { windows })
    }

    /// `"09:00-12:00,13:30-18:00"`.
    pub fn parse(spec: &str) -> Result<WorkingHours> {
        let mut windows = Vec::new();
        for part in spec.split(',') {
            let (open, close) = part.split_once('-').ok_or_else(|| {
                Error::invalid("working hours", format!("{part:?} is not HH:MM-HH:MM"))
            })?;
            windows.push(OfficeWindow {
                opens_min: parse_hhmm(open)?,
                closes_min: parse_hhmm(close)?,
            });
        }
        WorkingHours::new(windows)
    }

    pub fn windows(&self) -> &[OfficeWindow] {
        &self.windows
    }

    /// Working time in one working day.
    pub fn day_ms(&self) -> Millis {
        self.windows
            .iter()
            .map(|w| (w.closes_min - w.opens_min) as Millis * MINUTE)
            .sum()
    }
}

/// A stretch of wall-clock time, `[from, to)`; used for suspensions (挂账/缓办), during
/// which the clock of a time limit stands still. A suspension still running is passed
/// with `to` = now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Interval {
    pub from: Millis,
    pub to: Millis,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    #[serde(default)]
    provisional: bool,
    #[allow(dead_code)]
    source: String,
    holidays: Vec<HolidaySpan>,
    working_weekends: Vec<NaiveDate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidaySpan {
    name: String,
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Debug, Clone, Default)]
struct Year {
    provisional: bool,
    days_off: BTreeSet<NaiveDate>,
    working_weekends: BTreeSet<NaiveDate>,
}

/// Public holidays, 调休 and office hours. Built once from data, then read-only.
#[derive(Debug, Clone)]
pub struct Calendar {
    years: BTreeMap<i32, Year>,
    hours: WorkingHours,
}

pub(crate) fn check_instant(what: &'static str, t: Millis) -> Result<()> {
    if (EARLIEST..LATEST).contains(&t) {
        Ok(())
    } else {
        Err(Error::invalid(what, format!("{t} ms is outside 1990–2199")))
    }
}

/// The China-local date of an instant (must have passed [`check_instant`]).
pub fn local_date(t: Millis) -> NaiveDate {
    let days = (t + UTC8).div_euclid(DAY) + EPOCH_DAYS_FROM_CE;
    // In range by check_instant, so the conversion cannot fail; fall back to the epoch
    // rather than panic if a caller skipped the check.
    i32::try_from(days)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or_default()
}

/// The instant of local midnight starting `date`.
pub fn local_midnight(date: NaiveDate) -> Millis {
    (date.num_days_from_ce() as i64 - EPOCH_DAYS_FROM_CE) * DAY - UTC8
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn next_day(date: NaiveDate) -> Result<NaiveDate> {
    date.succ_opt()
        .ok_or_else(|| Error::invalid("date", "past the last representable day"))
}

/// Sorted, merged, non-empty suspensions.
fn normalise(suspensions: &[Interval]) -> Result<Vec<Interval>> {
    let mut list = Vec::with_capacity(suspensions.len());
    for s in suspensions {
        check_instant("suspension", s.from)?;
        check_instant("suspension", s.to)?;
        if s.to < s.from {
            return Err(Error::invalid("suspension", "ends before it starts"));
        }
        if s.to > s.from {
            list.push(*s);
        }
    }
    list.sort_by_key(|s| s.from);
    let mut merged: Vec<Interval> = Vec::with_capacity(list.len());
    for s in list {
        match merged.last_mut() {
            Some(last) if s.from <= last.to => last.to = last.to.max(s.to),
            _ => merged.push(s),
        }
    }
    Ok(merged)
}

/// `[from, to)` minus the (normalised) suspensions, as pieces in order.
fn subtract(from: Millis, to: Millis, suspensions: &[Interval], out: &mut Vec<(Millis, Millis)>) {
    out.clear();
    let mut cursor = from;
    for s in suspensions {
        if s.to <= cursor {
            continue;
        }
        if s.from >= to {
            break;
        }
        if s.from > cursor {
            out.push((cursor, s.from));
        }
        cursor = cursor.max(s.to);
        if cursor >= to {
            return;
        }
    }
    if cursor < to {
        out.push((cursor, to));
    }
}

impl Calendar {
    /// The years shipped with the app (2025, 2026 published; 2027 provisional) and the
    /// default office hours.
    pub fn bundled() -> Result<Calendar> {
        Calendar::from_year_files(BUNDLED_YEARS, WorkingHours::default())
    }

    /// A calendar from year files (the JSON of `core/data/holidays/*.json`), e.g. a newer
    /// set the server pushes as reference data.
    pub fn from_year_files(files: &[&str], hours: WorkingHours) -> Result<Calendar> {
        let mut years = BTreeMap::new();
        for text in files {
            let file: YearFile = serde_json::from_str(text)
                .map_err(|e| Error::invalid("holiday calendar", e.to_string()))?;
            let year = Calendar::check_year(&file)?;
            if years.insert(file.year, year).is_some() {
                return Err(Error::invalid(
                    "holiday calendar",
                    format!("year {} given twice", file.year),
                ));
            }
        }
        Ok(Calendar { years, hours })
    }

    fn check_year(file: &YearFile) -> Result<Year> {
        let bad = |reason: String| Error::invalid("holiday calendar", reason);
        let mut year = Year {
            provisional: file.provisional,
            ..Year::default()
        };
        for span in &file.holidays {
            if span.from.year() != file.year || span.to.year() != file.year || span.to < span.from {
                return Err(bad(format!(
                    "{}: {}..{} is not a range within {}",
                    span.name, span.from, span.to, file.year
                )));
            }
            let mut day = span.from;
            while day <= span.to {
                year.days_off.insert(day);
                day = next_day(day)?;
            }
        }
        for &day in &file.working_weekends {
            if day.year() != file.year || !is_weekend(day) {
                return Err(bad(format!("{day} is not a weekend day of {}", file.year)));
            }
            if year.days_off.contains(&day) {
                return Err(bad(format!("{day} is both a day off and a working day")));
            }
            year.working_weekends.insert(day);
        }
        Ok(year)
    }

    pub fn with_hours(mut self, hours: WorkingHours) -> Calendar {
        self.hours = hours;
        self
    }

    pub fn hours(&self) -> &WorkingHours {
        &self.hours
    }

    /// Years with a data file, provisional or not.
    pub fn years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.years.get(&date.year()) {
            Some(year) if year.working_weekends.contains(&date) => true,
            Some(year) if year.days_off.contains(&date) => false,
            _ => !is_weekend(date),
        }
    }

    /// True when `date`'s year has no published notice (no file, or a file marked so):
    /// its holidays are unknown and only weekends are counted.
    pub fn is_provisional(&self, date: NaiveDate) -> bool {
        self.years
            .get(&date.year())
            .is_none_or(|year| year.provisional)
    }

    /// Office windows of `date` as instants, empty on a day off.
    fn windows_of(&self, date: NaiveDate) -> impl Iterator<Item = (Millis, Millis)> + '_ {
        let working = self.is_working_day(date);
        let midnight = local_midnight(date);
        self.hours
            .windows
            .iter()
            .filter(move |_| working)
            .map(move |w| {
                (
                    midnight + w.opens_min as Millis * MINUTE,
                    midnight + w.closes_min as Millis * MINUTE,
                )
            })
    }

    /// The instant at which `budget` of working time, counted from `start` and skipping
    /// the suspensions, is used up; and whether a provisional day was walked.
    /// Running out exactly at a closing time gives that closing time.
    pub(crate) fn add_working_ms(
        &self,
        start: Millis,
        budget: Millis,
        suspensions: &[Interval],
    ) -> Result<(Millis, bool)> {
        check_instant("start", start)?;
        if budget < 0 {
            return Err(Error::invalid("time limit", "negative working time"));
        }
        let suspensions = normalise(suspensions)?;
        let mut day = local_date(start);
        let mut provisional = false;
        let mut remaining = budget;
        let mut pieces = Vec::new();
        for _ in 0..MAX_WALK_DAYS {
            provisional |= self.is_provisional(day);
            if remaining == 0 {
                return Ok((start, provisional));
            }
            for (opens, closes) in self.windows_of(day) {
                let opens = opens.max(start);
                if opens >= closes {
                    continue;
                }
                subtract(opens, closes, &suspensions, &mut pieces);
                for &(from, to) in &pieces {
                    if remaining <= to - from {
                        return Ok((from + remaining, provisional));
                    }
                    remaining -= to - from;
                }
            }
            day = next_day(day)?;
        }
        Err(Error::invalid(
            "time limit",
            format!("not used up within {MAX_WALK_DAYS} days"),
        ))
    }

    /// Working time from `from` to `to`, minus the suspensions; negative when `to` is
    /// before `from`. Also whether a provisional day lay between them.
    pub(crate) fn working_ms_between(
        &self,
        from: Millis,
        to: Millis,
        suspensions: &[Interval],
    ) -> Result<(Millis, bool)> {
        check_instant("from", from)?;
        check_instant("to", to)?;
        if to < from {
            let (ms, provisional) = self.working_ms_between(to, from, suspensions)?;
            return Ok((-ms, provisional));
        }
        let suspensions = normalise(suspensions)?;
        let last = local_date(to);
        let mut day = local_date(from);
        let mut provisional = false;
        let mut total = 0;
        let mut pieces = Vec::new();
        while day <= last {
            provisional |= self.is_provisional(day);
            for (opens, closes) in self.windows_of(day) {
                let (opens, closes) = (opens.max(from), closes.min(to));
                if opens >= closes {
                    continue;
                }
                subtract(opens, closes, &suspensions, &mut pieces);
                total += pieces.iter().map(|(a, b)| b - a).sum::<Millis>();
            }
            day = next_day(day)?;
        }
        Ok((total, provisional))
    }

    /// The next office opening at or after `t` (`t` itself when inside office hours).
    pub fn next_opening(&self, t: Millis) -> Result<Millis> {
        check_instant("instant", t)?;
        let mut day = local_date(t);
        for _ in 0..MAX_WALK_DAYS {
            for (opens, closes) in self.windows_of(day) {
                if t < closes {
                    return Ok(opens.max(t));
                }
            }
            day = next_day(day)?;
        }
        Err(Error::invalid("calendar", "no working day ahead"))
    }

    /// The office opening from which a limit in working days counts, and whether a
    /// provisional day was skipped to reach it. The day the clock starts counts only if
    /// all of its office hours lie ahead (民法典 第201条: the starting day is not
    /// counted); so a report at 08:00 on a working day counts that day, one at 10:00 or
    /// 19:00 counts from the next working day, one on a Saturday from Monday.
    pub(crate) fn first_counted_opening(&self, start: Millis) -> Result<(Millis, bool)> {
        check_instant("start", start)?;
        let mut day = local_date(start);
        let mut provisional = false;
        for _ in 0..MAX_WALK_DAYS {
            provisional |= self.is_provisional(day);
            if let Some((opens, _)) = self.windows_of(day).next() {
                if start <= opens {
                    return Ok((opens, provisional));
                }
            }
            day = next_day(day)?;
        }
        Err(Error::invalid("calendar", "no working day ahead"))
    }
}
