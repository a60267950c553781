//! 疑似重复 on the server: a case reported where an open case of the same category was
//! reported shortly before is marked for the dispatcher instead of being dispatched; the
//! dispatcher keeps it (then it is dispatched) or merges it. The lookup runs on an index.

use axum::http::StatusCode;
use fieldloop_core::case::{self, CaseStatus};
use fieldloop_core::doc::actor_for;
use uuid::Uuid;

use crate::common::{TestServer, T0};
use crate::console_api::{city_server, get, post_json, report};

const CELL: &str = "330106001001001";
const MINUTE: i64 = 60_000;

/// A report stored and reacted to, as after a sync.
async fn arrive(server: &TestServer, category: &str, cell: &str, at: i64) -> Uuid {
    let id = report(server, "disp-north", cell, category, at).await;
    server.clock.set(at);
    fieldloop_server::referee::react(&server.state, &[id])
        .await
        .expect("referee reacts");
    id
}

async fn state_of(server: &TestServer, id: Uuid) -> case::CaseState {
    let stored = server.state.docs.load_doc(id).await.unwrap().unwrap();
    case::fold(
        &stored
            .load(&actor_for(&Uuid::nil()))
            .unwrap()
            .snapshot()
            .unwrap(),
    )
}

async fn act(server: &TestServer, token: &str, id: Uuid, body: serde_json::Value) -> StatusCode {
    let reply = post_json(server, &format!("/v1/cases/{id}/actions"), token, body).await;
    assert!(
        reply.status == StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.status
}

fn queue_ids(queues: &serde_json::Value, key: &str) -> Vec<String> {
    let queue = queues["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["key"] == key)
        .unwrap_or_else(|| panic!("no queue {key}"));
    queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_second_report_nearby_waits_for_the_dispatcher_who_keeps_or_merges_it() {
    let server = city_server().await;
    let token = server.token("disp-north").await;
    let first = arrive(&server, "20102", CELL, T0).await;
    assert!(state_of(&server, first)
        .await
        .duplicate_candidates
        .is_empty());
    act(
        &server,
        &token,
        first,
        serde_json::json!({"type": "case.registered"}),
    )
    .await;
    assert_eq!(
        state_of(&server, first).await.status,
        CaseStatus::Dispatched
    );

    // Same category, same place, ten minutes later: suggested, with the distance.
    let second = arrive(&server, "20102", CELL, T0 + 10 * MINUTE).await;
    let s = state_of(&server, second).await;
    assert_eq!(s.duplicate_candidates.len(), 1);
    assert_eq!(s.duplicate_candidates[0].case_id, first);
    assert!(s.duplicate_candidates[0].distance_m < 1.0);
    // Another category at the same place, and the same category in a cell 400 m away,
    // are not.
    let other_kind = arrive(&server, "20201", CELL, T0 + 11 * MINUTE).await;
    let far = arrive(&server, "20102", "330106001001002", T0 + 12 * MINUTE).await;
    for id in [other_kind, far] {
        assert!(state_of(&server, id).await.duplicate_candidates.is_empty());
    }

    // The dispatcher's queue and the case detail show it, with the actions to decide.
    let queues = get(&server, "/v1/queues", &token).await.json();
    assert_eq!(queue_ids(&queues, "duplicates"), vec![second.to_string()]);
    let detail = get(&server, &format!("/v1/cases/{second}"), &token)
        .await
        .json();
    assert_eq!(
        detail["duplicate_candidates"][0]["case_id"],
        first.to_string()
    );
    let actions: Vec<&str> = detail["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(actions.contains(&"case.duplicate_kept") && actions.contains(&"case.merged"));

    // Registered, it is held (not dispatched) while the suggestion waits.
    act(
        &server,
        &token,
        second,
        serde_json::json!({"type": "case.registered"}),
    )
    .await;
    assert_eq!(
        state_of(&server, second).await.status,
        CaseStatus::Registered
    );
    // Kept: the suggestion is gone and the matrix dispatches it.
    act(
        &server,
        &token,
        second,
        serde_json::json!({"type": "case.duplicate_kept", "data": {"reason": "两处垃圾，不是同一堆"}}),
    )
    .await;
    let s = state_of(&server, second).await;
    assert!(s.duplicate_kept && s.duplicate_candidates.is_empty());
    assert_eq!(s.status, CaseStatus::Dispatched);
    let queues = get(&server, "/v1/queues", &token).await.json();
    assert!(queue_ids(&queues, "duplicates").is_empty());

    // A third one names both open cases, nearest first; merged into the first, it ends.
    let third = arrive(&server, "20102", CELL, T0 + 20 * MINUTE).await;
    let named: Vec<Uuid> = state_of(&server, third)
        .await
        .duplicate_candidates
        .iter()
        .map(|c| c.case_id)
        .collect();
    assert_eq!(named.len(), 2);
    assert!(named.contains(&first) && named.contains(&second));
    act(
        &server,
        &token,
        third,
        serde_json::json!({"type": "case.merged", "data": {"duplicate_of": first.to_string()}}),
    )
    .await;
    let s = state_of(&server, third).await;
    assert_eq!(
        (s.status, s.duplicate_of),
        (CaseStatus::Merged, Some(first))
    );

    // Past the category's window (72 h for 暴露垃圾) the old cases no longer count.
    let later = arrive(&server, "20102", CELL, T0 + 73 * 60 * MINUTE).await;
    assert!(state_of(&server, later)
        .await
        .duplicate_candidates
        .is_empty());
}

#[tokio::test]
async fn the_lookup_runs_on_the_expression_index() {
    let server = city_server().await;
    arrive(&server, "20102", CELL, T0).await;
    let conn = rusqlite::Connection::open(server.dir.path().join("fieldloop.sqlite3")).unwrap();
    let sql = format!(
        "EXPLAIN QUERY PLAN {}",
        fieldloop_server::storage::nearby::sqlite_query()
    );
    let plan: Vec<String> = conn
        .prepare(&sql)
        .unwrap()
        .query_map(
            rusqlite::params!["20102", 0.0, 90.0, 0.0, 180.0, 0i64, i64::MAX, 10i64],
            |row| row.get::<_, String>(3),
        )
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter()
            .any(|step| step.contains("projections_open_cases")),
        "{plan:?}"
    );
    assert!(
        !plan.iter().any(|step| step.starts_with("SCAN")),
        "{plan:?}"
    );
}

#[tokio::test]
async fn two_reports_arriving_together_hold_only_one_of_them() {
    let server = city_server().await;
    let a = report(&server, "disp-north", CELL, "20102", T0).await;
    let b = report(&server, "disp-north", CELL, "20102", T0 + MINUTE).await;
    server.clock.set(T0 + 2 * MINUTE);
    fieldloop_server::referee::react(&server.state, &[a, b])
        .await
        .expect("referee reacts");
    let (sa, sb) = (state_of(&server, a).await, state_of(&server, b).await);
    let named: Vec<Uuid> = sa.duplicate_candidates.iter().map(|c| c.case_id).collect();
    assert_eq!(named, vec![b], "the first names the second");
    assert!(
        sb.duplicate_candidates.is_empty(),
        "and the second, already named, is left to go on"
    );
}
