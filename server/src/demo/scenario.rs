//! The simulated working day in Hangzhou (UTC+8), run against a real server over HTTP by
//! simulated phones, each with its own store file. The first run on a data directory
//! plays Monday 2026-11-23, later runs the following working days ([`super::days`]).
//!
//! The server's clock is the day's clock: before every step the scenario sets it to the
//! step's time, so arrival times, deadlines and verdict times agree with the phones.
//!
//! What happens (times are local; see server/README.md "Demo city" for the table):
//! - 08:30 everyone logs in, registers the phone, syncs.
//! - 08:35–09:30 inspectors capture 12 cases offline with photos; one fixes a small
//!   problem on the spot (自查自纠). 09:32–10:00 a supervisor inspects the canal-2026
//!   site and issues a notice for the failed items. Two river chiefs patrol: one properly
//!   (45 min along the river), one a four-minute walk with a jump and mock locations.
//! - 10:40 back online: photos upload, documents sync; 10:50 the contractor signs.
//! - 11:00 the dispatcher registers the cases and dispatches them by the responsibility
//!   matrix (unless the server's matrix already did); 11:20 handlers accept.
//! - 11:30–13:54 handlers handle with after-photos. Planted failures: C02's photo is
//!   600 m away, C04's is C12's photo (C12 was verified at 12:10), C07's is the
//!   before-photo re-encoded, C06's was taken before the dispatch. C08 is never handled.
//! - 14:00–16:20 the contractor replies per item; the supervisor confirms one, rejects
//!   the other, then confirms the second reply.
//! - 15:00 inspectors verify on site with photos (the 自查自纠 inspector verifies their own
//!   fix, which the rules allow). The server's verdicts close or return the cases.
//! - 16:00–16:50 rework on site, verified again.
//! - 18:00 the office closes; the admin's phone syncs everything and the summary is
//!   folded from those documents.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldloop_core::case::events::{
    Dispatched, Empty, Handled, Registered, Reported, SelfFixed, VerificationSubmitted,
};
use fieldloop_core::case::{kinds, CaseEvent, CaseState, CaseStatus, NewCase, Verdict};
use fieldloop_core::catalogue::{Catalogue, Urgency};
use fieldloop_core::doc::{DocKind, DocScope, EvidenceStage, Position};
use fieldloop_core::evaluation::{
    self, Evaluation, EvaluationInput, UnitRow, DEFAULT_VERIFICATION_LIMIT,
};
use fieldloop_core::geo::track::Fix;
use fieldloop_core::geo::LatLon;
use fieldloop_core::notice::{
    self, draft_notice, fold_inspection, fold_notice, Answer, ClauseLibrary, InspectionAnswered,
    ItemConfirmed, ItemRejected, ItemReplied, NoticeStatus,
};
use fieldloop_core::patrol::{
    self, PatrolKind, PatrolRequirement, PatrolState, Started, TrackPoints,
};
use fieldloop_core::sla::{Calendar, Deadline};
use fieldloop_core::time::{Millis, HOUR, MINUTE};
use fieldloop_core::{Error, Result};
use serde::Serialize;
use uuid::Uuid;

use super::city::{City, PROJECT};
use super::days::DemoDay;
use super::device::Phone;
use super::link::SyncCounts;
use super::photos::{reencoded, scene, Photo};
use crate::clock::ManualClock;
use crate::seed::{demo_users, DEMO_PASSWORD};

/// "HH:MM" local for an instant of the day starting at `day_start`.
pub fn hhmm(day_start: Millis, t: Millis) -> String {
    let minutes = (t - day_start).div_euclid(MINUTE);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// What the day is expected to do to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Handled properly, verified, closed.
    Fixed,
    /// The handler's after-photo is 600 m from the case; fixed on rework.
    PhotoTooFar,
    /// The handler's after-photo was already evidence on another case; fixed on rework.
    ReusedPhoto,
    /// The handler's after-photo is the before-photo re-encoded (perceptually the same
    /// picture, different bytes); fixed on rework.
    CopyOfBefore,
    /// The handler's after-photo was taken before the case was dispatched (an old photo
    /// from the gallery); fixed on rework.
    PhotoBeforeDispatch,
    /// 自查自纠, verified by the inspector who fixed it: allowed, the server's place, time
    /// and reuse checks are the referee. (On rework a colleague would verify.)
    SelfFixed,
    /// Dispatched and accepted, never handled: runs past its deadline.
    Overdue,
}

struct CasePlan {
    label: &'static str,
    reporter: &'static str,
    cell: &'static str,
    category: &'static str,
    description: &'static str,
    /// Metres from the cell centre (east, north).
    offset: (f64, f64),
    fate: Fate,
}

const fn plan(
    label: &'static str,
    reporter: &'static str,
    cell: &'static str,
    category: &'static str,
    description: &'static str,
    offset: (f64, f64),
    fate: Fate,
) -> CasePlan {
    CasePlan {
        label,
        reporter,
        cell,
        category,
        description,
        offset,
        fate,
    }
}

const CASES: &[CasePlan] = &[
    plan(
        "C01",
        "inspector",
        "330106001001001",
        "20102",
        "保俶路口暴露垃圾",
        (30.0, -20.0),
        Fate::Fixed,
    ),
    plan(
        "C02",
        "inspector",
        "330106001001003",
        "20110",
        "人行道砖破损",
        (-40.0, 25.0),
        Fate::PhotoTooFar,
    ),
    plan(
        "C03",
        "insp-wang",
        "330106001002002",
        "10118",
        "路灯不亮",
        (10.0, 60.0),
        Fate::Fixed,
    ),
    plan(
        "C04",
        "insp-wang",
        "330106001003004",
        "20201",
        "电线杆非法小广告",
        (-70.0, -10.0),
        Fate::ReusedPhoto,
    ),
    plan(
        "C05",
        "insp-li",
        "330106002001001",
        "20102",
        "文三路暴露垃圾",
        (55.0, 40.0),
        Fate::Fixed,
    ),
    plan(
        "C06",
        "insp-li",
        "330106002002003",
        "10402",
        "行道树倾斜",
        (-15.0, -65.0),
        Fate::PhotoBeforeDispatch,
    ),
    plan(
        "C07",
        "insp-li",
        "330106002003002",
        "20404",
        "雨水口堵塞",
        (80.0, 5.0),
        Fate::CopyOfBefore,
    ),
    plan(
        "C08",
        "insp-zhao",
        "330106003001001",
        "20505",
        "机动车占用人行道",
        (0.0, 0.0),
        Fate::Overdue,
    ),
    plan(
        "C09",
        "insp-zhao",
        "330106003002004",
        "20104",
        "道路不洁",
        (-50.0, 50.0),
        Fate::Fixed,
    ),
    plan(
        "C10",
        "insp-zhao",
        "330106003003001",
        "10101",
        "上水井盖缺失",
        (25.0, -75.0),
        Fate::Fixed,
    ),
    plan(
        "C11",
        "inspector",
        "330106001001002",
        "20108",
        "废弃沙发",
        (60.0, 60.0),
        Fate::SelfFixed,
    ),
    plan(
        "C12",
        "insp-wang",
        "330106001002001",
        "20507",
        "乱堆物堆料",
        (-30.0, 35.0),
        Fate::Fixed,
    ),
];

