//! Which requirement the referee judges a river patrol against: the plan's minimums for
//! the chief's level (from the chief's assignments) and the segment's warning level,
//! through `fieldloop_core::schedule::{chief_level, river_requirement}`.

use fieldloop_core::patrol::{PatrolRequirement, PatrolState};
use fieldloop_core::schedule::{chief_level, river_requirement};

use crate::error::Result;
use crate::state::AppState;

/// The requirement for `patrol` on `segment_id`; the deployment's global one when the
/// chief or the segment is not in the reference data.
pub async fn requirement_for(
    state: &AppState,
    patrol: &PatrolState,
    segment_id: &str,
) -> Result<PatrolRequirement> {
    let reference = &state.reference.current();
    let base = reference.patrol_requirement;
    let Some(segment) = reference.river_segments.iter().find(|s| s.id == segment_id) else {
        return Ok(base);
    };
    // Assignments name chiefs by username; the patrol's log by user id.
    let username = match patrol.patroller.as_deref() {
        Some(id) => state.users.user_by_id(id).await?.map(|u| u.username),
        None => None,
    };
    let level = username
        .and_then(|name| reference.chiefs.iter().find(|a| a.chief == name))
        .and_then(|assignment| chief_level(assignment, &reference.river_segments))
        .unwrap_or(segment.chief_level);
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    let day = patrol
        .started_at
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.with_timezone(&china).date_naive());
    Ok(match day {
        Some(day) => river_requirement(&reference.frequency, level, segment, day, &base),
        None => base,
    })
}
