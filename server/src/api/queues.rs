//! The dispatcher's work queues with their counts: to register (citizen reports
//! included), to dispatch (registered, or returned by a unit), returned for rework,
//! overdue and 督办 (escalated).

use axum::extract::State;
use axum::Json;
use fieldloop_core::doc::DocKind;
use fieldloop_core::roles::Principal;
use serde::Serialize;
use utoipa::ToSchema;

use super::cases::{case_row, CaseRow};
use super::{scan, MAX_EXPORT};
use crate::auth::Auth;
use crate::error::Result;
use crate::state::AppState;
use crate::storage::Projection;

/// Items listed per queue; the count is always the full one.
const LISTED: usize = 200;

#[derive(Debug, Serialize, ToSchema)]
pub struct Queue {
    /// to_register, duplicates, to_dispatch, returned, overdue, supervised.
    pub key: String,
    pub label: String,
    pub count: usize,
    pub items: Vec<CaseRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queues {
    pub queues: Vec<Queue>,
}

const OPEN: [&str; 6] = [
    "registered",
    "dispatched",
    "accepted",
    "handled",
    "verification_submitted",
    "rework",
];

type Test = fn(&Projection) -> bool;

const QUEUES: [(&str, &str, Test); 6] = [
    ("to_register", "待立案", |p| status(p) == "reported"),
    // Also counted in to_register / to_dispatch: the dispatcher merges or keeps them.
    ("duplicates", "疑似重复", |p| {
        matches!(status(p), "reported" | "registered")
            && p.fields.json["duplicate_candidates"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
    }),
    ("to_dispatch", "待派遣", |p| status(p) == "registered"),
    ("returned", "返工", |p| status(p) == "rework"),
    ("overdue", "超期", |p| {
        OPEN.contains(&status(p)) && matches!(band(p), "red" | "escalated")
    }),
    ("supervised", "督办", |p| {
        OPEN.contains(&status(p)) && band(p) == "escalated"
    }),
];

fn status(p: &Projection) -> &str {
    p.fields.status.as_deref().unwrap_or("")
}

fn band(p: &Projection) -> &str {
    p.fields.band.as_deref().unwrap_or("green")
}

pub async fn queues(state: &AppState, who: &Principal) -> Result<Queues> {
    let (cases, _) = scan(state, who, 0, MAX_EXPORT, |p| p.kind == DocKind::Case).await?;
    let queues = QUEUES
        .iter()
        .map(|(key, label, test)| {
            let members: Vec<&Projection> = cases.iter().filter(|p| test(p)).collect();
            Queue {
                key: (*key).to_owned(),
                label: (*label).to_owned(),
                count: members.len(),
                items: members
                    .iter()
                    .rev()
                    .take(LISTED)
                    .map(|p| case_row(state, p))
                    .collect(),
            }
        })
        .collect();
    Ok(Queues { queues })
}

#[utoipa::path(get, path = "/v1/queues", tag = "cases",
    responses((status = 200, description = "Every queue with its count", body = Queues)),
    security(("bearer" = [])))]
pub async fn queues_handler(auth: Auth, State(state): State<AppState>) -> Result<Json<Queues>> {
    Ok(Json(queues(&state, &auth.principal).await?))
}
