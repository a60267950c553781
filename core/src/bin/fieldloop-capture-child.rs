//! Test helper for the store's kill test (core/tests/all/store_kill.rs): opens the store given
//! as the only argument and captures case after case, each with a photo, printing
//! `captured <doc id> <photo sha256>` only after `Store::capture` has returned. The test
//! SIGKILLs it as soon as it has read a few lines, then checks every printed capture is
//! in the reopened store. Exits when stdout closes or after 1,000 captures.

use std::io::Write;
use std::process::ExitCode;

use fieldloop_core::doc::{Doc, DocKind, DocScope, Event, Evidence, EvidenceStage, Header};
use fieldloop_core::roles::Role;
use fieldloop_core::store::{sha256_hex, Listing, NewPhoto, Store};
use uuid::Uuid;

fn capture_one(store: &mut Store, n: u32, now: i64) -> fieldloop_core::Result<(Uuid, String)> {
    let id = Uuid::now_v7();
    let header = Header {
        id,
        kind: DocKind::Case,
        schema: fieldloop_core::doc::SCHEMA_VERSION,
        created_by: "u-insp-child".into(),
        created_role: Role::Inspector,
        created_at: now,
        position: None,
        category: Some("0102".into()),
        scope: DocScope {
            grid_cell: Some("440305001002003".into()),
            ..DocScope::default()
        },
    };
    // Distinct bytes per capture, the size of a processed photo.
    let mut photo = format!("capture {n} of {id}\n").into_bytes();
    photo.resize(120 * 1024, (n % 251) as u8);
    let hash = sha256_hex(&photo);
    let mut doc = Doc::create(&header, store.actor())?;
    doc.add_evidence(
        &hash,
        &Evidence::new(EvidenceStage::Before, now, None, "u-insp-child"),
    )?;
    doc.append_event(&Event::new(
        Uuid::now_v7(),
        "case.reported",
        now,
        "u-insp-child",
        Role::Inspector,
        serde_json::json!({ "category": "0102", "photos": [hash] }),
    ))?;
    let listing = Listing {
        status: "reported".into(),
        title: format!("capture {n}"),
        deadline: Some(now + i64::from(n)),
        band: Some("green".into()),
        open: true,
        updated_at: now,
    };
    store.capture(
        &mut doc,
        &listing,
        &[NewPhoto {
            sha256: &hash,
            bytes: &photo,
        }],
    )?;
    Ok((id, hash))
}

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: fieldloop-capture-child <store.db>");
        return ExitCode::from(2);
    };
    let mut store = match Store::open(&path) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("open: {e}");
            return ExitCode::FAILURE;
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let mut out = std::io::stdout().lock();
    for n in 0..1000 {
        let (id, hash) = match capture_one(&mut store, n, now) {
            Ok(done) => done,
            Err(e) => {
                eprintln!("capture {n}: {e}");
                return ExitCode::FAILURE;
            }
        };
        if writeln!(out, "captured {id} {hash}")
            .and_then(|_| out.flush())
            .is_err()
        {
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::SUCCESS
}
