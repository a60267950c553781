//! The case event types and their mapping to and from the document's generic [`Event`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue::Urgency;
use crate::doc::Event;
use crate::error::{Error, Result};
use crate::roles::Role;
use crate::sla::TimeLimit;
use crate::time::Millis;

/// Event type names as they appear in the log and in the permission table.
pub mod kinds {
    pub const REPORTED: &str = "case.reported";
    pub const SELF_FIXED: &str = "case.self_fixed";
    pub const REGISTERED: &str = "case.registered";
    pub const REJECTED: &str = "case.rejected";
    pub const VOIDED: &str = "case.voided";
    pub const MERGED: &str = "case.merged";
    pub const DISPATCHED: &str = "case.dispatched";
    pub const ACCEPTED: &str = "case.accepted";
    pub const RETURNED_TO_DISPATCH: &str = "case.returned_to_dispatch";
    pub const EXTENSION_REQUESTED: &str = "case.extension_requested";
    pub const EXTENSION_GRANTED: &str = "case.extension_granted";
    pub const EXTENSION_DENIED: &str = "case.extension_denied";
    pub const SUSPENDED: &str = "case.suspended";
    pub const RESUMED: &str = "case.resumed";
    pub const HANDLED: &str = "case.handled";
    pub const VERIFICATION_SUBMITTED: &str = "case.verification_submitted";
    pub const VERDICT: &str = "case.verdict";
    pub const CLOSED: &str = "case.closed";
    pub const REWORK: &str = "case.rework";
    pub const SUPERVISED: &str = "case.supervised";
    /// The dispatcher takes a case back from a unit that does not act (收回).
    pub const RECALLED: &str = "case.recalled";
    /// The handler asks for 挂账 / 缓办; the dispatcher suspends (approves) or denies.
    pub const SUSPENSION_REQUESTED: &str = "case.suspension_requested";
    pub const SUSPENSION_DENIED: &str = "case.suspension_denied";
    /// An admin reopens a case that ended (voided, rejected, merged, closed) by mistake.
    pub const REOPENED: &str = "case.reopened";
    /// The server found open cases of the same category close by (疑似重复): the
    /// dispatcher merges the new case into one of them or keeps it.
    pub const DUPLICATE_SUGGESTED: &str = "case.duplicate_suggested";
    /// The dispatcher looked at the suggestion and keeps the case as a case of its own.
    pub const DUPLICATE_KEPT: &str = "case.duplicate_kept";
    pub const DEADLINE_WARNING: &str = "case.deadline_warning";
    pub const OVERDUE: &str = "case.overdue";
    pub const ESCALATED: &str = "case.escalated";
}

/// 信息收集: what the inspector saw. Before-photos are in the evidence map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Reported {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub urgency: Urgency,
    /// 16-digit 部件标识码, for a component case when the inspector read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    /// Content hashes of the before-photos.
    #[serde(default)]
    pub photos: Vec<String>,
}

/// 自查自纠: the inspector fixed it on the spot; before and after photos of one visit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SelfFixed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// 立案. The dispatcher may correct the urgency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Registered {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A reason a person wrote (rejection, voiding, return, denial, suspension, rework, 督办).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Reason {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Merged {
    /// The case this one duplicates.
    pub duplicate_of: Uuid,
}

/// One open case a new one may duplicate, and how far apart they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DuplicateCandidate {
    pub case_id: Uuid,
    pub distance_m: f64,
    /// When the other case was reported.
    pub reported_at: Millis,
}

/// 疑似重复, written by the server when the case arrives or is registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DuplicateSuggested {
    /// Nearest first.
    pub candidates: Vec<DuplicateCandidate>,
}

/// 派遣 to a responsible unit; the deadline clock starts here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Dispatched {
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// No payload: who and when are the event's own fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ExtensionRequested {
    pub extension: TimeLimit,
    pub reason: String,
}

/// The granted extension may differ from the one asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ExtensionGranted {
    pub extension: TimeLimit,
}

/// 处置 done, with after-photos (content hashes, present in the evidence map as `after`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Handled {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub photos: Vec<String>,
}

/// 核查: the inspector's on-site check, with verification photos.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct VerificationSubmitted {
    /// The inspector's own view: does the fix look done?
    pub fixed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub photos: Vec<String>,
}

/// One check of the server's verdict, with a reason a person can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Verdict {
    pub checks: Vec<Check>,
}

impl Verdict {
    /// A verdict with no checks proves nothing, so it does not pass.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }
}

