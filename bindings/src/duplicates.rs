//! Before a report is submitted, the phone warns when its offline data already shows an
//! open case of the same category close by (疑似重复); and a case field two people set
//! concurrently (冲突) is kept with both values and settled by picking one of them.

use fieldloop_core::geo::LatLon;

use crate::error::Result;
use crate::phone::FieldPhone;

/// An open case on this phone that a new report may duplicate.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NearbyCase {
    pub case_id: String,
    /// From the new report's position, metres.
    pub distance_m: f64,
    /// When the open case was reported (ms since the epoch).
    pub reported_at: i64,
    /// Its status as the list shows it ("reported", "dispatched", …).
    pub status: String,
    /// Its list title (category and description).
    pub title: String,
}

#[uniffi::export]
impl FieldPhone {
    /// Open cases on this phone of `category` close enough to a report at (`lat`, `lon`)
    /// now to be the same problem, by the catalogue's per-category radius and window;
    /// nearest first. Offline; empty when none.
    pub fn nearby_duplicates(
        &self,
        category: String,
        lat: f64,
        lon: f64,
    ) -> Result<Vec<NearbyCase>> {
        let at = LatLon::new(lat, lon)?;
        let now = self.now();
        let reference = self.reference()?;
        self.read(|reader| {
            let found = reader.nearby_duplicates(&reference.catalogue, None, &category, at, now)?;
            let mut out = Vec::with_capacity(found.len());
            for candidate in found {
                let listing = reader.listing(candidate.case_id)?;
                let (status, title) = listing
                    .map(|l| (l.listing.status, l.listing.title))
                    .unwrap_or_default();
                out.push(NearbyCase {
                    case_id: candidate.case_id.to_string(),
                    distance_m: candidate.distance_m,
                    reported_at: candidate.reported_at,
                    status,
                    title,
                });
            }
            Ok(out)
        })
    }

    /// Edits a case's `field` ("description", "address") offline; needs the right to edit
    /// it (the reporter, a dispatcher of the grid, an admin). Two phones editing the same
    /// field offline both keep their value: the case then shows the 冲突.
    pub fn edit_case_field(&self, case_id: String, field: String, value: String) -> Result<()> {
        let principal = self.principal()?;
        let mut case = fieldloop_core::case::CaseDoc::open(self.load_doc(&case_id)?)?;
        case.edit_field(&principal, &field, &value)?;
        self.save_case(case, &[])
    }

    /// Settles a 冲突 on a case's `field` ("description", "address") on `value`, one of
    /// the values `caseView(...).state.fieldConflicts` lists; needs the right to edit the
    /// field (the reporter, a dispatcher of the grid, an admin). Synced like any change.
    pub fn resolve_case_field(&self, case_id: String, field: String, value: String) -> Result<()> {
        let principal = self.principal()?;
        let mut case = fieldloop_core::case::CaseDoc::open(self.load_doc(&case_id)?)?;
        case.resolve_field(&principal, &field, &value)?;
        self.save_case(case, &[])
    }
}
