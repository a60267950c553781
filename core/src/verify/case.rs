//! The verdict on a case whose verification was submitted.
//!
//! The photos judged are the current round's: every before-photo, the after-photos of
//! the latest handling (or of the latest 自查自纠) and the photos of the latest
//! verification. Checks, each passed or failed with a reason a person can read:
//!
//! - **evidence**: before (if the policy requires it), after and verification photos
//!   present, each in the evidence map with the stage it is used for;
//! - **uploads**: every referenced photo received, content hash matching, decodable
//!   (one not received yet makes the whole outcome [`Outcome::Waiting`]);
//! - **place**: each after and verification photo within the category's radius of the
//!   case position, GPS accuracy allowed for as in [`crate::geo::radius`];
//! - **time**: after-photos taken after the round started (the latest dispatch or
//!   rework; for 自查自纠, after the before-photos), verification photos after the
//!   after-photos, no photo in the future;
//! - **clock**: for this round's events and photos, the device's claimed time at most
//!   `max_clock_ahead` after the server received it and at most `max_upload_delay`
//!   before;
//! - **people**: the verifier is not the handler (the referee is not the player), and
//!   when the server passes its people, each acted in a role and jurisdiction that
//!   allows it. **Rule for 自查自纠**: the inspector who fixed it on the spot may verify
//!   it; the independent referee is then the server itself, whose place, time and reuse
//!   checks still apply (an after-photo that is the before-photo again fails);
//! - **reuse**: no after or verification photo is perceptually the before-photo
//!   (Hamming ≤ `max_phash_distance`), is evidence in another case, or is perceptually
//!   one of another case's photos;
//! - **workflow**: the inspector judged it fixed, no extension request pending, not
//!   suspended;
//! - **deadline**: handled on time or late, recorded for the evaluation, never a failure;
//! - **signature** (server only): each photo's record signed by a registered, unrevoked
//!   device of its author, for this case, over the very file the server holds
//!   (see [`super::custody`]);
//! - **exif**: the photo's own EXIF time and GPS agree with what the phone claims
//!   (see [`super::exif`]).

use std::collections::{BTreeMap, BTreeSet};

use super::custody::{signature_check, CustodyFacts};
use super::exif::exif_check;
use super::{checks, hamming, short, Arrivals, Outcome, ReuseIndex, UploadedPhoto, VerifyPolicy};
use crate::case::events::Reason;
use crate::case::{fold, CaseEvent, CaseState, CaseStatus, Check, Verdict};
use crate::catalogue::Catalogue;
use crate::doc::{EvidenceStage, Snapshot};
use crate::error::{Error, Result};
use crate::geo::{within_radius, GridIndex, LatLon};
use crate::roles::{Principal, Role, ScopeCheck};
use crate::schedule::case_clock;
use crate::sla::Calendar;
use crate::time::{Millis, MINUTE};

/// Everything a case verdict is computed from. On the phone, before leaving the site:
/// every photo stored on the device counts as received, `arrivals` is empty and `people`
/// none; the server fills all three.
pub struct CaseVerification<'a> {
    pub snapshot: &'a Snapshot,
    pub catalogue: &'a Catalogue,
    pub calendar: &'a Calendar,
    /// Photos received, by content hash.
    pub uploads: &'a BTreeMap<String, UploadedPhoto>,
    pub arrivals: &'a Arrivals,
    pub reuse: &'a ReuseIndex,
    /// The people as the server knows them, for the role and jurisdiction check; none on
    /// the phone, which does not know the others' jurisdictions (the check says so).
    pub people: Option<&'a BTreeMap<String, Principal>>,
    pub policy: &'a VerifyPolicy,
    pub now: Millis,
    /// The deployment's grid cells, when known: the case's position must lie in the cell
    /// it claims.
    pub grid: Option<&'a GridIndex>,
    /// Registered device keys and the stored files' hashes, for the signature check;
    /// none on the phone, which does not know the other devices' keys (no such check).
    pub custody: Option<&'a CustodyFacts>,
}

