//! Reference data travels with sync: an admin imports the city's grid and categories, a
//! phone receives the version it lacks in its next sync, keeps it, and resolves cells and
//! categories from it with the server gone.

use fieldloop_core::geo::LatLon;
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::store::Store;
use fieldloop_tests::{password_of, Device, TestServer, GRID, OTHER_GRID, POSITION, T0};

fn cell(code: &str, south_west: LatLon) -> serde_json::Value {
    let (lat, lon, d) = (south_west.lat, south_west.lon, 0.002);
    serde_json::json!({
        "type": "Feature",
        "properties": {"code": code},
        "geometry": {"type": "Polygon", "coordinates": [[
            [lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]
        ]]},
    })
}

/// Two cells side by side; `here` is the code of the one holding [`POSITION`].
pub(crate) fn grid(here: &str, beside: &str) -> String {
    let corner = LatLon {
        lat: POSITION.lat - 0.001,
        lon: POSITION.lon - 0.001,
    };
    let east = LatLon {
        lat: corner.lat,
        lon: corner.lon + 0.002,
    };
    serde_json::json!({"type": "FeatureCollection", "features": [cell(here, corner), cell(beside, east)]})
        .to_string()
}

/// The bundled catalogue with 暴露垃圾 (20102) given `radius_m`.
pub(crate) fn catalogue(radius_m: f64) -> String {
    let mut catalogue: serde_json::Value =
        serde_json::from_str(fieldloop_core::catalogue::BUILTIN_JSON).expect("catalogue");
    for entry in catalogue["categories"].as_array_mut().expect("categories") {
        if entry["kind"] == "event" && entry["code"] == "0102" {
            entry["radius_m"] = serde_json::json!(radius_m);
        }
    }
    catalogue.to_string()
}

pub(crate) fn import(server: &TestServer, token: &str, kind: &str, body: String) -> u64 {
    let reply = reqwest::blocking::Client::new()
        .put(format!("{}/v1/reference/{kind}", server.base))
        .bearer_auth(token)
        .body(body)
        .send()
        .expect("import");
    assert!(reply.status().is_success(), "{kind}: {}", reply.status());
    let answer: serde_json::Value = reply.json().expect("json");
    answer["version"].as_u64().expect("version")
}

/// Creates the city's admin (jurisdiction everywhere) and answers its token.
pub(crate) fn city_admin(server: &TestServer) -> String {
    server.add_user(
        "city-admin",
        Role::Admin,
        Jurisdiction {
            everywhere: true,
            ..Jurisdiction::default()
        },
    );
    let login: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/login", server.base))
        .json(&serde_json::json!({"username": "city-admin", "password": password_of("city-admin")}))
        .send()
        .expect("login")
        .json()
        .expect("json");
    login["token"].as_str().expect("token").to_owned()
}

#[test]
fn a_phone_syncs_the_reference_version_it_lacks_and_resolves_offline_on_it() {
    let server = TestServer::with_street_people();
    let admin = city_admin(&server);
    let here = LatLon {
        lat: POSITION.lat,
        lon: POSITION.lon,
    };

    import(&server, &admin, "grid", grid(GRID, OTHER_GRID));
    let first = import(&server, &admin, "categories", catalogue(100.0));
    let mut phone = Device::login(&server, "inspector");
    assert_eq!(phone.store.reference_version().expect("version"), 0);
    let report = phone.sync(T0);
    assert_eq!(report.reference_version, Some(first));
    let city = phone.store.reference().expect("read").expect("synced");
    assert_eq!(city.cell_at(here).expect("lookup"), Some(GRID));
    assert_eq!(city.category("20102").map(|c| c.radius_m), Some(100.0));
    // Current: the next sync carries no reference.
    assert_eq!(phone.sync(T0).reference_version, None);

    // The city redraws its cells and tightens the radius: two new versions.
    import(&server, &admin, "grid", grid(OTHER_GRID, GRID));
    let newest = import(&server, &admin, "categories", catalogue(60.0));
    assert!(newest > first);
    assert_eq!(phone.sync(T0).reference_version, Some(newest));
    drop(server);

    // Offline, from the store file alone (opened again, as after an app restart).
    let store = Store::open(phone.store.path()).expect("store reopens");
    assert_eq!(store.reference_version().expect("version"), newest);
    let city = store.reference().expect("read").expect("kept");
    assert_eq!(city.cell_at(here).expect("lookup"), Some(OTHER_GRID));
    let exposed = city.category("20102").expect("20102");
    assert_eq!(exposed.radius_m, 60.0);
    let by_new_code = city
        .category_by_gb47678(
            exposed.kind,
            exposed.gb47678.as_deref().expect("5-digit code"),
        )
        .expect("found by the newer standard's code");
    assert_eq!(by_new_code.key(), "20102");
}
