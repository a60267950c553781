//! Chinese map datums. Positions are stored in WGS-84; AMap and Tencent maps draw in
//! GCJ-02 (the 国测局 offset), Baidu in BD-09 (a further offset on GCJ-02), so positions
//! are converted at the edges: to draw on those maps, and from a point picked on them.
//!
//! WGS-84 → GCJ-02 is the widely published obfuscation formula (Krasovsky ellipsoid plus
//! trigonometric noise in longitude/latitude offsets from 105°E, 35°N); GCJ-02 → BD-09 is
//! Baidu's published rotation-and-scale. Neither has a closed-form inverse, so the
//! inverses here iterate the forward formula until the error is below 1e-10° (~0.01 mm),
//! far inside the 1 m round-trip requirement.
//!
//! Outside mainland China the offsets are not applied: positions come back unchanged.
//! "Mainland" is a coarse set of boxes (see [`in_mainland_china`]); Hong Kong, Macau and
//! Taiwan are outside.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

use super::LatLon;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Datum {
    /// GPS, and what fieldloop stores.
    Wgs84,
    /// AMap (高德), Tencent.
    Gcj02,
    /// Baidu.
    Bd09,
}

/// Converts `p` from one datum to another.
pub fn convert(p: LatLon, from: Datum, to: Datum) -> Result<LatLon> {
    p.validate()?;
    if !in_mainland_china(p.lat, p.lon) || from == to {
        return Ok(p);
    }
    let wgs = match from {
        Datum::Wgs84 => p,
        Datum::Gcj02 => gcj02_to_wgs84(p),
        Datum::Bd09 => gcj02_to_wgs84(bd09_to_gcj02(p)),
    };
    Ok(match to {
        Datum::Wgs84 => wgs,
        Datum::Gcj02 => wgs84_to_gcj02(wgs),
        Datum::Bd09 => gcj02_to_bd09(wgs84_to_gcj02(wgs)),
    })
}

// (lat_min, lat_max, lon_min, lon_max)
type Box4 = (f64, f64, f64, f64);

/// Coarse boxes over mainland China. Wide enough for every city; the belts along
/// land borders are approximate (a point within tens of kilometres of a land border may
/// be classed on the wrong side), which matters little for city field work.
const MAINLAND: &[Box4] = &[
    (18.1, 21.4, 108.5, 111.2), // Hainan, Leizhou
    (21.4, 26.5, 97.5, 122.0),  // the south
    (26.5, 42.0, 73.5, 123.0),  // the middle band, Xinjiang to Shanghai
    (39.0, 45.0, 123.0, 131.3), // Liaoning, Jilin
    (42.0, 49.2, 79.5, 97.0),   // northern Xinjiang
    (42.0, 42.8, 97.0, 111.0),  // Gansu, western Inner Mongolia
    (42.0, 53.6, 111.0, 135.1), // eastern Inner Mongolia, Heilongjiang
];

/// Places inside those boxes that are not mainland China.
const NOT_MAINLAND: &[Box4] = &[
    (21.8, 25.4, 119.3, 122.1),     // Taiwan, Penghu
    (22.15, 22.5, 113.83, 114.05),  // Hong Kong, Lantau side
    (22.15, 22.52, 114.05, 114.45), // Hong Kong, Kowloon and New Territories
    (22.1, 22.22, 113.52, 113.6),   // Macau
    (37.6, 41.6, 124.5, 130.7),     // North Korea
    (42.0, 45.0, 131.3, 135.1),     // Primorye (Vladivostok)
    (50.3, 53.6, 111.0, 120.0),     // Russia beyond the Argun
    (45.5, 49.2, 91.0, 97.0),       // western Mongolia
    (45.3, 49.2, 79.5, 82.3),       // Kazakhstan
    (40.5, 42.0, 73.5, 78.0),       // Kyrgyzstan
    (26.5, 34.5, 73.5, 78.7),       // Kashmir, northern India
    (26.3, 28.3, 80.0, 88.2),       // Nepal
    (26.5, 28.1, 88.7, 92.1),       // Bhutan
    (21.4, 22.4, 102.1, 106.6),     // northern Vietnam
];

fn in_box(lat: f64, lon: f64, b: &Box4) -> bool {
    lat >= b.0 && lat <= b.1 && lon >= b.2 && lon <= b.3
}

/// Whether the GCJ-02 / BD-09 offsets apply at this position (coarse; module docs).
pub fn in_mainland_china(lat: f64, lon: f64) -> bool {
    MAINLAND.iter().any(|b| in_box(lat, lon, b))
        && !NOT_MAINLAND.iter().any(|b| in_box(lat, lon, b))
}

/// Krasovsky 1940 semi-major axis and eccentricity², as the GCJ-02 formula uses them.
const KRASOVSKY_A: f64 = 6_378_245.0;
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;

fn gcj_noise_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn gcj_noise_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// The forward offset, applied unconditionally (callers decide where it applies).
fn wgs84_to_gcj02(p: LatLon) -> LatLon {
    let (x, y) = (p.lon - 105.0, p.lat - 35.0);
    let rad_lat = p.lat.to_radians();
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let d_lat = gcj_noise_lat(x, y) * 180.0
        / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lon = gcj_noise_lon(x, y) * 180.0 / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    LatLon {
        lat: p.lat + d_lat,
        lon: p.lon + d_lon,
    }
}

const BD_X_PI: f64 = PI * 3000.0 / 180.0;

fn gcj02_to_bd09(p: LatLon) -> LatLon {
    let (x, y) = (p.lon, p.lat);
    let z = (x * x + y * y).sqrt() + 0.000_02 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) + 0.000_003 * (x * BD_X_PI).cos();
    LatLon {
        lat: z * theta.sin() + 0.006,
        lon: z * theta.cos() + 0.0065,
    }
}

/// Solves `forward(x) = target` by fixed-point iteration; both offsets are small and
/// smooth, so each step cuts the error by orders of magnitude.
fn invert(target: LatLon, forward: fn(LatLon) -> LatLon) -> LatLon {
    let mut guess = target;
    for _ in 0..30 {
        let image = forward(guess);
        let (d_lat, d_lon) = (target.lat - image.lat, target.lon - image.lon);
        guess = LatLon {
            lat: guess.lat + d_lat,
            lon: guess.lon + d_lon,
        };
        if d_lat.abs() < 1e-10 && d_lon.abs() < 1e-10 {
            break;
        }
    }
    guess
}

fn gcj02_to_wgs84(p: LatLon) -> LatLon {
    invert(p, wgs84_to_gcj02)
}

fn bd09_to_gcj02(p: LatLon) -> LatLon {
    invert(p, gcj02_to_bd09)
}

/// WGS-84 → GCJ-02; unchanged outside mainland China.
pub fn to_gcj02(p: LatLon) -> Result<LatLon> {
    convert(p, Datum::Wgs84, Datum::Gcj02)
}

/// WGS-84 → BD-09; unchanged outside mainland China.
pub fn to_bd09(p: LatLon) -> Result<LatLon> {
    convert(p, Datum::Wgs84, Datum::Bd09)
}

/// GCJ-02 / BD-09 → WGS-84 (a point picked on a Chinese map); unchanged outside.
pub fn to_wgs84(p: LatLon, from: Datum) -> Result<LatLon> {
    convert(p, from, Datum::Wgs84)
}
