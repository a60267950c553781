//! What the Open311 endpoints do, without HTTP: the catalogue as services, a citizen
//! report written as a new case in the server's name, and cases read back as service
//! requests with `status` (open / closed) and `status_notes` from the lifecycle.

use std::collections::HashMap;

use axum::http::StatusCode;
use fieldloop_core::case::{self, CaseDoc, CaseStatus, NewCase};
use fieldloop_core::catalogue::Urgency;
use fieldloop_core::doc::{actor_for, DocKind, Position, Snapshot};
use fieldloop_core::geo::LatLon;
use fieldloop_core::roles::{all_rules, Jurisdiction, Principal, Role};
use fieldloop_core::rules::validate_doc_update;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Open311Error;
use crate::api::actions::store_and_react;
use crate::api::names::{category_name, unit_name};
use crate::api::{iso, scan};
use crate::error::Result;
use crate::projection::projection_of;
use crate::reference::Reference;
use crate::state::AppState;
use crate::storage::{NewChange, Origin};

/// The text a case carries in its `source` field when a citizen reported it.
pub const SOURCE: &str = "open311";
/// Open311 carries no accuracy; a phone's typical fix is assumed for the accuracy circle.
const CITIZEN_ACCURACY_M: f64 = 30.0;
/// Requests listed by `GET requests` at most, as the spec suggests (newest first).
const MAX_LISTED: usize = 1000;
const MAX_DESCRIPTION: usize = 4000;

pub fn discovery(base: &str) -> Value {
    json!({
        "changeset": "2026-11-30T00:00:00+08:00",
        "contact": "请联系城市管理指挥中心 (the city's command centre)",
        "key_service": "api_key 由系统管理员为每个客户端应用签发 (issued by an admin per client app)",
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": base,
            "changeset": "2026-11-30T00:00:00+08:00",
            "type": "production",
            "formats": ["application/json", "text/xml"],
        }],
    })
}

pub fn services(state: &AppState) -> Value {
    let services: Vec<Value> = state
        .reference
        .current()
        .catalogue
        .iter()
        .map(|c| {
            json!({
                "service_code": c.key(),
                "service_name": c.name,
                "description": format!("{} / {}", c.major, c.name),
                "metadata": false,
                "type": "realtime",
                "keywords": c.unit_type,
                "group": c.major,
            })
        })
        .collect();
    Value::Array(services)
}

pub fn definition(state: &AppState, code: &str) -> Result<Value, Open311Error> {
    state
        .reference
        .current()
        .catalogue
        .get_by_key(code)
        .map_err(|_| Open311Error::new(StatusCode::NOT_FOUND, format!("no service {code:?}")))?;
    Ok(json!({ "service_code": code, "attributes": [] }))
}

fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

pub async fn issue_key(state: &AppState, client: &str, by: &str) -> Result<String> {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let key = hex::encode(bytes);
    state
        .accounts
        .issue_client_key(
            key_hash(&key),
            client.to_owned(),
            by.to_owned(),
            state.clock.now(),
        )
        .await?;
    Ok(key)
}

fn number(form: &HashMap<String, String>, name: &str) -> Result<Option<f64>, Open311Error> {
    match form.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| Open311Error::bad(format!("{name} {text:?} is not a number"))),
    }
}

/// `POST requests`: a citizen report, as a new case in the register queue.
pub async fn create_request(
    state: &AppState,
    form: &HashMap<String, String>,
) -> Result<Value, Open311Error> {
    create_request_with_media(state, form, None).await
}

