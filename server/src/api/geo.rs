//! GeoJSON (RFC 7946, WGS-84 longitude-latitude) for maps and data sharing: cases,
//! grid cells, river segments and patrol tracks, each limited to the caller's scope.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use fieldloop_core::doc::{actor_for, DocKind};
use fieldloop_core::patrol;
use fieldloop_core::roles::Principal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::IntoParams;
use uuid::Uuid;

use super::cases::{list_cases, CaseFilter, CaseRow};
use super::names::People;
use super::{iso, scan, MAX_EXPORT};
use crate::auth::Auth;
use crate::error::Result;
use crate::reference::Reference;
use crate::state::AppState;

const GEOJSON: &str = "application/geo+json";

fn geojson(value: Value) -> Response {
    ([(header::CONTENT_TYPE, GEOJSON)], value.to_string()).into_response()
}

fn collection(features: Vec<Value>) -> Value {
    json!({ "type": "FeatureCollection", "features": features })
}

#[derive(Serialize)]
struct Point {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

/// A case point; `id` at the top level only in the full shape (the map's points carry it
/// in their properties).
#[derive(Serialize)]
struct CaseFeature<P> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    geometry: Point,
    properties: P,
}

#[derive(Serialize)]
struct CaseCollection<P> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<CaseFeature<P>>,
    next_cursor: Option<String>,
}

/// The cases of `filter` with a position as points, each row shaped by `shape`: (the
/// feature's top-level id, its properties). Serialized from typed rows (not a
/// `serde_json::Value` tree): the map asks for ten thousand at once.
async fn case_points<P: Serialize>(
    state: &AppState,
    who: &Principal,
    filter: &CaseFilter,
    shape: impl Fn(CaseRow) -> (Option<Uuid>, P),
) -> Result<Vec<u8>> {
    let page = list_cases(state, who, filter, MAX_EXPORT).await?;
    let features = page
        .items
        .into_iter()
        .filter_map(|row| {
            let coordinates = [row.lon?, row.lat?];
            let (id, properties) = shape(row);
            Some(CaseFeature {
                kind: "Feature",
                id,
                geometry: Point {
                    kind: "Point",
                    coordinates,
                },
                properties,
            })
        })
        .collect();
    let collection = CaseCollection {
        kind: "FeatureCollection",
        features,
        next_cursor: page.next_cursor,
    };
    serde_json::to_vec(&collection)
        .map_err(|e| crate::error::ServerError::Internal(format!("GeoJSON: {e}")))
}

/// Cases with a position as points; `properties` is the list row.
pub async fn cases_geojson(
    state: &AppState,
    who: &Principal,
    filter: &CaseFilter,
) -> Result<Vec<u8>> {
    case_points(state, who, filter, |row| (Some(row.id), row)).await
}

#[utoipa::path(get, path = "/v1/cases.geojson", tag = "geo", params(CaseFilter, GeoShape),
    responses((status = 200, description = "GeoJSON FeatureCollection of case points", content_type = "application/geo+json")),
    security(("bearer" = [])))]
pub async fn cases_handler(
    auth: Auth,
    State(state): State<AppState>,
    Query(mut filter): Query<CaseFilter>,
    Query(shape): Query<GeoShape>,
) -> Result<Response> {
    filter.limit = Some(filter.limit.unwrap_or(MAX_EXPORT));
    let body = match shape.properties.as_deref() {
        None | Some("full") => cases_geojson(&state, &auth.principal, &filter).await?,
        Some("map") => map_geojson(&state, &auth.principal, &filter).await?,
        Some(other) => {
            return Err(crate::error::ServerError::bad_request(
                "bad_filter",
                format!("properties {other:?}: full or map"),
            ))
        }
    };
    Ok(([(header::CONTENT_TYPE, GEOJSON)], body).into_response())
}

/// How much of each case the GeoJSON carries.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GeoShape {
    /// `full` (default): the list row; `map`: only what a map point shows (id, band,
    /// status, category and its name), a quarter of the bytes for ten thousand points.
    pub properties: Option<String>,
}

/// What a map point shows of a case.
#[derive(Serialize)]
struct MapProperties {
    id: Uuid,
    band: String,
    status: Option<String>,
    category: Option<String>,
    category_name: Option<String>,
}

/// [`cases_geojson`] with [`MapProperties`] only.
pub async fn map_geojson(
    state: &AppState,
    who: &Principal,
    filter: &CaseFilter,
) -> Result<Vec<u8>> {
    case_points(state, who, filter, |row| {
        let properties = MapProperties {
            id: row.id,
            band: row.band,
            status: row.status,
            category: row.category,
            category_name: row.category_name,
        };
        (None, properties)
    })
    .await
}

