//! River patrol plans per period, and the plan tasks a valid patrol completes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::doc::Event;
use crate::error::{Error, Result};
use crate::patrol::{PatrolKind, PatrolState, PatrolStatus};
use crate::plan::{
    plan_for, FrequencyTable, Plan, PlanIssued, PlanPeriod, PlanState, PlanTaskDone, PlanUpdated,
    Segment, PLAN_ISSUED, PLAN_TASK_DONE, PLAN_UPDATED,
};
use crate::time::Millis;

/// The segments a river chief (河长) is responsible for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChiefAssignment {
    pub chief: String,
    pub segments: Vec<String>,
}

/// The plan of every chief for `period`, from the segments' current warning levels.
/// A chief with no segment gets no plan; a segment id not in `segments` is an error
/// (reference data out of step).
pub fn plans_due(
    period: &PlanPeriod,
    chiefs: &[ChiefAssignment],
    segments: &[Segment],
    table: &FrequencyTable,
) -> Result<Vec<Plan>> {
    let by_id: BTreeMap<&str, &Segment> = segments.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut plans = Vec::with_capacity(chiefs.len());
    for assignment in chiefs {
        if assignment.segments.is_empty() {
            continue;
        }
        let mine = assignment
            .segments
            .iter()
            .map(|id| {
                by_id.get(id.as_str()).map(|s| (*s).clone()).ok_or_else(|| {
                    Error::NotFound(format!("segment {id} of chief {}", assignment.chief))
                })
            })
            .collect::<Result<Vec<Segment>>>()?;
        plans.push(plan_for(&assignment.chief, &mine, period, table)?);
    }
    Ok(plans)
}

/// What the server writes to a chief's plan document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanChange {
    Issue(PlanIssued),
    Update(PlanUpdated),
}

impl PlanChange {
    pub fn to_event(&self, id: Uuid, at: Millis, server: &str) -> Result<Event> {
        let (kind, data) = match self {
            PlanChange::Issue(p) => (PLAN_ISSUED, serde_json::to_value(p)?),
            PlanChange::Update(p) => (PLAN_UPDATED, serde_json::to_value(p)?),
        };
        Ok(Event::by_server(id, kind, at, server, data))
    }
}

/// The event that brings a chief's plan document to `plan`: issue it when none is,
/// update it when it differs (a warning level changed), nothing when it is current, so
/// the scheduler may run as often as it likes.
pub fn plan_event(existing: Option<&PlanState>, plan: Plan) -> Option<PlanChange> {
    let current = existing.and_then(|s| s.plan.as_ref());
    match current {
        None => Some(PlanChange::Issue(PlanIssued { plan })),
        Some(current) if *current == plan => None,
        Some(current) => {
            let reason = change_reason(current, &plan);
            Some(PlanChange::Update(PlanUpdated { plan, reason }))
        }
    }
}

/// [`plan_event`] for a plan recomputed at `now`: the windows of the existing plan that
/// closed before `now` stay as they were issued (the past is not re-planned); the window
/// running at `now` and the rest of the period follow the new plan. A warning level
/// changed mid-month so re-plans only the rest of that month.
pub fn plan_event_at(existing: Option<&PlanState>, plan: Plan, now: Millis) -> Option<PlanChange> {
    let plan = match existing.and_then(|s| s.plan.as_ref()) {
        Some(current) => keep_closed_windows(current, plan, now),
        None => plan,
    };
    plan_event(existing, plan)
}

fn keep_closed_windows(current: &Plan, mut plan: Plan, now: Millis) -> Plan {
    for task in &mut plan.tasks {
        let Some(before) = current.task(&task.segment.id) else {
            continue;
        };
        let mut windows: Vec<_> = before
            .windows
            .iter()
            .filter(|w| w.ends <= now)
            .cloned()
            .collect();
        windows.extend(task.windows.drain(..).filter(|w| w.ends > now));
        task.windows = windows;
    }
    plan
}

