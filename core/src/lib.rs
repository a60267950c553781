//! fieldloop core: the rules both the phone and the server run, plus the device's store
//! and sync client. The domain modules do no I/O: time is always passed in.

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

#[cfg(feature = "uniffi")]
use uuid::Uuid;

// Document and event ids cross the FFI as their canonical text form.
#[cfg(feature = "uniffi")]
uniffi::custom_type!(Uuid, String, {
    remote,
    lower: |id| id.to_string(),
    try_lift: |text| Ok(uuid::Uuid::parse_str(&text)?),
});

pub mod case;
pub mod catalogue;
pub mod custody;
pub mod doc;
pub mod error;
pub mod evaluation;
pub mod geo;
pub mod media;
pub mod notice;
pub mod patrol;
pub mod plan;
pub mod reference;
pub mod roles;
pub mod rules;
pub mod schedule;
pub mod sla;
pub mod status;
pub mod store;
pub mod sync;
pub mod time;
pub mod verify;

pub use error::{Error, PhotoProblem, Result};