/// The grid cells under the caller's grid prefixes (all for a citywide jurisdiction).
pub fn cells_geojson(reference: &Reference, who: &Principal) -> Value {
    let j = &who.jurisdiction;
    let everywhere = j.everywhere || j.grid_prefixes.is_empty();
    let features = reference
        .city
        .cells
        .iter()
        .filter(|c| {
            everywhere
                || j.grid_prefixes
                    .iter()
                    .any(|p| c.code.starts_with(p.as_str()))
        })
        .map(|cell| {
            let mut ring: Vec<[f64; 2]> = cell.ring.iter().map(|p| [p.lon, p.lat]).collect();
            if ring.first() != ring.last() {
                ring.push(ring[0]);
            }
            let community = (!cell.name.is_empty()).then_some(&cell.name);
            json!({
                "type": "Feature",
                "id": cell.code,
                "geometry": { "type": "Polygon", "coordinates": [ring] },
                "properties": { "code": cell.code, "community": community },
            })
        })
        .collect();
    collection(features)
}

#[utoipa::path(get, path = "/v1/geo/cells", tag = "geo",
    responses((status = 200, description = "Grid cells as polygons", content_type = "application/geo+json")),
    security(("bearer" = [])))]
pub async fn cells_handler(auth: Auth, State(state): State<AppState>) -> Response {
    geojson(cells_geojson(&state.reference.current(), &auth.principal))
}

pub fn segments_geojson(reference: &Reference) -> Value {
    let features = reference
        .city
        .rivers
        .iter()
        .map(|s| {
            let line: Vec<[f64; 2]> = s.line.iter().map(|p| [p.lon, p.lat]).collect();
            json!({
                "type": "Feature",
                "id": s.segment.id,
                "geometry": { "type": "LineString", "coordinates": line },
                "properties": {
                    "id": s.segment.id,
                    "name": s.segment.name,
                    "river": s.segment.river,
                    "chief_level": s.segment.chief_level,
                    "warning": s.segment.warning,
                    "chiefs": s.chiefs,
                },
            })
        })
        .collect();
    collection(features)
}

#[utoipa::path(get, path = "/v1/geo/segments", tag = "geo",
    responses((status = 200, description = "River segments as lines", content_type = "application/geo+json")),
    security(("bearer" = [])))]
pub async fn segments_handler(_auth: Auth, State(state): State<AppState>) -> Response {
    geojson(segments_geojson(&state.reference.current()))
}

/// Patrol tracks (mock-location fixes left out) with the server's verdict and reasons.
pub async fn patrols_geojson(state: &AppState, who: &Principal) -> Result<Value> {
    let (patrols, _) = scan(state, who, 0, MAX_EXPORT, |p| p.kind == DocKind::Patrol).await?;
    let actor = actor_for(&Uuid::nil());
    let mut people = People::default();
    let mut features = Vec::new();
    for projection in patrols {
        let Some(stored) = state.docs.load_doc(projection.doc_id).await? else {
            continue;
        };
        let fold = patrol::fold(&stored.load(&actor)?.snapshot()?);
        let line: Vec<[f64; 2]> = fold
            .real_positions()
            .iter()
            .map(|p| [p.lon, p.lat])
            .collect();
        if line.len() < 2 {
            continue;
        }
        let patroller = match &fold.patroller {
            Some(id) => Some(people.name(state, id).await?),
            None => None,
        };
        features.push(json!({
            "type": "Feature",
            "id": projection.doc_id,
            "geometry": { "type": "LineString", "coordinates": line },
            "properties": {
                "id": projection.doc_id,
                "kind": fold.kind,
                "patroller": patroller,
                "segment": fold.segment,
                "status": fold.status,
                "started_at": fold.started_at.map(iso),
                "ended_at": fold.ended_at.map(iso),
                "valid": fold.verdict.as_ref().map(|v| v.valid),
                "reasons": fold.verdict.as_ref().map(|v| v.reasons.clone()).unwrap_or_default(),
            },
        }));
    }
    Ok(collection(features))
}

#[utoipa::path(get, path = "/v1/geo/patrols", tag = "geo",
    responses((status = 200, description = "Patrol tracks with validity and reasons", content_type = "application/geo+json")),
    security(("bearer" = [])))]
pub async fn patrols_handler(auth: Auth, State(state): State<AppState>) -> Result<Response> {
    Ok(geojson(patrols_geojson(&state, &auth.principal).await?))
}