/// `POST requests` with the photo uploaded as `media` (multipart): it becomes the case's
/// before-photo through the phone's photo pipeline (see [`super::media`]).
pub async fn create_request_with_media(
    state: &AppState,
    form: &HashMap<String, String>,
    media: Option<bytes::Bytes>,
) -> Result<Value, Open311Error> {
    let key = form
        .get("api_key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Open311Error::new(StatusCode::FORBIDDEN, "api_key is required"))?;
    let client = state
        .accounts
        .client_of_key(key_hash(key))
        .await?
        .ok_or_else(|| Open311Error::new(StatusCode::FORBIDDEN, "api_key is not valid"))?;
    let code = form
        .get("service_code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Open311Error::bad("service_code is required"))?;
    state
        .reference
        .current()
        .catalogue
        .get_by_key(code)
        .map_err(|_| Open311Error::bad(format!("service_code {code:?} is not a service")))?;
    let (Some(lat), Some(lon)) = (number(form, "lat")?, number(form, "long")?) else {
        return Err(Open311Error::bad(
            "lat and long are required (address_string alone cannot be placed on the grid)",
        ));
    };
    let reference = state.reference.current();
    let grid = reference.grid.as_ref().ok_or_else(|| {
        Open311Error::new(StatusCode::SERVICE_UNAVAILABLE, "no grid cells loaded")
    })?;
    let cell = grid
        .cell_at(LatLon { lat, lon })?
        .ok_or_else(|| Open311Error::bad(format!("{lat}, {lon} is outside the city's grid cells")))?
        .to_owned();
    let description = form
        .get("description")
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(Open311Error::bad(format!(
            "description longer than {MAX_DESCRIPTION} characters"
        )));
    }
    let media_url = form
        .get("media_url")
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    if let Some(url) = &media_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
            return Err(Open311Error::bad("media_url must be an http(s) URL"));
        }
    }
    let reporter = Principal {
        user_id: format!("{SOURCE}:{client}"),
        role: Role::Server,
        jurisdiction: Jurisdiction::default(),
    };
    let id = Uuid::now_v7();
    let now = state.clock.now();
    let position = Position {
        lat,
        lon,
        accuracy_m: CITIZEN_ACCURACY_M,
    };
    // Every other field is checked first: a photo is stored only for a report taken.
    let photo = match media {
        Some(bytes) => {
            Some(super::media::store(state, &reporter.user_id, bytes, position, now).await?)
        }
        None => None,
    };
    let new = NewCase {
        id,
        event_id: Uuid::now_v7(),
        at: now,
        category: code.clone(),
        position,
        grid_cell: cell,
        description: description.clone(),
        address: form
            .get("address_string")
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty()),
        report: case::events::Reported {
            description,
            urgency: Urgency::Normal,
            component_id: None,
            photos: Vec::new(),
        },
        before_photos: photo
            .iter()
            .map(|p| (p.hash.clone(), p.evidence.clone()))
            .collect(),
    };
    let mut doc = CaseDoc::create(&reporter, &actor_for(&id), new)?.into_doc();
    doc.set_field("source", SOURCE)?;
    doc.set_field("open311_client", &client)?;
    if let Some(url) = &media_url {
        doc.set_field("media_url", url)?;
    }
    for name in ["email", "first_name", "last_name", "phone"] {
        if let Some(value) = form.get(name).filter(|v| !v.is_empty()) {
            doc.set_field(&format!("citizen_{name}"), value)?;
        }
    }
    let snapshot = validate_doc_update(&reporter, None, &doc, all_rules())
        .map_err(|r| Open311Error::bad(r.reason))?;
    let origin = Origin {
        user_id: reporter.user_id.clone(),
        device_id: None,
        arrived_at: now,
    };
    // A new document (base 0): its id is fresh, so no other writer can race it.
    store_and_react(
        state,
        NewChange {
            doc_id: id,
            kind: DocKind::Case,
            bytes: doc.save_after(&[]),
            origin,
            projection: projection_of(&snapshot, &state.reference.current()),
            blob_refs: photo.iter().map(|p| p.hash.clone()).collect(),
            audit: Vec::new(),
            snapshot: crate::storage::snapshots::encode(&snapshot),
        },
        0,
    )
    .await?;
    Ok(json!([{
        "service_request_id": id.to_string(),
        "service_notice": "已受理，等待立案 (received; waiting to be registered)",
        "account_id": null,
    }]))
}

