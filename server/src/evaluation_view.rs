//! The monthly evaluation as people read it: kept up to date incrementally and cut to the
//! reader's jurisdiction.
//!
//! **Incremental.** The server keeps the snapshots of every case, patrol and notice in
//! memory and, on each request, reloads only the documents changed since the change
//! sequence it last saw (an index range on the sequence, not a scan). A month's figures
//! are kept too and recomputed only when a change could alter them: an event stamped
//! before the month's end arrived (a closed past month stays frozen as long as nothing
//! backdated into it arrives), or, for the running month, the minute moved on (its
//! cut-off is "now"). New reference data clears everything.
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
    evaluate, evaluate_contractors, Evaluation, EvaluationInput, Period, DEFAULT_VERIFICATION_LIMIT,
};
use fieldloop_core::geo::GridIndex;
use fieldloop_core::patrol;
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::time::{Millis, MINUTE};
use uuid::Uuid;

use crate::error::{Result, ServerError};
use crate::state::AppState;
use crate::storage::Seq;

/// Changed documents read per page while catching up.
const PAGE: usize = 5_000;

#[derive(Default)]
pub struct EvaluationCache {
    inner: tokio::sync::Mutex<Inner>,
    counters: Mutex<CacheCounters>,
}

/// What the cache did, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Documents loaded from storage.
    pub docs_loaded: u64,
    /// Months computed.
    pub computed: u64,
    /// Months answered from the cache.
    pub hits: u64,
}

#[derive(Default)]
struct Inner {
    seen: Seq,
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
    for snapshot in inner.docs.values() {
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

/// Reloads the documents changed since the last request and forgets the months their new
/// events could change.
async fn catch_up(state: &AppState, inner: &mut Inner) -> Result<()> {
    let everywhere = Jurisdiction {
        everywhere: true,
        ..Jurisdiction::default()
    };
    let actor = actor_for(&Uuid::nil());
    let mut earliest: Option<Millis> = None;
    loop {
        let page = state
            .docs
            .changed_since(inner.seen, everywhere.clone(), PAGE)
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
            let Some(stored) = state.docs.load_doc(projection.doc_id).await? else {
                continue;
            };
            state.evaluation_cache.count(|c| c.docs_loaded += 1);
            let snapshot = stored.load(&actor)?.snapshot()?;
            let old = inner.docs.get(&projection.doc_id);
            let first_new = snapshot
                .events
                .iter()
                .filter(|e| old.is_none_or(|old| !old.events.iter().any(|o| o.id == e.id)))
                .map(|e| e.at)
                .min();
            if let Some(at) = first_new {
                earliest = Some(earliest.map_or(at, |e: Millis| e.min(at)));
            }
            inner.docs.insert(projection.doc_id, snapshot);
        }
        inner.seen = last;
        if page.len() < PAGE {
            break;
        }
    }
    // An event counts in every month that ends after it.
    if let Some(at) = earliest {
        inner.months.retain(|key, _| {
            let period = key.split('#').next().unwrap_or_default();
            Period::parse(period).is_ok_and(|p| p.ends <= at)
        });
    }
    Ok(())
}
