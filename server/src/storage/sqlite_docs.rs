//! The embedded store's documents: changes, projections and the sync bookkeeping
//! ([`DocStore`] for [`SqliteStore`]).

use fieldloop_core::doc::DocKind;
use fieldloop_core::roles::Jurisdiction;
use fieldloop_core::time::Millis;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::error::{StoreError, StoreResult as Result};
use super::sqlite::{
    enum_parse, enum_text, insert_audit, parse_uuid, CachedStatements, SqliteStore,
};
use super::{
    BlobHash, DeviceHeads, DocSince, DocStore, Listed, NewChange, Origin, Projection,
    ProjectionFields, Seq, StoreFuture, StoredChange, StoredDoc,
};
// ---------------------------------------------------------------------------------------
// Documents

pub(super) const PROJECTION_COLUMNS: &str =
    "doc_id, kind, status, unit, grid_cell, project, segment, deadline, band, json, seq";

fn projection_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, ProjectionRaw)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        ProjectionRaw {
            status: row.get(2)?,
            unit: row.get(3)?,
            grid_cell: row.get(4)?,
            project: row.get(5)?,
            segment: row.get(6)?,
            deadline: row.get(7)?,
            band: row.get(8)?,
            json: row.get(9)?,
            seq: row.get(10)?,
        },
    ))
}

struct ProjectionRaw {
    status: Option<String>,
    unit: Option<String>,
    grid_cell: Option<String>,
    project: Option<String>,
    segment: Option<String>,
    deadline: Option<Millis>,
    band: Option<String>,
    json: String,
    seq: Seq,
}

fn projection_parse((id, kind, raw): (String, String, ProjectionRaw)) -> Result<Projection> {
    Ok(Projection {
        doc_id: parse_uuid(&id)?,
        kind: enum_parse(kind)?,
        fields: ProjectionFields {
            status: raw.status,
            unit: raw.unit,
            grid_cell: raw.grid_cell,
            project: raw.project,
            segment: raw.segment,
            deadline: raw.deadline,
            band: raw.band,
            json: serde_json::from_str(&raw.json)
                .map_err(|e| StoreError::Damaged(format!("damaged projection: {e}")))?,
        },
        seq: raw.seq,
    })
}

/// Sorts right after every digit: `prefix..prefix:` is the range of cells under `prefix`.
pub(super) const GRID_PREFIX_END: char = ':';

/// The query reading `columns` of the projections changed past `cursor` within `scope`
/// (any of its grid prefixes, units, projects or segments; everything when `everywhere`),
/// plus the documents `creator` made, oldest change first. `None` when nothing can match.
fn scoped_changes(
    columns: &str,
    cursor: Seq,
    scope: &Jurisdiction,
    creator: Option<String>,
    limit: usize,
) -> Option<(String, Vec<SqlValue>)> {
    let mut args: Vec<SqlValue> = vec![SqlValue::Integer(cursor)];
    let filter = if scope.everywhere {
        String::new()
    } else {
        let mut any = Vec::new();
        if let Some(creator) = creator {
            args.push(SqlValue::Text(creator));
            any.push(format!("created_by = ?{}", args.len()));
        }
        for prefix in &scope.grid_prefixes {
            args.push(SqlValue::Text(prefix.clone()));
            let n = args.len();
            args.push(SqlValue::Text(format!("{prefix}{GRID_PREFIX_END}")));
            // A range, so the grid-cell index answers it.
            any.push(format!("(grid_cell >= ?{n} AND grid_cell < ?{})", n + 1));
        }
        for (column, values) in [
            ("unit", &scope.units),
            ("project", &scope.projects),
            ("segment", &scope.segments),
        ] {
            for value in values {
                args.push(SqlValue::Text(value.clone()));
                any.push(format!("{column} = ?{}", args.len()));
            }
        }
        if any.is_empty() {
            return None;
        }
        format!("AND ({})", any.join(" OR "))
    };
    args.push(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT {columns} FROM projections WHERE seq > ?1 {filter} \
         ORDER BY seq LIMIT ?{}",
        args.len()
    );
    Some((sql, args))
}

