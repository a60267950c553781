//! Patrols: an inspector's grid patrol (巡查) or a river chief's segment patrol (巡河),
//! one document each (`DocKind::Patrol`).
//!
//! The log records the patrol as it happens — started, batches of GPS fixes, checklist
//! answers, cases found on the way, ended — and the server adds its verdict. State is a
//! fold over the log ([`fold`]); what the patrol proves (cells passed, mileage,
//! coverage, validity against a requirement) is derived from that state in [`derive`].
//!
//! Lifecycle rules the fold enforces (an event breaking them stays in the log and is
//! listed in [`PatrolState::ignored`]):
//! - `patrol.started` comes first and once; a grid patrol is started by an inspector and
//!   names its assigned cells, a river patrol by a river chief and names its segment;
//! - every other device event comes from the person who started it, after the start and
//!   before `patrol.ended`; a batch with any invalid fix is ignored whole;
//! - `patrol.paused` opens a pause (a break) and `patrol.resumed` closes it; a pause while
//!   paused, a resume while running and a batch of fixes while paused are ignored; a
//!   pause still open at `patrol.ended` ends there. What a paused span means for the
//!   track (no gap, no duration, no speed across it) is in `geo::track`;
//! - `patrol.verdict` is the server's, after the end, once.

pub mod derive;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::doc::{DocScope, Event, Snapshot};
use crate::error::{Error, Result};
use crate::geo::{grid::validate_cell_code, Fix, LatLon, Paused};
use crate::roles::{decide_in, Decision, Principal, Role, Rule, ScopeCheck};
use crate::time::Millis;

pub use derive::{
    grid_summary, river_report, GridPatrolSummary, PatrolRequirement, RiverPatrolReport,
};

pub const STARTED: &str = "patrol.started";
pub const TRACK_POINTS: &str = "patrol.track_points";
pub const CHECKLIST_ANSWERED: &str = "patrol.checklist_answered";
pub const CASE_FOUND: &str = "patrol.case_found";
pub const PAUSED: &str = "patrol.paused";
pub const RESUMED: &str = "patrol.resumed";
pub const ENDED: &str = "patrol.ended";
pub const VERDICT: &str = "patrol.verdict";

const INSPECTOR: &[Role] = &[Role::Inspector];
const RIVER_CHIEF: &[Role] = &[Role::RiverChief];

/// The permission rows for patrol events. Each device event has two rows: inspectors
/// within their grid cells, river chiefs on their segments. `roles::decide_in` takes
/// the first row for an event, so use [`decide`], which picks the row for the
/// principal's role.
pub const PERMISSIONS: &[Rule] = &[
    Rule {
        event: STARTED,
        roles: INSPECTOR,
        scope: ScopeCheck::GridCell,
    },
    Rule {
        event: STARTED,
        roles: RIVER_CHIEF,
        scope: ScopeCheck::Segment,
    },
    Rule {
        event: TRACK_POINTS,
        roles: INSPECTOR,
        scope: ScopeCheck::GridCell,
    },
    Rule {
        event: TRACK_POINTS,
        roles: RIVER_CHIEF,
        scope: ScopeCheck::Segment,
    },
    Rule {
        event: CHECKLIST_ANSWERED,
        roles: INSPECTOR,
        scope: ScopeCheck::GridCell,
    },
    Rule {
        event: CHECKLIST_ANSWERED,
        roles: RIVER_CHIEF,
        scope: ScopeCheck::Segment,
    },
    Rule {
        event: CASE_FOUND,
        roles: INSPECTOR,
        scope: ScopeCheck::GridCell,
    },
    Rule {
        event: CASE_FOUND,
        roles: RIVER_CHIEF,
        scope: ScopeCheck::Segment,
    },
    Rule {
        event: PAUSED,
        roles: INSPECTOR,
        scope: ScopeCheck::GridCell,
    },
    Rule {
        event: PAUSED,
        roles: RIVER_CHIEF,
        scope: ScopeCheck::Segment,
    },
    Rule {
        event: RESUMED,
        roles: INSPECTOR,
        scope: ScopeCheck::GridCell,
    },
    Rule {
        event: RESUMED,
        roles: RIVER_CHIEF,
        scope: ScopeCheck::Segment,
    },
    Rule {
        event: ENDED,
        roles: INSPECTOR,
        scope: ScopeCheck::GridCell,
    },
    Rule {
        event: ENDED,
        roles: RIVER_CHIEF,
        scope: ScopeCheck::Segment,
    },
    Rule {
        event: VERDICT,
        roles: &[Role::Server],
        scope: ScopeCheck::Anywhere,
    },
];

