//! Grid-cell lookup (单元网格): which of thousands of cell polygons holds a point.
//!
//! An R-tree over the cells' bounding boxes narrows the search to a handful of
//! candidates, then an exact point-in-polygon test decides.
//!
//! **Border rule**: a cell's polygon is closed (its boundary belongs to it). A point on
//! a border shared by several cells — or in an overlap left by sloppy survey data —
//! belongs to the cell with the lowest code among those whose closed polygon contains
//! it. The boundary test uses exact orientation predicates, so the same point always
//! resolves to the same cell, on every device and the server alike.

use std::ops::ControlFlow;

use ::geo::{
    coordinate_position::{CoordPos, CoordinatePosition},
    LineString, Polygon,
};
use rstar::{primitives::GeomWithData, primitives::Rectangle, RTree};
use serde::{Deserialize, Serialize};

use super::LatLon;
use crate::error::{Error, Result};

/// One cell as reference data gives it: its 15-digit code (6 admin + 3 street +
/// 3 community + 3 cell) and its outer ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GridCell {
    pub code: String,
    /// Vertices in order; closing the ring (repeating the first vertex) is optional.
    pub ring: Vec<LatLon>,
}

/// Checks a 15-digit grid-cell code.
pub fn validate_cell_code(code: &str) -> Result<()> {
    if code.len() == 15 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "grid cell code",
            format!("{code:?} is not 15 digits"),
        ))
    }
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// The spatial index over a set of cells. Build it once per reference-data version.
#[derive(Debug, Clone)]
pub struct GridIndex {
    /// Sorted by code, so a lower index is a lower code (the border rule).
    codes: Vec<String>,
    polygons: Vec<Polygon<f64>>,
    tree: RTree<Entry>,
}

impl GridIndex {
    /// Validates every cell (code, vertices, at least a triangle, no duplicate codes).
    pub fn new(mut cells: Vec<GridCell>) -> Result<GridIndex> {
        cells.sort_by(|a, b| a.code.cmp(&b.code));
        for pair in cells.windows(2) {
            if pair[0].code == pair[1].code {
                return Err(Error::invalid(
                    "grid cell",
                    format!("code {} appears twice", pair[0].code),
                ));
            }
        }
        let mut codes = Vec::with_capacity(cells.len());
        let mut polygons = Vec::with_capacity(cells.len());
        let mut entries = Vec::with_capacity(cells.len());
        for (index, cell) in cells.into_iter().enumerate() {
            validate_cell_code(&cell.code)?;
            for p in &cell.ring {
                p.validate()?;
            }
            let mut ring: Vec<_> = cell.ring.iter().map(LatLon::coord).collect();
            ring.dedup();
            if ring.len() > 1 && ring.first() == ring.last() {
                ring.pop();
            }
            if ring.len() < 3 {
                return Err(Error::invalid(
                    "grid cell",
                    format!("{} has fewer than 3 distinct vertices", cell.code),
                ));
            }
            let (mut min, mut max) = ([f64::MAX; 2], [f64::MIN; 2]);
            for c in &ring {
                min = [min[0].min(c.x), min[1].min(c.y)];
                max = [max[0].max(c.x), max[1].max(c.y)];
            }
            entries.push(Entry::new(Rectangle::from_corners(min, max), index));
            polygons.push(Polygon::new(LineString::from(ring), vec![]));
            codes.push(cell.code);
        }
        Ok(GridIndex {
            codes,
            polygons,
            tree: RTree::bulk_load(entries),
        })
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The cell holding `p` (border rule in the module docs), or `None` when no cell
    /// does; an invalid coordinate is an error.
    pub fn cell_at(&self, p: LatLon) -> Result<Option<&str>> {
        p.validate()?;
        let coord = p.coord();
        let mut best: Option<usize> = None;
        // Internal iteration: measurably cheaper than the iterator form on this hot path.
        let _ = self
            .tree
            .locate_all_at_point_int(&[p.lon, p.lat], |entry| -> ControlFlow<()> {
                let index = entry.data;
                if best.is_none_or(|b| index < b)
                    && self.polygons[index].coordinate_position(&coord) != CoordPos::Outside
                {
                    best = Some(index);
                }
                ControlFlow::Continue(())
            });
        Ok(best.map(|i| self.codes[i].as_str()))
    }

    /// Whether the index holds a cell with this code.
    pub fn contains_code(&self, code: &str) -> bool {
        self.codes
            .binary_search_by(|c| c.as_str().cmp(code))
            .is_ok()
    }
}
