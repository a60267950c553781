//! Deadlines on the working calendar, the clock of a running time limit (with
//! suspensions), and the bands a countdown shows.

use serde::{Deserialize, Serialize};

use super::calendar::{check_instant, Calendar, Interval};
use super::{LimitUnit, TimeLimit};
use crate::error::{Error, Result};
use crate::time::{Millis, HOUR, MINUTE};

/// When something is due. `provisional` is true when the computation walked a day of a
/// year whose holidays are not published yet (counted as weekends only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Deadline {
    pub due: Millis,
    pub provisional: bool,
}

/// Working time between two instants, in whole working minutes (rounded down, so one
/// second overdue already shows −1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WorkingSpan {
    pub minutes: i64,
    pub provisional: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Band {
    Green,
    /// 预警: a configurable share of the limit used.
    Yellow,
    /// 超期: past the due time.
    Red,
    /// 督办: past the further escalation threshold.
    Escalated,
}

impl Band {
    /// The band by its serde name, as the phone's listing stores it, without a JSON round
    /// trip per row.
    pub fn from_name(name: &str) -> Option<Band> {
        match name {
            "green" => Some(Band::Green),
            "yellow" => Some(Band::Yellow),
            "red" => Some(Band::Red),
            "escalated" => Some(Band::Escalated),
            _ => None,
        }
    }
}

/// Where 督办 starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Escalation {
    /// Once this multiple of the limit is used (1.5 = half the limit again).
    ShareOfLimit { share: f64 },
    /// Once this much working time has passed after the due time.
    ExtraAfterDue { extra: TimeLimit },
}

/// Band thresholds. Yellow from `yellow_share` of the limit used (inclusive); red once
/// the due time has passed; escalated once the escalation threshold is passed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SlaPolicy {
    pub yellow_share: f64,
    pub escalation: Escalation,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy {
            yellow_share: 0.8,
            escalation: Escalation::ShareOfLimit { share: 1.5 },
        }
    }
}

impl SlaPolicy {
    pub fn validate(&self) -> Result<()> {
        if !(self.yellow_share > 0.0 && self.yellow_share <= 1.0) {
            return Err(Error::invalid(
                "sla policy",
                format!("yellow share {} must be in (0, 1]", self.yellow_share),
            ));
        }
        if let Escalation::ShareOfLimit { share } = self.escalation {
            if !(share > 1.0 && share.is_finite()) {
                return Err(Error::invalid(
                    "sla policy",
                    format!("escalation share {share} must be above 1"),
                ));
            }
        }
        Ok(())
    }
}

/// The clock of one running time limit: from when it counts, how much working time it
/// allows, and the suspensions (挂账/缓办) during which it stood still.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SlaClock {
    pub limit: TimeLimit,
    /// The instant the limit counts from (for working days: the opening of day 1).
    pub counts_from: Millis,
    /// Working time the limit allows.
    pub budget_ms: Millis,
    #[serde(default)]
    pub suspensions: Vec<Interval>,
}

/// What a countdown shows at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Countdown {
    pub band: Band,
    /// Due time with the suspensions taken into account.
    pub due: Deadline,
    /// Working time used so far (suspensions excluded).
    pub elapsed_ms: Millis,
    /// Working minutes left; negative when overdue.
    pub remaining_minutes: i64,
    /// True if the due time or the elapsed time touched a provisional year.
    pub provisional: bool,
}

/// One step of a multi-step limit (e.g. 派遣 1 working hour, then 处置 3 working days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StepLimit {
    pub name: String,
    pub limit: TimeLimit,
}

impl Calendar {
    fn limit_ms(&self, limit: &TimeLimit) -> Millis {
        match limit.unit {
            LimitUnit::WorkingHours => limit.amount as Millis * HOUR,
            LimitUnit::WorkingDays => limit.amount as Millis * self.hours().day_ms(),
        }
    }

    /// Starts the clock of `limit` at `start`. Working hours count from `start` (from the
    /// next opening when it is outside office hours); working days count whole days, see
    /// [`Calendar::add_working_days`].
    pub fn start_clock(&self, start: Millis, limit: &TimeLimit) -> Result<SlaClock> {
        check_instant("start", start)?;
        let counts_from = match limit.unit {
            LimitUnit::WorkingDays if limit.amount > 0 => self.first_counted_opening(start)?.0,
            _ => start,
        };
        Ok(SlaClock {
            limit: *limit,
            counts_from,
            budget_ms: self.limit_ms(limit),
            suspensions: Vec::new(),
        })
    }

    /// The due time of `limit` started at `start`, without suspensions.
    pub fn deadline(&self, start: Millis, limit: &TimeLimit) -> Result<Deadline> {
        let clock = self.start_clock(start, limit)?;
        let mut due = self.due(&clock)?;
        // Days skipped before day 1 count for provisionality too.
        if limit.unit == LimitUnit::WorkingDays && limit.amount > 0 {
            due.provisional |= self.first_counted_opening(start)?.1;
        }
        Ok(due)
    }

