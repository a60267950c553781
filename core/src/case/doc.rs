//! A case document as the device writes it: every write is checked against the permission
//! table and the lifecycle first, so what the server refuses is the exception.

use automerge::ActorId;
use uuid::Uuid;

use super::events::{kinds, CaseEvent, Reported};
use super::state::{fold, CaseState};
use super::{evidence_scope, PERMISSIONS};
use crate::catalogue::{parse_category_key, parse_component_id, parse_grid_cell, CaseKind};
use crate::doc::{
    Doc, DocKind, DocScope, Event, Evidence, EvidenceStage, Header, Position, Snapshot,
    SCHEMA_VERSION,
};
use crate::error::{Error, Result};
use crate::roles::{decide_in, Decision, Principal};
use crate::rules::validate_update;
use crate::time::Millis;

/// What the inspector enters when reporting a case.
#[derive(Debug, Clone)]
pub struct NewCase {
    /// UUIDv7 made on the device.
    pub id: Uuid,
    /// Id of the `case.reported` event.
    pub event_id: Uuid,
    pub at: Millis,
    /// Category key: kind digit + 大类 + 小类 ("20102" is 暴露垃圾).
    pub category: String,
    pub position: Position,
    /// 15-digit grid cell code.
    pub grid_cell: String,
    pub description: Option<String>,
    pub address: Option<String>,
    pub report: Reported,
    /// Before-photos by content hash; they are listed in the report event.
    pub before_photos: Vec<(String, Evidence)>,
}

#[derive(Debug, Clone)]
pub struct CaseDoc {
    doc: Doc,
}

fn check_position(p: &Position) -> Result<()> {
    let ok = p.lat.is_finite()
        && p.lon.is_finite()
        && (-90.0..=90.0).contains(&p.lat)
        && (-180.0..=180.0).contains(&p.lon)
        && p.accuracy_m.is_finite()
        && p.accuracy_m >= 0.0;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "position",
            format!("lat {} lon {} accuracy {} m", p.lat, p.lon, p.accuracy_m),
        ))
    }
}

/// Photo addresses are SHA-256 in lowercase hex.
fn check_hash(hash: &str) -> Result<()> {
    if hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(Error::invalid(
            "photo hash",
            format!("{hash:?} is not a lowercase hex SHA-256"),
        ))
    }
}

impl CaseDoc {
    /// Creates the document: header, editable fields, before-photos, then `case.reported`.
    pub fn create(principal: &Principal, actor: &ActorId, new: NewCase) -> Result<CaseDoc> {
        let (kind, code) = parse_category_key(&new.category)?;
        parse_grid_cell(&new.grid_cell)?;
        check_position(&new.position)?;
        if let Some(component) = &new.report.component_id {
            let parsed = parse_component_id(component)?;
            if kind != CaseKind::Component || parsed.category != code {
                return Err(Error::invalid(
                    "component id",
                    format!(
                        "{component} is not a component of category {}",
                        new.category
                    ),
                ));
            }
        }
        let scope = DocScope {
            grid_cell: Some(new.grid_cell.clone()),
            ..DocScope::default()
        };
        if let Decision::Denied(reason) = decide_in(PERMISSIONS, principal, kinds::REPORTED, &scope)
        {
            return Err(Error::Forbidden(reason));
        }
        let header = Header {
            id: new.id,
            kind: DocKind::Case,
            schema: SCHEMA_VERSION,
            created_by: principal.user_id.clone(),
            created_role: principal.role,
            created_at: new.at,
            position: Some(new.position),
            category: Some(new.category.clone()),
            scope,
        };
        let mut case = CaseDoc {
            doc: Doc::create(&header, actor)?,
        };
        if let Some(d) = &new.description {
            case.doc.set_field("description", d)?;
        }
        if let Some(a) = &new.address {
            case.doc.set_field("address", a)?;
        }
        let mut report = new.report;
        for (hash, evidence) in &new.before_photos {
            if evidence.stage != EvidenceStage::Before {
                return Err(Error::invalid(
                    "evidence",
                    format!(
                        "{hash} is {:?}, a report takes before-photos",
                        evidence.stage
                    ),
                ));
            }
            case.add_evidence(principal, hash, evidence)?;
            if !report.photos.contains(hash) {
                report.photos.push(hash.clone());
            }
        }
        case.append(
            principal,
            &CaseEvent::Reported(report),
            new.event_id,
            new.at,
        )?;
        Ok(case)
    }

