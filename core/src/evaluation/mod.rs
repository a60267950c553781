//! 综合评价: the monthly evaluation of responsible units and inspectors, from the case
//! event logs and the patrols. Sans-I/O: the server's `GET /v1/evaluation` renders
//! [`evaluate`]'s rows as JSON or CSV.
//!
//! Everything is computed **as of the cut-off**: the end of the period, or `now` when the
//! period is still running. Events after the cut-off are left out of the fold, so a
//! past month's figures do not change when later events arrive.
//!
//! ## Units
//! The cohort of a unit for a period is the set of cases currently dispatched to it
//! (the latest dispatch as of the cut-off) whose **nominal deadline** falls in the
//! period: latest dispatch + the category's limit + granted extensions, on the working
//! calendar, suspensions *not* counted (so a suspended case stays in the month it was due
//! in, where it is counted as 缓办). Voided, merged and rejected cases are not in any
//! cohort; neither are 自查自纠 cases (no unit).
//!
//! - **应结案** (`due`): the cases of the cohort.
//! - **缓办** (`suspended`): cohort cases suspended at the cut-off and not closed.
//! - **结案** (`closed`): cohort cases closed by the cut-off.
//! - **按期结案** (`closed_on_time`): closed cases whose final handling was at or before
//!   the deadline with suspensions counted.
//! - **返工** (`rework`): cohort cases returned for rework at least once.
//! - **超期** (`overdue`): cohort cases not suspended at the cut-off whose final handling
//!   came after the deadline (with suspensions), or which are not handled and whose
//!   deadline passed before the cut-off.
//! - **延期** (`extended`): cohort cases with at least one granted extension.
//! - With `d = 应结案 − 缓办`: **结案率** = 结案 ÷ d, **按期结案率** = 按期结案 ÷ d,
//!   **返工率** = 返工 ÷ d, **超期率** = 超期 ÷ d; none (JSON null, empty CSV cell) when
//!   d = 0, never a division by zero.
//!
//! Units are ranked by 按期结案率, then 结案率 (higher first; a unit without a rate last);
//! equal pairs share a rank.
//!
//! ## Inspectors
//! - **reports**: cases reported by the inspector within the period.
//! - **valid reports**: of those, registered (立案) or 自查自纠, and not rejected, voided
//!   or merged by the cut-off.
//! - **self-fixed**: of those, 自查自纠.
//! - **verifications**: verifications (核查) the inspector submitted in the period, and
//!   **on time** those submitted within `verification_limit` working time of the
//!   handling they verify.
//! - **patrols**, **mileage** and **coverage** (巡查覆盖): the inspector's grid patrols
//!   started in the period and ended, not judged invalid; mileage summed; coverage =
//!   assigned cells the tracks passed ÷ assigned cells, over the union of the patrols.

mod csv;
mod notices;
mod window;

pub use notices::{evaluate_contractors, ContractorRow};
pub use window::{active_window, ActiveWindow};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::case::{fold, kinds, CaseState, CaseStatus};
use crate::catalogue::Catalogue;
use crate::doc::Snapshot;
use crate::error::{Error, Result};
use crate::geo::GridIndex;
use crate::patrol::{grid_summary, PatrolKind, PatrolState, PatrolStatus};
use crate::roles::Role;
use crate::schedule::case_clock;
use crate::sla::{local_midnight, Calendar, LimitUnit, TimeLimit};
use crate::time::Millis;

/// A calendar month in China local time, `[starts, ends)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub year: i32,
    pub month: u32,
    pub starts: Millis,
    pub ends: Millis,
}

impl Period {
    /// Parses "YYYY-MM".
    pub fn parse(text: &str) -> Result<Period> {
        let bad = || Error::invalid("period", format!("{text:?} is not YYYY-MM"));
        let (y, m) = text.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1990..2200).contains(&year) {
            return Err(Error::invalid(
                "period",
                format!("{text}: outside 1990–2199"),
            ));
        }
        let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .ok_or_else(bad)?;
        Ok(Period {
            year: first.year(),
            month: first.month(),
            starts: local_midnight(first),
            ends: local_midnight(next),
        })
    }

    pub fn label(&self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

/// Everything an evaluation is computed from.
pub struct EvaluationInput<'a> {
    /// "YYYY-MM".
    pub period: &'a str,
    pub cases: &'a [Snapshot],
    /// Patrol states; river patrols are skipped here.
    pub patrols: &'a [PatrolState],
    pub grid: &'a GridIndex,
    pub catalogue: &'a Catalogue,
    pub calendar: &'a Calendar,
    /// Units that get a row even without a case in the period.
    pub units: &'a [String],
    /// How soon after the handling a verification counts as on time.
    pub verification_limit: TimeLimit,
    pub now: Millis,
}

