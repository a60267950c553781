//! The verdict on an ended patrol: does it count?

use crate::error::{Error, Result};
use crate::geo::{assess_track_paused, LatLon, PlausibilityLimits, TrackVerdict};
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
    /// A river patrol on a segment the server does not know (none, or not in its
    /// reference data): it cannot count, and the chief is told why rather than waiting.
    UnknownSegment { segment: Option<&'a str> },
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
    // A track the rules cannot assess (coordinates off the globe) is judged invalid with
    // the reason: the verdict must come, whatever the phone sent.
    let unreadable = |e: Error| PatrolVerdict {
        valid: false,
        reasons: vec![format!("轨迹无法评估 (the track cannot be assessed): {e}")],
    };
    match target {
        PatrolTarget::UnknownSegment { segment } => Ok(PatrolVerdict {
            valid: false,
            reasons: vec![match segment {
                Some(s) => {
                    format!("河段 {s} 不在服务器的河段名录中，巡河无法计入 (unknown river segment)")
                }
                None => "巡河没有指定河段，无法计入 (no river segment)".to_string(),
            }],
        }),
        PatrolTarget::River {
            segment,
            requirement,
        } => Ok(river_report(state, segment, requirement).map_or_else(unreadable, |r| r.verdict())),
        PatrolTarget::Grid { limits } => {
            let report = match assess_track_paused(&state.fixes, &state.paused_spans(), limits) {
                Ok(report) => report,
                Err(e) => return Ok(unreadable(e)),
            };
            let mut reasons: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
            if state.kind != Some(PatrolKind::Grid) {
                reasons.insert(0, "not a grid patrol".to_string());
            }
            let valid = reasons.is_empty() && report.verdict == TrackVerdict::Plausible;
            Ok(PatrolVerdict { valid, reasons })
        }
    }
}
