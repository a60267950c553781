//! Rectification notices as a city runs them (issue 9 §4): only the contractor named on
//! the notice signs and replies; the deadline's 预警 / 超期 are due like a case's; reply
//! photos get the place, time and reuse checks case photos get.

use std::collections::BTreeMap;

use fieldloop_core::doc::{
    actor_for, Doc, DocKind, DocScope, Event, Evidence, EvidenceStage, Header, Position, Snapshot,
    SCHEMA_VERSION,
};
use fieldloop_core::notice::{fold_notice, NoticeStatus};
use fieldloop_core::roles::{all_rules, Jurisdiction, Principal, Role};
use fieldloop_core::rules::validate_update;
use fieldloop_core::schedule::due_notice_warnings;
use fieldloop_core::sla::{Band, Calendar, SlaPolicy};
use fieldloop_core::time::{Millis, DAY, HOUR, MINUTE};
use fieldloop_core::verify::{
    verify_notice_with, CustodyFacts, NoticeEvidence, NoticeOutcome, ReuseIndex, UploadedPhoto,
    VerifyPolicy, NOTICE_RADIUS_M,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// 2026-11-23 09:00 Beijing time, a Monday.
const T0: Millis = 1_795_395_600_000;
const SITE: Position = Position {
    lat: 30.2741,
    lon: 120.1551,
    accuracy_m: 5.0,
};

struct Notice {
    doc: Doc,
    clock: Millis,
}

impl Notice {
    /// Issued by sup-1 to con-9 with two items, due in three working days (Thursday).
    fn issued() -> Notice {
        let header = Header {
            id: Uuid::now_v7(),
            kind: DocKind::Notice,
            schema: SCHEMA_VERSION,
            created_by: "sup-1".into(),
            created_role: Role::Supervisor,
            created_at: T0,
            position: Some(SITE),
            category: None,
            scope: DocScope {
                project: Some("P-001".into()),
                ..DocScope::default()
            },
        };
        let mut n = Notice {
            doc: Doc::create(&header, &actor_for(&Uuid::now_v7())).unwrap(),
            clock: T0 - HOUR,
        };
        n.push("notice.issued", "sup-1", Role::Supervisor, json!({
            "contractor": "con-9",
            "due": {"due": T0 + 3 * DAY, "provisional": false},
            "items": [
                {"id": "WW-09", "clause": "WW-09", "finding": "临边未设防护", "required_action": "设置临边防护", "severity": "serious"},
                {"id": "WW-10", "clause": "WW-10", "finding": "夜间无警示灯", "required_action": "夜间设置警示灯", "severity": "serious"}
            ]
        }));
        n
    }

    fn push(&mut self, kind: &str, by: &str, role: Role, data: Value) -> Event {
        self.clock += HOUR;
        let event = Event::new(Uuid::now_v7(), kind, self.clock, by, role, data);
        self.doc.append_event(&event).unwrap();
        event
    }

    fn reply(&mut self, item: &str, photo: &str, taken_at: Millis, at: Position) {
        self.doc
            .add_evidence(
                photo,
                &Evidence {
                    stage: EvidenceStage::After,
                    taken_at,
                    position: Some(at),
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

    fn snapshot(&self) -> Snapshot {
        self.doc.snapshot().unwrap()
    }
}

fn contractor(id: &str) -> Principal {
    Principal {
        user_id: id.into(),
        role: Role::Contractor,
        jurisdiction: Jurisdiction {
            projects: vec!["P-001".into()],
            ..Jurisdiction::default()
        },
    }
}

fn intact(snapshot: &Snapshot, phashes: &[(&str, u64)]) -> BTreeMap<String, UploadedPhoto> {
    snapshot
        .evidence
        .keys()
        .map(|h| {
            let phash = phashes.iter().find(|(p, _)| p == h).map(|(_, q)| *q);
            (
                h.clone(),
                UploadedPhoto {
                    hash_matches: true,
                    decodable: true,
                    phash: phash.or(Some(u64::from_str_radix(&h[..16], 16).unwrap_or(1))),
                },
            )
        })
        .collect()
}

#[test]
fn only_the_contractor_named_on_the_notice_signs_and_replies() {
    let mut n = Notice::issued();
    let before = n.snapshot();
    let foreign = n.push("notice.signed", "con-7", Role::Contractor, json!({}));
    let after = n.snapshot();
    let state = fold_notice(&after).unwrap();
    assert_eq!(
        state.status,
        NoticeStatus::Issued,
        "another contractor's 签收 is ignored"
    );
    let ignored = state
        .ignored
        .iter()
        .find(|i| i.event_id == foreign.id)
        .expect("ignored");
    assert!(ignored.reason.contains("con-9"), "{}", ignored.reason);
    let rejected = validate_update(&contractor("con-7"), Some(&before), &after, all_rules())
        .expect_err("the server rejects it");
    assert!(
        rejected.reason.contains("只有通知单上指定的施工单位"),
        "{}",
        rejected.reason
    );

    let mut n = Notice::issued();
    let before = n.snapshot();
    n.push("notice.signed", "con-9", Role::Contractor, json!({}));
    validate_update(
        &contractor("con-9"),
        Some(&before),
        &n.snapshot(),
        all_rules(),
    )
    .expect("the named contractor signs");
    assert_eq!(
        fold_notice(&n.snapshot()).unwrap().status,
        NoticeStatus::Signed
    );
}

#[test]
fn the_notice_deadline_brings_warning_then_overdue_once_each() {
    let mut n = Notice::issued();
    n.push("notice.signed", "con-9", Role::Contractor, json!({}));
    let calendar = Calendar::bundled().unwrap();
    let policy = SlaPolicy::default();
    let at = |n: &Notice, t: Millis| {
        let state = fold_notice(&n.snapshot()).unwrap();
        due_notice_warnings(&state, &calendar, &policy, t).unwrap()
    };
    assert!(at(&n, T0 + HOUR).is_empty(), "green on the first day");
    let yellow = at(&n, T0 + 2 * DAY + 6 * HOUR);
    assert_eq!(
        yellow.iter().map(|w| w.band).collect::<Vec<_>>(),
        [Band::Yellow]
    );
    n.push(
        "notice.warned",
        "server",
        Role::Server,
        serde_json::to_value(yellow[0]).unwrap(),
    );
    assert!(at(&n, T0 + 2 * DAY + 7 * HOUR).is_empty(), "never twice");
    let red = at(&n, T0 + 4 * DAY);
    assert_eq!(red.iter().map(|w| w.band).collect::<Vec<_>>(), [Band::Red]);

    // Once every item is replied the contractor's clock has stopped.
    let mut done = Notice::issued();
    done.push("notice.signed", "con-9", Role::Contractor, json!({}));
    let t = done.clock;
    done.reply("WW-09", &"a1".repeat(32), t, SITE);
    done.reply("WW-10", &"b2".repeat(32), t, SITE);
    let state = fold_notice(&done.snapshot()).unwrap();
    assert!(
        due_notice_warnings(&state, &calendar, &policy, T0 + 9 * DAY)
            .unwrap()
            .is_empty()
    );
}

fn judged(n: &Notice, reuse: &ReuseIndex, phashes: &[(&str, u64)]) -> (bool, Vec<String>) {
    judged_with(n, reuse, phashes, None)
}

fn judged_with(
    n: &Notice,
    reuse: &ReuseIndex,
    phashes: &[(&str, u64)],
    custody: Option<&CustodyFacts>,
) -> (bool, Vec<String>) {
    let snapshot = n.snapshot();
    let policy = VerifyPolicy::default();
    let evidence = NoticeEvidence {
        reuse,
        policy: &policy,
        radius_m: NOTICE_RADIUS_M,
        now: n.clock + MINUTE,
        custody,
    };
    match verify_notice_with(&snapshot, &intact(&snapshot, phashes), Some(&evidence)).unwrap() {
        NoticeOutcome::Judged { verdict, .. } => (verdict.passed, verdict.reasons),
        other => panic!("{other:?}"),
    }
}

fn replied_and_confirmed(first: (Millis, Position)) -> (Notice, String, String) {
    let mut n = Notice::issued();
    n.push("notice.signed", "con-9", Role::Contractor, json!({}));
    let (a, b) = ("c3".repeat(32), "d4".repeat(32));
    n.reply("WW-09", &a, first.0, first.1);
    let t = n.clock;
    n.reply("WW-10", &b, t, SITE);
    n.confirm("WW-09");
    n.confirm("WW-10");
    (n, a, b)
}

#[test]
fn reply_photos_on_site_after_the_notice_and_new_pass() {
    let (n, _, _) = replied_and_confirmed((T0 + 2 * HOUR, SITE));
    let (passed, reasons) = judged(&n, &ReuseIndex::default(), &[]);
    assert!(passed, "{reasons:?}");
}

#[test]
fn on_the_server_an_unsigned_reply_photo_fails_the_notice_verdict() {
    let (n, a, _) = replied_and_confirmed((T0 + 2 * HOUR, SITE));
    let (passed, reasons) = judged_with(
        &n,
        &ReuseIndex::default(),
        &[],
        Some(&CustodyFacts::default()),
    );
    assert!(!passed);
    let signature = reasons
        .iter()
        .find(|r| r.contains("没有设备签名"))
        .unwrap_or_else(|| panic!("{reasons:?}"));
    assert!(
        signature.contains("item WW-09") && signature.contains(&a[..8]),
        "{signature}"
    );
}

#[test]
fn a_reply_photo_taken_before_the_notice_or_far_away_fails_with_the_figures() {
    let (n, a, _) = replied_and_confirmed((T0 - 3 * DAY, SITE));
    let (passed, reasons) = judged(&n, &ReuseIndex::default(), &[]);
    assert!(!passed);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&a[..8]) && r.contains("通知单下达之前")),
        "{reasons:?}"
    );

    let far = Position {
        lat: SITE.lat + 0.01,
        ..SITE
    };
    let (n, a, _) = replied_and_confirmed((T0 + 2 * HOUR, far));
    let (passed, reasons) = judged(&n, &ReuseIndex::default(), &[]);
    assert!(!passed);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&a[..8]) && r.contains(" m ")),
        "a distance in metres: {reasons:?}"
    );
}

