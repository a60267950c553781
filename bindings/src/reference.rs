//! Reference data offline: the city's categories (time limits, closure radius, old and
//! new codes), clause library, holiday calendar, grid cells, river segments and projects
//! as the device store last received them through sync, each kind the city never
//! imported taken from the data bundled with the core (as the server's referee does).
//! Before the first sync the phone works on the bundled data alone and says so in
//! `reference_info`.

use std::sync::Arc;

use fieldloop_core::catalogue::{CaseKind, Catalogue, Category, Limits};
use fieldloop_core::geo::{self, Datum, GridIndex, LatLon};
use fieldloop_core::notice::{Clause, ClauseLibrary, Stage};
use fieldloop_core::plan::Segment;
use fieldloop_core::reference::{CityReference, KindData, Project};
use fieldloop_core::sla::Calendar;
use fieldloop_core::store::Store;
use fieldloop_core::sync::client::SyncClient;
use fieldloop_core::sync::wire::ReferenceUpdate;
use fieldloop_core::verify::VerifyPolicy;
use fieldloop_core::Error;

use crate::error::{poisoned, FieldError, Result};
use crate::phone::FieldPhone;

/// The file an older app kept `GET /v1/reference` in; the store holds the reference now.
const LEGACY_REFERENCE_FILE: &str = "reference.json";

/// Which reference data the phone works on, whole: swapped in one step when a sync
/// brings a newer version, so a call never sees two versions mixed.
pub(crate) struct Reference {
    /// The city's reference version; `None` before the first sync brought one.
    pub version: Option<u64>,
    pub catalogue: Catalogue,
    pub calendar: Calendar,
    pub clauses: ClauseLibrary,
    /// Which kinds are the city's own (the rest are bundled).
    pub city_kinds: Vec<String>,
    pub grid: Option<GridIndex>,
    pub segments: Vec<(Segment, Vec<LatLon>)>,
    pub projects: Vec<Project>,
    /// The verdict's thresholds, so the pre-check on site judges with the referee's figures.
    pub policy: VerifyPolicy,
}

impl Reference {
    /// The city's kinds over the bundled ones; the bundled ones alone for `None`.
    fn over_bundled(city: Option<&CityReference>) -> Result<Reference> {
        let bundled = CityReference::default();
        let version = city.map(|c| c.version);
        let city = city.unwrap_or(&bundled);
        let mut city_kinds = Vec::new();
        let mut own = |kind: &str, present: bool| {
            if present {
                city_kinds.push(kind.to_owned());
            }
        };
        own("grid", city.grid.is_some());
        own("categories", city.catalogue.is_some());
        own("calendar", city.calendar.is_some());
        own("clauses", city.clauses.is_some());
        own("rivers", !city.rivers.is_empty());
        own("projects", !city.projects.is_empty());
        own("thresholds", city.thresholds.is_some());
        Ok(Reference {
            version,
            catalogue: city.catalogue_or_bundled()?,
            calendar: city.calendar_or_bundled()?,
            clauses: city.clauses_or_bundled()?,
            city_kinds,
            grid: city.grid.clone(),
            segments: city
                .rivers
                .iter()
                .map(|river| (river.segment.clone(), river.line.clone()))
                .collect(),
            projects: city.projects.clone(),
            policy: city.verify_policy(),
        })
    }

    /// What the store holds now.
    pub fn from_store(store: &Store) -> Result<Reference> {
        let city = store.city_reference()?;
        Reference::over_bundled(city.as_deref())
    }

    pub fn segment_line(&self, id: &str) -> Option<&[LatLon]> {
        self.segments
            .iter()
            .find(|(s, _)| s.id == id)
            .map(|(_, line)| line.as_slice())
    }

    pub fn is_city_kind(&self, kind: &str) -> bool {
        self.city_kinds.iter().any(|k| k == kind)
    }
}

/// Removes the reference file an older app kept beside the store (the store's copy
/// arrives with the next sync).
pub(crate) fn forget_legacy_file(dir: &std::path::Path) {
    let _ = std::fs::remove_file(dir.join(LEGACY_REFERENCE_FILE));
}

/// A category as the picker shows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CategoryView {
    /// What a case stores: kind digit + 大类 + 小类 ("20102").
    pub key: String,
    pub kind: CaseKind,
    /// The CJ/T 214 / GB/T 30428 code, 大类 + 小类 (4 digits).
    pub code: String,
    /// The newer national standard's code (GB/T 47678.5, 5 digits), when the catalogue
    /// maps it.
    pub new_code: Option<String>,
    pub major: String,
    pub name: String,
    /// 处置时限 per urgency, in the city's words (steps with working hours or days).
    pub limits: Limits,
    /// How far after- and verification photos may be from the case.
    pub radius_m: f64,
}

fn view(c: &Category) -> CategoryView {
    CategoryView {
        key: c.key(),
        kind: c.kind,
        code: c.code.clone(),
        new_code: c.gb47678.clone(),
        major: c.major.clone(),
        name: c.name.clone(),
        limits: c.limits.clone(),
        radius_m: c.radius_m,
    }
}

/// A water-works project with the stages its site inspections go through.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub site: LatLon,
    /// Stages in the order the works go through them, with their names.
    pub stages: Vec<Stage>,
    /// The contractor's username.
    pub contractor: String,
}

/// Which reference data the phone works on.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReferenceInfo {
    /// The city's reference version; none before the first sync brought one.
    pub version: Option<String>,
    /// 城市数据版本 N, or 内置数据 (未同步) before the first sync: for the about screen.
    pub label: String,
    pub catalogue_version: String,
    /// The kinds the city imported; every other kind is the bundled one.
    pub city_kinds: Vec<String>,
    /// Years of the holiday calendar; a year not among them counts weekends only and is
    /// marked provisional wherever a countdown uses it.
    pub calendar_years: Vec<i32>,
    pub cells: u32,
    pub segments: Vec<Segment>,
    pub projects: Vec<ProjectView>,
}

