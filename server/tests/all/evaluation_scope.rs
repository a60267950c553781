//! `GET /v1/evaluation` by jurisdiction (a street's dispatcher sees their street's work,
//! the city's admin all of it) and kept incrementally (a month is not rebuilt from every
//! document on every request; a closed month stays frozen unless something backdated
//! into it arrives).

use fieldloop_core::roles::Role;

use crate::common::{jurisdiction_cells, TestServer, T0};
use crate::console_api::{city_server, get, post_json, report};

const NORTH_CELL: &str = "330106001001001";
const EAST_CELL: &str = "330106003001001";
const MINUTE: i64 = 60_000;
/// 2026-10-15T08:00:00Z, a Thursday of the month before.
const OCTOBER: i64 = T0 - 36 * 24 * 60 * MINUTE;

async fn reported_and_registered(server: &TestServer, username: &str, cell: &str, at: i64) {
    let id = report(server, username, cell, "20102", at).await;
    fieldloop_server::referee::react(&server.state, &[id])
        .await
        .expect("react");
    let token = server.token(&dispatcher_of(cell)).await;
    let reply = post_json(
        server,
        &format!("/v1/cases/{id}/actions"),
        &token,
        serde_json::json!({"type": "case.registered"}),
    )
    .await;
    assert_eq!(reply.status, axum::http::StatusCode::OK);
}

fn dispatcher_of(cell: &str) -> String {
    if cell.starts_with("330106001") {
        "disp-north".into()
    } else {
        "disp-east".into()
    }
}

async fn user_id(server: &TestServer, name: &str) -> String {
    server
        .state
        .users
        .user_by_name(name)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn evaluation(server: &TestServer, who: &str, period: &str) -> serde_json::Value {
    let token = server.token(who).await;
    let reply = get(server, &format!("/v1/evaluation?period={period}"), &token).await;
    assert_eq!(reply.status, axum::http::StatusCode::OK);
    reply.json()
}

fn inspectors(e: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = e["inspectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["inspector"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn due_total(e: &serde_json::Value) -> u64 {
    e["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["due"].as_u64().unwrap())
        .sum()
}

async fn city_with_two_streets() -> TestServer {
    let server = city_server().await;
    server
        .add_user(
            "insp-east",
            Role::Inspector,
            jurisdiction_cells("330106003"),
        )
        .await;
    server.clock.set(T0);
    reported_and_registered(&server, "insp", NORTH_CELL, T0).await;
    reported_and_registered(&server, "insp-east", EAST_CELL, T0 + MINUTE).await;
    server.clock.set(T0 + 60 * MINUTE);
    server
}

#[tokio::test]
async fn a_dispatcher_sees_their_street_and_the_admin_the_whole_city() {
    let server = city_with_two_streets().await;
    let (north_insp, east_insp) = (
        user_id(&server, "insp").await,
        user_id(&server, "insp-east").await,
    );
    let city = evaluation(&server, "root", "2026-11").await;
    let north = evaluation(&server, "disp-north", "2026-11").await;
    let east = evaluation(&server, "disp-east", "2026-11").await;

    let mut both = vec![north_insp.clone(), east_insp.clone()];
    both.sort();
    assert_eq!(inspectors(&city), both);
    assert_eq!(inspectors(&north), vec![north_insp]);
    assert_eq!(inspectors(&east), vec![east_insp]);
    // Each street's units are judged on the street's cases; the city on all of them.
    assert_eq!(due_total(&city), 2, "{city}");
    assert_eq!(due_total(&north), 1, "{north}");
    assert_eq!(due_total(&east), 1, "{east}");
    // The console's ranking is cut the same way.
    let token = server.token("disp-north").await;
    let ranking = get(&server, "/v1/ranking?period=2026-11&trend=false", &token)
        .await
        .json();
    assert_eq!(ranking["inspectors"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_month_is_kept_between_requests_and_a_closed_month_stays_frozen() {
    let server = city_with_two_streets().await;
    let cache = || server.state.evaluation_cache.counters();
    let read = || cache().docs_loaded + cache().snapshots_read;

    let first = evaluation(&server, "root", "2026-11").await;
    assert_eq!(
        (cache().snapshots_read, cache().docs_loaded),
        (2, 0),
        "every document once, from its kept snapshot"
    );
    assert_eq!(cache().computed, 1);
    let again = evaluation(&server, "root", "2026-11").await;
    assert_eq!(first, again);
    assert_eq!(
        (cache().computed, cache().hits, read()),
        (1, 1, 2),
        "no change: served as it was"
    );

    // October is computed once and then frozen while November's work goes on.
    evaluation(&server, "root", "2026-10").await;
    assert_eq!(cache().computed, 2);
    reported_and_registered(&server, "insp", NORTH_CELL, T0 + 70 * MINUTE).await;
    evaluation(&server, "root", "2026-10").await;
    assert_eq!(
        cache().computed,
        2,
        "October is not touched by November's events"
    );
    assert_eq!(read(), 2, "October does not read November's new case");
    let november = evaluation(&server, "root", "2026-11").await;
    assert_eq!(cache().computed, 3);
    assert_eq!(read(), 3, "only the new case was read");
    assert_eq!(
        inspectors(&november).len(),
        2,
        "the same two inspectors: {november}"
    );

    // The running month follows the clock: a minute later it is computed again.
    server.clock.set(T0 + 62 * MINUTE);
    evaluation(&server, "root", "2026-11").await;
    assert_eq!(cache().computed, 4);

    // A report stamped in October (a phone offline since) reopens October.
    let before = evaluation(&server, "root", "2026-10").await;
    report(&server, "insp", NORTH_CELL, "20102", OCTOBER).await;
    let after = evaluation(&server, "root", "2026-10").await;
    assert_eq!(cache().computed, 5);
    assert_ne!(before["inspectors"], after["inspectors"]);
}

#[tokio::test]
async fn a_month_reads_its_documents_through_the_active_window_index() {
    let server = city_with_two_streets().await;
    let conn = rusqlite::Connection::open(server.dir.path().join("fieldloop.sqlite3")).unwrap();
    let sql = format!(
        "EXPLAIN QUERY PLAN {}",
        fieldloop_server::storage::active::sqlite_query()
    );
    let plan: Vec<String> = conn
        .prepare(&sql)
        .unwrap()
        .query_map(rusqlite::params![0i64, i64::MAX], |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter().any(|step| step.contains("projections_active")),
        "{plan:?}"
    );
    assert!(
        !plan.iter().any(|step| step.starts_with("SCAN")),
        "{plan:?}"
    );
}

/// The snapshots kept beside the documents fold to the same evaluation as the documents
/// themselves, and a document without one (stored before they were kept) is loaded whole.
#[tokio::test]
async fn kept_snapshots_give_the_evaluation_the_documents_give() {
    let mut server = city_with_two_streets().await;
    let from_kept = evaluation(&server, "root", "2026-11").await;
    let counters = server.state.evaluation_cache.counters();
    assert_eq!((counters.snapshots_read, counters.docs_loaded), (2, 0));

    let db = rusqlite::Connection::open(server.dir.path().join("fieldloop.sqlite3")).unwrap();
    let deleted = db.execute("DELETE FROM doc_snapshots", []).unwrap();
    assert!(deleted >= 2, "{deleted} kept snapshots");
    server.state.evaluation_cache = Default::default();
    let from_documents = evaluation(&server, "root", "2026-11").await;
    let counters = server.state.evaluation_cache.counters();
    assert_eq!((counters.snapshots_read, counters.docs_loaded), (0, 2));
    assert_eq!(from_kept, from_documents);
}
