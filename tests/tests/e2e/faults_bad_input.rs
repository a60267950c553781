//! Issue 12 §5: a table of malformed requests against a real server holding real data.
//! Each is answered with a 4xx and a reason (or, for one document's content inside a sync
//! request, a rejection with a reason: the protocol answers per document), the server
//! keeps serving after each, and a dump of its database and photo files is the same
//! before and after the whole table.

use fieldloop_core::case::events::Reported;
use fieldloop_core::case::CaseEvent;
use fieldloop_core::doc::{Doc, DocKind, DocScope, Event, Header, Position, SCHEMA_VERSION};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::store::sha256_hex;
use fieldloop_core::sync::wire::{
    self, DocPush, RejectionKind, SyncRequest, SyncResponse, PROTOCOL_VERSION,
};
use fieldloop_core::time::DAY;
use fieldloop_tests::faults::{dump::dump, photos, start_server, Backend};
use fieldloop_tests::*;
use reqwest::blocking::{Client, RequestBuilder, Response};
use uuid::Uuid;

/// What a row must be answered with.
enum Expect {
    /// This status (0: any 4xx), and when the body is JSON this `error` code (empty: any
    /// code); always a reason.
    Http(u16, &'static str),
    /// 200 with the push refused as this kind, with a reason, nothing acknowledged.
    Rejected(RejectionKind),
}

struct Ctx<'a> {
    server: &'a TestServer,
    http: Client,
    inspector: &'a Device,
    dispatcher_device: Uuid,
    case: Uuid,
    photo_hash: String,
}

impl Ctx<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    fn sync_raw(&self, content_type: &str, body: Vec<u8>) -> Response {
        self.http
            .post(self.url("/v1/sync"))
            .bearer_auth(&self.inspector.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .expect("sent")
    }

    fn request(&self, pushes: Vec<DocPush>) -> SyncRequest {
        SyncRequest {
            version: PROTOCOL_VERSION,
            device_id: self.inspector.store.device_id(),
            cursor: self.server.head_seq() as u64,
            pushes,
            want_full: vec![],
            page_bytes: 1 << 20,
            reference_version: None,
        }
    }

    fn push(&self, pushes: Vec<DocPush>) -> Response {
        let body = wire::encode(&self.request(pushes)).expect("encode");
        self.sync_raw(wire::CONTENT_TYPE, body)
    }

    fn authed(&self, builder: RequestBuilder) -> Response {
        builder
            .bearer_auth(&self.inspector.token)
            .send()
            .expect("sent")
    }

    /// The existing case as the inspector holds it, changed by `edit`, pushed on top of
    /// the shared heads.
    fn push_edit_of_case(&self, edit: impl FnOnce(&mut Doc)) -> Response {
        let mut doc = self.inspector.store.load_doc(self.case).expect("case");
        let shared = doc.heads();
        edit(&mut doc);
        self.push(vec![DocPush {
            id: self.case,
            kind: DocKind::Case,
            shared_heads: wire::heads_to_wire(&shared),
            changes: doc.save_after(&shared),
        }])
    }
}

fn header(p: &Principal, id: Uuid, at: i64) -> Header {
    Header {
        id,
        kind: DocKind::Case,
        schema: SCHEMA_VERSION,
        created_by: p.user_id.clone(),
        created_role: p.role,
        created_at: at,
        position: Some(POSITION),
        category: Some("20102".into()),
        scope: DocScope {
            grid_cell: Some(GRID.into()),
            ..DocScope::default()
        },
    }
}

/// A new case written without the device's checks, `tweak`ed first.
fn raw_case(device: &Device, tweak: impl FnOnce(&mut Header, &mut Event)) -> DocPush {
    let p = &device.principal;
    let id = Uuid::now_v7();
    let mut h = header(p, id, minutes(0));
    let mut event = CaseEvent::Reported(Reported::default())
        .to_event(Uuid::now_v7(), minutes(0), &p.user_id, p.role)
        .expect("event");
    tweak(&mut h, &mut event);
    let mut doc = Doc::create(&h, device.store.actor()).expect("doc");
    doc.append_event(&event).expect("append");
    DocPush {
        id,
        kind: DocKind::Case,
        shared_heads: vec![],
        // As a phone pushes: its changes, never a document chunk (refused, row below).
        changes: doc.save_after(&[]),
    }
}

