//! The FFI surface: the only crate that knows UniFFI. One object, [`FieldPhone`], opened
//! on a store directory and a server URL; everything a person does in the field is a
//! method on it, each a thin call into `fieldloop-core` (store, sync client, uploader,
//! domain folds, verification pre-checks). Errors cross as one enum, [`FieldError`],
//! mapped from core's error in one place (`error.rs`). The apps keep the device's evidence
//! signing key sealed by the platform's key store through a [`KeyVault`] they implement
//! (`vault.rs`, [`FieldPhone::open_with_vault`]).
uniffi::setup_scaffolding!();

// Ids cross as text; core registers the conversion, this crate borrows it.
use uuid::Uuid;
uniffi::use_remote_type!(fieldloop_core::Uuid);

mod cases;
mod docs;
mod duplicates;
mod error;
mod inbox;
mod patrols;
mod phone;
mod quarantine;
mod reference;
mod session;
mod sites;
mod sync;
mod vault;

pub use cases::{CaseDraft, CaseView, EvidencePhoto, PhotoInput, PositionFix, PrecheckReport};
pub use duplicates::NearbyCase;
pub use error::FieldError;
pub use inbox::{InboxFilter, Task};
pub use patrols::{PatrolLive, PlanProgress, PlanWindow};
pub use phone::{FieldPhone, PhoneClock};
pub use quarantine::{QuarantinedChange, VerdictView};
pub use reference::{CategoryView, ProjectView, ReferenceInfo};
pub use session::{Me, Session};
pub use sites::{InspectionView, NoticeView};
pub use sync::{SyncHandle, SyncListener, SyncPhase, SyncProgress, SyncResult};
pub use vault::{KeyVault, VaultError};

/// The version of the core the app is running, so the app can show it in its about screen.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
