//! The demo's simulated working day against a real server on loopback, in a temp data
//! dir: phones with their own store files, HTTP only, the server's clock stepped with the
//! scenario. The summary's numbers are folded from the synced documents.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldloop_server::demo::{self, scenario::Fate, Summary};

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
    // Seeded through the reference import from server/demo-city/: one version.
    assert_eq!(city["version"], 1);
    let cells = city["grid"].as_array().expect("cells");
    assert_eq!(cells.len(), 36);
    assert!(cells.iter().all(|c| c["code"]
        .as_str()
        .is_some_and(|code| code.len() == 15 && code.starts_with("330106"))));
    assert_eq!(city["units"].as_array().map(Vec::len), Some(6));
    assert_eq!(city["projects"][0]["id"], "canal-2026");
    let warnings: Vec<&str> = city["rivers"]
        .as_array()
        .expect("segments")
        .iter()
        .filter_map(|s| s["warning"].as_str())
        .collect();
    assert_eq!(warnings, ["none", "yellow", "orange", "red"]);
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}

/// Runs the day on a fresh server in `dir`; answers the summary and the report text
/// (summary then progress lines) for assertion messages.
async fn run_the_day(dir: &std::path::Path) -> (Summary, String) {
    let server = demo::start(dir, "127.0.0.1:0".parse().expect("addr"))
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
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    match result {
        Ok(summary) => {
            let report = format!("{}\n{log}", summary.render());
            (summary, report)
        }
        Err(e) => panic!("the day stopped: {e}\n{log}"),
    }
}