fn at_position(lat: f64, lon: f64, accuracy_m: f64) -> Option<Position> {
    Some(Position {
        lat,
        lon,
        accuracy_m,
    })
}

/// Checks one answer against its row; the reason it gave.
fn judge(name: &str, response: Response, expect: &Expect) -> String {
    let status = response.status().as_u16();
    let body = response.bytes().expect("body").to_vec();
    match expect {
        Expect::Http(want, code) => {
            if *want != 0 {
                assert_eq!(status, *want, "{name}: {}", String::from_utf8_lossy(&body));
            }
            assert!((400..500).contains(&status), "{name}");
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(json) => {
                    if !code.is_empty() {
                        assert_eq!(json["error"], *code, "{name}: {json}");
                    }
                    let reason = json["reason"].as_str().unwrap_or_default();
                    assert!(!reason.is_empty(), "{name}: no reason in {json}");
                    reason.to_owned()
                }
                // HEAD answers carry no body; the status is the answer.
                Err(_) if body.is_empty() && code.is_empty() => String::new(),
                // The framework's own refusals (body limit) are text until §6 lands.
                Err(_) => {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    assert!(!text.trim().is_empty(), "{name}: no reason at all");
                    text
                }
            }
        }
        Expect::Rejected(kind) => {
            assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
            let answer: SyncResponse = wire::decode(&body).expect("a sync answer");
            assert!(
                answer.acks.is_empty(),
                "{name}: acknowledged {:?}",
                answer.acks
            );
            let rejection = answer
                .rejections
                .first()
                .unwrap_or_else(|| panic!("{name}: not refused"));
            assert_eq!(&rejection.kind, kind, "{name}: {}", rejection.reason);
            assert!(!rejection.reason.is_empty(), "{name}");
            rejection.reason.clone()
        }
    }
}

/// The pushed changes of the sync body `scripts/fuzz` found making automerge's decoder
/// panic (`fuzz/regressions/sync_request/`).
fn decoder_crash() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/regressions/sync_request/crash-86aa3fdd4dff4a52197b051c2746a6b62a588c60"
    );
    let body = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let found: SyncRequest = wire::decode(&body).expect("the regression input decodes");
    found
        .pushes
        .into_iter()
        .map(|push| push.changes)
        .find(|changes| {
            Doc::empty(&fieldloop_core::doc::actor_for(&Uuid::nil()))
                .load_changes(changes)
                .is_err()
        })
        .expect("a push whose changes do not decode")
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, 3).expect("compress")
}

type Row<'a> = (&'static str, Expect, Box<dyn Fn(&Ctx) -> Response + 'a>);