fn change_reason(old: &Plan, new: &Plan) -> String {
    let mut parts = Vec::new();
    for task in &new.tasks {
        match old.task(&task.segment.id) {
            None => parts.push(format!("segment {} added", task.segment.id)),
            Some(before) if before.segment.warning != task.segment.warning => parts.push(format!(
                "segment {} warning {:?} → {:?}",
                task.segment.id, before.segment.warning, task.segment.warning
            )),
            Some(before) if before != task => {
                parts.push(format!("segment {} requirements changed", task.segment.id))
            }
            Some(_) => {}
        }
    }
    for task in &old.tasks {
        if new.task(&task.segment.id).is_none() {
            parts.push(format!("segment {} removed", task.segment.id));
        }
    }
    if parts.is_empty() {
        "plan recomputed".to_string()
    } else {
        parts.join("; ")
    }
}

/// The task a patrol completes in a chief's plan: the patrol is a river patrol by the
/// plan's chief, ended, judged valid by the server, on a segment of the plan, started
/// inside one of that segment's windows, and not counted yet. None otherwise.
pub fn task_done_for(
    plan: &PlanState,
    patrol_id: Uuid,
    patrol: &PatrolState,
) -> Option<PlanTaskDone> {
    let current = plan.plan.as_ref()?;
    let valid = patrol.verdict.as_ref().is_some_and(|v| v.valid);
    if !valid
        || patrol.status != PatrolStatus::Ended
        || patrol.kind != Some(PatrolKind::River)
        || patrol.patroller.as_deref() != Some(current.chief.as_str())
    {
        return None;
    }
    let segment = patrol.segment.as_deref()?;
    let started = patrol.started_at?;
    let task = current.task(segment)?;
    if !task
        .windows
        .iter()
        .any(|w| (w.starts..w.ends).contains(&started))
    {
        return None;
    }
    if plan.progress.iter().any(|w| w.patrols.contains(&patrol_id)) {
        return None;
    }
    Some(PlanTaskDone {
        segment: segment.to_string(),
        patrol: patrol_id,
        patrolled_at: started,
    })
}

/// The `plan.task_done` log entry for a completed task.
pub fn task_done_event(done: &PlanTaskDone, id: Uuid, at: Millis, server: &str) -> Result<Event> {
    Ok(Event::by_server(
        id,
        PLAN_TASK_DONE,
        at,
        server,
        serde_json::to_value(done)?,
    ))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::plan::{plan_for, ChiefLevel, WarningLevel};
    use crate::sla::local_midnight;

    fn segment(warning: WarningLevel) -> Segment {
        Segment {
            id: "xixi-01".into(),
            name: "西溪河 文新段".into(),
            river: "西溪河".into(),
            chief_level: ChiefLevel::Village,
            warning,
        }
    }

    #[test]
    fn a_warning_raised_mid_month_replans_only_the_rest_of_it() {
        let table = FrequencyTable::bundled().unwrap();
        let period = PlanPeriod::month(2026, 11).unwrap();
        let calm = plan_for("chief", &[segment(WarningLevel::None)], &period, &table).unwrap();
        let red = plan_for("chief", &[segment(WarningLevel::Red)], &period, &table).unwrap();
        let state = |plan: &Plan| PlanState {
            plan: Some(plan.clone()),
            issued_at: None,
            updates: 0,
            progress: Vec::new(),
            ignored: Vec::new(),
        };
        let issued = state(&calm);
        let raised_at = local_midnight(NaiveDate::from_ymd_opt(2026, 11, 16).unwrap());
        let Some(PlanChange::Update(update)) = plan_event_at(Some(&issued), red.clone(), raised_at)
        else {
            panic!("a changed warning level updates the plan");
        };
        let windows = &update.plan.tasks[0].windows;
        let (closed, open): (Vec<_>, Vec<_>) = windows.iter().partition(|w| w.ends <= raised_at);
        // 旬 1–10 was over: it stays as issued; the red weeks from the 16th on apply.
        assert_eq!(closed.len(), 1);
        assert!(calm.tasks[0].windows.contains(closed[0]));
        assert!(!open.is_empty());
        assert!(open.iter().all(|w| red.tasks[0].windows.contains(w)));
        assert!(red.tasks[0].windows.iter().any(|w| w.ends <= raised_at));
        assert!(update.reason.contains("Red"), "{}", update.reason);
        // The next tick, the same level, later on: nothing to write.
        let updated = state(&update.plan);
        assert!(plan_event_at(Some(&updated), red, raised_at + 3 * crate::time::DAY).is_none());
    }
}