    /// Wraps a document received or loaded; it must be a case.
    pub fn open(doc: Doc) -> Result<CaseDoc> {
        let header = doc.header()?;
        if header.kind != DocKind::Case {
            return Err(Error::invalid(
                "case document",
                format!("{} is a {:?}", header.id, header.kind),
            ));
        }
        Ok(CaseDoc { doc })
    }

    /// Appends `event` as `principal` after checking the permission table (where the case
    /// stands at `at`) and the lifecycle. Refuses with `Forbidden` when the table says no,
    /// `Invalid` when the fold would ignore the event or it would make a later one illegal.
    pub fn append(
        &mut self,
        principal: &Principal,
        event: &CaseEvent,
        id: Uuid,
        at: Millis,
    ) -> Result<Event> {
        let entry = event.to_event(id, at, &principal.user_id, principal.role)?;
        let before = self.doc.snapshot()?;
        if before.events.iter().any(|e| e.id == id) {
            return Err(Error::invalid(
                "case event",
                format!("event id {id} is taken"),
            ));
        }
        let mut after = before.clone();
        after.events.push(entry.clone());
        after.events.sort_by(|a, b| a.fold_key().cmp(&b.fold_key()));
        validate_update(principal, Some(&before), &after, PERMISSIONS)?;
        let was = fold(&before);
        let will = fold(&after);
        if let Some(ignored) = will.ignored.iter().find(|i| i.event == id) {
            return Err(Error::invalid("case event", ignored.reason.clone()));
        }
        if let Some(broken) = will.ignored.iter().find(|i| !was.is_ignored(i.event)) {
            return Err(Error::invalid(
                "case event",
                format!(
                    "{} at this time would make the later {} illegal: {}",
                    entry.kind, broken.kind, broken.reason
                ),
            ));
        }
        self.doc.append_event(&entry)?;
        Ok(entry)
    }

    /// Attaches a photo reference in the principal's own name. Returns false when the photo
    /// was already attached (evidence is never rewritten).
    pub fn add_evidence(
        &mut self,
        principal: &Principal,
        content_hash: &str,
        evidence: &Evidence,
    ) -> Result<bool> {
        check_hash(content_hash)?;
        if evidence.by != principal.user_id {
            return Err(Error::Forbidden(format!(
                "evidence by {} cannot be added by {}",
                evidence.by, principal.user_id
            )));
        }
        if let Some(p) = &evidence.position {
            check_position(p)?;
        }
        let Some(check) = evidence_scope(evidence.stage, principal.role) else {
            return Err(Error::Forbidden(format!(
                "a {} may not add {:?} photos to a case",
                principal.role, evidence.stage
            )));
        };
        let snapshot = self.doc.snapshot()?;
        let scope = fold(&snapshot).scope(&snapshot.header);
        if !principal.jurisdiction.covers(check, &scope) {
            return Err(Error::Forbidden(format!(
                "{:?} photo: the case is outside {}'s jurisdiction ({check:?})",
                evidence.stage, principal.user_id
            )));
        }
        self.doc.add_evidence(content_hash, evidence)
    }

    /// Sets an editable field (description, address) as `principal`, after the same
    /// check the server makes: the creator, a dispatcher in their grid, an admin.
    pub fn edit_field(&mut self, principal: &Principal, name: &str, value: &str) -> Result<()> {
        let mut after = self.doc.clone();
        after.set_field(name, value)?;
        self.commit_checked(principal, after)
    }

    /// Settles a 冲突 on one of the field's values, with the right to edit it.
    pub fn resolve_field(&mut self, principal: &Principal, name: &str, value: &str) -> Result<()> {
        let mut after = self.doc.clone();
        after.resolve_field(name, value)?;
        self.commit_checked(principal, after)
    }

    fn commit_checked(&mut self, principal: &Principal, after: Doc) -> Result<()> {
        let before = self.doc.snapshot()?;
        validate_update(principal, Some(&before), &after.snapshot()?, PERMISSIONS)?;
        self.doc = after;
        Ok(())
    }

    pub fn state(&self) -> Result<CaseState> {
        Ok(fold(&self.doc.snapshot()?))
    }

    pub fn snapshot(&self) -> Result<Snapshot> {
        self.doc.snapshot()
    }

    pub fn header(&self) -> Result<Header> {
        self.doc.header()
    }

    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    pub fn doc_mut(&mut self) -> &mut Doc {
        &mut self.doc
    }

    pub fn into_doc(self) -> Doc {
        self.doc
    }
}
