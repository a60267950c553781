//! The data-sharing API, the console's case actions and Open311, on a real SQLite file
//! with the demo city's reference data, driven in-process.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use fieldloop_core::case::{CaseDoc, NewCase};
use fieldloop_core::doc::{actor_for, DocKind, Position};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_server::demo::city::City;
use fieldloop_server::projection::projection_of;
use fieldloop_server::storage::{NewChange, Origin};
use uuid::Uuid;

use crate::common::{jurisdiction_cells, TestServer, T0};

pub(crate) async fn city_server() -> TestServer {
    let server = TestServer::new();
    let importer = fieldloop_core::roles::Principal {
        user_id: "city-importer".into(),
        role: Role::Admin,
        jurisdiction: Jurisdiction {
            everywhere: true,
            ..Jurisdiction::default()
        },
    };
    fieldloop_server::demo::city_files::import_demo_city(&server.state, &importer)
        .await
        .expect("the demo city imports");
    server
        .add_user(
            "disp-north",
            Role::Dispatcher,
            jurisdiction_cells("330106001"),
        )
        .await;
    server
        .add_user(
            "disp-east",
            Role::Dispatcher,
            jurisdiction_cells("330106003"),
        )
        .await;
    server
        .add_user(
            "root",
            Role::Admin,
            Jurisdiction {
                everywhere: true,
                ..Jurisdiction::default()
            },
        )
        .await;
    server
        .add_user("insp", Role::Inspector, jurisdiction_cells("330106001"))
        .await;
    let units = Jurisdiction {
        units: vec!["sanitation-xihu".into()],
        ..Jurisdiction::default()
    };
    server.add_user("hand-clean", Role::Handler, units).await;
    server
}

pub(crate) async fn principal(server: &TestServer, username: &str) -> Principal {
    server
        .state
        .users
        .user_by_name(username)
        .await
        .expect("store")
        .expect("user")
        .principal()
}

/// A case reported by `username` at the centre of `cell`, stored as an accepted change.
pub(crate) async fn report(
    server: &TestServer,
    username: &str,
    cell: &str,
    category: &str,
    at: i64,
) -> Uuid {
    let who = principal(server, username).await;
    let city = City::builtin();
    let centre = city.cell(cell).expect("demo cell").centre;
    let id = Uuid::now_v7();
    let new = NewCase {
        id,
        event_id: Uuid::now_v7(),
        at,
        category: category.into(),
        position: Position {
            lat: centre.lat,
            lon: centre.lon,
            accuracy_m: 12.0,
        },
        grid_cell: cell.into(),
        description: Some("井盖缺失, \"东侧\"".into()),
        address: None,
        report: Default::default(),
        before_photos: Vec::new(),
    };
    let mut doc = CaseDoc::create(&who, &actor_for(&id), new)
        .expect("case")
        .into_doc();
    let snapshot = doc.snapshot().expect("snapshot");
    server
        .state
        .docs
        .append_change(NewChange {
            doc_id: id,
            kind: DocKind::Case,
            bytes: doc.save_after(&[]),
            origin: Origin {
                user_id: who.user_id,
                device_id: None,
                arrived_at: at,
            },
            projection: projection_of(&snapshot, &server.state.reference.current()),
            blob_refs: Vec::new(),
            audit: Vec::new(),
            snapshot: fieldloop_server::storage::snapshots::encode(&snapshot),
        })
        .await
        .expect("stored");
    id
}

pub(crate) async fn get(server: &TestServer, uri: &str, token: &str) -> crate::common::Reply {
    server
        .call(Method::GET, uri, Some(token), Body::empty())
        .await
}