/// 督办: a dispatcher's, supervisor's or admin's order to act, with a new due time, or
/// the scheduler's own once a case is past the escalation threshold (`automatic`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Supervision {
    pub reason: String,
    /// The time the unit must now act by (the phone shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Millis>,
    #[serde(default)]
    pub automatic: bool,
}

/// A deadline band change the server noticed (预警 / 超期).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DeadlineNotice {
    pub deadline: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Escalated {
    /// Who the case now goes to (a higher-level centre, a leader).
    pub to: String,
    pub reason: String,
}

/// Every case event, typed. The log stores it as `doc::Event { kind, data }`.
// No UniFFI derive here: the bindings expose one call per event type instead.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseEvent {
    Reported(Reported),
    SelfFixed(SelfFixed),
    Registered(Registered),
    Rejected(Reason),
    Voided(Reason),
    Merged(Merged),
    Dispatched(Dispatched),
    Accepted(Empty),
    ReturnedToDispatch(Reason),
    ExtensionRequested(ExtensionRequested),
    ExtensionGranted(ExtensionGranted),
    ExtensionDenied(Reason),
    Suspended(Reason),
    Resumed(Empty),
    Handled(Handled),
    VerificationSubmitted(VerificationSubmitted),
    Verdict(Verdict),
    Closed(Empty),
    Rework(Reason),
    Supervised(Supervision),
    Recalled(Reason),
    SuspensionRequested(Reason),
    SuspensionDenied(Reason),
    Reopened(Reason),
    DuplicateSuggested(DuplicateSuggested),
    DuplicateKept(Reason),
    DeadlineWarning(DeadlineNotice),
    Overdue(DeadlineNotice),
    Escalated(Escalated),
}