fn rows<'a>() -> Vec<Row<'a>> {
    use Expect::*;
    let far_future = minutes(0) + 3650 * DAY;
    vec![
        // ---- the sync endpoint's framing
        (
            "sync body that is not zstd",
            Http(400, "bad_sync_body"),
            Box::new(|c: &Ctx| c.sync_raw(wire::CONTENT_TYPE, b"not a sync body".to_vec())),
        ),
        (
            "sync body: zstd of garbage",
            Http(400, "bad_sync_body"),
            Box::new(|c: &Ctx| c.sync_raw(wire::CONTENT_TYPE, zstd(&[0xff; 64]))),
        ),
        (
            "sync body: zstd bomb (64 MiB of zeros, 2 KiB on the wire)",
            Http(400, "bad_sync_body"),
            Box::new(|c: &Ctx| c.sync_raw(wire::CONTENT_TYPE, zstd(&vec![0u8; 64 << 20]))),
        ),
        (
            "sync body over 32 MiB",
            Http(413, ""),
            Box::new(|c: &Ctx| c.sync_raw(wire::CONTENT_TYPE, vec![7u8; 33 << 20])),
        ),
        (
            "sync as text/plain",
            Http(400, "wrong_content_type"),
            Box::new(|c: &Ctx| {
                let body = wire::encode(&c.request(vec![])).expect("encode");
                c.sync_raw("text/plain", body)
            }),
        ),
        (
            "sync as JSON",
            Http(400, "wrong_content_type"),
            Box::new(|c: &Ctx| c.sync_raw("application/json", br#"{"version":1}"#.to_vec())),
        ),
        (
            "sync protocol version 99",
            Http(400, "version_mismatch"),
            Box::new(|c: &Ctx| {
                let mut r = c.request(vec![]);
                r.version = 99;
                c.sync_raw(wire::CONTENT_TYPE, wire::encode(&r).expect("encode"))
            }),
        ),
        (
            "sync naming another person's device",
            Http(400, "device_mismatch"),
            Box::new(|c: &Ctx| {
                let mut r = c.request(vec![]);
                r.device_id = c.dispatcher_device;
                c.sync_raw(wire::CONTENT_TYPE, wire::encode(&r).expect("encode"))
            }),
        ),
        (
            "sync with 5,001 pushes",
            Http(400, "too_many_pushes"),
            Box::new(|c: &Ctx| {
                let pushes = (0..5001)
                    .map(|_| DocPush {
                        id: Uuid::now_v7(),
                        kind: DocKind::Case,
                        shared_heads: vec![],
                        changes: vec![],
                    })
                    .collect();
                c.push(pushes)
            }),
        ),
        // ---- one document's content inside a sync request
        (
            "corrupt automerge bytes",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                c.push(vec![DocPush {
                    id: Uuid::now_v7(),
                    kind: DocKind::Case,
                    shared_heads: vec![],
                    changes: b"\x85\x6f\x4a\x83 certainly not automerge".to_vec(),
                }])
            }),
        ),
        (
            "automerge bytes that made its decoder panic (a fuzz finding)",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                let push = DocPush {
                    id: Uuid::now_v7(),
                    kind: DocKind::Case,
                    shared_heads: vec![],
                    changes: decoder_crash(),
                };
                c.push(vec![push])
            }),
        ),
        (
            "a whole document chunk instead of changes",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                let mut push = raw_case(c.inspector, |_, _| {});
                let mut doc = Doc::empty(&fieldloop_core::doc::actor_for(&Uuid::nil()));
                doc.load_changes(&push.changes).expect("the case loads");
                push.changes = doc.save();
                c.push(vec![push])
            }),
        ),
        (
            "automerge bytes cut in half",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                let mut push = raw_case(c.inspector, |_, _| {});
                push.changes.truncate(push.changes.len() / 2);
                c.push(vec![push])
            }),
        ),
        (
            "a header naming another document",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                let mut push = raw_case(c.inspector, |_, _| {});
                push.id = Uuid::now_v7();
                c.push(vec![push])
            }),
        ),
        (
            "NaN latitude",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                c.push(vec![raw_case(c.inspector, |h, _| {
                    h.position = at_position(f64::NAN, POSITION.lon, 5.0)
                })])
            }),
        ),
        (
            "latitude 91",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                c.push(vec![raw_case(c.inspector, |h, _| {
                    h.position = at_position(91.0, POSITION.lon, 5.0)
                })])
            }),
        ),
        (
            "longitude 200",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                c.push(vec![raw_case(c.inspector, |h, _| {
                    h.position = at_position(POSITION.lat, 200.0, 5.0)
                })])
            }),
        ),
        (
            "infinite GPS accuracy",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                c.push(vec![raw_case(c.inspector, |h, _| {
                    h.position = at_position(POSITION.lat, POSITION.lon, f64::INFINITY)
                })])
            }),
        ),
        (
            "a report dated ten years ahead",
            Rejected(RejectionKind::Malformed),
            Box::new(move |c: &Ctx| {
                c.push(vec![raw_case(c.inspector, |h, e| {
                    h.created_at = far_future;
                    e.at = far_future;
                })])
            }),
        ),
        (
            "an event dated ten years ahead in an existing case",
            Rejected(RejectionKind::Malformed),
            Box::new(move |c: &Ctx| {
                c.push_edit_of_case(|doc| {
                    let p = &c.inspector.principal;
                    let photo = sha256_hex(b"a photo from the future");
                    let mut e = evidence(fieldloop_core::doc::EvidenceStage::Before, p, far_future);
                    e.position = Some(POSITION);
                    doc.add_evidence(&photo, &e).expect("evidence");
                })
            }),
        ),
        // Evidence is JSON inside the document: NaN becomes null and the document no
        // longer reads, which the rules refuse before the content checks see it.
        (
            "a NaN photo position in an existing case",
            Rejected(RejectionKind::Forbidden),
            Box::new(|c: &Ctx| {
                c.push_edit_of_case(|doc| {
                    let p = &c.inspector.principal;
                    let mut e = evidence(fieldloop_core::doc::EvidenceStage::Before, p, minutes(1));
                    e.position = at_position(f64::NAN, f64::NAN, 5.0);
                    doc.add_evidence(&sha256_hex(b"nan photo"), &e)
                        .expect("evidence");
                })
            }),
        ),
        (
            "an unknown category",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                c.push(vec![raw_case(c.inspector, |h, _| {
                    h.category = Some("29999".into())
                })])
            }),
        ),
        (
            "a grid cell code of 16 digits",
            Rejected(RejectionKind::Malformed),
            Box::new(|c: &Ctx| {
                c.push(vec![raw_case(c.inspector, |h, _| {
                    h.scope.grid_cell = Some(format!("{GRID}9"))
                })])
            }),
        ),
        (
            "a server-only event (case.closed) from a phone",
            Rejected(RejectionKind::Forbidden),
            Box::new(|c: &Ctx| {
                c.push_edit_of_case(|doc| {
                    let p = &c.inspector.principal;
                    let closed = CaseEvent::Closed(Default::default())
                        .to_event(Uuid::now_v7(), minutes(2), &p.user_id, p.role)
                        .expect("event");
                    doc.append_event(&closed).expect("append");
                })
            }),
        ),
        // ---- JSON endpoints
        (
            "login body that is not UTF-8",
            Http(400, "bad_json"),
            Box::new(|c: &Ctx| {
                c.http
                    .post(c.url("/v1/login"))
                    .header("content-type", "application/json")
                    .body(b"{\"username\":\"\xff\xfe\",\"password\":\"x\"}".to_vec())
                    .send()
                    .expect("sent")
            }),
        ),
        (
            "login as text/plain",
            Http(400, "bad_json"),
            Box::new(|c: &Ctx| {
                c.http
                    .post(c.url("/v1/login"))
                    .header("content-type", "text/plain")
                    .body(r#"{"username":"inspector","password":"x"}"#)
                    .send()
                    .expect("sent")
            }),
        ),
        (
            "login with a number for a name",
            Http(400, "bad_json"),
            Box::new(|c: &Ctx| {
                c.http
                    .post(c.url("/v1/login"))
                    .json(&serde_json::json!({"username": 5, "password": "x"}))
                    .send()
                    .expect("sent")
            }),
        ),
        // 400 bad_json today (the JSON extractor's limit), 413 once §6 maps it.
        (
            "login body of 3 MiB",
            Http(0, ""),
            Box::new(|c: &Ctx| {
                c.http
                    .post(c.url("/v1/login"))
                    .header("content-type", "application/json")
                    .body(format!(
                        "{{\"username\":\"{}\",\"password\":\"x\"}}",
                        "a".repeat(3 << 20)
                    ))
                    .send()
                    .expect("sent")
            }),
        ),
        (
            "device id with ../ in it",
            Http(400, "bad_device_id"),
            Box::new(|c: &Ctx| {
                c.authed(
                    c.http
                        .post(c.url("/v1/devices"))
                        .json(&serde_json::json!({"device_id": "../../etc", "name": "x"})),
                )
            }),
        ),
        (
            "device name that is not UTF-8",
            Http(400, "bad_json"),
            Box::new(|c: &Ctx| {
                c.authed(
                    c.http
                        .post(c.url("/v1/devices"))
                        .header("content-type", "application/json")
                        .body(
                            format!("{{\"device_id\":\"{}\",\"name\":\"", Uuid::now_v7())
                                .into_bytes()
                                .into_iter()
                                .chain(b"\xff\"}".iter().copied())
                                .collect::<Vec<u8>>(),
                        ),
                )
            }),
        ),
        // ---- blob addresses and uploads
        (
            "GET a blob path with ../ (encoded)",
            Http(400, "bad_hash"),
            Box::new(|c: &Ctx| {
                c.authed(c.http.get(c.url("/v1/blobs/..%2F..%2F..%2Fetc%2Fpasswd")))
            }),
        ),
        (
            "PUT a blob path with ../ padded to 64 characters",
            Http(400, "bad_hash"),
            Box::new(|c: &Ctx| {
                let name = format!("..%2F..%2F{}", "a".repeat(52));
                c.authed(
                    c.http
                        .put(c.url(&format!("/v1/blobs/{name}")))
                        .body(vec![1u8; 10]),
                )
            }),
        ),
        (
            "HEAD a blob path with ../",
            Http(400, ""),
            Box::new(|c: &Ctx| c.authed(c.http.head(c.url("/v1/blobs/..%2Ffieldloop.sqlite3")))),
        ),
        (
            "GET a blob address that is not UTF-8",
            Http(400, "bad_path"),
            Box::new(|c: &Ctx| {
                c.authed(
                    c.http
                        .get(c.url(&format!("/v1/blobs/{}", "%FF".repeat(64)))),
                )
            }),
        ),
        (
            "PUT a JPEG at another photo's address",
            Http(400, "hash_mismatch"),
            Box::new(|c: &Ctx| {
                let jpeg = &photos::photo(5).jpeg;
                let wrong = sha256_hex(b"some other photo");
                c.authed(
                    c.http
                        .put(c.url(&format!("/v1/blobs/{wrong}")))
                        .body(jpeg.clone()),
                )
            }),
        ),
        (
            "PUT bytes that are no image",
            Http(400, "not_an_image"),
            Box::new(|c: &Ctx| {
                let bytes = b"#!/bin/sh\nrm -rf /\n".repeat(50);
                c.authed(
                    c.http
                        .put(c.url(&format!("/v1/blobs/{}", sha256_hex(&bytes))))
                        .body(bytes),
                )
            }),
        ),
        (
            "PUT a piece starting past the held offset",
            Http(409, "offset_mismatch"),
            Box::new(|c: &Ctx| {
                let hash = sha256_hex(b"never started");
                c.authed(
                    c.http
                        .put(c.url(&format!("/v1/blobs/{hash}")))
                        .header("content-range", "bytes 100-199/1000")
                        .body(vec![0u8; 100]),
                )
            }),
        ),
        (
            "PUT with a Content-Range that does not parse",
            Http(400, "bad_content_range"),
            Box::new(|c: &Ctx| {
                let hash = sha256_hex(b"bad range");
                c.authed(
                    c.http
                        .put(c.url(&format!("/v1/blobs/{hash}")))
                        .header("content-range", "bytes banana/12")
                        .body(vec![0u8; 12]),
                )
            }),
        ),
        (
            "PUT announcing 50 GB",
            Http(413, "too_large"),
            Box::new(|c: &Ctx| {
                let hash = sha256_hex(b"huge");
                c.authed(
                    c.http
                        .put(c.url(&format!("/v1/blobs/{hash}")))
                        .header("content-range", "bytes 0-9/50000000000")
                        .body(vec![0u8; 10]),
                )
            }),
        ),
    ]
}

