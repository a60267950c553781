//! Which working day a demo run plays. The first run on a data directory plays Monday
//! 2026-11-23; each later run plays the next working day after the last one played, by
//! the working calendar (weekends, public holidays and 调休 make-up days), so a second run
//! is Tuesday with its own date labels, not Monday again.
//!
//! The days played are listed, one ISO date a line, in `<data>/demo-days.txt`; a day is
//! listed when it starts, so a run stopped half-way is not replayed over its own cases.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate, Weekday};
use fieldloop_core::sla::{local_midnight, Calendar};
use fieldloop_core::time::{Millis, HOUR, MINUTE};

use crate::error::{Result, ServerError};

/// The day a fresh data directory plays.
pub const FIRST_DAY: (i32, u32, u32) = (2026, 11, 23);

const PLAYED: &str = "demo-days.txt";

/// The working day a run plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoDay {
    pub date: NaiveDate,
    /// 1 for the first day played on this data directory, 2 for the next, …
    pub number: usize,
}

impl DemoDay {
    /// The first day, on a fresh data directory.
    pub fn first() -> DemoDay {
        let (y, m, d) = FIRST_DAY;
        DemoDay {
            date: NaiveDate::from_ymd_opt(y, m, d).expect("a valid date"),
            number: 1,
        }
    }

    /// Local (UTC+8) midnight starting the day.
    pub fn start(&self) -> Millis {
        local_midnight(self.date)
    }

    /// An instant of the day, local time.
    pub fn at(&self, hour: i64, minute: i64) -> Millis {
        self.start() + hour * HOUR + minute * MINUTE
    }

    /// "Tuesday 2026-11-24".
    pub fn label(&self) -> String {
        format!("{} {}", weekday_name(self.date.weekday()), self.date)
    }

    /// The evaluation period of the day's month, "2026-11".
    pub fn period(&self) -> String {
        format!("{:04}-{:02}", self.date.year(), self.date.month())
    }
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

fn played_file(data: &Path) -> PathBuf {
    data.join(PLAYED)
}

/// The days already played on `data`, in order.
pub fn played(data: &Path) -> Result<Vec<NaiveDate>> {
    let text = match std::fs::read_to_string(played_file(data)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse::<NaiveDate>().map_err(|e| {
                ServerError::Internal(format!("{}: {l:?}: {e}", played_file(data).display()))
            })
        })
        .collect()
}

/// The day the next run on `data` plays: the first day, or the working day after the
/// last one played.
pub fn next_day(data: &Path, calendar: &Calendar) -> Result<DemoDay> {
    let played = played(data)?;
    let Some(last) = played.iter().max() else {
        return Ok(DemoDay::first());
    };
    let mut date = *last;
    loop {
        date = date
            .succ_opt()
            .ok_or_else(|| ServerError::Internal(format!("no day after {last}")))?;
        if calendar.is_working_day(date) {
            return Ok(DemoDay {
                date,
                number: played.len() + 1,
            });
        }
    }
}

/// Lists `day` as played on `data`.
pub fn record(data: &Path, day: &DemoDay) -> Result<()> {
    std::fs::create_dir_all(data)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(played_file(data))?;
    writeln!(file, "{}", day.date)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_follow_the_working_calendar() {
        let dir = tempfile::tempdir().expect("temp dir");
        let calendar = Calendar::bundled().expect("calendar");
        let mut labels = Vec::new();
        for _ in 0..6 {
            let day = next_day(dir.path(), &calendar).expect("next day");
            labels.push(day.label());
            record(dir.path(), &day).expect("record");
        }
        // Monday to Friday, then the weekend is skipped.
        assert_eq!(
            labels,
            [
                "Monday 2026-11-23",
                "Tuesday 2026-11-24",
                "Wednesday 2026-11-25",
                "Thursday 2026-11-26",
                "Friday 2026-11-27",
                "Monday 2026-11-30",
            ]
        );
        let day = next_day(dir.path(), &calendar).expect("next day");
        assert_eq!((day.number, day.period()), (7, "2026-12".to_owned()));
    }
}
