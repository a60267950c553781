//! Cases on the phone: capture (信息收集) with camera photos and the OS's position, 自查自纠,
//! the dispatcher's registration, the handler's actions, and the inspector's on-site
//! verification with the local pre-check. Every write goes through `CaseDoc`, which
//! checks the permission table and the lifecycle before anything is saved.

use std::collections::BTreeMap;
use std::sync::Arc;

use fieldloop_core::case::events::{
    Dispatched, Empty, ExtensionRequested, Handled, Reason, Registered, Reported, SelfFixed,
    VerificationSubmitted,
};
use fieldloop_core::case::{CaseDoc, CaseEvent, CaseState, Check, NewCase};
use fieldloop_core::catalogue::Urgency;
use fieldloop_core::doc::{Evidence, EvidenceStage, Position};
use fieldloop_core::roles::Principal;
use fieldloop_core::schedule::case_clock;
use fieldloop_core::sla::{Countdown, SlaPolicy, TimeLimit};
use fieldloop_core::verify::{
    checks, verify_case, Arrivals, CaseVerification, Outcome, ReuseIndex, UploadedPhoto,
};
use uuid::Uuid;

use crate::error::{FieldError, Result};
use crate::phone::{read_photos, save_in, FieldPhone, ReadyPhoto};

/// A position as the OS reported it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PositionFix {
    /// WGS-84 (Android's and iOS's location APIs report WGS-84 outside map SDKs).
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy radius, metres.
    pub accuracy_m: f64,
    /// "fused", "gps", "network", "corelocation", …
    pub provider: String,
    /// `Location.isMock` (Android) / `sourceInformation.isSimulatedBySoftware` (iOS).
    pub mock: bool,
}

/// A photo file from the camera and where it was taken.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PhotoInput {
    pub path: String,
    pub position: PositionFix,
}

/// What the inspector enters when reporting a case.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CaseDraft {
    /// Category key from the picker ("20102").
    pub category: String,
    pub position: PositionFix,
    pub description: Option<String>,
    pub address: Option<String>,
    pub urgent: bool,
    /// 16-digit 部件标识码 when the inspector read it off the component.
    pub component_id: Option<String>,
    /// Before-photos (files the camera wrote).
    pub photo_paths: Vec<String>,
}

/// A case as its screen shows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CaseView {
    pub id: String,
    pub category: Option<String>,
    pub category_name: Option<String>,
    pub grid_cell: Option<String>,
    pub position: Option<Position>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub state: CaseState,
    /// The handling countdown in working time, computed offline; none before dispatch
    /// and after the case ended.
    pub countdown: Option<Countdown>,
    /// Photos by content hash with their evidence.
    pub photos: Vec<EvidencePhoto>,
    /// The latest server verdict's failed checks, readable (empty when none failed).
    pub failed_checks: Vec<Check>,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct EvidencePhoto {
    pub hash: String,
    pub evidence: Evidence,
    /// Whether the file is on this phone (photos others took are not downloaded).
    pub on_device: bool,
}

/// What the local pre-check says before the person submits a verification.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PrecheckReport {
    /// False when a check fails: the server's verdict would send the case back.
    pub would_pass: bool,
    /// The failed checks, each with its reason ("this photo is 600 m from the case").
    pub warnings: Vec<Check>,
    /// Every check the phone could run.
    pub checks: Vec<Check>,
}

fn position_of(fix: &PositionFix) -> Position {
    Position {
        lat: fix.lat,
        lon: fix.lon,
        accuracy_m: fix.accuracy_m,
    }
}

fn evidence_for(
    principal: &Principal,
    stage: EvidenceStage,
    photo: &ReadyPhoto,
    fix: &PositionFix,
    at: i64,
) -> Evidence {
    Evidence {
        stage,
        taken_at: at,
        position: Some(position_of(fix)),
        by: principal.user_id.clone(),
        phash: Some(photo.processed.phash),
        item: None,
        mock: fix.mock,
        original_sha256: None,
        exif: None,
        seal: None,
    }
}