#[test]
fn malformed_requests_are_refused_with_a_reason_and_change_nothing() {
    for backend in Backend::selected() {
        let server = start_server(backend, None);
        server.add_user(
            "inspector",
            Role::Inspector,
            Jurisdiction {
                grid_prefixes: vec![COMMUNITY.into()],
                ..Jurisdiction::default()
            },
        );
        server.add_user(
            "dispatcher",
            Role::Dispatcher,
            Jurisdiction {
                grid_prefixes: vec![STREET.into()],
                ..Jurisdiction::default()
            },
        );
        let mut inspector = Device::login(&server, "inspector");
        let dispatcher = Device::login(&server, "dispatcher");
        let photo = photos::photo(0).clone();
        let before = evidence(
            fieldloop_core::doc::EvidenceStage::Before,
            &inspector.principal,
            minutes(0),
        );
        let case = report_with_photo(&mut inspector, minutes(0), &photo.hash, &photo.jpeg, before);
        inspector.sync(minutes(1));
        fieldloop_core::sync::upload::upload_pending(
            &inspector.client,
            &mut inspector.store,
            &Default::default(),
        )
        .expect("upload");
        let ctx = Ctx {
            server: &server,
            http: fresh_connections(),
            inspector: &inspector,
            dispatcher_device: dispatcher.store.device_id(),
            case,
            photo_hash: photo.hash.clone(),
        };
        let before_dump = dump(&server);
        assert!(
            before_dump.contains(&case.to_string()),
            "the dump shows the case"
        );
        let table = rows();
        let mut reasons = Vec::new();
        let mut wrong = Vec::new();
        for (name, expect, send) in &table {
            let response = send(&ctx);
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                judge(name, response, expect)
            })) {
                Ok(reason) => reasons.push(format!("{name}: {reason}")),
                Err(_) => wrong.push(*name),
            }
            // A fresh connection: the refused request's one may have been closed on purpose.
            let health = Client::new()
                .get(ctx.url("/health"))
                .send()
                .unwrap_or_else(|e| panic!("the server stopped answering after {name}: {e}"));
            assert_eq!(health.status(), 200, "the server serves on after {name}");
        }
        assert!(wrong.is_empty(), "answered wrongly (see above): {wrong:?}");
        // The real photo is still served whole, the real case still syncs.
        let stored = ctx.authed(
            ctx.http
                .get(ctx.url(&format!("/v1/blobs/{}", ctx.photo_hash))),
        );
        assert_eq!(stored.bytes().expect("bytes").to_vec(), photo.jpeg);
        assert_eq!(dump(&server), before_dump, "stored data unchanged");
        println!(
            "{backend:?}: {} bad inputs refused:\n{}",
            table.len(),
            reasons.join("\n")
        );
    }
}

