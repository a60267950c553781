//! The documents a month's evaluation must read: those whose active window (from their
//! first event to their last event or due time, open-ended while open; see
//! `fieldloop_core::evaluation::ActiveWindow`) meets the month. The window's ends live in
//! the projection's JSON (`active_from`, `active_until`) and an expression index on
//! `active_until` finds them, so a month costs what is active in it, not what a city ever
//! stored. Rows written before the window existed have no `active_until` and are always
//! read: never wrong, only slower until the document changes again.

/// The document kinds the evaluation reads.
pub const EVALUATED_KINDS: &str = "('case', 'patrol', 'notice')";

/// SQLite migration 11: the index the query runs on.
pub(super) const SQLITE_INDEX: &str = r#"
CREATE INDEX projections_active ON projections(json_extract(json, '$.active_until'))
    WHERE kind IN ('case', 'patrol', 'notice');
"#;

/// PostgreSQL migration 7: the same index.
pub(super) const PG_INDEX: &str = "
CREATE INDEX projections_active ON projections(((json->>'active_until')::bigint))
    WHERE kind IN ('case', 'patrol', 'notice');
";

/// The SQLite query (`?1` the month's start, `?2` its end), also for the plan test. The
/// index is named: on a small table the planner would rather read the kind index, which
/// at a city's size means every case ever stored.
pub fn sqlite_query() -> String {
    let part = |until: &str| {
        format!(
            "SELECT doc_id FROM projections INDEXED BY projections_active \
             WHERE kind IN {EVALUATED_KINDS} AND json_extract(json, '$.active_until') {until} \
             AND coalesce(json_extract(json, '$.active_from'), 0) < ?2"
        )
    };
    format!("{} UNION ALL {}", part("IS NULL"), part(">= ?1"))
}

/// The PostgreSQL query (`$1` the month's start, `$2` its end).
pub fn pg_query() -> String {
    let part = |until: &str| {
        format!(
            "SELECT doc_id FROM projections \
             WHERE kind IN {EVALUATED_KINDS} AND (json->>'active_until')::bigint {until} \
             AND coalesce((json->>'active_from')::bigint, 0) < $2"
        )
    };
    format!("{} UNION ALL {}", part("IS NULL"), part(">= $1"))
}
