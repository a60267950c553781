//! Issue 12 §7: every verdict, rejection, admin change and import leaves an audit entry
//! (document, outcome, reason) in the hash-chained log an admin reads over HTTP.

use fieldloop_core::case::kinds;
use fieldloop_core::doc::{Event, Position};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_tests::*;
use reqwest::blocking::Client;
use uuid::Uuid;

use crate::referee::{handled_case, photo, street, upload, verify};

fn admin_call(server: &TestServer, token: &str, method: reqwest::Method, path: &str) -> u16 {
    Client::new()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .expect("sent")
        .status()
        .as_u16()
}

#[test]
fn every_verdict_rejection_admin_change_and_import_is_audited_in_the_chain() {
    let mut s = street();
    s.server.add_user(
        "city-admin",
        Role::Admin,
        Jurisdiction {
            everywhere: true,
            ..Jurisdiction::default()
        },
    );
    // A verdict that passes.
    let (before, after, check) = (photo(21, 90), photo(22, 90), photo(23, 90));
    let closed = handled_case(&mut s, &before, &after, POSITION);
    verify(&mut s, closed, &check, minutes(60));
    upload(&mut s.inspector);
    assert_eq!(s.server.status(closed).as_deref(), Some("closed"));
    // A verdict that fails: the repair photo was taken about 1.1 km away.
    let far = Position {
        lat: POSITION.lat + 0.01,
        ..POSITION
    };
    let (before, after, check) = (photo(24, 90), photo(25, 90), photo(26, 90));
    let rework = handled_case(&mut s, &before, &after, far);
    verify(&mut s, rework, &check, minutes(60));
    upload(&mut s.inspector);
    assert_eq!(s.server.status(rework).as_deref(), Some("rework"));

    // A device change the server rejects: an inspector's phone writes a verdict itself.
    let mut doc = s
        .inspector
        .store
        .load_doc(closed)
        .expect("case on the phone");
    let p = s.inspector.principal.clone();
    let forged = Event::new(
        Uuid::now_v7(),
        kinds::VERDICT,
        minutes(70),
        &p.user_id,
        p.role,
        serde_json::json!({"checks": []}),
    );
    doc.append_event(&forged).expect("append");
    s.inspector.save(&mut doc);
    let report = s.inspector.sync(minutes(70));
    assert_eq!(report.docs_rejected, 1, "{report:?}");

    // Admin changes: a device revoked, a reference file imported, an Open311 key issued.
    let admin: serde_json::Value = Client::new()
        .post(format!("{}/v1/login", s.server.base))
        .json(&serde_json::json!({"username": "city-admin", "password": password_of("city-admin")}))
        .send()
        .expect("login")
        .json()
        .expect("json");
    let admin = admin["token"].as_str().expect("token").to_owned();
    let handler_device = s.handler.store.device_id().to_string();
    let revoke = format!("/v1/admin/devices/{handler_device}/revoke");
    assert_eq!(
        admin_call(&s.server, &admin, reqwest::Method::POST, &revoke),
        200
    );
    let imported = Client::new()
        .put(format!("{}/v1/reference/categories", s.server.base))
        .bearer_auth(&admin)
        .body(crate::reference::catalogue(55.0))
        .send()
        .expect("import");
    assert!(imported.status().is_success(), "{}", imported.status());
    let refused = Client::new()
        .put(format!("{}/v1/reference/grid", s.server.base))
        .bearer_auth(&admin)
        .body("{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\"}]}")
        .send()
        .expect("import");
    assert_eq!(refused.status(), 422);
    let key = Client::new()
        .post(format!("{}/v1/admin/open311/keys", s.server.base))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"client": "12345 热线"}))
        .send()
        .expect("key");
    assert_eq!(key.status(), 201);

    let rows: Vec<serde_json::Value> = Client::new()
        .get(format!("{}/v1/admin/audit", s.server.base))
        .bearer_auth(&admin)
        .send()
        .expect("audit")
        .json()
        .expect("rows");
    let find = |action: &str, target: &str| {
        rows.iter()
            .filter(|r| r["action"] == action && r["target"] == target)
            .map(|r| r["detail"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let passed = find("verdict.case", &closed.to_string());
    assert_eq!(passed, vec!["passed".to_owned()], "{rows:#?}");
    let failed = find("verdict.case", &rework.to_string());
    assert_eq!(failed.len(), 1, "{rows:#?}");
    assert!(
        failed[0].starts_with("failed: ") && failed[0].contains("place"),
        "outcome and reason: {}",
        failed[0]
    );
    let rejected = find("sync.rejected", &closed.to_string());
    assert_eq!(rejected.len(), 1, "{rows:#?}");
    assert!(rejected[0].starts_with("forbidden: "), "{}", rejected[0]);
    let rejected_row = rows
        .iter()
        .find(|r| r["action"] == "sync.rejected")
        .expect("row");
    assert_eq!(rejected_row["user_id"], serde_json::json!(p.user_id));
    assert_eq!(
        rejected_row["device_id"],
        serde_json::json!(s.inspector.store.device_id().to_string())
    );
    assert_eq!(find("device.revoked", &handler_device).len(), 1);
    assert!(rows
        .iter()
        .any(|r| r["action"] == "reference.imported" && r["detail"] == "categories"));
    assert_eq!(find("reference.refused", "grid").len(), 1, "{rows:#?}");
    assert_eq!(find("open311.key_issued", "12345 热线").len(), 1);
    assert!(rows
        .iter()
        .all(|r| r["hash"].as_str().map(str::len) == Some(64)));

    let check: serde_json::Value = Client::new()
        .get(format!("{}/v1/admin/audit/check", s.server.base))
        .bearer_auth(&admin)
        .send()
        .expect("check")
        .json()
        .expect("json");
    assert_eq!(check["broken_at"], serde_json::Value::Null, "{check}");
    assert_eq!(check["checked"].as_u64(), Some(rows.len() as u64));
    println!("audit trail: {} chained rows, the chain checks", rows.len());
}
