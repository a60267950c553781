//! A city's own deployment: `init` makes it empty with one admin, who imports the city's
//! reference files over the API; bad files are refused whole with numbered problems and
//! change nothing; a changed warning level re-plans the rest of the month.

use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use fieldloop_core::doc::DocKind;
use fieldloop_core::plan::{fold_plan, PeriodKind, WarningLevel};
use fieldloop_core::reference::ReferenceKind;
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_server::clock::ManualClock;
use fieldloop_server::reference::{self, ImportError, Imported, Place};
use fieldloop_server::storage::open::Location;
use fieldloop_server::{onboarding, AppState, Config};

use crate::common::{jurisdiction_cells, TestServer, T0};

const UNITS: &str = "id,name,handles\nroads,西湖区市政道路养护所,市政\nsanitation,\"西湖区环境卫生管理中心, 环卫\",环卫\n";

fn square(code: &str, lon: f64, lat: f64) -> serde_json::Value {
    let d = 0.004;
    serde_json::json!({
        "type": "Feature",
        "properties": {"code": code},
        "geometry": {"type": "Polygon", "coordinates": [[
            [lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]
        ]]},
    })
}

fn collection(features: Vec<serde_json::Value>) -> String {
    serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()
}

fn rivers(warning: &str) -> String {
    collection(vec![serde_json::json!({
        "type": "Feature",
        "properties": {
            "id": "xixi-01", "name": "西溪河 文新段", "river": "西溪河",
            "chief_level": "村居级", "warning": warning, "chiefs": ["chief-wang"],
        },
        "geometry": {"type": "LineString", "coordinates": [[120.10, 30.27], [120.12, 30.275]]},
    })])
}

/// An admin as the handlers pass one down to the reference service.
fn admin() -> Principal {
    Principal {
        user_id: "city-admin".into(),
        role: Role::Admin,
        jurisdiction: Jurisdiction::default(),
    }
}

/// The server as `serve` opens it: the data dir's stored reference read at start.
async fn serve_on(dir: tempfile::TempDir) -> TestServer {
    let clock = Arc::new(ManualClock::new(T0));
    let state = AppState::embedded(dir.path(), clock.clone(), Config::default()).expect("state");
    reference::refresh(&state).await.expect("reference");
    TestServer { state, clock, dir }
}

async fn put(server: &TestServer, token: &str, kind: &str, body: &str) -> crate::common::Reply {
    server
        .call(
            Method::PUT,
            &format!("/v1/reference/{kind}"),
            Some(token),
            Body::from(body.to_owned()),
        )
        .await
}

async fn current(server: &TestServer, token: &str) -> serde_json::Value {
    let reply = server
        .call(Method::GET, "/v1/reference", Some(token), Body::empty())
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()
}

