//! The city's reference data as the device last received it through sync: read-only on
//! the device, replaced whole by each newer version, and read offline.

use std::sync::Arc;

use rusqlite::params;
use uuid::Uuid;

use super::{meta_get, meta_set, read_doc, upsert_listing, Listing, Store};
use crate::catalogue::Catalogue;
use crate::doc::Doc;
use crate::error::{Error, Result};
use crate::reference::{CityReference, KindData};
use crate::sla::Calendar;
use crate::status::bundled_reference;
use crate::sync::client::listing_with;
use crate::sync::wire::ReferenceUpdate;

const META_REFERENCE_VERSION: &str = "reference_version";

impl Store {
    /// The reference version held (0: none received yet).
    pub fn reference_version(&self) -> Result<u64> {
        match meta_get(&self.conn, META_REFERENCE_VERSION)? {
            None => Ok(0),
            Some(text) => text
                .parse()
                .map_err(|_| Error::invalid("reference version", format!("{text:?} in the store"))),
        }
    }

    /// The kinds of the version held, as received.
    pub fn reference_kinds(&self) -> Result<Vec<KindData>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT kind, json FROM reference_kinds ORDER BY kind")?;
        let rows = statement.query_map([], |row| {
            Ok(KindData {
                kind: row.get(0)?,
                json: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The city's reference as last synced, parsed; `None` before the first one arrives.
    pub fn reference(&self) -> Result<Option<CityReference>> {
        let version = self.reference_version()?;
        if version == 0 {
            return Ok(None);
        }
        Ok(Some(CityReference::parse(
            version,
            &self.reference_kinds()?,
        )?))
    }

    /// The city's reference as last synced, parsed once and shared until a newer version
    /// is saved; `None` before the first one arrives.
    pub fn city_reference(&self) -> Result<Option<Arc<CityReference>>> {
        if let Some(held) = self.city.get() {
            return Ok(held.clone());
        }
        let parsed = self.reference()?.map(Arc::new);
        Ok(self.city.get_or_init(|| parsed).clone())
    }

    /// A document's list projection, its deadline on the city's catalogue and calendar as
    /// synced (the bundled ones for a kind the city never imported).
    pub fn listing_for(&self, doc: &Doc) -> Result<Listing> {
        let city = self.city_reference()?;
        listing_with(doc, due_reference(city.as_deref()))
    }

    /// Keeps a newer version in place of the held one, in one transaction; an update that
    /// does not parse, or is not newer, leaves the held version untouched. The open
    /// documents' deadlines are listed again on the new catalogue and calendar in the same
    /// transaction, so the task list never mixes two versions.
    pub fn save_reference(&mut self, update: &ReferenceUpdate) -> Result<bool> {
        if update.version <= self.reference_version()? {
            return Ok(false);
        }
        let city = CityReference::parse(update.version, &update.kinds)?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM reference_kinds", [])?;
        for kind in &update.kinds {
            tx.execute(
                "INSERT INTO reference_kinds (kind, json) VALUES (?1, ?2)",
                params![kind.kind, kind.json],
            )?;
        }
        meta_set(&tx, META_REFERENCE_VERSION, &update.version.to_string())?;
        let open: Vec<(Vec<u8>, String)> = tx
            .prepare("SELECT doc_id, kind FROM listing WHERE open = 1")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, kind) in open {
            let id = Uuid::from_slice(&id)
                .map_err(|e| Error::invalid("listing", format!("document id: {e}")))?;
            let doc = read_doc(&tx, id, &self.actor)?;
            let listing = listing_with(&doc, due_reference(Some(&city)))?;
            upsert_listing(&tx, id, &kind, &listing)?;
        }
        tx.commit()?;
        self.city = std::cell::OnceCell::from(Some(Arc::new(city)));
        Ok(true)
    }
}

/// The catalogue and calendar deadlines are computed with: the city's where it imported
/// them, the bundled ones otherwise (as the server's referee does).
pub fn due_reference(city: Option<&CityReference>) -> Option<(&Catalogue, &Calendar)> {
    let (bundled_catalogue, bundled_calendar) = bundled_reference()?;
    let catalogue = city
        .and_then(|c| c.catalogue.as_ref())
        .unwrap_or(bundled_catalogue);
    let calendar = city
        .and_then(|c| c.calendar.as_ref())
        .unwrap_or(bundled_calendar);
    Some((catalogue, calendar))
}