#[test]
fn a_reply_photo_used_elsewhere_or_repeated_for_another_item_fails() {
    let (n, a, b) = replied_and_confirmed((T0 + 2 * HOUR, SITE));
    let other_case = Uuid::now_v7();
    let mut reuse = ReuseIndex::default();
    reuse.cases_by_hash.insert(a.clone(), vec![other_case]);
    let (passed, reasons) = judged(&n, &reuse, &[]);
    assert!(!passed);
    assert!(
        reasons.iter().any(|r| r.contains(&other_case.to_string())),
        "{reasons:?}"
    );

    // The same picture (re-encoded) sent for both items.
    let (passed, reasons) = judged(
        &n,
        &ReuseIndex::default(),
        &[(&a, 0xABCD_0000_1111_2222), (&b, 0xABCD_0000_1111_2223)],
    );
    assert!(!passed);
    assert!(
        reasons.iter().any(|r| r.contains("同一画面")),
        "{reasons:?}"
    );
}

/// Signed, both items replied and confirmed, judged and closed; the clock moved to `at`
/// first.
fn closed_at(at: Millis) -> Snapshot {
    let mut n = Notice::issued();
    n.push("notice.signed", "con-9", Role::Contractor, json!({}));
    n.reply("WW-09", &"a".repeat(64), T0 + HOUR, SITE);
    n.reply("WW-10", &"b".repeat(64), T0 + HOUR, SITE);
    n.confirm("WW-09");
    n.confirm("WW-10");
    n.clock = n.clock.max(at - 2 * HOUR);
    n.push(
        "notice.verdict",
        "server",
        Role::Server,
        json!({"passed": true}),
    );
    n.push("notice.closed", "server", Role::Server, json!({}));
    let snapshot = n.snapshot();
    assert_eq!(fold_notice(&snapshot).unwrap().status, NoticeStatus::Closed);
    snapshot
}

