//! The demo's simulated working day against a real server on loopback, in a temp data
//! dir: phones with their own store files, HTTP only, the server's clock stepped with the
//! scenario. The summary's numbers are folded from the synced documents.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldloop_server::demo::{self, scenario::Fate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_endpoint_serves_the_city_to_a_logged_in_phone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = demo::start(dir.path(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("demo server");
    let base = server.base_url();
    let http = reqwest::Client::new();
    let anonymous = http
        .get(format!("{base}/v1/reference"))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
    let login: serde_json::Value = http
        .post(format!("{base}/v1/login"))
        .json(&serde_json::json!({"username": "insp-li", "password": fieldloop_server::seed::DEMO_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let token = login["token"].as_str().expect("token");
    let city: serde_json::Value = http
        .get(format!("{base}/v1/reference"))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let cells = city["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 36);
    assert!(cells.iter().all(|c| c["code"]
        .as_str()
        .is_some_and(|code| code.len() == 15 && code.starts_with("330106"))));
    assert_eq!(city["units"].as_array().map(Vec::len), Some(6));
    let warnings: Vec<&str> = city["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .filter_map(|s| s["warning"].as_str())
        .collect();
    assert_eq!(warnings, ["none", "yellow", "orange", "red"]);
    server
        .server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_day_closes_reworks_runs_overdue_and_judges_patrols() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = demo::start(dir.path(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("demo server");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let result = demo::run_day_on(
        &server,
        Duration::from_secs(5),
        Arc::new(AtomicBool::new(false)),
        move |line| sink.lock().expect("lines").push(line.to_owned()),
    )
    .await;
    let log = lines.lock().expect("lines").join("\n");
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => panic!("the day stopped: {e}\n{log}"),
    };
    let report = format!("{}\n{log}", summary.render());

    // Every phone kept its own store file.
    for user in [
        "inspector",
        "dispatch-xihu",
        "handler-roads",
        "contractor",
        "chief",
        "admin",
    ] {
        assert!(
            dir.path()
                .join("devices")
                .join(format!("{user}.db"))
                .exists(),
            "{user}'s store"
        );
    }
    assert!(summary.steps > 60, "one progress line per step\n{report}");
    assert!(
        log.contains("[08:30]") && log.contains("[16:40]"),
        "{report}"
    );

    assert_eq!(summary.cases_reported, 12, "{report}");
    // Everything but the overdue case closes, some of it after rework.
    assert_eq!(summary.cases_closed, 11, "{report}");
    assert!(summary.reworked_then_closed >= 2, "{report}");
    let reworked = |fate: Fate| {
        summary
            .cases
            .iter()
            .find(|c| c.fate == fate)
            .is_some_and(|c| c.reworks == 1 && c.status == "closed" && !c.failed_checks.is_empty())
    };
    assert!(reworked(Fate::PhotoTooFar), "{report}");
    assert!(reworked(Fate::ReusedPhoto), "{report}");
    assert_eq!(summary.cases_overdue, 1, "{report}");
    let overdue = summary
        .cases
        .iter()
        .find(|c| c.overdue)
        .expect("the overdue case");
    assert_eq!(overdue.fate, Fate::Overdue, "{report}");
    assert_ne!(overdue.status, "closed", "{report}");

    assert_eq!(summary.notices_closed, 1, "{report}");
    assert_eq!(
        (summary.patrols_valid, summary.patrols_invalid),
        (1, 1),
        "{report}"
    );
    let invalid = summary
        .patrols
        .iter()
        .find(|p| !p.valid)
        .expect("invalid patrol");
    assert_eq!(invalid.chief, "chief-gudang", "{report}");
    assert!(!invalid.reasons.is_empty(), "{report}");

    // Units ranked best first, every dispatched unit present.
    assert_eq!(summary.units.len(), 6, "{report}");
    assert!(
        summary
            .units
            .windows(2)
            .all(|w| w[0].closure_rate >= w[1].closure_rate),
        "{report}"
    );
    assert!(summary.sync.photos_uploaded >= 20, "{report}");

    server
        .server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}