pub(super) fn query_projections(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Projection>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, projection_from_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(projection_parse(row?)?);
    }
    Ok(out)
}

/// Stores one change with its projection and blob references inside `tx`.
fn load_whole(conn: &Connection, id: Uuid) -> Result<Option<StoredDoc>> {
    let head = conn
        .prepare_cached(
            "SELECT kind, compacted, compacted_through, last_seq FROM documents WHERE id = ?1",
        )?
        .query_row([id.to_string()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<Vec<u8>>>(1)?,
                row.get::<_, Seq>(2)?,
                row.get::<_, Seq>(3)?,
            ))
        })
        .optional()?;
    let Some((kind, compacted, compacted_through, last_seq)) = head else {
        return Ok(None);
    };
    Ok(Some(StoredDoc {
        id,
        kind: enum_parse::<DocKind>(kind)?,
        compacted: compacted.unwrap_or_default(),
        compacted_through,
        changes: changes_after(conn, id, compacted_through)?,
        last_seq,
    }))
}

fn changes_after(conn: &Connection, id: Uuid, after: Seq) -> Result<Vec<StoredChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, bytes, user_id, device_id, arrived_at FROM changes \
         WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq",
    )?;
    let changes = stmt
        .query_map(params![id.to_string(), after], |row| {
            Ok(StoredChange {
                seq: row.get(0)?,
                bytes: row.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
                origin: Origin {
                    user_id: row.get(2)?,
                    device_id: row.get(3)?,
                    arrived_at: row.get(4)?,
                },
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(changes)
}

fn insert_change(tx: &Connection, change: NewChange) -> Result<Seq> {
    let refs = change
        .blob_refs
        .iter()
        .map(|h| BlobHash::parse(h))
        .collect::<Result<Vec<_>>>()?;
    let id = change.doc_id.to_string();
    let kind = enum_text(&change.kind)?;
    let json = serde_json::to_string(&change.projection.json)?;
    let stored_kind: Option<String> = tx
        .query_row_cached("SELECT kind FROM documents WHERE id = ?1", [&id], |row| {
            row.get(0)
        })
        .optional()?;
    match stored_kind {
        None => {
            tx.execute_cached(
                "INSERT INTO documents (id, kind, last_seq, created_at) VALUES (?1, ?2, 0, ?3)",
                params![id, kind, change.origin.arrived_at],
            )?;
        }
        Some(stored) if stored != kind => {
            return Err(StoreError::invalid(
                "kind_mismatch",
                format!("document {id} is a {stored}, not a {kind}"),
            ));
        }
        Some(_) => {}
    }
    tx.execute_cached(
        "INSERT INTO changes (doc_id, bytes, user_id, device_id, arrived_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            change.bytes,
            change.origin.user_id,
            change.origin.device_id,
            change.origin.arrived_at
        ],
    )?;
    let seq = tx.last_insert_rowid();
    tx.execute_cached(
        "UPDATE documents SET last_seq = ?2, uncompacted = uncompacted + 1 WHERE id = ?1",
        params![id, seq],
    )?;
    let p = &change.projection;
    tx.execute_cached(
        &format!(
            "INSERT OR REPLACE INTO projections ({PROJECTION_COLUMNS}, created_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
                     json_extract(?10, '$.created_by'))"
        ),
        params![
            id,
            kind,
            p.status,
            p.unit,
            p.grid_cell,
            p.project,
            p.segment,
            p.deadline,
            p.band,
            json,
            seq
        ],
    )?;
    for hash in refs {
        tx.execute_cached(
            "INSERT OR IGNORE INTO blob_refs (hash, doc_id) VALUES (?1, ?2)",
            params![hash.as_str(), id],
        )?;
        tx.execute_cached(
            super::evidence_arrivals::SQLITE_INSERT,
            params![id, hash.as_str(), change.origin.arrived_at],
        )?;
    }
    match &change.snapshot {
        Some(bytes) => tx.execute_cached(super::snapshots::SQLITE_UPSERT, params![id, bytes])?,
        None => tx.execute_cached(super::snapshots::SQLITE_DELETE, [&id])?,
    };
    for entry in &change.audit {
        insert_audit(tx, entry)?;
    }
    Ok(seq)
}

impl DocStore for SqliteStore {
    fn append_change(&self, change: NewChange) -> StoreFuture<'_, Seq> {
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let seq = insert_change(&tx, change)?;
            tx.commit()?;
            Ok(seq)
        })
    }

    fn append_changes(&self, changes: Vec<NewChange>) -> StoreFuture<'_, Vec<Seq>> {
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let seqs = changes
                .into_iter()
                .map(|change| insert_change(&tx, change))
                .collect::<Result<Vec<_>>>()?;
            tx.commit()?;
            Ok(seqs)
        })
    }

    fn append_versioned(&self, changes: Vec<(NewChange, Seq)>) -> StoreFuture<'_, Vec<Seq>> {
        // The single writer connection makes check and write one atomic step.
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let mut seqs = Vec::with_capacity(changes.len());
            for (change, base) in changes {
                let last: Seq = tx
                    .query_row_cached(
                        "SELECT last_seq FROM documents WHERE id = ?1",
                        [change.doc_id.to_string()],
                        |row| row.get(0),
                    )
                    .optional()?
                    .unwrap_or(0);
                if last != base {
                    return Err(StoreError::Stale(change.doc_id));
                }
                seqs.push(insert_change(&tx, change)?);
            }
            tx.commit()?;
            Ok(seqs)
        })
    }

    fn load_doc(&self, id: Uuid) -> StoreFuture<'_, Option<StoredDoc>> {
        self.read(move |conn| {
            // One snapshot: a compaction between the two reads would otherwise leave
            // changes without their bytes.
            let tx = conn.unchecked_transaction()?;
            load_whole(&tx, id)
        })
    }

    fn load_doc_since(&self, id: Uuid, since: Seq) -> StoreFuture<'_, Option<DocSince>> {
        self.read(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let head = tx
                .prepare_cached(
                    "SELECT kind, compacted_through, last_seq FROM documents WHERE id = ?1",
                )?
                .query_row([id.to_string()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Seq>(1)?,
                        row.get::<_, Seq>(2)?,
                    ))
                })
                .optional()?;
            let Some((kind, compacted_through, last_seq)) = head else {
                return Ok(None);
            };
            if compacted_through > since {
                return Ok(load_whole(&tx, id)?.map(DocSince::Whole));
            }
            let changes = if last_seq > since {
                changes_after(&tx, id, since)?
            } else {
                Vec::new()
            };
            Ok(Some(DocSince::Changes {
                kind: enum_parse::<DocKind>(kind)?,
                changes,
                last_seq,
            }))
        })
    }

    fn compact(&self, id: Uuid, saved: Vec<u8>, through: Seq) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            let text = id.to_string();
            let tx = conn.savepoint()?;
            let last: Option<Seq> = tx
                .query_row_cached(
                    "SELECT last_seq FROM documents WHERE id = ?1",
                    [&text],
                    |row| row.get(0),
                )
                .optional()?;
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
            let updated = tx.execute_cached(
                "UPDATE documents SET compacted = ?2, compacted_through = ?3 \
                 WHERE id = ?1 AND compacted_through <= ?3",
                params![text, saved, through],
            )?;
            if updated == 1 {
                tx.execute_cached(
                    "UPDATE changes SET bytes = NULL WHERE doc_id = ?1 AND seq <= ?2",
                    params![text, through],
                )?;
                tx.execute_cached(
                    "UPDATE documents SET uncompacted = \
                     (SELECT count(*) FROM changes WHERE doc_id = ?1 AND seq > ?2) \
                     WHERE id = ?1",
                    params![text, through],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn projection(&self, id: Uuid) -> StoreFuture<'_, Option<Projection>> {
        self.read(move |conn| {
            let sql = format!("SELECT {PROJECTION_COLUMNS} FROM projections WHERE doc_id = ?1");
            Ok(query_projections(conn, &sql, [id.to_string()])?.pop())
        })
    }

    fn changed_since(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>> {
        self.read(move |conn| {
            match scoped_changes(PROJECTION_COLUMNS, cursor, &scope, None, limit) {
                Some((sql, args)) => query_projections(conn, &sql, params_from_iter(args)),
                None => Ok(Vec::new()),
            }
        })
    }

    fn with_status(
        &self,
        kind: DocKind,
        statuses: Vec<String>,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>> {
        self.read(move |conn| {
            if statuses.is_empty() {
                return Ok(Vec::new());
            }
            let mut args = vec![
                SqlValue::Text(enum_text(&kind)?),
                SqlValue::Text(after.map(|id| id.to_string()).unwrap_or_default()),
                SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
            ];
            let marks: Vec<String> = statuses
                .into_iter()
                .map(|status| {
                    args.push(SqlValue::Text(status));
                    format!("?{}", args.len())
                })
                .collect();
            let sql = format!(
                "SELECT {PROJECTION_COLUMNS} FROM projections \
                 WHERE kind = ?1 AND status IN ({}) AND doc_id > ?2 ORDER BY doc_id LIMIT ?3",
                marks.join(", ")
            );
            query_projections(conn, &sql, params_from_iter(args))
        })
    }

    fn compaction_candidates(&self, min_changes: u32, limit: usize) -> StoreFuture<'_, Vec<Uuid>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM documents WHERE uncompacted >= ?1 \
                 ORDER BY uncompacted DESC LIMIT ?2",
            )?;
            let ids = stmt
                .query_map(
                    params![min_changes, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |row| row.get::<_, String>(0),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            ids.iter().map(|id| parse_uuid(id)).collect()
        })
    }

    fn active_between(&self, starts: Millis, ends: Millis) -> StoreFuture<'_, Vec<Uuid>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&super::active::sqlite_query())?;
            let ids = stmt
                .query_map(params![starts, ends], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            ids.iter().map(|id| parse_uuid(id)).collect()
        })
    }

    fn stored_snapshots(&self, ids: Vec<Uuid>) -> StoreFuture<'_, Vec<(Uuid, Vec<u8>)>> {
        self.read(move |conn| {
            // One snapshot of the database for the whole batch.
            let tx = conn.unchecked_transaction()?;
            let mut stmt = tx.prepare_cached(super::snapshots::SQLITE_SELECT)?;
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                let bytes: Option<Vec<u8>> = stmt
                    .query_row([id.to_string()], |row| row.get(0))
                    .optional()?;
                found.extend(bytes.map(|b| (id, b)));
            }
            Ok(found)
        })
    }

    fn snapshot_gaps(
        &self,
        after: Option<Uuid>,
        scan: usize,
    ) -> StoreFuture<'_, Vec<(Uuid, bool)>> {
        self.read(move |conn| {
            let after = after.map(|id| id.to_string()).unwrap_or_default();
            let mut stmt = conn.prepare_cached(super::snapshots::SQLITE_GAPS)?;
            let rows = stmt
                .query_map(
                    params![after, i64::try_from(scan).unwrap_or(i64::MAX)],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?)),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(id, kept)| Ok((parse_uuid(&id)?, kept)))
                .collect()
        })
    }

    fn keep_snapshot_if_current(
        &self,
        id: Uuid,
        seq: Seq,
        bytes: Vec<u8>,
    ) -> StoreFuture<'_, bool> {
        self.write(move |conn| {
            let kept = conn.execute_cached(
                super::snapshots::SQLITE_KEEP_IF_CURRENT,
                params![id.to_string(), seq, bytes],
            )?;
            Ok(kept == 1)
        })
    }

    fn origins(&self, id: Uuid) -> StoreFuture<'_, Vec<(Seq, Origin)>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT seq, user_id, device_id, arrived_at FROM changes WHERE doc_id = ?1 \
                 ORDER BY seq",
            )?;
            let rows = stmt.query_map([id.to_string()], |row| {
                Ok((
                    row.get(0)?,
                    Origin {
                        user_id: row.get(1)?,
                        device_id: row.get(2)?,
                        arrived_at: row.get(3)?,
                    },
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn evidence_arrivals(&self, id: Uuid) -> StoreFuture<'_, Vec<(String, Millis)>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(super::evidence_arrivals::SQLITE_SELECT)?;
            let rows = stmt.query_map([id.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn head_seq(&self) -> StoreFuture<'_, Seq> {
        self.read(|conn| {
            Ok(
                conn.query_row_cached("SELECT coalesce(max(seq), 0) FROM changes", [], |row| {
                    row.get(0)
                })?,
            )
        })
    }
    fn changed_for_sync(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        creator: String,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Listed>> {
        self.read(move |conn| {
            let Some((sql, args)) =
                scoped_changes("doc_id, seq", cursor, &scope, Some(creator), limit)
            else {
                return Ok(Vec::new());
            };
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Seq>(1)?))
            })?;
            let mut listed = Vec::new();
            for row in rows {
                let (id, seq) = row?;
                listed.push(Listed {
                    doc_id: parse_uuid(&id)?,
                    seq,
                });
            }
            Ok(listed)
        })
    }

    fn confirm_device_heads(&self, device_id: String, cursor: Seq) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            conn.execute_cached(
                "UPDATE device_heads SET confirmed = CASE WHEN pending_cursor <= ?2 \
                 THEN pending ELSE confirmed END, pending = NULL, pending_cursor = NULL \
                 WHERE device_id = ?1 AND pending IS NOT NULL",
                params![device_id, cursor],
            )?;
            Ok(())
        })
    }

    fn device_heads(
        &self,
        device_id: String,
        docs: Vec<Uuid>,
    ) -> StoreFuture<'_, Vec<(Uuid, Vec<[u8; 32]>)>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT confirmed FROM device_heads WHERE device_id = ?1 AND doc_id = ?2",
            )?;
            let mut out = Vec::new();
            for id in docs {
                let confirmed: Option<Vec<u8>> = stmt
                    .query_row(params![device_id, id.to_string()], |row| row.get(0))
                    .optional()?;
                if let Some(bytes) = confirmed {
                    out.push((id, heads_from_blob(&bytes)?));
                }
            }
            Ok(out)
        })
    }

    fn set_device_heads(
        &self,
        device_id: String,
        entries: Vec<DeviceHeads>,
    ) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            for entry in entries {
                let heads = entry.heads.concat();
                let id = entry.doc_id.to_string();
                match entry.pending_until {
                    None => tx.execute_cached(
                        "INSERT INTO device_heads (device_id, doc_id, confirmed) \
                         VALUES (?1, ?2, ?3) ON CONFLICT (device_id, doc_id) DO UPDATE \
                         SET confirmed = excluded.confirmed, pending = NULL, \
                         pending_cursor = NULL",
                        params![device_id, id, heads],
                    )?,
                    // Until confirmed, the server keeps sending from what it knows for sure.
                    Some(cursor) => tx.execute_cached(
                        "INSERT INTO device_heads (device_id, doc_id, confirmed, pending, \
                         pending_cursor) VALUES (?1, ?2, x'', ?3, ?4) \
                         ON CONFLICT (device_id, doc_id) DO UPDATE \
                         SET pending = excluded.pending, pending_cursor = excluded.pending_cursor",
                        params![device_id, id, heads, cursor],
                    )?,
                };
            }
            tx.commit()?;
            Ok(())
        })
    }
}

pub(super) fn heads_from_blob(bytes: &[u8]) -> Result<Vec<[u8; 32]>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(StoreError::Damaged(format!(
            "damaged device heads: {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|chunk| {
            let mut head = [0; 32];
            head.copy_from_slice(chunk);
            head
        })
        .collect())
}