/// Positions must be finite and on Earth before any photo is processed.
fn check_fix(fix: &PositionFix) -> Result<()> {
    fieldloop_core::geo::validate(fix.lat, fix.lon)?;
    fieldloop_core::geo::validate_accuracy(fix.accuracy_m)?;
    Ok(())
}

impl FieldPhone {
    fn case(&self, id: &str) -> Result<CaseDoc> {
        Ok(CaseDoc::open(self.load_doc(id)?)?)
    }

    /// Appends `event` (after attaching `photos` as `stage` evidence) and saves the case
    /// and the photo files in one durable transaction.
    fn case_step(
        &self,
        id: &str,
        event: CaseEvent,
        stage: EvidenceStage,
        photos: Vec<(ReadyPhoto, PositionFix)>,
    ) -> Result<()> {
        let principal = self.principal()?;
        let now = self.now();
        let mut case = self.case(id)?;
        for (photo, fix) in &photos {
            let evidence = self.sealed(
                case.header()?.id,
                photo,
                evidence_for(&principal, stage, photo, fix, now),
            )?;
            case.add_evidence(&principal, &photo.processed.content_hash, &evidence)?;
        }
        case.append(&principal, &event, Uuid::now_v7(), now)?;
        let files: Vec<ReadyPhoto> = photos.into_iter().map(|(p, _)| p).collect();
        self.save_case(case, &files)
    }

    fn capture_with(&self, draft: &CaseDraft, photos: Vec<ReadyPhoto>) -> Result<String> {
        let principal = self.principal()?;
        let now = self.now();
        let grid_cell = self.cell_at(draft.position.lat, draft.position.lon)?;
        let id = Uuid::now_v7();
        let before: Vec<(String, Evidence)> = photos
            .iter()
            .map(|p| {
                let evidence =
                    evidence_for(&principal, EvidenceStage::Before, p, &draft.position, now);
                Ok((
                    p.processed.content_hash.clone(),
                    self.sealed(id, p, evidence)?,
                ))
            })
            .collect::<Result<_>>()?;
        let new = NewCase {
            id,
            event_id: Uuid::now_v7(),
            at: now,
            category: draft.category.clone(),
            position: position_of(&draft.position),
            grid_cell,
            description: draft.description.clone(),
            address: draft.address.clone(),
            report: Reported {
                description: draft.description.clone(),
                urgency: if draft.urgent {
                    Urgency::Urgent
                } else {
                    Urgency::Normal
                },
                component_id: draft.component_id.clone(),
                photos: vec![],
            },
            before_photos: before,
        };
        self.write(|store| {
            let mut case = CaseDoc::create(&principal, store.actor(), new)?;
            // Provider and mock flag travel with the case for the referee and the audit.
            let doc = case.doc_mut();
            doc.set_field("position_provider", &draft.position.provider)?;
            doc.set_field(
                "position_mock",
                if draft.position.mock { "true" } else { "false" },
            )?;
            save_in(store, &mut case.into_doc(), &photos)
        })?;
        Ok(id.to_string())
    }

    fn verification_snapshot(
        &self,
        id: &str,
        fixed: bool,
        photos: &[(ReadyPhoto, PositionFix)],
    ) -> Result<CaseDoc> {
        let principal = self.principal()?;
        let now = self.now();
        let mut case = self.case(id)?;
        for (photo, fix) in photos {
            let evidence = self.sealed(
                case.header()?.id,
                photo,
                evidence_for(&principal, EvidenceStage::Verification, photo, fix, now),
            )?;
            case.add_evidence(&principal, &photo.processed.content_hash, &evidence)?;
        }
        case.append(
            &principal,
            &CaseEvent::VerificationSubmitted(VerificationSubmitted {
                fixed,
                note: None,
                photos: photos
                    .iter()
                    .map(|(p, _)| p.processed.content_hash.clone())
                    .collect(),
            }),
            Uuid::now_v7(),
            now,
        )?;
        Ok(case)
    }
}

async fn with_positions(photos: Vec<PhotoInput>) -> Result<Vec<(ReadyPhoto, PositionFix)>> {
    for p in &photos {
        check_fix(&p.position)?;
    }
    let paths = photos.iter().map(|p| p.path.clone()).collect();
    let ready = read_photos(paths).await?;
    Ok(ready
        .into_iter()
        .zip(photos)
        .map(|(r, p)| (r, p.position))
        .collect())
}

