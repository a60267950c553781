//! The demo city as import files (`server/demo-city/`), seeded through the same import
//! path a real city uses, so the README's main job exercises it.
//!
//! The files were generated from [`City::builtin`]; a test keeps them equal to it, and
//! `FIELDLOOP_WRITE_DEMO_CITY=1 cargo test --workspace demo_city_files` writes them again
//! after a change there.

use fieldloop_core::reference::ReferenceKind;
use fieldloop_core::roles::Principal;
use fieldloop_core::verify::VerifyThresholds;
use serde_json::{json, Value};

use super::city::City;
use crate::error::{Result, ServerError};
use crate::reference::{self, ImportError, Imported};
use crate::state::AppState;

/// `(kind, file name, bytes)` in import order: units before the matrix that names them.
pub const FILES: [(ReferenceKind, &str, &[u8]); 6] = [
    (
        ReferenceKind::Grid,
        "grid.geojson",
        include_bytes!("../../demo-city/grid.geojson"),
    ),
    (
        ReferenceKind::Units,
        "units.csv",
        include_bytes!("../../demo-city/units.csv"),
    ),
    (
        ReferenceKind::Matrix,
        "matrix.csv",
        include_bytes!("../../demo-city/matrix.csv"),
    ),
    (
        ReferenceKind::Rivers,
        "rivers.geojson",
        include_bytes!("../../demo-city/rivers.geojson"),
    ),
    (
        ReferenceKind::Projects,
        "projects.json",
        include_bytes!("../../demo-city/projects.json"),
    ),
    (
        ReferenceKind::Thresholds,
        "thresholds.json",
        include_bytes!("../../demo-city/thresholds.json"),
    ),
];

/// Imports the demo city as `admin` (one reference version the first time; nothing new
/// on a second run over the same data).
pub async fn import_demo_city(state: &AppState, admin: &Principal) -> Result<Imported> {
    let files: Vec<(ReferenceKind, &[u8])> = FILES.iter().map(|(k, _, b)| (*k, *b)).collect();
    match reference::import_all(state, admin, &files).await {
        Ok(imported) => Ok(imported),
        Err(ImportError::Invalid(problems)) => Err(ServerError::Internal(format!(
            "the demo city files do not import: {problems:?}"
        ))),
        Err(ImportError::Server(e)) => Err(e),
    }
}

fn point(p: fieldloop_core::geo::LatLon) -> Value {
    json!([p.lon, p.lat])
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The files' contents, generated from the built-in city.
pub fn generate(city: &City) -> Vec<(&'static str, String)> {
    let community_names: std::collections::BTreeMap<&str, &str> = city
        .streets
        .iter()
        .flat_map(|s| s.communities.iter())
        .map(|c| (c.code.as_str(), c.name))
        .collect();
    let cells: Vec<Value> = city
        .cells
        .iter()
        .map(|cell| {
            let mut ring: Vec<Value> = cell.ring.iter().copied().map(point).collect();
            ring.push(point(cell.ring[0]));
            let community = community_names.get(cell.community.as_str()).copied();
            json!({
                "type": "Feature",
                "properties": {
                    "code": cell.code,
                    "name": format!("{}{}号网格", community.unwrap_or(""), &cell.code[12..]),
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            })
        })
        .collect();
    let rivers: Vec<Value> = city
        .segments
        .iter()
        .map(|s| {
            json!({
                "type": "Feature",
                "properties": {
                    "id": s.segment.id,
                    "name": s.segment.name,
                    "river": s.segment.river,
                    "chief_level": s.segment.chief_level,
                    "warning": s.segment.warning,
                    "chiefs": s.chiefs,
                },
                "geometry": {
                    "type": "LineString",
                    "coordinates": s.line.iter().copied().map(point).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    let collection = |features: Vec<Value>| {
        serde_json::to_string_pretty(&json!({"type": "FeatureCollection", "features": features}))
            .expect("JSON values serialise")
            + "\n"
    };
    let mut units = String::from("id,name,handles\n");
    for unit in &city.units {
        units += &format!(
            "{},{},{}\n",
            csv_field(unit.id),
            csv_field(unit.name),
            csv_field(unit.handles)
        );
    }
    let mut matrix = String::from("category,area,unit\n");
    for row in &city.matrix {
        matrix += &format!("{},{},{}\n", row.category, row.area, row.unit);
    }
    let project = &city.project;
    let projects = serde_json::to_string_pretty(&json!([{
        "id": project.id,
        "name": project.name,
        "site": project.site,
        "stages": project.stages,
        "contractor": project.contractor,
    }]))
    .expect("JSON values serialise")
        + "\n";
    // fieldloop's default figures, written out so a city sees what it may change.
    let thresholds = VerifyThresholds {
        source: Some("fieldloop 默认值，演示城市未作调整 (fieldloop defaults)".into()),
        ..VerifyThresholds::default()
    };
    let thresholds =
        serde_json::to_string_pretty(&thresholds).expect("JSON values serialise") + "\n";
    vec![
        ("grid.geojson", collection(cells)),
        ("units.csv", units),
        ("matrix.csv", matrix),
        ("rivers.geojson", collection(rivers)),
        ("projects.json", projects),
        ("thresholds.json", thresholds),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_city_files_are_the_ones_generated_from_the_built_in_city() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-city");
        let generated = generate(&City::builtin());
        if std::env::var_os("FIELDLOOP_WRITE_DEMO_CITY").is_some() {
            std::fs::create_dir_all(&dir).expect("demo-city dir");
            for (name, text) in &generated {
                std::fs::write(dir.join(name), text).expect("write");
            }
            return;
        }
        for (name, text) in &generated {
            let committed = FILES
                .iter()
                .find(|(_, file, _)| file == name)
                .map(|(_, _, bytes)| String::from_utf8_lossy(bytes));
            assert_eq!(committed.as_deref(), Some(text.as_str()), "{name} is stale");
        }
    }
}
