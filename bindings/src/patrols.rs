//! Patrols: start, fixes from the app's location service, pause, resume, end, and the
//! live figures (distance, duration, cells passed, segment coverage) from the core's
//! patrol fold; a river chief's plan for the period and what is done and left.

use fieldloop_core::doc::{DocKind, DocScope};
use fieldloop_core::geo::{distance_m, paused_within, Fix};
use fieldloop_core::patrol::{
    self, grid_summary, river_report, PatrolKind, PatrolRequirement, PatrolStatus, PatrolVerdict,
    RiverPatrolReport, Started, TrackPoints,
};
use fieldloop_core::plan::{fold_plan, PeriodKind};
use fieldloop_core::Error;

use crate::error::{FieldError, Result};
use crate::phone::{parse_id, FieldPhone};

/// What the patrol screen shows while recording and after.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PatrolLive {
    pub id: String,
    pub kind: Option<PatrolKind>,
    pub status: PatrolStatus,
    pub paused: bool,
    pub segment: Option<String>,
    pub fixes: u32,
    /// Fixes the OS flagged as coming from a mock-location app (they do not count).
    pub mock_fixes: u32,
    /// From the first to the last fix.
    pub duration_ms: i64,
    /// Track length without mock fixes.
    pub length_m: f64,
    /// Grid cells the track passed through (needs the city's grid on the phone).
    pub cells_passed: Vec<String>,
    /// River patrols: the share of the segment within the buffer of the track, and the
    /// local reading of whether it will count (the server's verdict decides).
    pub river: Option<RiverPatrolReport>,
    /// The server's verdict, once it judged the ended patrol.
    pub verdict: Option<PatrolVerdict>,
}

/// One window of a river chief's plan (a month, 旬 or week, per segment).
#[derive(Debug, Clone, uniffi::Record)]
pub struct PlanWindow {
    pub segment: String,
    pub period: PeriodKind,
    /// China local dates, `YYYY-MM-DD`.
    pub first_day: String,
    pub last_day: String,
    pub required: u32,
    pub done: u32,
    pub left: u32,
}

/// A pushed patrol plan and its progress.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PlanProgress {
    pub plan_id: String,
    pub windows: Vec<PlanWindow>,
    pub required: u32,
    pub done: u32,
}

impl FieldPhone {
    fn patrol_state(&self, id: &str) -> Result<patrol::PatrolState> {
        let snapshot = self.load_doc(id)?.snapshot()?;
        if snapshot.header.kind != DocKind::Patrol {
            return Err(FieldError::InvalidInput {
                field: "patrol_id".into(),
                reason: format!("{id} 不是巡查记录"),
            });
        }
        Ok(patrol::fold(&snapshot))
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(value).map_err(Error::from)?)
}

#[uniffi::export]
impl FieldPhone {
    /// Starts a patrol: a river chief's on `segment`, or an inspector's grid patrol over
    /// `assigned_cells`. Answers the patrol id.
    pub fn start_patrol(
        &self,
        kind: PatrolKind,
        segment: Option<String>,
        assigned_cells: Vec<String>,
    ) -> Result<String> {
        if kind == PatrolKind::River && segment.is_none() {
            return Err(FieldError::InvalidInput {
                field: "segment".into(),
                reason: "河道巡查需要选择河段".into(),
            });
        }
        let scope = DocScope {
            segment: segment.clone(),
            ..DocScope::default()
        };
        let data = json(&Started {
            kind,
            assigned_cells,
            segment,
        })?;
        let id = self.create_doc(DocKind::Patrol, None, scope)?;
        self.doc_step(id, patrol::STARTED, data, Vec::new())?;
        Ok(id.to_string())
    }

    /// Records fixes from the location service (a batch per call). Refused while the
    /// patrol is paused; a fix with a bad coordinate refuses the whole batch.
    pub fn add_fixes(&self, patrol_id: String, fixes: Vec<Fix>) -> Result<()> {
        let id = parse_id(&patrol_id)?;
        if self.patrol_state(&patrol_id)?.is_paused() {
            return Err(FieldError::InvalidInput {
                field: "patrol_id".into(),
                reason: "巡查已暂停, 继续后才能记录轨迹".into(),
            });
        }
        for fix in &fixes {
            fix.validate()?;
        }
        if fixes.is_empty() {
            return Ok(());
        }
        self.doc_step(
            id,
            patrol::TRACK_POINTS,
            json(&TrackPoints { fixes })?,
            Vec::new(),
        )
    }

