//! Water-works site inspections and rectification notices (整改通知单): the supervisor's
//! checklist from the clause library and the notice issued from its failed items; the
//! contractor's signature and replies per item; the supervisor's confirm or reject.

use std::sync::Arc;

use fieldloop_core::doc::{DocKind, DocScope, Evidence, EvidenceStage};
use fieldloop_core::notice::{
    draft_notice, fold_inspection, fold_notice, Answer, Checklist, InspectionAnswered,
    ItemConfirmed, ItemRejected, ItemReplied, ItemState, NoticeStatus, NoticeVerdict,
    INSPECTION_ANSWERED, INSPECTION_SUBMITTED, NOTICE_ISSUED, NOTICE_ITEM_CONFIRMED,
    NOTICE_ITEM_REJECTED, NOTICE_ITEM_REPLIED, NOTICE_SIGNED,
};
use fieldloop_core::sla::{Band, Deadline};
use fieldloop_core::Error;

use crate::cases::PhotoInput;
use crate::error::{FieldError, Result};
use crate::phone::{parse_id, read_photos, FieldPhone, ReadyPhoto};

#[derive(Debug, Clone, uniffi::Record)]
pub struct InspectionView {
    pub id: String,
    pub project: Option<String>,
    pub stage: Option<String>,
    pub checklist: Checklist,
    pub unanswered: u32,
    pub submitted: bool,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct NoticeView {
    pub id: String,
    pub status: NoticeStatus,
    pub contractor: Option<String>,
    pub due: Option<Deadline>,
    /// The server's latest band for the notice's deadline.
    pub band: Option<Band>,
    pub items: Vec<ItemState>,
    /// Items not yet confirmed.
    pub open_items: u32,
    pub verdict: Option<NoticeVerdict>,
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(value).map_err(Error::from)?)
}

impl FieldPhone {
    /// Processes photo files and builds their evidence in the logged-in person's name.
    async fn evidence_photos(
        &self,
        stage: EvidenceStage,
        item: Option<String>,
        photos: Vec<PhotoInput>,
    ) -> Result<Vec<(ReadyPhoto, Evidence)>> {
        let principal = self.principal()?;
        for p in &photos {
            fieldloop_core::geo::validate(p.position.lat, p.position.lon)?;
            fieldloop_core::geo::validate_accuracy(p.position.accuracy_m)?;
        }
        let ready = read_photos(photos.iter().map(|p| p.path.clone()).collect()).await?;
        let now = self.now();
        Ok(ready
            .into_iter()
            .zip(photos)
            .map(|(photo, input)| {
                let evidence = Evidence {
                    stage,
                    taken_at: now,
                    position: Some(fieldloop_core::doc::Position {
                        lat: input.position.lat,
                        lon: input.position.lon,
                        accuracy_m: input.position.accuracy_m,
                    }),
                    by: principal.user_id.clone(),
                    phash: Some(photo.processed.phash),
                    item: item.clone(),
                    mock: input.position.mock,
                    original_sha256: None,
                    exif: None,
                    seal: None,
                };
                (photo, evidence)
            })
            .collect())
    }
}

#[uniffi::export]
impl FieldPhone {
    /// Starts a site inspection of `project` at `stage` (supervisor); its checklist comes
    /// from the clause library.
    pub fn start_site_inspection(&self, project: String, stage: String) -> Result<String> {
        let reference = self.reference()?;
        reference.clauses.checklist(&stage)?;
        // A city that imported its projects names the stages each goes through.
        if reference.is_city_kind("projects") {
            let known = reference
                .projects
                .iter()
                .find(|p| p.id == project)
                .ok_or_else(|| FieldError::InvalidInput {
                    field: "project".into(),
                    reason: format!("工程 {project} 不在本市工程清单中"),
                })?;
            if !known.stages.iter().any(|s| s == &stage) {
                return Err(FieldError::InvalidInput {
                    field: "stage".into(),
                    reason: format!("工程 {} 没有 {stage} 这一检查阶段", known.name),
                });
            }
        }
        let scope = DocScope {
            project: Some(project),
            ..DocScope::default()
        };
        Ok(self
            .create_doc(DocKind::SiteInspection, Some(stage), scope)?
            .to_string())
    }

    pub fn inspection_view(&self, inspection_id: String) -> Result<InspectionView> {
        let snapshot = self.load_doc(&inspection_id)?.snapshot()?;
        let state = fold_inspection(&snapshot, &self.reference()?.clauses)?;
        Ok(InspectionView {
            id: inspection_id,
            project: snapshot.header.scope.project.clone(),
            stage: snapshot.header.category.clone(),
            unanswered: state.checklist.unanswered() as u32,
            checklist: state.checklist,
            submitted: state.submitted_at.is_some(),
        })
    }

