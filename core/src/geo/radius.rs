//! "Is this photo within R metres of the case?", with both positions' accuracy.
//!
//! **Rule**: the photo passes when `distance − a_photo − a_case ≤ R`, where each accuracy
//! `a` is the phone's reported radius capped at [`AccuracyPolicy::cap_m`]. Giving the
//! benefit of the doubt for GPS error keeps honest people from failing in an urban
//! canyon; the cap keeps a fix that claims 5 km of accuracy from passing everything —
//! past the cap a fix proves nothing more, so it earns no more slack.

use serde::{Deserialize, Serialize};

use super::{distance_m, validate_accuracy, validate_positive, LatLon};
use crate::doc::Position;
use crate::error::Result;

/// How much reported inaccuracy is forgiven.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AccuracyPolicy {
    /// The most slack one position's accuracy may add, in metres.
    pub cap_m: f64,
}

impl Default for AccuracyPolicy {
    /// 30 m: phones outdoors report 3–15 m; between tall buildings 20–50 m.
    fn default() -> Self {
        AccuracyPolicy { cap_m: 30.0 }
    }
}

/// The answer, with what a person needs to understand it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RadiusCheck {
    /// Great-circle distance between the two reported positions.
    pub distance_m: f64,
    pub radius_m: f64,
    /// Capped accuracy of the photo plus capped accuracy of the case.
    pub allowance_m: f64,
    pub within: bool,
    /// True when either accuracy was worse than the cap (the fix is weak evidence).
    pub accuracy_capped: bool,
}

impl RadiusCheck {
    /// A sentence for the person on site, e.g. "this photo is 240 m from the case
    /// (allowed 50 m + 20 m for GPS accuracy)".
    pub fn message(&self) -> String {
        let verdict = if self.within { "" } else { ": too far" };
        let weak = if self.accuracy_capped {
            "; the GPS fix is imprecise, wait for a better one"
        } else {
            ""
        };
        format!(
            "this photo is {:.0} m from the case (allowed {:.0} m + {:.0} m for GPS accuracy){verdict}{weak}",
            self.distance_m, self.radius_m, self.allowance_m
        )
    }
}

/// Checks a photo's position against the case's within `radius_m` (rule in module docs).
pub fn within_radius(
    photo: &Position,
    case: &Position,
    radius_m: f64,
    policy: &AccuracyPolicy,
) -> Result<RadiusCheck> {
    let photo_at = LatLon::new(photo.lat, photo.lon)?;
    let case_at = LatLon::new(case.lat, case.lon)?;
    validate_accuracy(photo.accuracy_m)?;
    validate_accuracy(case.accuracy_m)?;
    validate_positive("radius", radius_m)?;
    validate_accuracy(policy.cap_m)?;
    let distance = distance_m(photo_at, case_at);
    let allowance = photo.accuracy_m.min(policy.cap_m) + case.accuracy_m.min(policy.cap_m);
    Ok(RadiusCheck {
        distance_m: distance,
        radius_m,
        allowance_m: allowance,
        within: distance - allowance <= radius_m,
        accuracy_capped: photo.accuracy_m > policy.cap_m || case.accuracy_m > policy.cap_m,
    })
}
