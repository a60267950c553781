//! Statements prepared once per pooled connection and reused. Given as text, a statement
//! costs two round trips (prepare, then execute) and a parse and plan on the server each
//! time; prepared once, a repeat costs one round trip and neither. Only for statements
//! whose text is fixed: every distinct text stays in the connection's cache.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row};

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) trait Prepared: GenericClient {
    async fn execute_prepared(&self, sql: &str, params: Params<'_>) -> Result<u64, Error> {
        let statement = self.prepare_cached(sql).await?;
        self.execute(&statement, params).await
    }

    async fn query_prepared(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Error> {
        let statement = self.prepare_cached(sql).await?;
        self.query(&statement, params).await
    }

    async fn query_one_prepared(&self, sql: &str, params: Params<'_>) -> Result<Row, Error> {
        let statement = self.prepare_cached(sql).await?;
        self.query_one(&statement, params).await
    }

    async fn query_opt_prepared(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, Error> {
        let statement = self.prepare_cached(sql).await?;
        self.query_opt(&statement, params).await
    }
}

impl<C: GenericClient> Prepared for C {}
