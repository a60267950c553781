//! The monthly evaluation as people read it: kept up to date incrementally and cut to the
//! reader's jurisdiction.
//!
//! **Only what is active in the month.** A month's evaluation reads the cases, patrols
//! and notices whose active window meets it (`storage::active`, through an index), not
//! every document a city ever stored; the snapshots read are kept for the months cached,
//! up to [`MAX_CACHED_DOCS`].
//!
//! **Incremental.** On each request the server looks at the documents changed since the
//! change sequence it last saw (an index range on the sequence, not a scan). A month's
//! figures are kept and recomputed only when a change could alter them: for a document
//! already read, an event stamped before the month's end arrived (a closed past month
//! stays frozen as long as nothing backdated into it arrives); for one not read, its new
//! active window meets the month; for the running month, the minute moved on (its cut-off
//! is "now"). New reference data clears everything.
//!
//! **Jurisdiction.** A city-wide reader (admin, or a dispatcher whose jurisdiction is
//! everywhere) sees the whole city. A dispatcher's evaluation is computed over their own
//! area: the cases of their grid (so a unit's figures are its work there), a row for each
//! unit named in their jurisdiction or given work in it by the responsibility matrix (a
//! rule whose area overlaps one of their grid prefixes), the inspectors whose own grid
//! lies inside theirs, and the notices of the projects in their jurisdiction. Each
//! jurisdiction's months are cached on their own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use fieldloop_core::doc::{actor_for, DocKind, Snapshot};
use fieldloop_core::evaluation::{
    evaluate, evaluate_contractors, ActiveWindow, Evaluation, EvaluationInput, Period,
    DEFAULT_VERIFICATION_LIMIT,
};
use fieldloop_core::geo::GridIndex;
use fieldloop_core::patrol;
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::time::{Millis, MINUTE};
use futures_util::StreamExt;
use uuid::Uuid;

use crate::error::{Result, ServerError};
use crate::state::AppState;
use crate::storage::Seq;

/// Changed documents read per page while catching up.
const PAGE: usize = 5_000;
/// Snapshots kept at most; past this the cache starts over (a province's year of months).
pub const MAX_CACHED_DOCS: usize = 200_000;
/// Documents whose window ended up to this long before a month are read for it too: a
/// due time moves when new reference data (another calendar) arrives after the window
/// was stored.
const WINDOW_SLACK: Millis = 31 * fieldloop_core::time::DAY;
/// Documents loaded at once while filling a month.
const LOADS_AT_ONCE: usize = 4;
/// Kept snapshots read per query while filling a month.
const KEPT_BATCH: usize = 500;
/// Batches of kept snapshots read and decoded at once.
const KEPT_BATCHES_AT_ONCE: usize = 2;

#[derive(Default)]
pub struct EvaluationCache {
    inner: tokio::sync::Mutex<Inner>,
    counters: Mutex<CacheCounters>,
    /// Ignores kept snapshots: the peer a benchmark measures them against.
    whole_documents_only: bool,
}

/// What the cache did, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Documents loaded whole from storage (no kept snapshot).
    pub docs_loaded: u64,
    /// Kept snapshots read instead of loading their documents.
    pub snapshots_read: u64,
    /// Months computed.
    pub computed: u64,
    /// Months answered from the cache.
    pub hits: u64,
}

#[derive(Default)]
struct Inner {
    /// The change sequence caught up to; none before the first request.
    seen: Option<Seq>,
    reference_version: Option<u64>,
    docs: HashMap<Uuid, Snapshot>,
    months: HashMap<String, Month>,
}

struct Month {
    /// For the running month, the minute it was computed at; none for a closed month.
    minute: Option<Millis>,
    evaluation: Evaluation,
}

impl EvaluationCache {
    /// A cache that loads every document whole, as before snapshots were kept: for
    /// benchmarks comparing the two in one run.
    pub fn loading_whole_documents() -> EvaluationCache {
        EvaluationCache {
            whole_documents_only: true,
            ..EvaluationCache::default()
        }
    }

