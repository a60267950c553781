//! The site-inspection document: the supervisor answers each clause of the stage's
//! checklist, then submits; the failed items become a notice.

use serde::{Deserialize, Serialize};

use super::clauses::{Answer, Checklist, ClauseLibrary};
use super::{role_check, IgnoredEvent, INSPECTION_ANSWERED, INSPECTION_SUBMITTED, PERMISSIONS};
use crate::doc::{DocKind, Snapshot};
use crate::error::{Error, Result};
use crate::time::Millis;

/// Data of `inspection.answered`. A later answer to the same clause, before submission,
/// replaces the earlier one (the supervisor corrects a tap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionAnswered {
    pub clause: String,
    pub answer: Answer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionState {
    pub checklist: Checklist,
    pub submitted_at: Option<Millis>,
    pub submitted_by: Option<String>,
    pub ignored: Vec<IgnoredEvent>,
}

/// Folds a site inspection. The header's category names the stage.
pub fn fold_inspection(snapshot: &Snapshot, library: &ClauseLibrary) -> Result<InspectionState> {
    let header = &snapshot.header;
    if header.kind != DocKind::SiteInspection {
        return Err(Error::invalid(
            "site inspection",
            format!("document is a {:?}", header.kind),
        ));
    }
    let stage = header
        .category
        .as_deref()
        .ok_or_else(|| Error::invalid("site inspection", "header names no stage"))?;
    let mut state = InspectionState {
        checklist: library.checklist(stage)?,
        submitted_at: None,
        submitted_by: None,
        ignored: Vec::new(),
    };
    for event in &snapshot.events {
        if let Err(reason) = apply(&mut state, event) {
            state.ignored.push(IgnoredEvent::new(event, reason));
        }
    }
    Ok(state)
}

fn apply(state: &mut InspectionState, event: &crate::doc::Event) -> Result<(), String> {
    role_check(PERMISSIONS, event)?;
    if !event.kind.starts_with("inspection.") {
        return Err(format!(
            "{} does not belong in a site inspection",
            event.kind
        ));
    }
    if state.submitted_at.is_some() {
        return Err("the inspection is already submitted".into());
    }
    match event.kind.as_str() {
        INSPECTION_ANSWERED => {
            let data: InspectionAnswered = event.data_as().map_err(|e| e.to_string())?;
            let item = state
                .checklist
                .items
                .iter_mut()
                .find(|i| i.clause_id == data.clause)
                .ok_or_else(|| {
                    format!(
                        "clause {} is not on the {} checklist",
                        data.clause, state.checklist.stage
                    )
                })?;
            item.answer = Some(data.answer);
            item.note = data.note;
            item.photo = data.photo;
            Ok(())
        }
        INSPECTION_SUBMITTED => {
            let open = state.checklist.unanswered();
            if open > 0 {
                return Err(format!("{open} checklist items are not answered"));
            }
            state.submitted_at = Some(event.at);
            state.submitted_by = Some(event.by.clone());
            Ok(())
        }
        other => Err(format!("unknown event type {other}")),
    }
}
