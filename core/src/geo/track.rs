//! Track plausibility: is this GPS track something a person walking or riding a patrol
//! could have recorded? Length, duration, the fastest movement between fixes, gaps,
//! frozen (repeated identical) fixes and mock-location flags, each reported as a
//! finding, then a verdict.
//!
//! Mock fixes prove nothing, so they add neither length nor duration and are left out of
//! the other checks; their presence alone makes the track implausible. Speeds are the
//! ones the fixes *prove*: the distance between two fixes minus both (capped) accuracy
//! radii, over the time between them, so GPS jitter while standing still is not a
//! "teleport".
//!
//! A patrol may be paused (a break): a paused span is no patrol time. Fixes inside it are
//! left out, silence inside it is no gap, it does not count toward the duration, and the
//! two fixes either side of it are not compared for speed nor joined for length: nobody
//! recorded how the person got from one to the other.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{distance_m, validate_accuracy, validate_positive, LatLon};
use crate::error::{Error, Result};
use crate::time::{Millis, MINUTE, SECOND};

/// One GPS fix as the phone records it during a patrol.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Fix {
    pub t: Millis,
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub accuracy_m: f64,
    /// The OS said this fix came from a mock-location provider.
    #[serde(default)]
    pub mock: bool,
}

impl Fix {
    pub fn validate(&self) -> Result<()> {
        super::validate(self.lat, self.lon)?;
        validate_accuracy(self.accuracy_m)
    }