/// fieldloop's default 核查 limit, not from a published source: one working day.
pub const DEFAULT_VERIFICATION_LIMIT: TimeLimit = TimeLimit {
    amount: 1,
    unit: LimitUnit::WorkingDays,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitRow {
    pub unit: String,
    /// 应结案
    pub due: u32,
    /// 结案
    pub closed: u32,
    /// 按期结案
    pub closed_on_time: u32,
    /// 缓办
    pub suspended: u32,
    /// 返工
    pub rework: u32,
    /// 超期
    pub overdue: u32,
    /// 延期
    pub extended: u32,
    /// 督办: cases a dispatcher, supervisor, admin or the scheduler ordered to act.
    #[serde(default)]
    pub supervised: u32,
    /// 结案率
    pub close_rate: Option<f64>,
    /// 按期结案率
    pub on_time_rate: Option<f64>,
    /// 返工率
    pub rework_rate: Option<f64>,
    /// 超期率
    pub overdue_rate: Option<f64>,
    /// 1 = best.
    pub rank: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InspectorRow {
    pub inspector: String,
    pub reports: u32,
    pub valid_reports: u32,
    pub self_fixed: u32,
    pub verifications: u32,
    pub on_time_verifications: u32,
    pub patrols: u32,
    pub mileage_m: f64,
    /// Share of assigned cells covered, none without assigned cells.
    pub coverage: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub period: String,
    /// The cut-off the figures are computed at.
    pub as_of: Millis,
    /// A deadline used a year whose holidays are not published yet.
    pub provisional: bool,
    /// Ranked, best first.
    pub units: Vec<UnitRow>,
    pub inspectors: Vec<InspectorRow>,
    /// Rectification notices per contractor ([`evaluate_contractors`]); empty when the
    /// caller did not ask for them.
    #[serde(default)]
    pub contractors: Vec<ContractorRow>,
    /// Cases left out and why (unknown category, …).
    pub skipped: Vec<String>,
}

fn rate(count: u32, denominator: i64) -> Option<f64> {
    (denominator > 0).then(|| count as f64 / denominator as f64)
}

/// The case as it stood at `cutoff`: its log up to (not including) the cut-off.
fn as_of(snapshot: &Snapshot, cutoff: Millis) -> (Snapshot, CaseState) {
    let mut past = snapshot.clone();
    past.events.retain(|e| e.at < cutoff);
    let state = fold(&past);
    (past, state)
}

/// Evaluates units and inspectors for a period (definitions in the module docs).
pub fn evaluate(input: &EvaluationInput<'_>) -> Result<Evaluation> {
    let period = Period::parse(input.period)?;
    let cutoff = period.ends.min(input.now);
    let mut provisional = false;
    let mut skipped = Vec::new();
    let mut units: BTreeMap<String, UnitRow> = input
        .units
        .iter()
        .map(|u| {
            (
                u.clone(),
                UnitRow {
                    unit: u.clone(),
                    ..UnitRow::default()
                },
            )
        })
        .collect();
    let mut inspectors: BTreeMap<String, InspectorRow> = BTreeMap::new();
    let inspector = |id: &str| -> InspectorRow {
        InspectorRow {
            inspector: id.to_string(),
            ..InspectorRow::default()
        }
    };

    for snapshot in input.cases {
        let (past, state) = as_of(snapshot, cutoff);

        // Inspectors: reports and verifications.
        if let (Some(reporter), Some(at)) = (&state.reporter, state.reported_at) {
            let by_inspector = past
                .events
                .iter()
                .any(|e| e.kind == kinds::REPORTED && e.role == Role::Inspector);
            if by_inspector && (period.starts..cutoff).contains(&at) {
                let row = inspectors
                    .entry(reporter.clone())
                    .or_insert_with(|| inspector(reporter));
                row.reports += 1;
                let ended_badly = matches!(
                    state.status,
                    CaseStatus::Rejected | CaseStatus::Voided | CaseStatus::Merged
                );
                if (state.registered_at.is_some() || state.self_fixed) && !ended_badly {
                    row.valid_reports += 1;
                }
                if state.self_fixed {
                    row.self_fixed += 1;
                }
            }
        }
        let mut handled_at: Option<Millis> = None;
        for event in &past.events {
            if state.is_ignored(event.id) {
                continue;
            }
            match event.kind.as_str() {
                kinds::HANDLED | kinds::SELF_FIXED => handled_at = Some(event.at),
                kinds::VERIFICATION_SUBMITTED if (period.starts..cutoff).contains(&event.at) => {
                    let on_time = match handled_at
                        .map(|h| input.calendar.deadline(h, &input.verification_limit))
                    {
                        Some(Ok(due)) => {
                            provisional |= due.provisional;
                            event.at <= due.due
                        }
                        Some(Err(e)) => {
                            skipped.push(format!("case {} verification: {e}", state.id));
                            false
                        }
                        None => false,
                    };
                    let row = inspectors
                        .entry(event.by.clone())
                        .or_insert_with(|| inspector(&event.by));
                    row.verifications += 1;
                    row.on_time_verifications += on_time as u32;
                }
                _ => {}
            }
        }

        // Units.
        let figures = match unit_figures(&state, input, &period, cutoff) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                skipped.push(format!("case {}: {e}", state.id));
                continue;
            }
        };
        provisional |= figures.provisional;
        let row = units
            .entry(figures.unit.clone())
            .or_insert_with(|| UnitRow {
                unit: figures.unit.clone(),
                ..UnitRow::default()
            });
        row.due += 1;
        row.suspended += figures.suspended as u32;
        row.closed += figures.closed as u32;
        row.closed_on_time += figures.closed_on_time as u32;
        row.rework += figures.rework as u32;
        row.extended += figures.extended as u32;
        row.overdue += figures.overdue as u32;
        row.supervised += u32::from(state.supervision_count > 0);
    }

    // Inspectors: grid patrols.
    let mut covered: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for patrol in input.patrols {
        let (Some(who), Some(started)) = (&patrol.patroller, patrol.started_at) else {
            continue;
        };
        let counts = patrol.kind == Some(PatrolKind::Grid)
            && patrol.status == PatrolStatus::Ended
            && patrol.verdict.as_ref().is_none_or(|v| v.valid)
            && (period.starts..cutoff).contains(&started);
        if !counts {
            continue;
        }
        let summary = grid_summary(patrol, input.grid);
        let row = inspectors
            .entry(who.clone())
            .or_insert_with(|| inspector(who));
        row.patrols += 1;
        row.mileage_m += summary.mileage_m;
        let (assigned, passed) = covered.entry(who.clone()).or_default();
        assigned.extend(patrol.assigned_cells.iter().cloned());
        passed.extend(summary.assigned_covered.iter().cloned());
    }
    for (who, (assigned, passed)) in covered {
        if let Some(row) = inspectors.get_mut(&who) {
            row.coverage = (!assigned.is_empty())
                .then(|| passed.intersection(&assigned).count() as f64 / assigned.len() as f64);
        }
    }

    let mut units: Vec<UnitRow> = units
        .into_values()
        .map(|mut row| {
            let d = row.due as i64 - row.suspended as i64;
            row.close_rate = rate(row.closed, d);
            row.on_time_rate = rate(row.closed_on_time, d);
            row.rework_rate = rate(row.rework, d);
            row.overdue_rate = rate(row.overdue, d);
            row
        })
        .collect();
    rank(&mut units);

    Ok(Evaluation {
        period: period.label(),
        as_of: cutoff,
        provisional,
        units,
        inspectors: inspectors.into_values().collect(),
        contractors: Vec::new(),
        skipped,
    })
}

