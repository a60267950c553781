//! What a river patrol must show to count, from the plan rather than one global rule:
//! the chief's level comes from the chief (the highest level among the segments they are
//! assigned), the warning level from the segment patrolled, and the frequency table's
//! row for that pair gives the minimum duration and length on the patrol's day.

use chrono::NaiveDate;

use crate::patrol::PatrolRequirement;
use crate::plan::{ChiefLevel, FrequencyTable, Segment};
use crate::schedule::ChiefAssignment;
use crate::time::MINUTE;

/// A chief's level: the highest (city above district above town above village) of the
/// segments assigned to them; none when none of them is known.
pub fn chief_level(assignment: &ChiefAssignment, segments: &[Segment]) -> Option<ChiefLevel> {
    segments
        .iter()
        .filter(|s| assignment.segments.contains(&s.id))
        .map(|s| s.chief_level)
        .min()
}

/// The requirement a patrol by a chief of `level` on `segment` on `day` is judged
/// against: the table's minimum duration and length for that level and the segment's
/// warning level; coverage, speed, gaps and buffer from `base`. Without a row for the
/// pair, `base` itself.
pub fn river_requirement(
    table: &FrequencyTable,
    level: ChiefLevel,
    segment: &Segment,
    day: NaiveDate,
    base: &PatrolRequirement,
) -> PatrolRequirement {
    match table.lookup(level, segment.warning, day) {
        Some(row) => PatrolRequirement {
            min_duration: i64::from(row.min_duration_min) * MINUTE,
            min_length_m: f64::from(row.min_length_m),
            ..*base
        },
        None => *base,
    }
}
