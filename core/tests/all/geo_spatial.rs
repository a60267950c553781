//! Grid-cell lookup, the photo radius check, track plausibility and segment coverage,
//! with the coordinate validation they share.

use fieldloop_core::doc::Position;
use fieldloop_core::geo::{
    assess_track, distance_m, segment_coverage, within_radius, AccuracyPolicy, Finding, Fix,
    GridCell, GridIndex, LatLon, PlausibilityLimits, TrackVerdict,
};
use fieldloop_core::time::{MINUTE, SECOND};
use fieldloop_core::Error;

// ---------------------------------------------------------------- grid

const LAT0: f64 = 23.10;
const LON0: f64 = 113.25;
const STEP: f64 = 0.002; // about 200 m

fn cell_code(row: usize, col: usize) -> String {
    // 6 admin + 3 street + 3 community + 3 cell
    format!(
        "440106{:03}{:03}{:03}",
        row / 10 + 1,
        col / 10 + 1,
        (row % 10) * 10 + col % 10 + 1
    )
}

fn lat_at(row: usize) -> f64 {
    LAT0 + row as f64 * STEP
}

fn lon_at(col: usize) -> f64 {
    LON0 + col as f64 * STEP
}

fn square(row: usize, col: usize) -> GridCell {
    GridCell {
        code: cell_code(row, col),
        ring: vec![
            LatLon {
                lat: lat_at(row),
                lon: lon_at(col),
            },
            LatLon {
                lat: lat_at(row),
                lon: lon_at(col + 1),
            },
            LatLon {
                lat: lat_at(row + 1),
                lon: lon_at(col + 1),
            },
            LatLon {
                lat: lat_at(row + 1),
                lon: lon_at(col),
            },
        ],
    }
}

/// 50 rows × 100 columns = 5,000 cells, minus any listed in `holes`.
fn city(holes: &[(usize, usize)]) -> Vec<GridCell> {
    let mut cells = Vec::new();
    for row in 0..50 {
        for col in 0..100 {
            if !holes.contains(&(row, col)) {
                cells.push(square(row, col));
            }
        }
    }
    cells
}

/// A small deterministic generator so the test needs no extra crate.
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

#[test]
fn five_thousand_cells_every_interior_point_finds_its_cell() {
    let index = GridIndex::new(city(&[])).expect("valid cells");
    assert_eq!(index.len(), 5_000);
    let mut rng = Lcg(7);
    let mut checked = 0;
    for _ in 0..20_000 {
        let (fr, fc) = (rng.next_f64() * 50.0, rng.next_f64() * 100.0);
        let (row, col) = (fr as usize, fc as usize);
        // Keep away from borders by a hair so the arithmetic is unambiguous.
        let (dr, dc) = (fr - row as f64, fc - col as f64);
        if !(0.01..0.99).contains(&dr) || !(0.01..0.99).contains(&dc) {
            continue;
        }
        let p = LatLon {
            lat: LAT0 + fr * STEP,
            lon: LON0 + fc * STEP,
        };
        let expected = cell_code(row, col);
        assert_eq!(index.cell_at(p).unwrap(), Some(expected.as_str()), "{p:?}");
        checked += 1;
    }
    assert!(checked > 15_000);
}

