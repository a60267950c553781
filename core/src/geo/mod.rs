//! Geometry for field work: which grid cell a point lies in, whether a photo was taken
//! near its case, whether a patrol track is believable, how much of a river segment a
//! track covered, and the Chinese map datums (GCJ-02, BD-09) at the edges.
//!
//! Everything takes and gives WGS-84 latitude / longitude in degrees. Every public entry
//! point validates its coordinates first: NaN, infinities and out-of-range values are an
//! [`Error::Invalid`], never a panic and never a silently wrong answer.

pub mod china;
pub mod coverage;
pub mod grid;
pub mod radius;
pub mod track;

use ::geo::{Coord, Distance, Haversine, Point};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use china::{convert, in_mainland_china, Datum};
pub use coverage::{segment_coverage, segment_coverage_legs, Coverage};
pub use grid::{GridCell, GridIndex};
pub use radius::{within_radius, AccuracyPolicy, RadiusCheck};
pub use track::{
    assess_track, assess_track_paused, paused_within, Finding, Fix, Paused, PlausibilityLimits,
    TrackReport, TrackVerdict,
};

/// A WGS-84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    /// A checked position: finite, latitude in [-90, 90], longitude in [-180, 180].
    pub fn new(lat: f64, lon: f64) -> Result<LatLon> {
        validate(lat, lon)?;
        Ok(LatLon { lat, lon })
    }

    pub fn validate(&self) -> Result<()> {
        validate(self.lat, self.lon)
    }

    /// As a planar coordinate in degrees (x = longitude, y = latitude), the order `geo` uses.
    pub(crate) fn coord(&self) -> Coord<f64> {
        Coord {
            x: self.lon,
            y: self.lat,
        }
    }
}

/// Rejects NaN, infinite and out-of-range coordinates with a typed error.
pub fn validate(lat: f64, lon: f64) -> Result<()> {
    if !lat.is_finite() || !lon.is_finite() {
        return Err(Error::invalid(
            "coordinate",
            format!("latitude {lat}, longitude {lon}: not a number"),
        ));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(Error::invalid(
            "coordinate",
            format!("latitude {lat} is outside [-90, 90]"),
        ));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(Error::invalid(
            "coordinate",
            format!("longitude {lon} is outside [-180, 180]"),
        ));
    }
    Ok(())
}

/// Rejects a negative or non-finite accuracy radius.
pub fn validate_accuracy(accuracy_m: f64) -> Result<()> {
    if !accuracy_m.is_finite() || accuracy_m < 0.0 {
        return Err(Error::invalid(
            "accuracy",
            format!("{accuracy_m} m is not a non-negative distance"),
        ));
    }
    Ok(())
}

/// Checks a caller-supplied distance parameter (radius, buffer, step): finite and > 0.
pub(crate) fn validate_positive(what: &'static str, value: f64) -> Result<()> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Error::invalid(
            what,
            format!("{value} must be a positive number"),
        ));
    }
    Ok(())
}

/// Great-circle distance in metres (haversine on the GRS80 mean radius). Inputs are
/// assumed valid; public callers validate first.
pub fn distance_m(a: LatLon, b: LatLon) -> f64 {
    Haversine.distance(Point::new(a.lon, a.lat), Point::new(b.lon, b.lat))
}

/// Metres per degree of latitude on the sphere `distance_m` uses.
const M_PER_DEG: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

/// A local equirectangular projection to metres around an origin. Over the few
/// kilometres of a river segment or a patrol its scale error stays below 0.1 %, which is
/// far inside GPS noise, and it is cheap enough to project thousands of points.
#[derive(Debug, Clone, Copy)]
pub struct LocalProjection {
    origin: LatLon,
    m_per_deg_lon: f64,
}

impl LocalProjection {
    pub fn new(origin: LatLon) -> LocalProjection {
        LocalProjection {
            origin,
            m_per_deg_lon: M_PER_DEG * origin.lat.to_radians().cos(),
        }
    }

    /// Metres east (x) and north (y) of the origin.
    pub fn project(&self, p: LatLon) -> Coord<f64> {
        Coord {
            x: (p.lon - self.origin.lon) * self.m_per_deg_lon,
            y: (p.lat - self.origin.lat) * M_PER_DEG,
        }
    }
}
