//! The phone works on the city's own reference data as synced, through the FFI object:
//! a category the city made up, with its own time limit and radius, is found by the
//! picker offline, and the task list counts down by that limit on the city's calendar
//! (a city day off pushes the deadline a day on); a newer version received on sync takes
//! effect at once, and survives reopening the phone with the server gone. A phone that
//! never synced works on the bundled data and says so.

use fieldloop_core::case::events::Reported;
use fieldloop_core::case::{CaseDoc, NewCase};
use fieldloop_core::doc::EvidenceStage;
use fieldloop_core::store::sha256_hex;
use fieldloop_core::time::{HOUR, MINUTE};
use fieldloop_ffi::InboxFilter;
use fieldloop_tests::{
    dispatch, evidence, register, signed, Device, TestServer, GRID, OTHER_GRID, POSITION, T0, UNIT,
};
use uuid::Uuid;

use crate::phone_support::{logged_in, open, sync, TestClock};
use crate::reference::{city_admin, grid, import};

/// 共享单车乱停放: a category no national list has, as a city would add it.
const CITY_KEY: &str = "29901";

/// The bundled catalogue plus the city's own category, handled within `hours` working
/// hours, photos within 30 m.
fn city_catalogue(hours: u32) -> String {
    let mut catalogue: serde_json::Value =
        serde_json::from_str(fieldloop_core::catalogue::BUILTIN_JSON).expect("catalogue");
    catalogue["version"] = serde_json::json!(format!("city-{hours}h"));
    catalogue["categories"]
        .as_array_mut()
        .expect("categories")
        .push(serde_json::json!({
            "kind": "event",
            "code": "9901",
            "major": "城市特色",
            "name": "共享单车乱停放",
            "gb47678": "99001",
            "limits": {
                "normal": {"steps": [{"step": "处置", "amount": hours, "unit": "working_hours"}]},
                "urgent": {"steps": [{"step": "处置", "amount": 1, "unit": "working_hours"}]}
            },
            "radius_m": 30.0,
            "unit_type": "城管",
            "source": "city"
        }));
    catalogue.to_string()
}

/// The bundled 2026 with one more day off: Tuesday 2026-11-24, the city's own.
fn city_year() -> String {
    let bundled = fieldloop_core::sla::BUNDLED_YEARS
        .iter()
        .map(|text| serde_json::from_str::<serde_json::Value>(text).expect("year"))
        .find(|year| year["year"] == 2026)
        .expect("2026 is bundled");
    let mut year = bundled;
    year["source"] = serde_json::json!("本市 2026 年节假日安排");
    year["holidays"]
        .as_array_mut()
        .expect("holidays")
        .push(serde_json::json!({"name": "城市纪念日", "from": "2026-11-24", "to": "2026-11-24"}));
    year.to_string()
}

/// A 29901 case at [`POSITION`] reported by `device`.
fn report_city_case(device: &mut Device, at: i64) -> Uuid {
    let id = Uuid::now_v7();
    let hash = sha256_hex(format!("before {id}").as_bytes());
    let placed = evidence(EvidenceStage::Before, &device.principal, at);
    let before = (hash.clone(), signed(&device.store, id, &hash, placed));
    let new = NewCase {
        id,
        event_id: Uuid::now_v7(),
        at,
        category: CITY_KEY.into(),
        position: POSITION,
        grid_cell: GRID.into(),
        description: Some("人行道上堆满共享单车".into()),
        address: None,
        report: Reported::default(),
        before_photos: vec![before],
    };
    let mut case = CaseDoc::create(&device.principal, device.store.actor(), new).expect("report");
    device.save(case.doc_mut());
    id
}

