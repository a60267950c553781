//! Rectification notices (整改通知单) for water-works sites: the clause library, the
//! site-inspection checklist of a stage, and the notice made of its failed items, closed
//! item by item (对账销号).
//!
//! Two documents: a site inspection (`DocKind::SiteInspection`, header category = stage
//! key) and a notice (`DocKind::Notice`). Both are folds over their sorted event logs; an
//! event that is illegal where it lands is listed in `ignored` with a reason and changes
//! nothing.

mod clauses;
mod inspection;
mod rectification;

pub use clauses::{Answer, Checklist, ChecklistItem, Clause, ClauseLibrary, Severity, Stage};
pub use inspection::{fold_inspection, InspectionAnswered, InspectionState};
pub use rectification::{
    draft_notice, fold_notice, named_contractor_acts, ItemConfirmed, ItemRejected, ItemReplied,
    ItemState, ItemStatus, NoticeIssued, NoticeItem, NoticeState, NoticeStatus, NoticeVerdict,
    NoticeWarned,
};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::doc::Event;
use crate::roles::{Role, Rule, ScopeCheck};
use crate::time::Millis;

pub const INSPECTION_ANSWERED: &str = "inspection.answered";
pub const INSPECTION_SUBMITTED: &str = "inspection.submitted";
pub const NOTICE_ISSUED: &str = "notice.issued";
pub const NOTICE_SIGNED: &str = "notice.signed";
pub const NOTICE_ITEM_REPLIED: &str = "notice.item_replied";
pub const NOTICE_ITEM_CONFIRMED: &str = "notice.item_confirmed";
pub const NOTICE_ITEM_REJECTED: &str = "notice.item_rejected";
pub const NOTICE_WARNED: &str = "notice.warned";
pub const NOTICE_VERDICT: &str = "notice.verdict";
pub const NOTICE_CLOSED: &str = "notice.closed";

/// Who may write each inspection and notice event: the supervisor and the contractor of
/// the project; verdicts, closures and deadline warnings only the server.
pub const PERMISSIONS: &[Rule] = &[
    Rule {
        event: INSPECTION_ANSWERED,
        roles: &[Role::Supervisor],
        scope: ScopeCheck::Project,
    },
    Rule {
        event: INSPECTION_SUBMITTED,
        roles: &[Role::Supervisor],
        scope: ScopeCheck::Project,
    },
    Rule {
        event: NOTICE_ISSUED,
        roles: &[Role::Supervisor],
        scope: ScopeCheck::Project,
    },
    Rule {
        event: NOTICE_SIGNED,
        roles: &[Role::Contractor],
        scope: ScopeCheck::Project,
    },
    Rule {
        event: NOTICE_ITEM_REPLIED,
        roles: &[Role::Contractor],
        scope: ScopeCheck::Project,
    },
    Rule {
        event: NOTICE_ITEM_CONFIRMED,
        roles: &[Role::Supervisor],
        scope: ScopeCheck::Project,
    },
    Rule {
        event: NOTICE_ITEM_REJECTED,
        roles: &[Role::Supervisor],
        scope: ScopeCheck::Project,
    },
    Rule {
        event: NOTICE_WARNED,
        roles: &[Role::Server],
        scope: ScopeCheck::Anywhere,
    },
    Rule {
        event: NOTICE_VERDICT,
        roles: &[Role::Server],
        scope: ScopeCheck::Anywhere,
    },
    Rule {
        event: NOTICE_CLOSED,
        roles: &[Role::Server],
        scope: ScopeCheck::Anywhere,
    },
];

/// An event the fold did not apply, kept for the audit trail with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct IgnoredEvent {
    pub event_id: Uuid,
    pub kind: String,
    pub at: Millis,
    pub by: String,
    pub reason: String,
}

impl IgnoredEvent {
    pub fn new(event: &Event, reason: impl Into<String>) -> IgnoredEvent {
        IgnoredEvent {
            event_id: event.id,
            kind: event.kind.clone(),
            at: event.at,
            by: event.by.clone(),
            reason: reason.into(),
        }
    }
}

/// The fold's own role check: the permission table guards writes, but a fold must not
/// trust a log that reached it some other way.
pub(crate) fn role_check(rules: &[Rule], event: &Event) -> Result<(), String> {
    let Some(rule) = rules.iter().find(|r| r.event == event.kind) else {
        return Err(format!("unknown event type {}", event.kind));
    };
    if rule.roles.contains(&event.role) {
        Ok(())
    } else {
        Err(format!("a {} may not write {}", event.role, event.kind))
    }
}
