//! Bytes on the wire and round trips of fieldloop's sync against automerge's own sync
//! protocol, carrying the same documents, in the same run.
//!
//! Setup: a real server on loopback; an inspector reports N cases (one before-photo
//! reference each) and a dispatcher registers and dispatches every one to the handler's
//! unit, all over sync. Then:
//! - (b) a new handler device receives its N assigned cases;
//! - (a) that device accepts one case offline and reconnects;
//! - (a') the dispatcher changes one case and the handler device reconnects.
//!
//! fieldloop: HTTP body sizes of `POST /v1/sync` (compressed, as sent) and round trips,
//! from the client's report. automerge: `generate_sync_message` / `receive_sync_message`
//! per document with a `sync::State` per document kept on both sides (persisted between
//! sessions with `State::encode`/`decode`, as an app must), every message `encode()`d and
//! counted both ways; one round trip = every document's device→server message in one
//! batch and the server's replies back (the most favourable batching for automerge).
//! Run: `cargo bench -p fieldloop-tests --bench sync_wire` (N from `FIELDLOOP_BENCH_DOCS`).

use std::collections::HashMap;
use std::time::Instant;

use automerge::sync::{Message, State, SyncDoc};
use automerge::AutoCommit;
use fieldloop_core::doc::heads_from_hex;
use fieldloop_core::sync::client::SyncReport;
use fieldloop_tests::*;
use uuid::Uuid;

#[derive(Debug, Default, Clone, Copy)]
struct Wire {
    round_trips: u32,
    up: u64,
    down: u64,
    messages: u64,
}

impl Wire {
    fn total(&self) -> u64 {
        self.up + self.down
    }
}

fn ours(report: &SyncReport) -> Wire {
    Wire {
        round_trips: report.round_trips,
        up: report.bytes_sent,
        down: report.bytes_received,
        messages: 2 * u64::from(report.round_trips),
    }
}

/// A device's and the server's copies of some documents, with both sides' sync states.
struct AmPeers {
    device: HashMap<Uuid, AutoCommit>,
    server: HashMap<Uuid, AutoCommit>,
    device_states: HashMap<Uuid, State>,
    server_states: HashMap<Uuid, State>,
}

impl AmPeers {
    /// A session ends: both sides keep only what `State::encode` persists.
    fn reconnect(&mut self) {
        for states in [&mut self.device_states, &mut self.server_states] {
            for state in states.values_mut() {
                *state = State::decode(&state.encode()).expect("state decodes");
            }
        }
    }

    /// Runs automerge's protocol over `ids` until both sides are quiet.
    fn sync(&mut self, ids: &[Uuid]) -> Wire {
        let mut wire = Wire::default();
        loop {
            let mut up: Vec<(Uuid, Vec<u8>)> = Vec::new();
            for id in ids {
                let doc = self.device.get_mut(id).expect("device doc");
                let state = self.device_states.entry(*id).or_default();
                if let Some(message) = doc.sync().generate_sync_message(state) {
                    up.push((*id, message.encode()));
                }
            }
            // The server may also have something to say unprompted.
            let mut down: Vec<(Uuid, Vec<u8>)> = Vec::new();
            for (id, bytes) in &up {
                let doc = self.server.get_mut(id).expect("server doc");
                let state = self.server_states.entry(*id).or_default();
                let message = Message::decode(bytes).expect("message decodes");
                doc.sync()
                    .receive_sync_message(state, message)
                    .expect("server receives");
            }
            for id in ids {
                let doc = self.server.get_mut(id).expect("server doc");
                let state = self.server_states.entry(*id).or_default();
                if let Some(message) = doc.sync().generate_sync_message(state) {
                    down.push((*id, message.encode()));
                }
            }
            if up.is_empty() && down.is_empty() {
                break;
            }
            wire.round_trips += 1;
            wire.messages += (up.len() + down.len()) as u64;
            wire.up += up.iter().map(|(_, m)| m.len() as u64).sum::<u64>();
            wire.down += down.iter().map(|(_, m)| m.len() as u64).sum::<u64>();
            for (id, bytes) in down {
                let doc = self.device.get_mut(&id).expect("device doc");
                let state = self.device_states.entry(id).or_default();
                let message = Message::decode(&bytes).expect("message decodes");
                doc.sync()
                    .receive_sync_message(state, message)
                    .expect("device receives");
            }
        }
        wire
    }
}

fn row(name: &str, ours: Wire, am: Wire) {
    let ratio = ours.total() as f64 / am.total().max(1) as f64;
    println!(
        "| {name} | {} | {} B ({} up / {} down) | {} | {} B ({} up / {} down, {} msgs) | {ratio:.3}× |",
        ours.round_trips,
        ours.total(),
        ours.up,
        ours.down,
        am.round_trips,
        am.total(),
        am.up,
        am.down,
        am.messages
    );
}

