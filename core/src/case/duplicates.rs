//! 疑似重复: which open cases a new case may duplicate. The same rule runs on the server
//! (over the open cases of the category its index finds around the new case) and on the
//! phone (over the open cases in its own store, before the person submits).

use uuid::Uuid;

use super::events::DuplicateCandidate;
use crate::catalogue::DuplicateRule;
use crate::geo::{distance_m, LatLon};
use crate::time::Millis;

/// An open case as a duplicate search sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenCase {
    pub id: Uuid,
    /// Category key ("20102").
    pub category: String,
    pub position: LatLon,
    pub reported_at: Millis,
}

/// The open cases of `category` within the rule's radius of `at` and reported within its
/// window of `when` (before or after: two phones offline may report the same thing in
/// either order), nearest first. `own` is the new case itself, never its own duplicate.
pub fn nearby_duplicates(
    rule: &DuplicateRule,
    own: Option<Uuid>,
    category: &str,
    at: LatLon,
    when: Millis,
    open: impl IntoIterator<Item = OpenCase>,
) -> Vec<DuplicateCandidate> {
    let window = rule.window_ms();
    let mut found: Vec<DuplicateCandidate> = open
        .into_iter()
        .filter(|c| Some(c.id) != own && c.category == category)
        .filter(|c| c.reported_at.abs_diff(when) <= window.unsigned_abs())
        .filter(|c| c.position.validate().is_ok())
        .filter_map(|c| {
            let distance = distance_m(at, c.position);
            (distance <= rule.radius_m).then_some(DuplicateCandidate {
                case_id: c.id,
                distance_m: (distance * 10.0).round() / 10.0,
                reported_at: c.reported_at,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        a.distance_m
            .total_cmp(&b.distance_m)
            .then(a.case_id.cmp(&b.case_id))
    });
    found
}

/// Latitude and longitude bounds (south, north, west, east) that hold every point within
/// `radius_m` of `at`, for an index query that a distance check then narrows.
pub fn search_box(at: LatLon, radius_m: f64) -> (f64, f64, f64, f64) {
    const M_PER_DEG_LAT: f64 = 111_000.0;
    // A little slack so rounding never drops a point right on the radius.
    let dlat = radius_m * 1.01 / M_PER_DEG_LAT;
    let cos = at.lat.to_radians().cos().max(0.01);
    let dlon = dlat / cos;
    (at.lat - dlat, at.lat + dlat, at.lon - dlon, at.lon + dlon)
}
