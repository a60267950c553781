//! Issue 12 §7: who may do what, over real HTTP.
//! - every role (and no login) × every endpoint: the answer allows exactly the policy's
//!   cells, so zero unexpected allows (and no unexpected denials);
//! - every case event type × a case inside / outside the sender's jurisdiction, pushed by
//!   each street role: outside is always refused; inside the server decides as the phone's
//!   own permission table does;
//! - tokens expire and can be revoked; a token bound to a device cannot bind a second;
//! - HEAD on a photo answers like GET for a person who may not read it (no size);
//! - passwords, tokens and device keys never appear in the logs (the tracing output of
//!   logins, a password reset, a device registration and a sync is captured).

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

use fieldloop_core::case::kinds;
use fieldloop_core::doc::{DocKind, Event};
use fieldloop_core::roles::{all_rules, Jurisdiction, Role};
use fieldloop_core::rules::validate_update;
use fieldloop_core::sync::wire::{self, DocPush, RejectionKind, SyncRequest, SyncResponse};
use fieldloop_core::time::DAY;
use fieldloop_tests::faults::{photos, report, report_in, Backend};
use fieldloop_tests::*;
use reqwest::blocking::{Client, Response};
use reqwest::Method;
use uuid::Uuid;

const ROLES: [Role; 7] = [
    Role::Inspector,
    Role::Dispatcher,
    Role::Handler,
    Role::Supervisor,
    Role::Contractor,
    Role::RiverChief,
    Role::Admin,
];

fn name_of(role: Role) -> String {
    format!("{role:?}").to_lowercase()
}

fn jurisdiction_of(role: Role) -> Jurisdiction {
    let mut j = Jurisdiction::default();
    match role {
        Role::Inspector => j.grid_prefixes = vec![COMMUNITY.into()],
        Role::Dispatcher => j.grid_prefixes = vec![STREET.into()],
        Role::Handler => j.units = vec![UNIT.into()],
        Role::Supervisor | Role::Contractor => j.projects = vec!["canal-2026".into()],
        Role::RiverChief => j.segments = vec!["xixi-01".into()],
        Role::Admin | Role::Server => j.everywhere = true,
    }
    j
}

/// Who the policy lets through, per endpoint (server/README.md "HTTP").
fn allowed(endpoint: &str, role: Option<Role>) -> bool {
    let Some(role) = role else {
        return endpoint == "GET /health";
    };
    match endpoint {
        "GET /health" | "GET /v1/me" | "POST /v1/devices" | "POST /v1/sync"
        | "GET /v1/reference" => true,
        "POST /v1/users"
        | "PATCH /v1/users/{username}"
        | "GET /v1/admin/users"
        | "POST /v1/admin/users/{username}/password"
        | "GET /v1/admin/devices"
        | "POST /v1/admin/devices/{device}/revoke"
        | "GET /v1/admin/audit"
        | "GET /v1/admin/audit/check"
        | "POST /v1/admin/open311/keys"
        | "PUT /v1/reference/{kind}" => role == Role::Admin,
        // Every person reads cases, each within their own jurisdiction.
        "GET /v1/cases" => true,
        "PUT /v1/blobs/{hash}" => role != Role::Dispatcher,
        // The photo of a case in community 002: its uploader, the street's dispatcher, admins.
        "GET /v1/blobs/{hash}" => matches!(role, Role::Inspector | Role::Dispatcher | Role::Admin),
        // HEAD is for uploaders (not dispatchers) and answers like GET for the rest.
        "HEAD /v1/blobs/{hash}" => matches!(role, Role::Inspector | Role::Admin),
        "GET /v1/evaluation" => matches!(role, Role::Dispatcher | Role::Admin),
        other => panic!("no policy for {other}"),
    }
}

struct Person {
    role: Role,
    device: Device,
}