/// The photos and events of the round being judged.
#[derive(Default)]
struct Round {
    before: BTreeSet<String>,
    after: Vec<String>,
    verification: Vec<String>,
    fixed: bool,
    /// The handled / self_fixed event and the verification event.
    events: Vec<(uuid::Uuid, Millis)>,
    handled_event: Option<(uuid::Uuid, Millis)>,
    verification_event: Option<(uuid::Uuid, Millis)>,
    last_rework: Option<Millis>,
}

fn round(snapshot: &Snapshot, state: &CaseState) -> Round {
    let mut r = Round {
        before: snapshot
            .evidence
            .iter()
            .filter(|(_, e)| e.stage == EvidenceStage::Before)
            .map(|(h, _)| h.clone())
            .collect(),
        ..Round::default()
    };
    for event in &snapshot.events {
        if state.is_ignored(event.id) {
            continue;
        }
        let Ok(typed) = CaseEvent::from_event(event) else {
            continue;
        };
        match typed {
            CaseEvent::Reported(rep) => r.before.extend(rep.photos),
            CaseEvent::SelfFixed(f) => {
                r.before.extend(f.before);
                r.after = f.after;
                r.handled_event = Some((event.id, event.at));
            }
            CaseEvent::Handled(h) => {
                r.after = h.photos;
                r.handled_event = Some((event.id, event.at));
            }
            CaseEvent::VerificationSubmitted(v) => {
                r.verification = v.photos;
                r.fixed = v.fixed;
                r.verification_event = Some((event.id, event.at));
            }
            CaseEvent::Rework(_) => r.last_rework = Some(event.at),
            _ => {}
        }
    }
    r.events = r
        .handled_event
        .into_iter()
        .chain(r.verification_event)
        .collect();
    r
}

fn check(name: &str, problems: Vec<String>, ok: String) -> Check {
    if problems.is_empty() {
        Check {
            name: name.to_string(),
            passed: true,
            reason: ok,
        }
    } else {
        Check {
            name: name.to_string(),
            passed: false,
            reason: problems.join("; "),
        }
    }
}

fn duration_words(ms: Millis) -> String {
    // Device-supplied times may be anything: `unsigned_abs` has no overflow at i64::MIN.
    let minutes = ms.unsigned_abs() / MINUTE as u64;
    if minutes >= 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else {
        format!("{minutes} min")
    }
}

