//! A city's own reference data, as the server stores it and a phone keeps it offline:
//! grid cells, units, the responsibility matrix, the category catalogue, river segments
//! with their chiefs, water-works projects, the clause library, the holiday calendar and
//! the verification thresholds.
//!
//! The server validates each import and stores every kind as canonical JSON (the shapes
//! below) under a reference version; a device receives the kinds of the newest version
//! through sync and builds a [`CityReference`] from them. A kind the city never imported
//! is `None`/empty here, and the reader falls back to the bundled data (catalogue,
//! calendar, clauses, thresholds) or has nothing (grid, rivers).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalogue::{CaseKind, Catalogue, Category};
use crate::error::{Error, Result};
use crate::geo::grid::{GridCell, GridIndex};
use crate::geo::LatLon;
use crate::notice::ClauseLibrary;
use crate::plan::Segment;
use crate::schedule::{dispatch_unit, ChiefAssignment, ResponsibilityMatrix};
use crate::sla::{Calendar, WorkingHours, BUNDLED_YEARS};
use crate::verify::{VerifyPolicy, VerifyThresholds};

/// The kinds a city imports, one store entry each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    Grid,
    Units,
    Matrix,
    Categories,
    Rivers,
    Projects,
    Clauses,
    Calendar,
    Thresholds,
}

impl ReferenceKind {
    pub const ALL: [ReferenceKind; 9] = [
        ReferenceKind::Grid,
        ReferenceKind::Units,
        ReferenceKind::Matrix,
        ReferenceKind::Categories,
        ReferenceKind::Rivers,
        ReferenceKind::Projects,
        ReferenceKind::Clauses,
        ReferenceKind::Calendar,
        ReferenceKind::Thresholds,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::Grid => "grid",
            ReferenceKind::Units => "units",
            ReferenceKind::Matrix => "matrix",
            ReferenceKind::Categories => "categories",
            ReferenceKind::Rivers => "rivers",
            ReferenceKind::Projects => "projects",
            ReferenceKind::Clauses => "clauses",
            ReferenceKind::Calendar => "calendar",
            ReferenceKind::Thresholds => "thresholds",
        }
    }

    pub fn parse(text: &str) -> Option<ReferenceKind> {
        ReferenceKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The name a Chinese administrator reads.
    pub fn label_zh(self) -> &'static str {
        match self {
            ReferenceKind::Grid => "单元网格",
            ReferenceKind::Units => "责任单位",
            ReferenceKind::Matrix => "责任矩阵",
            ReferenceKind::Categories => "部件事件分类",
            ReferenceKind::Rivers => "河段",
            ReferenceKind::Projects => "水务工程",
            ReferenceKind::Clauses => "检查条款库",
            ReferenceKind::Calendar => "节假日日历",
            ReferenceKind::Thresholds => "核查阈值",
        }
    }
}

/// One grid cell (单元网格) with its community and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub code: String,
    #[serde(default)]
    pub name: String,
    pub ring: Vec<LatLon>,
}

/// A responsible unit (责任单位).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub id: String,
    pub name: String,
    /// What it handles, in the words of the catalogue's `unit_type`.
    #[serde(default)]
    pub handles: String,
}

/// A river segment with its chiefs (usernames) and polyline, upstream to downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct River {
    #[serde(flatten)]
    pub segment: Segment,
    pub chiefs: Vec<String>,
    pub line: Vec<LatLon>,
}

/// A water-works project (水务工程) with its contractor and inspection stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub site: LatLon,
    /// Stage keys of the clause library, in the order the works go through them.
    pub stages: Vec<String>,
    /// Username of the contractor's account.
    pub contractor: String,
}

/// One kind's canonical JSON, as stored and as sent to phones. The kind travels as text
/// so an older phone skips a kind it does not know instead of failing the whole sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindData {
    pub kind: String,
    pub json: String,
}

/// A reference version's data, parsed and validated.
#[derive(Debug, Clone, Default)]
pub struct CityReference {
    pub version: u64,
    pub cells: Vec<Cell>,
    pub grid: Option<GridIndex>,
    pub units: Vec<Unit>,
    pub matrix: Option<ResponsibilityMatrix>,
    pub catalogue: Option<Catalogue>,
    pub rivers: Vec<River>,
    pub projects: Vec<Project>,
    pub clauses: Option<ClauseLibrary>,
    /// Imported years over the bundled ones.
    pub calendar: Option<Calendar>,
    /// The city's verification thresholds; see [`CityReference::verify_policy`].
    pub thresholds: Option<VerifyThresholds>,
}

