//! Clause library, site-inspection checklists and rectification notices, folded from real
//! automerge documents.

use fieldloop_core::doc::{actor_for, Doc, DocKind, DocScope, Event, Header, SCHEMA_VERSION};
use fieldloop_core::notice::{
    draft_notice, fold_inspection, fold_notice, Answer, ClauseLibrary, ItemStatus, NoticeStatus,
    Severity, PERMISSIONS,
};
use fieldloop_core::roles::{decide_in, Decision, Jurisdiction, Principal, Role};
use fieldloop_core::sla::Deadline;
use fieldloop_core::time::{Millis, HOUR};
use fieldloop_core::Error;
use serde_json::{json, Value};
use uuid::Uuid;

pub const T0: Millis = 1_773_014_400_000; // 2026-03-09T00:00:00Z

pub fn new_doc(kind: DocKind, category: Option<&str>) -> Doc {
    let header = Header {
        id: Uuid::now_v7(),
        kind,
        schema: SCHEMA_VERSION,
        created_by: "sup-1".into(),
        created_role: Role::Supervisor,
        created_at: T0,
        position: None,
        category: category.map(str::to_string),
        scope: DocScope {
            project: Some("P-001".into()),
            ..DocScope::default()
        },
    };
    Doc::create(&header, &actor_for(&Uuid::now_v7())).unwrap()
}

pub struct Log {
    pub doc: Doc,
    pub clock: Millis,
}

impl Log {
    pub fn push(&mut self, kind: &str, by: &str, role: Role, data: Value) -> Uuid {
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
        event.id
    }
    pub fn sup(&mut self, kind: &str, data: Value) -> Uuid {
        self.push(kind, "sup-1", Role::Supervisor, data)
    }
    pub fn con(&mut self, kind: &str, data: Value) -> Uuid {
        self.push(kind, "con-9", Role::Contractor, data)
    }
    pub fn server(&mut self, kind: &str, data: Value) -> Uuid {
        self.push(kind, "server", Role::Server, data)
    }
}

#[test]
fn library_has_every_stage_of_the_reference() {
    let lib = ClauseLibrary::bundled().unwrap();
    assert_eq!(lib.clauses().len(), 78);
    let counts: Vec<(String, usize)> = lib
        .stages()
        .iter()
        .map(|s| (s.key.clone(), lib.for_stage(&s.key).unwrap().len()))
        .collect();
    let expected = [
        ("preparation", 8),
        ("excavation", 11),
        ("support", 7),
        ("backfill", 10),
        ("tightness_test", 7),
        ("jacking", 6),
        ("concrete", 5),
        ("site_order", 5),
        ("temporary_power", 7),
        ("lifting", 6),
        ("confined_space", 6),
    ];
    assert_eq!(
        counts,
        expected
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect::<Vec<_>>()
    );
    let ww02 = lib.clause("WW-02").unwrap();
    assert_eq!(ww02.severity, Severity::Major);
    assert_eq!(ww02.stage_name, "施工准备");
    assert!(ww02.source.contains("W9"));
    let ww57 = lib.clause("WW-57").unwrap();
    assert_eq!(ww57.severity, Severity::General);
    assert!(ww57.severity_note.as_deref().unwrap().contains("较重"));
    assert_eq!(
        lib.clause("WW-73").unwrap().source_grade,
        "重大事故隐患 (2022, art. 11)"
    );
}