/// One cohort case's contribution to its unit's row.
struct CaseFigures {
    unit: String,
    suspended: bool,
    closed: bool,
    closed_on_time: bool,
    rework: bool,
    extended: bool,
    overdue: bool,
    provisional: bool,
}

/// The figures of a case for its unit, none when it is not in the period's cohort.
fn unit_figures(
    state: &CaseState,
    input: &EvaluationInput<'_>,
    period: &Period,
    cutoff: Millis,
) -> Result<Option<CaseFigures>> {
    let Some(unit) = state.unit.clone() else {
        return Ok(None);
    };
    if !state.is_open() && state.status != CaseStatus::Closed {
        return Ok(None);
    }
    let Some(clock) = case_clock(state, input.catalogue, input.calendar, cutoff)? else {
        return Ok(None);
    };
    let mut nominal_clock = clock.clone();
    nominal_clock.suspensions.clear();
    let nominal = input.calendar.due(&nominal_clock)?;
    if !(period.starts..period.ends).contains(&nominal.due) {
        return Ok(None);
    }
    let real = input.calendar.due(&clock)?;
    let closed = state.status == CaseStatus::Closed;
    let suspended = state.is_suspended() && !closed;
    // The unit's work is finished once handled; rework reopens it.
    let finished = match state.status {
        CaseStatus::Handled
        | CaseStatus::VerificationSubmitted
        | CaseStatus::Judged
        | CaseStatus::Closed => state.handled_at,
        _ => None,
    };
    let late = match finished {
        Some(f) => f > real.due,
        None => real.due < cutoff,
    };
    Ok(Some(CaseFigures {
        unit,
        suspended,
        closed,
        closed_on_time: closed && finished.is_some_and(|f| f <= real.due),
        rework: state.rework_count > 0,
        extended: !state.extensions.is_empty(),
        overdue: !suspended && late,
        provisional: nominal.provisional || real.provisional,
    }))
}

