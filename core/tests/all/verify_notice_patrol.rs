//! Verdicts on rectification notices (all items confirmed → verdict + closed) and on
//! patrols (validity → verdict), on real documents.

use std::collections::BTreeMap;

use fieldloop_core::doc::{
    actor_for, Doc, DocKind, DocScope, Event, Evidence, EvidenceStage, Header, SCHEMA_VERSION,
};
use fieldloop_core::geo::{Fix, LatLon, PlausibilityLimits};
use fieldloop_core::notice::{fold_notice, NoticeStatus};
use fieldloop_core::patrol::{
    fold_events, PatrolEvent, PatrolKind, PatrolRequirement, PatrolState, PatrolVerdict, Started,
    TrackPoints,
};
use fieldloop_core::roles::Role;
use fieldloop_core::time::{Millis, HOUR, MINUTE, SECOND};
use fieldloop_core::verify::{
    verify_notice, verify_patrol, NoticeOutcome, PatrolTarget, UploadedPhoto,
};
use serde_json::{json, Value};
use uuid::Uuid;

const T0: Millis = 1_773_014_400_000; // 2026-03-09T00:00:00Z

struct Notice {
    doc: Doc,
    clock: Millis,
}

impl Notice {
    fn issued() -> Notice {
        let header = Header {
            id: Uuid::now_v7(),
            kind: DocKind::Notice,
            schema: SCHEMA_VERSION,
            created_by: "sup-1".into(),
            created_role: Role::Supervisor,
            created_at: T0,
            position: None,
            category: None,
            scope: DocScope {
                project: Some("P-001".into()),
                ..DocScope::default()
            },
        };
        let mut n = Notice {
            doc: Doc::create(&header, &actor_for(&Uuid::now_v7())).unwrap(),
            clock: T0,
        };
        n.push("notice.issued", "sup-1", Role::Supervisor, json!({
            "contractor": "con-9",
            "due": {"due": T0 + 72 * HOUR, "provisional": false},
            "items": [
                {"id": "WW-09", "clause": "WW-09", "finding": "no edge protection", "required_action": "设置临边防护", "severity": "serious"},
                {"id": "WW-10", "clause": "WW-10", "finding": "no warning lights", "required_action": "夜间设置警示灯", "severity": "serious"}
            ]
        }));
        n.push("notice.signed", "con-9", Role::Contractor, json!({}));
        n
    }

    fn push(&mut self, kind: &str, by: &str, role: Role, data: Value) {
        self.clock += HOUR;
        let event = Event {
            id: Uuid::now_v7(),
            kind: kind.into(),
            at: self.clock,
            by: by.into(),
            role,
            data,
        };
        self.doc.append_event(&event).unwrap();
    }

    fn reply(&mut self, item: &str, photo: &str) {
        self.doc
            .add_evidence(
                photo,
                &Evidence {
                    stage: EvidenceStage::After,
                    taken_at: self.clock + MINUTE,
                    position: None,
                    by: "con-9".into(),
                    phash: None,
                    item: Some(item.into()),
                    mock: false,
                    original_sha256: None,
                    exif: None,
                    seal: None,
                },
            )
            .unwrap();
        self.push(
            "notice.item_replied",
            "con-9",
            Role::Contractor,
            json!({"item": item, "photos": [photo]}),
        );
    }

    fn confirm(&mut self, item: &str) {
        self.push(
            "notice.item_confirmed",
            "sup-1",
            Role::Supervisor,
            json!({"item": item}),
        );
    }

    fn judge(&self, uploads: &BTreeMap<String, UploadedPhoto>) -> NoticeOutcome {
        verify_notice(&self.doc.snapshot().unwrap(), uploads).unwrap()
    }

    fn write(&mut self, outcome: &NoticeOutcome) {
        self.clock += HOUR;
        for event in outcome
            .events([Uuid::now_v7(), Uuid::now_v7()], self.clock, "server")
            .unwrap()
        {
            self.doc.append_event(&event).unwrap();
        }
    }
}