    pub fn at(&self) -> LatLon {
        LatLon {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// Thresholds; a patrol requirement may tighten them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PlausibilityLimits {
    /// Fastest believable movement, m/s.
    pub max_speed_mps: f64,
    /// Longest believable silence between fixes.
    pub max_gap: Millis,
    /// This many consecutive bit-identical fixes means a frozen or replayed feed: real
    /// GPS jitters even when standing still.
    pub max_identical_run: u32,
    /// Accuracy slack per fix is capped here (see module docs).
    pub accuracy_cap_m: f64,
}

impl Default for PlausibilityLimits {
    /// 30 km/h (an e-bike is limited to 25 km/h), 5 minutes, 10 fixes, 30 m.
    fn default() -> Self {
        PlausibilityLimits {
            max_speed_mps: 30.0 / 3.6,
            max_gap: 5 * MINUTE,
            max_identical_run: 10,
            accuracy_cap_m: 30.0,
        }
    }
}

/// One thing that makes a track doubtful.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Finding {
    /// Fewer than two usable fixes: nothing is proven.
    TooFewFixes { count: u32 },
    /// Moved faster than allowed between two consecutive fixes.
    TooFast {
        from_t: Millis,
        to_t: Millis,
        distance_m: f64,
        speed_mps: f64,
    },
    /// No fix for longer than allowed.
    Gap {
        from_t: Millis,
        to_t: Millis,
        duration: Millis,
    },
    /// A run of bit-identical consecutive fixes.
    IdenticalFixes {
        from_t: Millis,
        to_t: Millis,
        count: u32,
    },
    /// Fixes flagged as coming from a mock-location provider.
    MockLocation { count: u32, first_t: Millis },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::TooFewFixes { count } => write!(f, "only {count} usable GPS fixes"),
            Finding::TooFast {
                distance_m,
                speed_mps,
                ..
            } => write!(
                f,
                "moved {distance_m:.0} m at {:.0} km/h between two fixes",
                speed_mps * 3.6
            ),
            Finding::Gap { duration, .. } => {
                write!(f, "no GPS fix for {} s", duration / SECOND)
            }
            Finding::IdenticalFixes { count, .. } => {
                write!(
                    f,
                    "{count} identical GPS fixes in a row (frozen or replayed)"
                )
            }
            Finding::MockLocation { count, .. } => {
                write!(f, "{count} fixes from a mock-location app")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum TrackVerdict {
    Plausible,
    Implausible,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TrackReport {
    /// Fixes used (mock fixes excluded).
    pub fixes: u32,
    pub length_m: f64,
    /// From the first to the last usable fix, paused time left out.
    pub duration: Millis,
    /// Fastest proven speed between consecutive fixes, m/s.
    pub max_speed_mps: f64,
    pub findings: Vec<Finding>,
    /// Plausible exactly when there are no findings.
    pub verdict: TrackVerdict,
}

/// A span of time the patroller paused recording, `from..to` (a pause still running when
/// the track is judged ends at `Millis::MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    pub from: Millis,
    pub to: Millis,
}

impl Paused {
    /// Whether a fix at `t` was taken during the pause (its two ends are not).
    pub fn holds(&self, t: Millis) -> bool {
        self.from < t && t < self.to
    }

    /// How much of `from..to` this pause takes.
    fn overlap(&self, from: Millis, to: Millis) -> Millis {
        self.to.min(to).saturating_sub(self.from.max(from)).max(0)
    }
}

/// The paused time within `from..to` (pauses do not overlap: the fold opens one at a time).
pub fn paused_within(pauses: &[Paused], from: Millis, to: Millis) -> Millis {
    pauses
        .iter()
        .fold(0, |sum: Millis, p| sum.saturating_add(p.overlap(from, to)))
}

/// Whether a pause lies between two fixes at `from` and `to`, so they are not compared.
fn pause_between(pauses: &[Paused], from: Millis, to: Millis) -> bool {
    pauses.iter().any(|p| from <= p.from && p.from < to)
}

/// Assesses a track. Fixes may arrive in any order (batches merge from the log); they are
/// taken in time order. Invalid coordinates or limits are an error.
pub fn assess_track(fixes: &[Fix], limits: &PlausibilityLimits) -> Result<TrackReport> {
    assess_track_paused(fixes, &[], limits)
}

/// [`assess_track`] for a track with pauses (see module docs).
pub fn assess_track_paused(
    fixes: &[Fix],
    pauses: &[Paused],
    limits: &PlausibilityLimits,
) -> Result<TrackReport> {
    validate_positive("max speed", limits.max_speed_mps)?;
    validate_accuracy(limits.accuracy_cap_m)?;
    if limits.max_gap <= 0 {
        return Err(Error::invalid("max gap", "must be positive"));
    }
    for fix in fixes {
        fix.validate()?;
    }
    let mut findings = Vec::new();

    let mocks: Vec<&Fix> = fixes.iter().filter(|f| f.mock).collect();
    let mut real: Vec<Fix> = fixes
        .iter()
        .filter(|f| !f.mock && !pauses.iter().any(|p| p.holds(f.t)))
        .copied()
        .collect();
    real.sort_by_key(|f| f.t);

    let mut length = 0.0;
    let mut max_speed: f64 = 0.0;
    let mut run_start = 0;
    for (i, pair) in real.windows(2).enumerate() {
        let (a, b) = (pair[0], pair[1]);
        // Device-supplied times: saturate rather than overflow on absurd values.
        let dt = b.t.saturating_sub(a.t);
        if !pause_between(pauses, a.t, b.t) {
            let d = distance_m(a.at(), b.at());
            length += d;
            // Phones stamp fixes to the second or coarser: two fixes closer than that
            // still took a second to record.
            let seconds = dt.max(SECOND) as f64 / SECOND as f64;
            let proven = (d
                - a.accuracy_m.min(limits.accuracy_cap_m)
                - b.accuracy_m.min(limits.accuracy_cap_m))
            .max(0.0);
            let speed = proven / seconds;
            max_speed = max_speed.max(speed);
            if speed > limits.max_speed_mps {
                findings.push(Finding::TooFast {
                    from_t: a.t,
                    to_t: b.t,
                    distance_m: d,
                    speed_mps: speed,
                });
            }
        }
        let silent = dt.saturating_sub(paused_within(pauses, a.t, b.t));
        if silent > limits.max_gap {
            findings.push(Finding::Gap {
                from_t: a.t,
                to_t: b.t,
                duration: silent,
            });
        }
        let same = a.lat.to_bits() == b.lat.to_bits() && a.lon.to_bits() == b.lon.to_bits();
        if !same {
            push_run(&real, run_start, i, limits, &mut findings);
            run_start = i + 1;
        }
    }
    if !real.is_empty() {
        push_run(&real, run_start, real.len() - 1, limits, &mut findings);
    }
    if real.len() < 2 {
        findings.push(Finding::TooFewFixes {
            count: real.len() as u32,
        });
    }
    if let Some(first_t) = mocks.iter().map(|f| f.t).min() {
        findings.push(Finding::MockLocation {
            count: mocks.len() as u32,
            first_t,
        });
    }
    let duration = match (real.first(), real.last()) {
        (Some(first), Some(last)) => last
            .t
            .saturating_sub(first.t)
            .saturating_sub(paused_within(pauses, first.t, last.t)),
        _ => 0,
    };
    let verdict = if findings.is_empty() {
        TrackVerdict::Plausible
    } else {
        TrackVerdict::Implausible
    };
    Ok(TrackReport {
        fixes: real.len() as u32,
        length_m: length,
        duration,
        max_speed_mps: max_speed,
        findings,
        verdict,
    })
}

/// Reports fixes `start..=end` (all identical) when the run is too long.
fn push_run(
    fixes: &[Fix],
    start: usize,
    end: usize,
    limits: &PlausibilityLimits,
    findings: &mut Vec<Finding>,
) {
    let count = (end - start + 1) as u32;
    if count >= limits.max_identical_run.max(2) {
        findings.push(Finding::IdenticalFixes {
            from_t: fixes[start].t,
            to_t: fixes[end].t,
            count,
        });
    }
}
