//! The rectification notice (整改通知单): issued by the supervisor with its items,
//! deadline and contractor; signed for by the contractor; each item replied with
//! after-photos, then confirmed or rejected (a rejected item is open again); when every
//! item is confirmed the server gives its verdict and closes it (对账销号).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::clauses::{ClauseLibrary, Severity};
use super::inspection::InspectionState;
use super::{
    role_check, IgnoredEvent, NOTICE_CLOSED, NOTICE_ISSUED, NOTICE_ITEM_CONFIRMED,
    NOTICE_ITEM_REJECTED, NOTICE_ITEM_REPLIED, NOTICE_SIGNED, NOTICE_VERDICT, NOTICE_WARNED,
    PERMISSIONS,
};
use crate::doc::{DocKind, Event, Snapshot};
use crate::error::{Error, Result};
use crate::sla::{Band, Deadline};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NoticeItem {
    /// Unique within the notice; the clause id when the item comes from a checklist.
    pub id: String,
    pub clause: String,
    /// What was found, in zh-CN (the clause wording, or the supervisor's own).
    pub finding: String,
    /// The same finding in English, when the clause library has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_en: Option<String>,
    pub required_action: String,
    pub severity: Severity,
}

/// Data of `notice.issued`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeIssued {
    pub contractor: String,
    pub items: Vec<NoticeItem>,
    pub due: Deadline,
    /// The site inspection the items come from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection: Option<Uuid>,
}

