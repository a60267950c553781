//! Coverage: the share of a river segment lying within a buffer of a patrol track.
//!
//! Both lines are projected to local metres around the segment's start; the track's
//! pieces go in an R-tree; the segment is cut into pieces no longer than `step_m` and a
//! piece counts as covered when its midpoint lies within `buffer_m` of the track. The
//! error is at most one step per place where coverage starts or stops.

use ::geo::{Line, Point};
use rstar::RTree;
use serde::{Deserialize, Serialize};

use super::{distance_m, validate_positive, LatLon, LocalProjection};
use crate::error::{Error, Result};

/// Default sampling step along the segment, in metres.
pub const DEFAULT_STEP_M: f64 = 5.0;

const MAX_SAMPLES: f64 = 2_000_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Coverage {
    pub segment_length_m: f64,
    pub covered_length_m: f64,
    /// covered ÷ segment length, in [0, 1].
    pub share: f64,
}

/// How much of `segment` lies within `buffer_m` of `track` (see module docs).
/// An empty track covers nothing; a one-fix track covers around that fix.
pub fn segment_coverage(
    segment: &[LatLon],
    track: &[LatLon],
    buffer_m: f64,
    step_m: f64,
) -> Result<Coverage> {
    segment_coverage_legs(segment, &[track], buffer_m, step_m)
}

/// [`segment_coverage`] of a track recorded in legs (a patrol with pauses): the legs are
/// not joined, since nobody recorded the way from one leg to the next.
pub fn segment_coverage_legs(
    segment: &[LatLon],
    legs: &[&[LatLon]],
    buffer_m: f64,
    step_m: f64,
) -> Result<Coverage> {
    validate_positive("buffer", buffer_m)?;
    validate_positive("sampling step", step_m)?;
    for p in segment.iter().chain(legs.iter().copied().flatten()) {
        p.validate()?;
    }
    let total: f64 = segment.windows(2).map(|w| distance_m(w[0], w[1])).sum();
    let Some(origin) = segment.first() else {
        return Err(Error::invalid("river segment", "no points"));
    };
    if total <= 0.0 {
        return Err(Error::invalid("river segment", "has no length"));
    }
    // Bounds the work a bad input can cause (a segment across a continent, a 1 mm step).
    if total / step_m > MAX_SAMPLES {
        return Err(Error::invalid(
            "river segment",
            format!("{total:.0} m at a {step_m} m step needs too many samples"),
        ));
    }
    let projection = LocalProjection::new(*origin);
    let mut pieces: Vec<Line<f64>> = Vec::new();
    for leg in legs {
        let leg_m: Vec<_> = leg.iter().map(|p| projection.project(*p)).collect();
        match leg_m.as_slice() {
            [] => {}
            [only] => pieces.push(Line::new(*only, *only)),
            many => pieces.extend(many.windows(2).map(|w| Line::new(w[0], w[1]))),
        }
    }
    let tree = RTree::bulk_load(pieces);
    let buffer_sq = buffer_m * buffer_m;

    let mut covered = 0.0;
    let mut length = 0.0;
    for w in segment.windows(2) {
        let (a, b) = (projection.project(w[0]), projection.project(w[1]));
        // Measured on the sphere so the share's denominator matches `total` exactly.
        let piece_length = distance_m(w[0], w[1]);
        length += piece_length;
        let steps = (piece_length / step_m).ceil().max(1.0);
        let step_length = piece_length / steps;
        let n = steps as usize;
        for k in 0..n {
            let f = (k as f64 + 0.5) / steps;
            let mid = Point::new(a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f);
            if tree.locate_within_distance(mid, buffer_sq).next().is_some() {
                covered += step_length;
            }
        }
    }
    let covered = covered.min(length);
    Ok(Coverage {
        segment_length_m: length,
        covered_length_m: covered,
        share: covered / length,
    })
}
