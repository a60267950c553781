//! The reference service: the city's own reference data (grid cells, units, matrix,
//! categories, rivers and chiefs, projects, clauses, calendar, verification thresholds),
//! imported by admins,
//! validated whole, versioned in the [`ReferenceStore`], judged against by the referee
//! ([`Reference`]) and sent to phones that lack the newest version.
//!
//! - [`formats`]: the import files (GeoJSON, CSV, JSON) to canonical JSON, with numbered
//!   problems.
//! - [`routes`]: `GET /v1/reference` and `PUT /v1/reference/{kind}`.
//!
//! Service functions take a [`Principal`], never the HTTP `Auth`: the handlers check the
//! role, so the command line (`fieldloop-server import`) calls the same functions.

pub mod formats;
pub mod routes;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use fieldloop_core::catalogue::Catalogue;
use fieldloop_core::geo::{GridIndex, LatLon, PlausibilityLimits};
use fieldloop_core::patrol::PatrolRequirement;
use fieldloop_core::plan::{FrequencyTable, Segment};
use fieldloop_core::reference::{CityReference, KindData, ReferenceKind};
use fieldloop_core::roles::{Principal, Role};
use fieldloop_core::schedule::{ChiefAssignment, DeadlinePolicy, ResponsibilityMatrix};
use fieldloop_core::sla::Calendar;
use fieldloop_core::sync::wire::ReferenceUpdate;
use fieldloop_core::verify::VerifyPolicy;

use crate::error::{Result, ServerError};
use crate::state::AppState;
use crate::storage::reference::StoredReference;
use crate::storage::AuditEntry;

pub use formats::{Place, Problem};

/// Reference data the referee judges against: the city's imported kinds over the bundled
/// defaults, at one reference version.
pub struct Reference {
    /// The reference version this was built from (0: nothing imported).
    pub version: u64,
    pub catalogue: Catalogue,
    pub calendar: Calendar,
    pub matrix: ResponsibilityMatrix,
    /// The grid cells, when the deployment has loaded them (inspector coverage needs them).
    pub grid: Option<GridIndex>,
    /// River segments' polylines, by segment id.
    pub segments: BTreeMap<String, Vec<LatLon>>,
    /// Units that get an evaluation row even without a case.
    pub units: Vec<String>,
    pub patrol_requirement: PatrolRequirement,
    pub plausibility: PlausibilityLimits,
    pub verify_policy: VerifyPolicy,
    pub deadline_policy: DeadlinePolicy,
    /// River segments with their chief level and warning level, for the plans.
    pub river_segments: Vec<Segment>,
    /// Which segments each river chief patrols; `chief` is the username.
    pub chiefs: Vec<ChiefAssignment>,
    pub frequency: FrequencyTable,
    /// The city's data as imported, as phones receive it.
    pub city: CityReference,
}

impl Reference {
    /// The bundled catalogue, calendar and responsibility matrix; no grid or rivers.
    pub fn builtin() -> fieldloop_core::Result<Reference> {
        Reference::from_city(CityReference::default())
    }

    /// The city's kinds over the bundled defaults.
    pub fn from_city(city: CityReference) -> fieldloop_core::Result<Reference> {
        Ok(Reference {
            version: city.version,
            catalogue: city.catalogue_or_bundled()?,
            calendar: city.calendar_or_bundled()?,
            matrix: match &city.matrix {
                Some(matrix) => matrix.clone(),
                None => ResponsibilityMatrix::builtin()?,
            },
            grid: city.grid.clone(),
            segments: city
                .rivers
                .iter()
                .map(|r| (r.segment.id.clone(), r.line.clone()))
                .collect(),
            units: city.units.iter().map(|u| u.id.clone()).collect(),
            patrol_requirement: PatrolRequirement::default(),
            plausibility: PlausibilityLimits::default(),
            verify_policy: city.verify_policy(),
            deadline_policy: DeadlinePolicy::default(),
            river_segments: city.rivers.iter().map(|r| r.segment.clone()).collect(),
            chiefs: city.chief_assignments(),
            frequency: FrequencyTable::bundled()?,
            city,
        })
    }

    fn from_stored(stored: &StoredReference) -> fieldloop_core::Result<Reference> {
        Reference::from_city(CityReference::parse(stored.version, &stored.kinds)?)
    }
}

/// The reference every handler reads: swapped whole when a new version is imported (here
/// or, with several instances, by another one, noticed at the next sync).
pub struct ReferenceCell {
    current: RwLock<Arc<Reference>>,
}

impl ReferenceCell {
    pub fn new(reference: Reference) -> ReferenceCell {
        ReferenceCell {
            current: RwLock::new(Arc::new(reference)),
        }
    }

