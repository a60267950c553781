//! Cases: the filtered, paged list and one case in full (header, event log with names,
//! photos, position with accuracy, the latest verdict with each check's reason, and the
//! actions the caller may take on it).

use axum::extract::{Query, State};
use axum::Json;
use fieldloop_core::case::{self, kinds, CaseEvent, CaseStatus};
use fieldloop_core::doc::{actor_for, DocKind, Snapshot};
use fieldloop_core::roles::{all_rules, decide_in, Decision, Principal};
use fieldloop_core::time::Millis;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::names::{category_name, unit_name, People};
use super::{iso, json_str, scan, visible, Page, Paging, MAX_PAGE};
use crate::auth::Auth;
use crate::error::{Result, ServerError};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::storage::Projection;

/// Filters of the case list, the GeoJSON and the CSV export. Every one is optional;
/// several narrow the list together.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseFilter {
    /// Category key or its prefix ("2", "201", "20102").
    pub category: Option<String>,
    /// Responsible unit id.
    pub unit: Option<String>,
    /// Statuses, comma-separated ("registered,dispatched").
    pub status: Option<String>,
    /// Deadline bands, comma-separated: green, yellow, red, escalated.
    pub band: Option<String>,
    /// Grid cell code or prefix (a street, a community).
    pub grid: Option<String>,
    /// Reported on or after this day (YYYY-MM-DD, China time).
    pub from: Option<String>,
    /// Reported on or before this day (YYYY-MM-DD, China time).
    pub to: Option<String>,
    /// Where the report came from: "open311" for citizen reports.
    pub source: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A parsed [`CaseFilter`], applied to projections.
pub struct CaseMatcher {
    category: Option<String>,
    unit: Option<String>,
    statuses: Vec<String>,
    bands: Vec<String>,
    grid: Option<String>,
    from: Option<Millis>,
    to: Option<Millis>,
    source: Option<String>,
}

fn list(text: &Option<String>) -> Vec<String> {
    text.as_deref()
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn day(text: &Option<String>, name: &str, next: bool) -> Result<Option<Millis>> {
    let Some(text) = text.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ServerError::bad_request("bad_date", format!("{name}={text:?}: use YYYY-MM-DD"))
    })?;
    let date = if next {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    Ok(Some(fieldloop_core::sla::local_midnight(date)))
}

impl CaseFilter {
    pub fn matcher(&self) -> Result<CaseMatcher> {
        const BANDS: [&str; 4] = ["green", "yellow", "red", "escalated"];
        let bands = list(&self.band);
        if let Some(bad) = bands.iter().find(|b| !BANDS.contains(&b.as_str())) {
            return Err(ServerError::bad_request(
                "bad_band",
                format!("band {bad:?}: use green, yellow, red or escalated"),
            ));
        }
        Ok(CaseMatcher {
            category: self.category.clone().filter(|c| !c.is_empty()),
            unit: self.unit.clone().filter(|u| !u.is_empty()),
            statuses: list(&self.status),
            bands,
            grid: self.grid.clone().filter(|g| !g.is_empty()),
            from: day(&self.from, "from", false)?,
            to: day(&self.to, "to", true)?,
            source: self.source.clone().filter(|s| !s.is_empty()),
        })
    }

    pub fn paging(&self) -> Paging {
        Paging {
            cursor: self.cursor.clone(),
            limit: self.limit,
        }
    }
}

impl CaseMatcher {
    pub fn accepts(&self, p: &Projection) -> bool {
        if p.kind != DocKind::Case {
            return false;
        }
        let f = &p.fields;
        let has = |want: &Option<String>, got: Option<&str>, prefix: bool| match want {
            None => true,
            Some(w) => got.is_some_and(|g| {
                if prefix {
                    g.starts_with(w.as_str())
                } else {
                    g == w
                }
            }),
        };
        let created = p.fields.json.get("created_at").and_then(|v| v.as_i64());
        has(&self.category, json_str(p, "category"), true)
            && has(&self.unit, f.unit.as_deref(), false)
            && has(&self.grid, f.grid_cell.as_deref(), true)
            && has(&self.source, json_str(p, "source"), false)
            && (self.statuses.is_empty()
                || f.status.as_ref().is_some_and(|s| self.statuses.contains(s)))
            && (self.bands.is_empty()
                || self
                    .bands
                    .contains(&f.band.clone().unwrap_or_else(|| "green".into())))
            && self
                .from
                .is_none_or(|from| created.is_some_and(|c| c >= from))
            && self.to.is_none_or(|to| created.is_some_and(|c| c < to))
    }
}

