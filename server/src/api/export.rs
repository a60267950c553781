//! CSV downloads: UTF-8 with a byte-order mark (Excel on a Chinese-locale Windows reads a
//! file without one as GBK and garbles it), CRLF rows, sent as a named attachment.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::cases::{list_cases, CaseFilter};
use super::MAX_EXPORT;
use crate::auth::Auth;
use crate::error::Result;
use crate::state::AppState;

const BOM: &str = "\u{feff}";

/// RFC 5987 percent-encoding of a filename for `filename*=UTF-8''…`.
fn encode_filename(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `body` as a CSV attachment: `ascii_name` for old clients, `name` (UTF-8) for the rest.
pub fn csv_attachment(ascii_name: &str, name: &str, body: String) -> Response {
    let disposition = format!(
        "attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{}",
        encode_filename(name)
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        format!("{BOM}{body}"),
    )
        .into_response()
}

/// One CSV field, quoted when it holds a comma, quote or line break.
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn row(out: &mut String, fields: &[&str]) {
    let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

#[utoipa::path(get, path = "/v1/cases.csv", tag = "cases", params(CaseFilter),
    responses((status = 200, description = "UTF-8 CSV with BOM, as an attachment named 案件.csv", content_type = "text/csv")),
    security(("bearer" = [])))]
pub async fn cases_csv_handler(
    auth: Auth,
    State(state): State<AppState>,
    Query(mut filter): Query<CaseFilter>,
) -> Result<Response> {
    filter.limit = Some(filter.limit.unwrap_or(MAX_EXPORT));
    let page = list_cases(&state, &auth.principal, &filter, MAX_EXPORT).await?;
    let mut out = String::new();
    row(
        &mut out,
        &[
            "案件编号",
            "类别",
            "类别名称",
            "状态",
            "时限颜色",
            "处置时限",
            "责任单位",
            "网格",
            "纬度",
            "经度",
            "定位精度(米)",
            "上报时间",
            "来源",
        ],
    );
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let number = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for r in &page.items {
        row(
            &mut out,
            &[
                &r.id.to_string(),
                &text(&r.category),
                &text(&r.category_name),
                &text(&r.status),
                &r.band,
                &text(&r.deadline),
                &text(&r.unit_name),
                &text(&r.grid_cell),
                &number(r.lat),
                &number(r.lon),
                &number(r.accuracy_m),
                &text(&r.reported_at),
                &text(&r.source),
            ],
        );
    }
    let mut response = csv_attachment("cases.csv", "案件.csv", out);
    if let Some(next) = page.next_cursor {
        if let Ok(value) = next.parse() {
            response.headers_mut().insert("x-next-cursor", value);
        }
    }
    Ok(response)
}