fn send(
    server: &TestServer,
    endpoint: &str,
    token: Option<&str>,
    person: Option<&Person>,
    photo: &str,
    target_device: &str,
) -> Response {
    let http = Client::new();
    let (method, path) = endpoint.split_once(' ').expect("method path");
    let fresh = Uuid::now_v7().simple().to_string();
    let path = path
        .replace("{username}", "target")
        .replace("{hash}", photo)
        .replace("{device}", target_device)
        .replace("{kind}", "grid")
        .replace("/v1/evaluation", "/v1/evaluation?period=2026-11");
    let url = format!("{}{path}", server.base);
    let mut request = http.request(Method::from_bytes(method.as_bytes()).expect("method"), &url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request = match endpoint {
        "POST /v1/devices" => request.json(&serde_json::json!({
            "device_id": person.map_or(fresh.clone(), |p| p.device.store.device_id().to_string()),
            "name": "phone"
        })),
        "POST /v1/users" => request.json(&serde_json::json!({
            "username": format!("new-{fresh}"),
            "password": "a-long-enough-password",
            "role": "inspector",
            "jurisdiction": { "grid_prefixes": [COMMUNITY] }
        })),
        "PATCH /v1/users/{username}" => request.json(&serde_json::json!({ "disabled": false })),
        "POST /v1/admin/users/{username}/password" => {
            request.json(&serde_json::json!({ "password": "another-long-password" }))
        }
        "POST /v1/admin/open311/keys" => request.json(&serde_json::json!({ "client": fresh })),
        // A file with a broken feature: an admin gets 422 and nothing is stored.
        "PUT /v1/reference/{kind}" => {
            request.body(r#"{"type": "FeatureCollection", "features": [{}]}"#)
        }
        "POST /v1/sync" => {
            let device_id = person.map_or(Uuid::now_v7(), |p| p.device.store.device_id());
            let body = wire::encode(&SyncRequest {
                version: wire::PROTOCOL_VERSION,
                device_id,
                cursor: 0,
                pushes: vec![],
                want_full: vec![],
                page_bytes: 1 << 16,
                reference_version: None,
            })
            .expect("encode");
            request
                .header("content-type", wire::CONTENT_TYPE)
                .body(body)
        }
        // A first piece of a new photo: accepted as unfinished (202) when allowed.
        "PUT /v1/blobs/{hash}" => {
            let hash = fieldloop_core::store::sha256_hex(fresh.as_bytes());
            let mut put = http
                .put(format!("{}/v1/blobs/{hash}", server.base))
                .header("content-range", "bytes 0-9/100")
                .body(vec![0u8; 10]);
            if let Some(token) = token {
                put = put.bearer_auth(token);
            }
            put
        }
        _ => request,
    };
    request.send().expect("sent")
}

#[test]
fn every_role_reaches_exactly_the_endpoints_the_policy_allows() {
    let server = Backend::Embedded.start();
    for role in ROLES {
        server.add_user(&name_of(role), role, jurisdiction_of(role));
    }
    server.add_user("target", Role::Inspector, jurisdiction_of(Role::Inspector));
    // The person whose account and phone the admin endpoints act on.
    let target_device = Device::login(&server, "target")
        .store
        .device_id()
        .to_string();
    let people: Vec<Person> = ROLES
        .iter()
        .map(|&role| Person {
            role,
            device: Device::login(&server, &name_of(role)),
        })
        .collect();
    // A photo of a case in community 002, uploaded by the inspector.
    let photo = photos::photo(0);
    {
        let inspector = &people[0].device;
        let mut store = fieldloop_core::store::Store::open_existing(inspector.store.path())
            .expect("inspector store");
        report(&mut store, &inspector.principal, minutes(0), photo).expect("report");
        let mut client = inspector.client.clone();
        client.sync(&mut store, minutes(1)).expect("sync");
        fieldloop_core::sync::upload::upload_pending(&client, &mut store, &Default::default())
            .expect("upload");
    }
    let endpoints = [
        "GET /health",
        "GET /v1/me",
        "POST /v1/devices",
        "POST /v1/users",
        "PATCH /v1/users/{username}",
        "POST /v1/sync",
        "PUT /v1/blobs/{hash}",
        "HEAD /v1/blobs/{hash}",
        "GET /v1/blobs/{hash}",
        "GET /v1/reference",
        "GET /v1/evaluation",
        "GET /v1/cases",
        "GET /v1/admin/users",
        "POST /v1/admin/users/{username}/password",
        "GET /v1/admin/devices",
        "POST /v1/admin/devices/{device}/revoke",
        "GET /v1/admin/audit",
        "GET /v1/admin/audit/check",
        "POST /v1/admin/open311/keys",
        "PUT /v1/reference/{kind}",
    ];
    let mut wrong = Vec::new();
    let mut cells = 0;
    for endpoint in endpoints {
        let callers = std::iter::once(None).chain(people.iter().map(Some));
        for person in callers {
            let role = person.map(|p| p.role);
            let token = person.map(|p| p.device.token.as_str());
            let status = send(
                &server,
                endpoint,
                token,
                person,
                &photo.hash,
                &target_device,
            )
            .status();
            cells += 1;
            let let_through = !matches!(status.as_u16(), 401 | 403);
            if let_through != allowed(endpoint, role) || status.is_server_error() {
                wrong.push(format!("{endpoint} as {role:?}: {status}"));
            }
        }
    }
    assert!(wrong.is_empty(), "answers against the policy: {wrong:#?}");
    println!(
        "authorization matrix: {cells} cells (8 callers × {} endpoints), all as the policy says",
        endpoints.len()
    );
}

/// The server's answer to one pushed event on a stored case, as `principal`.
fn push_event(
    server: &TestServer,
    device: &Device,
    case: Uuid,
    kind: &str,
) -> (Result<(), String>, Result<(), String>) {
    let stored = server.doc(case).expect("case on the server");
    let before = stored.snapshot().expect("snapshot");
    let mut doc =
        fieldloop_core::doc::Doc::load(&stored.clone().save(), device.store.actor()).expect("copy");
    let shared = doc.heads();
    let p = &device.principal;
    let event = Event::new(
        Uuid::now_v7(),
        kind,
        minutes(30),
        &p.user_id,
        p.role,
        serde_json::json!({}),
    );
    doc.append_event(&event).expect("append");
    let after = doc.snapshot().expect("snapshot");
    let local = validate_update(p, Some(&before), &after, all_rules()).map_err(|r| r.reason);
    let body = wire::encode(&SyncRequest {
        version: wire::PROTOCOL_VERSION,
        device_id: device.store.device_id(),
        cursor: server.head_seq() as u64,
        pushes: vec![DocPush {
            id: case,
            kind: DocKind::Case,
            shared_heads: wire::heads_to_wire(&shared),
            changes: doc.save_after(&shared),
        }],
        want_full: vec![],
        page_bytes: 1 << 16,
        reference_version: None,
    })
    .expect("encode");
    let response = Client::new()
        .post(format!("{}/v1/sync", server.base))
        .bearer_auth(&device.token)
        .header("content-type", wire::CONTENT_TYPE)
        .body(body)
        .send()
        .expect("sent");
    assert_eq!(response.status(), 200);
    let answer: SyncResponse = wire::decode(&response.bytes().expect("body")).expect("answer");
    let remote = match answer.rejections.first() {
        Some(r) => {
            assert_eq!(r.kind, RejectionKind::Forbidden, "{kind}: {}", r.reason);
            Err(r.reason.clone())
        }
        None => Ok(()),
    };
    (local, remote)
}

#[test]
fn no_case_event_is_accepted_outside_the_senders_jurisdiction() {
    let server = Backend::Embedded.start();
    for role in [Role::Inspector, Role::Dispatcher, Role::Handler] {
        server.add_user(&name_of(role), role, jurisdiction_of(role));
    }
    let far_street = "110105009";
    server.add_user(
        "far-inspector",
        Role::Inspector,
        Jurisdiction {
            grid_prefixes: vec![far_street.into()],
            ..Jurisdiction::default()
        },
    );
    let mut inspector = Device::login(&server, "inspector");
    let mut dispatcher = Device::login(&server, "dispatcher");
    let handler = Device::login(&server, "handler");
    let mut far = Device::login(&server, "far-inspector");
    // Inside: reported in community 002, registered, dispatched by the server to UNIT.
    let inside = report_case(&mut inspector, GRID, minutes(0));
    inspector.sync(minutes(1));
    dispatcher.sync(minutes(2));
    dispatcher.act(inside, register(), minutes(3));
    dispatcher.sync(minutes(4));
    assert_eq!(server.status(inside).as_deref(), Some("dispatched"));
    // Outside everyone's jurisdiction here: another street, never dispatched.
    let outside = report_case(&mut far, &format!("{far_street}001001"), minutes(0));
    far.sync(minutes(1));

    let kinds_list = [
        kinds::REPORTED,
        kinds::SELF_FIXED,
        kinds::REGISTERED,
        kinds::REJECTED,
        kinds::VOIDED,
        kinds::MERGED,
        kinds::DISPATCHED,
        kinds::ACCEPTED,
        kinds::RETURNED_TO_DISPATCH,
        kinds::EXTENSION_REQUESTED,
        kinds::EXTENSION_GRANTED,
        kinds::EXTENSION_DENIED,
        kinds::SUSPENDED,
        kinds::RESUMED,
        kinds::HANDLED,
        kinds::VERIFICATION_SUBMITTED,
        kinds::VERDICT,
        kinds::CLOSED,
        kinds::REWORK,
        kinds::SUPERVISED,
        kinds::DEADLINE_WARNING,
        kinds::OVERDUE,
        kinds::ESCALATED,
    ];
    let mut outside_allowed = Vec::new();
    let mut disagree = Vec::new();
    let (mut inside_allowed, mut tried) = (0, 0);
    for device in [&inspector, &dispatcher, &handler] {
        for kind in kinds_list {
            tried += 2;
            let (_, remote) = push_event(&server, device, outside, kind);
            if remote.is_ok() {
                outside_allowed.push(format!("{:?} {kind}", device.principal.role));
            }
            let (local, remote) = push_event(&server, device, inside, kind);
            if local.is_ok() != remote.is_ok() {
                disagree.push(format!(
                    "{:?} {kind}: phone {local:?}, server {remote:?}",
                    device.principal.role
                ));
            }
            inside_allowed += usize::from(remote.is_ok());
        }
    }
    assert!(
        outside_allowed.is_empty(),
        "accepted outside jurisdiction: {outside_allowed:?}"
    );
    assert!(disagree.is_empty(), "{disagree:#?}");
    assert!(
        inside_allowed > 3,
        "the inside case takes each role's own events"
    );
    println!("event × jurisdiction: {tried} pushes, {inside_allowed} allowed inside, 0 outside");
}

#[test]
fn tokens_expire_are_revoked_and_bind_one_device() {
    let server = TestServer::with_street_people();
    let me = |token: &str| {
        let r = Client::new()
            .get(format!("{}/v1/me", server.base))
            .bearer_auth(token)
            .send()
            .expect("sent");
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().unwrap_or_default();
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let inspector = Device::login(&server, "inspector");
    assert_eq!(me(&inspector.token).0, 200);

    // Bound to its phone, the token cannot bind a second one.
    let second = Client::new()
        .post(format!("{}/v1/devices", server.base))
        .bearer_auth(&inspector.token)
        .json(&serde_json::json!({"device_id": Uuid::now_v7().to_string(), "name": "another"}))
        .send()
        .expect("sent");
    assert_eq!(second.status(), 409);
    let body: serde_json::Value = second.json().expect("json");
    assert_eq!(body["error"], "token_bound", "{body}");
    let same = Client::new()
        .post(format!("{}/v1/devices", server.base))
        .bearer_auth(&inspector.token)
        .json(&serde_json::json!({"device_id": inspector.store.device_id().to_string(), "name": "again"}))
        .send()
        .expect("sent");
    assert_eq!(same.status(), 200, "repeating the same device is harmless");

    // Revoked by logging out.
    let dispatcher = Device::login(&server, "dispatcher");
    let out = Client::new()
        .post(format!("{}/v1/logout", server.base))
        .bearer_auth(&dispatcher.token)
        .send()
        .expect("sent");
    assert_eq!(out.status(), 204);
    assert_eq!(me(&dispatcher.token), (401, "revoked_token".to_owned()));

    // Expired: the default lifetime is 30 days.
    server.clock.set(T0 + 31 * DAY);
    assert_eq!(me(&inspector.token), (401, "expired_token".to_owned()));
}

#[test]
fn head_on_a_photo_answers_like_get_for_who_may_not_read_it() {
    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    let other = Device::login(&server, "other-inspector");
    let handler = Device::login(&server, "handler");
    let photo = photos::photo(1);
    let principal = inspector.principal.clone();
    report(&mut inspector.store, &principal, minutes(0), photo).expect("report");
    inspector.sync(minutes(1));
    fieldloop_core::sync::upload::upload_pending(
        &inspector.client,
        &mut inspector.store,
        &Default::default(),
    )
    .expect("upload");
    let url = format!("{}/v1/blobs/{}", server.base, photo.hash);
    // Status, whether a size header came, and Content-Length as sent.
    let answer = |method: Method, token: &str| {
        let r = Client::new()
            .request(method, &url)
            .bearer_auth(token)
            .send()
            .expect("sent");
        let length = r
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        (
            r.status().as_u16(),
            r.headers().get("upload-offset").is_some(),
            length,
        )
    };
    let size = photo.jpeg.len();
    assert_eq!(answer(Method::GET, &inspector.token).0, 200);
    let (status, offset, _) = answer(Method::HEAD, &inspector.token);
    assert_eq!((status, offset), (200, true));
    for token in [&other.token, &handler.token] {
        let get = answer(Method::GET, token);
        assert_eq!((get.0, get.1), (403, false));
        let head = answer(Method::HEAD, token);
        assert_eq!(
            head, get,
            "HEAD answers exactly like GET: no size for outsiders"
        );
        assert_ne!(head.2, Some(size), "Content-Length is not the photo's size");
    }
    // The other inspector photographs the very same file: the upload still completes.
    let mut other = other;
    let principal = other.principal.clone();
    report_in(&mut other.store, &principal, minutes(2), photo, OTHER_GRID).expect("report");
    let up = fieldloop_core::sync::upload::upload_pending(
        &other.client,
        &mut other.store,
        &Default::default(),
    )
    .expect("upload");
    assert_eq!((up.uploaded, up.already_there), (1, 0), "{up:?}");
}

/// The tracing output of this test binary, captured from the first log line on.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn passwords_and_tokens_never_reach_the_logs() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tracing_subscriber::prelude::*;
    // Every level of every crate while this test runs, nothing after: a global TRACE
    // subscriber would slow every later test of the binary to a crawl.
    static CAPTURING: AtomicBool = AtomicBool::new(true);
    let logs = Captured::default();
    let writer = logs.clone();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .with_filter(tracing_subscriber::filter::filter_fn(|_| {
            CAPTURING.load(Ordering::Relaxed)
        }));
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .expect("the only test that installs a subscriber");
    let server = TestServer::start();
    server.add_user("admin", Role::Admin, jurisdiction_of(Role::Admin));
    let http = Client::new();
    let login = |name: &str, password: &str| {
        http.post(format!("{}/v1/login", server.base))
            .json(&serde_json::json!({"username": name, "password": password}))
            .send()
            .expect("sent")
    };
    let wrong = "wrong-Pass-faults-7777";
    assert_eq!(login("admin", wrong).status(), 401);
    let admin: serde_json::Value = login("admin", &password_of("admin")).json().expect("json");
    let admin_token = admin["token"].as_str().expect("token").to_owned();
    let new_password = "S3cret-pass-faults-9431";
    let created = http
        .post(format!("{}/v1/users", server.base))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({
            "username": "newcomer", "password": new_password,
            "role": "inspector", "jurisdiction": { "grid_prefixes": [COMMUNITY] }
        }))
        .send()
        .expect("sent");
    assert_eq!(created.status(), 201);
    let newcomer: serde_json::Value = login("newcomer", new_password).json().expect("json");
    let newcomer_token = newcomer["token"].as_str().expect("token").to_owned();
    for token in [
        &admin_token,
        &newcomer_token,
        &"not-a-real-token".to_owned(),
    ] {
        http.get(format!("{}/v1/me", server.base))
            .bearer_auth(token)
            .send()
            .expect("sent");
    }
    // An admin resets the newcomer's password; the newcomer logs in with the new one.
    let reset_password = "R3set-pass-faults-5150";
    let reset = http
        .post(format!("{}/v1/admin/users/newcomer/password", server.base))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({ "password": reset_password }))
        .send()
        .expect("sent");
    assert_eq!(reset.status(), 204);
    let relogin: serde_json::Value = login("newcomer", reset_password).json().expect("json");
    let reset_token = relogin["token"].as_str().expect("token").to_owned();
    // A phone registers its device key and syncs a report.
    server.add_street_people();
    let mut phone = Device::login(&server, "inspector");
    let device_key = phone.store.evidence_signer().public_key_hex();
    report_case(&mut phone, GRID, minutes(0));
    let synced = phone.sync(minutes(1));
    assert_eq!(synced.docs_acked, 1, "{synced:?}");
    drop(server);
    CAPTURING.store(false, Ordering::Relaxed);
    let text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    for path in ["/v1/login", "/v1/admin/users/newcomer/password", "/v1/sync"] {
        assert!(
            text.contains(path),
            "the request log was captured ({path}): {} bytes",
            text.len()
        );
    }
    let admin_password = password_of("admin");
    let phone_password = password_of("inspector");
    let secrets: BTreeSet<&str> = [
        wrong,
        new_password,
        reset_password,
        &admin_password,
        &phone_password,
        &admin_token,
        &newcomer_token,
        &reset_token,
        &phone.token,
        &device_key,
        "not-a-real-token",
    ]
    .into_iter()
    .collect::<BTreeSet<&str>>();
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "a secret reached the logs: {secret}"
        );
    }
    println!(
        "logs: {} bytes of TRACE output, no password, token or device key in them",
        text.len()
    );
}