impl CityReference {
    /// Builds the reference from its kinds' canonical JSON; kinds this build does not know
    /// are skipped.
    pub fn parse(version: u64, kinds: &[KindData]) -> Result<CityReference> {
        let mut city = CityReference {
            version,
            ..CityReference::default()
        };
        for data in kinds {
            let Some(kind) = ReferenceKind::parse(&data.kind) else {
                continue;
            };
            let text = data.json.as_str();
            match kind {
                ReferenceKind::Grid => {
                    city.cells = from_json(kind, text)?;
                    city.grid = Some(grid_index(&city.cells)?);
                }
                ReferenceKind::Units => city.units = from_json(kind, text)?,
                ReferenceKind::Matrix => {
                    let matrix: ResponsibilityMatrix = from_json(kind, text)?;
                    matrix.validate()?;
                    city.matrix = Some(matrix);
                }
                ReferenceKind::Categories => city.catalogue = Some(Catalogue::from_json(text)?),
                ReferenceKind::Rivers => city.rivers = from_json(kind, text)?,
                ReferenceKind::Projects => city.projects = from_json(kind, text)?,
                ReferenceKind::Clauses => city.clauses = Some(ClauseLibrary::from_json(text)?),
                ReferenceKind::Calendar => {
                    let years: Vec<serde_json::Value> = from_json(kind, text)?;
                    city.calendar = Some(calendar_over_bundled(&years)?);
                }
                ReferenceKind::Thresholds => {
                    let thresholds = VerifyThresholds::from_json(text).map_err(|problems| {
                        let reasons: Vec<String> =
                            problems.iter().map(ToString::to_string).collect();
                        Error::invalid(
                            "reference data",
                            format!(
                                "{} ({}): {}",
                                kind.label_zh(),
                                kind.as_str(),
                                reasons.join("; ")
                            ),
                        )
                    })?;
                    city.thresholds = Some(thresholds);
                }
            }
        }
        Ok(city)
    }

    /// The city's category catalogue, or the bundled one where it imported none: the
    /// fallback the referee and the phone share.
    pub fn catalogue_or_bundled(&self) -> Result<Catalogue> {
        match &self.catalogue {
            Some(catalogue) => Ok(catalogue.clone()),
            None => Catalogue::builtin(),
        }
    }

    /// The city's working calendar, or the bundled one.
    pub fn calendar_or_bundled(&self) -> Result<Calendar> {
        match &self.calendar {
            Some(calendar) => Ok(calendar.clone()),
            None => Calendar::bundled(),
        }
    }

    /// The city's clause library, or the bundled one.
    pub fn clauses_or_bundled(&self) -> Result<ClauseLibrary> {
        match &self.clauses {
            Some(clauses) => Ok(clauses.clone()),
            None => ClauseLibrary::bundled(),
        }
    }

    /// The thresholds the verdict (the server's, and the phone's pre-check) judges by:
    /// the city's, or fieldloop's defaults when it never imported them.
    pub fn verify_policy(&self) -> VerifyPolicy {
        self.thresholds
            .as_ref()
            .map(VerifyThresholds::policy)
            .unwrap_or_default()
    }

    /// The grid cell holding `p`, when the city has a grid.
    pub fn cell_at(&self, p: LatLon) -> Result<Option<&str>> {
        match &self.grid {
            Some(grid) => grid.cell_at(p),
            None => Ok(None),
        }
    }

    /// A category by its header key ("20101"), in the city's catalogue.
    pub fn category(&self, key: &str) -> Option<&Category> {
        self.catalogue.as_ref()?.get_by_key(key).ok()
    }

    /// A category by its GB/T 47678.5 code (5 digits) and kind.
    pub fn category_by_gb47678(&self, kind: CaseKind, code: &str) -> Option<&Category> {
        self.catalogue
            .as_ref()?
            .iter()
            .find(|c| c.kind == kind && c.gb47678.as_deref() == Some(code))
    }

    /// The unit the city's matrix names for a category key in a grid cell.
    pub fn responsible_unit(&self, category: &str, cell: &str) -> Option<&str> {
        dispatch_unit(self.matrix.as_ref()?, category, cell)
    }

    pub fn river(&self, id: &str) -> Option<&River> {
        self.rivers.iter().find(|r| r.segment.id == id)
    }

    /// Which segments each chief patrols, from the rivers' chief lists.
    pub fn chief_assignments(&self) -> Vec<ChiefAssignment> {
        let mut by_chief: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for river in &self.rivers {
            for chief in &river.chiefs {
                by_chief
                    .entry(chief)
                    .or_default()
                    .push(river.segment.id.clone());
            }
        }
        by_chief
            .into_iter()
            .map(|(chief, segments)| ChiefAssignment {
                chief: chief.to_owned(),
                segments,
            })
            .collect()
    }
}