#[test]
fn a_point_on_a_shared_border_goes_to_the_lowest_code_every_time() {
    let cells = city(&[]);
    let index = GridIndex::new(cells.clone()).unwrap();
    // Built from a shuffled list, the answer must not change.
    let mut reversed = cells;
    reversed.reverse();
    let other = GridIndex::new(reversed).unwrap();

    // Vertical border between (12, 34) and (12, 35): the vertex longitude exactly.
    let p = LatLon {
        lat: (lat_at(12) + lat_at(13)) / 2.0,
        lon: lon_at(35),
    };
    let lowest = cell_code(12, 34).min(cell_code(12, 35));
    assert_eq!(index.cell_at(p).unwrap(), Some(lowest.as_str()));
    assert_eq!(other.cell_at(p).unwrap(), Some(lowest.as_str()));

    // Horizontal border between (19, 9) and (20, 9): codes differ by street (…002… vs …003…).
    let p = LatLon {
        lat: lat_at(20),
        lon: (lon_at(9) + lon_at(10)) / 2.0,
    };
    let lowest = cell_code(19, 9).min(cell_code(20, 9));
    assert_eq!(lowest, cell_code(19, 9));
    for _ in 0..3 {
        assert_eq!(index.cell_at(p).unwrap(), Some(lowest.as_str()));
    }

    // A corner shared by four cells.
    let p = LatLon {
        lat: lat_at(30),
        lon: lon_at(40),
    };
    let lowest = [(29, 39), (29, 40), (30, 39), (30, 40)]
        .iter()
        .map(|&(r, c)| cell_code(r, c))
        .min()
        .unwrap();
    assert_eq!(index.cell_at(p).unwrap(), Some(lowest.as_str()));
    assert_eq!(other.cell_at(p).unwrap(), Some(lowest.as_str()));
}

#[test]
fn the_outer_edge_belongs_to_the_cell_and_beyond_it_is_no_cell() {
    let index = GridIndex::new(city(&[])).unwrap();
    let edge = LatLon {
        lat: lat_at(0),
        lon: lon_at(3) + STEP / 2.0,
    };
    assert_eq!(index.cell_at(edge).unwrap(), Some(cell_code(0, 3).as_str()));
    let south = LatLon {
        lat: lat_at(0) - 1e-6,
        lon: lon_at(3) + STEP / 2.0,
    };
    assert_eq!(index.cell_at(south).unwrap(), None);
    assert_eq!(
        index
            .cell_at(LatLon {
                lat: 39.9,
                lon: 116.4
            })
            .unwrap(),
        None
    );
}

#[test]
fn a_point_in_a_hole_between_cells_is_in_no_cell() {
    let index = GridIndex::new(city(&[(25, 50)])).unwrap();
    let hole_centre = LatLon {
        lat: lat_at(25) + STEP / 2.0,
        lon: lon_at(50) + STEP / 2.0,
    };
    assert_eq!(index.cell_at(hole_centre).unwrap(), None);
    // Its rim still belongs to the neighbours.
    let rim = LatLon {
        lat: lat_at(25) + STEP / 2.0,
        lon: lon_at(50),
    };
    assert_eq!(
        index.cell_at(rim).unwrap(),
        Some(cell_code(25, 49).as_str())
    );
}

#[test]
fn a_triangle_cell_is_tested_exactly_not_by_its_box() {
    let triangle = GridCell {
        code: "440106001001001".into(),
        ring: vec![
            LatLon {
                lat: 23.0,
                lon: 113.0,
            },
            LatLon {
                lat: 23.0,
                lon: 113.01,
            },
            LatLon {
                lat: 23.01,
                lon: 113.0,
            },
            LatLon {
                lat: 23.0,
                lon: 113.0,
            }, // closed ring accepted
        ],
    };
    let index = GridIndex::new(vec![triangle]).unwrap();
    assert!(index
        .cell_at(LatLon {
            lat: 23.002,
            lon: 113.002
        })
        .unwrap()
        .is_some());
    // Inside the bounding box, outside the triangle.
    assert_eq!(
        index
            .cell_at(LatLon {
                lat: 23.008,
                lon: 113.008
            })
            .unwrap(),
        None
    );
}

