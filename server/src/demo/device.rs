//! A simulated phone: its own store file, the logged-in person, and the line to the
//! server. Every write goes through the same checks the app makes (`CaseDoc::append`, the
//! permission tables) before it is saved, durably, to the store.

use std::path::Path;

use fieldloop_core::case::{CaseDoc, CaseEvent, CaseState, NewCase};
use fieldloop_core::doc::{Doc, DocKind, DocScope, Event, Evidence, Header, SCHEMA_VERSION};
use fieldloop_core::patrol;
use fieldloop_core::roles::{all_rules, decide_in, Decision, Principal};
use fieldloop_core::store::{NewPhoto, Store};
use fieldloop_core::sync::client::listing_for;
use fieldloop_core::time::Millis;
use fieldloop_core::{Error, Result};
use uuid::Uuid;

use super::link::{Link, SyncCounts};
use super::photos::Photo;

pub struct Phone {
    pub username: String,
    pub principal: Principal,
    pub store: Store,
    link: Link,
}

/// Evidence carries the perceptual hash the phone computed, for the server's reuse check.
fn with_phash(evidence: &Evidence, photo: &Photo) -> Evidence {
    Evidence {
        phash: evidence.phash.or(Some(photo.phash)),
        ..evidence.clone()
    }
}

impl Phone {
    /// Opens (or creates) `<devices>/<username>.db`, logs in and registers the device.
    pub fn connect(base: &str, devices: &Path, username: &str, password: &str) -> Result<Phone> {
        std::fs::create_dir_all(devices)?;
        let mut store = Store::open(devices.join(format!("{username}.db")))?;
        let (link, principal) = Link::connect(base, username, password, &store)?;
        store.set_principal(Some(&principal))?;
        Ok(Phone {
            username: username.to_owned(),
            principal,
            store,
            link,
        })
    }

    pub fn user_id(&self) -> &str {
        &self.principal.user_id
    }

    pub fn sync(&mut self, now: Millis) -> Result<SyncCounts> {
        self.link.sync(&mut self.store, now)
    }

    pub fn link(&self) -> &Link {
        &self.link
    }

    /// `evidence` for `photo` of document `doc`, with the phone's perceptual hash, signed
    /// with this phone's key as the app signs every capture.
    fn sealed(&self, doc: Uuid, photo: &Photo, evidence: &Evidence) -> Result<Evidence> {
        self.store
            .evidence_signer()
            .seal(doc, &photo.sha256, with_phash(evidence, photo))
    }

    /// Evidence in this person's name.
    pub fn evidence(
        &self,
        stage: fieldloop_core::doc::EvidenceStage,
        at: Millis,
        lat: f64,
        lon: f64,
    ) -> Evidence {
        let position = fieldloop_core::doc::Position {
            lat,
            lon,
            accuracy_m: 8.0,
        };
        Evidence::new(stage, at, Some(position), &self.principal.user_id)
    }

    fn save(&mut self, doc: &mut Doc, photos: &[&Photo]) -> Result<()> {
        let listing = listing_for(doc)?;
        let new: Vec<NewPhoto<'_>> = photos
            .iter()
            .map(|p| NewPhoto {
                sha256: &p.sha256,
                bytes: &p.bytes,
            })
            .collect();
        self.store.capture(doc, &listing, &new)?;
        Ok(())
    }

    /// 信息收集: a new case with its before-photo, saved offline.
    pub fn report_case(&mut self, mut new: NewCase, photos: &[&Photo]) -> Result<Uuid> {
        let id = new.id;
        // Signed at capture, like every photo the app takes.
        let signer = self.store.evidence_signer();
        new.before_photos = new
            .before_photos
            .into_iter()
            .map(|(hash, evidence)| Ok((hash.clone(), signer.seal(id, &hash, evidence)?)))
            .collect::<Result<_>>()?;
        let case = CaseDoc::create(&self.principal, self.store.actor(), new)?;
        let mut doc = case.into_doc();
        self.save(&mut doc, photos)?;
        Ok(id)
    }

    pub fn case(&self, id: Uuid) -> Result<CaseDoc> {
        CaseDoc::open(self.store.load_doc(id)?)
    }

    pub fn case_state(&self, id: Uuid) -> Result<CaseState> {
        self.case(id)?.state()
    }

    /// Appends a case event, attaching `photos` (with their evidence) first.
    pub fn case_step(
        &mut self,
        id: Uuid,
        event: CaseEvent,
        photos: &[(&Photo, Evidence)],
        at: Millis,
    ) -> Result<()> {
        let mut case = self.case(id)?;
        for (photo, evidence) in photos {
            let evidence = self.sealed(id, photo, evidence)?;
            case.add_evidence(&self.principal, &photo.sha256, &evidence)?;
        }
        case.append(&self.principal, &event, Uuid::now_v7(), at)?;
        let mut doc = case.into_doc();
        let files: Vec<&Photo> = photos.iter().map(|(p, _)| *p).collect();
        self.save(&mut doc, &files)
    }

    /// A new document of another kind (site inspection, notice, patrol) with its header.
    pub fn create_doc(
        &mut self,
        kind: DocKind,
        category: Option<String>,
        scope: DocScope,
        at: Millis,
    ) -> Result<Uuid> {
        let id = Uuid::now_v7();
        let header = Header {
            id,
            kind,
            schema: SCHEMA_VERSION,
            created_by: self.principal.user_id.clone(),
            created_role: self.principal.role,
            created_at: at,
            position: None,
            category,
            scope,
        };
        let mut doc = Doc::create(&header, self.store.actor())?;
        self.save(&mut doc, &[])?;
        Ok(id)
    }

    /// Appends an event to a non-case document after the permission check the server
    /// will make; photos are attached as evidence in the same save.
    pub fn doc_step(
        &mut self,
        id: Uuid,
        kind: &str,
        data: serde_json::Value,
        photos: &[(&Photo, Evidence)],
        at: Millis,
    ) -> Result<()> {
        let mut doc = self.store.load_doc(id)?;
        let header = doc.header()?;
        let decision = if header.kind == DocKind::Patrol {
            patrol::decide(&self.principal, kind, &header.scope)
        } else {
            decide_in(all_rules(), &self.principal, kind, &header.scope)
        };
        if let Decision::Denied(reason) = decision {
            return Err(Error::Forbidden(reason));
        }
        for (photo, evidence) in photos {
            doc.add_evidence(&photo.sha256, &self.sealed(id, photo, evidence)?)?;
        }
        doc.append_event(&Event::new(
            Uuid::now_v7(),
            kind,
            at,
            &self.principal.user_id,
            self.principal.role,
            data,
        ))?;
        let files: Vec<&Photo> = photos.iter().map(|(p, _)| *p).collect();
        self.save(&mut doc, &files)
    }
}