fn intact(hashes: &[&str]) -> BTreeMap<String, UploadedPhoto> {
    hashes
        .iter()
        .map(|h| {
            (
                h.to_string(),
                UploadedPhoto {
                    hash_matches: true,
                    decodable: true,
                    phash: None,
                },
            )
        })
        .collect()
}

#[test]
fn a_notice_is_judged_when_every_item_is_confirmed_and_closes() {
    let mut n = Notice::issued();
    n.reply("WW-09", "h1");
    n.confirm("WW-09");
    n.reply("WW-10", "h2");
    assert!(matches!(
        n.judge(&intact(&["h1", "h2"])),
        NoticeOutcome::NotReady { .. }
    ));
    n.confirm("WW-10");

    assert_eq!(
        n.judge(&intact(&["h1"])),
        NoticeOutcome::Waiting {
            missing: vec!["h2".into()]
        }
    );
    let outcome = n.judge(&intact(&["h1", "h2"]));
    match &outcome {
        NoticeOutcome::Judged { verdict, close } => {
            assert!(verdict.passed && *close);
            assert!(verdict.reasons[0].contains("all 2 items confirmed"));
        }
        other => panic!("{other:?}"),
    }
    n.write(&outcome);
    let state = fold_notice(&n.doc.snapshot().unwrap()).unwrap();
    assert!(state.ignored.is_empty(), "{:?}", state.ignored);
    assert_eq!(state.status, NoticeStatus::Closed);
    assert!(matches!(
        n.judge(&intact(&["h1", "h2"])),
        NoticeOutcome::NotReady { .. }
    ));
}

#[test]
fn a_damaged_reply_photo_fails_once_until_the_item_is_redone() {
    let mut n = Notice::issued();
    n.reply("WW-09", "h1");
    n.confirm("WW-09");
    n.reply("WW-10", "h2");
    n.confirm("WW-10");
    let mut uploads = intact(&["h1", "h2"]);
    uploads.get_mut("h2").unwrap().decodable = false;
    let outcome = n.judge(&uploads);
    match &outcome {
        NoticeOutcome::Judged { verdict, close } => {
            assert!(!verdict.passed && !*close);
            assert!(verdict
                .reasons
                .iter()
                .any(|r| r.contains("WW-10") && r.contains("readable")));
        }
        other => panic!("{other:?}"),
    }
    n.write(&outcome);
    assert_eq!(
        fold_notice(&n.doc.snapshot().unwrap()).unwrap().status,
        NoticeStatus::AllConfirmed
    );
    assert!(
        matches!(n.judge(&uploads), NoticeOutcome::NotReady { ref reason } if reason.contains("already")),
        "the same round is not judged twice"
    );

    n.push(
        "notice.item_rejected",
        "sup-1",
        Role::Supervisor,
        json!({"item": "WW-10", "reason": "照片无法打开"}),
    );
    n.reply("WW-10", "h3");
    n.confirm("WW-10");
    let outcome = n.judge(&intact(&["h1", "h3"]));
    assert!(
        matches!(outcome, NoticeOutcome::Judged { close: true, .. }),
        "{outcome:?}"
    );
}

/// A line 1.5 km due east; fixes walk `metres` of it 15 m off, 1.2 m/s, one per 5 s.
fn segment() -> Vec<LatLon> {
    let m_per_deg_lon = 111_195.0 * 23.2f64.to_radians().cos();
    (0..=15)
        .map(|i| LatLon {
            lat: 23.20,
            lon: 113.28 + i as f64 * 100.0 / m_per_deg_lon,
        })
        .collect()
}

fn walk(t0: Millis, metres: f64) -> Vec<Fix> {
    let lat: f64 = 23.20 + 15.0 / 111_195.0;
    let m_per_deg_lon = 111_195.0 * lat.to_radians().cos();
    (0..=(metres / 6.0) as i64)
        .map(|i| Fix {
            t: t0 + i * 5 * SECOND,
            lat,
            lon: 113.28 + (i as f64 * 6.0) / m_per_deg_lon,
            accuracy_m: 6.0,
            mock: false,
        })
        .collect()
}