/// `(place key, number, code)` of each problem in a 422 answer.
fn problems(reply: &crate::common::Reply) -> Vec<(String, u64, String)> {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        reply.json()
    );
    assert_eq!(reply.error_code(), "invalid_reference");
    reply.json()["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            let (key, n) = ["line", "feature", "entry"]
                .iter()
                .find_map(|k| p[*k].as_u64().map(|n| (k.to_string(), n)))
                .unwrap_or_default();
            (key, n, p["code"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn an_initialised_deployment_has_only_its_admin_who_imports_the_city_file_by_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    onboarding::init(
        &Location::embedded(dir.path()),
        "city-admin",
        "first-admin-pass".into(),
    )
    .await
    .expect("init");
    let again = onboarding::init(
        &Location::embedded(dir.path()),
        "city-admin",
        "other-pass-123".into(),
    )
    .await;
    assert!(again.is_err(), "a second init of the same admin is refused");
    let server = serve_on(dir).await;

    // No demo user, no demo city.
    let demo = server.login("admin", "admin-demo-pass").await;
    assert_eq!(demo.status, StatusCode::UNAUTHORIZED);
    let login = server.login("city-admin", "first-admin-pass").await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.json()["token"].as_str().expect("token").to_owned();
    let empty = current(&server, &token).await;
    assert_eq!(empty["version"], 0);
    assert!(empty.get("grid").is_none() && empty.get("rivers").is_none());

    let no_units = server
        .call(Method::GET, "/v1/units", Some(&token), Body::empty())
        .await;
    assert_eq!(no_units.json(), serde_json::json!([]), "no demo units");
    let units = put(&server, &token, "units", UNITS).await;
    assert_eq!(units.status, StatusCode::CREATED, "{:?}", units.json());
    assert_eq!(units.json()["version"], 1);

    // A bad matrix: every bad line named, nothing stored.
    let matrix = "category,area,unit\n*,330106,roads\n201*,330106,no-such-unit\n3x,330106,roads\n*,330106,sanitation\n102*,33010a,roads\n";
    let refused = put(&server, &token, "matrix", matrix).await;
    assert_eq!(
        problems(&refused),
        [
            ("line".into(), 3, "unknown_unit".into()),
            ("line".into(), 4, "bad_category".into()),
            ("line".into(), 5, "ambiguous_rule".into()),
            ("line".into(), 6, "bad_area".into()),
        ]
    );
    let reason = refused.json()["problems"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.starts_with("第3行：") && reason.contains("no-such-unit"),
        "{reason}"
    );
    let after = current(&server, &token).await;
    assert_eq!(after["version"], 1);
    assert!(after.get("matrix").is_none());

    // A bad grid: the features at fault, by number.
    let grid = collection(vec![
        square("330106001001001", 120.10, 30.27),
        square("33010600100100", 120.11, 30.27),
        serde_json::json!({"type": "Feature", "properties": {"code": "330106001001003"},
            "geometry": {"type": "LineString", "coordinates": [[120.1, 30.2], [120.2, 30.3]]}}),
        square("330106001001001", 120.12, 30.27),
    ]);
    assert_eq!(
        problems(&put(&server, &token, "grid", &grid).await),
        [
            ("feature".into(), 2, "bad_cell_code".into()),
            ("feature".into(), 3, "not_polygon".into()),
            ("feature".into(), 4, "duplicate_cell".into()),
        ]
    );
    assert_eq!(current(&server, &token).await["version"], 1);

    let good_grid = collection(vec![
        square("330106001001001", 120.10, 30.27),
        square("330106001001002", 120.104, 30.27),
    ]);
    assert_eq!(
        put(&server, &token, "grid", &good_grid).await.status,
        StatusCode::CREATED
    );
    let good_matrix = "category,area,unit\n*,330106,roads\n201*,330106001,sanitation\n";
    assert_eq!(
        put(&server, &token, "matrix", good_matrix).await.status,
        StatusCode::CREATED
    );
    // The same file again is no new version.
    let same = put(&server, &token, "grid", &good_grid).await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(
        (
            same.json()["version"].as_u64(),
            same.json()["changed"].as_bool()
        ),
        (Some(3), Some(false))
    );

    let city = current(&server, &token).await;
    assert_eq!(city["version"], 3);
    assert_eq!(city["grid"].as_array().map(Vec::len), Some(2));
    assert_eq!(city["units"][1]["name"], "西湖区环境卫生管理中心, 环卫");
    // The console names units and draws cells from the city's own data, not the demo's.
    let units = server
        .call(Method::GET, "/v1/units", Some(&token), Body::empty())
        .await
        .json();
    assert_eq!(units[0]["id"], "roads");
    assert_eq!(units[0]["name"], "西湖区市政道路养护所");
    assert_eq!(units.as_array().map(Vec::len), Some(2));
    let cells = server
        .call(Method::GET, "/v1/geo/cells", Some(&token), Body::empty())
        .await
        .json();
    let codes: Vec<&str> = cells["features"]
        .as_array()
        .expect("features")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(codes, ["330106001001001", "330106001001002"]);
    // The referee dispatches by the city's matrix now.
    let held = server.state.reference.current();
    assert_eq!(held.version, 3);
    assert_eq!(
        fieldloop_core::schedule::dispatch_unit(&held.matrix, "20102", "330106001001002"),
        Some("sanitation")
    );

    // Only admins import; unknown kinds are named.
    server
        .add_user("insp", Role::Inspector, jurisdiction_cells("330106"))
        .await;
    let inspector = server.token("insp").await;
    assert_eq!(
        put(&server, &inspector, "units", UNITS).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(&server, &token, "bridges", "x").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn categories_keep_both_codes_and_refuse_a_broken_mapping_by_entry() {
    let server = TestServer::new();
    let admin = admin();
    let mut catalogue: serde_json::Value =
        serde_json::from_str(fieldloop_core::catalogue::BUILTIN_JSON).expect("catalogue");
    let entries = catalogue["categories"].as_array_mut().expect("categories");
    entries[0]["radius_m"] = serde_json::json!(80);
    let good = catalogue.to_string();
    let imported = reference::import(
        &server.state,
        &admin,
        ReferenceKind::Categories,
        good.as_bytes(),
    )
    .await
    .expect("import");
    assert_eq!(imported, Imported::New { version: 1 });
    let held = server.state.reference.current();
    let manhole = held.catalogue.get_by_key("10101").expect("0101");
    assert_eq!(
        (manhole.radius_m, manhole.gb47678.as_deref()),
        (80.0, Some("01001"))
    );

    let mut broken = catalogue.clone();
    let entries = broken["categories"].as_array_mut().expect("categories");
    entries[1]["gb47678"] = entries[0]["gb47678"].clone();
    entries[2]["code"] = serde_json::json!("0100");
    entries[3]["duplicates"]["radius_m"] = serde_json::json!(5000);
    let refused = reference::import(
        &server.state,
        &admin,
        ReferenceKind::Categories,
        broken.to_string().as_bytes(),
    )
    .await;
    let Err(ImportError::Invalid(problems)) = refused else {
        panic!("a broken catalogue is refused");
    };
    let places: Vec<(Place, &str)> = problems.iter().map(|p| (p.at, p.code)).collect();
    assert_eq!(
        places,
        [
            (Place::Entry(2), "duplicate_gb47678"),
            (Place::Entry(3), "bad_category"),
            (Place::Entry(4), "bad_category"),
        ]
    );
    assert_eq!(server.state.reference.current().version, 1);

    let inspector = Principal {
        role: Role::Inspector,
        ..admin
    };
    assert!(reference::import(
        &server.state,
        &inspector,
        ReferenceKind::Categories,
        good.as_bytes()
    )
    .await
    .is_err());
}

#[tokio::test]
async fn calendar_years_clauses_and_projects_import_and_bad_ones_are_refused() {
    let server = TestServer::new();
    let admin = admin();
    let import = |kind: ReferenceKind, body: String| {
        let state = server.state.clone();
        let admin = admin.clone();
        async move { reference::import(&state, &admin, kind, body.as_bytes()).await }
    };
    let day = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date");
    assert!(server
        .state
        .reference
        .current()
        .calendar
        .is_provisional(day("2027-02-08")));
    let year_2027 = serde_json::json!({
        "year": 2027, "provisional": false, "source": "国务院办公厅通知（测试）",
        "holidays": [{"name": "春节", "from": "2027-02-06", "to": "2027-02-12"}],
        "working_weekends": ["2027-02-14"],
    });
    import(ReferenceKind::Calendar, year_2027.to_string())
        .await
        .expect("2027 imports");
    let calendar = server.state.reference.current().calendar.clone();
    assert!(!calendar.is_provisional(day("2027-02-08")));
    assert!(!calendar.is_working_day(day("2027-02-08")), "春节");
    assert!(calendar.is_working_day(day("2027-02-14")), "调休 Sunday");
    assert!(
        !calendar.is_working_day(day("2026-10-01")),
        "bundled 2026 kept"
    );

    let weekday_as_weekend = serde_json::json!({
        "year": 2028, "source": "x", "holidays": [], "working_weekends": ["2028-03-01"],
    });
    let Err(ImportError::Invalid(problems)) =
        import(ReferenceKind::Calendar, weekday_as_weekend.to_string()).await
    else {
        panic!("a working weekend on a Wednesday is refused");
    };
    assert_eq!(problems[0].code, "bad_calendar");

    let clauses = include_str!("../../../core/data/clauses.json").to_owned();
    import(ReferenceKind::Clauses, clauses)
        .await
        .expect("the clause library imports");
    let projects = serde_json::json!([
        {"id": "dam-1", "name": "水闸加固", "site": {"lat": 30.2, "lon": 120.1},
         "stages": ["excavation"], "contractor": "builder"},
        {"id": "dam-2", "name": "x", "site": {"lat": 30.2, "lon": 120.1},
         "stages": ["painting"], "contractor": "builder"},
        {"id": "dam-1", "name": "重复", "site": {"lat": 95.0, "lon": 120.1},
         "stages": [], "contractor": " "},
    ]);
    let Err(ImportError::Invalid(problems)) =
        import(ReferenceKind::Projects, projects.to_string()).await
    else {
        panic!("bad projects are refused");
    };
    let places: Vec<(Place, &str)> = problems.iter().map(|p| (p.at, p.code)).collect();
    assert_eq!(
        places,
        [
            (Place::Entry(2), "unknown_stage"),
            (Place::Entry(3), "duplicate_project"),
            (Place::Entry(3), "bad_site"),
            (Place::Entry(3), "no_contractor"),
        ]
    );

    // A unit the matrix still names cannot be dropped.
    import(ReferenceKind::Units, UNITS.into())
        .await
        .expect("units");
    import(
        ReferenceKind::Matrix,
        "category,area,unit\n*,330106,roads\n".into(),
    )
    .await
    .expect("matrix");
    let Err(ImportError::Invalid(problems)) = import(
        ReferenceKind::Units,
        "id,name,handles\nsanitation,环卫所,环卫\n".into(),
    )
    .await
    else {
        panic!("dropping a unit in use is refused");
    };
    assert_eq!(problems[0].code, "unit_in_use");
}

#[tokio::test]
async fn a_raised_warning_level_replans_the_rest_of_the_month_at_once() {
    let server = TestServer::new();
    server
        .add_user("chief-wang", Role::RiverChief, Jurisdiction::default())
        .await;
    let admin = admin();
    let import = |warning: &'static str| {
        let state = server.state.clone();
        let admin = admin.clone();
        async move {
            reference::import(
                &state,
                &admin,
                ReferenceKind::Rivers,
                rivers(warning).as_bytes(),
            )
            .await
            .expect("rivers import")
        }
    };
    import("无").await;
    import("红").await;
    let everywhere = Jurisdiction {
        everywhere: true,
        ..Jurisdiction::default()
    };
    let plans: Vec<_> = server
        .state
        .docs
        .changed_since(0, everywhere, 100)
        .await
        .expect("projections")
        .into_iter()
        .filter(|p| p.kind == DocKind::PatrolPlan)
        .collect();
    assert_eq!(plans.len(), 1, "one plan for the one chief");
    let stored = server
        .state
        .docs
        .load_doc(plans[0].doc_id)
        .await
        .expect("load")
        .expect("plan doc");
    let doc = stored.load(&automerge::ActorId::random()).expect("doc");
    let plan_state = fold_plan(&doc.snapshot().expect("snapshot")).expect("fold");
    assert_eq!(
        plan_state.updates, 1,
        "issued calm, updated once when raised"
    );
    let plan = plan_state.plan.expect("plan");
    let task = plan.task("xixi-01").expect("task");
    assert_eq!(task.segment.warning, WarningLevel::Red);
    // Now is 2026-11-21 16:00 China time: the 旬 of the 1st–10th and of the 11th–20th
    // were over and stay as issued; from now on the red level's weekly windows apply.
    let xun: Vec<String> = task
        .windows
        .iter()
        .filter(|w| w.kind == PeriodKind::Xun)
        .map(|w| w.first_day.to_string())
        .collect();
    assert_eq!(xun, ["2026-11-01", "2026-11-11"], "{:#?}", task.windows);
    let weeks: Vec<_> = task
        .windows
        .iter()
        .filter(|w| w.kind == PeriodKind::Week)
        .collect();
    assert_eq!(weeks.len(), 3, "the weeks of the 16th, 23rd and 30th");
    assert!(weeks.iter().all(|w| w.ends > T0 && w.required == 5));
}

#[test]
fn init_and_import_on_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = env!("CARGO_BIN_EXE_fieldloop-server");
    let password = "cli-secret-pass-42";
    let init = Command::new(binary)
        .args(["init", "--admin", "ops-admin", "--data"])
        .arg(dir.path())
        .env("FIELDLOOP_ADMIN_PASSWORD", password)
        .env("RUST_LOG", "debug")
        .output()
        .expect("init runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&init.stdout),
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(init.status.success(), "{said}");
    assert!(
        said.contains("ops-admin") && !said.contains(password),
        "{said}"
    );

    let units = dir.path().join("units.csv");
    std::fs::write(&units, UNITS).expect("units file");
    let ok = Command::new(binary)
        .args(["import", "--data"])
        .arg(dir.path())
        .arg("units")
        .arg(&units)
        .output()
        .expect("import runs");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("reference version 1"));

    let bad = dir.path().join("matrix.csv");
    std::fs::write(
        &bad,
        "category,area,unit\n*,330106,roads\n*,330106,nobody\n",
    )
    .expect("file");
    let refused = Command::new(binary)
        .args(["import", "--data"])
        .arg(dir.path())
        .arg("matrix")
        .arg(&bad)
        .output()
        .expect("import runs");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("第3行") && stderr.contains("unknown_unit"),
        "{stderr}"
    );
}
