//! 督办 and corrections over real sync (issue 9 §1): a dispatcher's 督办 reaches the
//! handler's phone with its new due time and counts in the evaluation; an admin's void
//! and reopen, and the 督办, are in the server's audit log.

use fieldloop_core::case::events::{Reason, Supervision};
use fieldloop_core::case::CaseEvent;
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::HOUR;
use fieldloop_tests::*;

use crate::referee::{dispatched_case, photo, street};

#[test]
fn a_dispatchers_supervision_reaches_the_handler_and_the_evaluation_and_is_audited() {
    let mut s = street();
    let id = dispatched_case(&mut s, &photo(31, 90));
    s.server.clock.set(minutes(20));
    s.handler.sync(minutes(20));
    s.handler.act(id, accept(), minutes(20));
    s.handler.sync(minutes(20));

    let due = minutes(20) + 2 * HOUR;
    s.server.clock.set(minutes(31));
    s.dispatcher.sync(minutes(30));
    s.dispatcher.act(
        id,
        CaseEvent::Supervised(Supervision {
            reason: "市民再次投诉，限两小时内处置".into(),
            due: Some(due),
            automatic: false,
        }),
        minutes(30),
    );
    let report = s.dispatcher.sync(minutes(30));
    assert_eq!(
        report.docs_rejected, 0,
        "the server accepts a dispatcher's 督办"
    );

    s.handler.sync(minutes(31));
    let listed = s
        .handler
        .store
        .listing(id)
        .expect("listing")
        .expect("listed");
    assert!(
        listed.listing.title.starts_with("【督办】"),
        "{}",
        listed.listing.title
    );
    assert_eq!(listed.listing.deadline, Some(due));
    let state = s.handler.case(id).state().expect("state");
    assert_eq!(
        state.supervision_reason.as_deref(),
        Some("市民再次投诉，限两小时内处置")
    );

    let body: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/v1/evaluation?period=2026-11", s.server.base))
        .bearer_auth(&s.dispatcher.token)
        .send()
        .and_then(|r| r.json())
        .expect("evaluation");
    let unit = body["units"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["unit"] == UNIT))
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(unit["supervised"], 1, "{unit}");

    // An admin voids the case, then reopens it: both in the audit log with the reasons.
    s.server.add_user(
        "admin",
        Role::Admin,
        Jurisdiction {
            everywhere: true,
            ..Jurisdiction::default()
        },
    );
    let mut admin = Device::login(&s.server, "admin");
    admin.sync(minutes(40));
    let why = |r: &str| Reason { reason: r.into() };
    admin.act(id, CaseEvent::Voided(why("误派，重复录入")), minutes(40));
    admin.act(id, CaseEvent::Reopened(why("核实后并非重复")), minutes(41));
    let report = admin.sync(minutes(41));
    assert_eq!(report.docs_rejected, 0);
    // Open again: back in the queue, where the responsibility matrix dispatches it anew.
    assert!(
        matches!(
            s.server.status(id).as_deref(),
            Some("registered" | "dispatched")
        ),
        "{:?}",
        s.server.status(id)
    );

    let audit = s
        .server
        .runtime()
        .block_on(s.server.state.audit.recent(50))
        .expect("audit");
    let target = id.to_string();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .filter(|e| e.target.as_deref() == Some(target.as_str()))
        .map(|e| (e.action.as_str(), e.detail.as_deref().unwrap_or("")))
        .collect();
    for (action, reason) in [
        ("case.supervised", "市民再次投诉"),
        ("case.voided", "误派，重复录入"),
        ("case.reopened", "核实后并非重复"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, d)| *a == action && d.contains(reason)),
            "{action} audited: {actions:?}"
        );
    }
}
