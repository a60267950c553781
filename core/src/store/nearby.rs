//! The phone's own duplicate check (疑似重复) before a report is submitted: the open cases
//! this phone holds (its reports, and the cases of its grid it synced) run through the
//! same rule the server applies when the report arrives.

use uuid::Uuid;

use super::StoreReader;
use crate::case::{nearby_duplicates, DuplicateCandidate, OpenCase};
use crate::catalogue::Catalogue;
use crate::doc::DocKind;
use crate::error::Result;
use crate::geo::LatLon;
use crate::time::Millis;

/// Open documents read per check at most: a phone holds a few hundred.
const OPEN_LIMIT: usize = 5_000;

impl StoreReader {
    /// The open cases on this phone with a category and a position.
    pub fn open_cases(&self) -> Result<Vec<OpenCase>> {
        let mut out = Vec::new();
        for listed in self.list_open_tasks(OPEN_LIMIT)? {
            if listed.kind != DocKind::Case {
                continue;
            }
            let header = self.load_doc(listed.id)?.header()?;
            if let (Some(category), Some(p)) = (header.category, header.position) {
                out.push(OpenCase {
                    id: header.id,
                    category,
                    position: LatLon {
                        lat: p.lat,
                        lon: p.lon,
                    },
                    reported_at: header.created_at,
                });
            }
        }
        Ok(out)
    }

    /// Open cases on this phone that a new report of `category` at `at`, made `now`, may
    /// duplicate, nearest first (`own`: the report itself, when already saved). A
    /// category the catalogue does not know finds none.
    pub fn nearby_duplicates(
        &self,
        catalogue: &Catalogue,
        own: Option<Uuid>,
        category: &str,
        at: LatLon,
        now: Millis,
    ) -> Result<Vec<DuplicateCandidate>> {
        at.validate()?;
        let Ok(rule) = catalogue.get_by_key(category).map(|c| c.duplicates) else {
            return Ok(Vec::new());
        };
        Ok(nearby_duplicates(
            &rule,
            own,
            category,
            at,
            now,
            self.open_cases()?,
        ))
    }
}
