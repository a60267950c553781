//! A case's handling clock (处置时限) and the deadline events the server owes it.

use serde::{Deserialize, Serialize};

use crate::case::events::{DeadlineNotice, Escalated, Supervision};
use crate::case::{kinds, CaseEvent, CaseState};
use crate::catalogue::Catalogue;
use crate::doc::Event;
use crate::error::{Error, Result};
use crate::sla::{Band, Calendar, Countdown, SlaClock, SlaPolicy};
use crate::time::Millis;

/// The band thresholds and who a case escalates to (督办).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DeadlinePolicy {
    pub sla: SlaPolicy,
    /// The `to` of an escalation event: the supervising centre or leader.
    pub escalate_to: String,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        DeadlinePolicy {
            sla: SlaPolicy::default(),
            escalate_to: "督办中心".to_string(),
        }
    }
}

/// The handling clock of a case at `now`, none before dispatch.
///
/// It starts at the latest dispatch (a return to dispatch restarts it for the new unit;
/// rework does not: the fix was due in the original time). Its budget is the sum of the
/// category's steps for the case's urgency (派遣 → 处置 → …, each converted on its own
/// unit; only the first step's working-day alignment is exact, later steps count whole
/// working days of office time) plus every granted extension (延期). Suspensions (缓办)
/// stop it; one still running is counted up to `now`.
pub fn case_clock(
    state: &CaseState,
    catalogue: &Catalogue,
    calendar: &Calendar,
    now: Millis,
) -> Result<Option<SlaClock>> {
    let Some(start) = state.dispatched_at else {
        return Ok(None);
    };
    let key = state
        .category
        .as_deref()
        .ok_or_else(|| Error::invalid("case", format!("{} has no category", state.id)))?;
    let category = catalogue.get_by_key(key)?;
    let steps = &category.limits_for(state.urgency).steps;
    let Some(first) = steps.first() else {
        return Err(Error::invalid(
            "category catalogue",
            format!("{key} has no time limit"),
        ));
    };
    let mut clock = calendar.start_clock(start, &first.limit)?;
    for limit in steps[1..]
        .iter()
        .map(|s| &s.limit)
        .chain(state.extensions.iter())
    {
        let more = calendar.start_clock(start, limit)?.budget_ms;
        clock.budget_ms = clock.budget_ms.saturating_add(more);
    }
    for s in &state.suspensions {
        clock.suspend(s.from, s.to.unwrap_or(now).max(s.from))?;
    }
    Ok(Some(clock))
}

/// The countdown of a case at `now` (band, due time, remaining working minutes).
pub fn case_countdown(
    state: &CaseState,
    catalogue: &Catalogue,
    calendar: &Calendar,
    policy: &SlaPolicy,
    now: Millis,
) -> Result<Option<Countdown>> {
    match case_clock(state, catalogue, calendar, now)? {
        Some(clock) => Ok(Some(calendar.countdown(&clock, policy, now)?)),
        None => Ok(None),
    }
}

/// The 预警 / 超期 / 督办 events due for the case at `now` and not yet written for the
/// current dispatch, in that order (a case found already red gets its warning too, so
/// the log records every threshold crossed).
///
/// Idempotent: an event counts as written when `log` holds one of that type, applied by
/// the fold, at or after the latest dispatch, so calling this again right after writing
/// them returns nothing. `log` is the case's sorted event log (`Snapshot::events`) and
/// `state` its fold. The clock runs only while the case is with a unit (dispatched,
/// accepted, rework); once handled, the unit's time has stopped.
pub fn due_deadline_events(
    state: &CaseState,
    log: &[Event],
    catalogue: &Catalogue,
    calendar: &Calendar,
    policy: &DeadlinePolicy,
    now: Millis,
) -> Result<Vec<CaseEvent>> {
    if !state.status.is_with_unit() {
        return Ok(Vec::new());
    }
    let Some(dispatched_at) = state.dispatched_at else {
        return Ok(Vec::new());
    };
    let Some(countdown) = case_countdown(state, catalogue, calendar, &policy.sla, now)? else {
        return Ok(Vec::new());
    };
    let written = |kind: &str| {
        log.iter()
            .any(|e| e.kind == kind && e.at >= dispatched_at && !state.is_ignored(e.id))
    };
    let notice = DeadlineNotice {
        deadline: countdown.due.due,
    };
    let mut out = Vec::new();
    if countdown.band >= Band::Yellow && !written(kinds::DEADLINE_WARNING) {
        out.push(CaseEvent::DeadlineWarning(notice.clone()));
    }
    if countdown.band >= Band::Red && !written(kinds::OVERDUE) {
        out.push(CaseEvent::Overdue(notice));
    }
    if countdown.band >= Band::Escalated && !written(kinds::ESCALATED) {
        let late = (-countdown.remaining_minutes).max(0);
        let unit = state.unit.as_deref().unwrap_or("the unit");
        // The automatic 督办: on the handler's phone and in the evaluation like an
        // order a person gave.
        if !automatic_supervision_written(state, log, dispatched_at) {
            out.push(CaseEvent::Supervised(Supervision {
                reason: format!(
                    "自动督办: {unit} 超过处置时限 {} 小时 {} 分钟仍未处置 (automatic: past the escalation threshold)",
                    late / 60,
                    late % 60
                ),
                due: None,
                automatic: true,
            }));
        }
        out.push(CaseEvent::Escalated(Escalated {
            to: policy.escalate_to.clone(),
            reason: format!(
                "{unit} is {} working hours {} min past the deadline{}",
                late / 60,
                late % 60,
                if countdown.provisional {
                    " (provisional calendar)"
                } else {
                    ""
                }
            ),
        }));
    }
    Ok(out)
}

/// Whether the server already wrote its automatic 督办 since the latest dispatch.
fn automatic_supervision_written(state: &CaseState, log: &[Event], since: Millis) -> bool {
    log.iter().any(|e| {
        e.kind == kinds::SUPERVISED
            && e.role == crate::roles::Role::Server
            && e.at >= since
            && !state.is_ignored(e.id)
    })
}
