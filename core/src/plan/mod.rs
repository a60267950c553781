//! River patrol plans (巡河计划): how often each river segment must be patrolled, from
//! the chief's level, the segment's warning level and the season, per a frequency table
//! that is data (one per deployment; Guangzhou's is bundled); and the plan for a period
//! that the server pushes to a chief.

mod document;
mod frequency;

pub use document::{
    fold_plan, PlanIssued, PlanState, PlanTaskDone, PlanUpdated, WindowProgress, PERMISSIONS,
    PLAN_ISSUED, PLAN_TASK_DONE, PLAN_UPDATED,
};
pub use frequency::{FrequencyRow, FrequencyTable, Season};

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sla::local_midnight;
use crate::time::Millis;

/// The level of the river chief (河长) responsible for a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ChiefLevel {
    /// 市级
    City,
    /// 区级
    District,
    /// 镇街级
    Town,
    /// 村居级 (and 河段长)
    Village,
}

/// A segment's risk-warning colour. When several warnings fire the highest applies
/// (`max`), which the ordering gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum WarningLevel {
    None,
    /// 黄色预警
    Yellow,
    /// 橙色预警
    Orange,
    /// 红色预警
    Red,
}

/// The period a required frequency is counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PeriodKind {
    /// 旬: days 1–10, 11–20 and 21 to the end of the month.
    Xun,
    /// Monday to Sunday.
    Week,
    Month,
    Quarter,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Segment {
    pub id: String,
    pub name: String,
    pub river: String,
    pub chief_level: ChiefLevel,
    pub warning: WarningLevel,
}

/// The days a plan covers, inclusive, China local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPeriod {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl PlanPeriod {
    pub fn new(first_day: NaiveDate, last_day: NaiveDate) -> Result<PlanPeriod> {
        if last_day < first_day {
            return Err(Error::invalid("plan period", "ends before it starts"));
        }
        if (last_day - first_day).num_days() > 366 {
            return Err(Error::invalid("plan period", "longer than a year"));
        }
        if !(1990..2200).contains(&first_day.year()) || !(1990..2200).contains(&last_day.year()) {
            return Err(Error::invalid("plan period", "outside 1990–2199"));
        }
        Ok(PlanPeriod {
            first_day,
            last_day,
        })
    }

    pub fn month(year: i32, month: u32) -> Result<PlanPeriod> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or_else(|| Error::invalid("plan period", format!("no month {year}-{month}")))?;
        PlanPeriod::new(first, month_end(first))
    }
}

/// One counting window of a segment's requirement: at least `required` valid patrols
/// between `first_day` and `last_day` (inclusive), each lasting and covering at least the
/// minimums. A window may reach outside the plan period (the quarter of a monthly plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub kind: PeriodKind,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Local midnight opening the window, and the one after it closes.
    pub starts: Millis,
    pub ends: Millis,
    pub required: u32,
    pub min_duration_min: u32,
    pub min_length_m: u32,
    /// The requirement is a documented default, not a published figure.
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentTask {
    pub segment: Segment,
    /// Empty when no table row applies on any day (out of season).
    pub windows: Vec<Window>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub chief: String,
    pub period: PlanPeriod,
    /// Which table the plan was computed from (place and version).
    pub table: String,
    pub tasks: Vec<SegmentTask>,
}

impl Plan {
    pub fn total_required(&self) -> u32 {
        self.tasks
            .iter()
            .flat_map(|t| t.windows.iter())
            .map(|w| w.required)
            .sum()
    }

    pub fn task(&self, segment_id: &str) -> Option<&SegmentTask> {
        self.tasks.iter().find(|t| t.segment.id == segment_id)
    }
}

fn month_end(first: NaiveDate) -> NaiveDate {
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .unwrap_or(first)
}

/// The window of `kind` containing `day`.
fn window_bounds(kind: PeriodKind, day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let month_first = day.with_day(1).unwrap_or(day);
    match kind {
        PeriodKind::Xun => {
            let (from, to) = match day.day() {
                1..=10 => (1, 10),
                11..=20 => (11, 20),
                _ => (21, month_end(month_first).day()),
            };
            (
                day.with_day(from).unwrap_or(day),
                day.with_day(to).unwrap_or(day),
            )
        }
        PeriodKind::Week => {
            let from = day - Duration::days(day.weekday().num_days_from_monday() as i64);
            (from, from + Duration::days(6))
        }
        PeriodKind::Month => (month_first, month_end(month_first)),
        PeriodKind::Quarter => {
            let first_month = (day.month() - 1) / 3 * 3 + 1;
            let from = NaiveDate::from_ymd_opt(day.year(), first_month, 1).unwrap_or(day);
            let last_month_first =
                NaiveDate::from_ymd_opt(day.year(), first_month + 2, 1).unwrap_or(day);
            (from, month_end(last_month_first))
        }
    }
}

/// The plan of `chief` for `period`: for each segment, the counting windows overlapping
/// the period with the patrols each requires. The row is looked up day by day, so a
/// season boundary inside the period is honoured.
pub fn plan_for(
    chief: &str,
    segments: &[Segment],
    period: &PlanPeriod,
    table: &FrequencyTable,
) -> Result<Plan> {
    let period = PlanPeriod::new(period.first_day, period.last_day)?;
    let mut ids = BTreeSet::new();
    let mut tasks = Vec::with_capacity(segments.len());
    for segment in segments {
        if segment.id.trim().is_empty() {
            return Err(Error::invalid("segment", "empty id"));
        }
        if !ids.insert(segment.id.as_str()) {
            return Err(Error::invalid(
                "segment",
                format!("{} listed twice", segment.id),
            ));
        }
        let mut windows: Vec<Window> = Vec::new();
        let mut day = period.first_day;
        while day <= period.last_day {
            if let Some(row) = table.lookup(segment.chief_level, segment.warning, day) {
                let (first_day, last_day) = window_bounds(row.per, day);
                let known = windows
                    .iter()
                    .any(|w| w.kind == row.per && w.first_day == first_day);
                if !known {
                    windows.push(Window {
                        kind: row.per,
                        first_day,
                        last_day,
                        starts: local_midnight(first_day),
                        ends: local_midnight(last_day + Duration::days(1)),
                        required: row.patrols,
                        min_duration_min: row.min_duration_min,
                        min_length_m: row.min_length_m,
                        default: row.default,
                    });
                }
            }
            day += Duration::days(1);
        }
        tasks.push(SegmentTask {
            segment: segment.clone(),
            windows,
        });
    }
    Ok(Plan {
        chief: chief.to_string(),
        period,
        table: format!("{} · {}", table.place, table.version),
        tasks,
    })
}