#[test]
fn bad_cells_and_bad_points_are_typed_errors() {
    let mut bad_code = square(0, 0);
    bad_code.code = "44010600100100".into(); // 14 digits
    assert!(matches!(
        GridIndex::new(vec![bad_code]),
        Err(Error::Invalid { .. })
    ));

    let mut letters = square(0, 0);
    letters.code = "44010600100100A".into();
    assert!(matches!(
        GridIndex::new(vec![letters]),
        Err(Error::Invalid { .. })
    ));

    let twice = vec![square(0, 0), square(0, 0)];
    assert!(matches!(GridIndex::new(twice), Err(Error::Invalid { .. })));

    let mut degenerate = square(0, 0);
    degenerate.ring.truncate(2);
    assert!(matches!(
        GridIndex::new(vec![degenerate]),
        Err(Error::Invalid { .. })
    ));

    let mut nan_vertex = square(0, 0);
    nan_vertex.ring[1].lat = f64::NAN;
    assert!(matches!(
        GridIndex::new(vec![nan_vertex]),
        Err(Error::Invalid { .. })
    ));

    let index = GridIndex::new(city(&[])).unwrap();
    for p in [
        LatLon {
            lat: f64::NAN,
            lon: 113.3,
        },
        LatLon {
            lat: 23.1,
            lon: f64::NAN,
        },
        LatLon {
            lat: f64::INFINITY,
            lon: 113.3,
        },
        LatLon {
            lat: 90.0001,
            lon: 113.3,
        },
        LatLon {
            lat: -91.0,
            lon: 113.3,
        },
        LatLon {
            lat: 23.1,
            lon: 180.5,
        },
        LatLon {
            lat: 23.1,
            lon: -200.0,
        },
    ] {
        assert!(
            matches!(
                index.cell_at(p),
                Err(Error::Invalid {
                    what: "coordinate",
                    ..
                })
            ),
            "{p:?}"
        );
    }
    assert!(LatLon::new(90.0, 180.0).is_ok());
    assert!(LatLon::new(f64::NAN, 0.0).is_err());
}

// ---------------------------------------------------------------- radius

const CASE: Position = Position {
    lat: 23.1291,
    lon: 113.2644,
    accuracy_m: 5.0,
};

/// A position `metres` north of the case.
fn north_of_case(metres: f64, accuracy_m: f64) -> Position {
    Position {
        lat: CASE.lat + metres / 111_195.0,
        lon: CASE.lon,
        accuracy_m,
    }
}

#[test]
fn a_photo_240_m_away_fails_a_50_m_radius_and_says_how_far() {
    let photo = north_of_case(240.0, 10.0);
    let check = within_radius(&photo, &CASE, 50.0, &AccuracyPolicy::default()).unwrap();
    assert!(!check.within);
    assert!(
        (check.distance_m - 240.0).abs() < 1.0,
        "{}",
        check.distance_m
    );
    assert_eq!(check.allowance_m, 15.0);
    assert!(
        check.message().contains("240 m from the case"),
        "{}",
        check.message()
    );
}

#[test]
fn accuracy_gives_the_benefit_of_the_doubt() {
    // 60 m away, radius 50: passes only because the fixes are known to be ±8 and ±5 m.
    let photo = north_of_case(60.0, 8.0);
    let check = within_radius(&photo, &CASE, 50.0, &AccuracyPolicy::default()).unwrap();
    assert!(check.within, "{check:?}");
    let exact_case = Position {
        accuracy_m: 0.0,
        ..CASE
    };
    let exact_photo = north_of_case(60.0, 0.0);
    let check = within_radius(&exact_photo, &exact_case, 50.0, &AccuracyPolicy::default()).unwrap();
    assert!(!check.within);
    // Inside the radius with no slack at all.
    let check = within_radius(
        &north_of_case(30.0, 0.0),
        &exact_case,
        50.0,
        &AccuracyPolicy::default(),
    )
    .unwrap();
    assert!(check.within);
}

#[test]
fn a_5_km_accuracy_does_not_pass_everything() {
    let photo = north_of_case(200.0, 5_000.0);
    let check = within_radius(&photo, &CASE, 50.0, &AccuracyPolicy::default()).unwrap();
    assert!(!check.within, "{check:?}");
    assert_eq!(check.allowance_m, 35.0); // 30 m cap + the case's 5 m
    assert!(check.accuracy_capped);
    assert!(check.message().contains("imprecise"));
    // Up to the cap it does help: 80 m away, 50 m radius, 30 + 5 of slack.
    let check = within_radius(
        &north_of_case(80.0, 5_000.0),
        &CASE,
        50.0,
        &AccuracyPolicy::default(),
    )
    .unwrap();
    assert!(check.within);
}