fn from_json<T: for<'de> Deserialize<'de>>(kind: ReferenceKind, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        Error::invalid(
            "reference data",
            format!("{} ({}): {e}", kind.label_zh(), kind.as_str()),
        )
    })
}

/// The spatial index of a city's cells.
pub fn grid_index(cells: &[Cell]) -> Result<GridIndex> {
    GridIndex::new(
        cells
            .iter()
            .map(|c| GridCell {
                code: c.code.clone(),
                ring: c.ring.clone(),
            })
            .collect(),
    )
}

/// The bundled years with the city's own year files in their place; a year given by the
/// city replaces the bundled one.
pub fn calendar_over_bundled(years: &[serde_json::Value]) -> Result<Calendar> {
    let year_of = |v: &serde_json::Value| v.get("year").and_then(serde_json::Value::as_i64);
    let mut texts: BTreeMap<i64, String> = BTreeMap::new();
    for bundled in BUNDLED_YEARS {
        let value: serde_json::Value = serde_json::from_str(bundled)?;
        if let Some(year) = year_of(&value) {
            texts.insert(year, (*bundled).to_owned());
        }
    }
    for value in years {
        let year = year_of(value)
            .ok_or_else(|| Error::invalid("holiday calendar", "a year file has no year"))?;
        texts.insert(year, value.to_string());
    }
    let refs: Vec<&str> = texts.values().map(String::as_str).collect();
    Calendar::from_year_files(&refs, WorkingHours::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn square(code: &str, lat: f64, lon: f64) -> Cell {
        let d = 0.004;
        Cell {
            code: code.into(),
            name: String::new(),
            ring: vec![
                LatLon { lat, lon },
                LatLon { lat, lon: lon + d },
                LatLon {
                    lat: lat + d,
                    lon: lon + d,
                },
                LatLon { lat: lat + d, lon },
            ],
        }
    }

    #[test]
    fn parses_kinds_skips_unknown_ones_and_resolves_against_them() {
        let cells = vec![square("330106001001001", 30.0, 120.0)];
        let year = serde_json::json!({
            "year": 2026, "source": "city", "holidays": [
                {"name": "城市日", "from": "2026-12-01", "to": "2026-12-01"}],
            "working_weekends": []
        });
        let kinds = vec![
            KindData {
                kind: "grid".into(),
                json: serde_json::to_string(&cells).unwrap(),
            },
            KindData {
                kind: "from-a-newer-server".into(),
                json: "not json at all".into(),
            },
            KindData {
                kind: "calendar".into(),
                json: serde_json::to_string(&vec![year]).unwrap(),
            },
        ];
        let city = CityReference::parse(7, &kinds).unwrap();
        assert_eq!(city.version, 7);
        assert_eq!(
            city.cell_at(LatLon {
                lat: 30.002,
                lon: 120.002
            })
            .unwrap(),
            Some("330106001001001")
        );
        let calendar = city.calendar.expect("calendar");
        let city_day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert!(!calendar.is_working_day(city_day), "the city's own day off");
        // The imported 2026 replaced the bundled one; 2025 is still there.
        assert!(calendar.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()));
        assert!(!calendar.is_working_day(NaiveDate::from_ymd_opt(2025, 10, 1).unwrap()));
    }

    #[test]
    fn a_bad_kind_is_an_error_naming_it() {
        let kinds = vec![KindData {
            kind: "units".into(),
            json: "[{\"id\": 3}]".into(),
        }];
        let err = CityReference::parse(1, &kinds).unwrap_err().to_string();
        assert!(err.contains("责任单位"), "{err}");
    }

    #[test]
    fn the_citys_thresholds_make_the_verdicts_policy_and_default_without_them() {
        let none = CityReference::parse(1, &[]).unwrap();
        assert_eq!(none.verify_policy(), VerifyPolicy::default());
        let kinds = vec![KindData {
            kind: "thresholds".into(),
            json: r#"{"max_exif_time_gap_minutes": 3, "exif_gps_slack_m": 5}"#.into(),
        }];
        let city = CityReference::parse(2, &kinds).unwrap();
        let policy = city.verify_policy();
        assert_eq!(policy.max_exif_time_gap, 3 * crate::time::MINUTE);
        assert_eq!(policy.exif_gps_slack_m, 5.0);
        assert_eq!(
            policy.max_upload_delay,
            VerifyPolicy::default().max_upload_delay
        );

        let bad = vec![KindData {
            kind: "thresholds".into(),
            json: r#"{"exif_gps_slack_m": -1}"#.into(),
        }];
        let err = CityReference::parse(3, &bad).unwrap_err().to_string();
        assert!(
            err.contains("核查阈值") && err.contains("exif_gps_slack_m"),
            "{err}"
        );
    }
}