/// Sorts best first by 按期结案率 then 结案率 (none last) and numbers the ranks,
/// equal pairs sharing one (1, 1, 3).
fn rank(rows: &mut [UnitRow]) {
    let key = |r: &UnitRow| {
        (
            r.on_time_rate.map_or(-1.0, |x| x),
            r.close_rate.map_or(-1.0, |x| x),
        )
    };
    rows.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        kb.0.total_cmp(&ka.0)
            .then(kb.1.total_cmp(&ka.1))
            .then(a.unit.cmp(&b.unit))
    });
    let mut previous: Option<((f64, f64), u32)> = None;
    for (i, row) in rows.iter_mut().enumerate() {
        let k = key(row);
        row.rank = match previous {
            Some((pk, pr)) if pk == k => pr,
            _ => i as u32 + 1,
        };
        previous = Some((k, row.rank));
    }
}

impl Evaluation {
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// The unit rows as CSV (header in Chinese, as the evaluation sheets print it).
    pub fn units_csv(&self) -> String {
        let mut out = String::new();
        csv::row(
            &mut out,
            &[
                "排名",
                "单位",
                "应结案",
                "结案",
                "按期结案",
                "缓办",
                "返工",
                "超期",
                "延期",
                "结案率",
                "按期结案率",
                "返工率",
                "超期率",
                "督办",
            ],
        );
        for r in &self.units {
            csv::row(
                &mut out,
                &[
                    &r.rank.to_string(),
                    &r.unit,
                    &r.due.to_string(),
                    &r.closed.to_string(),
                    &r.closed_on_time.to_string(),
                    &r.suspended.to_string(),
                    &r.rework.to_string(),
                    &r.overdue.to_string(),
                    &r.extended.to_string(),
                    &csv::ratio(r.close_rate),
                    &csv::ratio(r.on_time_rate),
                    &csv::ratio(r.rework_rate),
                    &csv::ratio(r.overdue_rate),
                    &r.supervised.to_string(),
                ],
            );
        }
        out
    }

    /// The inspector rows as CSV.
    pub fn inspectors_csv(&self) -> String {
        let mut out = String::new();
        csv::row(
            &mut out,
            &[
                "巡查员",
                "上报",
                "有效上报",
                "自查自纠",
                "核查",
                "按时核查",
                "巡查次数",
                "巡查里程(km)",
                "巡查覆盖率",
            ],
        );
        for r in &self.inspectors {
            csv::row(
                &mut out,
                &[
                    &r.inspector,
                    &r.reports.to_string(),
                    &r.valid_reports.to_string(),
                    &r.self_fixed.to_string(),
                    &r.verifications.to_string(),
                    &r.on_time_verifications.to_string(),
                    &r.patrols.to_string(),
                    &format!("{:.3}", r.mileage_m / 1000.0),
                    &csv::ratio(r.coverage),
                ],
            );
        }
        out
    }
}