    /// Marks one checklist item, with a photo of a finding when there is one.
    pub async fn answer_inspection_item(
        self: Arc<Self>,
        inspection_id: String,
        clause: String,
        answer: Answer,
        note: Option<String>,
        photo: Option<PhotoInput>,
    ) -> Result<()> {
        let id = parse_id(&inspection_id)?;
        let photos = self
            .evidence_photos(
                EvidenceStage::Finding,
                Some(clause.clone()),
                photo.into_iter().collect(),
            )
            .await?;
        let data = json(&InspectionAnswered {
            clause,
            answer,
            note,
            photo: photos
                .first()
                .map(|(p, _)| p.processed.content_hash.clone()),
        })?;
        self.doc_step(id, INSPECTION_ANSWERED, data, photos)
    }

    pub fn submit_site_inspection(&self, inspection_id: String) -> Result<()> {
        let id = parse_id(&inspection_id)?;
        self.doc_step(
            id,
            INSPECTION_SUBMITTED,
            serde_json::Value::Null,
            Vec::new(),
        )
    }

    /// Issues a rectification notice on the spot from the submitted inspection's failed
    /// items, due in `due_working_days` working days; answers the notice id.
    pub fn issue_notice(
        &self,
        inspection_id: String,
        contractor_user_id: String,
        due_working_days: u32,
    ) -> Result<String> {
        let snapshot = self.load_doc(&inspection_id)?.snapshot()?;
        let reference = self.reference()?;
        let library = &reference.clauses;
        let state = fold_inspection(&snapshot, library)?;
        let due = reference
            .calendar
            .add_working_days(self.now(), due_working_days)?;
        let issued = draft_notice(
            &state,
            library,
            Some(snapshot.header.id),
            &contractor_user_id,
            due,
        )?;
        let data = json(&issued)?;
        let id = self.create_doc(
            DocKind::Notice,
            snapshot.header.category.clone(),
            snapshot.header.scope.clone(),
        )?;
        self.doc_step(id, NOTICE_ISSUED, data, Vec::new())?;
        Ok(id.to_string())
    }

    /// 签收: the contractor signs for the notice.
    pub fn sign_notice(&self, notice_id: String) -> Result<()> {
        let id = parse_id(&notice_id)?;
        self.doc_step(id, NOTICE_SIGNED, serde_json::Value::Null, Vec::new())
    }

    /// The contractor's reply to one item, with after-photos.
    pub async fn reply_notice_item(
        self: Arc<Self>,
        notice_id: String,
        item: String,
        note: Option<String>,
        photos: Vec<PhotoInput>,
    ) -> Result<()> {
        let id = parse_id(&notice_id)?;
        let photos = self
            .evidence_photos(EvidenceStage::After, Some(item.clone()), photos)
            .await?;
        let data = json(&ItemReplied {
            item,
            photos: photos
                .iter()
                .map(|(p, _)| p.processed.content_hash.clone())
                .collect(),
            note,
        })?;
        self.doc_step(id, NOTICE_ITEM_REPLIED, data, photos)
    }

    /// The supervisor confirms one replied item (对账销号).
    pub fn confirm_notice_item(&self, notice_id: String, item: String) -> Result<()> {
        let id = parse_id(&notice_id)?;
        self.doc_step(
            id,
            NOTICE_ITEM_CONFIRMED,
            json(&ItemConfirmed { item })?,
            Vec::new(),
        )
    }

    /// The supervisor rejects one replied item; it is open again.
    pub fn reject_notice_item(
        &self,
        notice_id: String,
        item: String,
        reason: String,
    ) -> Result<()> {
        let id = parse_id(&notice_id)?;
        self.doc_step(
            id,
            NOTICE_ITEM_REJECTED,
            json(&ItemRejected { item, reason })?,
            Vec::new(),
        )
    }

    pub fn notice_view(&self, notice_id: String) -> Result<NoticeView> {
        let snapshot = self.load_doc(&notice_id)?.snapshot()?;
        let state = fold_notice(&snapshot)?;
        Ok(NoticeView {
            id: notice_id,
            status: state.status,
            contractor: state.contractor.clone(),
            due: state.due,
            band: state.warning,
            open_items: state.open_items() as u32,
            items: state.items,
            verdict: state.verdict,
        })
    }
}
