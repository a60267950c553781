//! Documents, changes, projections and per-device sync state on PostgreSQL.

use deadpool_postgres::Transaction;
use fieldloop_core::doc::DocKind;
use fieldloop_core::roles::Jurisdiction;
use fieldloop_core::time::Millis;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

use super::prepared::Prepared;
use super::{insert_audit, to_i64, PgStore};
use crate::storage::error::{StoreError, StoreResult as Result};
use crate::storage::sqlite::{enum_parse, enum_text, heads_from_blob};
use crate::storage::{
    BlobHash, DeviceHeads, DocSince, DocStore, Listed, NewChange, Origin, Projection,
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

/// The query reading `columns` of the projections changed past `cursor` within `scope`
/// (plus the documents `creator` made), oldest change first; `None` when nothing can match.
fn scoped_changes(
    columns: &str,
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
        "SELECT {columns} FROM projections WHERE seq > $1 {filter} ORDER BY seq LIMIT ${}",
        args.len()
    );
    Some((sql, args))
}

/// A document as a reader holding it through `since` needs it: its changes after `since`
/// or after its compaction, whichever is later, and the compaction itself (sent on the
/// first row only) when it is later; empty `compacted` otherwise. One statement, so one
/// snapshot: the changes and `last_seq` agree without a transaction, in one round trip.
async fn load_after(client: &impl Prepared, id: Uuid, since: Seq) -> Result<Option<StoredDoc>> {
    let rows = client
        .query_prepared(
            "SELECT d.kind, d.compacted_through, d.last_seq, \
                    CASE WHEN d.compacted_through > $2 \
                         AND row_number() OVER (ORDER BY c.seq) = 1 THEN d.compacted END, \
                    c.seq, c.bytes, c.user_id, c.device_id, c.arrived_at \
             FROM documents d \
             LEFT JOIN changes c ON c.doc_id = d.id AND c.seq > GREATEST(d.compacted_through, $2) \
             WHERE d.id = $1 ORDER BY c.seq",
            &[&id, &since],
        )
        .await?;
    let Some(head) = rows.first() else {
        return Ok(None);
    };
    let kind = enum_parse::<DocKind>(head.try_get(0)?)?;
    let compacted_through: Seq = head.try_get(1)?;
    let last_seq: Seq = head.try_get(2)?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(seq) = row.try_get::<_, Option<Seq>>(4)? else {
            continue;
        };
        changes.push(StoredChange {
            seq,
            bytes: row.try_get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default(),
            origin: Origin {
                user_id: row.try_get(6)?,
                device_id: row.try_get(7)?,
                arrived_at: row.try_get(8)?,
            },
        });
    }
    Ok(Some(StoredDoc {
        id,
        kind,
        compacted: head.try_get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
        compacted_through,
        changes,
        last_seq,
    }))
}

