//! The city's reference data as the device last received it through sync: read-only on
//! the device, replaced whole by each newer version, and read offline.

use rusqlite::params;

use super::{meta_get, meta_set, Store};
use crate::error::{Error, Result};
use crate::reference::{CityReference, KindData};
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

    /// Keeps a newer version in place of the held one, in one transaction; an update that
    /// does not parse, or is not newer, leaves the held version untouched.
    pub fn save_reference(&mut self, update: &ReferenceUpdate) -> Result<bool> {
        if update.version <= self.reference_version()? {
            return Ok(false);
        }
        CityReference::parse(update.version, &update.kinds)?;
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
        tx.commit()?;
        Ok(true)
    }
}
