//! The demo city: a small piece of Hangzhou 西湖区 (admin code 330106), built in code so
//! it is the same on every run.
//!
//! - 3 streets × 3 communities × 4 cells = 36 square cells of about 400 m, with 15-digit
//!   codes `330106 SSS CCC NNN`. Streets are columns west to east (each two cells wide),
//!   communities rows south to north (each two cells high), cells numbered SW, SE, NW, NE.
//!   The street and community codes are the demo's own, not the official ones.
//! - Six responsible units and a responsibility matrix (category × area → unit) in the
//!   shape `schedule::ResponsibilityMatrix` reads (`{category, area, unit}`, category a full
//!   key, a prefix ending in `*`, or `*`).
//! - Four river segments (polylines) with warning levels and chiefs, and the construction
//!   project `canal-2026` with the stages its supervisors inspect.
//!
//! A server learns it from the import files generated from it ([`super::city_files`]).

use fieldloop_core::geo::grid::{GridCell, GridIndex};
use fieldloop_core::geo::LatLon;
use fieldloop_core::plan::{ChiefLevel, Segment, WarningLevel};
use fieldloop_core::schedule::{dispatch_unit, ResponsibilityMatrix, ResponsibilityRule};
use fieldloop_core::Result;
use serde::Serialize;

/// South-west corner of the demo grid, WGS-84 (west of West Lake, towards 西溪).
pub const ORIGIN: LatLon = LatLon {
    lat: 30.262,
    lon: 120.095,
};
/// Cell edge, metres.
pub const CELL_M: f64 = 400.0;
const METRES_PER_DEG_LAT: f64 = 111_320.0;

pub const DISTRICT: &str = "330106";
pub const PROJECT: &str = "canal-2026";

/// Reference data version; bump when anything below changes.
pub const VERSION: &str = "xihu-demo-2026-11";

fn metres_per_deg_lon() -> f64 {
    METRES_PER_DEG_LAT * ORIGIN.lat.to_radians().cos()
}