/// Data of `notice.item_replied`: the contractor's after-photos (content hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemReplied {
    pub item: String,
    pub photos: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemConfirmed {
    pub item: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemRejected {
    pub item: String,
    pub reason: String,
}

/// Data of `notice.verdict`: the server's check of the evidence, reasons readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NoticeVerdict {
    pub passed: bool,
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// Data of `notice.warned`: the server's authoritative deadline band (预警/超期/督办).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeWarned {
    pub band: Band,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum NoticeStatus {
    /// No (valid) `notice.issued` yet.
    Draft,
    Issued,
    /// The contractor signed for it; items are being worked.
    Signed,
    /// Every item confirmed; waiting for the server's verdict.
    AllConfirmed,
    /// The verdict passed; waiting for closure.
    Verified,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ItemStatus {
    Open,
    /// Replied by the contractor, waiting for the supervisor.
    Replied,
    Confirmed,
    /// Rejected by the supervisor: open again for a new reply.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ItemState {
    pub item: NoticeItem,
    pub status: ItemStatus,
    /// After-photos of the latest reply.
    pub photos: Vec<String>,
    pub reply_note: Option<String>,
    pub replied_at: Option<Millis>,
    pub rejections: u32,
    pub last_rejection: Option<String>,
    pub confirmed_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeState {
    pub status: NoticeStatus,
    pub contractor: Option<String>,
    pub due: Option<Deadline>,
    pub inspection: Option<Uuid>,
    pub issued_at: Option<Millis>,
    pub issued_by: Option<String>,
    pub signed_at: Option<Millis>,
    pub signed_by: Option<String>,
    pub items: Vec<ItemState>,
    pub warning: Option<Band>,
    pub verdict: Option<NoticeVerdict>,
    pub closed_at: Option<Millis>,
    pub ignored: Vec<IgnoredEvent>,
}

impl NoticeState {
    pub fn item(&self, id: &str) -> Option<&ItemState> {
        self.items.iter().find(|i| i.item.id == id)
    }

    /// Items not yet confirmed.
    pub fn open_items(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.status != ItemStatus::Confirmed)
            .count()
    }
}

/// The `notice.issued` data for the failed items of a submitted inspection. The
/// supervisor's note on an item, when there is one, becomes its required action.
pub fn draft_notice(
    inspection: &InspectionState,
    library: &ClauseLibrary,
    inspection_id: Option<Uuid>,
    contractor: &str,
    due: Deadline,
) -> Result<NoticeIssued> {
    if inspection.submitted_at.is_none() {
        return Err(Error::invalid(
            "notice",
            "the inspection is not submitted yet",
        ));
    }
    if contractor.trim().is_empty() {
        return Err(Error::invalid("notice", "no contractor named"));
    }
    let items: Vec<NoticeItem> = inspection
        .checklist
        .failed()
        .map(|item| {
            let clause = library.clause(&item.clause_id);
            let (finding, finding_en) = match clause {
                Some(c) => (c.text.clone(), c.text_en.clone()),
                None => (item.text.clone(), item.text_en.clone()),
            };
            NoticeItem {
                id: item.clause_id.clone(),
                clause: item.clause_id.clone(),
                required_action: item
                    .note
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| format!("整改: {finding}")),
                finding,
                finding_en: Some(finding_en).filter(|t| !t.trim().is_empty()),
                severity: item.severity,
            }
        })
        .collect();
    if items.is_empty() {
        return Err(Error::invalid("notice", "no failed checklist item"));
    }
    Ok(NoticeIssued {
        contractor: contractor.to_string(),
        items,
        due,
        inspection: inspection_id,
    })
}

/// Only the contractor named on the notice signs for it (签收) and replies (回复): another
/// contractor of the same project has no say in it.
pub fn named_contractor_acts(state: &NoticeState, by: &str, what: &str) -> Result<(), String> {
    match state.contractor.as_deref() {
        Some(named) if named == by => Ok(()),
        Some(named) => Err(format!(
            "只有通知单上指定的施工单位 {named} 可以{what}，{by} 不可以 (only the contractor named on the notice)"
        )),
        None => Err("the notice names no contractor".into()),
    }
}

/// Folds a notice document.
pub fn fold_notice(snapshot: &Snapshot) -> Result<NoticeState> {
    if snapshot.header.kind != DocKind::Notice {
        return Err(Error::invalid(
            "notice",
            format!("document is a {:?}", snapshot.header.kind),
        ));
    }
    let mut state = NoticeState {
        status: NoticeStatus::Draft,
        contractor: None,
        due: None,
        inspection: None,
        issued_at: None,
        issued_by: None,
        signed_at: None,
        signed_by: None,
        items: Vec::new(),
        warning: None,
        verdict: None,
        closed_at: None,
        ignored: Vec::new(),
    };
    for event in &snapshot.events {
        if let Err(reason) = apply(&mut state, event) {
            state.ignored.push(IgnoredEvent::new(event, reason));
        }
    }
    Ok(state)
}

fn data<T: for<'de> Deserialize<'de>>(event: &Event) -> Result<T, String> {
    event.data_as().map_err(|e| e.to_string())
}

fn item_mut<'a>(state: &'a mut NoticeState, id: &str) -> Result<&'a mut ItemState, String> {
    state
        .items
        .iter_mut()
        .find(|i| i.item.id == id)
        .ok_or_else(|| format!("no item {id} on this notice"))
}

