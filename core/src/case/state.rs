//! The case lifecycle: state = fold(events). This is the one place that knows which event
//! may follow which. An event that is illegal where it lands stays in the log and is listed
//! in `ignored` with the reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::{kinds, CaseEvent, Verdict};
use super::PERMISSIONS;
use crate::catalogue::{parse_component_id, Urgency};
use crate::doc::{DocScope, Event, Evidence, EvidenceStage, Header, Snapshot};
use crate::roles::Role;
use crate::sla::{LimitUnit, TimeLimit};
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum CaseStatus {
    /// No valid `case.reported` yet.
    New,
    Reported,
    /// 自查自纠 done by the inspector; waits for verification and verdict.
    SelfFixed,
    /// 立案; also where a case returned to dispatch waits for a new unit.
    Registered,
    Rejected,
    Voided,
    Merged,
    Dispatched,
    Accepted,
    Handled,
    VerificationSubmitted,
    /// The server's verdict is in; closed or rework follows.
    Judged,
    Closed,
    Rework,
}

impl CaseStatus {
    /// The case has ended: every later event is ignored.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CaseStatus::Rejected | CaseStatus::Voided | CaseStatus::Merged | CaseStatus::Closed
        )
    }

    /// A unit is working on it: the deadline clock runs (unless suspended).
    pub fn is_with_unit(self) -> bool {
        matches!(
            self,
            CaseStatus::Dispatched | CaseStatus::Accepted | CaseStatus::Rework
        )
    }
}

/// A suspension (挂账/缓办); `to` is none while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Suspension {
    pub from: Millis,
    pub to: Option<Millis>,
}

pub use crate::doc::Ignored;

/// An editable field (description, address) two people set concurrently offline: both
/// values are kept and the case shows 冲突 until someone allowed to edit picks one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FieldConflict {
    pub field: String,
    pub values: Vec<String>,
}

/// Granted extensions summed per unit; the working calendar turns them into time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ExtensionTotal {
    pub working_hours: u32,
    pub working_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CaseState {
    pub id: Uuid,
    /// Category key from the header ("20101").
    pub category: Option<String>,
    pub status: CaseStatus,
    pub urgency: Urgency,
    pub component_id: Option<String>,
    pub reporter: Option<String>,
    /// The responsible unit while dispatched; none before dispatch and after a return.
    pub unit: Option<String>,
    pub accepted_by: Option<String>,
    pub handler: Option<String>,
    pub verifier: Option<String>,
    pub duplicate_of: Option<Uuid>,
    /// The server's 疑似重复 waiting for the dispatcher (merge or keep); empty when none.
    pub duplicate_candidates: Vec<super::events::DuplicateCandidate>,
    /// The dispatcher kept the case after a suggestion: the server does not ask again.
    pub duplicate_kept: bool,
    pub reported_at: Option<Millis>,
    pub registered_at: Option<Millis>,
    pub first_dispatched_at: Option<Millis>,
    /// The deadline clock starts here (the latest dispatch).
    pub dispatched_at: Option<Millis>,
    pub accepted_at: Option<Millis>,
    pub handled_at: Option<Millis>,
    pub verification_at: Option<Millis>,
    pub verdict_at: Option<Millis>,
    pub closed_at: Option<Millis>,
    /// When the case ended whichever way (closed, rejected, voided, merged).
    pub ended_at: Option<Millis>,
    pub last_verdict: Option<Verdict>,
    pub pending_extension: Option<TimeLimit>,
    pub extensions: Vec<TimeLimit>,
    pub total_extension: ExtensionTotal,
    pub suspensions: Vec<Suspension>,
    pub returns: u32,
    pub rework_count: u32,
    pub self_fixed: bool,
    pub supervised: bool,
    pub supervision_count: u32,
    /// The latest 督办: its reason and the new due time it set, shown on the handler's
    /// phone.
    pub supervision_reason: Option<String>,
    pub supervision_due: Option<Millis>,
    /// A handler's 挂账 / 缓办 request waiting for the dispatcher.
    pub pending_suspension: Option<String>,
    /// Why the case is back in the dispatcher's queue (a handler's 退回 or the
    /// dispatcher's 收回); none once dispatched again.
    pub back_to_dispatch: Option<String>,
    /// Times the dispatcher took the case back from a unit.
    pub recalls: u32,
    /// Times an admin reopened the case after it ended.
    pub reopened: u32,
    pub warned_at: Option<Millis>,
    pub overdue_at: Option<Millis>,
    pub escalated_to: Option<String>,
    /// Fields with concurrent values (冲突); empty when every field is settled.
    pub field_conflicts: Vec<FieldConflict>,
    pub ignored: Vec<Ignored>,
}

