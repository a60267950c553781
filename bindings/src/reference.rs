//! Reference data offline: the category catalogue and clause library bundled with the
//! core, and the city's grid cells, river segments and projects as the server last sent
//! them (`GET /v1/reference`, kept in `reference.json` beside the store).

use std::path::Path;

use fieldloop_core::catalogue::{CaseKind, Catalogue, Category};
use fieldloop_core::geo::{self, Datum, GridIndex, LatLon};
use fieldloop_core::notice::{Clause, ClauseLibrary, Stage};
use fieldloop_core::plan::Segment;
use fieldloop_core::reference::{CityReference, KindData};
use fieldloop_core::sync::client::SyncClient;
use fieldloop_core::Error;

use crate::error::{poisoned, FieldError, Result};
use crate::phone::FieldPhone;

const REFERENCE_FILE: &str = "reference.json";

#[derive(Debug, Clone)]
struct ProjectFile {
    id: String,
    name: String,
    stages: Vec<String>,
}

pub(crate) struct Reference {
    pub version: String,
    pub grid: GridIndex,
    pub segments: Vec<(Segment, Vec<LatLon>)>,
    project: Option<ProjectFile>,
}

impl Reference {
    /// `GET /v1/reference`: `{"version": N, "<kind>": <that kind's JSON>, …}`, read by the
    /// core's own parser so the phone and the server agree on every kind.
    fn parse(bytes: &[u8]) -> Result<Reference> {
        let body: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(bytes).map_err(Error::from)?;
        let version = body
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let kinds: Vec<KindData> = body
            .iter()
            .filter(|(kind, _)| kind.as_str() != "version")
            .map(|(kind, json)| KindData {
                kind: kind.clone(),
                json: json.to_string(),
            })
            .collect();
        let city = CityReference::parse(version, &kinds)?;
        let grid = match city.grid {
            Some(grid) => grid,
            None => GridIndex::new(Vec::new())?,
        };
        Ok(Reference {
            version: version.to_string(),
            grid,
            segments: city
                .rivers
                .into_iter()
                .map(|river| (river.segment, river.line))
                .collect(),
            project: city.projects.into_iter().next().map(|p| ProjectFile {
                id: p.id,
                name: p.name,
                stages: p.stages,
            }),
        })
    }

    pub fn load(dir: &Path) -> Result<Option<Reference>> {
        match std::fs::read(dir.join(REFERENCE_FILE)) {
            Ok(bytes) => Reference::parse(&bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::from(e).into()),
        }
    }

    pub fn segment_line(&self, id: &str) -> Option<&[LatLon]> {
        self.segments
            .iter()
            .find(|(s, _)| s.id == id)
            .map(|(_, line)| line.as_slice())
    }
}

pub(crate) fn catalogue() -> Result<&'static Catalogue> {
    fieldloop_core::status::bundled_reference()
        .map(|(catalogue, _)| catalogue)
        .ok_or_else(|| FieldError::Storage {
            reason: "the bundled catalogue did not load".into(),
        })
}

pub(crate) fn clause_library() -> Result<ClauseLibrary> {
    Ok(ClauseLibrary::bundled()?)
}

/// A category as the picker shows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CategoryView {
    /// What a case stores: kind digit + 大类 + 小类 ("20102").
    pub key: String,
    pub kind: CaseKind,
    pub code: String,
    pub major: String,
    pub name: String,
    pub radius_m: f64,
}

fn view(c: &Category) -> CategoryView {
    CategoryView {
        key: c.key(),
        kind: c.kind,
        code: c.code.clone(),
        major: c.major.clone(),
        name: c.name.clone(),
        radius_m: c.radius_m,
    }
}

/// Which city data the phone holds.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReferenceInfo {
    pub version: Option<String>,
    pub catalogue_version: String,
    pub cells: u32,
    pub segments: Vec<Segment>,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_stages: Vec<String>,
}

