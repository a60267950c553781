//! The frequency table: chief level × warning level × optional season → patrols per
//! period, minimum duration and minimum length. Data, one table per deployment.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{ChiefLevel, PeriodKind, WarningLevel};
use crate::error::{Error, Result};

const BUNDLED: &str = include_str!("../../data/patrol_frequency.json");

/// Months a row applies in, inclusive; `from_month > to_month` wraps the year end
/// (11 → 2 is November to February).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Season {
    pub from_month: u32,
    pub to_month: u32,
}

impl Season {
    pub fn contains(&self, day: NaiveDate) -> bool {
        let m = day.month();
        if self.from_month <= self.to_month {
            (self.from_month..=self.to_month).contains(&m)
        } else {
            m >= self.from_month || m <= self.to_month
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FrequencyRow {
    pub chief: ChiefLevel,
    pub warning: WarningLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season: Option<Season>,
    /// At least this many patrols …
    pub patrols: u32,
    /// … per this period.
    pub per: PeriodKind,
    pub min_duration_min: u32,
    pub min_length_m: u32,
    /// The source does not give this figure: a documented placeholder.
    #[serde(default)]
    pub default: bool,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyTable {
    pub place: String,
    pub version: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub defaults_note: String,
    pub rows: Vec<FrequencyRow>,
}

impl FrequencyTable {
    /// Guangzhou's table (穗河长办〔2021〕49号 as far as the sources give it; the cells
    /// they leave out are `default: true`, see `defaults_note`).
    pub fn bundled() -> Result<FrequencyTable> {
        FrequencyTable::from_json(BUNDLED)
    }

    pub fn from_json(text: &str) -> Result<FrequencyTable> {
        let table: FrequencyTable = serde_json::from_str(text)
            .map_err(|e| Error::invalid("patrol frequency table", e.to_string()))?;
        table.validate()?;
        Ok(table)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::invalid("patrol frequency table", reason);
        for (i, row) in self.rows.iter().enumerate() {
            if row.patrols == 0 {
                return Err(bad(format!("row {i}: zero patrols")));
            }
            if let Some(season) = row.season {
                if !(1..=12).contains(&season.from_month) || !(1..=12).contains(&season.to_month) {
                    return Err(bad(format!("row {i}: season months must be 1–12")));
                }
            }
            let clash = self.rows[..i].iter().any(|other| {
                other.chief == row.chief
                    && other.warning == row.warning
                    && other.season == row.season
            });
            if clash {
                return Err(bad(format!(
                    "row {i}: {:?}/{:?} given twice for the same season",
                    row.chief, row.warning
                )));
            }
        }
        Ok(())
    }

    /// The row for a segment on `day`: a seasonal row covering the day wins over a
    /// season-less one; none when only seasonal rows exist and the day is out of season.
    pub fn lookup(
        &self,
        chief: ChiefLevel,
        warning: WarningLevel,
        day: NaiveDate,
    ) -> Option<&FrequencyRow> {
        let candidates: Vec<&FrequencyRow> = self
            .rows
            .iter()
            .filter(|r| r.chief == chief && r.warning == warning)
            .collect();
        candidates
            .iter()
            .find(|r| r.season.is_some_and(|s| s.contains(day)))
            .or_else(|| candidates.iter().find(|r| r.season.is_none()))
            .copied()
    }
}