#[test]
fn radius_check_rejects_bad_input() {
    let policy = AccuracyPolicy::default();
    let nan = Position {
        lat: f64::NAN,
        ..CASE
    };
    assert!(matches!(
        within_radius(&nan, &CASE, 50.0, &policy),
        Err(Error::Invalid { .. })
    ));
    let far_north = Position { lat: 95.0, ..CASE };
    assert!(matches!(
        within_radius(&CASE, &far_north, 50.0, &policy),
        Err(Error::Invalid { .. })
    ));
    let negative = Position {
        accuracy_m: -1.0,
        ..CASE
    };
    assert!(matches!(
        within_radius(&negative, &CASE, 50.0, &policy),
        Err(Error::Invalid { .. })
    ));
    let nan_accuracy = Position {
        accuracy_m: f64::NAN,
        ..CASE
    };
    assert!(within_radius(&CASE, &nan_accuracy, 50.0, &policy).is_err());
    assert!(within_radius(&CASE, &CASE, 0.0, &policy).is_err());
    assert!(within_radius(&CASE, &CASE, f64::NAN, &policy).is_err());
}

// ---------------------------------------------------------------- track

const T0: i64 = 1_780_000_000_000;

/// A walk due east at `speed` m/s, one fix every 5 s, for `minutes`.
fn walk(minutes: i64, speed: f64) -> Vec<Fix> {
    let start = LatLon {
        lat: 23.13,
        lon: 113.26,
    };
    let m_per_deg_lon = 111_195.0 * start.lat.to_radians().cos();
    (0..=minutes * 12)
        .map(|i| {
            let t = T0 + i * 5 * SECOND;
            let metres = speed * (i * 5) as f64;
            Fix {
                t,
                lat: start.lat,
                lon: start.lon + metres / m_per_deg_lon,
                accuracy_m: 8.0,
                mock: false,
            }
        })
        .collect()
}

#[test]
fn an_honest_walk_is_plausible() {
    let fixes = walk(15, 1.2);
    let report = assess_track(&fixes, &PlausibilityLimits::default()).unwrap();
    assert_eq!(
        report.verdict,
        TrackVerdict::Plausible,
        "{:?}",
        report.findings
    );
    assert!(
        (report.length_m - 1_080.0).abs() < 5.0,
        "{}",
        report.length_m
    );
    assert_eq!(report.duration, 15 * MINUTE);
    assert!(report.max_speed_mps < 1.2);
    assert_eq!(report.fixes, 181);

    // Batches arrive in any order: the same report.
    let mut shuffled = fixes.clone();
    shuffled.reverse();
    assert_eq!(
        assess_track(&shuffled, &PlausibilityLimits::default()).unwrap(),
        report
    );
}

#[test]
fn jitter_while_standing_is_not_a_teleport() {
    // Standing still, fixes each second scattered ±6 m (accuracy 10 m): raw speeds of
    // up to 12 m/s, but no movement is proven.
    let base = LatLon {
        lat: 23.13,
        lon: 113.26,
    };
    let fixes: Vec<Fix> = (0..120)
        .map(|i| {
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            Fix {
                t: T0 + i * SECOND,
                lat: base.lat + sign * 6.0 / 111_195.0,
                lon: base.lon + (i % 3) as f64 * 1e-6,
                accuracy_m: 10.0,
                mock: false,
            }
        })
        .collect();
    let report = assess_track(&fixes, &PlausibilityLimits::default()).unwrap();
    assert_eq!(
        report.verdict,
        TrackVerdict::Plausible,
        "{:?}",
        report.findings
    );
}

