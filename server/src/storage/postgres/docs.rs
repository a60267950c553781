//! Documents, changes, projections and per-device sync state on PostgreSQL.

use deadpool_postgres::Transaction;
use fieldloop_core::doc::DocKind;
use fieldloop_core::roles::Jurisdiction;
use fieldloop_core::time::Millis;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{insert_audit, to_i64, PgStore};
use crate::storage::error::{StoreError, StoreResult as Result};
use crate::storage::sqlite::{enum_parse, enum_text, heads_from_blob};
use crate::storage::{
    AuditEntry, BlobHash, DeviceHeads, DocSince, DocStore, NewChange, Origin, Projection,
    ProjectionFields, Seq, StoreFuture, StoredChange, StoredDoc,
};

const PROJECTION_COLUMNS: [&str; 11] = [
    "doc_id",
    "kind",
    "status",
    "unit",
    "grid_cell",
    "project",
    "segment",
    "deadline",
    "band",
    "json",
    "seq",
];

pub(super) fn projection_columns(prefix: &str) -> String {
    PROJECTION_COLUMNS
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn projection_from_row(row: &Row) -> Result<Projection> {
    Ok(Projection {
        doc_id: row.try_get(0)?,
        kind: enum_parse(row.try_get(1)?)?,
        fields: ProjectionFields {
            status: row.try_get(2)?,
            unit: row.try_get(3)?,
            grid_cell: row.try_get(4)?,
            project: row.try_get(5)?,
            segment: row.try_get(6)?,
            deadline: row.try_get(7)?,
            band: row.try_get(8)?,
            json: row.try_get(9)?,
        },
        seq: row.try_get(10)?,
    })
}

type Param = Box<dyn ToSql + Sync + Send>;

fn is_retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    let code = e.code();
    code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
        || code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || code == Some(&SqlState::UNIQUE_VIOLATION)
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// The query for projections changed past `cursor` within `scope` (plus the documents
/// `creator` made), oldest change first; `None` when nothing can match.
fn scoped_changes(
    cursor: Seq,
    scope: &Jurisdiction,
    creator: Option<String>,
    limit: usize,
) -> Option<(String, Vec<Param>)> {
    let mut args: Vec<Param> = vec![Box::new(cursor)];
    let filter = if scope.everywhere {
        String::new()
    } else {
        let mut any = Vec::new();
        if let Some(creator) = creator {
            args.push(Box::new(creator));
            any.push(format!("json->>'created_by' = ${}", args.len()));
        }
        for prefix in &scope.grid_prefixes {
            args.push(Box::new(prefix.clone()));
            args.push(Box::new(format!("{prefix}:")));
            let n = args.len();
            any.push(format!("(grid_cell >= ${} AND grid_cell < ${n})", n - 1));
        }
        for (column, values) in [
            ("unit", &scope.units),
            ("project", &scope.projects),
            ("segment", &scope.segments),
        ] {
            for value in values {
                args.push(Box::new(value.clone()));
                any.push(format!("{column} = ${}", args.len()));
            }
        }
        if any.is_empty() {
            return None;
        }
        format!("AND ({})", any.join(" OR "))
    };
    args.push(Box::new(to_i64(limit)));
    let sql = format!(
        "SELECT {} FROM projections WHERE seq > $1 {filter} ORDER BY seq LIMIT ${}",
        projection_columns(""),
        args.len()
    );
    Some((sql, args))
}

/// Stores one change with its projection and blob references inside `tx`. The caller
/// holds the document's row lock when the document exists; `expect_new`: the change was
/// decided on the document being absent, so finding it created meanwhile is stale.
async fn load_whole(tx: &Transaction<'_>, id: Uuid) -> Result<Option<StoredDoc>> {
    let Some(head) = tx
        .query_opt(
            "SELECT kind, compacted, compacted_through, last_seq FROM documents WHERE id = $1",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let compacted_through: Seq = head.try_get(2)?;
    Ok(Some(StoredDoc {
        id,
        kind: enum_parse::<DocKind>(head.try_get(0)?)?,
        compacted: head.try_get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
        compacted_through,
        changes: changes_after(tx, id, compacted_through).await?,
        last_seq: head.try_get(3)?,
    }))
}

async fn changes_after(tx: &Transaction<'_>, id: Uuid, after: Seq) -> Result<Vec<StoredChange>> {
    let rows = tx
        .query(
            "SELECT seq, bytes, user_id, device_id, arrived_at FROM changes \
             WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
            &[&id, &after],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredChange {
                seq: row.try_get(0)?,
                bytes: row.try_get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
                origin: Origin {
                    user_id: row.try_get(2)?,
                    device_id: row.try_get(3)?,
                    arrived_at: row.try_get(4)?,
                },
            })
        })
        .collect()
}