    pub fn counters(&self) -> CacheCounters {
        *self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut CacheCounters)) {
        f(&mut self.counters.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Who an evaluation is for: the whole city, or a dispatcher's grid (and units, projects).
fn scope_key(who: &Principal) -> Option<String> {
    let j = &who.jurisdiction;
    if who.role == Role::Admin || j.everywhere {
        return None;
    }
    let mut parts = vec![
        j.grid_prefixes.join(","),
        j.units.join(","),
        j.projects.join(","),
    ];
    parts.retain(|p| !p.is_empty());
    Some(parts.join("|"))
}

/// The evaluation of `period` ("YYYY-MM") as `who` may see it (module docs), with the
/// contractors' notices; a malformed period is a 400 `bad_period`.
pub async fn evaluation(state: &AppState, who: &Principal, period: &str) -> Result<Evaluation> {
    let parsed =
        Period::parse(period).map_err(|e| ServerError::bad_request("bad_period", e.to_string()))?;
    let scope = scope_key(who);
    let key = format!("{period}#{}", scope.as_deref().unwrap_or("*"));
    let cache = &state.evaluation_cache;
    let mut inner = cache.inner.lock().await;
    let reference = state.reference.current();
    if inner.reference_version != Some(reference.version) {
        inner.months.clear();
        inner.reference_version = Some(reference.version);
    }
    catch_up(state, &mut inner).await?;
    let now = state.clock.now();
    let minute = (parsed.ends > now).then_some(now - now.rem_euclid(MINUTE));
    if let Some(month) = inner.months.get(&key) {
        if month.minute == minute {
            cache.count(|c| c.hits += 1);
            return Ok(month.evaluation.clone());
        }
    }
    let j = &who.jurisdiction;
    let in_grid = |cell: Option<&str>| {
        scope.is_none()
            || cell.is_some_and(|cell| j.grid_prefixes.iter().any(|p| cell.starts_with(p.as_str())))
    };
    let mut cases = Vec::new();
    let mut patrols = Vec::new();
    let mut notices = Vec::new();
    let mut people: BTreeMap<String, bool> = BTreeMap::new();
    let active = state
        .docs
        .active_between(parsed.starts - WINDOW_SLACK, parsed.ends)
        .await?;
    load_missing(state, &mut inner, &active).await?;
    for snapshot in active.iter().filter_map(|id| inner.docs.get(id)) {
        // Nothing created after the cut-off counts.
        if snapshot.header.created_at >= parsed.ends {
            continue;
        }
        let header = &snapshot.header;
        match header.kind {
            DocKind::Case if in_grid(header.scope.grid_cell.as_deref()) => {
                cases.push(snapshot.clone())
            }
            DocKind::Patrol => {
                let inside = match people.get(&header.created_by) {
                    Some(inside) => *inside,
                    None => {
                        let inside = scope.is_none()
                            || inspector_inside(state, j, &header.created_by).await?;
                        people.insert(header.created_by.clone(), inside);
                        inside
                    }
                };
                if inside {
                    patrols.push(patrol::fold(snapshot));
                }
            }
            DocKind::Notice
                if scope.is_none()
                    || header
                        .scope
                        .project
                        .as_ref()
                        .is_some_and(|p| j.projects.contains(p)) =>
            {
                notices.push(snapshot.clone())
            }
            _ => {}
        }
    }
    let units = match scope {
        None => reference.units.clone(),
        Some(_) => units_serving(&reference.matrix, j),
    };
    let label = period.to_owned();
    let computing = reference.clone();
    let mut evaluation = tokio::task::spawn_blocking(move || {
        let reference = computing;
        let no_grid;
        let grid = match &reference.grid {
            Some(grid) => grid,
            None => {
                no_grid = GridIndex::new(Vec::new())?;
                &no_grid
            }
        };
        let mut evaluation = evaluate(&EvaluationInput {
            period: &label,
            cases: &cases,
            patrols: &patrols,
            grid,
            catalogue: &reference.catalogue,
            calendar: &reference.calendar,
            units: &units,
            verification_limit: DEFAULT_VERIFICATION_LIMIT,
            now,
        })?;
        let (contractors, skipped) = evaluate_contractors(&label, &notices, now)?;
        evaluation.contractors = contractors;
        evaluation.skipped.extend(skipped);
        Ok::<_, fieldloop_core::Error>(evaluation)
    })
    .await
    .map_err(|e| ServerError::Internal(format!("evaluation: {e}")))??;
    if scope.is_some() {
        // An inspector from elsewhere who verified a case here is not this reader's.
        let mut kept = Vec::new();
        for row in evaluation.inspectors {
            let inside = match people.get(&row.inspector) {
                Some(inside) => *inside,
                None => inspector_inside(state, j, &row.inspector).await?,
            };
            if inside {
                kept.push(row);
            }
        }
        evaluation.inspectors = kept;
    }
    cache.count(|c| c.computed += 1);
    if inner.docs.len() > MAX_CACHED_DOCS {
        // Start over: a cached month must hold every document it read (see `catch_up`).
        inner.docs.clear();
        inner.months.clear();
        return Ok(evaluation);
    }
    // The lock is held throughout, so no change slipped in between catch-up and here.
    inner.months.insert(
        key,
        Month {
            minute,
            evaluation: evaluation.clone(),
        },
    );
    Ok(evaluation)
}

/// Units named in the jurisdiction or given work in it by the matrix (a rule whose area
/// overlaps one of its grid prefixes).
fn units_serving(
    matrix: &fieldloop_core::schedule::ResponsibilityMatrix,
    j: &Jurisdiction,
) -> Vec<String> {
    let overlaps = |area: &str| {
        j.grid_prefixes
            .iter()
            .any(|p| area.starts_with(p.as_str()) || p.starts_with(area))
    };
    let mut units: Vec<String> = matrix
        .rules
        .iter()
        .filter(|r| overlaps(&r.area))
        .map(|r| r.unit.clone())
        .chain(j.units.iter().cloned())
        .collect();
    units.sort();
    units.dedup();
    units
}

/// Whether the person's own grid lies inside the reader's.
async fn inspector_inside(state: &AppState, j: &Jurisdiction, user_id: &str) -> Result<bool> {
    Ok(match state.users.user_by_id(user_id).await? {
        Some(user) => {
            !user.jurisdiction.grid_prefixes.is_empty()
                && user
                    .jurisdiction
                    .grid_prefixes
                    .iter()
                    .all(|own| j.grid_prefixes.iter().any(|p| own.starts_with(p.as_str())))
        }
        None => false,
    })
}

/// Reads the snapshots of `ids` not held yet: the kept ones a batch at a time (decoded
/// off the async workers), the rest by loading the document, a few at a time.
async fn load_missing(state: &AppState, inner: &mut Inner, ids: &[Uuid]) -> Result<()> {
    let missing: Vec<Uuid> = ids
        .iter()
        .filter(|id| !inner.docs.contains_key(id))
        .copied()
        .collect();
    let (kept_wanted, mut unkept) = if state.evaluation_cache.whole_documents_only {
        (Vec::new(), missing)
    } else {
        (missing, Vec::new())
    };
    // Two batches in flight: one decodes on a blocking thread while the next is read and
    // decoded on another, so both cores work.
    let batches: Vec<Vec<Uuid>> = kept_wanted
        .chunks(KEPT_BATCH)
        .map(<[Uuid]>::to_vec)
        .collect();
    let mut batches = futures_util::stream::iter(batches)
        .map(|batch| async move {
            let decoded = read_kept(state, &batch).await;
            (batch, decoded)
        })
        .buffered(KEPT_BATCHES_AT_ONCE);
    while let Some((batch, decoded)) = batches.next().await {
        let before = inner.docs.len();
        for (id, snapshot) in decoded? {
            match snapshot {
                Ok(snapshot) => {
                    inner.docs.insert(id, snapshot);
                }
                // Unreadable: the document itself is the truth.
                Err(e) => tracing::warn!(%id, error = %e, "kept snapshot unreadable"),
            }
        }
        state
            .evaluation_cache
            .count(|c| c.snapshots_read += (inner.docs.len() - before) as u64);
        unkept.extend(batch.iter().filter(|id| !inner.docs.contains_key(id)));
    }
    let mut loads = futures_util::stream::iter(unkept)
        .map(|id| load_snapshot(state, id))
        .buffer_unordered(LOADS_AT_ONCE);
    while let Some(loaded) = loads.next().await {
        if let Some((id, snapshot)) = loaded? {
            inner.docs.insert(id, snapshot);
        }
    }
    Ok(())
}

type Decoded = Vec<(Uuid, crate::storage::StoreResult<Snapshot>)>;

/// The kept snapshots of `batch` (those that have one), decoded off the async workers.
async fn read_kept(state: &AppState, batch: &[Uuid]) -> Result<Decoded> {
    let kept = state.docs.stored_snapshots(batch.to_vec()).await?;
    tokio::task::spawn_blocking(move || {
        kept.into_iter()
            .map(|(id, bytes)| (id, crate::storage::snapshots::decode(&bytes)))
            .collect()
    })
    .await
    .map_err(|e| ServerError::Internal(format!("evaluation: {e}")))
}

async fn load_snapshot(state: &AppState, id: Uuid) -> Result<Option<(Uuid, Snapshot)>> {
    let Some(stored) = state.docs.load_doc(id).await? else {
        return Ok(None);
    };
    state.evaluation_cache.count(|c| c.docs_loaded += 1);
    // Loading and folding a document is CPU work: off the async workers.
    let snapshot =
        tokio::task::spawn_blocking(move || stored.load(&actor_for(&Uuid::nil()))?.snapshot())
            .await
            .map_err(|e| ServerError::Internal(format!("evaluation: {e}")))??;
    Ok(Some((id, snapshot)))
}

/// The active window a projection stores; a row from before windows is always active.
fn stored_window(projection: &crate::storage::Projection) -> ActiveWindow {
    let json = &projection.fields.json;
    ActiveWindow {
        from: json["active_from"].as_i64().unwrap_or(Millis::MIN),
        until: json["active_until"].as_i64(),
    }
}

/// Looks at the documents changed since the last request and forgets the months their
/// changes could alter: for a document held, months ending after its first new event; for
/// one not held (so not read by any cached month), months its new window meets.
async fn catch_up(state: &AppState, inner: &mut Inner) -> Result<()> {
    let Some(mut seen) = inner.seen else {
        // Nothing is cached yet, so only later changes can make a difference.
        inner.seen = Some(state.docs.head_seq().await?);
        return Ok(());
    };
    let everywhere = Jurisdiction {
        everywhere: true,
        ..Jurisdiction::default()
    };
    let mut earliest: Option<Millis> = None;
    let mut windows: Vec<ActiveWindow> = Vec::new();
    loop {
        let page = state
            .docs
            .changed_since(seen, everywhere.clone(), PAGE)
            .await?;
        let Some(last) = page.last().map(|p| p.seq) else {
            break;
        };
        for projection in &page {
            if !matches!(
                projection.kind,
                DocKind::Case | DocKind::Patrol | DocKind::Notice
            ) {
                continue;
            }
            let Some(old) = inner.docs.get(&projection.doc_id) else {
                windows.push(stored_window(projection));
                continue;
            };
            let Some((id, snapshot)) = load_snapshot(state, projection.doc_id).await? else {
                continue;
            };
            let first_new = snapshot
                .events
                .iter()
                .filter(|e| !old.events.iter().any(|o| o.id == e.id))
                .map(|e| e.at)
                .min();
            if let Some(at) = first_new {
                earliest = Some(earliest.map_or(at, |e: Millis| e.min(at)));
            }
            inner.docs.insert(id, snapshot);
        }
        seen = last;
        if page.len() < PAGE {
            break;
        }
    }
    inner.seen = Some(seen);
    inner.months.retain(|key, _| {
        let period = key.split('#').next().unwrap_or_default();
        let Ok(p) = Period::parse(period) else {
            return false;
        };
        // An event counts in every month that ends after it.
        earliest.is_none_or(|at| p.ends <= at)
            && !windows
                .iter()
                .any(|w| w.meets(p.starts - WINDOW_SLACK, p.ends))
    });
    Ok(())
}