#[test]
fn teleport_mock_and_gap_make_a_track_implausible() {
    let limits = PlausibilityLimits::default();

    let mut teleport = walk(15, 1.2);
    teleport[60].lat += 5_000.0 / 111_195.0; // one fix 5 km north, 5 s from its neighbours
    let report = assess_track(&teleport, &limits).unwrap();
    assert_eq!(report.verdict, TrackVerdict::Implausible);
    let fast: Vec<_> = report
        .findings
        .iter()
        .filter(|f| matches!(f, Finding::TooFast { .. }))
        .collect();
    assert_eq!(fast.len(), 2, "there and back: {:?}", report.findings);
    assert!(report.max_speed_mps > 900.0);
    assert!(fast[0].to_string().contains("km/h"));

    let mut mocked = walk(15, 1.2);
    mocked[10].mock = true;
    mocked[11].mock = true;
    let report = assess_track(&mocked, &limits).unwrap();
    assert_eq!(report.verdict, TrackVerdict::Implausible);
    assert_eq!(
        report.findings,
        vec![Finding::MockLocation {
            count: 2,
            first_t: mocked[10].t
        }]
    );
    assert_eq!(report.fixes, 179, "mock fixes are not used");

    let mut gappy = walk(15, 1.2);
    gappy.retain(|f| f.t <= T0 + 5 * MINUTE || f.t >= T0 + 12 * MINUTE);
    let report = assess_track(&gappy, &limits).unwrap();
    assert_eq!(report.verdict, TrackVerdict::Implausible);
    assert_eq!(
        report.findings,
        vec![Finding::Gap {
            from_t: T0 + 5 * MINUTE,
            to_t: T0 + 12 * MINUTE,
            duration: 7 * MINUTE
        }]
    );
}

#[test]
fn a_frozen_feed_of_identical_fixes_is_reported() {
    let mut fixes = walk(5, 1.2);
    let frozen = fixes[20];
    for (k, fix) in fixes.iter_mut().enumerate().skip(20).take(12) {
        *fix = Fix {
            t: frozen.t + (k as i64 - 20) * 5 * SECOND,
            ..frozen
        };
    }
    let report = assess_track(&fixes, &PlausibilityLimits::default()).unwrap();
    assert!(
        report.findings.contains(&Finding::IdenticalFixes {
            from_t: frozen.t,
            to_t: frozen.t + 11 * 5 * SECOND,
            count: 12
        }),
        "{:?}",
        report.findings
    );
    // Nine in a row is below the default threshold of ten.
    let mut fixes = walk(5, 1.2);
    for (k, fix) in fixes.iter_mut().enumerate().skip(20).take(9) {
        *fix = Fix {
            t: frozen.t + (k as i64 - 20) * 5 * SECOND,
            ..frozen
        };
    }
    let report = assess_track(&fixes, &PlausibilityLimits::default()).unwrap();
    assert!(!report
        .findings
        .iter()
        .any(|f| matches!(f, Finding::IdenticalFixes { .. })));
}

#[test]
fn too_few_fixes_and_bad_fixes() {
    let one = &walk(0, 1.0)[..1];
    let report = assess_track(one, &PlausibilityLimits::default()).unwrap();
    assert_eq!(report.findings, vec![Finding::TooFewFixes { count: 1 }]);
    assert_eq!(report.length_m, 0.0);

    let mut bad = walk(1, 1.0);
    bad[3].lon = f64::NAN;
    assert!(matches!(
        assess_track(&bad, &PlausibilityLimits::default()),
        Err(Error::Invalid { .. })
    ));
    let mut bad = walk(1, 1.0);
    bad[3].accuracy_m = -3.0;
    assert!(assess_track(&bad, &PlausibilityLimits::default()).is_err());
    let no_speed = PlausibilityLimits {
        max_speed_mps: f64::NAN,
        ..Default::default()
    };
    assert!(assess_track(&walk(1, 1.0), &no_speed).is_err());
}

// ---------------------------------------------------------------- coverage

/// A polyline from `start` going east `metres`, a point every 100 m.
fn east_line(start: LatLon, metres: f64) -> Vec<LatLon> {
    let m_per_deg_lon = 111_195.0 * start.lat.to_radians().cos();
    let n = (metres / 100.0).round() as usize;
    (0..=n)
        .map(|i| LatLon {
            lat: start.lat,
            lon: start.lon + (i as f64 * metres / n as f64) / m_per_deg_lon,
        })
        .collect()
}

fn north(p: LatLon, metres: f64) -> LatLon {
    LatLon {
        lat: p.lat + metres / 111_195.0,
        lon: p.lon,
    }
}