impl CaseState {
    pub fn new(header: &Header) -> CaseState {
        CaseState {
            id: header.id,
            category: header.category.clone(),
            status: CaseStatus::New,
            urgency: Urgency::Normal,
            component_id: None,
            reporter: None,
            unit: None,
            accepted_by: None,
            handler: None,
            verifier: None,
            duplicate_of: None,
            duplicate_candidates: Vec::new(),
            duplicate_kept: false,
            reported_at: None,
            registered_at: None,
            first_dispatched_at: None,
            dispatched_at: None,
            accepted_at: None,
            handled_at: None,
            verification_at: None,
            verdict_at: None,
            closed_at: None,
            ended_at: None,
            last_verdict: None,
            pending_extension: None,
            extensions: Vec::new(),
            total_extension: ExtensionTotal::default(),
            suspensions: Vec::new(),
            returns: 0,
            rework_count: 0,
            self_fixed: false,
            supervised: false,
            supervision_count: 0,
            supervision_reason: None,
            supervision_due: None,
            pending_suspension: None,
            back_to_dispatch: None,
            recalls: 0,
            reopened: 0,
            warned_at: None,
            overdue_at: None,
            escalated_to: None,
            field_conflicts: Vec::new(),
            ignored: Vec::new(),
        }
    }

    /// A 退回 (by the handler) or 收回 (by the dispatcher): the case waits for dispatch
    /// again, with no unit and no pending request, and the dispatcher's queue says why.
    fn back_to_registered(&mut self, note: String) {
        self.status = CaseStatus::Registered;
        self.unit = None;
        self.pending_extension = None;
        self.pending_suspension = None;
        self.back_to_dispatch = Some(note);
    }

    pub fn is_suspended(&self) -> bool {
        self.suspensions.last().is_some_and(|s| s.to.is_none())
    }

    pub fn is_open(&self) -> bool {
        !self.status.is_final()
    }

    /// Where the case belongs now: the header's place plus the unit it is dispatched to.
    pub fn scope(&self, header: &Header) -> DocScope {
        DocScope {
            unit: self.unit.clone(),
            ..header.scope.clone()
        }
    }

    pub fn is_ignored(&self, event: Uuid) -> bool {
        self.ignored.iter().any(|i| i.event == event)
    }
}

/// The lifecycle as a machine, one event at a time, for callers that need the state
/// between events (the validator asks the scope in force when each event was written).
pub struct CaseFold<'a> {
    header: &'a Header,
    evidence: &'a BTreeMap<String, Evidence>,
    state: CaseState,
}

impl<'a> CaseFold<'a> {
    pub fn new(header: &'a Header, evidence: &'a BTreeMap<String, Evidence>) -> Self {
        CaseFold {
            header,
            evidence,
            state: CaseState::new(header),
        }
    }

    pub fn state(&self) -> &CaseState {
        &self.state
    }

    pub fn into_state(self) -> CaseState {
        self.state
    }

    /// Applies `event`, or records it as ignored.
    pub fn apply(&mut self, event: &Event) {
        if let Err(reason) = self.transition(event) {
            self.state.ignored.push(Ignored {
                event: event.id,
                kind: event.kind.clone(),
                reason,
            });
        }
    }

    fn photos(&self, hashes: &[String], stage: EvidenceStage, what: &str) -> Result<(), String> {
        if hashes.is_empty() {
            return Err(format!("{what} without {stage:?} photos"));
        }
        for hash in hashes {
            match self.evidence.get(hash) {
                Some(e) if e.stage == stage => {}
                Some(e) => {
                    return Err(format!(
                        "photo {hash} is {:?} evidence, not {stage:?}",
                        e.stage
                    ))
                }
                None => return Err(format!("photo {hash} is not in the evidence map")),
            }
        }
        Ok(())
    }