#[test]
fn checklist_is_generated_per_stage() {
    let lib = ClauseLibrary::bundled().unwrap();
    let excavation = lib.checklist("excavation").unwrap();
    let ids: Vec<&str> = excavation
        .items
        .iter()
        .map(|i| i.clause_id.as_str())
        .collect();
    assert_eq!(ids.first(), Some(&"WW-09"));
    assert_eq!(ids.last(), Some(&"WW-19"));
    assert_eq!(excavation.unanswered(), 11);
    let test = lib.checklist("tightness_test").unwrap();
    assert_eq!(test.items.len(), 7);
    assert_eq!(test.items[5].clause_id, "WW-42");
    assert_eq!(test.items[5].severity, Severity::Major);
    assert!(matches!(lib.checklist("painting"), Err(Error::NotFound(_))));
    assert!(ClauseLibrary::from_json(r#"{"source":"x","stages":[],"clauses":[{"id":"A","stage":"nowhere","stage_name":"","no":1,"text":"","source_grade":"","severity":"general","source":""}]}"#).is_err());
}

#[test]
fn inspection_answers_fold_and_failed_items_become_a_notice() {
    let lib = ClauseLibrary::bundled().unwrap();
    let mut log = Log {
        doc: new_doc(DocKind::SiteInspection, Some("support")),
        clock: T0,
    };
    for n in 20..=26 {
        let answer = match n {
            20 | 23 => "fail",
            26 => "not_applicable",
            _ => "pass",
        };
        log.sup(
            "inspection.answered",
            json!({"clause": format!("WW-{n}"), "answer": answer}),
        );
    }
    let foreign = log.sup(
        "inspection.answered",
        json!({"clause": "WW-01", "answer": "fail"}),
    );
    // Correct clause 23's answer with a note and photo before submitting.
    log.sup(
        "inspection.answered",
        json!({"clause": "WW-23", "answer": "fail", "note": "布设支护位移监测点并每日观测", "photo": "ab12"}),
    );
    let submitted = log.sup("inspection.submitted", json!({}));
    let late = log.sup(
        "inspection.answered",
        json!({"clause": "WW-20", "answer": "pass"}),
    );
    let by_contractor = log.con(
        "inspection.answered",
        json!({"clause": "WW-21", "answer": "fail"}),
    );

    let state = fold_inspection(&log.doc.snapshot().unwrap(), &lib).unwrap();
    assert!(state.submitted_at.is_some());
    assert_eq!(state.checklist.unanswered(), 0);
    let failed: Vec<&str> = state
        .checklist
        .failed()
        .map(|i| i.clause_id.as_str())
        .collect();
    assert_eq!(
        failed,
        ["WW-20", "WW-23"],
        "the late pass for WW-20 is ignored"
    );
    let ignored: Vec<Uuid> = state.ignored.iter().map(|i| i.event_id).collect();
    assert_eq!(ignored, [foreign, late, by_contractor]);
    assert!(state.ignored[0]
        .reason
        .contains("not on the support checklist"));
    assert!(state.ignored[1].reason.contains("already submitted"));
    assert!(!ignored.contains(&submitted));
    assert_eq!(
        state
            .checklist
            .items
            .iter()
            .find(|i| i.clause_id == "WW-26")
            .unwrap()
            .answer,
        Some(Answer::NotApplicable)
    );

    let due = Deadline {
        due: T0 + 72 * HOUR,
        provisional: false,
    };
    let issued = draft_notice(&state, &lib, None, "广州某建设有限公司", due).unwrap();
    assert_eq!(issued.items.len(), 2);
    assert_eq!(
        issued.items[1].required_action,
        "布设支护位移监测点并每日观测"
    );
    assert!(issued.items[0]
        .required_action
        .starts_with("整改: 支护结构已出现变形"));
    assert_eq!(issued.items[0].severity, Severity::Serious);
}

#[test]
fn submitting_an_incomplete_inspection_is_ignored() {
    let lib = ClauseLibrary::bundled().unwrap();
    let mut log = Log {
        doc: new_doc(DocKind::SiteInspection, Some("lifting")),
        clock: T0,
    };
    log.sup(
        "inspection.answered",
        json!({"clause": "WW-67", "answer": "fail"}),
    );
    log.sup("inspection.submitted", json!({}));
    let state = fold_inspection(&log.doc.snapshot().unwrap(), &lib).unwrap();
    assert!(state.submitted_at.is_none());
    assert!(state.ignored[0]
        .reason
        .contains("5 checklist items are not answered"));
    let due = Deadline {
        due: T0,
        provisional: false,
    };
    assert!(draft_notice(&state, &lib, None, "c", due).is_err());
    // The header must name a known stage.
    let no_stage = new_doc(DocKind::SiteInspection, None);
    assert!(fold_inspection(&no_stage.snapshot().unwrap(), &lib).is_err());
}

fn issued_notice() -> Log {
    let mut log = Log {
        doc: new_doc(DocKind::Notice, None),
        clock: T0,
    };
    log.sup(
        "notice.issued",
        json!({
            "contractor": "con-9",
            "due": {"due": T0 + 72 * HOUR, "provisional": false},
            "items": [
                {"id": "WW-09", "clause": "WW-09", "finding": "no edge protection", "required_action": "设置临边防护", "severity": "serious"},
                {"id": "WW-10", "clause": "WW-10", "finding": "no warning lights", "required_action": "夜间设置警示灯", "severity": "serious"}
            ]
        }),
    );
    log
}

#[test]
fn a_notice_closes_item_by_item_with_a_rejection_reopened() {
    let mut log = issued_notice();
    log.con("notice.signed", json!({}));
    log.con(
        "notice.item_replied",
        json!({"item": "WW-09", "photos": ["h1", "h2"]}),
    );
    log.sup("notice.item_confirmed", json!({"item": "WW-09"}));

    let state = fold_notice(&log.doc.snapshot().unwrap()).unwrap();
    assert_eq!(state.status, NoticeStatus::Signed);
    assert_eq!(state.open_items(), 1);
    assert_eq!(state.item("WW-09").unwrap().status, ItemStatus::Confirmed);
    assert_eq!(state.contractor.as_deref(), Some("con-9"));
    assert_eq!(state.signed_by.as_deref(), Some("con-9"));

    log.con(
        "notice.item_replied",
        json!({"item": "WW-10", "photos": ["h3"], "note": "已设置"}),
    );
    log.sup(
        "notice.item_rejected",
        json!({"item": "WW-10", "reason": "灯不亮"}),
    );
    let state = fold_notice(&log.doc.snapshot().unwrap()).unwrap();
    let item = state.item("WW-10").unwrap();
    assert_eq!(item.status, ItemStatus::Rejected);
    assert_eq!(item.rejections, 1);
    assert_eq!(item.last_rejection.as_deref(), Some("灯不亮"));

    log.con(
        "notice.item_replied",
        json!({"item": "WW-10", "photos": ["h4"]}),
    );
    log.sup("notice.item_confirmed", json!({"item": "WW-10"}));
    let state = fold_notice(&log.doc.snapshot().unwrap()).unwrap();
    assert_eq!(state.status, NoticeStatus::AllConfirmed);
    assert_eq!(state.item("WW-10").unwrap().photos, ["h4"]);

    log.server("notice.verdict", json!({"passed": true, "reasons": []}));
    log.server("notice.closed", json!({}));
    let state = fold_notice(&log.doc.snapshot().unwrap()).unwrap();
    assert_eq!(state.status, NoticeStatus::Closed);
    assert!(state.closed_at.is_some());
    assert!(state.ignored.is_empty(), "{:?}", state.ignored);
}

#[test]
fn illegal_notice_events_stay_in_the_log_and_are_ignored() {
    let mut log = issued_notice();
    let mut expected: Vec<(Uuid, &str)> = Vec::new();
    expected.push((
        log.con(
            "notice.item_replied",
            json!({"item": "WW-09", "photos": ["h1"]}),
        ),
        "not signed",
    ));
    log.con("notice.signed", json!({}));
    expected.push((log.con("notice.signed", json!({})), "already signed"));
    expected.push((
        log.con(
            "notice.item_replied",
            json!({"item": "WW-09", "photos": []}),
        ),
        "no after-photo",
    ));
    expected.push((
        log.con(
            "notice.item_replied",
            json!({"item": "WW-99", "photos": ["h1"]}),
        ),
        "no item WW-99",
    ));
    expected.push((
        log.sup("notice.item_confirmed", json!({"item": "WW-09"})),
        "only a replied item",
    ));
    log.con(
        "notice.item_replied",
        json!({"item": "WW-09", "photos": ["h1"]}),
    );
    expected.push((
        log.con("notice.item_confirmed", json!({"item": "WW-09"})),
        "contractor may not write",
    ));
    expected.push((
        log.con(
            "notice.item_replied",
            json!({"item": "WW-09", "photos": ["h9"]}),
        ),
        "waiting for the supervisor",
    ));
    expected.push((
        log.sup("notice.item_confirmed", json!({"itm": "WW-09"})),
        "event data",
    ));
    log.sup("notice.item_confirmed", json!({"item": "WW-09"}));
    expected.push((
        log.server("notice.verdict", json!({"passed": true})),
        "every item confirmed (1 open)",
    ));
    expected.push((log.server("notice.closed", json!({})), "passing verdict"));
    expected.push((
        log.sup("notice.closed", json!({})),
        "supervisor may not write",
    ));
    expected.push((log.sup("notice.issued", json!({})), "already issued"));
    expected.push((log.sup("case.registered", json!({})), "unknown event type"));
    log.con(
        "notice.item_replied",
        json!({"item": "WW-10", "photos": ["h5"]}),
    );
    log.sup("notice.item_confirmed", json!({"item": "WW-10"}));
    log.server("notice.warned", json!({"band": "yellow"}));
    log.server("notice.verdict", json!({"passed": true}));
    expected.push((
        log.sup(
            "notice.item_rejected",
            json!({"item": "WW-10", "reason": "late"}),
        ),
        "verdict is already given",
    ));
    log.server("notice.closed", json!({}));
    expected.push((
        log.con(
            "notice.item_replied",
            json!({"item": "WW-10", "photos": ["h6"]}),
        ),
        "closed",
    ));

    let snapshot = log.doc.snapshot().unwrap();
    let state = fold_notice(&snapshot).unwrap();
    assert_eq!(state.status, NoticeStatus::Closed);
    assert_eq!(state.warning, Some(fieldloop_core::sla::Band::Yellow));
    assert_eq!(state.ignored.len(), expected.len(), "{:#?}", state.ignored);
    for (ignored, (id, reason)) in state.ignored.iter().zip(&expected) {
        assert_eq!(ignored.event_id, *id);
        assert!(
            ignored.reason.contains(reason),
            "{:?} should say {reason:?}",
            ignored.reason
        );
    }
    // The log keeps every event, legal or not: 9 applied plus the ignored ones.
    assert_eq!(snapshot.events.len(), 9 + expected.len());
}

#[test]
fn events_before_issue_and_wrong_documents() {
    let mut log = Log {
        doc: new_doc(DocKind::Notice, None),
        clock: T0,
    };
    log.con("notice.signed", json!({}));
    log.sup(
        "notice.issued",
        json!({"contractor": "c", "due": {"due": T0, "provisional": false}, "items": []}),
    );
    let state = fold_notice(&log.doc.snapshot().unwrap()).unwrap();
    assert_eq!(state.status, NoticeStatus::Draft);
    assert!(state.ignored[0].reason.contains("not issued yet"));
    assert!(state.ignored[1].reason.contains("at least one item"));

    let inspection = new_doc(DocKind::SiteInspection, Some("support"));
    assert!(matches!(
        fold_notice(&inspection.snapshot().unwrap()),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn a_failed_verdict_lets_the_supervisor_reopen_a_confirmed_item() {
    let mut log = issued_notice();
    log.con("notice.signed", json!({}));
    for item in ["WW-09", "WW-10"] {
        log.con(
            "notice.item_replied",
            json!({"item": item, "photos": [format!("p-{item}")]}),
        );
        log.sup("notice.item_confirmed", json!({"item": item}));
    }
    log.server(
        "notice.verdict",
        json!({"passed": false, "reasons": ["photo p-WW-10 is 240 m from the site"]}),
    );
    log.sup(
        "notice.item_rejected",
        json!({"item": "WW-10", "reason": "重新拍照"}),
    );
    let state = fold_notice(&log.doc.snapshot().unwrap()).unwrap();
    assert_eq!(state.status, NoticeStatus::Signed);
    assert!(!state.verdict.as_ref().unwrap().passed);
    assert_eq!(state.item("WW-10").unwrap().status, ItemStatus::Rejected);
    assert_eq!(state.item("WW-09").unwrap().status, ItemStatus::Confirmed);
    assert!(state.ignored.is_empty());
}

#[test]
fn permissions_follow_role_and_project() {
    let who = |role, projects: &[&str]| Principal {
        user_id: "u".into(),
        role,
        jurisdiction: Jurisdiction {
            projects: projects.iter().map(|p| p.to_string()).collect(),
            ..Jurisdiction::default()
        },
    };
    let scope = DocScope {
        project: Some("P-001".into()),
        ..DocScope::default()
    };
    let contractor = who(Role::Contractor, &["P-001"]);
    let supervisor = who(Role::Supervisor, &["P-001"]);
    let elsewhere = who(Role::Supervisor, &["P-002"]);
    assert_eq!(
        decide_in(PERMISSIONS, &contractor, "notice.item_replied", &scope),
        Decision::Allowed
    );
    assert_eq!(
        decide_in(PERMISSIONS, &contractor, "notice.signed", &scope),
        Decision::Allowed
    );
    assert_eq!(
        decide_in(PERMISSIONS, &supervisor, "notice.item_confirmed", &scope),
        Decision::Allowed
    );
    assert_eq!(
        decide_in(PERMISSIONS, &supervisor, "inspection.answered", &scope),
        Decision::Allowed
    );
    assert!(matches!(
        decide_in(PERMISSIONS, &contractor, "notice.item_confirmed", &scope),
        Decision::Denied(_)
    ));
    assert!(matches!(
        decide_in(PERMISSIONS, &elsewhere, "notice.issued", &scope),
        Decision::Denied(_)
    ));
    for server_only in ["notice.verdict", "notice.closed", "notice.warned"] {
        let Decision::Denied(reason) = decide_in(PERMISSIONS, &supervisor, server_only, &scope)
        else {
            panic!("{server_only} must be server-only");
        };
        assert!(reason.contains("server only"));
    }
    let server = who(Role::Server, &[]);
    assert_eq!(
        decide_in(PERMISSIONS, &server, "notice.closed", &scope),
        Decision::Allowed
    );
}

#[test]
fn concurrent_offline_edits_merge_and_fold_alike() {
    let mut supervisor = issued_notice();
    supervisor.con("notice.signed", json!({}));
    let bytes = supervisor.doc.save();
    let mut contractor = Log {
        doc: Doc::load(&bytes, &actor_for(&Uuid::now_v7())).unwrap(),
        clock: supervisor.clock,
    };
    // Offline on both sides: the contractor replies to both items, the supervisor
    // meanwhile writes nothing about them but receives them later.
    contractor.con(
        "notice.item_replied",
        json!({"item": "WW-09", "photos": ["a"]}),
    );
    contractor.con(
        "notice.item_replied",
        json!({"item": "WW-10", "photos": ["b"]}),
    );
    supervisor.clock += 10 * HOUR;
    supervisor.sup("notice.item_confirmed", json!({"item": "WW-09"}));
    supervisor.doc.merge(&mut contractor.doc).unwrap();
    contractor.doc.merge(&mut supervisor.doc).unwrap();
    let a = fold_notice(&supervisor.doc.snapshot().unwrap()).unwrap();
    let b = fold_notice(&contractor.doc.snapshot().unwrap()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.item("WW-09").unwrap().status, ItemStatus::Confirmed);
    assert_eq!(a.item("WW-10").unwrap().status, ItemStatus::Replied);
}