/// Everything of `changes` that needs no sequence number, in three statements whatever
/// their count: each document's row (created, or its kind checked, and row-locked by the
/// update), the photos they refer to and when each first arrived. Done before the sequence
/// counter is taken, so the counter is held briefly. `decided_absent[n]`: change `n` was
/// decided on its document being absent, so finding it created meanwhile is stale.
async fn prepare_documents(
    tx: &Transaction<'_>,
    changes: &[NewChange],
    decided_absent: &[bool],
) -> Result<()> {
    let ids: Vec<Uuid> = changes.iter().map(|c| c.doc_id).collect();
    let kinds = changes
        .iter()
        .map(|c| enum_text(&c.kind))
        .collect::<Result<Vec<String>>>()?;
    let arrivals: Vec<Millis> = changes.iter().map(|c| c.origin.arrived_at).collect();
    let created: std::collections::HashSet<Uuid> = tx
        .query_prepared(
            "INSERT INTO documents (id, kind, last_seq, created_at) \
             SELECT id, kind, 0, created_at \
             FROM UNNEST($1::uuid[], $2::text[], $3::bigint[]) AS t(id, kind, created_at) \
             ON CONFLICT (id) DO NOTHING RETURNING id",
            &[&ids, &kinds, &arrivals],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    if let Some(n) = (0..changes.len()).find(|&n| decided_absent[n] && !created.contains(&ids[n])) {
        return Err(StoreError::Stale(ids[n]));
    }
    let stored: std::collections::HashMap<Uuid, String> = tx
        .query_prepared(
            "UPDATE documents SET uncompacted = uncompacted + t.n \
             FROM (SELECT id, count(*) AS n FROM UNNEST($1::uuid[]) AS id GROUP BY id) AS t \
             WHERE documents.id = t.id RETURNING documents.id, documents.kind",
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_>>()?;
    for (id, kind) in ids.iter().zip(&kinds) {
        match stored.get(id) {
            Some(stored) if stored == kind => {}
            stored => {
                return Err(StoreError::invalid(
                    "kind_mismatch",
                    format!(
                        "document {id} is a {}, not a {kind}",
                        stored.map_or("nothing", |s| s)
                    ),
                ))
            }
        }
    }
    let (mut hashes, mut referrers, mut first_seen) = (Vec::new(), Vec::new(), Vec::new());
    for change in changes {
        for hash in &change.blob_refs {
            hashes.push(BlobHash::parse(hash)?.as_str().to_owned());
            referrers.push(change.doc_id);
            first_seen.push(change.origin.arrived_at);
        }
    }
    if !hashes.is_empty() {
        // In change order: a photo's arrival is that of the first change naming it.
        tx.execute_prepared(
            "WITH refs AS ( \
                 INSERT INTO blob_refs (hash, doc_id) \
                 SELECT * FROM UNNEST($1::text[], $2::uuid[]) ON CONFLICT DO NOTHING \
             ) \
             INSERT INTO evidence_arrivals (doc_id, hash, arrived_at) \
             SELECT * FROM UNNEST($2::uuid[], $1::text[], $3::bigint[]) ON CONFLICT DO NOTHING",
            &[&hashes, &referrers, &first_seen],
        )
        .await?;
    }
    Ok(())
}

/// Keeps each document's snapshot from its last change in the batch, or drops the kept
/// one when that change carries none. Before the counter is taken: no writer waits on it.
async fn write_snapshots(
    tx: &Transaction<'_>,
    changes: &[NewChange],
    last_of_doc: &[usize],
) -> Result<()> {
    let (mut kept_ids, mut kept, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    for &n in last_of_doc {
        let change = &changes[n];
        match &change.snapshot {
            Some(bytes) => {
                kept_ids.push(change.doc_id);
                kept.push(bytes.as_slice());
            }
            None => dropped.push(change.doc_id),
        }
    }
    tx.execute_prepared(
        crate::storage::snapshots::PG_WRITE,
        &[&kept_ids, &kept, &dropped],
    )
    .await?;
    Ok(())
}

/// The positions of the last entry of each document among `ids`, in order: one statement
/// may not write a row twice, and the last entry is the one written one by one would keep.
fn last_of_each_doc(ids: impl DoubleEndedIterator<Item = Uuid> + ExactSizeIterator) -> Vec<usize> {
    let count = ids.len();
    let mut seen = std::collections::HashSet::with_capacity(count);
    let mut last: Vec<usize> = ids
        .rev()
        .enumerate()
        .filter(|(_, id)| seen.insert(*id))
        .map(|(from_end, _)| count - 1 - from_end)
        .collect();
    last.reverse();
    last
}

/// The statement of [`write_sequenced`], built once: every append runs it.
static SEQUENCED_WRITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH counter AS ( \
             UPDATE seq_counter SET value = value + $1 RETURNING value - $1 AS before \
         ), input AS ( \
             SELECT counter.before + t.n AS seq, t.doc_id, t.bytes, t.user_id, \
                    t.device_id, t.arrived_at \
             FROM counter, UNNEST($2::uuid[], $3::bytea[], $4::text[], $5::text[], \
                                  $6::bigint[]) \
                  WITH ORDINALITY AS t(doc_id, bytes, user_id, device_id, arrived_at, n) \
         ), new_changes AS ( \
             INSERT INTO changes (seq, doc_id, bytes, user_id, device_id, arrived_at) \
             SELECT * FROM input \
         ), moved AS ( \
             UPDATE documents SET last_seq = latest.seq \
             FROM (SELECT doc_id, max(seq) AS seq FROM input GROUP BY doc_id) AS latest \
             WHERE documents.id = latest.doc_id \
         ), projected AS ( \
             INSERT INTO projections ({}) \
             SELECT p.c1, p.c2, p.c3, p.c4, p.c5, p.c6, p.c7, p.c8, p.c9, p.c10, \
                    counter.before + p.n \
             FROM counter, UNNEST($7::uuid[], $8::text[], $9::text[], $10::text[], \
                                  $11::text[], $12::text[], $13::text[], \
                                  $14::bigint[], $15::text[], $16::jsonb[], \
                                  $17::bigint[]) \
                  AS p(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, n) \
             ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind, \
             status = excluded.status, unit = excluded.unit, \
             grid_cell = excluded.grid_cell, project = excluded.project, \
             segment = excluded.segment, deadline = excluded.deadline, \
             band = excluded.band, json = excluded.json, seq = excluded.seq \
         ) \
         SELECT before FROM counter",
        projection_columns("")
    )
});

