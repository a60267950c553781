//! 整改通知单 in the evaluation: per contractor and month, from the notices' logs as of the
//! cut-off (as the case figures are).
//!
//! - **issued**: notices issued to the contractor within the period.
//! - **closed**: notices closed (对账销号) within the period, and **closed on time** those
//!   closed at or before their deadline.
//! - **overdue**: notices whose deadline fell within the period, before the cut-off, and
//!   that were not closed by it.
//! - **on-time rate** = closed on time ÷ closed; none when nothing was closed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Period;
use crate::doc::Snapshot;
use crate::error::Result;
use crate::notice::{fold_notice, NoticeStatus};
use crate::time::Millis;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContractorRow {
    pub contractor: String,
    /// 下发
    pub issued: u32,
    /// 销号
    pub closed: u32,
    /// 按期销号
    pub closed_on_time: u32,
    /// 超期
    pub overdue: u32,
    pub on_time_rate: Option<f64>,
}

/// The contractor rows of `period` ("YYYY-MM"), by contractor id; notices that do not
/// fold are listed in the second value with the reason.
pub fn evaluate_contractors(
    period: &str,
    notices: &[Snapshot],
    now: Millis,
) -> Result<(Vec<ContractorRow>, Vec<String>)> {
    let period = Period::parse(period)?;
    let cutoff = period.ends.min(now);
    let within = |at: Millis| (period.starts..cutoff).contains(&at);
    let mut rows: BTreeMap<String, ContractorRow> = BTreeMap::new();
    let mut skipped = Vec::new();
    for snapshot in notices {
        let mut past = snapshot.clone();
        past.events.retain(|e| e.at < cutoff);
        let state = match fold_notice(&past) {
            Ok(state) => state,
            Err(e) => {
                skipped.push(format!("notice {}: {e}", snapshot.header.id));
                continue;
            }
        };
        let Some(contractor) = state.contractor.clone() else {
            continue;
        };
        let due = state.due.map(|d| d.due);
        let closed_at = state
            .closed_at
            .filter(|_| state.status == NoticeStatus::Closed);
        let issued = state.issued_at.is_some_and(within);
        let closed = closed_at.is_some_and(within);
        let overdue = due.is_some_and(|due| within(due) && closed_at.is_none_or(|c| c > due));
        if !(issued || closed || overdue) {
            continue;
        }
        let row = rows
            .entry(contractor.clone())
            .or_insert_with(|| ContractorRow {
                contractor,
                ..ContractorRow::default()
            });
        row.issued += u32::from(issued);
        row.closed += u32::from(closed);
        row.closed_on_time +=
            u32::from(closed && closed_at.zip(due).is_some_and(|(c, due)| c <= due));
        row.overdue += u32::from(overdue);
    }
    let rows = rows
        .into_values()
        .map(|mut row| {
            row.on_time_rate =
                (row.closed > 0).then(|| row.closed_on_time as f64 / row.closed as f64);
            row
        })
        .collect();
    Ok((rows, skipped))
}