/// The whole day: phones with their own stores over HTTP, the server as referee, the
/// summary folded from the admin's synced documents; then the same again on the same
/// data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_closes_reworks_runs_overdue_and_judges_patrols_over_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (summary, report) = run_the_day(dir.path()).await;

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
                .is_file(),
            "{user}'s store\n{report}"
        );
    }
    assert!(
        report.contains("[08:35]") && report.contains("[16:20]"),
        "{report}"
    );
    assert_eq!(
        (
            summary.day.as_str(),
            summary.day_number,
            summary.period.as_str()
        ),
        ("Monday 2026-11-23", 1, "2026-11"),
        "{report}"
    );
    assert!(report.contains("today, Monday 2026-11-23:"), "{report}");
    assert!(
        report.contains("month to date, 2026-11 (1 day played"),
        "{report}"
    );
    assert!(summary.steps > 60, "one progress line per step\n{report}");
    // Nothing refused, every photo reached the server (12 before, 11 after-photos and
    // rework, 11+ verification, inspection findings, notice replies).
    assert_eq!(summary.sync.rejected, 0, "{report}");
    assert!(summary.sync.photos_uploaded >= 38, "{report}");

    // The admin's copies (synced from the server) carry every case to verification or
    // beyond, except the one the handler sat on.
    assert_eq!(summary.cases_reported, 12, "{report}");
    let waiting = ["accepted", "dispatched"];
    for case in &summary.cases {
        if case.fate == Fate::Overdue {
            assert!(waiting.contains(&case.status.as_str()), "{report}");
        } else {
            assert!(
                ["verification_submitted", "judged", "closed", "rework"]
                    .contains(&case.status.as_str()),
                "{} is {}\n{report}",
                case.label,
                case.status
            );
        }
    }
    assert_eq!(summary.cases_overdue, 1, "{report}");
    let overdue = summary
        .cases
        .iter()
        .find(|c| c.overdue)
        .expect("the overdue case");
    assert_eq!(overdue.fate, Fate::Overdue, "{report}");
    assert_eq!(
        overdue.unit.as_deref(),
        Some("enforcement-xihu"),
        "{report}"
    );

    // The notice: every item confirmed after one rejection (closed once the server judges).
    assert!(
        ["all_confirmed", "verified", "closed"].contains(&summary.notice_status[0].as_str()),
        "{report}"
    );
    // Patrols: the proper one counts, the four-minute jump with mock fixes does not.
    assert_eq!(
        (summary.patrols_valid, summary.patrols_invalid),
        (1, 1),
        "{report}"
    );
    // The server pushed each of the four river chiefs a plan for November, and the valid
    // patrol completed its task there; the invalid one completed none.
    assert_eq!(summary.plans_issued, 4, "{report}");
    assert_eq!(summary.plan_tasks_done, 1, "{report}");
    let invalid = summary
        .patrols
        .iter()
        .find(|p| !p.valid)
        .expect("invalid patrol");
    assert_eq!(invalid.chief, "chief-gudang", "{report}");
    assert!(
        invalid.reasons.iter().any(|r| r.contains("mock")),
        "{report}"
    );

    // Every unit has a row, ranked; the unit with the overdue case is not first.
    assert_eq!(summary.units.len(), 6, "{report}");
    assert!(
        summary.units.windows(2).all(|w| w[0].rank <= w[1].rank),
        "{report}"
    );
    let late = summary
        .units
        .iter()
        .find(|u| u.unit == "enforcement-xihu")
        .expect("enforcement row");
    assert_eq!(late.overdue, 1, "{report}");
    assert_eq!(
        summary.units.last().map(|u| u.unit.as_str()),
        Some("enforcement-xihu"),
        "{report}"
    );

    // The referee's part: verdicts close most cases, the four planted failures go back
    // for rework and close on the second round, the 自查自纠 verified by its fixer closes,
    // the notice closes, patrols get the server's verdict, the scheduler marks the
    // unhandled case overdue, and the units are ranked by the server's evaluation.
    assert_eq!(summary.cases_closed, 11, "{report}");
    assert_eq!(summary.reworked_then_closed, 4, "{report}");
    let reworked = |fate: Fate| {
        summary
            .cases
            .iter()
            .find(|c| c.fate == fate)
            .is_some_and(|c| c.reworks == 1 && c.status == "closed" && !c.failed_checks.is_empty())
    };
    assert!(reworked(Fate::PhotoTooFar), "{report}");
    assert!(reworked(Fate::ReusedPhoto), "{report}");
    assert!(reworked(Fate::CopyOfBefore), "{report}");
    assert!(reworked(Fate::PhotoBeforeDispatch), "{report}");
    let self_fixed = summary
        .cases
        .iter()
        .find(|c| c.fate == Fate::SelfFixed)
        .expect("the 自查自纠 case");
    assert_eq!(
        (self_fixed.status.as_str(), self_fixed.reworks),
        ("closed", 0),
        "{report}"
    );
    let overdue = summary
        .cases
        .iter()
        .find(|c| c.overdue)
        .expect("the overdue case");
    assert_eq!(overdue.overdue_from.as_deref(), Some("server"), "{report}");
    assert_eq!(summary.notices_closed, 1, "{report}");
    assert!(
        summary.patrols.iter().all(|p| p.judged_by == "server"),
        "{report}"
    );
    assert!(
        summary.units[0].close_rate.unwrap_or(0.0) > 0.99,
        "{report}"
    );
    assert!(summary.evaluation_source.starts_with("server"), "{report}");

    // `demo` again on the same data directory: the seed is kept, the phones keep their
    // stores, and the next working day's cases (new photos) go the same way as the
    // first's, under the new date; the month's figures add both days up.
    let (again, report) = run_the_day(dir.path()).await;
    assert!(report.contains("16 people log in"), "{report}");
    assert_eq!(
        (again.day.as_str(), again.day_number),
        ("Tuesday 2026-11-24", 2),
        "{report}"
    );
    assert!(report.contains("today, Tuesday 2026-11-24:"), "{report}");
    assert!(
        report.contains("month to date, 2026-11 (2 days played"),
        "{report}"
    );
    let enforcement = |s: &Summary| {
        s.units
            .iter()
            .find(|u| u.unit == "enforcement-xihu")
            .map(|u| (u.due, u.overdue))
            .expect("enforcement row")
    };
    let (due_monday, overdue_monday) = enforcement(&summary);
    assert_eq!(
        enforcement(&again),
        (2 * due_monday, 2 * overdue_monday),
        "month to date counts both days\n{report}"
    );
    assert_eq!(
        (
            again.cases_reported,
            again.cases_closed,
            again.reworked_then_closed,
            again.cases_overdue
        ),
        (12, 11, 4, 1),
        "{report}"
    );
    assert!(again
        .cases
        .iter()
        .all(|c| !summary.cases.iter().any(|d| d.id == c.id)));
    assert_eq!(again.notices_closed, 1, "{report}");
    assert_eq!(
        (again.patrols_valid, again.patrols_invalid),
        (1, 1),
        "{report}"
    );
    assert_eq!(again.sync.rejected, 0, "{report}");

    assert_readme_figures(&[summary.render(), again.render()]);
}

/// The figures the READMEs quote (written there by scripts/demo-figures) are a real run's:
/// every headline line of these summaries appears in each README's generated block.
fn assert_readme_figures(summaries: &[String]) {
    let headline = |line: &&str| {
        [
            "── summary of ",
            "today, ",
            "  cases: ",
            "  notices: ",
            "  patrols: ",
            "month to date, ",
            "  cases due ",
        ]
        .iter()
        .any(|p| line.starts_with(p))
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for readme in [root.join("../README.md"), root.join("README.md")] {
        let text = std::fs::read_to_string(&readme).expect("README");
        let block = text
            .split("<!-- demo-figures:run -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- /demo-figures:run -->").next())
            .unwrap_or_else(|| panic!("{}: no demo-figures block", readme.display()));
        for summary in summaries {
            for line in summary.lines().filter(headline) {
                assert!(
                    block.lines().any(|quoted| quoted == line),
                    "{} does not quote this run's {line:?}: run scripts/demo-figures",
                    readme.display()
                );
            }
        }
    }
}