#[uniffi::export]
impl FieldPhone {
    /// 信息收集: a new case with its before-photos, saved durably on the phone (offline);
    /// the grid cell is resolved offline. Answers the case id. Photos are processed on
    /// the FFI's runtime.
    pub async fn capture_case(self: Arc<Self>, draft: CaseDraft) -> Result<String> {
        check_fix(&draft.position)?;
        self.category(&draft.category)?;
        self.cell_at(draft.position.lat, draft.position.lon)?;
        let photos = read_photos(draft.photo_paths.clone()).await?;
        self.capture_with(&draft, photos)
    }

    /// 自查自纠: the inspector fixed it on the spot; after-photos of the same visit.
    pub async fn self_fix_case(
        self: Arc<Self>,
        case_id: String,
        note: Option<String>,
        after_photos: Vec<PhotoInput>,
    ) -> Result<()> {
        let photos = with_positions(after_photos).await?;
        let before = self
            .case(&case_id)?
            .snapshot()?
            .evidence
            .iter()
            .filter(|(_, e)| e.stage == EvidenceStage::Before)
            .map(|(h, _)| h.clone())
            .collect();
        let event = CaseEvent::SelfFixed(SelfFixed {
            note,
            before,
            after: photos
                .iter()
                .map(|(p, _)| p.processed.content_hash.clone())
                .collect(),
        });
        self.case_step(&case_id, event, EvidenceStage::After, photos)
    }

    /// 立案 (dispatcher); the server then dispatches by the responsibility matrix.
    pub fn register_case(&self, case_id: String, note: Option<String>) -> Result<()> {
        let event = CaseEvent::Registered(Registered {
            urgency: None,
            note,
        });
        self.case_step(&case_id, event, EvidenceStage::Before, Vec::new())
    }

    /// 派遣 by hand (dispatcher), for a case the matrix left.
    pub fn dispatch_case(&self, case_id: String, unit: String, note: Option<String>) -> Result<()> {
        let event = CaseEvent::Dispatched(Dispatched { unit, note });
        self.case_step(&case_id, event, EvidenceStage::Before, Vec::new())
    }

    /// The handler takes the case.
    pub fn accept_case(&self, case_id: String) -> Result<()> {
        self.case_step(
            &case_id,
            CaseEvent::Accepted(Empty {}),
            EvidenceStage::After,
            Vec::new(),
        )
    }

    /// Wrong unit: back to the dispatcher, with the reason.
    pub fn return_case(&self, case_id: String, reason: String) -> Result<()> {
        if reason.trim().is_empty() {
            return Err(FieldError::InvalidInput {
                field: "reason".into(),
                reason: "退回需要说明原因".into(),
            });
        }
        let event = CaseEvent::ReturnedToDispatch(Reason { reason });
        self.case_step(&case_id, event, EvidenceStage::After, Vec::new())
    }

    /// 延期: asks for more time.
    pub fn request_extension(
        &self,
        case_id: String,
        extension: TimeLimit,
        reason: String,
    ) -> Result<()> {
        let event = CaseEvent::ExtensionRequested(ExtensionRequested { extension, reason });
        self.case_step(&case_id, event, EvidenceStage::After, Vec::new())
    }

    /// 处置: the handler hands in the repair with after-photos.
    pub async fn hand_in_repair(
        self: Arc<Self>,
        case_id: String,
        note: Option<String>,
        after_photos: Vec<PhotoInput>,
    ) -> Result<()> {
        let photos = with_positions(after_photos).await?;
        let event = CaseEvent::Handled(Handled {
            note,
            photos: photos
                .iter()
                .map(|(p, _)| p.processed.content_hash.clone())
                .collect(),
        });
        self.case_step(&case_id, event, EvidenceStage::After, photos)
    }