/// Judges a case whose verification was submitted. An error means only that there is
/// nothing to judge (no verification submitted); whatever the case itself holds (a
/// category the catalogue lacks, times outside the calendar, absurd clocks) becomes a
/// failed check with its reason, never a verdict that does not come.
pub fn verify_case(input: &CaseVerification<'_>) -> Result<Outcome> {
    let snapshot = input.snapshot;
    let state = fold(snapshot);
    if state.status != CaseStatus::VerificationSubmitted {
        return Err(Error::invalid(
            "verification",
            format!(
                "case {} is {:?}: nothing to judge until a verification is submitted",
                state.id, state.status
            ),
        ));
    }
    // The radius comes from the category; without one the place check cannot pass.
    let radius_m: std::result::Result<f64, String> = match state.category.as_deref() {
        None => Err("案件没有类别，无法确定核实半径".to_string()),
        Some(key) => input
            .catalogue
            .get_by_key(key)
            .map(|c| c.radius_m)
            .map_err(|_| format!("案件类别 {key} 不在类目目录中，无法确定核实半径")),
    };
    let r = round(snapshot, &state);
    let policy = input.policy;

    let referenced: BTreeSet<&String> = r
        .before
        .iter()
        .chain(&r.after)
        .chain(&r.verification)
        .collect();
    let missing: Vec<String> = referenced
        .iter()
        .filter(|h| !input.uploads.contains_key(h.as_str()))
        .map(|h| h.to_string())
        .collect();
    if !missing.is_empty() {
        return Ok(Outcome::Waiting { missing });
    }

    let stage_photos: [(&str, EvidenceStage, Vec<&String>); 3] = [
        ("before", EvidenceStage::Before, r.before.iter().collect()),
        ("after", EvidenceStage::After, r.after.iter().collect()),
        (
            "verification",
            EvidenceStage::Verification,
            r.verification.iter().collect(),
        ),
    ];
    let judged: Vec<(&str, &String)> = stage_photos[1..]
        .iter()
        .flat_map(|(label, _, hashes)| hashes.iter().map(move |h| (*label, *h)))
        .collect();

    let mut out = Vec::with_capacity(11);

    // evidence
    let mut problems = Vec::new();
    for (label, stage, hashes) in &stage_photos {
        if hashes.is_empty() && (*stage != EvidenceStage::Before || policy.require_before) {
            problems.push(format!("no {label} photo"));
        }
        for h in hashes {
            match snapshot.evidence.get(h.as_str()) {
                Some(e) if e.stage == *stage => {}
                Some(e) => problems.push(format!(
                    "{label} photo {} is recorded as {:?} evidence",
                    short(h),
                    e.stage
                )),
                None => problems.push(format!(
                    "{label} photo {} is not in the evidence map",
                    short(h)
                )),
            }
        }
    }
    out.push(check(
        checks::EVIDENCE,
        problems,
        format!(
            "{} before, {} after and {} verification photos",
            r.before.len(),
            r.after.len(),
            r.verification.len()
        ),
    ));

    // uploads
    let mut problems = Vec::new();
    for h in &referenced {
        if let Some(u) = input.uploads.get(h.as_str()) {
            if !u.hash_matches {
                problems.push(format!(
                    "照片 {}：服务器收到的文件与其内容地址不符 (the received file does not match its address)",
                    short(h)
                ));
            }
            if !u.decodable {
                problems.push(format!(
                    "照片 {}：文件不是可读的图片 (not a readable image)",
                    short(h)
                ));
            }
        }
    }
    out.push(check(
        checks::UPLOADS,
        problems,
        format!("all {} photos received intact", referenced.len()),
    ));

    // signature and exif, over every photo of the round
    let all_photos: Vec<(&str, &str)> = stage_photos
        .iter()
        .flat_map(|(label, _, hashes)| hashes.iter().map(move |h| (*label, h.as_str())))
        .collect();
    if let Some(custody) = input.custody {
        out.push(signature_check(snapshot, &all_photos, custody));
    }
    out.push(exif_check(snapshot, &all_photos, policy));

    // place
    let mut problems = Vec::new();
    let mut farthest: f64 = 0.0;
    match (snapshot.header.position, &radius_m) {
        (_, Err(why)) => problems.push(why.clone()),
        (None, _) => problems.push("the case has no position to compare photos with".to_string()),
        (Some(case_at), Ok(radius_m)) => {
            for (label, h) in &judged {
                if snapshot.evidence.get(h.as_str()).is_some_and(|e| e.mock) {
                    problems.push(format!(
                        "{label} 照片 {} 的位置来自模拟定位应用，不能证明拍摄地点 (mock location)",
                        short(h)
                    ));
                    continue;
                }
                let Some(at) = snapshot.evidence.get(h.as_str()).and_then(|e| e.position) else {
                    problems.push(format!("{label} photo {} has no GPS position", short(h)));
                    continue;
                };
                match within_radius(&at, &case_at, *radius_m, &policy.accuracy) {
                    Ok(c) if c.within => farthest = farthest.max(c.distance_m),
                    Ok(c) => problems.push(format!("{label} photo {}: {}", short(h), c.message())),
                    Err(e) => problems.push(format!("{label} photo {}: {e}", short(h))),
                }
            }
        }
    }
    if let (Some(grid), Some(at)) = (input.grid, snapshot.header.position) {
        problems.extend(grid_cell_problem(
            grid,
            at,
            snapshot.header.scope.grid_cell.as_deref(),
        ));
    }
    out.push(check(
        checks::PLACE,
        problems,
        format!(
            "{} photos within {:.0} m of the case (farthest {:.0} m)",
            judged.len(),
            radius_m.as_ref().copied().unwrap_or_default(),
            farthest
        ),
    ));

    // time
    let mut problems = Vec::new();
    let taken = |h: &str| snapshot.evidence.get(h).map(|e| e.taken_at);
    let base = if state.self_fixed {
        (
            "the before-photos",
            r.before.iter().filter_map(|h| taken(h)).max(),
        )
    } else {
        ("dispatch", state.dispatched_at)
    };
    let (start_label, round_start) = match (base, r.last_rework) {
        ((_, Some(b)), Some(rw)) if rw > b => ("the rework order", rw),
        ((_, None), Some(rw)) => ("the rework order", rw),
        ((label, Some(b)), _) => (label, b),
        ((label, None), None) => {
            problems.push(format!("the round has no start ({label} unknown)"));
            (label, Millis::MIN)
        }
    };
    for h in &r.after {
        if let Some(t) = taken(h) {
            if t < round_start {
                problems.push(format!(
                    "after photo {} was taken {} before {start_label}",
                    short(h),
                    duration_words(round_start.saturating_sub(t))
                ));
            }
        }
    }
    let after_done = r.after.iter().filter_map(|h| taken(h)).max();
    let verification_start = after_done.unwrap_or(round_start).max(round_start);
    for h in &r.verification {
        if let Some(t) = taken(h) {
            if t < verification_start {
                problems.push(format!(
                    "verification photo {} was taken {} before the fix it verifies",
                    short(h),
                    duration_words(verification_start.saturating_sub(t))
                ));
            }
        }
    }
    for h in &referenced {
        if let Some(t) = taken(h) {
            if t > input.now.saturating_add(policy.max_clock_ahead) {
                problems.push(format!(
                    "photo {} claims to be taken {} in the future",
                    short(h),
                    duration_words(t.saturating_sub(input.now))
                ));
            }
        }
    }
    out.push(check(
        checks::TIME,
        problems,
        format!("after-photos taken after {start_label}, verification after the fix, none in the future"),
    ));

    // clock
    let mut problems = Vec::new();
    let mut compared = 0;
    let mut judge_skew = |what: String, claimed: Millis, arrived: Millis| {
        compared += 1;
        let ahead = claimed.saturating_sub(arrived);
        let behind = arrived.saturating_sub(claimed);
        if ahead > policy.max_clock_ahead {
            problems.push(format!(
                "{what} claims a time {} after the server received it: the device clock runs ahead",
                duration_words(ahead)
            ));
        } else if behind > policy.max_upload_delay {
            problems.push(format!(
                "{what} reached the server {} after its claimed time (more than {} h offline): the device clock is suspect",
                duration_words(behind),
                policy.max_upload_delay / (60 * MINUTE)
            ));
        }
    };
    for (id, at) in &r.events {
        if let Some(arrived) = input.arrivals.events.get(id) {
            judge_skew(format!("event {}", short(&id.to_string())), *at, *arrived);
        }
    }
    for (_, h) in &judged {
        if let (Some(t), Some(arrived)) = (taken(h), input.arrivals.evidence.get(h.as_str())) {
            judge_skew(format!("photo {}", short(h)), t, *arrived);
        }
    }
    let clock_ok = if compared == 0 {
        "no arrival times to compare yet (the server checks on arrival)".to_string()
    } else {
        format!("{compared} device times agree with their arrival at the server")
    };
    out.push(check(checks::CLOCK, problems, clock_ok));

    // people
    out.push(people_check(input, &state));

    // reuse
    let mut problems = Vec::new();
    let phash_of = |h: &str| {
        input
            .uploads
            .get(h)
            .and_then(|u| u.phash)
            .or_else(|| snapshot.evidence.get(h).and_then(|e| e.phash))
    };
    let before_phashes: Vec<(&String, u64)> = r
        .before
        .iter()
        .filter_map(|h| phash_of(h).map(|p| (h, p)))
        .collect();
    for (label, h) in &judged {
        if let Some(others) = input.reuse.cases_by_hash.get(h.as_str()) {
            let others: Vec<String> = others
                .iter()
                .filter(|c| **c != state.id)
                .map(|c| c.to_string())
                .collect();
            if !others.is_empty() {
                problems.push(format!(
                    "{label} photo {} is already evidence in case {}",
                    short(h),
                    others.join(", ")
                ));
            }
        }
        let Some(p) = phash_of(h) else {
            problems.push(format!(
                "{label} photo {} has no perceptual hash to compare",
                short(h)
            ));
            continue;
        };
        for (before, q) in &before_phashes {
            let d = hamming(p, *q);
            if d <= policy.max_phash_distance {
                problems.push(format!(
                    "{label} photo {} is the before-photo {} again (differs in {d} of 64 bits)",
                    short(h),
                    short(before)
                ));
            }
        }
        if let Some(copy) = input.reuse.phashes.iter().find(|o| {
            o.case_id != state.id
                && o.hash != **h
                && hamming(p, o.phash) <= policy.max_phash_distance
        }) {
            problems.push(format!(
                "{label} photo {} looks like photo {} of case {} (differs in {} of 64 bits)",
                short(h),
                short(&copy.hash),
                copy.case_id,
                hamming(p, copy.phash)
            ));
        }
    }
    out.push(check(
        checks::REUSE,
        problems,
        format!(
            "{} photos are new: not the before-photo, not used in another case",
            judged.len()
        ),
    ));

    // workflow
    let mut problems = Vec::new();
    if !r.fixed {
        problems.push("the inspector found the problem not fixed".to_string());
    }
    if state.pending_extension.is_some() {
        problems.push("an extension request is still pending".to_string());
    }
    if state.is_suspended() {
        problems.push("the case is suspended".to_string());
    }
    out.push(check(
        checks::WORKFLOW,
        problems,
        "the inspector confirmed the fix; nothing pending".to_string(),
    ));

    // deadline
    out.push(deadline_check(input, &state));

    Ok(Outcome::Judged {
        verdict: Verdict { checks: out },
    })
}