fn apply(state: &mut NoticeState, event: &Event) -> Result<(), String> {
    role_check(PERMISSIONS, event)?;
    if !event.kind.starts_with("notice.") {
        return Err(format!("{} does not belong in a notice", event.kind));
    }
    if state.status == NoticeStatus::Closed {
        return Err("the notice is closed".into());
    }
    if state.status == NoticeStatus::Draft && event.kind != NOTICE_ISSUED {
        return Err("the notice is not issued yet".into());
    }
    match event.kind.as_str() {
        NOTICE_ISSUED => {
            if state.status != NoticeStatus::Draft {
                return Err("the notice is already issued".into());
            }
            let issued: NoticeIssued = data(event)?;
            if issued.items.is_empty() {
                return Err("a notice needs at least one item".into());
            }
            if issued.contractor.trim().is_empty() {
                return Err("no contractor named".into());
            }
            let mut ids = std::collections::BTreeSet::new();
            if let Some(dup) = issued.items.iter().find(|i| !ids.insert(i.id.as_str())) {
                return Err(format!("item {} given twice", dup.id));
            }
            state.items = issued
                .items
                .into_iter()
                .map(|item| ItemState {
                    item,
                    status: ItemStatus::Open,
                    photos: Vec::new(),
                    reply_note: None,
                    replied_at: None,
                    rejections: 0,
                    last_rejection: None,
                    confirmed_at: None,
                })
                .collect();
            state.contractor = Some(issued.contractor);
            state.due = Some(issued.due);
            state.inspection = issued.inspection;
            state.issued_at = Some(event.at);
            state.issued_by = Some(event.by.clone());
            state.status = NoticeStatus::Issued;
        }
        NOTICE_SIGNED => {
            if state.status != NoticeStatus::Issued {
                return Err("the notice is already signed for".into());
            }
            named_contractor_acts(state, &event.by, "签收")?;
            state.signed_at = Some(event.at);
            state.signed_by = Some(event.by.clone());
            state.status = NoticeStatus::Signed;
        }
        NOTICE_ITEM_REPLIED => {
            if state.status == NoticeStatus::Issued {
                return Err("the contractor has not signed for the notice yet".into());
            }
            named_contractor_acts(state, &event.by, "回复")?;
            let mut reply: ItemReplied = data(event)?;
            reply.photos.retain(|p| !p.trim().is_empty());
            if reply.photos.is_empty() {
                return Err(format!("reply to {} has no after-photo", reply.item));
            }
            let item = item_mut(state, &reply.item)?;
            match item.status {
                ItemStatus::Open | ItemStatus::Rejected => {}
                ItemStatus::Replied => {
                    return Err(format!("item {} is waiting for the supervisor", reply.item))
                }
                ItemStatus::Confirmed => {
                    return Err(format!("item {} is already confirmed", reply.item))
                }
            }
            item.status = ItemStatus::Replied;
            item.photos = reply.photos;
            item.reply_note = reply.note;
            item.replied_at = Some(event.at);
        }
        NOTICE_ITEM_CONFIRMED => {
            if state.status == NoticeStatus::Verified {
                return Err("the verdict is already given".into());
            }
            let confirmed: ItemConfirmed = data(event)?;
            let item = item_mut(state, &confirmed.item)?;
            if item.status != ItemStatus::Replied {
                return Err(format!(
                    "item {} is {:?}: only a replied item can be confirmed",
                    confirmed.item, item.status
                ));
            }
            item.status = ItemStatus::Confirmed;
            item.confirmed_at = Some(event.at);
            if state.open_items() == 0 {
                state.status = NoticeStatus::AllConfirmed;
            }
        }
        NOTICE_ITEM_REJECTED => {
            if state.status == NoticeStatus::Verified {
                return Err("the verdict is already given".into());
            }
            let rejected: ItemRejected = data(event)?;
            let item = item_mut(state, &rejected.item)?;
            // A confirmed item may still be reopened while no verdict has passed, e.g.
            // after a failed verdict.
            if !matches!(item.status, ItemStatus::Replied | ItemStatus::Confirmed) {
                return Err(format!(
                    "item {} is {:?}: only a replied or confirmed item can be rejected",
                    rejected.item, item.status
                ));
            }
            item.status = ItemStatus::Rejected;
            item.rejections += 1;
            item.last_rejection = Some(rejected.reason);
            item.confirmed_at = None;
            state.status = NoticeStatus::Signed;
        }
        NOTICE_WARNED => {
            let warned: NoticeWarned = data(event)?;
            state.warning = Some(warned.band);
        }
        NOTICE_VERDICT => {
            let verdict: NoticeVerdict = data(event)?;
            if verdict.passed && state.status != NoticeStatus::AllConfirmed {
                return Err(format!(
                    "a passing verdict needs every item confirmed ({} open)",
                    state.open_items()
                ));
            }
            if state.status == NoticeStatus::Verified {
                return Err("the verdict is already given".into());
            }
            if verdict.passed {
                state.status = NoticeStatus::Verified;
            }
            state.verdict = Some(verdict);
        }
        NOTICE_CLOSED => {
            if state.status != NoticeStatus::Verified {
                return Err("closing needs a passing verdict".into());
            }
            state.closed_at = Some(event.at);
            state.status = NoticeStatus::Closed;
        }
        other => return Err(format!("unknown event type {other}")),
    }
    Ok(())
}