impl FieldPhone {
    /// Fetches the city's reference data and keeps it for offline use; a server
    /// without the endpoint leaves the copy the phone has.
    pub(crate) fn refresh_reference(&self, client: &SyncClient) -> Result<()> {
        let Some(json) = client.get_json("/v1/reference")? else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&json).map_err(Error::from)?;
        let reference = Reference::parse(&bytes)?;
        let tmp = self.dir().join(format!("{REFERENCE_FILE}.tmp"));
        std::fs::write(&tmp, &bytes).map_err(Error::from)?;
        std::fs::rename(&tmp, self.dir().join(REFERENCE_FILE)).map_err(Error::from)?;
        *self.reference.lock().map_err(poisoned)? = Some(std::sync::Arc::new(reference));
        Ok(())
    }

    /// The grid cell at a WGS-84 point, offline; an error when the phone has no city
    /// data or the point lies outside every cell.
    pub(crate) fn cell_at(&self, lat: f64, lon: f64) -> Result<String> {
        let point = LatLon::new(lat, lon)?;
        let reference = self.reference()?.ok_or_else(|| FieldError::InvalidInput {
            field: "position".into(),
            reason: "手机上还没有网格数据, 请先联网同步一次".into(),
        })?;
        let cell = reference.grid.cell_at(point)?;
        cell.map(str::to_owned)
            .ok_or_else(|| FieldError::InvalidInput {
                field: "position".into(),
                reason: format!("({lat:.6}, {lon:.6}) 不在本辖区的任何网格内"),
            })
    }
}

#[uniffi::export]
impl FieldPhone {
    /// Categories whose code, key or name contains `query` (all when empty), offline.
    pub fn search_categories(&self, query: String) -> Result<Vec<CategoryView>> {
        let query = query.trim();
        Ok(catalogue()?
            .iter()
            .filter(|c| {
                query.is_empty()
                    || c.key().starts_with(query)
                    || c.code.starts_with(query)
                    || c.name.contains(query)
                    || c.major.contains(query)
            })
            .map(view)
            .collect())
    }

    /// The grid cell code of a WGS-84 point, offline.
    pub fn grid_cell_at(&self, lat: f64, lon: f64) -> Result<String> {
        self.cell_at(lat, lon)
    }

    pub fn reference_info(&self) -> Result<ReferenceInfo> {
        let reference = self.reference()?;
        let project = reference.as_ref().and_then(|r| r.project.clone());
        Ok(ReferenceInfo {
            version: reference.as_ref().map(|r| r.version.clone()),
            catalogue_version: catalogue()?.version().to_owned(),
            cells: reference.as_ref().map_or(0, |r| r.grid.len() as u32),
            segments: reference
                .as_ref()
                .map(|r| r.segments.iter().map(|(s, _)| s.clone()).collect())
                .unwrap_or_default(),
            project_id: project.as_ref().map(|p| p.id.clone()),
            project_name: project.as_ref().map(|p| p.name.clone()),
            project_stages: project.map(|p| p.stages).unwrap_or_default(),
        })
    }

    /// A river segment's polyline (WGS-84, upstream to downstream), for the patrol map.
    pub fn river_segment_line(&self, segment_id: String) -> Result<Vec<LatLon>> {
        let reference = self.reference()?.ok_or_else(|| FieldError::NotFound {
            what: "city reference data (sync once online)".into(),
        })?;
        reference
            .segment_line(&segment_id)
            .map(<[LatLon]>::to_vec)
            .ok_or_else(|| FieldError::NotFound {
                what: format!("river segment {segment_id}"),
            })
    }

    /// The stages of the clause library (site inspections are per stage).
    pub fn inspection_stages(&self) -> Result<Vec<Stage>> {
        Ok(clause_library()?.stages().to_vec())
    }

    /// The regulation clauses checked at `stage`.
    pub fn clauses(&self, stage: String) -> Result<Vec<Clause>> {
        Ok(clause_library()?
            .for_stage(&stage)?
            .into_iter()
            .cloned()
            .collect())
    }
}

/// A stored WGS-84 position in the datum a map shows: GCJ-02 for AMap and Tencent,
/// BD-09 for Baidu (outside mainland China the position is returned as is).
#[uniffi::export]
pub fn to_map_datum(lat: f64, lon: f64, datum: Datum) -> Result<LatLon> {
    Ok(geo::convert(LatLon { lat, lon }, Datum::Wgs84, datum)?)
}
