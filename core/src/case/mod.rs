//! Cases (案件) of digital city management: the event types, the permission rows, the
//! lifecycle fold and the device-side document.
//!
//! How a case closes: reported → registered → dispatched → (accepted) → handled with
//! after-photos → an inspector's verification with photos → the server's verdict →
//! closed, or rework and round again. 自查自纠 goes reported → self_fixed → verification →
//! verdict. See [`state`] for every transition.

pub mod doc;
pub mod duplicates;
pub mod events;
pub mod state;

pub use doc::{CaseDoc, NewCase};
pub use duplicates::{nearby_duplicates, OpenCase};
pub use events::{kinds, CaseEvent, Check, DuplicateCandidate, DuplicateSuggested, Verdict};
pub use state::{
    fold, scopes_along, CaseFold, CaseState, CaseStatus, FieldConflict, Ignored, Suspension,
};

use crate::doc::EvidenceStage;
use crate::roles::{Role, Rule, ScopeCheck};

const INSPECTOR: &[Role] = &[Role::Inspector];
const DISPATCHER: &[Role] = &[Role::Dispatcher];
const HANDLER: &[Role] = &[Role::Handler];
const SERVER: &[Role] = &[Role::Server];
const ADMIN: &[Role] = &[Role::Admin];

/// Who may append which case event, and where. Inspectors act in their grid cells,
/// dispatchers under their grid prefixes (a street, a district), handlers for the unit the
/// case is dispatched to; the server alone judges, closes, warns and escalates.
pub const PERMISSIONS: &[Rule] = &[
    // A dispatcher files cases too: hotline (12319) calls become reports at the centre.
    rule(
        kinds::REPORTED,
        &[Role::Inspector, Role::Dispatcher],
        ScopeCheck::GridCell,
    ),
    rule(kinds::SELF_FIXED, INSPECTOR, ScopeCheck::GridCell),
    rule(
        kinds::VERIFICATION_SUBMITTED,
        INSPECTOR,
        ScopeCheck::GridCell,
    ),
    rule(kinds::REGISTERED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::REJECTED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::VOIDED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::MERGED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::DISPATCHED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::EXTENSION_GRANTED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::EXTENSION_DENIED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::SUSPENDED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::RESUMED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::ACCEPTED, HANDLER, ScopeCheck::Unit),
    rule(kinds::RETURNED_TO_DISPATCH, HANDLER, ScopeCheck::Unit),
    rule(kinds::EXTENSION_REQUESTED, HANDLER, ScopeCheck::Unit),
    rule(kinds::HANDLED, HANDLER, ScopeCheck::Unit),
    rule(kinds::VERDICT, SERVER, ScopeCheck::Anywhere),
    rule(kinds::CLOSED, SERVER, ScopeCheck::Anywhere),
    rule(kinds::REWORK, SERVER, ScopeCheck::Anywhere),
    // 督办: the dispatcher or a (grid) supervisor in their area, an admin anywhere, and
    // the scheduler past the escalation threshold.
    rule(
        kinds::SUPERVISED,
        &[Role::Dispatcher, Role::Supervisor],
        ScopeCheck::GridCell,
    ),
    rule(kinds::SUPERVISED, ADMIN, ScopeCheck::Anywhere),
    rule(kinds::RECALLED, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::SUSPENSION_REQUESTED, HANDLER, ScopeCheck::Unit),
    rule(kinds::SUSPENSION_DENIED, DISPATCHER, ScopeCheck::GridCell),
    // Corrections: an admin voids or reopens anywhere; each is in the log with its reason
    // and in the server's audit log.
    rule(kinds::VOIDED, ADMIN, ScopeCheck::Anywhere),
    rule(kinds::REOPENED, ADMIN, ScopeCheck::Anywhere),
    rule(kinds::DUPLICATE_SUGGESTED, SERVER, ScopeCheck::Anywhere),
    rule(kinds::DUPLICATE_KEPT, DISPATCHER, ScopeCheck::GridCell),
    rule(kinds::DEADLINE_WARNING, SERVER, ScopeCheck::Anywhere),
    rule(kinds::OVERDUE, SERVER, ScopeCheck::Anywhere),
    rule(kinds::ESCALATED, SERVER, ScopeCheck::Anywhere),
];

const fn rule(event: &'static str, roles: &'static [Role], scope: ScopeCheck) -> Rule {
    Rule {
        event,
        roles,
        scope,
    }
}

/// Who may attach which kind of photo to a case, and where they must be entitled to act;
/// none when the role may not attach that stage at all.
pub fn evidence_scope(stage: EvidenceStage, role: Role) -> Option<ScopeCheck> {
    match (stage, role) {
        (EvidenceStage::Before, Role::Inspector | Role::Dispatcher) => Some(ScopeCheck::GridCell),
        // An inspector's after-photos are 自查自纠.
        (EvidenceStage::After, Role::Inspector) => Some(ScopeCheck::GridCell),
        (EvidenceStage::After, Role::Handler) => Some(ScopeCheck::Unit),
        (EvidenceStage::Verification, Role::Inspector) => Some(ScopeCheck::GridCell),
        (_, Role::Server) => Some(ScopeCheck::Anywhere),
        _ => None,
    }
}