/// Gives `changes` the next sequence numbers, in order, and writes what carries them (the
/// change rows, each document's `last_seq`, its projection from its last change), all in
/// one statement that also takes the counter: its row lock is held from here to the commit,
/// so sequence numbers become visible in order, and a writer holding it waits on no round
/// trip to this server but the commit's.
async fn write_sequenced(
    tx: &Transaction<'_>,
    changes: &[NewChange],
    last_of_doc: &[usize],
) -> Result<Vec<Seq>> {
    let count = changes.len() as Seq;
    let doc_ids: Vec<Uuid> = changes.iter().map(|c| c.doc_id).collect();
    let bytes: Vec<&[u8]> = changes.iter().map(|c| c.bytes.as_slice()).collect();
    let users: Vec<&str> = changes.iter().map(|c| c.origin.user_id.as_str()).collect();
    let devices: Vec<Option<&str>> = changes
        .iter()
        .map(|c| c.origin.device_id.as_deref())
        .collect();
    let arrivals: Vec<Millis> = changes.iter().map(|c| c.origin.arrived_at).collect();
    let pick = |n: &usize| &changes[*n];
    let p_ids: Vec<Uuid> = last_of_doc.iter().map(|n| pick(n).doc_id).collect();
    let p_kinds = last_of_doc
        .iter()
        .map(|n| enum_text(&pick(n).kind))
        .collect::<Result<Vec<String>>>()?;
    let p_field = |f: fn(&ProjectionFields) -> &Option<String>| -> Vec<Option<&str>> {
        last_of_doc
            .iter()
            .map(|n| f(&pick(n).projection).as_deref())
            .collect()
    };
    let statuses = p_field(|p| &p.status);
    let units = p_field(|p| &p.unit);
    let cells = p_field(|p| &p.grid_cell);
    let projects = p_field(|p| &p.project);
    let segments = p_field(|p| &p.segment);
    let bands = p_field(|p| &p.band);
    let deadlines: Vec<Option<Millis>> = last_of_doc
        .iter()
        .map(|n| pick(n).projection.deadline)
        .collect();
    let jsons: Vec<&serde_json::Value> = last_of_doc
        .iter()
        .map(|n| &pick(n).projection.json)
        .collect();
    // Change n (from 1) gets the counter's value before this batch + n.
    let p_numbers: Vec<Seq> = last_of_doc.iter().map(|n| *n as Seq + 1).collect();
    let before: Seq = tx
        .query_one_prepared(
            &SEQUENCED_WRITE,
            &[
                &count, &doc_ids, &bytes, &users, &devices, &arrivals, &p_ids, &p_kinds, &statuses,
                &units, &cells, &projects, &segments, &deadlines, &bands, &jsons, &p_numbers,
            ],
        )
        .await?
        .try_get(0)?;
    Ok((before + 1..=before + count).collect())
}