/// The permission decision for a patrol event.
pub fn decide(principal: &Principal, event: &str, scope: &DocScope) -> Decision {
    decide_in(PERMISSIONS, principal, event, scope)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PatrolKind {
    /// An inspector walking assigned grid cells.
    Grid,
    /// A river chief patrolling a river segment.
    River,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub kind: PatrolKind,
    /// Grid patrols: the inspector's assigned cells, for coverage (巡查覆盖).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assigned_cells: Vec<String>,
    /// River patrols: the segment patrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackPoints {
    pub fixes: Vec<Fix>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ChecklistAnswer {
    pub item: String,
    /// True when the item is fine, false when a problem was seen.
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFound {
    pub case_id: Uuid,
}

/// The server's decision on a patrol, with readable reasons when it does not count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PatrolVerdict {
    pub valid: bool,
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// A patrol event, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum PatrolEvent {
    Started(Started),
    TrackPoints(TrackPoints),
    ChecklistAnswered(ChecklistAnswer),
    CaseFound(CaseFound),
    /// A break: no fixes until resumed, and the paused time is no patrol time.
    Paused,
    Resumed,
    Ended,
    Verdict(PatrolVerdict),
}

impl PatrolEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            PatrolEvent::Started(_) => STARTED,
            PatrolEvent::TrackPoints(_) => TRACK_POINTS,
            PatrolEvent::ChecklistAnswered(_) => CHECKLIST_ANSWERED,
            PatrolEvent::CaseFound(_) => CASE_FOUND,
            PatrolEvent::Paused => PAUSED,
            PatrolEvent::Resumed => RESUMED,
            PatrolEvent::Ended => ENDED,
            PatrolEvent::Verdict(_) => VERDICT,
        }
    }

    pub fn data(&self) -> Result<serde_json::Value> {
        Ok(match self {
            PatrolEvent::Started(d) => serde_json::to_value(d)?,
            PatrolEvent::TrackPoints(d) => serde_json::to_value(d)?,
            PatrolEvent::ChecklistAnswered(d) => serde_json::to_value(d)?,
            PatrolEvent::CaseFound(d) => serde_json::to_value(d)?,
            PatrolEvent::Paused | PatrolEvent::Resumed | PatrolEvent::Ended => {
                serde_json::Value::Null
            }
            PatrolEvent::Verdict(d) => serde_json::to_value(d)?,
        })
    }

    /// A log entry for this event.
    pub fn to_event(&self, id: Uuid, at: Millis, by: &str, role: Role) -> Result<Event> {
        Ok(Event::new(id, self.kind(), at, by, role, self.data()?))
    }

    /// Reads a log entry; a non-patrol type or malformed data is `Error::Invalid`.
    pub fn from_event(event: &Event) -> Result<PatrolEvent> {
        Ok(match event.kind.as_str() {
            STARTED => PatrolEvent::Started(event.data_as()?),
            TRACK_POINTS => PatrolEvent::TrackPoints(event.data_as()?),
            CHECKLIST_ANSWERED => PatrolEvent::ChecklistAnswered(event.data_as()?),
            CASE_FOUND => PatrolEvent::CaseFound(event.data_as()?),
            PAUSED => PatrolEvent::Paused,
            RESUMED => PatrolEvent::Resumed,
            ENDED => PatrolEvent::Ended,
            VERDICT => PatrolEvent::Verdict(event.data_as()?),
            other => {
                return Err(Error::invalid(
                    "patrol event",
                    format!("{other} is not a patrol event type"),
                ))
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PatrolStatus {
    NotStarted,
    InProgress,
    Ended,
}

pub use crate::doc::Ignored;

/// One pause of a patrol, from its `patrol.paused` to its `patrol.resumed` (none while
/// it lasts; the fold closes it at `patrol.ended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatrolPause {
    pub paused_at: Millis,
    pub resumed_at: Option<Millis>,
}

/// The state of a patrol, folded from its log.
#[derive(Debug, Clone, PartialEq)]
pub struct PatrolState {
    pub status: PatrolStatus,
    pub kind: Option<PatrolKind>,
    /// Who started it; only they add to it.
    pub patroller: Option<String>,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub assigned_cells: Vec<String>,
    pub segment: Option<String>,
    /// Every accepted fix, in time order; the same fix sent twice counts once.
    pub fixes: Vec<Fix>,
    /// Pauses in time order; only the last may still be open.
    pub pauses: Vec<PatrolPause>,
    /// Latest answer per checklist item.
    pub checklist: BTreeMap<String, ChecklistAnswer>,
    /// Cases reported on the way, first mention order, no repeats.
    pub cases_found: Vec<Uuid>,
    pub verdict: Option<PatrolVerdict>,
    pub ignored: Vec<Ignored>,
}

impl PatrolState {
    /// The track's positions without the fixes a mock-location app supplied nor those
    /// taken during a pause: mileage, cells passed and coverage count only where the
    /// phone really was while patrolling.
    pub fn real_positions(&self) -> Vec<LatLon> {
        self.real_legs().concat()
    }

    /// [`real_positions`](Self::real_positions) cut at each pause: the way from one leg to
    /// the next was not recorded, so it adds no mileage and covers nothing.
    pub fn real_legs(&self) -> Vec<Vec<LatLon>> {
        let paused = self.paused_spans();
        let mut legs = vec![Vec::new()];
        let mut previous: Option<Millis> = None;
        for fix in self.fixes.iter().filter(|f| !f.mock) {
            if paused.iter().any(|p| p.holds(fix.t)) {
                continue;
            }
            let resumed =
                previous.is_some_and(|t| paused.iter().any(|p| t <= p.from && p.from < fix.t));
            if resumed {
                legs.push(Vec::new());
            }
            if let Some(leg) = legs.last_mut() {
                leg.push(fix.at());
            }
            previous = Some(fix.t);
        }
        legs.retain(|leg| !leg.is_empty());
        legs
    }

    /// The pauses as spans of time; one still open runs on without end.
    pub fn paused_spans(&self) -> Vec<Paused> {
        self.pauses
            .iter()
            .map(|p| Paused {
                from: p.paused_at,
                to: p.resumed_at.unwrap_or(Millis::MAX),
            })
            .collect()
    }

    /// Whether the patrol is paused now (its last pause not resumed).
    pub fn is_paused(&self) -> bool {
        self.pauses.last().is_some_and(|p| p.resumed_at.is_none())
    }

    fn new() -> PatrolState {
        PatrolState {
            status: PatrolStatus::NotStarted,
            kind: None,
            patroller: None,
            started_at: None,
            ended_at: None,
            assigned_cells: Vec::new(),
            segment: None,
            fixes: Vec::new(),
            pauses: Vec::new(),
            checklist: BTreeMap::new(),
            cases_found: Vec::new(),
            verdict: None,
            ignored: Vec::new(),
        }
    }

    /// Applies one event or says why it does not apply here.
    fn apply(&mut self, event: &Event) -> std::result::Result<(), String> {
        let typed = PatrolEvent::from_event(event).map_err(|e| e.to_string())?;
        if let PatrolEvent::Verdict(verdict) = typed {
            if event.role != Role::Server {
                return Err("a verdict is written by the server only".into());
            }
            if self.status != PatrolStatus::Ended {
                return Err("a verdict comes after patrol.ended".into());
            }
            if self.verdict.is_some() {
                return Err("the patrol already has a verdict".into());
            }
            self.verdict = Some(verdict);
            return Ok(());
        }
        if let PatrolEvent::Started(started) = typed {
            if self.status != PatrolStatus::NotStarted {
                return Err("the patrol has already started".into());
            }
            return self.start(event, started);
        }
        match self.status {
            PatrolStatus::NotStarted => return Err("before patrol.started".into()),
            PatrolStatus::Ended => return Err("after patrol.ended".into()),
            PatrolStatus::InProgress => {}
        }
        if self.patroller.as_deref() != Some(event.by.as_str()) {
            return Err(format!(
                "only {} records this patrol",
                self.patroller.as_deref().unwrap_or("its patroller")
            ));
        }
        match typed {
            PatrolEvent::TrackPoints(_) if self.is_paused() => {
                return Err("the patrol is paused: no fixes until it resumes".into());
            }
            PatrolEvent::TrackPoints(batch) => {
                for fix in &batch.fixes {
                    fix.validate()
                        .map_err(|e| format!("fix at {}: {e}", fix.t))?;
                }
                self.fixes.extend(batch.fixes);
                // A total order, so a re-sent batch lands next to its first copy and the
                // dedup catches it even when two fixes share a timestamp.
                self.fixes.sort_by(|a, b| {
                    a.t.cmp(&b.t)
                        .then(a.lat.total_cmp(&b.lat))
                        .then(a.lon.total_cmp(&b.lon))
                        .then(a.accuracy_m.total_cmp(&b.accuracy_m))
                        .then(a.mock.cmp(&b.mock))
                });
                self.fixes.dedup();
            }
            PatrolEvent::ChecklistAnswered(answer) => {
                self.checklist.insert(answer.item.clone(), answer);
            }
            PatrolEvent::CaseFound(found) => {
                if !self.cases_found.contains(&found.case_id) {
                    self.cases_found.push(found.case_id);
                }
            }
            PatrolEvent::Paused => {
                if self.is_paused() {
                    return Err("the patrol is paused already".into());
                }
                self.pauses.push(PatrolPause {
                    paused_at: event.at,
                    resumed_at: None,
                });
            }
            PatrolEvent::Resumed => match self.pauses.last_mut() {
                Some(pause) if pause.resumed_at.is_none() => pause.resumed_at = Some(event.at),
                _ => return Err("the patrol is not paused".into()),
            },
            PatrolEvent::Ended => {
                self.status = PatrolStatus::Ended;
                self.ended_at = Some(event.at);
                // A pause nobody resumed ends with the patrol.
                if let Some(pause) = self.pauses.last_mut() {
                    if pause.resumed_at.is_none() {
                        pause.resumed_at = Some(event.at);
                    }
                }
            }
            PatrolEvent::Started(_) | PatrolEvent::Verdict(_) => {}
        }
        Ok(())
    }

    fn start(&mut self, event: &Event, started: Started) -> std::result::Result<(), String> {
        match started.kind {
            PatrolKind::Grid => {
                if event.role != Role::Inspector {
                    return Err("a grid patrol is started by an inspector".into());
                }
                if started.assigned_cells.is_empty() {
                    return Err("a grid patrol names its assigned cells".into());
                }
                for cell in &started.assigned_cells {
                    validate_cell_code(cell).map_err(|e| e.to_string())?;
                }
            }
            PatrolKind::River => {
                if event.role != Role::RiverChief {
                    return Err("a river patrol is started by a river chief".into());
                }
                if started.segment.as_deref().is_none_or(str::is_empty) {
                    return Err("a river patrol names its segment".into());
                }
            }
        }
        self.status = PatrolStatus::InProgress;
        self.kind = Some(started.kind);
        self.patroller = Some(event.by.clone());
        self.started_at = Some(event.at);
        let mut cells = started.assigned_cells;
        cells.sort();
        cells.dedup();
        self.assigned_cells = cells;
        self.segment = started.segment;
        Ok(())
    }
}

/// The state of a patrol document.
pub fn fold(snapshot: &Snapshot) -> PatrolState {
    fold_events(&snapshot.events)
}

/// The fold itself, over events already sorted by `Event::fold_key` (as
/// `Doc::events` returns them).
pub fn fold_events(events: &[Event]) -> PatrolState {
    let mut state = PatrolState::new();
    for event in events {
        if let Err(reason) = state.apply(event) {
            state.ignored.push(Ignored {
                event: event.id,
                kind: event.kind.clone(),
                reason,
            });
        }
    }
    state
}