#[test]
fn a_segment_walked_fully_half_or_not_at_all() {
    let start = LatLon {
        lat: 23.13,
        lon: 113.26,
    };
    let segment = east_line(start, 1_000.0);

    // The bank path runs 20 m north of the river line.
    let full = east_line(north(start, 20.0), 1_000.0);
    let c = segment_coverage(&segment, &full, 50.0, 5.0).unwrap();
    assert!((c.segment_length_m - 1_000.0).abs() < 2.0, "{c:?}");
    assert!(c.share > 0.99, "{c:?}");

    let half = east_line(north(start, 20.0), 500.0);
    let c = segment_coverage(&segment, &half, 50.0, 5.0).unwrap();
    // Half the line plus the buffer's reach past the track's end (√(50² − 20²) ≈ 46 m).
    assert!((c.share - 0.546).abs() < 0.01, "{c:?}");

    let elsewhere = east_line(north(start, 500.0), 1_000.0);
    let c = segment_coverage(&segment, &elsewhere, 50.0, 5.0).unwrap();
    assert_eq!(c.share, 0.0);
    assert_eq!(c.covered_length_m, 0.0);

    let c = segment_coverage(&segment, &[], 50.0, 5.0).unwrap();
    assert_eq!(c.share, 0.0);

    // One fix at the start covers about one buffer's length.
    let c = segment_coverage(&segment, &[start], 50.0, 5.0).unwrap();
    assert!((c.covered_length_m - 50.0).abs() <= 5.0, "{c:?}");
}

#[test]
fn coverage_follows_a_bent_segment() {
    // An L: 2 km east then 3 km north; the track walks only the northern leg.
    let start = LatLon {
        lat: 23.0,
        lon: 113.0,
    };
    let mut segment = east_line(start, 2_000.0);
    let corner = *segment.last().unwrap();
    segment.extend((1..=30).map(|i| north(corner, i as f64 * 100.0)));
    let track: Vec<LatLon> = (0..=300).map(|i| north(corner, i as f64 * 10.0)).collect();
    let c = segment_coverage(&segment, &track, 30.0, 5.0).unwrap();
    assert!((c.segment_length_m - 5_000.0).abs() < 10.0, "{c:?}");
    assert!((c.share - 0.606).abs() < 0.01, "{c:?}"); // 3 km + 30 m of 5 km
}

#[test]
fn coverage_rejects_bad_geometry() {
    let start = LatLon {
        lat: 23.13,
        lon: 113.26,
    };
    let segment = east_line(start, 1_000.0);
    assert!(matches!(
        segment_coverage(&[start], &segment, 50.0, 5.0),
        Err(Error::Invalid { .. })
    ));
    assert!(segment_coverage(&[start, start], &segment, 50.0, 5.0).is_err());
    assert!(segment_coverage(&[], &segment, 50.0, 5.0).is_err());
    let nan = [LatLon {
        lat: f64::NAN,
        lon: 113.0,
    }];
    assert!(segment_coverage(&segment, &nan, 50.0, 5.0).is_err());
    assert!(segment_coverage(&segment, &segment, 0.0, 5.0).is_err());
    assert!(segment_coverage(&segment, &segment, 50.0, -1.0).is_err());
    // A continent-long segment at a millimetre step is refused, not ground through.
    let huge = [
        LatLon {
            lat: 20.0,
            lon: 80.0,
        },
        LatLon {
            lat: 50.0,
            lon: 130.0,
        },
    ];
    assert!(segment_coverage(&huge, &segment, 50.0, 0.001).is_err());
}

#[test]
fn haversine_distance_matches_a_known_figure() {
    // Beijing Tiananmen to Shanghai People's Square, about 1,067 km.
    let d = distance_m(
        LatLon {
            lat: 39.9087,
            lon: 116.3975,
        },
        LatLon {
            lat: 31.2304,
            lon: 121.4737,
        },
    );
    assert!((d - 1_067_000.0).abs() < 5_000.0, "{d}");
}
