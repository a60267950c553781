//! The verdict on an ended patrol: does it count?

use crate::error::{Error, Result};
use crate::geo::{assess_track, LatLon, PlausibilityLimits, TrackVerdict};
use crate::patrol::{
    river_report, PatrolKind, PatrolRequirement, PatrolState, PatrolStatus, PatrolVerdict,
};

/// What a patrol is judged against.
#[derive(Debug, Clone, Copy)]
pub enum PatrolTarget<'a> {
    /// A river patrol: the segment's geometry (WGS-84 polyline) and the plan's
    /// requirement (duration, length, coverage, plausibility).
    River {
        segment: &'a [LatLon],
        requirement: &'a PatrolRequirement,
    },
    /// An inspector's grid patrol counts when its track is plausible; mileage and
    /// coverage go to the evaluation, not into validity.
    Grid { limits: &'a PlausibilityLimits },
}

/// The verdict the server writes (`patrol.verdict`) for an ended patrol without one.
pub fn verify_patrol(state: &PatrolState, target: PatrolTarget<'_>) -> Result<PatrolVerdict> {
    if state.status != PatrolStatus::Ended {
        return Err(Error::invalid(
            "patrol verification",
            format!("the patrol is {:?}, not ended", state.status),
        ));
    }
    if state.verdict.is_some() {
        return Err(Error::invalid(
            "patrol verification",
            "the patrol already has its verdict",
        ));
    }
    match target {
        PatrolTarget::River {
            segment,
            requirement,
        } => Ok(river_report(state, segment, requirement)?.verdict()),
        PatrolTarget::Grid { limits } => {
            let report = assess_track(&state.fixes, limits)?;
            let mut reasons: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
            if state.kind != Some(PatrolKind::Grid) {
                reasons.insert(0, "not a grid patrol".to_string());
            }
            let valid = reasons.is_empty() && report.verdict == TrackVerdict::Plausible;
            Ok(PatrolVerdict { valid, reasons })
        }
    }
}
