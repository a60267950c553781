//! The patrol-plan document (`DocKind::PatrolPlan`): written by the server only. It
//! issues the plan, replaces it when a warning level changes, and marks each patrol it
//! validated against the window it falls in.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{PeriodKind, Plan};
use crate::doc::{DocKind, Event, Snapshot};
use crate::error::{Error, Result};
use crate::notice::{role_check, IgnoredEvent};
use crate::roles::{Role, Rule, ScopeCheck};
use crate::time::Millis;

pub const PLAN_ISSUED: &str = "plan.issued";
pub const PLAN_UPDATED: &str = "plan.updated";
pub const PLAN_TASK_DONE: &str = "plan.task_done";

/// Plans are pushed by the server; a chief's phone only reads them.
pub const PERMISSIONS: &[Rule] = &[
    Rule {
        event: PLAN_ISSUED,
        roles: &[Role::Server],
        scope: ScopeCheck::Anywhere,
    },
    Rule {
        event: PLAN_UPDATED,
        roles: &[Role::Server],
        scope: ScopeCheck::Anywhere,
    },
    Rule {
        event: PLAN_TASK_DONE,
        roles: &[Role::Server],
        scope: ScopeCheck::Anywhere,
    },
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanIssued {
    pub plan: Plan,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanUpdated {
    pub plan: Plan,
    /// Why ("segment S3 raised to 橙色预警").
    pub reason: String,
}

/// A patrol the server validated (long, long-lasting, plausible, covering enough).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTaskDone {
    pub segment: String,
    /// The patrol document.
    pub patrol: Uuid,
    /// When the patrol started; picks the window it counts in.
    pub patrolled_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowProgress {
    pub segment: String,
    pub kind: PeriodKind,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub required: u32,
    pub patrols: Vec<Uuid>,
}

impl WindowProgress {
    pub fn satisfied(&self) -> bool {
        self.patrols.len() as u64 >= self.required as u64
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanState {
    pub plan: Option<Plan>,
    pub issued_at: Option<Millis>,
    pub updates: u32,
    /// One entry per window of the current plan, patrols counted in it.
    pub progress: Vec<WindowProgress>,
    pub ignored: Vec<IgnoredEvent>,
}

impl PlanState {
    /// Windows still short of patrols.
    pub fn outstanding(&self) -> impl Iterator<Item = &WindowProgress> {
        self.progress.iter().filter(|w| !w.satisfied())
    }
}

/// Folds a plan document. Patrols are kept by id and re-counted against the current
/// plan, so an update that changes the windows (旬 → week) keeps the patrols done.
pub fn fold_plan(snapshot: &Snapshot) -> Result<PlanState> {
    if snapshot.header.kind != DocKind::PatrolPlan {
        return Err(Error::invalid(
            "patrol plan",
            format!("document is a {:?}", snapshot.header.kind),
        ));
    }
    let mut state = PlanState {
        plan: None,
        issued_at: None,
        updates: 0,
        progress: Vec::new(),
        ignored: Vec::new(),
    };
    let mut done: Vec<PlanTaskDone> = Vec::new();
    for event in &snapshot.events {
        if let Err(reason) = apply(&mut state, &mut done, event) {
            state.ignored.push(IgnoredEvent::new(event, reason));
        }
    }
    state.progress = progress(state.plan.as_ref(), &done);
    Ok(state)
}

fn progress(plan: Option<&Plan>, done: &[PlanTaskDone]) -> Vec<WindowProgress> {
    let Some(plan) = plan else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in &plan.tasks {
        for window in &task.windows {
            let patrols = done
                .iter()
                .filter(|d| {
                    d.segment == task.segment.id
                        && (window.starts..window.ends).contains(&d.patrolled_at)
                })
                .map(|d| d.patrol)
                .collect();
            out.push(WindowProgress {
                segment: task.segment.id.clone(),
                kind: window.kind,
                first_day: window.first_day,
                last_day: window.last_day,
                required: window.required,
                patrols,
            });
        }
    }
    out
}

fn apply(state: &mut PlanState, done: &mut Vec<PlanTaskDone>, event: &Event) -> Result<(), String> {
    role_check(PERMISSIONS, event)?;
    match event.kind.as_str() {
        PLAN_ISSUED => {
            if state.plan.is_some() {
                return Err("the plan is already issued".into());
            }
            let issued: PlanIssued = event.data_as().map_err(|e| e.to_string())?;
            state.plan = Some(issued.plan);
            state.issued_at = Some(event.at);
        }
        PLAN_UPDATED => {
            let Some(current) = &state.plan else {
                return Err("the plan is not issued yet".into());
            };
            let updated: PlanUpdated = event.data_as().map_err(|e| e.to_string())?;
            if updated.plan.chief != current.chief {
                return Err(format!(
                    "an update may not move the plan from {} to {}",
                    current.chief, updated.plan.chief
                ));
            }
            state.plan = Some(updated.plan);
            state.updates += 1;
        }
        PLAN_TASK_DONE => {
            let Some(plan) = &state.plan else {
                return Err("the plan is not issued yet".into());
            };
            let task_done: PlanTaskDone = event.data_as().map_err(|e| e.to_string())?;
            let task = plan
                .task(&task_done.segment)
                .ok_or_else(|| format!("segment {} is not in the plan", task_done.segment))?;
            if !task
                .windows
                .iter()
                .any(|w| (w.starts..w.ends).contains(&task_done.patrolled_at))
            {
                return Err(format!(
                    "patrol {} falls in no window of segment {}",
                    task_done.patrol, task_done.segment
                ));
            }
            let seen: BTreeSet<Uuid> = done.iter().map(|d| d.patrol).collect();
            if seen.contains(&task_done.patrol) {
                return Err(format!("patrol {} is already counted", task_done.patrol));
            }
            done.push(task_done);
        }
        other => return Err(format!("{other} does not belong in a patrol plan")),
    }
    Ok(())
}
