//! Rectification notices over real sync (issue 9 §4): a contractor other than the one the
//! notice names is refused; the scheduler writes 预警 and 超期 on the notice's working-day
//! deadline, and the contractor's phone shows the band.

use fieldloop_core::doc::{Doc, DocKind, DocScope, Event, Header, Position, SCHEMA_VERSION};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::time::{DAY, HOUR};
use fieldloop_tests::*;
use serde_json::json;
use uuid::Uuid;

fn project() -> Jurisdiction {
    Jurisdiction {
        projects: vec!["canal-2026".into()],
        ..Jurisdiction::default()
    }
}

fn append(device: &mut Device, id: Uuid, kind: &str, at: i64, data: serde_json::Value) {
    let mut doc = device.store.load_doc(id).expect("doc");
    let p = &device.principal;
    doc.append_event(&Event::new(
        Uuid::now_v7(),
        kind,
        at,
        &p.user_id,
        p.role,
        data,
    ))
    .expect("append");
    device.save(&mut doc);
}

#[test]
fn a_notice_is_signed_by_its_contractor_only_and_warned_on_its_deadline() {
    let server = TestServer::start();
    for (name, role) in [
        ("supervisor", Role::Supervisor),
        ("contractor", Role::Contractor),
        ("other-contractor", Role::Contractor),
    ] {
        server.add_user(name, role, project());
    }
    let mut supervisor = Device::login(&server, "supervisor");
    let mut contractor = Device::login(&server, "contractor");
    let mut other = Device::login(&server, "other-contractor");

    let id = Uuid::now_v7();
    let header = Header {
        id,
        kind: DocKind::Notice,
        schema: SCHEMA_VERSION,
        created_by: supervisor.principal.user_id.clone(),
        created_role: Role::Supervisor,
        created_at: minutes(0),
        position: Some(Position {
            lat: 30.2741,
            lon: 120.1551,
            accuracy_m: 5.0,
        }),
        category: Some("excavation".into()),
        scope: DocScope {
            project: Some("canal-2026".into()),
            ..DocScope::default()
        },
    };
    let mut doc = Doc::create(&header, supervisor.store.actor()).expect("create");
    supervisor.save(&mut doc);
    // Due Thursday 09:00: three working days from Monday 09:00.
    let due = minutes(0) + 3 * DAY;
    append(
        &mut supervisor,
        id,
        "notice.issued",
        minutes(0),
        json!({
            "contractor": contractor.principal.user_id,
            "due": {"due": due, "provisional": false},
            "items": [{"id": "WW-10", "clause": "WW-10", "finding": "基坑临边未设防护",
                       "required_action": "设置临边防护栏杆", "severity": "serious"}]
        }),
    );
    supervisor.sync(minutes(0));

    other.sync(minutes(10));
    append(&mut other, id, "notice.signed", minutes(10), json!({}));
    let refused = other.sync(minutes(10));
    assert_eq!(refused.docs_rejected, 1, "another contractor may not sign");
    assert_eq!(server.status(id).as_deref(), Some("issued"));

    contractor.sync(minutes(20));
    append(&mut contractor, id, "notice.signed", minutes(20), json!({}));
    let signed = contractor.sync(minutes(20));
    assert_eq!(signed.docs_rejected, 0);
    assert_eq!(server.status(id).as_deref(), Some("signed"));

    let rt = server.runtime();
    let tick = |at: i64| {
        server.clock.set(at);
        rt.block_on(fieldloop_server::referee::tick(&server.state, at))
            .expect("tick")
    };
    assert_eq!(tick(minutes(0) + HOUR).events, 0, "green on the first day");
    assert_eq!(tick(minutes(0) + 2 * DAY + 6 * HOUR).events, 1, "预警");
    assert_eq!(
        server.projection(id).expect("row").fields.band.as_deref(),
        Some("yellow")
    );
    assert_eq!(
        tick(minutes(0) + 2 * DAY + 7 * HOUR).events,
        0,
        "never twice"
    );
    assert_eq!(tick(minutes(0) + 4 * DAY).events, 1, "超期");
    contractor.sync(minutes(0) + 4 * DAY);
    let listed = contractor
        .store
        .listing(id)
        .expect("listing")
        .expect("listed");
    assert_eq!(listed.listing.band.as_deref(), Some("red"));
}