fn project_view(project: &Project, clauses: &ClauseLibrary) -> ProjectView {
    let stages = project
        .stages
        .iter()
        .map(|key| {
            clauses
                .stages()
                .iter()
                .find(|s| &s.key == key)
                .cloned()
                .unwrap_or_else(|| Stage {
                    key: key.clone(),
                    name: key.clone(),
                    name_en: key.clone(),
                })
        })
        .collect();
    ProjectView {
        id: project.id.clone(),
        name: project.name.clone(),
        site: project.site,
        stages,
        contractor: project.contractor.clone(),
    }
}

impl FieldPhone {
    /// Fetches the city's reference at login (`GET /v1/reference`), so a phone can
    /// capture before its first sync; kept in the store like a version sync brings.
    pub(crate) fn fetch_reference(&self, client: &SyncClient) -> Result<()> {
        let Some(json) = client.get_json("/v1/reference")? else {
            return Ok(());
        };
        let serde_json::Value::Object(body) = json else {
            return Err(FieldError::Server {
                reason: "/v1/reference did not answer an object".into(),
            });
        };
        let version = body
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let kinds = body
            .iter()
            .filter(|(kind, _)| kind.as_str() != "version")
            .map(|(kind, json)| KindData {
                kind: kind.clone(),
                json: json.to_string(),
            })
            .collect();
        let update = ReferenceUpdate { version, kinds };
        if self.write(|store| Ok(store.save_reference(&update)?))? {
            self.reload_reference()?;
        }
        Ok(())
    }

    /// Takes the reference the store holds now (after a sync brought a newer version).
    pub(crate) fn reload_reference(&self) -> Result<()> {
        let reference = self.write(|store| Reference::from_store(store))?;
        *self.reference.lock().map_err(poisoned)? = Arc::new(reference);
        Ok(())
    }

    /// The grid cell at a WGS-84 point, offline; an error when the phone has no city
    /// data or the point lies outside every cell.
    pub(crate) fn cell_at(&self, lat: f64, lon: f64) -> Result<String> {
        let point = LatLon::new(lat, lon)?;
        let reference = self.reference()?;
        let grid = reference
            .grid
            .as_ref()
            .ok_or_else(|| FieldError::InvalidInput {
                field: "position".into(),
                reason: "手机上还没有网格数据, 请先联网同步一次".into(),
            })?;
        let cell = grid.cell_at(point)?;
        cell.map(str::to_owned)
            .ok_or_else(|| FieldError::InvalidInput {
                field: "position".into(),
                reason: format!("({lat:.6}, {lon:.6}) 不在本辖区的任何网格内"),
            })
    }

    /// A category of the catalogue in use, or the picker's error naming the field.
    pub(crate) fn category(&self, key: &str) -> Result<Category> {
        let reference = self.reference()?;
        reference
            .catalogue
            .get_by_key(key)
            .cloned()
            .map_err(|e| match e {
                Error::Invalid { reason, .. } | Error::NotFound(reason) => {
                    FieldError::InvalidInput {
                        field: "category".into(),
                        reason: format!("分类 {key} 不在本市分类目录中 ({reason})"),
                    }
                }
                other => other.into(),
            })
    }
}

#[uniffi::export]
impl FieldPhone {
    /// Categories whose key, old or new code starts with `query`, or whose name contains
    /// it (all when empty), from the city's catalogue, offline.
    pub fn search_categories(&self, query: String) -> Result<Vec<CategoryView>> {
        let query = query.trim();
        let reference = self.reference()?;
        Ok(reference
            .catalogue
            .iter()
            .filter(|c| {
                query.is_empty()
                    || c.key().starts_with(query)
                    || c.code.starts_with(query)
                    || c.gb47678.as_deref().is_some_and(|g| g.starts_with(query))
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
        let label = match reference.version {
            Some(v) => format!("城市数据版本 {v}"),
            None => "内置数据 (未同步)".to_owned(),
        };
        Ok(ReferenceInfo {
            version: reference.version.map(|v| v.to_string()),
            label,
            catalogue_version: reference.catalogue.version().to_owned(),
            city_kinds: reference.city_kinds.clone(),
            calendar_years: reference.calendar.years(),
            cells: reference.grid.as_ref().map_or(0, |g| g.len() as u32),
            segments: reference.segments.iter().map(|(s, _)| s.clone()).collect(),
            projects: reference
                .projects
                .iter()
                .map(|p| project_view(p, &reference.clauses))
                .collect(),
        })
    }

    /// A river segment's polyline (WGS-84, upstream to downstream), for the patrol map.
    pub fn river_segment_line(&self, segment_id: String) -> Result<Vec<LatLon>> {
        let reference = self.reference()?;
        if reference.segments.is_empty() {
            return Err(FieldError::NotFound {
                what: "city reference data (sync once online)".into(),
            });
        }
        reference
            .segment_line(&segment_id)
            .map(<[LatLon]>::to_vec)
            .ok_or_else(|| FieldError::NotFound {
                what: format!("river segment {segment_id}"),
            })
    }

    /// The stages of the clause library (site inspections are per stage).
    pub fn inspection_stages(&self) -> Result<Vec<Stage>> {
        Ok(self.reference()?.clauses.stages().to_vec())
    }

    /// The regulation clauses checked at `stage`.
    pub fn clauses(&self, stage: String) -> Result<Vec<Clause>> {
        Ok(self
            .reference()?
            .clauses
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
