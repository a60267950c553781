//! Geo benchmarks; prints its figures. Run with `cargo bench -p fieldloop-core --bench geo`
//! (or build with `--no-run` and run the binary).
//!
//! 1. 1,000,000 point-in-cell lookups over 5,000 grid cells (R-tree + exact test),
//!    beside a brute-force scan of every polygon on a sample, for scale.
//! 2. Coverage of a 5 km river segment by a 2,000-fix track.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fieldloop_core::geo::{segment_coverage, GridCell, GridIndex, LatLon};
use geo::{
    coordinate_position::{CoordPos, CoordinatePosition},
    Coord, LineString, Polygon,
};

const LAT0: f64 = 23.10;
const LON0: f64 = 113.25;
const STEP: f64 = 0.002;
const ROWS: usize = 50;
const COLS: usize = 100;

struct Lcg(u64);
impl Lcg {
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 5,000 slightly irregular quadrilaterals (shared corners jittered) like surveyed cells.
fn cells() -> Vec<GridCell> {
    let mut rng = Lcg(42);
    let mut corners = vec![vec![LatLon { lat: 0.0, lon: 0.0 }; COLS + 1]; ROWS + 1];
    for (r, row) in corners.iter_mut().enumerate() {
        for (c, corner) in row.iter_mut().enumerate() {
            let jitter = |rng: &mut Lcg| (rng.next_f64() - 0.5) * STEP * 0.3;
            *corner = LatLon {
                lat: LAT0 + r as f64 * STEP + jitter(&mut rng),
                lon: LON0 + c as f64 * STEP + jitter(&mut rng),
            };
        }
    }
    let mut out = Vec::with_capacity(ROWS * COLS);
    for r in 0..ROWS {
        for c in 0..COLS {
            out.push(GridCell {
                code: format!(
                    "440106{:03}{:03}{:03}",
                    r / 10 + 1,
                    c / 10 + 1,
                    (r % 10) * 10 + c % 10 + 1
                ),
                ring: vec![
                    corners[r][c],
                    corners[r][c + 1],
                    corners[r + 1][c + 1],
                    corners[r + 1][c],
                ],
            });
        }
    }
    out
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn lookups() {
    let cells = cells();
    let t = Instant::now();
    let index = GridIndex::new(cells.clone()).expect("cells");
    let build = t.elapsed();

    // Points over the grid and a 10 % margin around it, so some fall in no cell.
    let mut rng = Lcg(7);
    let (h, w) = (ROWS as f64 * STEP, COLS as f64 * STEP);
    let points: Vec<LatLon> = (0..1_000_000)
        .map(|_| LatLon {
            lat: LAT0 - 0.1 * h + rng.next_f64() * 1.2 * h,
            lon: LON0 - 0.1 * w + rng.next_f64() * 1.2 * w,
        })
        .collect();

    let t = Instant::now();
    let mut found = 0usize;
    for p in &points {
        if black_box(index.cell_at(*p)).ok().flatten().is_some() {
            found += 1;
        }
    }
    let elapsed = t.elapsed();

    // Brute force over every polygon, on a sample, for comparison.
    let polygons: Vec<Polygon<f64>> = cells
        .iter()
        .map(|c| {
            Polygon::new(
                LineString::from(
                    c.ring
                        .iter()
                        .map(|p| Coord { x: p.lon, y: p.lat })
                        .collect::<Vec<_>>(),
                ),
                vec![],
            )
        })
        .collect();
    let sample = 2_000;
    let t = Instant::now();
    let mut brute_found = 0usize;
    for p in &points[..sample] {
        let c = Coord { x: p.lon, y: p.lat };
        if polygons
            .iter()
            .any(|poly| black_box(poly.coordinate_position(&c)) != CoordPos::Outside)
        {
            brute_found += 1;
        }
    }
    let brute = t.elapsed();

    println!(
        "grid lookup: {} cells, index built in {:.1} ms",
        index.len(),
        build.as_secs_f64() * 1e3
    );
    println!(
        "grid lookup: 1,000,000 lookups in {:.1} ms = {:.0} ns/lookup ({:.1} M/s); {found} in a cell, {} in none",
        elapsed.as_secs_f64() * 1e3,
        per(elapsed, points.len()),
        points.len() as f64 / elapsed.as_secs_f64() / 1e6,
        points.len() - found
    );
    println!(
        "grid lookup: brute-force scan of all 5,000 polygons: {:.0} ns/lookup ({brute_found}/{sample} in a cell) = {:.0}x slower",
        per(brute, sample),
        per(brute, sample) / per(elapsed, points.len())
    );
}

fn coverage() {
    // A meandering 5 km segment (101 vertices) and a 2,000-fix track along the bank,
    // wobbling ±15 m, that skips the middle kilometre.
    let start = LatLon {
        lat: 23.20,
        lon: 113.28,
    };
    let m_lat = 1.0 / 111_195.0;
    let m_lon = 1.0 / (111_195.0 * start.lat.to_radians().cos());
    let at = |x: f64, y: f64| LatLon {
        lat: start.lat + y * m_lat,
        lon: start.lon + x * m_lon,
    };
    let meander = |x: f64| 120.0 * (x / 400.0).sin();
    // The meander adds ~2 % to the length: 4,890 m of x makes ~5 km of river.
    let x_end = 4_890.0;
    let segment: Vec<LatLon> = (0..=100)
        .map(|i| x_end * i as f64 / 100.0)
        .map(|x| at(x, meander(x)))
        .collect();
    let mut rng = Lcg(3);
    let (gap_from, gap_to) = (1_700.0, 2_550.0);
    let walked = x_end - (gap_to - gap_from);
    let track: Vec<LatLon> = (0..2_000)
        .map(|i| walked * i as f64 / 1_999.0)
        .map(|u| {
            if u < gap_from {
                u
            } else {
                u + (gap_to - gap_from)
            }
        })
        .map(|x| at(x, meander(x) + 20.0 + (rng.next_f64() - 0.5) * 30.0))
        .collect();

    let runs = 50;
    let mut times = Vec::with_capacity(runs);
    let mut result = None;
    for _ in 0..runs {
        let t = Instant::now();
        let c =
            segment_coverage(black_box(&segment), black_box(&track), 50.0, 5.0).expect("coverage");
        times.push(t.elapsed());
        result = Some(c);
    }
    times.sort();
    let c = result.expect("ran");
    println!(
        "coverage: {:.0} m segment ({} vertices), {} fixes, 50 m buffer, 5 m step: median {:.2} ms, min {:.2} ms over {runs} runs; share {:.1} %",
        c.segment_length_m,
        segment.len(),
        track.len(),
        times[runs / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        c.share * 100.0
    );
}

fn main() {
    // `cargo bench` passes "--bench"; there are no options to read.
    lookups();
    coverage();
}