/// Stores `changes` in one transaction; a change with a base only if its document is
/// still at that base (row-locked, in id order so two writers cannot deadlock).
pub(super) async fn append_in_one_transaction(
    pool: &deadpool_postgres::Pool,
    changes: &[NewChange],
    bases: &[Option<Seq>],
) -> Result<Vec<Seq>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let mut wanted: Vec<(Uuid, Seq)> = changes
        .iter()
        .zip(bases)
        .filter_map(|(c, base)| base.map(|base| (c.doc_id, base)))
        .collect();
    let versioned = !wanted.is_empty();
    if versioned {
        wanted.sort();
        let ids: Vec<Uuid> = wanted.iter().map(|(id, _)| *id).collect();
        let rows = tx
            .query_prepared(
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
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    // Writers creating one new document at once may deadlock on its key and the
    // counter; the database aborts one, which decides again.
    let decide_again = |id: Uuid, e: StoreError| match e {
        StoreError::Postgres(e) if versioned && is_retryable(&e) => StoreError::Stale(id),
        e => e,
    };
    let decided_absent: Vec<bool> = bases.iter().map(|base| *base == Some(0)).collect();
    // A document changed twice in one transaction keeps the projection and snapshot of
    // its last change.
    let last_of_doc = last_of_each_doc(changes.iter().map(|c| c.doc_id));
    prepare_documents(&tx, changes, &decided_absent)
        .await
        .map_err(|e| decide_again(changes[0].doc_id, e))?;
    write_snapshots(&tx, changes, &last_of_doc)
        .await
        .map_err(|e| decide_again(changes[0].doc_id, e))?;
    let seqs = write_sequenced(&tx, changes, &last_of_doc)
        .await
        .map_err(|e| decide_again(changes[0].doc_id, e))?;
    // The audit lock is the last one taken: after the document rows and the counter.
    for entry in changes.iter().flat_map(|c| &c.audit) {
        insert_audit(&tx, entry).await?;
    }
    tx.commit().await?;
    Ok(seqs)
}

impl PgStore {
    /// Stores `changes` atomically, in a transaction shared with other writers' at the
    /// same moment ([`super::group_commit`]); with `bases`, only if each document is
    /// still at its base.
    async fn append(&self, changes: Vec<NewChange>, bases: Option<Vec<Seq>>) -> Result<Vec<Seq>> {
        let bases = match bases {
            Some(bases) => bases.into_iter().map(Some).collect(),
            None => vec![None; changes.len()],
        };
        self.group_commit.append(&self.pool, changes, bases).await
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
            let client = self.pool.get().await?;
            // Since before the first sequence number: the compaction and every change after.
            load_after(&client, id, -1).await
        })
    }

    fn load_doc_since(&self, id: Uuid, since: Seq) -> StoreFuture<'_, Option<DocSince>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            Ok(load_after(&client, id, since).await?.map(|doc| {
                if doc.compacted_through > since {
                    DocSince::Whole(doc)
                } else {
                    DocSince::Changes {
                        kind: doc.kind,
                        changes: doc.changes,
                        last_seq: doc.last_seq,
                    }
                }
            }))
        })
    }

    fn compact(&self, id: Uuid, saved: Vec<u8>, through: Seq) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let last: Option<Seq> = tx
                .query_opt_prepared(
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
                .execute_prepared(
                    "UPDATE documents SET compacted = $2, compacted_through = $3 \
                     WHERE id = $1 AND compacted_through <= $3",
                    &[&id, &saved, &through],
                )
                .await?;
            if updated == 1 {
                tx.execute_prepared(
                    "UPDATE changes SET bytes = NULL WHERE doc_id = $1 AND seq <= $2",
                    &[&id, &through],
                )
                .await?;
                tx.execute_prepared(
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
            let row = client.query_opt_prepared(&sql, &[&id]).await?;
            row.as_ref().map(projection_from_row).transpose()
        })
    }

    fn changed_since(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Projection>> {
        Box::pin(self.scoped(cursor, scope, limit))
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
                .query_prepared(
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
                .query_prepared(
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
                .query_prepared(
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
                .query_prepared(crate::storage::evidence_arrivals::PG_SELECT, &[&id])
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
                .query_one_prepared("SELECT value FROM seq_counter", &[])
                .await?
                .try_get(0)?)
        })
    }

    fn active_between(&self, starts: Millis, ends: Millis) -> StoreFuture<'_, Vec<Uuid>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query_prepared(&crate::storage::active::pg_query(), &[&starts, &ends])
                .await?;
            rows.iter()
                .map(|row| Ok(row.try_get::<_, Uuid>(0)?))
                .collect()
        })
    }

    fn stored_snapshots(&self, ids: Vec<Uuid>) -> StoreFuture<'_, Vec<(Uuid, Vec<u8>)>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query_prepared(crate::storage::snapshots::PG_SELECT, &[&ids])
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    }

    fn snapshot_gaps(
        &self,
        after: Option<Uuid>,
        scan: usize,
    ) -> StoreFuture<'_, Vec<(Uuid, bool)>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query_prepared(
                    crate::storage::snapshots::PG_GAPS,
                    &[&after.unwrap_or(Uuid::nil()), &to_i64(scan)],
                )
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    }

    fn keep_snapshot_if_current(
        &self,
        id: Uuid,
        seq: Seq,
        bytes: Vec<u8>,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let kept = client
                .execute_prepared(
                    crate::storage::snapshots::PG_KEEP_IF_CURRENT,
                    &[&id, &seq, &bytes],
                )
                .await?;
            Ok(kept == 1)
        })
    }

    fn changed_for_sync(
        &self,
        cursor: Seq,
        scope: Jurisdiction,
        creator: String,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Listed>> {
        Box::pin(async move {
            let Some((sql, args)) =
                scoped_changes("doc_id, seq", cursor, &scope, Some(creator), limit)
            else {
                return Ok(Vec::new());
            };
            let client = self.pool.get().await?;
            // Prepared once per connection and scope shape: every sync runs it.
            let rows = client.query_prepared(&sql, &refs(&args)).await?;
            rows.iter()
                .map(|row| {
                    Ok(Listed {
                        doc_id: row.try_get(0)?,
                        seq: row.try_get(1)?,
                    })
                })
                .collect()
        })
    }

    fn confirm_device_heads(&self, device_id: String, cursor: Seq) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .execute_prepared(
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
                .query_prepared(
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
            // One statement per run of confirmed or pending entries, in order, each run's
            // documents once (the last entry of a document wins, as written one by one).
            let mut rest = entries.as_slice();
            while let Some(first) = rest.first() {
                let pending = first.pending_until.is_some();
                let run = rest
                    .iter()
                    .take_while(|e| e.pending_until.is_some() == pending)
                    .count();
                let (batch, after) = rest.split_at(run);
                rest = after;
                let last_of_doc: Vec<&DeviceHeads> =
                    last_of_each_doc(batch.iter().map(|e| e.doc_id))
                        .into_iter()
                        .map(|n| &batch[n])
                        .collect();
                let docs: Vec<Uuid> = last_of_doc.iter().map(|e| e.doc_id).collect();
                let heads: Vec<Vec<u8>> = last_of_doc.iter().map(|e| e.heads.concat()).collect();
                if pending {
                    // Until confirmed, the server keeps sending from what it knows for sure.
                    let cursors: Vec<Seq> = last_of_doc
                        .iter()
                        .map(|e| e.pending_until.unwrap_or_default())
                        .collect();
                    tx.execute_prepared(
                        "INSERT INTO device_heads (device_id, doc_id, confirmed, pending, \
                         pending_cursor) \
                         SELECT $1::text, doc_id, '\\x', pending, pending_cursor \
                         FROM UNNEST($2::uuid[], $3::bytea[], $4::bigint[]) \
                              AS t(doc_id, pending, pending_cursor) \
                         ON CONFLICT (device_id, doc_id) DO UPDATE \
                         SET pending = excluded.pending, \
                         pending_cursor = excluded.pending_cursor",
                        &[&device_id, &docs, &heads, &cursors],
                    )
                    .await?;
                } else {
                    tx.execute_prepared(
                        "INSERT INTO device_heads (device_id, doc_id, confirmed) \
                         SELECT $1::text, doc_id, confirmed \
                         FROM UNNEST($2::uuid[], $3::bytea[]) AS t(doc_id, confirmed) \
                         ON CONFLICT (device_id, doc_id) DO UPDATE \
                         SET confirmed = excluded.confirmed, pending = NULL, \
                         pending_cursor = NULL",
                        &[&device_id, &docs, &heads],
                    )
                    .await?;
                }
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
        limit: usize,
    ) -> Result<Vec<Projection>> {
        let columns = projection_columns("");
        let Some((sql, args)) = scoped_changes(&columns, cursor, &scope, None, limit) else {
            return Ok(Vec::new());
        };
        let client = self.pool.get().await?;
        let rows = client.query(&sql, &refs(&args)).await?;
        rows.iter().map(projection_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_entry_of_each_document_is_kept_in_order() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(last_of_each_doc([a, b, a, c, b].into_iter()), vec![2, 3, 4]);
        assert_eq!(last_of_each_doc([c].into_iter()), vec![0]);
        assert!(last_of_each_doc(std::iter::empty()).is_empty());
    }
}