/// With a city's grid loaded, a well-formed cell that is not one of its cells is refused.
#[test]
fn a_case_in_a_cell_the_city_does_not_have_is_refused() {
    let server = start_server(Backend::Embedded, None);
    let importer = fieldloop_core::roles::Principal {
        user_id: "city-importer".into(),
        role: Role::Admin,
        jurisdiction: Jurisdiction {
            everywhere: true,
            ..Jurisdiction::default()
        },
    };
    server
        .runtime()
        .block_on(fieldloop_server::demo::city_files::import_demo_city(
            &server.state,
            &importer,
        ))
        .expect("the demo city imports");
    server.add_user(
        "inspector",
        Role::Inspector,
        Jurisdiction {
            grid_prefixes: vec!["330106".into()],
            ..Jurisdiction::default()
        },
    );
    let inspector = Device::login(&server, "inspector");
    let ctx = Ctx {
        server: &server,
        http: fresh_connections(),
        inspector: &inspector,
        dispatcher_device: Uuid::nil(),
        case: Uuid::nil(),
        photo_hash: String::new(),
    };
    let before = dump(&server);
    // Community 001 of street 001 has cells 001–004.
    for (cell, expect) in [
        (
            "330106001001009",
            Expect::Rejected(RejectionKind::Malformed),
        ),
        ("330106001001002", Expect::Http(200, "")),
    ] {
        let push = raw_case(&inspector, |h, _| {
            h.scope.grid_cell = Some(cell.into());
            h.position = Some(Position {
                lat: 30.263,
                lon: 120.097,
                accuracy_m: 5.0,
            });
        });
        let response = ctx.push(vec![push]);
        match expect {
            Expect::Rejected(_) => {
                let reason = judge(cell, response, &expect);
                assert!(reason.contains(cell), "{reason}");
                assert_eq!(dump(&server), before);
            }
            Expect::Http(..) => {
                let answer: SyncResponse =
                    wire::decode(&response.bytes().expect("body")).expect("answer");
                assert_eq!(answer.acks.len(), 1, "a real cell is accepted: {answer:?}");
            }
        }
    }
}

