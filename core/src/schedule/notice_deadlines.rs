//! A rectification notice's deadline (整改期限, in working days from issue, set by the
//! supervisor on the notice) and the warnings the server owes it: 预警 once the
//! configured share of the working time is used, 超期 once the due time has passed —
//! the same thresholds as a case's. The clock is the contractor's: it runs while an item
//! waits for their reply (open or rejected) and stops once every item is replied.

use crate::error::Result;
use crate::notice::{ItemStatus, NoticeState, NoticeStatus, NoticeWarned};
use crate::sla::{Band, Calendar, SlaPolicy};
use crate::time::Millis;

/// The band of a notice's deadline at `now`, none when no clock runs (not issued, no
/// due time, every item replied, verified or closed).
pub fn notice_band(
    state: &NoticeState,
    calendar: &Calendar,
    policy: &SlaPolicy,
    now: Millis,
) -> Result<Option<Band>> {
    let (Some(issued_at), Some(due)) = (state.issued_at, state.due) else {
        return Ok(None);
    };
    let contractors_turn = state
        .items
        .iter()
        .any(|i| matches!(i.status, ItemStatus::Open | ItemStatus::Rejected));
    if matches!(state.status, NoticeStatus::Verified | NoticeStatus::Closed) || !contractors_turn {
        return Ok(None);
    }
    policy.validate()?;
    if now > due.due {
        return Ok(Some(Band::Red));
    }
    let (budget, _) = calendar.working_ms_between(issued_at, due.due, &[])?;
    let (elapsed, _) = calendar.working_ms_between(issued_at, now, &[])?;
    let yellow_from = (budget.max(0) as f64 * policy.yellow_share).round() as Millis;
    Ok(Some(if elapsed.max(0) >= yellow_from {
        Band::Yellow
    } else {
        Band::Green
    }))
}

/// The `notice.warned` events due at `now` and not written yet, in order (预警, then
/// 超期): a notice found already overdue gets its warning too, so the log records every
/// threshold crossed. Idempotent: the fold's latest band says what is written.
pub fn due_notice_warnings(
    state: &NoticeState,
    calendar: &Calendar,
    policy: &SlaPolicy,
    now: Millis,
) -> Result<Vec<NoticeWarned>> {
    let Some(band) = notice_band(state, calendar, policy, now)? else {
        return Ok(Vec::new());
    };
    let written = state.warning.unwrap_or(Band::Green);
    Ok([Band::Yellow, Band::Red]
        .into_iter()
        .filter(|b| band >= *b && written < *b)
        .map(|band| NoticeWarned { band })
        .collect())
}