fn main() {
    let n: i64 = std::env::var("FIELDLOOP_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let started = Instant::now();
    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    let mut dispatcher = Device::login(&server, "dispatcher");
    let ids: Vec<Uuid> = (0..n)
        .map(|i| report_case(&mut inspector, GRID, minutes(i % 600)))
        .collect();
    let up = inspector.sync(minutes(700));
    assert!(up.complete && up.docs_acked as i64 == n, "{up:?}");
    let down = dispatcher.sync(minutes(701));
    assert_eq!(down.docs_received as i64, n);
    for id in &ids {
        dispatcher.act(*id, register(), minutes(702));
        dispatcher.act(*id, dispatch(UNIT), minutes(703));
    }
    let report = dispatcher.sync(minutes(704));
    assert!(
        report.complete && report.docs_acked as i64 == n,
        "{report:?}"
    );
    eprintln!("setup: {n} cases on the server in {:?}", started.elapsed());

    println!("fieldloop sync vs automerge sync, {n} case documents (report, registered, dispatched; one photo reference each)");
    println!();
    println!("| scenario | fieldloop round trips | fieldloop bytes | automerge round trips | automerge bytes | ratio |");
    println!("|---|---|---|---|---|---|");

    // (b) A new handler device receives its N assigned documents, in pages.
    let mut handler = Device::login(&server, "handler");
    let b = handler.sync(minutes(705));
    assert!(b.complete && b.docs_received as i64 == n, "{b:?}");
    let mut peers = AmPeers {
        device: ids.iter().map(|id| (*id, AutoCommit::new())).collect(),
        server: ids
            .iter()
            .map(|id| {
                let mut doc = server.doc(*id).expect("server doc");
                (*id, doc.automerge().clone())
            })
            .collect(),
        device_states: HashMap::new(),
        server_states: HashMap::new(),
    };
    let am_b = peers.sync(&ids);
    row(
        &format!("(b) new device receives {n} docs (1 MiB pages)"),
        ours(&b),
        am_b,
    );

    let mut small_pages = Device::login(&server, "handler");
    small_pages.client.page_bytes = 64 * 1024;
    let b_small = small_pages.sync(minutes(705));
    assert!(b_small.complete && b_small.docs_received as i64 == n);
    row(
        &format!("(b) same, 64 KiB pages ({} pages)", b_small.round_trips),
        ours(&b_small),
        am_b,
    );

    // (a) The device accepts one case offline, then reconnects.
    peers.reconnect();
    let changed = ids[n as usize / 2];
    let shared = heads_from_hex(&handler.store.shared_heads(changed).unwrap()).unwrap();
    handler.act(changed, accept(), minutes(710));
    let change = handler.store.load_doc(changed).unwrap().save_after(&shared);
    peers
        .device
        .get_mut(&changed)
        .expect("device doc")
        .load_incremental(&change)
        .expect("same change loads");
    let a = handler.sync(minutes(711));
    assert!(a.complete && a.docs_acked == 1, "{a:?}");
    let am_a = peers.sync(&ids);
    row(
        "(a) reconnect, 1 case changed on the device",
        ours(&a),
        am_a,
    );
    peers.reconnect();
    let am_a_one = {
        // Automerge's best case: the app knows which document changed and syncs it alone
        // (it cannot know what changed on the server without asking about every one).
        let before = server_doc_at(&server, changed, &shared);
        let mut device_doc = before.clone();
        device_doc
            .load_incremental(&change)
            .expect("same change loads");
        let mut fresh = AmPeers {
            device: HashMap::from([(changed, before.clone())]),
            server: HashMap::from([(changed, before)]),
            device_states: HashMap::new(),
            server_states: HashMap::new(),
        };
        fresh.sync(&[changed]);
        fresh.device.insert(changed, device_doc);
        fresh.reconnect();
        fresh.sync(&[changed])
    };
    row(
        "(a) same, automerge syncing only the changed doc",
        ours(&a),
        am_a_one,
    );

    // (a') One case changed elsewhere (the dispatcher's note), the device reconnects.
    let other = ids[n as usize / 3];
    dispatcher.sync(minutes(712));
    let mut doc = dispatcher.store.load_doc(other).unwrap();
    doc.set_field("description", "路边垃圾，已派环卫一队")
        .unwrap();
    dispatcher.save(&mut doc);
    dispatcher.sync(minutes(713));
    let server_copy = server.doc(other).expect("server doc").automerge().clone();
    peers.server.insert(other, server_copy);
    let a2 = handler.sync(minutes(714));
    assert!(a2.complete && a2.docs_received == 1, "{a2:?}");
    let am_a2 = peers.sync(&ids);
    row(
        "(a') reconnect, 1 case changed on the server",
        ours(&a2),
        am_a2,
    );

    println!();
    println!("total bench time {:?}", started.elapsed());
}

/// The server's copy of a document as it was at `heads`.
fn server_doc_at(server: &TestServer, id: Uuid, heads: &[automerge::ChangeHash]) -> AutoCommit {
    let mut doc = server.doc(id).expect("server doc");
    doc.automerge().fork_at(heads).expect("heads known")
}