/// One case in a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseRow {
    pub id: Uuid,
    pub category: Option<String>,
    pub category_name: Option<String>,
    pub status: Option<String>,
    /// green, yellow, red or escalated.
    pub band: String,
    pub deadline: Option<String>,
    pub unit: Option<String>,
    pub unit_name: Option<String>,
    pub grid_cell: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub reported_at: Option<String>,
    /// "open311" for a citizen report; absent for an inspector's.
    pub source: Option<String>,
}

pub fn case_row(state: &AppState, p: &Projection) -> CaseRow {
    let f = &p.fields;
    let position = p.fields.json.get("position");
    let coordinate = |key: &str| position.and_then(|v| v.get(key)).and_then(|v| v.as_f64());
    let category = json_str(p, "category").map(str::to_owned);
    CaseRow {
        id: p.doc_id,
        category_name: category
            .as_deref()
            .map(|c| category_name(&state.reference.current().catalogue, c)),
        category,
        status: f.status.clone(),
        band: f.band.clone().unwrap_or_else(|| "green".into()),
        deadline: f.deadline.map(iso),
        unit_name: f
            .unit
            .as_deref()
            .map(|u| unit_name(&state.reference.current(), u)),
        unit: f.unit.clone(),
        grid_cell: f.grid_cell.clone(),
        lat: coordinate("lat"),
        lon: coordinate("lon"),
        accuracy_m: coordinate("accuracy_m"),
        reported_at: p
            .fields
            .json
            .get("created_at")
            .and_then(|v| v.as_i64())
            .map(iso),
        source: json_str(p, "source").map(str::to_owned),
    }
}

/// The cases the principal may see that match the filter, one page.
pub async fn list_cases(
    state: &AppState,
    who: &Principal,
    filter: &CaseFilter,
    max: usize,
) -> Result<Page<CaseRow>> {
    let matcher = filter.matcher()?;
    let paging = filter.paging();
    let (found, next) = scan(state, who, paging.start()?, paging.limit(100, max), |p| {
        matcher.accepts(p)
    })
    .await?;
    Ok(Page {
        items: found.iter().map(|p| case_row(state, p)).collect(),
        next_cursor: next.map(|s| s.to_string()),
    })
}

#[utoipa::path(get, path = "/v1/cases", tag = "cases", params(CaseFilter),
    responses((status = 200, description = "One page of cases", body = Page<CaseRow>),
              (status = 400, description = "A bad filter", body = super::openapi::ApiError)),
    security(("bearer" = [])))]
pub async fn list_handler(
    auth: Auth,
    State(state): State<AppState>,
    Query(filter): Query<CaseFilter>,
) -> Result<Json<Page<CaseRow>>> {
    Ok(Json(
        list_cases(&state, &auth.principal, &filter, MAX_PAGE).await?,
    ))
}