fn people_check(input: &CaseVerification<'_>, state: &CaseState) -> Check {
    let mut problems = Vec::new();
    let verifier = state.verifier.as_deref().unwrap_or("");
    let handler = state.handler.as_deref().unwrap_or("");
    if !state.self_fixed && verifier == handler {
        problems.push(format!(
            "{verifier} both handled and verified the case: the referee may not be the player"
        ));
    }
    let scope = state.scope(&input.snapshot.header);
    // Roles are the ones logged: the fold applies only events the permission table allows
    // for their logged role, and the server checked each against the author's post when it
    // arrived. Someone who has moved post since did nothing wrong: noted, not failed.
    let mut notes = Vec::new();
    let mut need = |who: &str, what: &str, role: Role, check: ScopeCheck| {
        let Some(people) = input.people else {
            return;
        };
        match people.get(who) {
            None => problems.push(format!("{what} {who} is not a known user")),
            Some(p) if p.role != role || !p.jurisdiction.covers(check, &scope) => notes.push(
                format!("{what} {who} has moved post since (now {})", p.role),
            ),
            Some(_) => {}
        }
    };
    need(verifier, "verifier", Role::Inspector, ScopeCheck::GridCell);
    if state.self_fixed {
        need(
            handler,
            "自查自纠 inspector",
            Role::Inspector,
            ScopeCheck::GridCell,
        );
    } else {
        need(handler, "handler", Role::Handler, ScopeCheck::Unit);
    }
    let mut roles_note = if input.people.is_some() {
        "roles and jurisdictions as accepted".to_owned()
    } else {
        "roles as logged; jurisdictions are checked by the server".to_owned()
    };
    if !notes.is_empty() {
        roles_note = format!("{roles_note}; {}", notes.join("; "));
    }
    let ok = if state.self_fixed {
        format!("自查自纠 by {handler}, verified by {verifier}; {roles_note}")
    } else {
        format!("handled by {handler}, verified by {verifier}; {roles_note}")
    };
    check(checks::PEOPLE, problems, ok)
}

