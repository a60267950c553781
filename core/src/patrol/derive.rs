//! What a patrol proves, derived from its folded state: for a grid patrol the cells the
//! track passed through, mileage and coverage of the assigned cells (巡查覆盖); for a
//! river patrol duration, length, segment coverage, plausibility and validity against
//! the requirement the patrol plan sets.
//!
//! Mock-location fixes prove nothing: they add no mileage, no cells and no coverage.
//! Paused time is no patrol time: it is no gap, adds no duration, and the track is not
//! joined across a pause (no speed, mileage or coverage from one leg to the next).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{PatrolKind, PatrolState, PatrolStatus, PatrolVerdict};
use crate::error::Result;
use crate::geo::{
    assess_track_paused, coverage::DEFAULT_STEP_M, distance_m, segment_coverage_legs, Coverage,
    GridIndex, LatLon, PlausibilityLimits, TrackReport, TrackVerdict,
};
use crate::time::{Millis, MINUTE};

/// Consecutive fixes further apart than this are not interpolated between: we do not
/// claim cells for a stretch nobody recorded.
const MAX_INTERPOLATED_M: f64 = 200.0;
/// Interpolation step between fixes, so a corner of a cell crossed between two fixes
/// still counts as passed.
const INTERPOLATION_STEP_M: f64 = 10.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GridPatrolSummary {
    /// Every cell the track passed through, sorted by code.
    pub cells_passed: Vec<String>,
    /// Haversine length of the track, mock fixes excluded.
    pub mileage_m: f64,
    /// Assigned cells the track passed through.
    pub assigned_covered: Vec<String>,
    pub assigned_count: u32,
    /// assigned_covered ÷ assigned cells; 0 when none are assigned.
    pub coverage: f64,
}

/// Cells passed, mileage and assigned-cell coverage of a patrol's track.
pub fn grid_summary(state: &PatrolState, grid: &GridIndex) -> GridPatrolSummary {
    let mut passed = BTreeSet::new();
    let mut visit = |p: LatLon| {
        // Fixes were validated by the fold, so a lookup error cannot happen here.
        if let Ok(Some(code)) = grid.cell_at(p) {
            if !passed.contains(code) {
                passed.insert(code.to_string());
            }
        }
    };
    let mut mileage = 0.0;
    for leg in state.real_legs() {
        for (i, p) in leg.iter().enumerate() {
            visit(*p);
            if let Some(next) = leg.get(i + 1) {
                let d = distance_m(*p, *next);
                mileage += d;
                if d <= MAX_INTERPOLATED_M {
                    let steps = (d / INTERPOLATION_STEP_M).ceil() as usize;
                    for k in 1..steps {
                        let f = k as f64 / steps as f64;
                        visit(LatLon {
                            lat: p.lat + (next.lat - p.lat) * f,
                            lon: p.lon + (next.lon - p.lon) * f,
                        });
                    }
                }
            }
        }
    }
    let assigned_covered: Vec<String> = state
        .assigned_cells
        .iter()
        .filter(|c| passed.contains(c.as_str()))
        .cloned()
        .collect();
    let assigned_count = state.assigned_cells.len() as u32;
    let coverage = if assigned_count == 0 {
        0.0
    } else {
        assigned_covered.len() as f64 / assigned_count as f64
    };
    GridPatrolSummary {
        cells_passed: passed.into_iter().collect(),
        mileage_m: mileage,
        assigned_covered,
        assigned_count,
        coverage,
    }
}

/// What one river patrol must achieve to count; the patrol plan supplies it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PatrolRequirement {
    pub min_duration: Millis,
    pub min_length_m: f64,
    /// Share of the segment within `buffer_m` of the track, in [0, 1].
    pub min_coverage: f64,
    pub max_speed_mps: f64,
    pub max_gap: Millis,
    pub buffer_m: f64,
}

impl Default for PatrolRequirement {
    /// Guangzhou's "≥ 10 min and ≥ 1 km" (穗河长办〔2021〕49号, see the reference notes);
    /// the coverage share, speed, gap and buffer are fieldloop defaults, not from a source.
    fn default() -> Self {
        PatrolRequirement {
            min_duration: 10 * MINUTE,
            min_length_m: 1_000.0,
            min_coverage: 0.6,
            max_speed_mps: 30.0 / 3.6,
            max_gap: 5 * MINUTE,
            buffer_m: 50.0,
        }
    }
}

impl PatrolRequirement {
    pub fn limits(&self) -> PlausibilityLimits {
        PlausibilityLimits {
            max_speed_mps: self.max_speed_mps,
            max_gap: self.max_gap,
            ..PlausibilityLimits::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RiverPatrolReport {
    /// From the first to the last real fix, paused time left out: the track is the
    /// evidence, not the buttons.
    pub duration: Millis,
    pub length_m: f64,
    pub coverage: Coverage,
    pub plausibility: TrackReport,
    pub valid: bool,
    /// Why it does not count, one readable sentence each; empty when valid.
    pub reasons: Vec<String>,
}

impl RiverPatrolReport {
    /// The verdict the server writes from this report.
    pub fn verdict(&self) -> PatrolVerdict {
        PatrolVerdict {
            valid: self.valid,
            reasons: self.reasons.clone(),
        }
    }
}

/// Judges a river patrol against `requirement` on the segment's geometry (WGS-84
/// polyline). Bad geometry or requirement values are an error.
pub fn river_report(
    state: &PatrolState,
    segment: &[LatLon],
    requirement: &PatrolRequirement,
) -> Result<RiverPatrolReport> {
    let plausibility =
        assess_track_paused(&state.fixes, &state.paused_spans(), &requirement.limits())?;
    let legs = state.real_legs();
    let legs: Vec<&[LatLon]> = legs.iter().map(Vec::as_slice).collect();
    let coverage = segment_coverage_legs(segment, &legs, requirement.buffer_m, DEFAULT_STEP_M)?;

    let mut reasons = Vec::new();
    if state.kind != Some(PatrolKind::River) {
        reasons.push("not a river patrol".to_string());
    }
    if state.status != PatrolStatus::Ended {
        reasons.push("the patrol has not ended".to_string());
    }
    if plausibility.duration < requirement.min_duration {
        reasons.push(format!(
            "lasted {} min, needs {} min",
            plausibility.duration / MINUTE,
            requirement.min_duration / MINUTE
        ));
    }
    if plausibility.length_m < requirement.min_length_m {
        reasons.push(format!(
            "walked {:.2} km, needs {:.2} km",
            plausibility.length_m / 1000.0,
            requirement.min_length_m / 1000.0
        ));
    }
    if coverage.share < requirement.min_coverage {
        reasons.push(format!(
            "covered {:.0}% of the segment, needs {:.0}%",
            coverage.share * 100.0,
            requirement.min_coverage * 100.0
        ));
    }
    if plausibility.verdict == TrackVerdict::Implausible {
        for finding in &plausibility.findings {
            reasons.push(format!("track implausible: {finding}"));
        }
    }
    Ok(RiverPatrolReport {
        duration: plausibility.duration,
        length_m: plausibility.length_m,
        coverage,
        valid: reasons.is_empty(),
        reasons,
        plausibility,
    })
}