    /// Stops taking fixes until `resume_patrol` (a break): a `patrol.paused` event of the
    /// patrol, so it is still paused after the app was killed, the server sees it, and
    /// the pause counts neither in the duration nor as a gap in the track. Pausing a
    /// paused patrol does nothing.
    pub fn pause_patrol(&self, patrol_id: String) -> Result<()> {
        let id = parse_id(&patrol_id)?;
        let state = self.patrol_state(&patrol_id)?;
        if state.status == PatrolStatus::Ended {
            return Err(FieldError::InvalidInput {
                field: "patrol_id".into(),
                reason: "巡查已结束, 不能暂停".into(),
            });
        }
        if state.is_paused() {
            return Ok(());
        }
        self.doc_step(id, patrol::PAUSED, serde_json::Value::Null, Vec::new())
    }

    /// Takes fixes again after `pause_patrol`; resuming a patrol that is not paused does
    /// nothing.
    pub fn resume_patrol(&self, patrol_id: String) -> Result<()> {
        let id = parse_id(&patrol_id)?;
        if !self.patrol_state(&patrol_id)?.is_paused() {
            return Ok(());
        }
        self.doc_step(id, patrol::RESUMED, serde_json::Value::Null, Vec::new())
    }

    /// Ends the patrol (a running pause ends with it, by the fold); the server judges it
    /// on the next sync.
    pub fn end_patrol(&self, patrol_id: String) -> Result<()> {
        let id = parse_id(&patrol_id)?;
        self.doc_step(id, patrol::ENDED, serde_json::Value::Null, Vec::new())
    }

    /// Live figures of a patrol, from the fold of what is stored, its pauses left out of
    /// the duration and the length, and the local validity reading.
    pub fn patrol_live(&self, patrol_id: String) -> Result<PatrolLive> {
        let state = self.patrol_state(&patrol_id)?;
        let reference = self.reference()?;
        let summary = reference.grid.as_ref().map(|g| grid_summary(&state, g));
        let river = match &state.segment {
            Some(segment) => match reference.segment_line(segment) {
                Some(line) if state.fixes.len() >= 2 => {
                    Some(river_report(&state, line, &PatrolRequirement::default())?)
                }
                _ => None,
            },
            None => None,
        };
        let duration_ms = match (state.fixes.first(), state.fixes.last()) {
            (Some(a), Some(b)) => (b.t - a.t) - paused_within(&state.paused_spans(), a.t, b.t),
            _ => 0,
        };
        let length_m = summary.as_ref().map_or_else(
            || {
                state
                    .real_legs()
                    .iter()
                    .flat_map(|leg| leg.windows(2))
                    .map(|w| distance_m(w[0], w[1]))
                    .sum()
            },
            |s| s.mileage_m,
        );
        Ok(PatrolLive {
            id: patrol_id,
            kind: state.kind,
            status: state.status,
            paused: state.is_paused(),
            segment: state.segment.clone(),
            fixes: state.fixes.len() as u32,
            mock_fixes: state.fixes.iter().filter(|f| f.mock).count() as u32,
            duration_ms,
            length_m,
            cells_passed: summary.map(|s| s.cells_passed).unwrap_or_default(),
            river,
            verdict: state.verdict.clone(),
        })
    }

    /// The patrol plans the server pushed to this river chief, with what is done and left.
    pub fn plan_progress(&self) -> Result<Vec<PlanProgress>> {
        let listed = self.read(|r| Ok(r.list_open_tasks(usize::MAX)?))?;
        let mut plans = Vec::new();
        for doc in listed.iter().filter(|d| d.kind == DocKind::PatrolPlan) {
            let snapshot = self.read(|r| Ok(r.load_doc(doc.id)?))?.snapshot()?;
            let state = fold_plan(&snapshot)?;
            let windows: Vec<PlanWindow> = state
                .progress
                .iter()
                .map(|w| {
                    let done = w.patrols.len() as u32;
                    PlanWindow {
                        segment: w.segment.clone(),
                        period: w.kind,
                        first_day: w.first_day.to_string(),
                        last_day: w.last_day.to_string(),
                        required: w.required,
                        done,
                        left: w.required.saturating_sub(done),
                    }
                })
                .collect();
            plans.push(PlanProgress {
                plan_id: doc.id.to_string(),
                required: windows.iter().map(|w| w.required).sum(),
                done: windows.iter().map(|w| w.done.min(w.required)).sum(),
                windows,
            });
        }
        Ok(plans)
    }
}