#[test]
fn notices_count_per_contractor_in_the_month_issued_closed_on_time_and_overdue() {
    use fieldloop_core::evaluation::evaluate_contractors;
    let on_time = closed_at(T0 + 10 * HOUR);
    let open = Notice::issued().snapshot();
    let late = closed_at(T0 + 5 * DAY);
    let notices = [on_time, open, late];

    // As of 1 December: the month is over.
    let (rows, skipped) = evaluate_contractors("2026-11", &notices, T0 + 8 * DAY).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.contractor, "con-9");
    assert_eq!(
        (row.issued, row.closed, row.closed_on_time, row.overdue),
        (3, 2, 1, 2),
        "{row:?}"
    );
    assert_eq!(row.on_time_rate, Some(0.5));

    // As of the next day nothing was due yet, and only the first was closed.
    let (rows, _) = evaluate_contractors("2026-11", &notices, T0 + DAY).unwrap();
    let row = &rows[0];
    assert_eq!(
        (row.issued, row.closed, row.closed_on_time, row.overdue),
        (3, 1, 1, 0),
        "{row:?}"
    );
    // December has none of them.
    let (rows, _) = evaluate_contractors("2026-12", &notices, T0 + 40 * DAY).unwrap();
    assert!(rows.is_empty(), "{rows:?}");
}