fn patrol(kind: PatrolKind, fixes: Vec<Fix>, ended: bool) -> PatrolState {
    let (by, role) = match kind {
        PatrolKind::River => ("chief-li", Role::RiverChief),
        PatrolKind::Grid => ("inspector-wang", Role::Inspector),
    };
    let ev = |e: PatrolEvent, at| e.to_event(Uuid::now_v7(), at, by, role).unwrap();
    let end = fixes.iter().map(|f| f.t).max().unwrap_or(T0) + SECOND;
    let mut events = vec![
        ev(
            PatrolEvent::Started(Started {
                kind,
                assigned_cells: if kind == PatrolKind::Grid {
                    vec!["440106001001001".into()]
                } else {
                    vec![]
                },
                segment: (kind == PatrolKind::River).then(|| "GZ-03".into()),
            }),
            T0,
        ),
        ev(
            PatrolEvent::TrackPoints(TrackPoints { fixes }),
            end - SECOND,
        ),
    ];
    if ended {
        events.push(ev(PatrolEvent::Ended, end));
    }
    fold_events(&events)
}

#[test]
fn a_river_patrol_long_enough_is_valid_and_a_short_one_is_not() {
    let line = segment();
    let requirement = PatrolRequirement::default();
    let long = patrol(PatrolKind::River, walk(T0 + SECOND, 1_500.0), true);
    let target = PatrolTarget::River {
        segment: &line,
        requirement: &requirement,
    };
    let verdict = verify_patrol(&long, target).unwrap();
    assert_eq!(
        verdict,
        PatrolVerdict {
            valid: true,
            reasons: vec![]
        }
    );

    let short = patrol(PatrolKind::River, walk(T0 + SECOND, 300.0), true);
    let verdict = verify_patrol(&short, target).unwrap();
    assert!(!verdict.valid);
    assert!(
        verdict.reasons.iter().any(|r| r.contains("km")),
        "{:?}",
        verdict.reasons
    );
    assert!(
        verdict.reasons.iter().any(|r| r.contains("min")),
        "{:?}",
        verdict.reasons
    );
}

#[test]
fn a_grid_patrol_counts_when_its_track_is_plausible() {
    let limits = PlausibilityLimits::default();
    let target = PatrolTarget::Grid { limits: &limits };
    let plausible = patrol(PatrolKind::Grid, walk(T0 + SECOND, 600.0), true);
    assert!(verify_patrol(&plausible, target).unwrap().valid);

    let mut fixes = walk(T0 + SECOND, 600.0);
    let last = fixes.len() - 1;
    fixes[last].lon += 0.05; // 5 km in 5 s
    let teleport = patrol(PatrolKind::Grid, fixes, true);
    let verdict = verify_patrol(&teleport, target).unwrap();
    assert!(!verdict.valid);
    assert!(
        verdict.reasons.iter().any(|r| r.contains("km/h")),
        "{:?}",
        verdict.reasons
    );

    // A river patrol judged as a grid patrol is not valid either.
    let river = patrol(PatrolKind::River, walk(T0 + SECOND, 600.0), true);
    assert!(!verify_patrol(&river, target).unwrap().valid);
}

#[test]
fn only_an_ended_patrol_without_a_verdict_is_judged() {
    let limits = PlausibilityLimits::default();
    let target = PatrolTarget::Grid { limits: &limits };
    let running = patrol(PatrolKind::Grid, walk(T0 + SECOND, 600.0), false);
    assert!(verify_patrol(&running, target).is_err());
    let mut judged = patrol(PatrolKind::Grid, walk(T0 + SECOND, 600.0), true);
    judged.verdict = Some(PatrolVerdict {
        valid: true,
        reasons: vec![],
    });
    assert!(verify_patrol(&judged, target).is_err());
}