    // Every arm checks first and changes the state only once all checks passed.
    fn transition(&mut self, event: &Event) -> Result<(), String> {
        // An event may have several rows (督办 by a dispatcher in their grid, by an admin
        // anywhere): any row naming the role will do.
        let mut rows = PERMISSIONS
            .iter()
            .filter(|r| r.event == event.kind)
            .peekable();
        if rows.peek().is_none() {
            return Err(format!("unknown event type {}", event.kind));
        }
        if event.role != Role::Server && !rows.any(|r| r.roles.contains(&event.role)) {
            return Err(format!("a {} may not write {}", event.role, event.kind));
        }
        let typed = CaseEvent::from_event(event).map_err(|e| e.to_string())?;
        let status = self.state.status;
        let at = event.at;
        let by = &event.by;
        if status.is_final() && event.kind != kinds::REOPENED {
            return Err(format!("the case is already {status:?}"));
        }
        if status == CaseStatus::New && event.kind != kinds::REPORTED {
            return Err("the case has not been reported yet".into());
        }
        let wrong = || format!("{} is not allowed while the case is {status:?}", event.kind);
        let s = &mut self.state;
        match typed {
            CaseEvent::Reported(r) => {
                if status != CaseStatus::New {
                    return Err("the case is already reported".into());
                }
                if *by != self.header.created_by {
                    return Err(format!(
                        "reported by {by}, but the case was created by {}",
                        self.header.created_by
                    ));
                }
                if let Some(id) = &r.component_id {
                    parse_component_id(id).map_err(|e| e.to_string())?;
                }
                if !r.photos.is_empty() {
                    self.photos(&r.photos, EvidenceStage::Before, "report")?;
                }
                let s = &mut self.state;
                s.status = CaseStatus::Reported;
                s.reporter = Some(by.clone());
                s.reported_at = Some(at);
                s.urgency = r.urgency;
                s.component_id = r.component_id;
            }
            CaseEvent::SelfFixed(f) => {
                let again = status == CaseStatus::Rework && s.self_fixed && s.unit.is_none();
                if status != CaseStatus::Reported && !again {
                    return Err(wrong());
                }
                if s.reporter.as_deref() != Some(by.as_str()) {
                    return Err("自查自纠 is done by the inspector who reported the case".into());
                }
                self.photos(&f.before, EvidenceStage::Before, "自查自纠")?;
                self.photos(&f.after, EvidenceStage::After, "自查自纠")?;
                let s = &mut self.state;
                s.status = CaseStatus::SelfFixed;
                s.self_fixed = true;
                s.handler = Some(by.clone());
                s.handled_at = Some(at);
            }
            CaseEvent::Registered(r) => {
                if status != CaseStatus::Reported {
                    return Err(wrong());
                }
                s.status = CaseStatus::Registered;
                s.registered_at = Some(at);
                if let Some(u) = r.urgency {
                    s.urgency = u;
                }
            }
            CaseEvent::Rejected(_) => {
                if status != CaseStatus::Reported {
                    return Err(wrong());
                }
                s.status = CaseStatus::Rejected;
                s.ended_at = Some(at);
            }
            CaseEvent::Voided(_) => {
                s.status = CaseStatus::Voided;
                s.ended_at = Some(at);
            }
            CaseEvent::Merged(m) => {
                if !matches!(status, CaseStatus::Reported | CaseStatus::Registered) {
                    return Err(wrong());
                }
                if m.duplicate_of == s.id {
                    return Err("a case cannot duplicate itself".into());
                }
                s.status = CaseStatus::Merged;
                s.duplicate_of = Some(m.duplicate_of);
                s.duplicate_candidates.clear();
                s.ended_at = Some(at);
            }
            CaseEvent::Dispatched(d) => {
                if status != CaseStatus::Registered {
                    return Err(wrong());
                }
                if d.unit.trim().is_empty() {
                    return Err("dispatched to no unit".into());
                }
                s.status = CaseStatus::Dispatched;
                s.back_to_dispatch = None;
                // Dispatching a suggested duplicate is keeping it.
                if !s.duplicate_candidates.is_empty() {
                    s.duplicate_candidates.clear();
                    s.duplicate_kept = true;
                }
                s.unit = Some(d.unit);
                s.dispatched_at = Some(at);
                s.first_dispatched_at.get_or_insert(at);
                s.accepted_by = None;
                s.accepted_at = None;
            }
            CaseEvent::Accepted(_) => {
                if status != CaseStatus::Dispatched {
                    return Err(wrong());
                }
                s.status = CaseStatus::Accepted;
                s.accepted_by = Some(by.clone());
                s.accepted_at = Some(at);
            }
            CaseEvent::ReturnedToDispatch(r) => {
                if !matches!(status, CaseStatus::Dispatched | CaseStatus::Accepted) {
                    return Err(wrong());
                }
                if s.is_suspended() {
                    return Err("the case is suspended; resume it first".into());
                }
                s.back_to_registered(format!("退回: {}", r.reason));
                s.returns += 1;
            }
            CaseEvent::Recalled(r) => {
                if !status.is_with_unit() {
                    return Err(wrong());
                }
                if s.is_suspended() {
                    return Err("the case is suspended; resume it first".into());
                }
                s.back_to_registered(format!("收回: {}", r.reason));
                s.recalls += 1;
            }
            CaseEvent::SuspensionRequested(r) => {
                if !status.is_with_unit() {
                    return Err(wrong());
                }
                if s.is_suspended() {
                    return Err("the case is already suspended".into());
                }
                if s.pending_suspension.is_some() {
                    return Err("a suspension request is already pending".into());
                }
                s.pending_suspension = Some(r.reason);
            }
            CaseEvent::SuspensionDenied(_) => {
                if s.pending_suspension.is_none() {
                    return Err("no suspension request is pending".into());
                }
                s.pending_suspension = None;
            }
            CaseEvent::Reopened(_) => {
                if !status.is_final() {
                    return Err(format!("only an ended case is reopened; it is {status:?}"));
                }
                // Back to the dispatcher's queue, as if just registered: whatever comes
                // next (dispatch, a new verdict) is written anew.
                s.status = CaseStatus::Registered;
                s.unit = None;
                s.duplicate_of = None;
                s.ended_at = None;
                s.closed_at = None;
                s.back_to_dispatch = Some("重新打开 (reopened by an admin)".into());
                s.reopened += 1;
            }
            CaseEvent::ExtensionRequested(r) => {
                if !status.is_with_unit() {
                    return Err(wrong());
                }
                if s.pending_extension.is_some() {
                    return Err("an extension request is already pending".into());
                }
                if r.extension.amount == 0 {
                    return Err("an extension of zero".into());
                }
                s.pending_extension = Some(r.extension);
            }
            CaseEvent::ExtensionGranted(g) => {
                if !status.is_with_unit() {
                    return Err(wrong());
                }
                if s.pending_extension.is_none() {
                    return Err("no extension request is pending".into());
                }
                if g.extension.amount == 0 {
                    return Err("an extension of zero".into());
                }
                s.pending_extension = None;
                s.extensions.push(g.extension);
                // The amount is device-supplied: saturate, never overflow.
                let total = match g.extension.unit {
                    LimitUnit::WorkingHours => &mut s.total_extension.working_hours,
                    LimitUnit::WorkingDays => &mut s.total_extension.working_days,
                };
                *total = total.saturating_add(g.extension.amount);
            }
            CaseEvent::ExtensionDenied(_) => {
                if s.pending_extension.is_none() {
                    return Err("no extension request is pending".into());
                }
                s.pending_extension = None;
            }
            CaseEvent::Suspended(_) => {
                if !status.is_with_unit() {
                    return Err(wrong());
                }
                if s.is_suspended() {
                    return Err("the case is already suspended".into());
                }
                s.suspensions.push(Suspension { from: at, to: None });
                s.pending_suspension = None;
            }
            CaseEvent::Resumed(_) => match s.suspensions.last_mut() {
                Some(open) if open.to.is_none() => open.to = Some(at),
                _ => return Err("the case is not suspended".into()),
            },
            CaseEvent::Handled(h) => {
                if !status.is_with_unit() {
                    return Err(wrong());
                }
                if s.is_suspended() {
                    return Err("the case is suspended; resume it first".into());
                }
                self.photos(&h.photos, EvidenceStage::After, "handled")?;
                let s = &mut self.state;
                s.status = CaseStatus::Handled;
                s.handler = Some(by.clone());
                s.handled_at = Some(at);
                s.pending_extension = None;
            }
            CaseEvent::VerificationSubmitted(v) => {
                if !matches!(status, CaseStatus::Handled | CaseStatus::SelfFixed) {
                    return Err(wrong());
                }
                self.photos(&v.photos, EvidenceStage::Verification, "verification")?;
                let s = &mut self.state;
                s.status = CaseStatus::VerificationSubmitted;
                s.verifier = Some(by.clone());
                s.verification_at = Some(at);
            }
            CaseEvent::Verdict(v) => {
                if status == CaseStatus::Judged {
                    return Err("this verification already has a verdict".into());
                }
                if status != CaseStatus::VerificationSubmitted {
                    return Err(wrong());
                }
                s.status = CaseStatus::Judged;
                s.verdict_at = Some(at);
                s.last_verdict = Some(v);
            }
            CaseEvent::Closed(_) => {
                let passed = s.last_verdict.as_ref().is_some_and(Verdict::passed);
                if status != CaseStatus::Judged || !passed {
                    return Err("closing needs a passed verdict".into());
                }
                s.status = CaseStatus::Closed;
                s.closed_at = Some(at);
                s.ended_at = Some(at);
            }
            CaseEvent::Rework(_) => {
                let passed = s.last_verdict.as_ref().is_some_and(Verdict::passed);
                if status != CaseStatus::Judged || passed {
                    return Err("rework needs a failed verdict".into());
                }
                s.status = CaseStatus::Rework;
                s.rework_count += 1;
            }
            CaseEvent::Supervised(order) => {
                if matches!(status, CaseStatus::Reported | CaseStatus::SelfFixed) {
                    return Err(wrong());
                }
                if order.reason.trim().is_empty() {
                    return Err("督办 needs a reason".into());
                }
                if order.due.is_some_and(|due| due <= at) {
                    return Err("督办's new due time is already past".into());
                }
                s.supervised = true;
                s.supervision_count += 1;
                s.supervision_reason = Some(order.reason);
                s.supervision_due = order.due;
            }
            CaseEvent::DuplicateSuggested(d) => {
                if !matches!(status, CaseStatus::Reported | CaseStatus::Registered) {
                    return Err(wrong());
                }
                if s.duplicate_kept {
                    return Err("the dispatcher already kept this case".into());
                }
                if d.candidates.is_empty() || d.candidates.iter().any(|c| c.case_id == s.id) {
                    return Err("a duplicate suggestion names no other case".into());
                }
                s.duplicate_candidates = d.candidates;
            }
            CaseEvent::DuplicateKept(_) => {
                if s.duplicate_candidates.is_empty() {
                    return Err("no duplicate suggestion is pending".into());
                }
                s.duplicate_candidates.clear();
                s.duplicate_kept = true;
            }
            CaseEvent::DeadlineWarning(_) | CaseEvent::Overdue(_) => {
                if s.dispatched_at.is_none() {
                    return Err("no deadline runs before dispatch".into());
                }
                let slot = if event.kind == kinds::OVERDUE {
                    &mut s.overdue_at
                } else {
                    &mut s.warned_at
                };
                slot.get_or_insert(at);
            }
            CaseEvent::Escalated(e) => {
                if status == CaseStatus::Reported {
                    return Err(wrong());
                }
                s.escalated_to = Some(e.to);
            }
        }
        Ok(())
    }
}

/// The state of a case document.
pub fn fold(snapshot: &Snapshot) -> CaseState {
    let mut machine = CaseFold::new(&snapshot.header, &snapshot.evidence);
    for event in &snapshot.events {
        machine.apply(event);
    }
    let mut state = machine.into_state();
    state.field_conflicts = snapshot
        .conflicts
        .iter()
        .map(|(field, values)| FieldConflict {
            field: field.clone(),
            values: values.clone(),
        })
        .collect();
    state
}

/// The scope in force just before each event of `snapshot.events` (same order), then the
/// scope after the last one: the header's place and the unit the case was dispatched to at
/// that moment. A handler's event is judged by the unit that held the case when it was
/// written.
pub fn scopes_along(snapshot: &Snapshot) -> Vec<DocScope> {
    let mut machine = CaseFold::new(&snapshot.header, &snapshot.evidence);
    let mut out = Vec::with_capacity(snapshot.events.len() + 1);
    for event in &snapshot.events {
        out.push(machine.state().scope(&snapshot.header));
        machine.apply(event);
    }
    out.push(machine.state().scope(&snapshot.header));
    out
}