#[test]
fn the_phone_counts_down_on_the_citys_own_category_and_calendar_offline() {
    let server = TestServer::with_street_people();
    let admin = city_admin(&server);
    import(&server, &admin, "grid", grid(GRID, OTHER_GRID));
    import(&server, &admin, "categories", city_catalogue(3));
    let imported = import(&server, &admin, "calendar", city_year());

    // Reported Monday 2026-11-23 15:30, dispatched 16:00: two working hours are left that
    // day (office until 18:00), the third is on the next working day, 09:00-10:00.
    let dispatched_at = T0 + 7 * HOUR;
    server.clock.set(dispatched_at - 30 * MINUTE);
    let mut inspector = Device::login(&server, "inspector");
    let id = report_city_case(&mut inspector, dispatched_at - 30 * MINUTE);
    inspector.sync(dispatched_at - 30 * MINUTE);
    server.clock.set(dispatched_at);
    let mut dispatcher = Device::login(&server, "dispatcher");
    dispatcher.sync(dispatched_at);
    dispatcher.act(id, register(), dispatched_at - MINUTE);
    dispatcher.act(id, dispatch(UNIT), dispatched_at);
    let report = dispatcher.sync(dispatched_at);
    assert_eq!(report.docs_rejected, 0, "{report:?}");

    let dir = tempfile::tempdir().expect("temp dir");
    let clock = TestClock::at(dispatched_at);
    let handler = logged_in(&server, dir.path(), "handler", &clock);
    sync(&server, &handler);

    let info = handler.reference_info().expect("info");
    assert_eq!(info.version, Some(imported.to_string()), "{info:?}");
    for kind in ["categories", "calendar", "grid"] {
        assert!(
            info.city_kinds.iter().any(|k| k == kind),
            "{kind}: {info:?}"
        );
    }
    assert!(info.label.contains(&imported.to_string()), "{}", info.label);
    let found = handler
        .search_categories("共享单车".into())
        .expect("search");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, CITY_KEY);
    assert_eq!(found[0].radius_m, 30.0);
    assert_eq!(found[0].new_code.as_deref(), Some("99001"));
    assert_eq!(found[0].limits.normal.steps[0].limit.amount, 3);
    let by_new_code = handler.search_categories("99001".into()).expect("search");
    assert_eq!(by_new_code.first().map(|c| c.key.as_str()), Some(CITY_KEY));

    // The city's day off on Tuesday moves the third hour to Wednesday 09:00-10:00.
    let wednesday_ten = T0 + 49 * HOUR;
    let task = |phone: &fieldloop_ffi::FieldPhone| {
        phone
            .inbox(InboxFilter::Cases)
            .expect("inbox")
            .into_iter()
            .find(|t| t.id == id.to_string())
            .expect("the case is in the handler's list")
    };
    let listed = task(&handler);
    assert_eq!(listed.deadline, Some(wednesday_ten), "{listed:?}");
    assert_eq!(listed.remaining_working_minutes, Some(180), "{listed:?}");
    assert!(!listed.provisional);

    // The city shortens its limit to two hours: the next sync brings the new version and
    // the same phone object counts down by it.
    let newer = import(&server, &admin, "categories", city_catalogue(2));
    let result = sync(&server, &handler);
    assert!(result.complete, "{result:?}");
    assert_eq!(
        handler.reference_info().expect("info").version,
        Some(newer.to_string())
    );
    let monday_six = T0 + 9 * HOUR;
    let listed = task(&handler);
    assert_eq!(listed.deadline, Some(monday_six), "{listed:?}");
    assert_eq!(listed.remaining_working_minutes, Some(120), "{listed:?}");
    handler.shutdown().expect("close");
    drop(handler);
    drop(server);

    // Offline, the app started again on the same store: the same version, the same list.
    clock.set(dispatched_at + HOUR);
    let reopened = open("http://127.0.0.1:9", dir.path(), &clock);
    assert_eq!(
        reopened.reference_info().expect("info").version,
        Some(newer.to_string())
    );
    let found = reopened.search_categories("9901".into()).expect("search");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].limits.normal.steps[0].limit.amount, 2);
    let listed = task(&reopened);
    assert_eq!(listed.deadline, Some(monday_six));
    assert_eq!(listed.remaining_working_minutes, Some(60), "{listed:?}");
}

#[test]
fn a_phone_that_never_synced_works_on_the_bundled_data_and_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let phone = open("http://127.0.0.1:9", dir.path(), &TestClock::at(T0));
    let info = phone.reference_info().expect("info");
    assert_eq!(info.version, None);
    assert_eq!(info.label, "内置数据 (未同步)");
    assert!(info.city_kinds.is_empty() && info.projects.is_empty());
    assert!(info.calendar_years.contains(&2026), "{info:?}");
    assert!(!phone
        .search_categories("暴露垃圾".into())
        .expect("search")
        .is_empty());
    assert!(phone
        .search_categories("9901".into())
        .expect("search")
        .is_empty());
    assert!(!phone.inspection_stages().expect("stages").is_empty());
}