impl CaseEvent {
    pub fn kind(&self) -> &'static str {
        use kinds::*;
        match self {
            CaseEvent::Reported(_) => REPORTED,
            CaseEvent::SelfFixed(_) => SELF_FIXED,
            CaseEvent::Registered(_) => REGISTERED,
            CaseEvent::Rejected(_) => REJECTED,
            CaseEvent::Voided(_) => VOIDED,
            CaseEvent::Merged(_) => MERGED,
            CaseEvent::Dispatched(_) => DISPATCHED,
            CaseEvent::Accepted(_) => ACCEPTED,
            CaseEvent::ReturnedToDispatch(_) => RETURNED_TO_DISPATCH,
            CaseEvent::ExtensionRequested(_) => EXTENSION_REQUESTED,
            CaseEvent::ExtensionGranted(_) => EXTENSION_GRANTED,
            CaseEvent::ExtensionDenied(_) => EXTENSION_DENIED,
            CaseEvent::Suspended(_) => SUSPENDED,
            CaseEvent::Resumed(_) => RESUMED,
            CaseEvent::Handled(_) => HANDLED,
            CaseEvent::VerificationSubmitted(_) => VERIFICATION_SUBMITTED,
            CaseEvent::Verdict(_) => VERDICT,
            CaseEvent::Closed(_) => CLOSED,
            CaseEvent::Rework(_) => REWORK,
            CaseEvent::Supervised(_) => SUPERVISED,
            CaseEvent::Recalled(_) => RECALLED,
            CaseEvent::SuspensionRequested(_) => SUSPENSION_REQUESTED,
            CaseEvent::SuspensionDenied(_) => SUSPENSION_DENIED,
            CaseEvent::Reopened(_) => REOPENED,
            CaseEvent::DuplicateSuggested(_) => DUPLICATE_SUGGESTED,
            CaseEvent::DuplicateKept(_) => DUPLICATE_KEPT,
            CaseEvent::DeadlineWarning(_) => DEADLINE_WARNING,
            CaseEvent::Overdue(_) => OVERDUE,
            CaseEvent::Escalated(_) => ESCALATED,
        }
    }

    /// The `data` part of the stored event.
    pub fn data(&self) -> Result<serde_json::Value> {
        let value = match self {
            CaseEvent::Reported(d) => serde_json::to_value(d),
            CaseEvent::SelfFixed(d) => serde_json::to_value(d),
            CaseEvent::Registered(d) => serde_json::to_value(d),
            CaseEvent::Rejected(d)
            | CaseEvent::Voided(d)
            | CaseEvent::ReturnedToDispatch(d)
            | CaseEvent::ExtensionDenied(d)
            | CaseEvent::Suspended(d)
            | CaseEvent::Rework(d)
            | CaseEvent::Recalled(d)
            | CaseEvent::SuspensionRequested(d)
            | CaseEvent::SuspensionDenied(d)
            | CaseEvent::Reopened(d)
            | CaseEvent::DuplicateKept(d) => serde_json::to_value(d),
            CaseEvent::DuplicateSuggested(d) => serde_json::to_value(d),
            CaseEvent::Supervised(d) => serde_json::to_value(d),
            CaseEvent::Merged(d) => serde_json::to_value(d),
            CaseEvent::Dispatched(d) => serde_json::to_value(d),
            CaseEvent::Accepted(_) | CaseEvent::Resumed(_) | CaseEvent::Closed(_) => {
                Ok(serde_json::Value::Null)
            }
            CaseEvent::ExtensionRequested(d) => serde_json::to_value(d),
            CaseEvent::ExtensionGranted(d) => serde_json::to_value(d),
            CaseEvent::Handled(d) => serde_json::to_value(d),
            CaseEvent::VerificationSubmitted(d) => serde_json::to_value(d),
            CaseEvent::Verdict(d) => serde_json::to_value(d),
            CaseEvent::DeadlineWarning(d) | CaseEvent::Overdue(d) => serde_json::to_value(d),
            CaseEvent::Escalated(d) => serde_json::to_value(d),
        }?;
        Ok(value)
    }

    /// Wraps this as a log entry.
    pub fn to_event(&self, id: Uuid, at: Millis, by: &str, role: Role) -> Result<Event> {
        Ok(Event::new(id, self.kind(), at, by, role, self.data()?))
    }

    /// Reads a log entry. An unknown type or malformed data is a typed error; the fold
    /// turns it into an ignored entry.
    pub fn from_event(event: &Event) -> Result<CaseEvent> {
        use kinds::*;
        // Events without payload may be stored with null data; structs read them as {}.
        let e = if event.data.is_null() {
            let mut e = event.clone();
            e.data = serde_json::Value::Object(Default::default());
            std::borrow::Cow::Owned(e)
        } else {
            std::borrow::Cow::Borrowed(event)
        };
        Ok(match e.kind.as_str() {
            REPORTED => CaseEvent::Reported(e.data_as()?),
            SELF_FIXED => CaseEvent::SelfFixed(e.data_as()?),
            REGISTERED => CaseEvent::Registered(e.data_as()?),
            REJECTED => CaseEvent::Rejected(e.data_as()?),
            VOIDED => CaseEvent::Voided(e.data_as()?),
            MERGED => CaseEvent::Merged(e.data_as()?),
            DISPATCHED => CaseEvent::Dispatched(e.data_as()?),
            ACCEPTED => CaseEvent::Accepted(e.data_as()?),
            RETURNED_TO_DISPATCH => CaseEvent::ReturnedToDispatch(e.data_as()?),
            EXTENSION_REQUESTED => CaseEvent::ExtensionRequested(e.data_as()?),
            EXTENSION_GRANTED => CaseEvent::ExtensionGranted(e.data_as()?),
            EXTENSION_DENIED => CaseEvent::ExtensionDenied(e.data_as()?),
            SUSPENDED => CaseEvent::Suspended(e.data_as()?),
            RESUMED => CaseEvent::Resumed(e.data_as()?),
            HANDLED => CaseEvent::Handled(e.data_as()?),
            VERIFICATION_SUBMITTED => CaseEvent::VerificationSubmitted(e.data_as()?),
            VERDICT => CaseEvent::Verdict(e.data_as()?),
            CLOSED => CaseEvent::Closed(e.data_as()?),
            REWORK => CaseEvent::Rework(e.data_as()?),
            SUPERVISED => CaseEvent::Supervised(e.data_as()?),
            RECALLED => CaseEvent::Recalled(e.data_as()?),
            SUSPENSION_REQUESTED => CaseEvent::SuspensionRequested(e.data_as()?),
            SUSPENSION_DENIED => CaseEvent::SuspensionDenied(e.data_as()?),
            REOPENED => CaseEvent::Reopened(e.data_as()?),
            DUPLICATE_SUGGESTED => CaseEvent::DuplicateSuggested(e.data_as()?),
            DUPLICATE_KEPT => CaseEvent::DuplicateKept(e.data_as()?),
            DEADLINE_WARNING => CaseEvent::DeadlineWarning(e.data_as()?),
            OVERDUE => CaseEvent::Overdue(e.data_as()?),
            ESCALATED => CaseEvent::Escalated(e.data_as()?),
            other => {
                return Err(Error::invalid(
                    "case event",
                    format!("unknown event type {other:?}"),
                ))
            }
        })
    }
}
