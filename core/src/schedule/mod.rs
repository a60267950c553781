//! The server's scheduling rules, as pure functions the server's scheduler calls on a
//! clock tick (and the phone may call to preview): deadline warnings, overdue and
//! escalation events (预警 / 超期 / 督办), dispatch by the responsibility matrix, river
//! patrol plans per period and the plan tasks valid patrols complete.
//!
//! Nothing here reads a clock or writes a document: each function says which events are
//! due; the caller writes them as the server.

mod deadlines;
mod dispatch;
mod notice_deadlines;
mod patrol_rules;
mod plans;

pub use deadlines::{case_clock, case_countdown, due_deadline_events, DeadlinePolicy};
pub use dispatch::{
    auto_dispatch, dispatch_unit, ResponsibilityMatrix, ResponsibilityRule, BUILTIN_MATRIX_JSON,
};
pub use notice_deadlines::{due_notice_warnings, notice_band};
pub use patrol_rules::{chief_level, river_requirement};
pub use plans::{
    plan_event, plan_event_at, plans_due, task_done_event, task_done_for, ChiefAssignment,
    PlanChange,
};