/// Seeds for the cargo-fuzz targets (run by scripts/fuzz): sync request bodies and whole
/// documents as the real client writes them, into `$FIELDLOOP_FUZZ_SEEDS/<target>/`.
#[test]
#[ignore = "writes fuzz seeds; scripts/fuzz runs it"]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("FIELDLOOP_FUZZ_SEEDS").map(std::path::PathBuf::from) else {
        panic!("set FIELDLOOP_FUZZ_SEEDS to the corpus directory");
    };
    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    let id = report_case(&mut inspector, GRID, minutes(0));
    let first = inspector
        .client
        .build_request(&inspector.store)
        .expect("request");
    inspector.sync(minutes(1));
    let mut doc = inspector.store.load_doc(id).expect("doc");
    doc.set_field("address", "朝阳区三里屯路 21 号")
        .expect("field");
    inspector.save(&mut doc);
    let second = inspector
        .client
        .build_request(&inspector.store)
        .expect("request");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let path = dir.join(target);
        std::fs::create_dir_all(&path).expect("corpus dir");
        std::fs::write(path.join(name), bytes).expect("seed written");
    };
    write(
        "sync_request",
        "new-case",
        &wire::encode(&first).expect("encode"),
    );
    write(
        "sync_request",
        "field-edit",
        &wire::encode(&second).expect("encode"),
    );
    write("doc_load", "case", &doc.save());
    write(
        "doc_load",
        "server-copy",
        &server.doc(id).expect("on server").save(),
    );
}

/// A client that opens a connection per request: a refusal may close its connection
/// early (an unread body), which must not fail the next row.
fn fresh_connections() -> Client {
    Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}