/// The handler who works for each unit.
fn handler_for(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "sanitation-xihu" => "handler-clean",
        "roads-xihu" => "handler-roads",
        "lighting-xihu" => "handler-lights",
        "water-xihu" => "handler-water",
        "greening-xihu" => "handler-green",
        "enforcement-xihu" => "handler-enforce",
        _ => return None,
    })
}

/// `p` moved `east`, `north` metres.
fn shift(p: LatLon, east: f64, north: f64) -> LatLon {
    LatLon {
        lat: p.lat + north / 111_320.0,
        lon: p.lon + east / (111_320.0 * p.lat.to_radians().cos()),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    pub label: String,
    pub id: Uuid,
    pub category: String,
    pub cell: String,
    pub unit: Option<String>,
    pub fate: Fate,
    pub status: String,
    pub reworks: u32,
    pub overdue: bool,
    /// "server" when the server wrote case.overdue, "calendar" when computed from the
    /// deadline because no overdue event arrived.
    pub overdue_from: Option<String>,
    /// Failed checks of every verdict, in order: "check: reason".
    pub failed_checks: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatrolOutcome {
    pub chief: String,
    pub segment: String,
    pub valid: bool,
    /// "server" when the server wrote the verdict, "local" when judged on the phone's copy.
    pub judged_by: String,
    pub reasons: Vec<String>,
    pub length_m: f64,
    pub minutes: i64,
}

/// What the day produced, folded from the documents the admin's phone synced. Cases,
/// notice, patrols, sync counts and steps are the day's own; plans and the units'
/// evaluation are month to date, over every day played on the data directory.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// "Tuesday 2026-11-24".
    pub day: String,
    /// 1 for the first day played on the data directory, 2 for the next, …
    pub day_number: usize,
    /// The month the evaluation covers, "2026-11".
    pub period: String,
    pub cases: Vec<CaseOutcome>,
    pub cases_reported: usize,
    pub cases_closed: usize,
    pub cases_reworked: usize,
    pub reworked_then_closed: usize,
    pub cases_overdue: usize,
    pub notices: usize,
    pub notices_closed: usize,
    pub notice_status: Vec<String>,
    pub patrols: Vec<PatrolOutcome>,
    pub patrols_valid: usize,
    pub patrols_invalid: usize,
    /// River chiefs' plans for the month the server pushed, and the plan tasks that valid
    /// patrols completed.
    pub plans_issued: usize,
    pub plan_tasks_done: usize,
    /// Units best first; `evaluation_source` says where the figures come from.
    pub units: Vec<UnitRow>,
    pub evaluation_source: String,
    pub sync: SyncCounts,
    pub steps: usize,
    /// Verdict events the server wrote on the day's cases.
    pub server_verdicts: usize,
}

/// Options of a run.
pub struct DayOptions<'a> {
    /// `http://127.0.0.1:PORT`, the real listener.
    pub base_url: String,
    /// Where the phones keep their stores: `<data>/devices`.
    pub devices_dir: &'a Path,
    pub clock: Arc<ManualClock>,
    /// How long to wait (real time) for the server's reactions (verdicts, overdue) after
    /// the step that should cause them.
    pub settle: Duration,
    /// Set to stop the day at the next sync (Ctrl-C).
    pub stop: Arc<AtomicBool>,
    /// The working day played.
    pub day: DemoDay,
}

struct Day<'a> {
    opts: DayOptions<'a>,
    phones: HashMap<&'static str, Phone>,
    now: Millis,
    progress: &'a mut dyn FnMut(&str),
    sync_total: SyncCounts,
    /// This run's id; salts the scenes.
    run: Uuid,
    /// Verdicts already shown, by (case, verdict time).
    shown_verdicts: std::collections::HashSet<(Uuid, Millis)>,
    /// Case labels by id, so reasons naming another case read "C12".
    labels: Vec<(Uuid, &'static str)>,
    steps: usize,
}

fn add_counts(total: &mut SyncCounts, c: &SyncCounts) {
    total.round_trips += c.round_trips;
    total.pushed += c.pushed;
    total.received += c.received;
    total.rejected += c.rejected;
    total.photos_uploaded += c.photos_uploaded;
}

impl<'a> Day<'a> {
    fn set_time(&mut self, t: Millis) {
        self.now = t;
        self.opts.clock.set(t);
    }

    fn say(&mut self, line: impl AsRef<str>) {
        self.steps += 1;
        let text = format!(
            "[{}] {}",
            hhmm(self.opts.day.start(), self.now),
            line.as_ref()
        );
        (self.progress)(&text);
    }

    fn phone(&mut self, user: &str) -> Result<&mut Phone> {
        self.phones
            .get_mut(user)
            .ok_or_else(|| Error::invalid("demo", format!("no phone for {user}")))
    }

    /// The photo of scene `name` in this run: scenes are salted per run, so a second day
    /// on the same data directory takes new pictures instead of reusing the first day's.
    fn photo(&self, name: &str) -> Result<Photo> {
        scene(&format!("{}/{name}", self.run))
    }

    /// `text` with every case id of the day replaced by its label.
    fn with_labels(&self, text: &str) -> String {
        self.labels.iter().fold(text.to_owned(), |t, (id, label)| {
            t.replace(&id.to_string(), label)
        })
    }

    fn stopped(&self) -> Result<()> {
        if self.opts.stop.load(Ordering::SeqCst) {
            Err(Error::Sync("the demo was stopped".into()))
        } else {
            Ok(())
        }
    }

    fn sync(&mut self, user: &'static str) -> Result<SyncCounts> {
        self.stopped()?;
        let now = self.now;
        let counts = self.phone(user)?.sync(now)?;
        add_counts(&mut self.sync_total, &counts);
        let moved = counts.pushed + counts.received + counts.photos_uploaded + counts.rejected;
        if moved == 0 {
            return Ok(counts);
        }
        self.say(format!(
            "{user} syncs: {} pushed, {} received, {} photos up, {} round trip(s){}",
            counts.pushed,
            counts.received,
            counts.photos_uploaded,
            counts.round_trips,
            if counts.rejected > 0 {
                format!(", {} REJECTED (kept in quarantine)", counts.rejected)
            } else {
                String::new()
            }
        ));
        if counts.rejected > 0 {
            let reasons: Vec<String> = self
                .phone(user)?
                .store
                .quarantined()?
                .into_iter()
                .map(|q| q.reason)
                .collect();
            let mut unique = reasons.clone();
            unique.dedup();
            self.say(format!("  the server's reason: {}", unique.join("; ")));
        }
        Ok(counts)
    }