/// A point `east_m`, `north_m` metres from [`ORIGIN`].
pub fn offset(east_m: f64, north_m: f64) -> LatLon {
    LatLon {
        lat: ORIGIN.lat + north_m / METRES_PER_DEG_LAT,
        lon: ORIGIN.lon + east_m / metres_per_deg_lon(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Street {
    pub code: String,
    pub name: &'static str,
    pub communities: Vec<Community>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Community {
    pub code: String,
    pub name: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub code: String,
    pub community: String,
    pub ring: Vec<LatLon>,
    pub centre: LatLon,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    pub id: &'static str,
    pub name: &'static str,
    /// What it handles, in the words of the category catalogue's `unit_type`.
    pub handles: &'static str,
}

/// One row of the responsibility matrix.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixRow {
    pub category: &'static str,
    pub area: &'static str,
    pub unit: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct RiverSegment {
    #[serde(flatten)]
    pub segment: Segment,
    /// Usernames of the chiefs patrolling it.
    pub chiefs: Vec<&'static str>,
    /// WGS-84 polyline, upstream to downstream.
    pub line: Vec<LatLon>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub id: &'static str,
    pub name: &'static str,
    pub site: LatLon,
    /// Stage keys of the clause library, in the order the works go through them.
    pub stages: Vec<&'static str>,
    pub contractor: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct City {
    pub version: &'static str,
    pub district: &'static str,
    pub district_name: &'static str,
    pub streets: Vec<Street>,
    pub cells: Vec<Cell>,
    pub units: Vec<Unit>,
    pub matrix: Vec<MatrixRow>,
    pub segments: Vec<RiverSegment>,
    pub project: Project,
}

const STREETS: [&str; 3] = ["北山街道", "西溪街道", "灵隐街道"];
const COMMUNITIES: [[&str; 3]; 3] = [
    ["保俶社区", "宝石社区", "曙光社区"],
    ["古荡社区", "文新社区", "求是社区"],
    ["玉泉社区", "灵峰社区", "茶园社区"],
];

impl City {
    pub fn builtin() -> City {
        let mut streets = Vec::new();
        let mut cells = Vec::new();
        for (s, street_name) in STREETS.iter().enumerate() {
            let street_code = format!("{DISTRICT}{:03}", s + 1);
            let mut communities = Vec::new();
            for (c, community_name) in COMMUNITIES[s].iter().enumerate() {
                let community_code = format!("{street_code}{:03}", c + 1);
                for n in 0..4 {
                    let col = (2 * s + n % 2) as f64;
                    let row = (2 * c + n / 2) as f64;
                    let (w, so) = (col * CELL_M, row * CELL_M);
                    let ring = vec![
                        offset(w, so),
                        offset(w + CELL_M, so),
                        offset(w + CELL_M, so + CELL_M),
                        offset(w, so + CELL_M),
                    ];
                    cells.push(Cell {
                        code: format!("{community_code}{:03}", n + 1),
                        community: community_code.clone(),
                        ring,
                        centre: offset(w + CELL_M / 2.0, so + CELL_M / 2.0),
                    });
                }
                communities.push(Community {
                    code: community_code,
                    name: community_name,
                });
            }
            streets.push(Street {
                code: street_code,
                name: street_name,
                communities,
            });
        }
        City {
            version: VERSION,
            district: DISTRICT,
            district_name: "杭州市西湖区",
            streets,
            cells,
            units: units(),
            matrix: matrix(),
            segments: segments(),
            project: Project {
                id: PROJECT,
                name: "西溪河截污纳管工程 (canal-2026)",
                site: offset(1500.0, 1150.0),
                stages: vec!["preparation", "excavation", "support", "backfill"],
                contractor: "contractor",
            },
        }
    }

    pub fn cell(&self, code: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.code == code)
    }

    pub fn segment(&self, id: &str) -> Option<&RiverSegment> {
        self.segments.iter().find(|s| s.segment.id == id)
    }

    /// The spatial index of the cells, for "which cell is this point in".
    pub fn grid_index(&self) -> Result<GridIndex> {
        GridIndex::new(
            self.cells
                .iter()
                .map(|c| GridCell {
                    code: c.code.clone(),
                    ring: c.ring.clone(),
                })
                .collect(),
        )
    }

    /// The responsibility matrix in the core's form, for the server's auto-dispatch.
    pub fn responsibility_matrix(&self) -> Result<ResponsibilityMatrix> {
        let matrix = ResponsibilityMatrix {
            version: self.version.to_owned(),
            rules: self
                .matrix
                .iter()
                .map(|r| ResponsibilityRule {
                    category: r.category.to_owned(),
                    area: r.area.to_owned(),
                    unit: r.unit.to_owned(),
                })
                .collect(),
        };
        matrix.validate()?;
        Ok(matrix)
    }

    /// The unit the matrix gives for a category key in a grid cell, by the core's rule
    /// (the one the server's auto-dispatch uses): most specific area, then category.
    pub fn responsible_unit(&self, category: &str, cell: &str) -> Option<String> {
        let matrix = self.responsibility_matrix().ok()?;
        dispatch_unit(&matrix, category, cell).map(str::to_owned)
    }
}

fn units() -> Vec<Unit> {
    vec![
        Unit {
            id: "sanitation-xihu",
            name: "西湖区环境卫生管理中心",
            handles: "环卫",
        },
        Unit {
            id: "roads-xihu",
            name: "西湖区市政道路养护所",
            handles: "市政 (道路养护)",
        },
        Unit {
            id: "lighting-xihu",
            name: "西湖区路灯管理所",
            handles: "市政照明",
        },
        Unit {
            id: "water-xihu",
            name: "西湖区水务 (排水) 公司",
            handles: "水务 / 排水 / 供水",
        },
        Unit {
            id: "greening-xihu",
            name: "西湖区园林绿化管理站",
            handles: "园林",
        },
        Unit {
            id: "enforcement-xihu",
            name: "西湖区城管执法大队",
            handles: "城管执法",
        },
    ]
}

fn matrix() -> Vec<MatrixRow> {
    let row = |category, unit| MatrixRow {
        category,
        area: DISTRICT,
        unit,
    };
    vec![
        // Whatever has no better row goes to enforcement, who forward it.
        row("*", "enforcement-xihu"),
        row("101*", "water-xihu"),
        row("10106", "lighting-xihu"),
        row("10118", "lighting-xihu"),
        row("10119", "lighting-xihu"),
        row("10120", "lighting-xihu"),
        row("102*", "roads-xihu"),
        row("103*", "sanitation-xihu"),
        row("104*", "greening-xihu"),
        row("106*", "water-xihu"),
        row("201*", "sanitation-xihu"),
        row("20101", "enforcement-xihu"),
        row("20105", "water-xihu"),
        row("20106", "greening-xihu"),
        row("20110", "roads-xihu"),
        row("20116", "enforcement-xihu"),
        row("202*", "enforcement-xihu"),
        row("204*", "water-xihu"),
        row("20401", "roads-xihu"),
        row("205*", "enforcement-xihu"),
        // Street 002's own sanitation contract for exposed rubbish (most specific area).
        MatrixRow {
            category: "20102",
            area: "330106002",
            unit: "sanitation-xihu",
        },
    ]
}

/// A gently meandering polyline from `(e0, n0)` to `(e1, n1)` metres, one vertex per ~100 m.
fn river_line(e0: f64, n0: f64, e1: f64, n1: f64, wiggle_m: f64) -> Vec<LatLon> {
    let length = ((e1 - e0).powi(2) + (n1 - n0).powi(2)).sqrt();
    let steps = (length / 100.0).ceil().max(1.0) as usize;
    let (ue, un) = ((e1 - e0) / length, (n1 - n0) / length);
    (0..=steps)
        .map(|i| {
            let t = i as f64 / steps as f64;
            let side = wiggle_m * (t * std::f64::consts::PI * 3.0).sin();
            offset(
                e0 + (e1 - e0) * t - un * side,
                n0 + (n1 - n0) * t + ue * side,
            )
        })
        .collect()
}

fn segments() -> Vec<RiverSegment> {
    let seg = |id: &str, name: &str, river: &str, level, warning| Segment {
        id: id.into(),
        name: name.into(),
        river: river.into(),
        chief_level: level,
        warning,
    };
    vec![
        RiverSegment {
            segment: seg(
                "xixi-01",
                "西溪河 文新段",
                "西溪河",
                ChiefLevel::Village,
                WarningLevel::None,
            ),
            chiefs: vec!["chief", "chief-town"],
            line: river_line(100.0, 1000.0, 1900.0, 1300.0, 40.0),
        },
        RiverSegment {
            segment: seg(
                "xixi-02",
                "西溪河 古荡段",
                "西溪河",
                ChiefLevel::Village,
                WarningLevel::Yellow,
            ),
            chiefs: vec!["chief-gudang", "chief-town"],
            line: river_line(1900.0, 1300.0, 2350.0, 2300.0, 30.0),
        },
        RiverSegment {
            segment: seg(
                "shajiang-01",
                "沙土港 玉泉段",
                "沙土港",
                ChiefLevel::Town,
                WarningLevel::Orange,
            ),
            chiefs: vec!["chief-town"],
            line: river_line(1700.0, 100.0, 2300.0, 900.0, 25.0),
        },
        RiverSegment {
            segment: seg(
                "jinsha-01",
                "金沙港 灵峰段",
                "金沙港",
                ChiefLevel::District,
                WarningLevel::Red,
            ),
            chiefs: vec!["chief-district"],
            line: river_line(200.0, 2300.0, 1200.0, 2350.0, 20.0),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldloop_core::geo::distance_m;

    #[test]
    fn cells_tile_the_district_and_the_index_finds_each_centre() {
        let city = City::builtin();
        assert_eq!(city.cells.len(), 36);
        let index = city.grid_index().expect("valid cells");
        for cell in &city.cells {
            assert_eq!(
                index.cell_at(cell.centre).unwrap(),
                Some(cell.code.as_str())
            );
        }
        let side = distance_m(city.cells[0].ring[0], city.cells[0].ring[1]);
        assert!((side - CELL_M).abs() < 2.0, "{side}");
    }

    #[test]
    fn matrix_prefers_the_most_specific_area_then_category() {
        let city = City::builtin();
        assert_eq!(
            city.responsible_unit("20102", "330106001001001").as_deref(),
            Some("sanitation-xihu")
        );
        assert_eq!(
            city.responsible_unit("20110", "330106001001001").as_deref(),
            Some("roads-xihu")
        );
        assert_eq!(
            city.responsible_unit("10118", "330106003001002").as_deref(),
            Some("lighting-xihu")
        );
        assert_eq!(
            city.responsible_unit("10101", "330106003001002").as_deref(),
            Some("water-xihu")
        );
        assert_eq!(
            city.responsible_unit("20504", "330106003001002").as_deref(),
            Some("enforcement-xihu")
        );
        assert_eq!(city.responsible_unit("20102", "110105001001001"), None);
    }

    #[test]
    fn segments_are_long_enough_for_a_village_patrol() {
        let city = City::builtin();
        let seg = city.segment("xixi-01").expect("xixi-01");
        let length: f64 = seg.line.windows(2).map(|w| distance_m(w[0], w[1])).sum();
        assert!(length > 1_500.0, "{length}");
    }
}
