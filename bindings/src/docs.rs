//! Writing the other document kinds (site inspection, notice, patrol): a header, then
//! events, each checked against the same permission table and update rules the server
//! applies (`rules::validate_update`) before it is saved.

use fieldloop_core::doc::{Doc, DocKind, DocScope, Event, Evidence, Header, SCHEMA_VERSION};
use fieldloop_core::roles::all_rules;
use fieldloop_core::rules::validate_update;
use fieldloop_core::Error;
use uuid::Uuid;

use crate::error::Result;
use crate::phone::{save_in, FieldPhone, ReadyPhoto};

impl FieldPhone {
    /// A new document in the logged-in person's name; give it its first event with
    /// `doc_step` before the next sync (the server refuses a document without one).
    pub(crate) fn create_doc(
        &self,
        kind: DocKind,
        category: Option<String>,
        scope: DocScope,
    ) -> Result<Uuid> {
        let principal = self.principal()?;
        let id = Uuid::now_v7();
        let header = Header {
            id,
            kind,
            schema: SCHEMA_VERSION,
            created_by: principal.user_id.clone(),
            created_role: principal.role,
            created_at: self.now(),
            position: None,
            category,
            scope,
        };
        // The rules judge a new document with its first event (`doc_step`): a header
        // alone says nothing yet about what the person may do.
        self.write(|store| save_in(store, &mut Doc::create(&header, store.actor())?, &[]))?;
        Ok(id)
    }

    /// Appends an event of type `kind` with `data`, attaching `photos` as evidence first;
    /// refused (nothing saved) when the permission table or the update rules say no.
    pub(crate) fn doc_step(
        &self,
        id: Uuid,
        kind: &str,
        data: serde_json::Value,
        photos: Vec<(ReadyPhoto, Evidence)>,
    ) -> Result<()> {
        let principal = self.principal()?;
        let now = self.now();
        let mut doc = self.read(|r| Ok(r.load_doc(id)?))?;
        let before = doc.snapshot()?;
        for (photo, evidence) in &photos {
            let evidence = self.sealed(id, photo, evidence.clone())?;
            doc.add_evidence(&photo.processed.content_hash, &evidence)?;
        }
        doc.append_event(&Event::new(
            Uuid::now_v7(),
            kind,
            now,
            &principal.user_id,
            principal.role,
            data,
        ))?;
        let before = (!before.events.is_empty()).then_some(&before);
        validate_update(&principal, before, &doc.snapshot()?, all_rules()).map_err(Error::from)?;
        let files: Vec<ReadyPhoto> = photos.into_iter().map(|(p, _)| p).collect();
        self.save(&mut doc, &files)
    }
}
