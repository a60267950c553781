//! Open cases of one category around a place on PostgreSQL: the same query as the
//! embedded store's, on an expression index over (category, status) of case rows.

use super::docs::{projection_columns, projection_from_row};
use super::{to_i64, PgStore};
use crate::storage::error::StoreResult as Result;
use crate::storage::nearby::{NearbyQuery, OpenCaseIndex, OPEN_CASE_STATUSES};
use crate::storage::{Projection, StoreFuture};

/// Schema migration 6: the expression index the query runs on.
pub(super) const INDEX: &str = "
CREATE INDEX projections_open_cases ON projections((json->>'category'), status)
    WHERE kind = 'case';
";

impl OpenCaseIndex for PgStore {
    fn open_cases_near(&self, q: NearbyQuery) -> StoreFuture<'_, Vec<Projection>> {
        Box::pin(async move {
            let client = self.client().await?;
            let statuses: Vec<String> = OPEN_CASE_STATUSES.iter().map(|s| s.to_string()).collect();
            let sql = format!(
                "SELECT {} FROM projections \
                 WHERE kind = 'case' AND json->>'category' = $1 AND status = ANY($2) \
                 AND (json->'position'->>'lat')::float8 BETWEEN $3 AND $4 \
                 AND (json->'position'->>'lon')::float8 BETWEEN $5 AND $6 \
                 AND (json->>'created_at')::bigint BETWEEN $7 AND $8 \
                 LIMIT $9",
                projection_columns("")
            );
            let rows = client
                .query(
                    &sql,
                    &[
                        &q.category,
                        &statuses,
                        &q.south,
                        &q.north,
                        &q.west,
                        &q.east,
                        &q.created_from,
                        &q.created_to,
                        &to_i64(q.limit),
                    ],
                )
                .await?;
            rows.iter()
                .map(projection_from_row)
                .collect::<Result<Vec<_>>>()
        })
    }
}