/// `status` and `status_notes` of a case as Open311 words them.
fn status_of(reference: &Reference, snapshot: &Snapshot) -> (&'static str, String) {
    let fold = case::fold(snapshot);
    let last_reason = |kind: &str| {
        snapshot
            .events
            .iter()
            .rev()
            .find(|e| e.kind == kind)
            .and_then(|e| {
                e.data
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    };
    let unit = fold
        .unit
        .as_deref()
        .map(|u| unit_name(reference, u))
        .unwrap_or_default();
    let note = match fold.status {
        CaseStatus::New | CaseStatus::Reported => "已受理，等待立案".to_owned(),
        CaseStatus::Registered => "已立案，等待派遣".to_owned(),
        CaseStatus::Dispatched | CaseStatus::Accepted => format!("已派遣至{unit}处置"),
        CaseStatus::Rework => format!("核查未通过，{unit}返工处置中"),
        CaseStatus::Handled | CaseStatus::SelfFixed => "已处置，等待核查".to_owned(),
        CaseStatus::VerificationSubmitted | CaseStatus::Judged => "已核查，等待结案".to_owned(),
        CaseStatus::Closed => "已结案".to_owned(),
        CaseStatus::Rejected => format!("不予立案：{}", last_reason(case::kinds::REJECTED)),
        CaseStatus::Voided => format!("已作废：{}", last_reason(case::kinds::VOIDED)),
        CaseStatus::Merged => "与已有案件重复，已合并处理".to_owned(),
    };
    let status = if fold.status.is_final() {
        "closed"
    } else {
        "open"
    };
    (status, note)
}

fn request_json(state: &AppState, snapshot: &Snapshot, deadline: Option<i64>) -> Value {
    let header = &snapshot.header;
    let fold = case::fold(snapshot);
    let reference = &state.reference.current();
    let (status, notes) = status_of(reference, snapshot);
    let code = header.category.clone().unwrap_or_default();
    let updated = snapshot
        .events
        .iter()
        .map(|e| e.at)
        .max()
        .unwrap_or(header.created_at);
    json!({
        "service_request_id": header.id.to_string(),
        "status": status,
        "status_notes": notes,
        "service_name": category_name(&state.reference.current().catalogue, &code),
        "service_code": code,
        "description": snapshot.fields.get("description"),
        "agency_responsible": fold.unit.as_deref().map(|u| unit_name(reference, u)),
        "service_notice": null,
        "requested_datetime": iso(header.created_at),
        "updated_datetime": iso(updated),
        "expected_datetime": deadline.map(iso),
        "address": snapshot.fields.get("address"),
        "address_id": null,
        "zipcode": null,
        "lat": header.position.map(|p| p.lat),
        "long": header.position.map(|p| p.lon),
        "media_url": snapshot.fields.get("media_url"),
    })
}

fn everyone() -> Principal {
    Principal {
        user_id: crate::referee::SERVER_USER.to_owned(),
        role: Role::Server,
        jurisdiction: Jurisdiction {
            everywhere: true,
            ..Jurisdiction::default()
        },
    }
}

async fn load(state: &AppState, id: Uuid) -> Result<Option<Snapshot>> {
    let Some(stored) = state.docs.load_doc(id).await? else {
        return Ok(None);
    };
    Ok(Some(stored.load(&actor_for(&Uuid::nil()))?.snapshot()?))
}

/// Only citizen reports are public: inspectors' cases are not listed here.
fn is_citizen_report(snapshot: &Snapshot) -> bool {
    snapshot.header.kind == DocKind::Case
        && snapshot.fields.get("source").map(String::as_str) == Some(SOURCE)
}

pub async fn one_request(state: &AppState, id: &str) -> Result<Value, Open311Error> {
    let missing = || Open311Error::new(StatusCode::NOT_FOUND, format!("no service request {id:?}"));
    let uuid = Uuid::parse_str(id).map_err(|_| missing())?;
    let snapshot = load(state, uuid)
        .await?
        .filter(is_citizen_report)
        .ok_or_else(missing)?;
    let deadline = state
        .docs
        .projection(uuid)
        .await?
        .and_then(|p| p.fields.deadline);
    Ok(json!([request_json(state, &snapshot, deadline)]))
}

fn parse_time(form: &HashMap<String, String>, name: &str) -> Result<Option<i64>, Open311Error> {
    match form.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.timestamp_millis()))
            .map_err(|_| Open311Error::bad(format!("{name} {text:?} is not a W3C date-time"))),
    }
}

/// `GET requests`: citizen reports, by id list or by service code, time and status;
/// without ids, the last 90 days (as the spec suggests), at most 1000.
pub async fn list_requests(
    state: &AppState,
    query: &HashMap<String, String>,
) -> Result<Value, Open311Error> {
    if let Some(ids) = query.get("service_request_id").filter(|v| !v.is_empty()) {
        let mut out = Vec::new();
        for id in ids.split(',').map(str::trim) {
            if let Ok(Value::Array(found)) = one_request(state, id).await {
                out.extend(found);
            }
        }
        return Ok(Value::Array(out));
    }
    let end = parse_time(query, "end_date")?.unwrap_or(i64::MAX);
    let start = match parse_time(query, "start_date")? {
        Some(start) => start,
        None => end.min(state.clock.now()) - 90 * fieldloop_core::time::DAY,
    };
    let status = query
        .get("status")
        .map(String::as_str)
        .filter(|s| !s.is_empty());
    if status.is_some_and(|s| !matches!(s, "open" | "closed")) {
        return Err(Open311Error::bad("status is open or closed"));
    }
    let codes: Vec<&str> = query
        .get("service_code")
        .map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let (found, _) = scan(state, &everyone(), 0, usize::MAX, |p| {
        p.kind == DocKind::Case
            && crate::api::json_str(p, "source") == Some(SOURCE)
            && (codes.is_empty()
                || crate::api::json_str(p, "category").is_some_and(|c| codes.contains(&c)))
            && p.fields
                .json
                .get("created_at")
                .and_then(|v| v.as_i64())
                .is_some_and(|c| c >= start && c <= end)
    })
    .await?;
    let mut out = Vec::new();
    for projection in found.iter().rev() {
        let Some(snapshot) = load(state, projection.doc_id).await? else {
            continue;
        };
        let value = request_json(state, &snapshot, projection.fields.deadline);
        if status.is_some_and(|s| value["status"] != s) {
            continue;
        }
        out.push(value);
        if out.len() == MAX_LISTED {
            break;
        }
    }
    Ok(Value::Array(out))
}
