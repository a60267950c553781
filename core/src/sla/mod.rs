//! Working calendar and deadlines (处置时限): working hours and days on a calendar of
//! public holidays and swapped working days (调休), and the green / yellow / red /
//! escalated bands.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum LimitUnit {
    WorkingHours,
    WorkingDays,
}

/// A time limit as a category catalogue states it ("4 工作时", "3 工作日").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TimeLimit {
    pub amount: u32,
    pub unit: LimitUnit,
}

mod calendar;
mod deadline;

pub use calendar::{
    local_date, local_midnight, Calendar, Interval, OfficeWindow, WorkingHours, BUNDLED_YEARS,
};
pub use deadline::{
    Band, Countdown, Deadline, Escalation, SlaClock, SlaPolicy, StepLimit, WorkingSpan,
};