/// Never an error: a deadline the rules cannot compute (a category without limits, times
/// outside the calendar's 1990–2199) fails this check with the reason instead.
fn deadline_check(input: &CaseVerification<'_>, state: &CaseState) -> Check {
    match deadline_reason(input, state) {
        Ok(reason) => Check {
            name: checks::DEADLINE.to_string(),
            passed: true,
            reason,
        },
        Err(e) => Check {
            name: checks::DEADLINE.to_string(),
            passed: false,
            reason: format!("无法计算处置时限：{e}"),
        },
    }
}

fn deadline_reason(input: &CaseVerification<'_>, state: &CaseState) -> Result<String> {
    Ok(if state.self_fixed {
        "自查自纠 on the spot: no unit deadline".to_string()
    } else {
        let handled = state.handled_at.unwrap_or(input.now);
        match case_clock(state, input.catalogue, input.calendar, handled)? {
            None => "not dispatched: no deadline".to_string(),
            Some(clock) => {
                let due = input.calendar.due(&clock)?;
                let provisional = if due.provisional {
                    " (provisional calendar)"
                } else {
                    ""
                };
                if handled <= due.due {
                    format!(
                        "handled on time, {} before the deadline{provisional}",
                        duration_words(due.due.saturating_sub(handled))
                    )
                } else {
                    format!(
                        "handled {} after the deadline (超期), recorded for the evaluation{provisional}",
                        duration_words(handled.saturating_sub(due.due))
                    )
                }
            }
        }
    })
}

