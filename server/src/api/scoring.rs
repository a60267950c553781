//! 综合评价 for people: the month's ranking of units (by name) and inspectors (by
//! username) with 结案率 / 按期结案率 / 返工率 / 超期率, a red / yellow / green light per
//! unit, a six-month trend, and the CSV download (UTF-8 with BOM, so Excel on a
//! Chinese-locale Windows opens it correctly, as a named attachment). A month in the
//! future or without any case due says so, and ranks nobody.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::Json;
use fieldloop_core::evaluation::{Evaluation, Period};
use fieldloop_core::roles::{Principal, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::export::csv_attachment;
use super::names::{unit_name, People};
use crate::auth::Auth;
use crate::error::{Result, ServerError};
use crate::evaluation_view::evaluation as month_evaluation;
use crate::state::AppState;

/// Months in the trend, the asked one included.
const TREND_MONTHS: u32 = 6;

/// Light thresholds (defaults until a city sets its own): red below 70 % 按期结案率 or
/// above 20 % 超期率, yellow below 90 % 按期结案率.
const RED_ON_TIME: f64 = 0.70;
const RED_OVERDUE: f64 = 0.20;
const YELLOW_ON_TIME: f64 = 0.90;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    /// The month, YYYY-MM.
    pub period: String,
    /// Include the six-month trend (default true).
    pub trend: Option<bool>,
    /// For the CSV: units (default) or inspectors.
    pub rows: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitRanking {
    /// None when the month cannot be ranked (future, or nothing due).
    pub rank: Option<u32>,
    pub unit: String,
    pub unit_name: String,
    pub due: u32,
    pub closed: u32,
    pub closed_on_time: u32,
    pub suspended: u32,
    pub rework: u32,
    pub overdue: u32,
    pub extended: u32,
    pub close_rate: Option<f64>,
    pub on_time_rate: Option<f64>,
    pub rework_rate: Option<f64>,
    pub overdue_rate: Option<f64>,
    /// red, yellow, green; none when nothing was due.
    pub light: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InspectorRanking {
    pub inspector: String,
    pub reports: u32,
    pub valid_reports: u32,
    pub self_fixed: u32,
    pub verifications: u32,
    pub on_time_verifications: u32,
    pub patrols: u32,
    pub mileage_km: f64,
    pub coverage: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendPoint {
    pub period: String,
    pub due: u32,
    pub close_rate: Option<f64>,
    pub on_time_rate: Option<f64>,
    pub rework_rate: Option<f64>,
    pub overdue_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ranking {
    pub period: String,
    /// ok, empty (nothing due that month) or future.
    pub state: String,
    /// What a person reads when the month cannot be ranked.
    pub message: Option<String>,
    /// Computed on a provisional calendar (the year's holidays not yet published).
    pub provisional: bool,
    pub units: Vec<UnitRanking>,
    pub inspectors: Vec<InspectorRanking>,
    pub trend: Vec<TrendPoint>,
    /// Rectification notices per contractor (by name) this month.
    pub contractors: Vec<ContractorRanking>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContractorRanking {
    pub contractor: String,
    pub issued: u32,
    pub closed: u32,
    pub closed_on_time: u32,
    pub overdue: u32,
    pub on_time_rate: Option<f64>,
}

fn light(on_time: Option<f64>, overdue: Option<f64>) -> Option<String> {
    let on_time = on_time?;
    let word = if on_time < RED_ON_TIME || overdue.unwrap_or(0.0) > RED_OVERDUE {
        "red"
    } else if on_time < YELLOW_ON_TIME {
        "yellow"
    } else {
        "green"
    };
    Some(word.to_owned())
}

fn ratio(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn overall(period: String, e: &Evaluation) -> TrendPoint {
    let sum =
        |f: fn(&fieldloop_core::evaluation::UnitRow) -> u32| e.units.iter().map(f).sum::<u32>();
    let base = sum(|u| u.due).saturating_sub(sum(|u| u.suspended));
    TrendPoint {
        period,
        due: sum(|u| u.due),
        close_rate: ratio(sum(|u| u.closed), base),
        on_time_rate: ratio(sum(|u| u.closed_on_time), base),
        rework_rate: ratio(sum(|u| u.rework), base),
        overdue_rate: ratio(sum(|u| u.overdue), base),
    }
}

fn month_before(period: &Period, back: u32) -> String {
    let index = period.year * 12 + period.month as i32 - 1 - back as i32;
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

fn require_reader(who: &Principal) -> Result<()> {
    if matches!(who.role, Role::Dispatcher | Role::Admin) {
        Ok(())
    } else {
        Err(ServerError::Forbidden(format!(
            "a {:?} may not read the evaluation",
            who.role
        )))
    }
}

/// The evaluation with names, lights, state and (when asked) the trend; also returns the
/// raw evaluation with names in place of ids, for the CSV.
pub async fn ranking(
    state: &AppState,
    who: &Principal,
    period_text: &str,
    with_trend: bool,
) -> Result<(Ranking, Evaluation)> {
    require_reader(who)?;
    let period = Period::parse(period_text)
        .map_err(|e| ServerError::bad_request("bad_period", e.to_string()))?;
    let mut evaluation = month_evaluation(state, who, &period.label()).await?;
    let now = state.clock.now();
    let due: u32 = evaluation.units.iter().map(|u| u.due).sum();
    let activity: u32 = evaluation
        .inspectors
        .iter()
        .map(|i| i.reports + i.patrols)
        .sum();
    let (status, message) = if period.starts > now {
        (
            "future",
            Some(format!(
                "{} 尚未到来，暂无评价数据 (this month has not begun)",
                period.label()
            )),
        )
    } else if due == 0 && activity == 0 {
        (
            "empty",
            Some(format!(
                "{} 没有应结案的案件，不排名 (no case was due this month)",
                period.label()
            )),
        )
    } else {
        ("ok", None)
    };
    let ranked = status == "ok";
    let mut people = People::default();
    for row in &mut evaluation.inspectors {
        row.inspector = people.name(state, &row.inspector).await?;
    }
    let reference = state.reference.current();
    let units = evaluation
        .units
        .iter()
        .map(|u| UnitRanking {
            rank: ranked.then_some(u.rank),
            unit: u.unit.clone(),
            unit_name: unit_name(&reference, &u.unit),
            due: u.due,
            closed: u.closed,
            closed_on_time: u.closed_on_time,
            suspended: u.suspended,
            rework: u.rework,
            overdue: u.overdue,
            extended: u.extended,
            close_rate: u.close_rate,
            on_time_rate: u.on_time_rate,
            rework_rate: u.rework_rate,
            overdue_rate: u.overdue_rate,
            light: light(u.on_time_rate, u.overdue_rate),
        })
        .collect();
    let inspectors = evaluation
        .inspectors
        .iter()
        .map(|i| InspectorRanking {
            inspector: i.inspector.clone(),
            reports: i.reports,
            valid_reports: i.valid_reports,
            self_fixed: i.self_fixed,
            verifications: i.verifications,
            on_time_verifications: i.on_time_verifications,
            patrols: i.patrols,
            mileage_km: (i.mileage_m / 10.0).round() / 100.0,
            coverage: i.coverage,
        })
        .collect();
    let mut contractors = Vec::with_capacity(evaluation.contractors.len());
    for row in &mut evaluation.contractors {
        row.contractor = people.name(state, &row.contractor).await?;
        contractors.push(ContractorRanking {
            contractor: row.contractor.clone(),
            issued: row.issued,
            closed: row.closed,
            closed_on_time: row.closed_on_time,
            overdue: row.overdue,
            on_time_rate: row.on_time_rate,
        });
    }
    let mut trend = Vec::new();
    if with_trend {
        for back in (1..TREND_MONTHS).rev() {
            let label = month_before(&period, back);
            let earlier = month_evaluation(state, who, &label).await?;
            trend.push(overall(label, &earlier));
        }
        trend.push(overall(period.label(), &evaluation));
    }
    for row in &mut evaluation.units {
        row.unit = unit_name(&reference, &row.unit);
    }
    Ok((
        Ranking {
            period: period.label(),
            state: status.to_owned(),
            message,
            provisional: evaluation.provisional,
            units,
            inspectors,
            trend,
            contractors,
        },
        evaluation,
    ))
}

#[utoipa::path(get, path = "/v1/ranking", tag = "evaluation", params(RankingQuery),
    responses((status = 200, description = "The month's ranking by name, with lights and trend", body = Ranking),
              (status = 400, description = "Malformed period", body = super::openapi::ApiError),
              (status = 403, description = "Only dispatchers and admins", body = super::openapi::ApiError)),
    security(("bearer" = [])))]
pub async fn ranking_handler(
    auth: Auth,
    State(state): State<AppState>,
    Query(query): Query<RankingQuery>,
) -> Result<Json<Ranking>> {
    let (ranking, _) = ranking(
        &state,
        &auth.principal,
        &query.period,
        query.trend.unwrap_or(true),
    )
    .await?;
    Ok(Json(ranking))
}

#[utoipa::path(get, path = "/v1/ranking.csv", tag = "evaluation", params(RankingQuery),
    responses((status = 200, description = "UTF-8 CSV with BOM, as an attachment named 综合评价-YYYY-MM.csv", content_type = "text/csv")),
    security(("bearer" = [])))]
pub async fn ranking_csv_handler(
    auth: Auth,
    State(state): State<AppState>,
    Query(query): Query<RankingQuery>,
) -> Result<Response> {
    let (ranking, evaluation) = ranking(&state, &auth.principal, &query.period, false).await?;
    let (body, what) = match query.rows.as_deref().unwrap_or("units") {
        "units" => (evaluation.units_csv(), "单位"),
        "inspectors" => (evaluation.inspectors_csv(), "巡查员"),
        other => {
            return Err(ServerError::bad_request(
                "bad_rows",
                format!("rows {other:?}: use units or inspectors"),
            ))
        }
    };
    let body = match &ranking.message {
        // An empty month's file says so in its first line rather than listing ranks.
        Some(message) if ranking.state != "ok" => format!("# {message}\n{body}"),
        _ => body,
    };
    Ok(csv_attachment(
        &format!("evaluation-{}.csv", ranking.period),
        &format!("综合评价-{what}-{}.csv", ranking.period),
        body,
    ))
}