fn ids(reply: &crate::common::Reply) -> Vec<String> {
    reply.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

pub(crate) async fn post_json(
    server: &TestServer,
    uri: &str,
    token: &str,
    body: serde_json::Value,
) -> crate::common::Reply {
    server
        .send(
            Request::post(uri)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await
}

#[tokio::test]
async fn case_reads_are_scoped_filtered_paged_and_exported() {
    let server = city_server().await;
    let mut north = Vec::new();
    for (i, category) in ["20102", "20102", "20201", "10118", "20505"]
        .iter()
        .enumerate()
    {
        north.push(
            report(
                &server,
                "disp-north",
                "330106001001001",
                category,
                T0 + i as i64 * 60_000,
            )
            .await,
        );
    }
    let east = report(&server, "disp-east", "330106003001001", "20102", T0).await;
    let (n, e, root) = (
        server.token("disp-north").await,
        server.token("disp-east").await,
        server.token("root").await,
    );

    assert_eq!(ids(&get(&server, "/v1/cases", &n).await).len(), 5);
    assert_eq!(
        ids(&get(&server, "/v1/cases", &e).await),
        vec![east.to_string()]
    );
    assert_eq!(ids(&get(&server, "/v1/cases", &root).await).len(), 6);

    // Cursor paging: two by two, every case once, the last page says so.
    let mut seen = Vec::new();
    let mut uri = "/v1/cases?limit=2".to_owned();
    loop {
        let page = get(&server, &uri, &n).await;
        assert_eq!(page.status, StatusCode::OK);
        seen.extend(ids(&page));
        match page.json()["next_cursor"].as_str() {
            Some(next) => uri = format!("/v1/cases?limit=2&cursor={next}"),
            None => break,
        }
    }
    seen.dedup();
    assert_eq!(seen.len(), 5);

    assert_eq!(
        ids(&get(&server, "/v1/cases?category=201", &n).await).len(),
        2
    );
    assert_eq!(
        ids(&get(
            &server,
            "/v1/cases?category=2&status=reported&band=green",
            &n
        )
        .await)
        .len(),
        4
    );
    let late = get(&server, "/v1/cases?from=2026-11-22", &n).await;
    assert_eq!(ids(&late).len(), 0, "{}", late.json());
    assert_eq!(
        ids(&get(&server, "/v1/cases?from=2026-11-21&to=2026-11-21", &n).await).len(),
        5
    );
    assert_eq!(
        get(&server, "/v1/cases?band=purple", &n).await.error_code(),
        "bad_band"
    );
    assert_eq!(
        get(&server, "/v1/cases?from=yesterday", &n)
            .await
            .error_code(),
        "bad_date"
    );
    assert_eq!(
        get(&server, "/v1/cases?cursor=x", &n).await.error_code(),
        "bad_cursor"
    );

    // Out of scope reads like a missing case.
    let other = get(&server, &format!("/v1/cases/{east}"), &n).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let detail = get(&server, &format!("/v1/cases/{}", north[0]), &n)
        .await
        .json();
    assert_eq!(detail["reported_by"], "disp-north");
    assert_eq!(detail["category_name"], "市容环境 / 暴露垃圾");
    assert_eq!(detail["events"][0]["by"], "disp-north");
    assert!(detail["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .any(|a| a == "case.registered"));

    let geo = get(&server, "/v1/cases.geojson", &n).await;
    assert_eq!(
        geo.header("content-type").as_deref(),
        Some("application/geo+json")
    );
    let geo = geo.json();
    assert_eq!(geo["features"].as_array().expect("features").len(), 5);
    let lon = geo["features"][0]["geometry"]["coordinates"][0]
        .as_f64()
        .expect("lon");
    assert!((120.0..121.0).contains(&lon), "GeoJSON is lon, lat");

    let csv = get(&server, "/v1/cases.csv", &n).await;
    assert!(
        csv.body.starts_with("\u{feff}案件编号,".as_bytes()),
        "BOM and Chinese header"
    );
    let disposition = csv.header("content-disposition").expect("attachment");
    assert!(disposition.starts_with("attachment; filename=\"cases.csv\"; filename*=UTF-8''"));
    let text = String::from_utf8(csv.body.clone()).expect("utf-8");
    assert_eq!(text.lines().count(), 6);
    assert!(text.contains("西湖区") || text.contains("330106001001001"));
}

#[tokio::test]
async fn console_actions_are_validated_by_the_permission_table_and_the_lifecycle() {
    let server = city_server().await;
    let mine = report(&server, "disp-north", "330106001001001", "20102", T0).await;
    let theirs = report(&server, "disp-east", "330106003001001", "20102", T0).await;
    let n = server.token("disp-north").await;
    let insp = server.token("insp").await;
    let uri = |id: Uuid| format!("/v1/cases/{id}/actions");
    let register = serde_json::json!({ "type": "case.registered" });

    let done = post_json(&server, &uri(mine), &n, register.clone()).await;
    assert_eq!(
        done.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&done.body)
    );
    // Registration makes the referee dispatch by the matrix: 20102 in street 001 → sanitation.
    assert_eq!(done.json()["status"], "dispatched");
    assert_eq!(done.json()["unit"], "sanitation-xihu");
    assert_eq!(done.json()["unit_name"], "西湖区环境卫生管理中心");

    let again = post_json(&server, &uri(mine), &n, register.clone()).await;
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (StatusCode::CONFLICT, "not_allowed_now")
    );
    let elsewhere = post_json(&server, &uri(theirs), &n, register.clone()).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    let wrong_role = post_json(
        &server,
        &uri(mine),
        &insp,
        serde_json::json!({ "type": "case.voided", "data": { "reason": "x" } }),
    )
    .await;
    assert_eq!(wrong_role.status, StatusCode::FORBIDDEN);
    let unknown = post_json(
        &server,
        &uri(mine),
        &n,
        serde_json::json!({ "type": "case.closed" }),
    )
    .await;
    assert_eq!(unknown.error_code(), "unknown_action");
    let malformed = post_json(
        &server,
        &uri(mine),
        &n,
        serde_json::json!({ "type": "case.dispatched", "data": { "unit": 7 } }),
    )
    .await;
    assert_eq!(malformed.error_code(), "bad_action_data");

    // The unit sends it back; the dispatcher re-dispatches, in their own name.
    let handler = principal(&server, "hand-clean").await;
    fieldloop_server::api::actions::write_event(
        &server.state,
        &handler,
        mine,
        &fieldloop_core::case::CaseEvent::ReturnedToDispatch(
            fieldloop_core::case::events::Reason {
                reason: "不属于本单位".into(),
            },
        ),
    )
    .await
    .expect("handler returns the case");
    let moved = post_json(
        &server,
        &uri(mine),
        &n,
        serde_json::json!({ "type": "case.dispatched", "data": { "unit": "roads-xihu" } }),
    )
    .await;
    assert_eq!(moved.json()["unit"], "roads-xihu");
    let log = moved.json()["events"].as_array().expect("events").clone();
    assert_eq!(log.last().expect("event")["by"], "disp-north");
    assert_eq!(log.last().expect("event")["role"], "dispatcher");

    let queues = server
        .call(Method::GET, "/v1/queues", Some(&n), Body::empty())
        .await
        .json();
    let count = |key: &str| {
        queues["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .find(|q| q["key"] == key)
            .expect("queue")["count"]
            .as_u64()
    };
    assert_eq!(count("to_register"), Some(0));
    assert_eq!(count("to_dispatch"), Some(0));
}

#[tokio::test]
async fn ranking_openapi_admin_and_open311() {
    let server = city_server().await;
    let root = server.token("root").await;
    let n = server.token("disp-north").await;
    let insp = server.token("insp").await;

    let future = get(&server, "/v1/ranking?period=2027-05&trend=false", &n)
        .await
        .json();
    assert_eq!(future["state"], "future");
    assert!(future["units"]
        .as_array()
        .expect("units")
        .iter()
        .all(|u| u["rank"].is_null()));
    assert_eq!(
        future["units"][0]["unit_name"]
            .as_str()
            .map(|s| s.starts_with("西湖区")),
        Some(true)
    );
    let empty = get(&server, "/v1/ranking?period=2026-10&trend=false", &n)
        .await
        .json();
    assert_eq!(empty["state"], "empty");
    assert!(empty["message"]
        .as_str()
        .expect("message")
        .contains("没有应结案"));
    assert_eq!(
        get(&server, "/v1/ranking?period=2026-13", &n)
            .await
            .error_code(),
        "bad_period"
    );
    assert_eq!(
        get(&server, "/v1/ranking?period=2026-11", &insp)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let csv = get(&server, "/v1/ranking.csv?period=2026-11", &n).await;
    assert!(csv.body.starts_with(&[0xef, 0xbb, 0xbf]));
    assert!(csv
        .header("content-disposition")
        .expect("named")
        .contains("filename*=UTF-8''%E7%BB%BC"));

    let doc = server
        .call(Method::GET, "/openapi.json", None, Body::empty())
        .await
        .json();
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    for path in [
        "/v1/cases",
        "/v1/cases/{id}",
        "/v1/cases/{id}/actions",
        "/v1/queues",
        "/v1/ranking",
        "/v1/cases.geojson",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["CaseDetail"].is_object());

    let users = get(&server, "/v1/admin/users", &root).await.json();
    assert!(users
        .as_array()
        .expect("users")
        .iter()
        .any(|u| u["username"] == "insp"));
    assert_eq!(
        get(&server, "/v1/admin/users", &n).await.status,
        StatusCode::FORBIDDEN
    );
    let reset = post_json(
        &server,
        "/v1/admin/users/insp/password",
        &root,
        serde_json::json!({ "password": "a-new-secret" }),
    )
    .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&server, "/v1/cases", &insp).await.error_code(),
        "revoked_token"
    );
    assert_eq!(
        server.login("insp", "a-new-secret").await.status,
        StatusCode::OK
    );

    // Open311: an admin issues a key; a report lands in the register queue.
    let key = post_json(
        &server,
        "/v1/admin/open311/keys",
        &root,
        serde_json::json!({ "client": "wechat" }),
    )
    .await;
    assert_eq!(key.status, StatusCode::CREATED);
    let key = key.json()["api_key"].as_str().expect("key").to_owned();
    let centre = City::builtin()
        .cell("330106001001001")
        .expect("cell")
        .centre;
    let form = |key: &str| {
        format!(
            "api_key={key}&service_code=20102&lat={}&long={}&description=%E5%9E%83%E5%9C%BE",
            centre.lat, centre.lon
        )
    };
    let post = |body: String, path: &str| {
        server.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .expect("request"),
        )
    };
    let created = post(form(&key), "/open311/v2/requests.json").await;
    assert_eq!(
        created.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = created.json()[0]["service_request_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let xml = server
        .call(
            Method::GET,
            &format!("/open311/v2/requests/{id}.xml"),
            None,
            Body::empty(),
        )
        .await;
    let xml = String::from_utf8(xml.body).expect("utf-8");
    assert!(xml.contains("<service_requests><request>"), "{xml}");
    assert!(xml.contains("<status>open</status>"));
    assert!(xml.contains("<status_notes>已受理，等待立案</status_notes>"));
    let refused = post(form("not-a-key"), "/open311/v2/requests.json").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()[0]["code"], 403);
    let bad_format = server
        .call(
            Method::GET,
            "/open311/v2/services.yaml",
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(bad_format.status, StatusCode::BAD_REQUEST);

    let queues = get(&server, "/v1/queues", &n).await.json();
    let register = &queues["queues"][0];
    assert_eq!(register["key"], "to_register");
    assert_eq!(register["items"][0]["id"], id.as_str());
    assert_eq!(register["items"][0]["source"], "open311");
}

#[tokio::test]
async fn console_assets_are_served_from_the_binary() {
    let server = TestServer::new();
    let index = server.call(Method::GET, "/", None, Body::empty()).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&index.body).contains("指挥中心"));
    let leaflet = server
        .call(
            Method::GET,
            "/console/vendor/leaflet.js",
            None,
            Body::empty(),
        )
        .await;
    assert!(leaflet.body.len() > 100_000);
    assert_eq!(
        leaflet.header("content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
}
