//! Open cases of one category around a place, for duplicate suggestions (疑似重复): one
//! indexed query on the projections (category and status through an expression index,
//! then the position box and the time window), never a scan of every document.

use fieldloop_core::time::Millis;
use rusqlite::params;

use super::sqlite::{query_projections, SqliteStore, PROJECTION_COLUMNS};
use super::{Projection, StoreFuture};

/// Where to look: a category, a latitude/longitude box and a window of creation times.
#[derive(Debug, Clone, PartialEq)]
pub struct NearbyQuery {
    /// Category key ("20102").
    pub category: String,
    pub south: f64,
    pub north: f64,
    pub west: f64,
    pub east: f64,
    pub created_from: Millis,
    pub created_to: Millis,
    pub limit: usize,
}

/// Case statuses that count as open (the fold's serde names).
pub const OPEN_CASE_STATUSES: &[&str] = &[
    "reported",
    "registered",
    "dispatched",
    "accepted",
    "handled",
    "verification_submitted",
    "judged",
    "rework",
    "self_fixed",
];

pub trait OpenCaseIndex: Send + Sync {
    /// Projections of the open cases matching `query`.
    fn open_cases_near(&self, query: NearbyQuery) -> StoreFuture<'_, Vec<Projection>>;
}

/// Schema migration 7: the expression index the query runs on.
pub(super) const SQLITE_INDEX: &str = r#"
CREATE INDEX projections_open_cases ON projections(json_extract(json, '$.category'), status)
    WHERE kind = 'case';
"#;

fn open_statuses_sql() -> String {
    OPEN_CASE_STATUSES
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The query, for the store and for the test that reads its plan.
pub fn sqlite_query() -> String {
    format!(
        "SELECT {PROJECTION_COLUMNS} FROM projections \
         WHERE kind = 'case' AND json_extract(json, '$.category') = ?1 \
         AND status IN ({}) \
         AND json_extract(json, '$.position.lat') BETWEEN ?2 AND ?3 \
         AND json_extract(json, '$.position.lon') BETWEEN ?4 AND ?5 \
         AND json_extract(json, '$.created_at') BETWEEN ?6 AND ?7 \
         LIMIT ?8",
        open_statuses_sql()
    )
}

impl OpenCaseIndex for SqliteStore {
    fn open_cases_near(&self, q: NearbyQuery) -> StoreFuture<'_, Vec<Projection>> {
        self.read(move |conn| {
            let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
            query_projections(
                conn,
                &sqlite_query(),
                params![
                    q.category,
                    q.south,
                    q.north,
                    q.west,
                    q.east,
                    q.created_from,
                    q.created_to,
                    limit
                ],
            )
        })
    }
}
