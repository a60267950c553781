//! Closure verification (验收核实): the server's verdict on a case, a notice or a patrol.
//! Sans-I/O: the server calls it when a verification arrives, and the phone calls the
//! very same function before the person leaves the site ("this photo is 240 m from the
//! case"), so a verdict rarely surprises.
//!
//! Facts about photos that only the photo pipeline knows (arrived? hash matched?
//! decodable? perceptual hash?) come in as plain inputs ([`UploadedPhoto`]), as do the
//! arrival times the server recorded and the evidence of other cases ([`ReuseIndex`]).

mod case;
mod custody;
mod exif;
mod notice;
mod patrol;
mod thresholds;

pub use case::{case_verdict_events, verify_case, CaseVerification};
pub use custody::{CustodyFacts, RegisteredKey};
pub use notice::{
    verify_notice, verify_notice_with, NoticeEvidence, NoticeOutcome, NOTICE_RADIUS_M,
};
pub use patrol::{verify_patrol, PatrolTarget};
pub use thresholds::{ThresholdProblem, VerifyThresholds};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::case::Verdict;
use crate::geo::AccuracyPolicy;
use crate::time::Millis;

/// Check names, as they appear in a verdict.
pub mod checks {
    pub const EVIDENCE: &str = "evidence";
    pub const UPLOADS: &str = "uploads";
    pub const PLACE: &str = "place";
    pub const TIME: &str = "time";
    pub const CLOCK: &str = "clock";
    pub const PEOPLE: &str = "people";
    pub const REUSE: &str = "reuse";
    pub const WORKFLOW: &str = "workflow";
    pub const DEADLINE: &str = "deadline";
    pub const SIGNATURE: &str = "signature";
    pub const EXIF: &str = "exif";
}

/// What the server knows about a photo it has received. A referenced photo absent from
/// the uploads map has not arrived yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct UploadedPhoto {
    /// The SHA-256 of the received bytes equals the address the document uses.
    pub hash_matches: bool,
    pub decodable: bool,
    /// The 64-bit perceptual hash computed on arrival; the evidence's own (device
    /// claimed) phash is used only when this is none.
    pub phash: Option<u64>,
}

/// When the server received each event and each photo's evidence entry, to bound the
/// device's clock. Empty on the phone (nothing has arrived anywhere yet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrivals {
    pub events: BTreeMap<Uuid, Millis>,
    pub evidence: BTreeMap<String, Millis>,
}

/// A photo used as evidence in another case, for perceptual reuse detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OtherEvidence {
    pub case_id: Uuid,
    pub hash: String,
    pub phash: u64,
}

/// Evidence of other cases: which cases use each content hash, and perceptual hashes of
/// their photos. The server fills it from its projections (the candidates it judges
/// relevant, e.g. the same district this year); this case's own entries are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReuseIndex {
    pub cases_by_hash: BTreeMap<String, Vec<Uuid>>,
    pub phashes: Vec<OtherEvidence>,
}

/// Thresholds of the checks, from a city's imported [`VerifyThresholds`] or their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct VerifyPolicy {
    pub accuracy: AccuracyPolicy,
    /// Two photos whose perceptual hashes differ in at most this many bits are the same
    /// picture (re-encoded, resized, slightly cropped).
    pub max_phash_distance: u32,
    /// How far a device's claimed time may be ahead of the server's clock (arrival, or
    /// now for "not in the future").
    pub max_clock_ahead: Millis,
    /// How long a device may hold an event or photo before it arrives: phones are
    /// offline for hours, not for days; a longer wait suggests a backdated clock.
    pub max_upload_delay: Millis,
    /// A case needs a before-photo to close (a hotline report gets one from the
    /// inspector who goes to look).
    pub require_before: bool,
    /// How far the time a phone claims may be from the photo's own EXIF time.
    #[serde(default = "default_exif_time_gap")]
    pub max_exif_time_gap: Millis,
    /// The zone (minutes east of UTC) an EXIF time without its own offset is read in:
    /// the deployment's local time, China's UTC+8 by default.
    #[serde(default = "default_exif_zone")]
    pub exif_zone_minutes: i32,
    /// What a camera's GPS may be off by beyond the phone's reported accuracy (EXIF GPS
    /// carries no accuracy of its own), in metres.
    #[serde(default = "default_exif_gps_slack")]
    pub exif_gps_slack_m: f64,
}

fn default_exif_time_gap() -> Millis {
    VerifyPolicy::default().max_exif_time_gap
}

fn default_exif_zone() -> i32 {
    VerifyPolicy::default().exif_zone_minutes
}

fn default_exif_gps_slack() -> f64 {
    VerifyPolicy::default().exif_gps_slack_m
}

impl Default for VerifyPolicy {
    /// The default thresholds ([`VerifyThresholds::default`]): what a city that never
    /// imported its own is judged by.
    fn default() -> Self {
        VerifyThresholds::default().policy()
    }
}

/// The result of a verification run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Outcome {
    /// Referenced photos have not arrived yet (content hashes, sorted); the verdict waits.
    Waiting {
        missing: Vec<String>,
    },
    Judged {
        verdict: Verdict,
    },
}

impl Outcome {
    pub fn verdict(&self) -> Option<&Verdict> {
        match self {
            Outcome::Judged { verdict } => Some(verdict),
            Outcome::Waiting { .. } => None,
        }
    }
}

/// Bits in which two 64-bit perceptual hashes differ (the photo pipeline's measure).
pub use crate::media::hamming;

/// The first 8 hex digits of a content hash, enough for a person to tell photos apart.
pub(crate) fn short(hash: &str) -> &str {
    hash.get(..8).unwrap_or(hash)
}