    /// `start` plus `hours` of working time. A start outside office hours starts at the
    /// next opening; running out at a closing time gives that closing time (12:00, not
    /// 13:30).
    pub fn add_working_hours(&self, start: Millis, hours: u32) -> Result<Deadline> {
        self.deadline(
            start,
            &TimeLimit {
                amount: hours,
                unit: LimitUnit::WorkingHours,
            },
        )
    }

    /// Due at the close of office hours of the `days`-th working day. The starting day is
    /// day 1 only if all its office hours lie ahead of `start`.
    pub fn add_working_days(&self, start: Millis, days: u32) -> Result<Deadline> {
        self.deadline(
            start,
            &TimeLimit {
                amount: days,
                unit: LimitUnit::WorkingDays,
            },
        )
    }

    /// Working time from `from` to `to` minus the suspensions, in working minutes;
    /// negative when `to` is before `from`.
    pub fn working_minutes_between(
        &self,
        from: Millis,
        to: Millis,
        suspensions: &[Interval],
    ) -> Result<WorkingSpan> {
        let (ms, provisional) = self.working_ms_between(from, to, suspensions)?;
        Ok(WorkingSpan {
            minutes: ms.div_euclid(MINUTE),
            provisional,
        })
    }

    /// The due time of a running clock, pushed back by its suspensions.
    pub fn due(&self, clock: &SlaClock) -> Result<Deadline> {
        let (due, provisional) =
            self.add_working_ms(clock.counts_from, clock.budget_ms, &clock.suspensions)?;
        Ok(Deadline { due, provisional })
    }

    /// Band and remaining working time of `clock` at `now`.
    pub fn countdown(
        &self,
        clock: &SlaClock,
        policy: &SlaPolicy,
        now: Millis,
    ) -> Result<Countdown> {
        policy.validate()?;
        let due = self.due(clock)?;
        let (elapsed, elapsed_provisional) =
            self.working_ms_between(clock.counts_from, now, &clock.suspensions)?;
        let elapsed = elapsed.max(0);
        let budget = clock.budget_ms;
        let escalate_after = match policy.escalation {
            Escalation::ShareOfLimit { share } => (budget as f64 * share).round() as Millis,
            Escalation::ExtraAfterDue { extra } => budget + self.limit_ms(&extra),
        };
        // Rounded so that 0.8 × a whole number of minutes is not lost to float fuzz.
        let yellow_from = (budget as f64 * policy.yellow_share).round() as Millis;
        let band = if elapsed > escalate_after {
            Band::Escalated
        } else if now > due.due || elapsed > budget {
            Band::Red
        } else if elapsed >= yellow_from {
            Band::Yellow
        } else {
            Band::Green
        };
        Ok(Countdown {
            band,
            due,
            elapsed_ms: elapsed,
            remaining_minutes: (budget - elapsed).div_euclid(MINUTE),
            provisional: due.provisional || elapsed_provisional,
        })
    }

    /// Due times of consecutive steps: each step starts when the one before finished
    /// (`finished[i]` for step i, when known), else at the one before's due time.
    pub fn step_deadlines(
        &self,
        start: Millis,
        steps: &[StepLimit],
        finished: &[Millis],
    ) -> Result<Vec<Deadline>> {
        let mut out: Vec<Deadline> = Vec::with_capacity(steps.len());
        let mut step_start = start;
        for (i, step) in steps.iter().enumerate() {
            let due = self.deadline(step_start, &step.limit)?;
            step_start = finished.get(i).copied().unwrap_or(due.due);
            out.push(due);
        }
        Ok(out)
    }
}

impl SlaClock {
    /// Stops the clock over `[from, to)` (a suspension; pass `to` = now while it runs).
    pub fn suspend(&mut self, from: Millis, to: Millis) -> Result<()> {
        check_instant("suspension", from)?;
        check_instant("suspension", to)?;
        if to < from {
            return Err(Error::invalid("suspension", "ends before it starts"));
        }
        self.suspensions.push(Interval { from, to });
        Ok(())
    }

    pub fn band_at(&self, calendar: &Calendar, policy: &SlaPolicy, now: Millis) -> Result<Band> {
        Ok(calendar.countdown(self, policy, now)?.band)
    }

    /// Working minutes left at `now`, negative when overdue.
    pub fn remaining_minutes_at(&self, calendar: &Calendar, now: Millis) -> Result<i64> {
        Ok(calendar
            .countdown(self, &SlaPolicy::default(), now)?
            .remaining_minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::Band;

    #[test]
    fn every_band_is_read_back_by_its_serde_name() {
        for band in [Band::Green, Band::Yellow, Band::Red, Band::Escalated] {
            let stored = serde_json::to_value(band).expect("serde name");
            assert_eq!(
                Band::from_name(stored.as_str().expect("a name")),
                Some(band)
            );
        }
        assert_eq!(Band::from_name("purple"), None);
    }
}
