//! The audit log is hash-chained and readable by admins: editing one row in the database
//! makes the chain check fail at exactly that row.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use fieldloop_core::roles::{Jurisdiction, Role};

use crate::common::{jurisdiction_cells, TestServer};

#[tokio::test]
async fn an_edited_audit_row_breaks_the_chain_at_that_row() {
    let server = TestServer::new();
    let everywhere = Jurisdiction {
        everywhere: true,
        ..Jurisdiction::default()
    };
    server.add_user("root", Role::Admin, everywhere).await;
    server
        .add_user("insp", Role::Inspector, jurisdiction_cells("330106"))
        .await;
    // Logins (and a failed one) write audit rows through the ordinary paths.
    let admin = server.token("root").await;
    let _ = server.token("insp").await;
    let failed = server.login("insp", "not-the-password").await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);

    let inspector = server.token("insp").await;
    let refused = server
        .call(
            Method::GET,
            "/v1/admin/audit",
            Some(&inspector),
            Body::empty(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let rows = server
        .call(Method::GET, "/v1/admin/audit", Some(&admin), Body::empty())
        .await;
    assert_eq!(rows.status, StatusCode::OK);
    let rows = rows.json();
    let rows = rows.as_array().expect("rows");
    assert!(rows.len() >= 4, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r["hash"].as_str().map(str::len) == Some(64)));
    let ids: Vec<i64> = rows.iter().filter_map(|r| r["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");

    let check = |token: String| {
        let server = &server;
        async move {
            let reply = server
                .call(
                    Method::GET,
                    "/v1/admin/audit/check",
                    Some(&token),
                    Body::empty(),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK);
            reply.json()
        }
    };
    let intact = check(admin.clone()).await;
    assert_eq!(intact["broken_at"], serde_json::Value::Null);
    assert!(intact["checked"].as_u64().unwrap_or(0) >= 4, "{intact}");

    // Someone with the database file rewrites the failed login as a success.
    let victim = rows
        .iter()
        .find(|r| r["action"] == "login.failed")
        .expect("the failed login is audited");
    let victim_id = victim["id"].as_i64().expect("id");
    let db = rusqlite::Connection::open(server.dir.path().join("fieldloop.sqlite3")).expect("db");
    let edited = db
        .execute(
            "UPDATE audit SET action = 'login' WHERE id = ?1",
            [victim_id],
        )
        .expect("edit");
    assert_eq!(edited, 1);
    drop(db);

    let broken = check(admin.clone()).await;
    assert_eq!(broken["broken_at"].as_i64(), Some(victim_id), "{broken}");
    assert!(broken["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("审计记录"));
    assert_eq!(
        broken["checked"].as_i64(),
        Some(ids.iter().filter(|id| **id < victim_id).count() as i64)
    );
}