    /// 核查 pre-check: the verdict's checks run here on what the phone knows, with the
    /// photos about to be submitted; nothing is saved. Show `warnings` before submitting.
    pub async fn precheck_verification(
        self: Arc<Self>,
        case_id: String,
        fixed: bool,
        photos: Vec<PhotoInput>,
    ) -> Result<PrecheckReport> {
        let photos = with_positions(photos).await?;
        let case = self.verification_snapshot(&case_id, fixed, &photos)?;
        let snapshot = case.snapshot()?;
        let reference = self.reference()?;
        // The phone cannot see others' uploads: every referenced photo counts as
        // received with the perceptual hash its evidence carries.
        let uploads: BTreeMap<String, UploadedPhoto> = snapshot
            .evidence
            .iter()
            .map(|(hash, e)| {
                (
                    hash.clone(),
                    UploadedPhoto {
                        hash_matches: true,
                        decodable: true,
                        phash: e.phash,
                    },
                )
            })
            .collect();
        let outcome = verify_case(&CaseVerification {
            snapshot: &snapshot,
            catalogue: &reference.catalogue,
            calendar: &reference.calendar,
            uploads: &uploads,
            arrivals: &Arrivals::default(),
            reuse: &ReuseIndex::default(),
            people: None,
            policy: &reference.policy,
            grid: None,
            custody: None,
            now: self.now(),
        })?;
        let checks: Vec<Check> = match outcome {
            Outcome::Judged { verdict } => verdict.checks,
            Outcome::Waiting { .. } => Vec::new(),
        };
        // Only the server knows the others' roles and arrival times.
        let warnings: Vec<Check> = checks
            .iter()
            .filter(|c| !c.passed && c.name != checks::PEOPLE && c.name != checks::CLOCK)
            .cloned()
            .collect();
        Ok(PrecheckReport {
            would_pass: warnings.is_empty(),
            warnings,
            checks,
        })
    }

    /// 核查: submits the on-site verification with its photos (the server judges it).
    pub async fn submit_verification(
        self: Arc<Self>,
        case_id: String,
        fixed: bool,
        note: Option<String>,
        photos: Vec<PhotoInput>,
    ) -> Result<()> {
        let photos = with_positions(photos).await?;
        let event = CaseEvent::VerificationSubmitted(VerificationSubmitted {
            fixed,
            note,
            photos: photos
                .iter()
                .map(|(p, _)| p.processed.content_hash.clone())
                .collect(),
        });
        self.case_step(&case_id, event, EvidenceStage::Verification, photos)
    }

    /// One case with its state, countdown, photos and the latest verdict's reasons.
    pub fn case_view(&self, case_id: String) -> Result<CaseView> {
        let case = self.case(&case_id)?;
        let snapshot = case.snapshot()?;
        let state = fieldloop_core::case::fold(&snapshot);
        let reference = self.reference()?;
        let (catalogue, calendar) = (&reference.catalogue, &reference.calendar);
        let now = self.now();
        let countdown = if state.is_open() {
            case_clock(&state, catalogue, calendar, now)
                .ok()
                .flatten()
                .and_then(|clock| calendar.countdown(&clock, &SlaPolicy::default(), now).ok())
        } else {
            None
        };
        let category_name = state
            .category
            .as_deref()
            .and_then(|k| catalogue.get_by_key(k).ok())
            .map(|c| c.name.clone());
        let mut photos = Vec::new();
        for (hash, evidence) in &snapshot.evidence {
            let on_device = self.write(|s| Ok(s.blob(hash)?.is_some()))?;
            photos.push(EvidencePhoto {
                hash: hash.clone(),
                evidence: evidence.clone(),
                on_device,
            });
        }
        let failed_checks = state
            .last_verdict
            .as_ref()
            .map(|v| v.checks.iter().filter(|c| !c.passed).cloned().collect())
            .unwrap_or_default();
        Ok(CaseView {
            id: case_id,
            category: snapshot.header.category.clone(),
            category_name,
            grid_cell: snapshot.header.scope.grid_cell.clone(),
            position: snapshot.header.position,
            description: snapshot.fields.get("description").cloned(),
            address: snapshot.fields.get("address").cloned(),
            state,
            countdown,
            photos,
            failed_checks,
        })
    }
}