/// One entry of the event log as a person reads it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    /// Username of the author ("系统 (server)" for the server).
    pub by: String,
    pub role: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Why the lifecycle gave this event no effect, when it did not.
    pub ignored: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhotoView {
    pub hash: String,
    /// before, after, verification, finding.
    pub stage: String,
    pub taken_at: String,
    pub by: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    /// `GET` with the bearer token: the photo as stored (long edge 1600 px).
    pub url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckView {
    pub name: String,
    pub passed: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerdictView {
    pub at: String,
    pub passed: bool,
    pub checks: Vec<CheckView>,
}

/// A case in full, as the console's case page shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub row: CaseRow,
    pub description: Option<String>,
    pub address: Option<String>,
    pub reported_by: String,
    pub urgency: String,
    pub rework_count: u32,
    pub supervised: bool,
    pub duplicate_of: Option<Uuid>,
    /// 疑似重复: open cases close by that this one may duplicate, waiting for the
    /// dispatcher to merge (`case.merged`) or keep (`case.duplicate_kept`); nearest first.
    pub duplicate_candidates: Vec<DuplicateView>,
    /// 冲突: fields two people set concurrently offline, with every value kept, until
    /// someone allowed to edit picks one (`description` / `address` above show automerge's
    /// provisional winner meanwhile).
    pub field_conflicts: Vec<FieldConflictView>,
    pub events: Vec<EventView>,
    pub photos: Vec<PhotoView>,
    pub verdict: Option<VerdictView>,
    /// Event types the caller may write on this case now (see `POST …/actions`).
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldConflictView {
    pub field: String,
    pub values: Vec<String>,
    /// The caller may pick one of `values` (`POST /v1/cases/{id}/fields`).
    pub resolvable: bool,
}

/// A case the server suggests this one duplicates.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicateView {
    pub case_id: Uuid,
    pub distance_m: f64,
    pub reported_at: String,
}

/// Loads a case the principal may see; 404 for one that does not exist or is out of
/// scope alike, so ids cannot be probed.
pub async fn load_visible(
    state: &AppState,
    who: &Principal,
    id: Uuid,
) -> Result<(Projection, Snapshot)> {
    let missing = || ServerError::NotFound(format!("no case {id} in your jurisdiction"));
    let projection = state.docs.projection(id).await?.ok_or_else(missing)?;
    if projection.kind != DocKind::Case || !visible(who, &projection) {
        return Err(missing());
    }
    let stored = state.docs.load_doc(id).await?.ok_or_else(missing)?;
    let snapshot = stored.load(&actor_for(&Uuid::nil()))?.snapshot()?;
    Ok((projection, snapshot))
}

/// The console's actions and the statuses in which each makes sense.
pub const CONSOLE_ACTIONS: &[(&str, &[CaseStatus])] = &[
    (kinds::REGISTERED, &[CaseStatus::Reported]),
    (kinds::REJECTED, &[CaseStatus::Reported]),
    (
        kinds::DUPLICATE_KEPT,
        &[CaseStatus::Reported, CaseStatus::Registered],
    ),
    (
        kinds::MERGED,
        &[CaseStatus::Reported, CaseStatus::Registered],
    ),
    // A case back from its unit waits as registered; re-dispatch is a dispatch from there.
    (kinds::DISPATCHED, &[CaseStatus::Registered]),
    (
        kinds::EXTENSION_GRANTED,
        &[
            CaseStatus::Dispatched,
            CaseStatus::Accepted,
            CaseStatus::Rework,
        ],
    ),
    (
        kinds::EXTENSION_DENIED,
        &[
            CaseStatus::Dispatched,
            CaseStatus::Accepted,
            CaseStatus::Rework,
        ],
    ),
    (
        kinds::SUSPENDED,
        &[
            CaseStatus::Dispatched,
            CaseStatus::Accepted,
            CaseStatus::Rework,
        ],
    ),
    (
        kinds::RESUMED,
        &[
            CaseStatus::Dispatched,
            CaseStatus::Accepted,
            CaseStatus::Rework,
        ],
    ),
    (
        kinds::SUPERVISED,
        &[
            CaseStatus::Registered,
            CaseStatus::Dispatched,
            CaseStatus::Accepted,
            CaseStatus::Rework,
        ],
    ),
    (
        kinds::VOIDED,
        &[
            CaseStatus::Reported,
            CaseStatus::Registered,
            CaseStatus::Dispatched,
            CaseStatus::Accepted,
            CaseStatus::Rework,
        ],
    ),
];

pub fn allowed_actions(
    who: &Principal,
    snapshot: &Snapshot,
    state: &case::CaseState,
) -> Vec<String> {
    let scope = state.scope(&snapshot.header);
    CONSOLE_ACTIONS
        .iter()
        .filter(|(_, statuses)| statuses.contains(&state.status))
        .filter(|(kind, _)| {
            (*kind != kinds::EXTENSION_GRANTED && *kind != kinds::EXTENSION_DENIED)
                || state.pending_extension.is_some()
        })
        .filter(|(kind, _)| (*kind == kinds::RESUMED) == state.is_suspended())
        .filter(|(kind, _)| {
            *kind != kinds::DUPLICATE_KEPT || !state.duplicate_candidates.is_empty()
        })
        .filter(|(kind, _)| decide_in(all_rules(), who, kind, &scope) == Decision::Allowed)
        .map(|(kind, _)| (*kind).to_owned())
        .collect()
}

pub async fn case_detail(state: &AppState, who: &Principal, id: Uuid) -> Result<CaseDetail> {
    let (projection, snapshot) = load_visible(state, who, id).await?;
    let fold = case::fold(&snapshot);
    let mut people = People::default();
    let mut events = Vec::with_capacity(snapshot.events.len());
    let mut verdict = None;
    for event in &snapshot.events {
        let ignored = fold
            .ignored
            .iter()
            .find(|i| i.event == event.id)
            .map(|i| i.reason.clone());
        if event.kind == kinds::VERDICT && ignored.is_none() {
            if let Ok(CaseEvent::Verdict(v)) = CaseEvent::from_event(event) {
                verdict = Some(VerdictView {
                    at: iso(event.at),
                    passed: v.passed(),
                    checks: v
                        .checks
                        .into_iter()
                        .map(|c| CheckView {
                            name: c.name,
                            passed: c.passed,
                            reason: c.reason,
                        })
                        .collect(),
                });
            }
        }
        events.push(EventView {
            id: event.id,
            kind: event.kind.clone(),
            at: iso(event.at),
            by: people.name(state, &event.by).await?,
            role: super::word(&event.role),
            data: event.data.clone(),
            ignored,
        });
    }
    let mut photos = Vec::new();
    for (hash, evidence) in &snapshot.evidence {
        photos.push(PhotoView {
            hash: hash.clone(),
            stage: super::word(&evidence.stage),
            taken_at: iso(evidence.taken_at),
            by: people.name(state, &evidence.by).await?,
            lat: evidence.position.map(|p| p.lat),
            lon: evidence.position.map(|p| p.lon),
            accuracy_m: evidence.position.map(|p| p.accuracy_m),
            url: format!("/v1/blobs/{hash}"),
        });
    }
    photos.sort_by(|a, b| a.taken_at.cmp(&b.taken_at));
    Ok(CaseDetail {
        row: case_row(state, &projection),
        description: snapshot.fields.get("description").cloned(),
        address: snapshot.fields.get("address").cloned(),
        reported_by: people.name(state, &snapshot.header.created_by).await?,
        urgency: super::word(&fold.urgency),
        rework_count: fold.rework_count,
        supervised: fold.supervised,
        duplicate_of: fold.duplicate_of,
        duplicate_candidates: fold
            .duplicate_candidates
            .iter()
            .map(|c| DuplicateView {
                case_id: c.case_id,
                distance_m: c.distance_m,
                reported_at: iso(c.reported_at),
            })
            .collect(),
        field_conflicts: fold
            .field_conflicts
            .iter()
            .map(|c| FieldConflictView {
                field: c.field.clone(),
                values: c.values.clone(),
                resolvable: super::fields::may_edit_fields(who, &snapshot),
            })
            .collect(),
        actions: allowed_actions(who, &snapshot, &fold),
        events,
        photos,
        verdict,
    })
}

#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases",
    params(("id" = Uuid, Path, description = "Case id")),
    responses((status = 200, description = "The case in full", body = CaseDetail),
              (status = 404, description = "No such case in your jurisdiction", body = super::openapi::ApiError)),
    security(("bearer" = [])))]
pub async fn detail_handler(
    auth: Auth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CaseDetail>> {
    Ok(Json(case_detail(&state, &auth.principal, id).await?))
}
