//! Realistic case documents for the store's tests and benchmark: the events a case
//! collects from report to closure, with the data fields a real one carries.
#![allow(dead_code)]

use automerge::ActorId;
use fieldloop_core::doc::{
    Doc, DocKind, DocScope, Event, Evidence, EvidenceStage, Header, Position,
};
use fieldloop_core::roles::Role;
use fieldloop_core::store::{sha256_hex, Listing, Store};
use fieldloop_core::time::{Millis, HOUR, MINUTE};
use serde_json::json;
use uuid::Uuid;

/// 2026-03-16 09:00 China time (UTC+8), a Monday.
pub const T0: Millis = 1_773_622_800_000;

pub const CELL: &str = "440305001002003";
pub const INSPECTOR: &str = "u-insp-0412";
pub const DISPATCHER: &str = "u-disp-0031";
pub const HANDLER: &str = "u-hdl-2207";

pub fn position(jitter: f64) -> Position {
    Position {
        lat: 22.540_503 + jitter,
        lon: 113.934_612 - jitter,
        accuracy_m: 6.5,
    }
}

pub fn case_header(id: Uuid, at: Millis) -> Header {
    Header {
        id,
        kind: DocKind::Case,
        schema: fieldloop_core::doc::SCHEMA_VERSION,
        created_by: INSPECTOR.into(),
        created_role: Role::Inspector,
        created_at: at,
        position: Some(position(0.0)),
        category: Some("0102".into()),
        scope: DocScope {
            grid_cell: Some(CELL.into()),
            ..DocScope::default()
        },
    }
}

/// A deterministic UUIDv7 whose time part is `at` and whose random part is `n`.
pub fn id_at(at: Millis, n: u64) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&(at as u64).to_be_bytes()[2..]);
    bytes[6] = 0x70;
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

pub fn event(kind: &str, at: Millis, by: &str, role: Role, data: serde_json::Value) -> Event {
    Event {
        id: id_at(at, at as u64 ^ kind.len() as u64),
        kind: kind.into(),
        at,
        by: by.into(),
        role,
        data,
    }
}

/// Stand-in content hash for a photo the test does not store.
pub fn photo_hash(n: u32) -> String {
    sha256_hex(format!("photo {n}").as_bytes())
}

/// A freshly reported case: header, description and address, the report event and three
/// before-photos referenced as evidence.
pub fn reported_case(id: Uuid, at: Millis, actor: &ActorId, photos: &[String; 3]) -> Doc {
    let mut doc = Doc::create(&case_header(id, at), actor).expect("create");
    doc.set_field(
        "description",
        "人行道上暴露垃圾约2立方米，已有异味，影响行人通行",
    )
    .expect("field");
    doc.set_field(
        "address",
        "深圳市南山区粤海街道科技园社区高新南七道18号东门外",
    )
    .expect("field");
    for (i, hash) in photos.iter().enumerate() {
        let evidence = Evidence {
            stage: EvidenceStage::Before,
            taken_at: at - 60_000 + i as Millis * 5_000,
            position: Some(position(i as f64 * 1e-5)),
            by: INSPECTOR.into(),
            phash: Some(0x9f3c_11a0_77e2_5b04 ^ i as u64),
            item: None,
            mock: false,
            original_sha256: None,
            exif: None,
            seal: None,
        };
        doc.add_evidence(hash, &evidence).expect("evidence");
    }
    doc.append_event(&event(
        "case.reported",
        at,
        INSPECTOR,
        Role::Inspector,
        json!({
            "category": "0102",
            "kind": "event",
            "urgency": "normal",
            "grid_cell": CELL,
            "position": {"lat": 22.540503, "lon": 113.934612, "accuracy_m": 6.5},
            "photos": photos,
            "source": "inspector_patrol",
        }),
    ))
    .expect("event");
    doc
}