async fn insert_change(tx: &Transaction<'_>, change: NewChange, expect_new: bool) -> Result<Seq> {
    let refs = change
        .blob_refs
        .iter()
        .map(|h| BlobHash::parse(h))
        .collect::<Result<Vec<_>>>()?;
    let id = change.doc_id;
    let kind = enum_text(&change.kind)?;
    let created = tx
        .execute(
            "INSERT INTO documents (id, kind, last_seq, created_at) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (id) DO NOTHING",
            &[&id, &kind, &change.origin.arrived_at],
        )
        .await?;
    if created == 0 && expect_new {
        return Err(StoreError::Stale(id));
    }
    if created == 0 {
        let stored: String = tx
            .query_one("SELECT kind FROM documents WHERE id = $1", &[&id])
            .await?
            .try_get(0)?;
        if stored != kind {
            return Err(StoreError::invalid(
                "kind_mismatch",
                format!("document {id} is a {stored}, not a {kind}"),
            ));
        }
    }
    // Taken last and held to the commit: sequence numbers become visible in order.
    let seq: Seq = tx
        .query_one(
            "UPDATE seq_counter SET value = value + 1 RETURNING value",
            &[],
        )
        .await?
        .try_get(0)?;
    tx.execute(
        "INSERT INTO changes (seq, doc_id, bytes, user_id, device_id, arrived_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &seq,
            &id,
            &change.bytes,
            &change.origin.user_id,
            &change.origin.device_id,
            &change.origin.arrived_at,
        ],
    )
    .await?;
    tx.execute(
        "UPDATE documents SET last_seq = $2, uncompacted = uncompacted + 1 WHERE id = $1",
        &[&id, &seq],
    )
    .await?;
    let p = &change.projection;
    tx.execute(
        &format!(
            "INSERT INTO projections ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind, status = excluded.status, \
             unit = excluded.unit, grid_cell = excluded.grid_cell, \
             project = excluded.project, segment = excluded.segment, \
             deadline = excluded.deadline, band = excluded.band, json = excluded.json, \
             seq = excluded.seq",
            projection_columns("")
        ),
        &[
            &id,
            &kind,
            &p.status,
            &p.unit,
            &p.grid_cell,
            &p.project,
            &p.segment,
            &p.deadline,
            &p.band,
            &p.json,
            &seq,
        ],
    )
    .await?;
    for hash in refs {
        tx.execute(
            "INSERT INTO blob_refs (hash, doc_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&hash.as_str(), &id],
        )
        .await?;
        tx.execute(
            crate::storage::evidence_arrivals::PG_INSERT,
            &[&id, &hash.as_str(), &change.origin.arrived_at],
        )
        .await?;
    }
    Ok(seq)
}

impl PgStore {
    /// Stores `changes` in one transaction; with `bases`, only if each document is still
    /// at its base (row-locked, in id order so two writers cannot deadlock).
    async fn append(&self, changes: Vec<NewChange>, bases: Option<Vec<Seq>>) -> Result<Vec<Seq>> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if let Some(bases) = &bases {
            let mut wanted: Vec<(Uuid, Seq)> = changes
                .iter()
                .map(|c| c.doc_id)
                .zip(bases.iter().copied())
                .collect();
            wanted.sort();
            let ids: Vec<Uuid> = wanted.iter().map(|(id, _)| *id).collect();
            let rows = tx
                .query(
                    "SELECT id, last_seq FROM documents WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                    &[&ids],
                )
                .await?;
            let mut found = std::collections::HashMap::new();
            for row in rows {
                found.insert(row.try_get::<_, Uuid>(0)?, row.try_get::<_, Seq>(1)?);
            }
            for (id, base) in wanted {
                if found.get(&id).copied().unwrap_or(0) != base {
                    return Err(StoreError::Stale(id));
                }
            }
        }
        let mut seqs = Vec::with_capacity(changes.len());
        // Written after every change: the audit lock is the last one this takes.
        let audit: Vec<AuditEntry> = changes.iter().flat_map(|c| c.audit.clone()).collect();
        for (n, change) in changes.into_iter().enumerate() {
            let id = change.doc_id;
            let expect_new = bases.as_ref().is_some_and(|b| b[n] == 0);
            match insert_change(&tx, change, expect_new).await {
                Ok(seq) => seqs.push(seq),
                // Writers creating one new document at once may deadlock on its key and
                // the counter; the database aborts one, which decides again.
                Err(StoreError::Postgres(e)) if bases.is_some() && is_retryable(&e) => {
                    return Err(StoreError::Stale(id))
                }
                Err(e) => return Err(e),
            }
        }
        for entry in &audit {
            insert_audit(&tx, entry).await?;
        }
        tx.commit().await?;
        Ok(seqs)
    }
}