/// The events the server writes for a verdict: the verdict, then closed when it passed
/// or rework with the failed checks' reasons.
pub fn case_verdict_events(verdict: Verdict) -> Vec<CaseEvent> {
    let follow = if verdict.passed() {
        CaseEvent::Closed(Default::default())
    } else {
        let failed: Vec<String> = verdict
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.reason))
            .collect();
        let reason = if failed.is_empty() {
            "the verdict has no checks".to_string()
        } else {
            failed.join(" | ")
        };
        CaseEvent::Rework(Reason { reason })
    };
    vec![CaseEvent::Verdict(verdict), follow]
}

/// Whether the case's position lies in the grid cell it claims, as a problem when not.
fn grid_cell_problem(
    grid: &GridIndex,
    at: crate::doc::Position,
    claimed: Option<&str>,
) -> Option<String> {
    let found =
        LatLon::new(at.lat, at.lon).and_then(|p| grid.cell_at(p).map(|c| c.map(str::to_owned)));
    match (found, claimed) {
        (Err(e), _) => Some(format!("案件位置无效 (the case position is invalid): {e}")),
        (Ok(Some(cell)), Some(claimed)) if cell == claimed => None,
        (Ok(Some(cell)), claimed) => Some(format!(
            "案件位置在网格 {cell} 内，不在所报网格 {} 内 (the case lies outside the cell it claims)",
            claimed.unwrap_or("(无)")
        )),
        (Ok(None), claimed) => Some(format!(
            "案件位置不在任何已知网格内，所报网格为 {} (the case lies outside every known cell)",
            claimed.unwrap_or("(无)")
        )),
    }
}
