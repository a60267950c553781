//! §4 Verification throughput: the referee's case verdict (`verify_case`, the function the
//! server calls) on prepared inputs, one thread. Photo decoding is excluded: the uploads
//! map carries what the server computed on arrival (hash match, decodable, pHash).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fieldloop_core::case::events::{Dispatched, Empty, Handled, Registered, VerificationSubmitted};
use fieldloop_core::case::{CaseDoc, CaseEvent};
use fieldloop_core::catalogue::Catalogue;
use fieldloop_core::doc::{actor_for, Evidence, EvidenceStage, Position};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::sla::Calendar;
use fieldloop_core::store::sha256_hex;
use fieldloop_core::time::{Millis, MINUTE};
use fieldloop_core::verify::{
    verify_case, Arrivals, CaseVerification, Outcome, ReuseIndex, UploadedPhoto, VerifyPolicy,
};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{setup, Result};
use crate::fleet::{grid_cell, T0, UNIT};

#[derive(Debug, Clone, Serialize)]
pub struct VerdictFigures {
    /// verify_case on a prepared snapshot.
    pub verdicts_per_s: f64,
    /// The same plus reading the snapshot out of the automerge document each time.
    pub verdicts_per_s_from_doc: f64,
    pub checks_per_verdict: usize,
    pub passed: bool,
}

fn person(id: &str, role: Role, jurisdiction: Jurisdiction) -> Principal {
    Principal {
        user_id: id.into(),
        role,
        jurisdiction,
    }
}

fn photo(by: &Principal, stage: EvidenceStage, at: Millis) -> Evidence {
    let position = Position {
        lat: 39.9219,
        lon: 116.4436,
        accuracy_m: 8.0,
    };
    Evidence::new(stage, at, Some(position), &by.user_id)
}

/// A case walked through its life to a submitted verification, with the server's inputs.
struct Prepared {
    case: CaseDoc,
    uploads: BTreeMap<String, UploadedPhoto>,
    arrivals: Arrivals,
    people: BTreeMap<String, Principal>,
    now: Millis,
}

fn prepare() -> Result<Prepared> {
    let grid = |p: &str| Jurisdiction {
        grid_prefixes: vec![p.into()],
        ..Jurisdiction::default()
    };
    let inspector = person("inspector-li", Role::Inspector, grid("110105001002"));
    let dispatcher = person("dispatcher-zhao", Role::Dispatcher, grid("110105001"));
    let handler = person(
        "handler-chen",
        Role::Handler,
        Jurisdiction {
            units: vec![UNIT.into()],
            ..Jurisdiction::default()
        },
    );
    let mut device = crate::fleet::loose_case(&inspector, &grid_cell(0), 19, T0)?;
    let at = |m: i64| T0 + m * MINUTE;
    let mut arrivals = Arrivals::default();
    let mut step = |case: &mut CaseDoc, who: &Principal, event: CaseEvent, m: i64| -> Result<()> {
        let e = case.append(who, &event, Uuid::now_v7(), at(m))?;
        arrivals.events.insert(e.id, at(m + 1));
        Ok(())
    };
    step(
        &mut device,
        &dispatcher,
        CaseEvent::Registered(Registered::default()),
        10,
    )?;
    let dispatched = CaseEvent::Dispatched(Dispatched {
        unit: UNIT.into(),
        note: None,
    });
    step(&mut device, &dispatcher, dispatched, 20)?;
    step(&mut device, &handler, CaseEvent::Accepted(Empty {}), 30)?;
    let after = sha256_hex(b"after photo");
    device.add_evidence(
        &handler,
        &after,
        &photo(&handler, EvidenceStage::After, at(60)),
    )?;
    let handled = CaseEvent::Handled(Handled {
        note: Some("清理完毕".into()),
        photos: vec![after.clone()],
    });
    step(&mut device, &handler, handled, 61)?;
    let check = sha256_hex(b"verification photo");
    device.add_evidence(
        &inspector,
        &check,
        &photo(&inspector, EvidenceStage::Verification, at(90)),
    )?;
    let verification = CaseEvent::VerificationSubmitted(VerificationSubmitted {
        fixed: true,
        note: None,
        photos: vec![check.clone()],
    });
    step(&mut device, &inspector, verification, 91)?;
    let snapshot = device.snapshot()?;
    let mut uploads = BTreeMap::new();
    for (i, (hash, evidence)) in snapshot.evidence.iter().enumerate() {
        arrivals
            .evidence
            .insert(hash.clone(), evidence.taken_at + MINUTE);
        uploads.insert(
            hash.clone(),
            UploadedPhoto {
                hash_matches: true,
                decodable: true,
                // Far apart: three different pictures.
                phash: Some(0x0123_4567_89ab_cdef_u64.rotate_left(21 * i as u32)),
            },
        );
    }
    let people = [inspector, dispatcher, handler]
        .into_iter()
        .map(|p| (p.user_id.clone(), p))
        .collect();
    Ok(Prepared {
        case: device,
        uploads,
        arrivals,
        people,
        now: at(100),
    })
}

pub fn run(seconds: f64) -> Result<VerdictFigures> {
    let mut prepared = prepare()?;
    let catalogue = Catalogue::builtin()?;
    let calendar = Calendar::bundled()?;
    let reuse = ReuseIndex::default();
    let policy = VerifyPolicy::default();
    let snapshot = prepared.case.snapshot()?;
    let judge = |snapshot: &fieldloop_core::doc::Snapshot| {
        verify_case(&CaseVerification {
            snapshot,
            catalogue: &catalogue,
            calendar: &calendar,
            uploads: &prepared.uploads,
            arrivals: &prepared.arrivals,
            reuse: &reuse,
            people: Some(&prepared.people),
            policy: &policy,
            now: prepared.now,
            grid: None,
            // Signature checks (ed25519, issue 9 §8) are not in this figure yet.
            custody: None,
        })
    };
    let outcome = judge(&snapshot)?;
    let Outcome::Judged { verdict } = outcome else {
        return Err(setup(format!(
            "the prepared case is not judged: {outcome:?}"
        )));
    };
    let budget = Duration::from_secs_f64(seconds);
    let count = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget {
            for _ in 0..100 {
                f()?;
            }
            n += 100;
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    };
    let prepared_rate = count(&mut || {
        std::hint::black_box(judge(std::hint::black_box(&snapshot))?);
        Ok(())
    })?;
    let doc = prepared.case.doc_mut();
    let bytes = doc.save();
    let loaded = fieldloop_core::doc::Doc::load(&bytes, &actor_for(&Uuid::nil()))?;
    let from_doc_rate = count(&mut || {
        let snapshot = loaded.snapshot()?;
        std::hint::black_box(judge(&snapshot)?);
        Ok(())
    })?;
    Ok(VerdictFigures {
        verdicts_per_s: prepared_rate.round(),
        verdicts_per_s_from_doc: from_doc_rate.round(),
        checks_per_verdict: verdict.checks.len(),
        passed: verdict.passed(),
    })
}