impl DocStore for PgStore {
    fn append_change(&self, change: NewChange) -> StoreFuture<'_, Seq> {
        Box::pin(async move { Ok(self.append(vec![change], None).await?[0]) })
    }

    fn append_changes(&self, changes: Vec<NewChange>) -> StoreFuture<'_, Vec<Seq>> {
        Box::pin(self.append(changes, None))
    }

    fn append_versioned(&self, changes: Vec<(NewChange, Seq)>) -> StoreFuture<'_, Vec<Seq>> {
        let (changes, bases): (Vec<_>, Vec<_>) = changes.into_iter().unzip();
        Box::pin(self.append(changes, Some(bases)))
    }

    fn load_doc(&self, id: Uuid) -> StoreFuture<'_, Option<StoredDoc>> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            // One snapshot for the head and its changes, so they agree.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let whole = load_whole(&tx, id).await?;
            tx.commit().await?;
            Ok(whole)
        })
    }

    fn load_doc_since(&self, id: Uuid, since: Seq) -> StoreFuture<'_, Option<DocSince>> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let Some(head) = tx
                .query_opt(
                    "SELECT kind, compacted_through, last_seq FROM documents WHERE id = $1",
                    &[&id],
                )
                .await?
            else {
                return Ok(None);
            };
            let compacted_through: Seq = head.try_get(1)?;
            let last_seq: Seq = head.try_get(2)?;
            let answer = if compacted_through > since {
                load_whole(&tx, id).await?.map(DocSince::Whole)
            } else {
                let changes = if last_seq > since {
                    changes_after(&tx, id, since).await?
                } else {
                    Vec::new()
                };
                Some(DocSince::Changes {
                    kind: enum_parse::<DocKind>(head.try_get(0)?)?,
                    changes,
                    last_seq,
                })
            };
            tx.commit().await?;
            Ok(answer)
        })
    }

    fn compact(&self, id: Uuid, saved: Vec<u8>, through: Seq) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let last: Option<Seq> = tx
                .query_opt(
                    "SELECT last_seq FROM documents WHERE id = $1 FOR UPDATE",
                    &[&id],
                )
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
            match last {
                None => return Err(StoreError::NotFound(format!("document {id}"))),
                Some(last) if through > last => {
                    return Err(StoreError::invalid(
                        "compaction_ahead",
                        format!("compaction of {id} through {through} past its last change {last}"),
                    ))
                }
                Some(_) => {}
            }
            // A compaction older than the one stored would lose changes: keep the newer.
            let updated = tx
                .execute(
                    "UPDATE documents SET compacted = $2, compacted_through = $3 \
                     WHERE id = $1 AND compacted_through <= $3",
                    &[&id, &saved, &through],
                )
                .await?;
            if updated == 1 {
                tx.execute(
                    "UPDATE changes SET bytes = NULL WHERE doc_id = $1 AND seq <= $2",
                    &[&id, &through],
                )
                .await?;
                tx.execute(
                    "UPDATE documents SET uncompacted = \
                     (SELECT count(*) FROM changes WHERE doc_id = $1 AND seq > $2) \
                     WHERE id = $1",
                    &[&id, &through],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn projection(&self, id: Uuid) -> StoreFuture<'_, Option<Projection>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let sql = format!(
                "SELECT {} FROM projections WHERE doc_id = $1",
                projection_columns("")
            );
            let row = client.query_opt(&sql, &[&id]).await?;
            row.as_ref().map(projection_from_row).transpose()
        })
    }

    fn changed_since(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>> {
        Box::pin(self.scoped(cursor, scope, None, limit))
    }

    fn with_status(
        &self,
        kind: DocKind,
        statuses: Vec<String>,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let sql = format!(
                "SELECT {} FROM projections WHERE kind = $1 AND status = ANY($2) AND doc_id > $3 \
                 ORDER BY doc_id LIMIT $4",
                projection_columns("")
            );
            let rows = client
                .query(
                    &sql,
                    &[
                        &enum_text(&kind)?,
                        &statuses,
                        &after.unwrap_or(Uuid::nil()),
                        &to_i64(limit),
                    ],
                )
                .await?;
            rows.iter().map(projection_from_row).collect()
        })
    }

    fn compaction_candidates(&self, min_changes: u32, limit: usize) -> StoreFuture<'_, Vec<Uuid>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT id FROM documents WHERE uncompacted >= $1 \
                     ORDER BY uncompacted DESC LIMIT $2",
                    &[
                        &i32::try_from(min_changes).unwrap_or(i32::MAX),
                        &to_i64(limit),
                    ],
                )
                .await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
        })
    }

    fn origins(&self, id: Uuid) -> StoreFuture<'_, Vec<(Seq, Origin)>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT seq, user_id, device_id, arrived_at FROM changes WHERE doc_id = $1 \
                     ORDER BY seq",
                    &[&id],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get(0)?,
                        Origin {
                            user_id: row.try_get(1)?,
                            device_id: row.try_get(2)?,
                            arrived_at: row.try_get(3)?,
                        },
                    ))
                })
                .collect()
        })
    }

    fn evidence_arrivals(&self, id: Uuid) -> StoreFuture<'_, Vec<(String, Millis)>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(crate::storage::evidence_arrivals::PG_SELECT, &[&id])
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    }

    fn head_seq(&self) -> StoreFuture<'_, Seq> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            Ok(client
                .query_one("SELECT value FROM seq_counter", &[])
                .await?
                .try_get(0)?)
        })
    }

    fn active_between(&self, starts: Millis, ends: Millis) -> StoreFuture<'_, Vec<Uuid>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(&crate::storage::active::pg_query(), &[&starts, &ends])
                .await?;
            rows.iter()
                .map(|row| Ok(row.try_get::<_, Uuid>(0)?))
                .collect()
        })
    }

    fn changed_for_sync(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        creator: String,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>> {
        Box::pin(self.scoped(cursor, scope, Some(creator), limit))
    }

    fn confirm_device_heads(&self, device_id: String, cursor: Seq) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .execute(
                    "UPDATE device_heads SET confirmed = CASE WHEN pending_cursor <= $2 \
                     THEN pending ELSE confirmed END, pending = NULL, pending_cursor = NULL \
                     WHERE device_id = $1 AND pending IS NOT NULL",
                    &[&device_id, &cursor],
                )
                .await?;
            Ok(())
        })
    }

    fn device_heads(
        &self,
        device_id: String,
        docs: Vec<Uuid>,
    ) -> StoreFuture<'_, Vec<(Uuid, Vec<[u8; 32]>)>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT doc_id, confirmed FROM device_heads \
                     WHERE device_id = $1 AND doc_id = ANY($2)",
                    &[&device_id, &docs],
                )
                .await?;
            let mut found = std::collections::HashMap::new();
            for row in rows {
                let bytes: Vec<u8> = row.try_get(1)?;
                found.insert(row.try_get::<_, Uuid>(0)?, heads_from_blob(&bytes)?);
            }
            // In the order asked, like the embedded store.
            Ok(docs
                .into_iter()
                .filter_map(|id| found.remove(&id).map(|heads| (id, heads)))
                .collect())
        })
    }

    fn set_device_heads(
        &self,
        device_id: String,
        entries: Vec<DeviceHeads>,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(());
            }
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            for entry in entries {
                let heads = entry.heads.concat();
                match entry.pending_until {
                    None => {
                        tx.execute(
                            "INSERT INTO device_heads (device_id, doc_id, confirmed) \
                             VALUES ($1, $2, $3) ON CONFLICT (device_id, doc_id) DO UPDATE \
                             SET confirmed = excluded.confirmed, pending = NULL, \
                             pending_cursor = NULL",
                            &[&device_id, &entry.doc_id, &heads],
                        )
                        .await?
                    }
                    // Until confirmed, the server keeps sending from what it knows for sure.
                    Some(cursor) => {
                        tx.execute(
                            "INSERT INTO device_heads (device_id, doc_id, confirmed, pending, \
                             pending_cursor) VALUES ($1, $2, '\\x', $3, $4) \
                             ON CONFLICT (device_id, doc_id) DO UPDATE \
                             SET pending = excluded.pending, \
                             pending_cursor = excluded.pending_cursor",
                            &[&device_id, &entry.doc_id, &heads, &cursor],
                        )
                        .await?
                    }
                };
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

impl PgStore {
    async fn scoped(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        creator: Option<String>,
        limit: usize,
    ) -> Result<Vec<Projection>> {
        let Some((sql, args)) = scoped_changes(cursor, &scope, creator, limit) else {
            return Ok(Vec::new());
        };
        let client = self.pool.get().await?;
        let rows = client.query(&sql, &refs(&args)).await?;
        rows.iter().map(projection_from_row).collect()
    }
}