    /// Syncs `user` until `done` holds for its store or the settle time runs out: the
    /// server's reactions may land a moment after the change that caused them.
    fn sync_until(
        &mut self,
        user: &'static str,
        mut done: impl FnMut(&Phone) -> Result<bool>,
    ) -> Result<bool> {
        let deadline = Instant::now() + self.opts.settle;
        loop {
            self.stopped()?;
            let now = self.now;
            let counts = self.phone(user)?.sync(now)?;
            add_counts(&mut self.sync_total, &counts);
            if done(self.phone(user)?)? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs the day; `progress` gets one line per step. Every phone is created under
/// `devices_dir`; the server must already be listening at `base_url` with the demo seed.
pub fn run_day(opts: DayOptions<'_>, progress: &mut dyn FnMut(&str)) -> Result<Summary> {
    let city = City::builtin();
    let catalogue = Catalogue::builtin()?;
    let library = ClauseLibrary::bundled()?;
    let calendar = Calendar::bundled()?;
    // Every time of the scenario is on the day played.
    let today = opts.day;
    let at = move |hour: i64, minute: i64| today.at(hour, minute);
    let hhmm = move |t: Millis| hhmm(today.start(), t);
    let mut day = Day {
        opts,
        phones: HashMap::new(),
        now: at(8, 30),
        progress,
        sync_total: SyncCounts::default(),
        run: Uuid::now_v7(),
        shown_verdicts: std::collections::HashSet::new(),
        labels: Vec::new(),
        steps: 0,
    };
    day.set_time(at(8, 30));

    // 08:30 — log in, register the phone, first sync.
    let cast: &[&'static str] = &[
        "admin",
        "dispatch-xihu",
        "inspector",
        "insp-wang",
        "insp-li",
        "insp-zhao",
        "handler-clean",
        "handler-roads",
        "handler-lights",
        "handler-water",
        "handler-green",
        "handler-enforce",
        "supervisor",
        "contractor",
        "chief",
        "chief-gudang",
    ];
    let passwords: HashMap<&str, &str> = demo_users()
        .iter()
        .map(|u| (u.username, u.password))
        .collect();
    for &user in cast {
        let password = passwords.get(user).copied().unwrap_or(DEMO_PASSWORD);
        let phone = Phone::connect(&day.opts.base_url, day.opts.devices_dir, user, password)?;
        day.phones.insert(user, phone);
    }
    day.say(format!(
        "{} people log in and register their phones ({})",
        cast.len(),
        day.opts.devices_dir.display()
    ));
    for &user in cast {
        day.sync(user)?;
    }

    // 08:35–09:30 — offline capture.
    let mut case_ids: Vec<Uuid> = Vec::new();
    let mut sites: Vec<LatLon> = Vec::new();
    let mut before: Vec<Photo> = Vec::new();
    for (i, plan) in CASES.iter().enumerate() {
        day.set_time(at(8, 35) + i as i64 * 5 * MINUTE);
        let cell = city
            .cell(plan.cell)
            .ok_or_else(|| Error::invalid("demo", format!("no cell {}", plan.cell)))?;
        let site = shift(cell.centre, plan.offset.0, plan.offset.1);
        let category = catalogue.get_by_key(plan.category)?;
        let photo = day.photo(&format!("{}/before", plan.label))?;
        let now = day.now;
        let phone = day.phone(plan.reporter)?;
        let mut evidence = phone.evidence(EvidenceStage::Before, now, site.lat, site.lon);
        evidence.phash = Some(photo.phash);
        let id = Uuid::now_v7();
        phone.report_case(
            NewCase {
                id,
                event_id: Uuid::now_v7(),
                at: now,
                category: plan.category.to_owned(),
                position: Position {
                    lat: site.lat,
                    lon: site.lon,
                    accuracy_m: 6.0,
                },
                grid_cell: plan.cell.to_owned(),
                description: Some(plan.description.to_owned()),
                address: Some(format!("{} 网格 {}", plan.cell, plan.label)),
                report: Reported {
                    description: Some(plan.description.to_owned()),
                    urgency: Urgency::Normal,
                    component_id: None,
                    photos: vec![],
                },
                before_photos: vec![(photo.sha256.clone(), evidence)],
            },
            &[&photo],
        )?;
        day.say(format!(
            "{} reports {} {} ({}) in cell {}, offline, photo {}…",
            plan.reporter,
            plan.label,
            category.name,
            plan.category,
            plan.cell,
            &photo.sha256[..8]
        ));
        if plan.fate == Fate::SelfFixed {
            let after = day.photo(&format!("{}/self-fix", plan.label))?;
            day.set_time(now + 3 * MINUTE);
            let t = day.now;
            let phone = day.phone(plan.reporter)?;
            let evidence = phone.evidence(EvidenceStage::After, t, site.lat, site.lon);
            phone.case_step(
                id,
                CaseEvent::SelfFixed(SelfFixed {
                    note: Some("当场联系物业搬走".into()),
                    before: vec![photo.sha256.clone()],
                    after: vec![after.sha256.clone()],
                }),
                &[(&after, evidence)],
                t,
            )?;
            day.say(format!(
                "{} fixes {} on the spot (自查自纠) with an after-photo",
                plan.reporter, plan.label
            ));
        }
        case_ids.push(id);
        day.labels.push((id, plan.label));
        sites.push(site);
        before.push(photo);
    }

    // 09:32 — site inspection of canal-2026, offline.
    day.set_time(at(9, 32));
    let stage = "excavation";
    let failing = ["WW-10", "WW-13"];
    let inspection_id = day.phone("supervisor")?.create_doc(
        DocKind::SiteInspection,
        Some(stage.into()),
        DocScope {
            project: Some(PROJECT.into()),
            ..DocScope::default()
        },
        at(9, 32),
    )?;
    let checklist = library.checklist(stage)?;
    for (k, item) in checklist.items.iter().enumerate() {
        let t = at(9, 33) + k as i64 * MINUTE;
        day.set_time(t);
        let fail = failing.contains(&item.clause_id.as_str());
        let (data, photos) = if fail {
            let photo = day.photo(&format!("canal/{}/finding", item.clause_id))?;
            let site = shift(city.project.site, k as f64 * 5.0, 0.0);
            let mut evidence =
                day.phone("supervisor")?
                    .evidence(EvidenceStage::Finding, t, site.lat, site.lon);
            evidence.item = Some(item.clause_id.clone());
            let data = serde_json::to_value(InspectionAnswered {
                clause: item.clause_id.clone(),
                answer: Answer::Fail,
                note: None,
                photo: Some(photo.sha256.clone()),
            })?;
            (data, vec![(photo, evidence)])
        } else {
            let data = serde_json::to_value(InspectionAnswered {
                clause: item.clause_id.clone(),
                answer: Answer::Pass,
                note: None,
                photo: None,
            })?;
            (data, vec![])
        };
        let refs: Vec<(&Photo, _)> = photos.iter().map(|(p, e)| (p, e.clone())).collect();
        day.phone("supervisor")?.doc_step(
            inspection_id,
            notice::INSPECTION_ANSWERED,
            data,
            &refs,
            t,
        )?;
    }
    day.set_time(at(9, 45));
    day.phone("supervisor")?.doc_step(
        inspection_id,
        notice::INSPECTION_SUBMITTED,
        serde_json::Value::Null,
        &[],
        at(9, 45),
    )?;
    day.say(format!(
        "supervisor inspects canal-2026 ({stage}): {} items, {} failed ({}), offline",
        checklist.items.len(),
        failing.len(),
        failing.join(", ")
    ));

    // 09:50 — a cheating river patrol, offline.
    let invalid_patrol = river_patrol(
        &mut day,
        &city,
        "chief-gudang",
        "xixi-02",
        PatrolStyle::Cheating,
    )?;

    // 10:00 — the notice for the failed items.
    day.set_time(at(10, 0));
    let contractor_id = day.phone("contractor")?.user_id().to_owned();
    let inspection_state = {
        let doc = day.phone("supervisor")?.store.load_doc(inspection_id)?;
        fold_inspection(&doc.snapshot()?, &library)?
    };
    let due = calendar.add_working_days(at(10, 0), 3)?;
    let issued = draft_notice(
        &inspection_state,
        &library,
        Some(inspection_id),
        &contractor_id,
        Deadline {
            due: due.due,
            provisional: due.provisional,
        },
    )?;
    let item_ids: Vec<String> = issued.items.iter().map(|i| i.id.clone()).collect();
    let notice_id = day.phone("supervisor")?.create_doc(
        DocKind::Notice,
        Some(stage.into()),
        DocScope {
            project: Some(PROJECT.into()),
            ..DocScope::default()
        },
        at(10, 0),
    )?;
    day.phone("supervisor")?.doc_step(
        notice_id,
        notice::NOTICE_ISSUED,
        serde_json::to_value(&issued)?,
        &[],
        at(10, 0),
    )?;
    day.say(format!(
        "supervisor issues rectification notice with {} items, due {}",
        item_ids.len(),
        chrono::DateTime::from_timestamp_millis(due.due + 8 * HOUR)
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    ));

    // 09:46–10:32 — the proper patrol, reported when it ends.
    let valid_patrol = river_patrol(&mut day, &city, "chief", "xixi-01", PatrolStyle::Proper)?;

    // 10:40 — back online.
    day.set_time(at(10, 40));
    for user in [
        "inspector",
        "insp-wang",
        "insp-li",
        "insp-zhao",
        "supervisor",
        "chief",
        "chief-gudang",
    ] {
        day.sync(user)?;
    }

    // 10:50 — the contractor signs for the notice.
    day.set_time(at(10, 50));
    day.sync("contractor")?;
    day.phone("contractor")?.doc_step(
        notice_id,
        notice::NOTICE_SIGNED,
        serde_json::Value::Null,
        &[],
        at(10, 50),
    )?;
    day.say("contractor signs for the notice (签收)");
    day.sync("contractor")?;

    // 11:00 — registration and dispatch.
    day.set_time(at(11, 0));
    day.sync("dispatch-xihu")?;
    for (plan, &id) in CASES.iter().zip(&case_ids) {
        if plan.fate == Fate::SelfFixed {
            continue;
        }
        let now = day.now;
        day.phone("dispatch-xihu")?.case_step(
            id,
            CaseEvent::Registered(Registered::default()),
            &[],
            now,
        )?;
    }
    day.say("dispatch-xihu registers 11 cases (立案)");
    day.sync("dispatch-xihu")?;
    day.set_time(at(11, 5));
    let mut units: Vec<Option<String>> = vec![None; CASES.len()];
    let mut by_server = 0;
    for (k, (plan, &id)) in CASES.iter().zip(&case_ids).enumerate() {
        if plan.fate == Fate::SelfFixed {
            continue;
        }
        let state = day.phone("dispatch-xihu")?.case_state(id)?;
        if let Some(unit) = state.unit.clone() {
            by_server += 1;
            units[k] = Some(unit);
            continue;
        }
        let unit = city
            .responsible_unit(plan.category, plan.cell)
            .ok_or_else(|| Error::invalid("demo", format!("no unit for {}", plan.category)))?;
        let now = day.now;
        day.phone("dispatch-xihu")?.case_step(
            id,
            CaseEvent::Dispatched(Dispatched {
                unit: unit.clone(),
                note: Some("按责任矩阵派遣".into()),
            }),
            &[],
            now,
        )?;
        units[k] = Some(unit);
    }
    let listing: Vec<String> = CASES
        .iter()
        .zip(&units)
        .filter_map(|(p, u)| u.as_ref().map(|u| format!("{}→{u}", p.label)))
        .collect();
    let dispatched = listing.len();
    day.say(format!(
        "派遣 by the responsibility matrix: {by_server} by the server on registration, {} by \
         dispatch-xihu: {}",
        dispatched - by_server,
        listing.join(", ")
    ));
    day.sync("dispatch-xihu")?;

    // 11:20 — handlers accept.
    day.set_time(at(11, 20));
    let handler_users: Vec<&'static str> = {
        let mut v: Vec<&'static str> = units
            .iter()
            .flatten()
            .filter_map(|u| handler_for(u))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    for &handler in &handler_users {
        day.sync(handler)?;
        let mut accepted = Vec::new();
        for (k, (plan, &id)) in CASES.iter().zip(&case_ids).enumerate() {
            if units[k].as_deref().and_then(handler_for) != Some(handler) {
                continue;
            }
            let now = day.now;
            let phone = day.phone(handler)?;
            let state = phone.case_state(id).map_err(|e| {
                Error::Sync(format!("{handler} did not receive {}: {e}", plan.label))
            })?;
            if state.status == CaseStatus::Dispatched {
                phone.case_step(id, CaseEvent::Accepted(Empty {}), &[], now)?;
                accepted.push(plan.label);
            }
        }
        day.say(format!("{handler} accepts {}", accepted.join(", ")));
        day.sync(handler)?;
    }

    // 11:30–13:50 — handling with after-photos. Short-limit cases first.
    let order = [
        "C09", "C01", "C05", "C12", "C03", "C04", "C06", "C07", "C10", "C02",
    ];
    let mut lunch_check_done = false;
    let mut after_photos: HashMap<&str, Photo> = HashMap::new();
    let slots = (0..5)
        .map(|i| at(11, 30) + i * 6 * MINUTE)
        .chain((0..5).map(|i| at(13, 30) + i * 6 * MINUTE));
    for (label, t) in order.into_iter().zip(slots) {
        let k = CASES
            .iter()
            .position(|p| p.label == label)
            .ok_or_else(|| Error::invalid("demo", format!("no case {label}")))?;
        let plan = &CASES[k];
        let Some(handler) = units[k].as_deref().and_then(handler_for) else {
            continue;
        };
        if t >= at(13, 30) && !lunch_check_done {
            // 12:10 — insp-wang checks C12 on the way to lunch; it is judged at once.
            lunch_check_done = true;
            day.set_time(at(12, 10));
            let c12 = CASES
                .iter()
                .position(|p| p.label == "C12")
                .ok_or_else(|| Error::invalid("demo", "no case C12"))?;
            day.sync("insp-wang")?;
            verify_on_site(&mut day, c12, case_ids[c12], sites[c12], "insp-wang", 1)?;
            day.sync("insp-wang")?;
            day.set_time(at(12, 15));
            let settled = wait_for_verdicts(&mut day, &case_ids)?;
            report_verdicts(&mut day, &case_ids, settled)?;
        }
        day.set_time(t);
        let site = sites[k];
        let mut taken_at = t;
        let (photo, position, what) = match plan.fate {
            Fate::CopyOfBefore => (
                reencoded(&before[k], 70)?,
                site,
                "after-photo is the before-photo re-encoded",
            ),
            Fate::PhotoBeforeDispatch => {
                taken_at = at(8, 10);
                (
                    day.photo(&format!("{label}/old"))?,
                    site,
                    "after-photo taken at 08:10, before the dispatch",
                )
            }
            Fate::PhotoTooFar => (
                day.photo(&format!("{label}/after"))?,
                shift(site, 600.0, 0.0),
                "after-photo taken 600 m away",
            ),
            Fate::ReusedPhoto => {
                let used = after_photos
                    .get("C12")
                    .cloned()
                    .ok_or_else(|| Error::invalid("demo", "C12 must be handled before C04"))?;
                (used, site, "after-photo already used on C12")
            }
            _ => (
                day.photo(&format!("{label}/after"))?,
                site,
                "after-photo on site",
            ),
        };
        let now = day.now;
        let phone = day.phone(handler)?;
        let evidence = phone.evidence(EvidenceStage::After, taken_at, position.lat, position.lon);
        phone.case_step(
            case_ids[k],
            CaseEvent::Handled(Handled {
                note: Some("已处置".into()),
                photos: vec![photo.sha256.clone()],
            }),
            &[(&photo, evidence)],
            now,
        )?;
        day.say(format!("{handler} handles {label}: {what}"));
        day.sync(handler)?;
        after_photos.insert(label, photo);
    }

    // 14:00 — the contractor replies to each item.
    day.set_time(at(14, 0));
    day.sync("contractor")?;
    for (n, item) in item_ids.iter().enumerate() {
        notice_reply(
            &mut day,
            &city,
            notice_id,
            item,
            1,
            at(14, 0) + n as i64 * 5 * MINUTE,
        )?;
    }
    day.sync("contractor")?;

    // 14:30 — the supervisor confirms one item and rejects the other.
    day.set_time(at(14, 30));
    day.sync("supervisor")?;
    let (first, second) = match item_ids.as_slice() {
        [a, b, ..] => (a.clone(), b.clone()),
        _ => return Err(Error::invalid("demo", "the notice needs two items")),
    };
    day.phone("supervisor")?.doc_step(
        notice_id,
        notice::NOTICE_ITEM_CONFIRMED,
        serde_json::to_value(ItemConfirmed {
            item: first.clone(),
        })?,
        &[],
        at(14, 30),
    )?;
    day.phone("supervisor")?.doc_step(
        notice_id,
        notice::NOTICE_ITEM_REJECTED,
        serde_json::to_value(ItemRejected {
            item: second.clone(),
            reason: "爬梯未固定, 重新整改".into(),
        })?,
        &[],
        at(14, 32),
    )?;
    day.say(format!(
        "supervisor confirms {first}, rejects {second} (爬梯未固定)"
    ));
    day.sync("supervisor")?;

    // 15:00 — verification on site.
    day.set_time(at(15, 0));
    verify_round(&mut day, &case_ids, &sites, 1)?;

    // 15:25 — the server's verdicts arrive.
    day.set_time(at(15, 25));
    let settled = wait_for_verdicts(&mut day, &case_ids)?;
    report_verdicts(&mut day, &case_ids, settled)?;

    // 15:30 — the contractor replies again to the rejected item.
    day.set_time(at(15, 30));
    day.sync("contractor")?;
    notice_reply(&mut day, &city, notice_id, &second, 2, at(15, 30))?;
    day.sync("contractor")?;

    // 16:00 — rework.
    day.set_time(at(16, 0));
    let workers: Vec<Option<&'static str>> = CASES
        .iter()
        .zip(&units)
        .map(|(plan, unit)| {
            if plan.fate == Fate::SelfFixed {
                Some(plan.reporter)
            } else {
                unit.as_deref().and_then(handler_for)
            }
        })
        .collect();
    let mut synced: Vec<&'static str> = Vec::new();
    for worker in workers.iter().flatten() {
        if !synced.contains(worker) {
            day.sync(worker)?;
            synced.push(worker);
        }
    }
    let mut reworked = 0;
    for (k, (plan, &id)) in CASES.iter().zip(&case_ids).enumerate() {
        let Some(worker) = workers[k] else { continue };
        let state = day.phone(worker)?.case_state(id)?;
        if state.status != CaseStatus::Rework {
            continue;
        }
        day.set_time(at(16, 0) + reworked * 5 * MINUTE);
        reworked += 1;
        let now = day.now;
        let site = sites[k];
        let photo = day.photo(&format!("{}/after-rework", plan.label))?;
        let phone = day.phone(worker)?;
        let evidence = phone.evidence(EvidenceStage::After, now, site.lat, site.lon);
        let event = if plan.fate == Fate::SelfFixed {
            CaseEvent::SelfFixed(SelfFixed {
                note: Some("返工: 重新清理".into()),
                before: vec![before[k].sha256.clone()],
                after: vec![photo.sha256.clone()],
            })
        } else {
            CaseEvent::Handled(Handled {
                note: Some("返工: 现场重新处置并拍照".into()),
                photos: vec![photo.sha256.clone()],
            })
        };
        phone.case_step(id, event, &[(&photo, evidence)], now)?;
        day.say(format!(
            "{worker} reworks {} with a new after-photo on site",
            plan.label
        ));
        day.sync(worker)?;
    }

    // 16:20 — the supervisor confirms the second reply.
    day.set_time(at(16, 20));
    day.sync("supervisor")?;
    day.phone("supervisor")?.doc_step(
        notice_id,
        notice::NOTICE_ITEM_CONFIRMED,
        serde_json::to_value(ItemConfirmed {
            item: second.clone(),
        })?,
        &[],
        at(16, 20),
    )?;
    day.say(format!(
        "supervisor confirms {second}: every item confirmed"
    ));
    day.sync("supervisor")?;

    // 16:40 — verification of the reworked cases.
    day.set_time(at(16, 40));
    verify_round(&mut day, &case_ids, &sites, 2)?;
    day.set_time(at(16, 50));
    let settled = wait_for_verdicts(&mut day, &case_ids)?;
    report_verdicts(&mut day, &case_ids, settled)?;

    // 18:00 — office closes; the admin's phone takes in the whole day.
    day.set_time(at(18, 0));
    day.say("office closes; the admin's phone takes in the day");
    let overdue_ids: Vec<Uuid> = CASES
        .iter()
        .zip(&case_ids)
        .filter(|(p, _)| p.fate == Fate::Overdue)
        .map(|(_, id)| *id)
        .collect();
    day.sync_until("admin", |phone| {
        for id in &overdue_ids {
            match phone.case_state(*id) {
                Ok(state) if state.overdue_at.is_some() => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    })?;
    day.sync("admin")?;
    for (plan, &id) in CASES.iter().zip(&case_ids) {
        let state = day.phone("admin")?.case_state(id)?;
        if let Some(overdue) = state.overdue_at {
            let warned = state
                .warned_at
                .map(|w| format!("warned (预警) at {}, ", hhmm(w)))
                .unwrap_or_default();
            day.say(format!(
                "server deadline check: {} {}overdue (超期) at {}",
                plan.label,
                warned,
                hhmm(overdue)
            ));
        }
    }

    let summary = summarise(
        &mut day,
        &city,
        &catalogue,
        &calendar,
        &case_ids,
        &units,
        notice_id,
        &[valid_patrol, invalid_patrol],
    )?;
    Ok(summary)
}

fn notice_reply(
    day: &mut Day<'_>,
    city: &City,
    notice_id: Uuid,
    item: &str,
    round: u32,
    t: Millis,
) -> Result<()> {
    day.set_time(t);
    let photo = day.photo(&format!("canal/{item}/reply-{round}"))?;
    let site = shift(city.project.site, 3.0 * f64::from(round), 2.0);
    let phone = day.phone("contractor")?;
    let mut evidence = phone.evidence(EvidenceStage::After, t, site.lat, site.lon);
    evidence.item = Some(item.to_owned());
    phone.doc_step(
        notice_id,
        notice::NOTICE_ITEM_REPLIED,
        serde_json::to_value(ItemReplied {
            item: item.to_owned(),
            photos: vec![photo.sha256.clone()],
            note: Some(if round == 1 {
                "已整改".into()
            } else {
                "爬梯已固定并设置扶手".into()
            }),
        })?,
        &[(&photo, evidence)],
        t,
    )?;
    day.say(format!(
        "contractor replies to {item} with an after-photo (reply {round})"
    ));
    Ok(())
}

/// Every inspector syncs, verifies the handled (or self-fixed) cases in their cells and
/// syncs again. Round 1: the 自查自纠 case is verified by the inspector who fixed it;
/// round 2: by insp-wang, who covers the whole street.
fn verify_round(day: &mut Day<'_>, case_ids: &[Uuid], sites: &[LatLon], round: u32) -> Result<()> {
    let inspectors = ["inspector", "insp-wang", "insp-li", "insp-zhao"];
    for user in inspectors {
        day.sync(user)?;
    }
    let start = day.now;
    let mut minute = 0;
    for (k, plan) in CASES.iter().enumerate() {
        let verifier = if plan.fate == Fate::SelfFixed && round == 2 {
            "insp-wang"
        } else {
            plan.reporter
        };
        let state = day.phone(verifier)?.case_state(case_ids[k])?;
        if !matches!(state.status, CaseStatus::Handled | CaseStatus::SelfFixed) {
            continue;
        }
        day.set_time(start + minute * MINUTE);
        minute += 2;
        verify_on_site(day, k, case_ids[k], sites[k], verifier, round)?;
    }
    for user in inspectors {
        day.sync(user)?;
    }
    Ok(())
}

/// 核查: `verifier` stands at the case with a fresh photo and says it is fixed.
fn verify_on_site(
    day: &mut Day<'_>,
    k: usize,
    id: Uuid,
    site: LatLon,
    verifier: &'static str,
    round: u32,
) -> Result<()> {
    let plan = &CASES[k];
    let t = day.now;
    let site = shift(site, 4.0, -3.0);
    let photo = day.photo(&format!("{}/verify-{round}", plan.label))?;
    let phone = day.phone(verifier)?;
    let evidence = phone.evidence(EvidenceStage::Verification, t, site.lat, site.lon);
    phone.case_step(
        id,
        CaseEvent::VerificationSubmitted(VerificationSubmitted {
            fixed: true,
            note: Some("现场核查已整改".into()),
            photos: vec![photo.sha256.clone()],
        }),
        &[(&photo, evidence)],
        t,
    )?;
    let who = if verifier == plan.reporter && plan.fate == Fate::SelfFixed {
        " (their own 自查自纠)"
    } else {
        ""
    };
    day.say(format!(
        "{verifier} verifies {} on site (核查){who}",
        plan.label
    ));
    Ok(())
}

/// Waits until no case sits in "verification submitted"; false when the settle time ran
/// out first (the server has no verdict hook, or a photo it waits for is missing).
fn wait_for_verdicts(day: &mut Day<'_>, case_ids: &[Uuid]) -> Result<bool> {
    let ids = case_ids.to_vec();
    day.sync_until("admin", move |phone| {
        for id in &ids {
            if phone.case_state(*id)?.status == CaseStatus::VerificationSubmitted {
                return Ok(false);
            }
        }
        Ok(true)
    })
}

fn failed_checks(verdict: &Verdict) -> Vec<String> {
    verdict
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.reason))
        .collect()
}

fn report_verdicts(day: &mut Day<'_>, case_ids: &[Uuid], settled: bool) -> Result<()> {
    let mut lines = Vec::new();
    let mut waiting = Vec::new();
    for (plan, &id) in CASES.iter().zip(case_ids) {
        let state = day.phone("admin")?.case_state(id)?;
        if state.status == CaseStatus::VerificationSubmitted {
            waiting.push(plan.label);
        }
        let Some(verdict) = &state.last_verdict else {
            continue;
        };
        let Some(at) = state.verdict_at else { continue };
        if !day.shown_verdicts.insert((id, at)) {
            continue;
        }
        if verdict.passed() {
            lines.push(format!("{} passed → {}", plan.label, status_word(&state)));
        } else {
            lines.push(format!(
                "{} FAILED ({}) → {}",
                plan.label,
                day.with_labels(&failed_checks(verdict).join("; ")),
                status_word(&state)
            ));
        }
    }
    if !settled {
        day.say(format!(
            "no verdict from the server yet for {} (after {} s: is a referee wired into sync?)",
            waiting.join(", "),
            day.opts.settle.as_secs()
        ));
    }
    for line in lines {
        day.say(format!("server verdict: {line}"));
    }
    Ok(())
}

fn status_word(state: &CaseState) -> String {
    serde_json::to_value(state.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PatrolStyle {
    /// 45 minutes along the whole segment, a fix every 20 s.
    Proper,
    /// Four minutes, a 3 km jump in the middle, the last fixes from a mock provider.
    Cheating,
}

/// Points every `step_m` metres along a polyline.
fn walk(line: &[LatLon], step_m: f64) -> Vec<LatLon> {
    let mut out = Vec::new();
    for w in line.windows(2) {
        let d = fieldloop_core::geo::distance_m(w[0], w[1]);
        let n = (d / step_m).ceil().max(1.0) as usize;
        for i in 0..n {
            let t = i as f64 / n as f64;
            out.push(LatLon {
                lat: w[0].lat + (w[1].lat - w[0].lat) * t,
                lon: w[0].lon + (w[1].lon - w[0].lon) * t,
            });
        }
    }
    if let Some(last) = line.last() {
        out.push(*last);
    }
    out
}

fn river_patrol(
    day: &mut Day<'_>,
    city: &City,
    chief: &'static str,
    segment: &str,
    style: PatrolStyle,
) -> Result<(Uuid, &'static str, String)> {
    let seg = city
        .segment(segment)
        .ok_or_else(|| Error::invalid("demo", format!("no segment {segment}")))?;
    let start = match style {
        PatrolStyle::Proper => day.opts.day.at(9, 46),
        PatrolStyle::Cheating => day.opts.day.at(9, 50),
    };
    day.set_time(start);
    let id = day.phone(chief)?.create_doc(
        DocKind::Patrol,
        None,
        DocScope {
            segment: Some(segment.to_owned()),
            ..DocScope::default()
        },
        start,
    )?;
    day.phone(chief)?.doc_step(
        id,
        patrol::STARTED,
        serde_json::to_value(Started {
            kind: PatrolKind::River,
            assigned_cells: vec![],
            segment: Some(segment.to_owned()),
        })?,
        &[],
        start,
    )?;
    let fixes: Vec<Fix> = match style {
        PatrolStyle::Proper => {
            let points = walk(&seg.line, 14.0);
            let span = 45 * MINUTE;
            let n = points.len().max(2) as i64;
            points
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    // A metre or two of GPS wobble, different at every fix.
                    let wobble = ((i * 7919) % 13) as f64 / 6.0 - 1.0;
                    let q = shift(*p, wobble, -wobble * 0.7);
                    Fix {
                        t: start + MINUTE + span * i as i64 / (n - 1),
                        lat: q.lat,
                        lon: q.lon,
                        accuracy_m: 5.0 + (i % 4) as f64,
                        mock: false,
                    }
                })
                .collect()
        }
        PatrolStyle::Cheating => {
            let points = walk(&seg.line, 20.0);
            (0..12)
                .map(|i| {
                    let p = points[i.min(points.len() - 1)];
                    let p = if i == 6 { shift(p, 3000.0, 0.0) } else { p };
                    Fix {
                        t: start + MINUTE + i as i64 * 20_000,
                        lat: p.lat,
                        lon: p.lon,
                        accuracy_m: 5.0,
                        mock: i >= 9,
                    }
                })
                .collect()
        }
    };
    for batch in fixes.chunks(40) {
        let t = batch.last().map_or(start, |f| f.t);
        day.phone(chief)?.doc_step(
            id,
            patrol::TRACK_POINTS,
            serde_json::to_value(TrackPoints {
                fixes: batch.to_vec(),
            })?,
            &[],
            t,
        )?;
    }
    let end = fixes.last().map_or(start, |f| f.t) + 30_000;
    day.set_time(end);
    day.phone(chief)?
        .doc_step(id, patrol::ENDED, serde_json::Value::Null, &[], end)?;
    let length: f64 = fixes
        .windows(2)
        .map(|w| fieldloop_core::geo::distance_m(w[0].at(), w[1].at()))
        .sum();
    day.say(format!(
        "{chief} patrols {segment} ({}): {} fixes, {:.2} km of track in {} min{}, offline",
        seg.segment.name,
        fixes.len(),
        length / 1000.0,
        (end - start) / MINUTE,
        if style == PatrolStyle::Cheating {
            " — with a 3 km jump and mock locations"
        } else {
            ""
        }
    ));
    Ok((id, chief, segment.to_owned()))
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    day: &mut Day<'_>,
    city: &City,
    catalogue: &Catalogue,
    calendar: &Calendar,
    case_ids: &[Uuid],
    units: &[Option<String>],
    notice_id: Uuid,
    patrols: &[(Uuid, &'static str, String)],
) -> Result<Summary> {
    let now = day.now;
    let mut cases = Vec::new();
    for (k, (plan, &id)) in CASES.iter().zip(case_ids).enumerate() {
        let admin = day.phone("admin")?;
        let case = admin.case(id)?;
        let snapshot = case.snapshot()?;
        let state = case.state()?;
        let mut failed = Vec::new();
        for event in snapshot.events.iter().filter(|e| e.kind == kinds::VERDICT) {
            if let Ok(verdict) = event.data_as::<Verdict>() {
                failed.extend(failed_checks(&verdict).iter().map(|f| day.with_labels(f)));
            }
        }
        let (overdue, overdue_from) = if state.overdue_at.is_some() {
            (true, Some("server".to_owned()))
        } else if overdue_by_calendar(&state, catalogue, calendar, now)? {
            (true, Some("calendar".to_owned()))
        } else {
            (false, None)
        };
        cases.push(CaseOutcome {
            label: plan.label.to_owned(),
            id,
            category: plan.category.to_owned(),
            cell: plan.cell.to_owned(),
            unit: units[k].clone().or(state.unit.clone()),
            fate: plan.fate,
            status: status_word(&state),
            reworks: state.rework_count,
            overdue,
            overdue_from,
            failed_checks: failed,
        });
    }
    let mut server_verdicts = 0;
    for id in case_ids {
        let snapshot = day.phone("admin")?.case(*id)?.snapshot()?;
        server_verdicts += snapshot
            .events
            .iter()
            .filter(|e| e.kind == kinds::VERDICT)
            .count();
    }
    let closed = |c: &&CaseOutcome| c.status == "closed";
    let cases_closed = cases.iter().filter(closed).count();
    let cases_reworked = cases.iter().filter(|c| c.reworks > 0).count();
    let reworked_then_closed = cases
        .iter()
        .filter(|c| c.reworks > 0 && c.status == "closed")
        .count();
    let cases_overdue = cases.iter().filter(|c| c.overdue).count();

    let notice_doc = day.phone("admin")?.store.load_doc(notice_id)?;
    let notice_state = fold_notice(&notice_doc.snapshot()?)?;
    let notices_closed = usize::from(notice_state.status == NoticeStatus::Closed);
    let notice_status = vec![status_word_of(&notice_state.status)];

    let mut patrol_outcomes = Vec::new();
    for (id, chief, segment) in patrols {
        // The server's copy when the admin has it, else the chief's own.
        let doc = match day.phone("admin")?.store.load_doc(*id) {
            Ok(doc) => doc,
            Err(_) => day.phone(chief)?.store.load_doc(*id)?,
        };
        let state = patrol::fold(&doc.snapshot()?);
        let line = &city
            .segment(segment)
            .ok_or_else(|| Error::invalid("demo", format!("no segment {segment}")))?
            .line;
        let report = patrol::river_report(&state, line, &PatrolRequirement::default())?;
        let (valid, judged_by, reasons) = match &state.verdict {
            Some(v) => (v.valid, "server", v.reasons.clone()),
            None => (report.valid, "local", report.reasons.clone()),
        };
        patrol_outcomes.push(PatrolOutcome {
            chief: (*chief).to_owned(),
            segment: segment.clone(),
            valid,
            judged_by: judged_by.to_owned(),
            reasons,
            length_m: report.length_m,
            minutes: report.duration / MINUTE,
        });
    }
    let patrols_valid = patrol_outcomes.iter().filter(|p| p.valid).count();

    // Plans are server documents in every chief's scope; the admin's phone has them all.
    let (mut plans_issued, mut plan_tasks_done) = (0, 0);
    let admin = day.phone("admin")?;
    let listed = admin.store.list_open_tasks(usize::MAX)?;
    for listed in listed.iter().filter(|l| l.kind == DocKind::PatrolPlan) {
        let doc = admin.store.load_doc(listed.id)?;
        let plan = fieldloop_core::plan::fold_plan(&doc.snapshot()?)?;
        if plan.plan.is_some() {
            plans_issued += 1;
        }
        plan_tasks_done += plan.progress.iter().map(|w| w.patrols.len()).sum::<usize>();
    }

    let (units_ranked, evaluation_source) =
        evaluate_units(day, city, catalogue, calendar, case_ids, &[])?;
    Ok(Summary {
        day: day.opts.day.label(),
        day_number: day.opts.day.number,
        period: day.opts.day.period(),
        cases_reported: cases.len(),
        cases_closed,
        cases_reworked,
        reworked_then_closed,
        cases_overdue,
        cases,
        notices: 1,
        notices_closed,
        notice_status,
        patrols_invalid: patrol_outcomes.len() - patrols_valid,
        patrols_valid,
        patrols: patrol_outcomes,
        plans_issued,
        plan_tasks_done,
        units: units_ranked,
        evaluation_source,
        sync: day.sync_total.clone(),
        steps: day.steps,
        server_verdicts,
    })
}

fn status_word_of<T: Serialize>(status: &T) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether an open case is past its 处置 deadline at `now`, from its dispatch time and the
/// category's limit on the working calendar (used when the server wrote no overdue event).
fn overdue_by_calendar(
    state: &CaseState,
    catalogue: &Catalogue,
    calendar: &Calendar,
    now: Millis,
) -> Result<bool> {
    let (Some(dispatched), Some(category)) = (state.dispatched_at, state.category.as_deref())
    else {
        return Ok(false);
    };
    if state.status.is_final() || state.handled_at.is_some_and(|h| h >= dispatched) {
        return Ok(false);
    }
    let limits = catalogue.get_by_key(category)?.limits_for(state.urgency);
    let Some(step) = limits.steps.last() else {
        return Ok(false);
    };
    Ok(calendar.deadline(dispatched, &step.limit)?.due < now)
}

/// Units ranked by the server's evaluation when it answers `GET /v1/evaluation`, else by
/// `core::evaluation` over the cases the admin's phone synced.
fn evaluate_units(
    day: &mut Day<'_>,
    city: &City,
    catalogue: &Catalogue,
    calendar: &Calendar,
    case_ids: &[Uuid],
    patrols: &[PatrolState],
) -> Result<(Vec<UnitRow>, String)> {
    let period = day.opts.day.period();
    let admin = day.phone("admin")?;
    let path = format!("/v1/evaluation?period={period}");
    if let Some(json) = admin.link().get_json(&path)? {
        if let Ok(evaluation) = serde_json::from_value::<Evaluation>(json) {
            return Ok((evaluation.units, format!("server: GET {path}")));
        }
    }
    let mut cases = Vec::new();
    for id in case_ids {
        cases.push(admin.case(*id)?.snapshot()?);
    }
    let units: Vec<String> = city.units.iter().map(|u| u.id.to_owned()).collect();
    let grid = city.grid_index()?;
    let evaluation = evaluation::evaluate(&EvaluationInput {
        period: &period,
        cases: &cases,
        patrols,
        grid: &grid,
        catalogue,
        calendar,
        units: &units,
        verification_limit: DEFAULT_VERIFICATION_LIMIT,
        now: day.now,
    })?;
    Ok((
        evaluation.units,
        "core::evaluation over today's cases on the admin's phone (the server has no /v1/evaluation)"
            .into(),
    ))
}

impl Summary {
    /// The summary as the demo prints it: the day's own figures first, then the month's
    /// so far, each under its own heading.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "── summary of {} (day {} played on this data directory) ──",
            self.day, self.day_number
        ));
        line(format!("today, {}:", self.day));
        line(format!(
            "  cases: {} reported, {} closed, {} reworked ({} of them closed after rework), {} overdue",
            self.cases_reported,
            self.cases_closed,
            self.cases_reworked,
            self.reworked_then_closed,
            self.cases_overdue
        ));
        for c in &self.cases {
            line(format!(
                "    {} {} {:<16} {:<22} reworks {}{}{}",
                c.label,
                c.category,
                c.unit.as_deref().unwrap_or("-"),
                c.status,
                c.reworks,
                if c.overdue {
                    format!(", OVERDUE ({})", c.overdue_from.as_deref().unwrap_or(""))
                } else {
                    String::new()
                },
                if c.failed_checks.is_empty() {
                    String::new()
                } else {
                    format!("; failed: {}", c.failed_checks.join(" | "))
                }
            ));
        }
        if self.server_verdicts == 0 {
            line(
                "    (the server wrote no verdict today: verified cases wait for the referee)"
                    .into(),
            );
        }
        line(format!(
            "  notices: {} issued, {} closed (status {})",
            self.notices,
            self.notices_closed,
            self.notice_status.join(", ")
        ));
        line(format!(
            "  patrols: {} valid, {} invalid",
            self.patrols_valid, self.patrols_invalid
        ));
        for p in &self.patrols {
            line(format!(
                "    {} on {}: {} ({:.2} km, {} min; judged by {}){}",
                p.chief,
                p.segment,
                if p.valid { "valid" } else { "INVALID" },
                p.length_m / 1000.0,
                p.minutes,
                p.judged_by,
                if p.reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", p.reasons.join("; "))
                }
            ));
        }
        line(format!(
            "  sync: {} round trips, {} documents pushed, {} received, {} photos uploaded, {} rejected; {} steps",
            self.sync.round_trips,
            self.sync.pushed,
            self.sync.received,
            self.sync.photos_uploaded,
            self.sync.rejected,
            self.steps
        ));
        let days = if self.day_number == 1 {
            "1 day played".to_owned()
        } else {
            format!("{} days played", self.day_number)
        };
        line(format!(
            "month to date, {} ({days} on this data directory):",
            self.period
        ));
        line(format!(
            "  river patrol plans: {} pushed to the chiefs, {} plan task(s) done by valid patrols",
            self.plans_issued, self.plan_tasks_done
        ));
        let sum = |f: fn(&UnitRow) -> u32| self.units.iter().map(f).sum::<u32>();
        line(format!(
            "  cases due {}, closed {} ({} on time), reworked {}, overdue {}",
            sum(|u| u.due),
            sum(|u| u.closed),
            sum(|u| u.closed_on_time),
            sum(|u| u.rework),
            sum(|u| u.overdue)
        ));
        line(format!("  units ranked ({}):", self.evaluation_source));
        let percent =
            |r: Option<f64>| r.map_or("   -".to_owned(), |r| format!("{:5.1}%", r * 100.0));
        for u in &self.units {
            line(format!(
                "    {}. {:<18} 按期结案率 {}  结案率 {}  应结案 {} 结案 {} 按期 {} 返工 {} 超期 {}",
                u.rank,
                u.unit,
                percent(u.on_time_rate),
                percent(u.close_rate),
                u.due,
                u.closed,
                u.closed_on_time,
                u.rework,
                u.overdue
            ));
        }
        out
    }
}