/// The eleven events after the report, in the order a case that closes on time meets them.
pub fn lifecycle_after_report(at: Millis, photos: &[String]) -> Vec<Event> {
    let deadline = at + 4 * HOUR;
    vec![
        event(
            "case.registered",
            at + 12 * MINUTE,
            DISPATCHER,
            Role::Dispatcher,
            json!({
                "category": "0102", "urgency": "normal",
                "time_limit": {"amount": 4, "unit": "working_hours"},
                "note": "属实，立案",
            }),
        ),
        event(
            "case.dispatched",
            at + 15 * MINUTE,
            DISPATCHER,
            Role::Dispatcher,
            json!({
                "unit": "nanshan-yuehai-sanitation", "deadline": deadline,
                "instruction": "请于时限内清运并拍照回复",
            }),
        ),
        event(
            "case.accepted",
            at + 40 * MINUTE,
            HANDLER,
            Role::Handler,
            json!({
                "unit": "nanshan-yuehai-sanitation", "crew": "清运二班",
            }),
        ),
        event(
            "sla.warning",
            at + 3 * HOUR,
            "server",
            Role::Server,
            json!({
                "band": "yellow", "deadline": deadline, "share_used": 0.75,
            }),
        ),
        event(
            "case.extension_requested",
            at + 3 * HOUR + 5 * MINUTE,
            HANDLER,
            Role::Handler,
            json!({
                "reason": "需调派压缩车，预计延后1小时", "extra": {"amount": 1, "unit": "working_hours"},
            }),
        ),
        event(
            "case.extension_granted",
            at + 3 * HOUR + 20 * MINUTE,
            DISPATCHER,
            Role::Dispatcher,
            json!({
                "new_deadline": deadline + HOUR,
            }),
        ),
        event(
            "case.handled",
            at + 4 * HOUR + 10 * MINUTE,
            HANDLER,
            Role::Handler,
            json!({
                "note": "已清运完毕并冲洗地面", "photos": [photos[0].clone()],
                "position": {"lat": 22.540511, "lon": 113.934598, "accuracy_m": 8.0},
            }),
        ),
        event(
            "case.verification_submitted",
            at + 4 * HOUR + 45 * MINUTE,
            INSPECTOR,
            Role::Inspector,
            json!({
                "result": "fixed", "photos": [photos[1].clone()],
                "position": {"lat": 22.540498, "lon": 113.934620, "accuracy_m": 5.0},
            }),
        ),
        event(
            "case.verdict",
            at + 4 * HOUR + 46 * MINUTE,
            "server",
            Role::Server,
            json!({
                "passed": true,
                "checks": [
                    {"check": "evidence", "pass": true},
                    {"check": "place", "pass": true, "detail": "12 m from the case"},
                    {"check": "time", "pass": true},
                    {"check": "people", "pass": true},
                    {"check": "reuse", "pass": true},
                ],
            }),
        ),
        event(
            "case.closed",
            at + 4 * HOUR + 46 * MINUTE,
            "server",
            Role::Server,
            json!({
                "on_time": true,
            }),
        ),
        event(
            "case.evaluated",
            at + 5 * HOUR,
            "server",
            Role::Server,
            json!({
                "period": "2026-03", "unit": "nanshan-yuehai-sanitation", "counted": ["结案", "按期结案", "延期"],
            }),
        ),
    ]
}

/// Reported cases `id_at(T0, n)` for each `n` of `ns`, saved with an open listing titled
/// `title`.
pub fn save_reported_cases(store: &mut Store, ns: std::ops::Range<u64>, title: &str) {
    for n in ns {
        let mut doc = reported_case(
            id_at(T0, n),
            T0,
            store.actor(),
            &[photo_hash(1), photo_hash(2), photo_hash(3)],
        );
        store
            .save_doc(&mut doc, &open_listing(title, Some(T0), T0))
            .unwrap();
    }
}

pub fn open_listing(title: &str, deadline: Option<Millis>, updated_at: Millis) -> Listing {
    Listing {
        status: "reported".into(),
        title: title.into(),
        deadline,
        band: deadline.map(|_| "green".into()),
        open: true,
        updated_at,
    }
}

pub fn closed_listing(updated_at: Millis) -> Listing {
    Listing {
        status: "closed".into(),
        title: "暴露垃圾".into(),
        deadline: None,
        band: None,
        open: false,
        updated_at,
    }
}

/// Three real JPEG files about the size of processed photos; `None` when the shared
/// photos are not here (a failure under CI; locally recorded: `test` uses stand-in bytes).
pub fn real_photos(test: &str) -> Option<Vec<Vec<u8>>> {
    let found = fieldloop_testdata::find_photos().and_then(|dir| {
        [
            "coolpix-gps-a.jpg",
            "coolpix-gps-b.jpg",
            "orientation-3.jpg",
        ]
        .iter()
        .map(|name| std::fs::read(dir.join(name)).ok())
        .collect()
    });
    if found.is_none() {
        fieldloop_testdata::missing(
            test,
            "../shared/photos not found (set FIELDLOOP_PHOTOS)",
            "used stand-in bytes",
        );
    }
    found
}
