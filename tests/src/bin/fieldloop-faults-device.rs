//! The phone process the crash harness kills (issue 12 §1, tests/tests/e2e/faults_crash.rs).
//!
//! `fieldloop-faults-device <store> <server base> <photo dir>`, token in
//! `FIELDLOOP_CHILD_TOKEN`. Loops: capture a case with a photo, edit an earlier case's
//! description, and every third turn sync and upload. Each line on stdout is printed only
//! after the store (or the server) acknowledged what it names:
//! `captured <doc> <event>`, `changed <doc> <turn>`, `synced <acked>`, `uploaded <n>`.
//! Exits when stdout closes or after 10,000 turns.

use std::io::Write;
use std::process::ExitCode;

use fieldloop_core::store::Store;
use fieldloop_core::sync::client::SyncClient;
use fieldloop_core::sync::upload::{upload_pending, RetryPolicy};
use fieldloop_tests::faults::{photos::Photo, report};
use fieldloop_tests::T0;

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, store_path, base, photo_dir] = args.as_slice() else {
        return Err("usage: fieldloop-faults-device <store> <server base> <photo dir>".into());
    };
    let token = std::env::var("FIELDLOOP_CHILD_TOKEN").map_err(|_| "no token".to_owned())?;
    let mut photos = Vec::new();
    for entry in std::fs::read_dir(photo_dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let jpeg = std::fs::read(&path).map_err(|e| e.to_string())?;
        let hash = fieldloop_core::store::sha256_hex(&jpeg);
        photos.push(Photo { hash, jpeg });
    }
    photos.sort_by(|a, b| a.hash.cmp(&b.hash));
    let mut store = Store::open(store_path).map_err(|e| e.to_string())?;
    let mut client = SyncClient::new(base, &token).map_err(|e| e.to_string())?;
    let principal = store
        .principal()
        .map_err(|e| e.to_string())?
        .ok_or("no principal in the store")?;
    // Turns continue from the store's size, so every restart writes new values.
    let first = store.doc_count().map_err(|e| e.to_string())? * 3 + 1;
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| writeln!(out, "{line}").and_then(|_| out.flush()).is_ok();
    let mut mine = Vec::new();
    for turn in first..first + 10_000 {
        let now = T0 + turn as i64 * 1000;
        let photo = &photos[turn as usize % photos.len()];
        let (id, event) =
            report(&mut store, &principal, now, photo).map_err(|e| format!("capture: {e}"))?;
        mine.push(id);
        if !say(format!("captured {id} {event}")) {
            return Ok(());
        }
        let target = mine[turn as usize * 7 % mine.len()];
        let mut doc = store.load_doc(target).map_err(|e| e.to_string())?;
        doc.set_field("description", &format!("turn {turn}"))
            .map_err(|e| e.to_string())?;
        let listing = fieldloop_core::sync::client::listing_for(&doc).map_err(|e| e.to_string())?;
        store
            .save_doc(&mut doc, &listing)
            .map_err(|e| e.to_string())?;
        if !say(format!("changed {target} {turn}")) {
            return Ok(());
        }
        if turn % 3 == 0 {
            let report = client
                .sync(&mut store, now)
                .map_err(|e| format!("sync: {e}"))?;
            if !say(format!("synced {}", report.docs_acked)) {
                return Ok(());
            }
            let up = upload_pending(&client, &mut store, &RetryPolicy::default())
                .map_err(|e| format!("upload: {e}"))?;
            if !say(format!("uploaded {}", up.uploaded)) {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldloop-faults-device: {e}");
            ExitCode::FAILURE
        }
    }
}
