//! A real server on loopback with the demo city, for the console's browser tests and the
//! map benchmark: plays the demo day (so cases, verdicts, notices, plans and tracks
//! exist), then prepares what the tests act on, prints one JSON line with the address and
//! those ids, and serves until its standard input closes.
//!
//! `console-test-server [--no-day] [--cases N]`: `--no-day` skips the simulated day;
//! `--cases N` adds N reported cases at random places in the grid (for the benchmark).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use fieldloop_core::case::{self, CaseDoc, CaseEvent, NewCase};
use fieldloop_core::doc::{actor_for, DocKind, Position};
use fieldloop_core::geo::LatLon;
use fieldloop_core::roles::Principal;
use fieldloop_server::api::actions::write_event;
use fieldloop_server::demo;
use fieldloop_server::open311::service as open311;
use fieldloop_server::projection::projection_of;
use fieldloop_server::storage::{NewChange, Origin};
use fieldloop_server::AppState;
use serde_json::json;
use uuid::Uuid;

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn principal(state: &AppState, username: &str) -> Result<Principal, Error> {
    Ok(state
        .users
        .user_by_name(username)
        .await?
        .ok_or_else(|| format!("no demo user {username}"))?
        .principal())
}

/// A citizen report through the Open311 service; its case id.
async fn citizen_report(
    state: &AppState,
    key: &str,
    code: &str,
    lat: f64,
    lon: f64,
    text: &str,
) -> Result<Uuid, Error> {
    let form: HashMap<String, String> = [
        ("api_key", key),
        ("service_code", code),
        ("lat", &lat.to_string()),
        ("long", &lon.to_string()),
        ("description", text),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let answer = open311::create_request(state, &form)
        .await
        .map_err(|e| format!("citizen report: {}", e.description))?;
    Ok(answer[0]["service_request_id"]
        .as_str()
        .ok_or("no service_request_id")?
        .parse()?)
}

/// Two people set the description of case `id` at once, offline (a dispatcher's phone and
/// an admin's), and both changes reach the server: the case keeps both values (冲突).
/// Stored as the server stores a sync of those two changes; the values, in order.
async fn conflicting_edits(state: &AppState, id: Uuid) -> Result<Vec<String>, Error> {
    let values = vec![
        "路边有暴露垃圾，约两袋（调度员更正）".to_owned(),
        "路边有暴露垃圾，约五袋（管理员更正）".to_owned(),
    ];
    let stored = state.docs.load_doc(id).await?.ok_or("no conflicted case")?;
    let mut merged = stored.load(&actor_for(&Uuid::now_v7()))?;
    let base = merged.heads();
    let mut other = stored.load(&actor_for(&Uuid::now_v7()))?;
    merged.set_field("description", &values[0])?;
    other.set_field("description", &values[1])?;
    merged.load_changes(&other.save_after(&base))?;
    let snapshot = merged.snapshot()?;
    if snapshot.conflicts.get("description").map(Vec::len) != Some(2) {
        return Err("the two edits did not conflict".into());
    }
    let dispatcher = principal(state, "dispatch-xihu").await?;
    state
        .docs
        .append_changes(vec![NewChange {
            doc_id: id,
            kind: DocKind::Case,
            bytes: merged.save_after(&base),
            origin: Origin {
                user_id: dispatcher.user_id,
                device_id: None,
                arrived_at: state.clock.now(),
            },
            projection: projection_of(&snapshot, &state.reference.current()),
            blob_refs: Vec::new(),
            audit: Vec::new(),
            snapshot: fieldloop_server::storage::snapshots::encode(&snapshot),
        }])
        .await?;
    Ok(values)
}

/// N reported cases at pseudo-random places inside the grid, stored in batches.
async fn bulk_cases(state: &AppState, count: usize) -> Result<(), Error> {
    let reference = state.reference.current();
    let grid = reference.grid.as_ref().ok_or("no grid")?;
    let reporter = principal(state, "dispatch-xihu").await?;
    let categories: Vec<String> = reference.catalogue.iter().map(|c| c.key()).collect();
    let now = state.clock.now();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut batch = Vec::new();
    for i in 0..count {
        let (lat, lon) = (30.2622 + next() * 0.0212, 120.0952 + next() * 0.0245);
        let Some(cell) = grid.cell_at(LatLon { lat, lon })? else {
            continue;
        };
        let id = Uuid::now_v7();
        let new = NewCase {
            id,
            event_id: Uuid::now_v7(),
            at: now - (i as i64 % 600) * 60_000,
            category: categories[i % categories.len()].clone(),
            position: Position {
                lat,
                lon,
                accuracy_m: 8.0,
            },
            grid_cell: cell.to_owned(),
            description: Some(format!("批量测试案件 {i}")),
            address: None,
            report: case::events::Reported::default(),
            before_photos: Vec::new(),
        };
        let mut doc = CaseDoc::create(&reporter, &actor_for(&id), new)?.into_doc();
        let snapshot = doc.snapshot()?;
        batch.push(NewChange {
            doc_id: id,
            kind: DocKind::Case,
            bytes: doc.save_after(&[]),
            origin: Origin {
                user_id: reporter.user_id.clone(),
                device_id: None,
                arrived_at: now,
            },
            projection: projection_of(&snapshot, &state.reference.current()),
            blob_refs: Vec::new(),
            audit: Vec::new(),
            snapshot: fieldloop_server::storage::snapshots::encode(&snapshot),
        });
        if batch.len() == 500 {
            state
                .docs
                .append_changes(std::mem::take(&mut batch))
                .await?;
        }
    }
    if !batch.is_empty() {
        state.docs.append_changes(batch).await?;
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let play_day = !args.iter().any(|a| a == "--no-day");
    let extra: usize = match args.iter().position(|a| a == "--cases") {
        Some(i) => args.get(i + 1).ok_or("--cases N")?.parse()?,
        None => 0,
    };
    let dir = tempfile::tempdir()?;
    let server = demo::start(dir.path(), "127.0.0.1:0".parse()?).await?;
    if play_day {
        demo::run_day_on(
            &server,
            Duration::from_secs(3),
            Arc::new(AtomicBool::new(false)),
            |line| eprintln!("{line}"),
        )
        .await?;
    }
    let state = server.state.clone();
    let admin = principal(&state, "admin").await?;
    let key = open311::issue_key(&state, "console-test", &admin.user_id).await?;

    // One citizen report waits in the register queue; another is registered (the matrix
    // dispatches it) and then sent back by the unit's handler: it waits to be dispatched.
    let to_register = citizen_report(
        &state,
        &key,
        "20102",
        30.2650,
        120.0990,
        "路边有暴露垃圾（市民上报）",
    )
    .await?;
    let to_dispatch = citizen_report(
        &state,
        &key,
        "20102",
        30.2655,
        120.0995,
        "垃圾桶满溢（市民上报）",
    )
    .await?;
    let dispatcher = principal(&state, "dispatch-xihu").await?;
    write_event(
        &state,
        &dispatcher,
        to_dispatch,
        &CaseEvent::Registered(Default::default()),
    )
    .await?;
    let unit = state
        .docs
        .projection(to_dispatch)
        .await?
        .and_then(|p| p.fields.unit)
        .ok_or("the matrix did not dispatch the registered report")?;
    let handler = state
        .accounts
        .list_accounts()
        .await?
        .into_iter()
        .find(|a| a.jurisdiction.units.contains(&unit))
        .ok_or("no handler for the unit")?;
    let handler = principal(&state, &handler.username).await?;
    write_event(
        &state,
        &handler,
        to_dispatch,
        &CaseEvent::ReturnedToDispatch(case::events::Reason {
            reason: "不属于本单位职责".into(),
        }),
    )
    .await?;
    let conflicted = citizen_report(
        &state,
        &key,
        "20102",
        30.2660,
        120.0985,
        "路边有暴露垃圾（市民上报）",
    )
    .await?;
    let conflict_values = conflicting_edits(&state, conflicted).await?;
    bulk_cases(&state, extra).await?;

    let ready = json!({
        "url": server.base_url(),
        "open311_key": key,
        "to_register": to_register,
        "to_dispatch": to_dispatch,
        "returned_by": unit,
        "conflicted": { "case": conflicted, "values": conflict_values },
    });
    let mut out = std::io::stdout();
    writeln!(out, "{ready}")?;
    out.flush()?;
    // Serve until whoever started us closes our standard input.
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    server.shutdown(Duration::from_secs(2)).await?;
    Ok(())
}