    pub fn current(&self) -> Arc<Reference> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn replace(&self, reference: Reference) {
        let mut slot = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Never step back to an older version read by a slower concurrent reload.
        if reference.version >= slot.version {
            *slot = Arc::new(reference);
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// A new reference version was stored.
    New { version: u64 },
    /// The file says what is stored already: no new version.
    Unchanged { version: u64 },
}

impl Imported {
    pub fn version(&self) -> u64 {
        match self {
            Imported::New { version } | Imported::Unchanged { version } => *version,
        }
    }
}

/// Why an import was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} problems in the file", .0.len())]
    Invalid(Vec<Problem>),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl From<crate::storage::StoreError> for ImportError {
    fn from(e: crate::storage::StoreError) -> Self {
        ImportError::Server(e.into())
    }
}

impl From<fieldloop_core::Error> for ImportError {
    fn from(e: fieldloop_core::Error) -> Self {
        ImportError::Server(e.into())
    }
}

/// Reads the newest stored version into the state's reference, when it is newer than the
/// one held. Called at start, and on each sync so an import on another instance spreads.
pub async fn refresh(state: &AppState) -> Result<Arc<Reference>> {
    let held = state.reference.current();
    if state.reference_store.reference_version().await? <= held.version {
        return Ok(held);
    }
    let stored = state.reference_store.latest_reference().await?;
    state.reference.replace(Reference::from_stored(&stored)?);
    Ok(state.reference.current())
}

/// The newest reference for a device that has `device_version` (0: none), or `None` when
/// it is current or the city never imported anything.
pub async fn update_for(state: &AppState, device_version: u64) -> Result<Option<ReferenceUpdate>> {
    let held = refresh(state).await?;
    if held.version <= device_version {
        return Ok(None);
    }
    let stored = state.reference_store.latest_reference().await?;
    Ok(Some(ReferenceUpdate {
        version: stored.version,
        kinds: stored.kinds,
    }))
}

/// Validates `file` as `kind` against the current reference and stores it as a new
/// version. Only admins import.
pub async fn import(
    state: &AppState,
    by: &Principal,
    kind: ReferenceKind,
    file: &[u8],
) -> Result<Imported, ImportError> {
    import_all(state, by, &[(kind, file)]).await
}

/// Imports several kinds as one version, all or nothing; later files are checked against
/// the earlier ones (a matrix against the units in the same batch).
pub async fn import_all(
    state: &AppState,
    by: &Principal,
    files: &[(ReferenceKind, &[u8])],
) -> Result<Imported, ImportError> {
    if by.role != Role::Admin {
        return Err(ServerError::Forbidden("only an admin imports reference data".into()).into());
    }
    let held = refresh(state).await?;
    let stored = state.reference_store.latest_reference().await?;
    let mut kinds: BTreeMap<String, String> = stored
        .kinds
        .iter()
        .map(|k| (k.kind.clone(), k.json.clone()))
        .collect();
    let mut changed = Vec::new();
    let mut problems = Vec::new();
    for (kind, file) in files {
        let base: Vec<KindData> = kinds
            .iter()
            .map(|(kind, json)| KindData {
                kind: kind.clone(),
                json: json.clone(),
            })
            .collect();
        let current = CityReference::parse(stored.version, &base)?;
        let outcome = match kind {
            ReferenceKind::Grid => formats::grid(file),
            ReferenceKind::Units => formats::units(file, &current),
            ReferenceKind::Matrix => formats::matrix(file, &current),
            ReferenceKind::Categories => formats::categories(file),
            ReferenceKind::Rivers => formats::rivers(file),
            ReferenceKind::Projects => formats::projects(file, &current),
            ReferenceKind::Clauses => formats::clauses(file),
            ReferenceKind::Calendar => {
                formats::calendar_year(file, kinds.get(kind.as_str()).map(String::as_str))
            }
            ReferenceKind::Thresholds => formats::thresholds(file),
        };
        match outcome {
            Ok(json) => {
                if kinds.get(kind.as_str()) != Some(&json) {
                    changed.push(KindData {
                        kind: kind.as_str().to_owned(),
                        json: json.clone(),
                    });
                    kinds.insert(kind.as_str().to_owned(), json);
                }
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    if changed.is_empty() {
        return Ok(Imported::Unchanged {
            version: held.version,
        });
    }
    let names: Vec<String> = changed.iter().map(|k| k.kind.clone()).collect();
    let detail = names.join(",");
    let now = state.clock.now();
    let version = state
        .reference_store
        .store_reference(changed, by.user_id.clone(), now)
        .await?;
    state
        .audit
        .record(AuditEntry {
            at: now,
            user_id: Some(by.user_id.clone()),
            device_id: None,
            action: "reference.imported".into(),
            target: Some(format!("v{version}")),
            detail: Some(detail),
        })
        .await?;
    let reference = refresh(state).await?;
    tracing::info!(version, kinds = %names.join(","), "reference data imported");
    if reference.version == version && names.iter().any(|n| n == ReferenceKind::Rivers.as_str()) {
        replan_rivers(state).await?;
    }
    Ok(Imported::New { version })
}

/// New river data (a warning level, a chief, a segment) re-plans this month's patrols at
/// once rather than at the next scheduler tick.
async fn replan_rivers(state: &AppState) -> Result<()> {
    let now = state.clock.now();
    let period = crate::referee::month_of(now)?;
    let written = crate::referee::replan(state, &period, now).await?;
    tracing::info!(
        events = written.events,
        "river plans brought to the new reference"
    );
    Ok(())
}

/// The stored reference as the API shows it: the version and each kind's data.
pub async fn current_json(state: &AppState) -> Result<serde_json::Value> {
    refresh(state).await?;
    let stored = state.reference_store.latest_reference().await?;
    let mut body = serde_json::Map::new();
    body.insert("version".into(), stored.version.into());
    for kind in &stored.kinds {
        let value: serde_json::Value = serde_json::from_str(&kind.json)
            .map_err(|e| ServerError::Internal(format!("stored {} is not JSON: {e}", kind.kind)))?;
        body.insert(kind.kind.clone(), value);
    }
    Ok(serde_json::Value::Object(body))
}
