//! Device store benchmarks (issue 2): prints figures; recorded in bench/README.md.
//!
//! 1. Create a case with 3 evidence references and save it durably (target ≤ 5 ms).
//! 2. Open a store holding 10,000 documents and list open tasks by deadline (≤ 50 ms).
//! 3. Stored bytes per closed case document with 12 events (≤ 3 KB).
//!
//! Run: `cargo bench -p fieldloop-core --bench store` (or build with `--no-run` and run the
//! binary). `FIELDLOOP_BENCH_DIR` picks the directory the stores go in (default: the
//! system temp dir); the disk's sync speed decides figure 1.

#[path = "../tests/all/store_support.rs"]
mod store_support;

use std::path::Path;
use std::time::{Duration, Instant};

use fieldloop_core::doc::Doc;
use fieldloop_core::store::{sha256_hex, Listing, NewPhoto, Store};
use fieldloop_core::time::{Millis, DAY, HOUR, MINUTE};
use store_support::*;

fn stats(label: &str, mut samples: Vec<Duration>, target: Option<Duration>) -> Duration {
    samples.sort();
    let n = samples.len();
    let median = samples[n / 2];
    let p95 = samples[(n * 95 / 100).min(n - 1)];
    let mean = samples.iter().sum::<Duration>() / n as u32;
    let verdict = match target {
        Some(t) if median <= t => format!("  (target ≤ {t:?}: met)"),
        Some(t) => format!("  (target ≤ {t:?}: MISSED)"),
        None => String::new(),
    };
    println!(
        "{label:<58} n={n:<5} median {median:>10.3?}  p95 {p95:>10.3?}  mean {mean:>10.3?}  max {:>10.3?}{verdict}",
        samples[n - 1]
    );
    median
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cpu}, {cores} cores available");
}

fn photos3(n: u32) -> [String; 3] {
    [
        photo_hash(3 * n),
        photo_hash(3 * n + 1),
        photo_hash(3 * n + 2),
    ]
}

/// Figure 1: a new case (header, 2 fields, report event, 3 evidence references) created
/// and captured durably, one transaction and one WAL sync each.
fn capture_new_case(dir: &Path) {
    let mut store = Store::open(dir.join("capture.db")).expect("open");
    let runs = 300;
    let mut build = Vec::with_capacity(runs);
    let mut total = Vec::with_capacity(runs);
    for n in 0..runs as u32 {
        let at = T0 + Millis::from(n) * MINUTE;
        let started = Instant::now();
        let mut doc = reported_case(id_at(at, u64::from(n)), at, store.actor(), &photos3(n));
        let built = started.elapsed();
        store
            .capture(
                &mut doc,
                &open_listing("暴露垃圾", Some(at + 4 * HOUR), at),
                &[],
            )
            .expect("capture");
        total.push(started.elapsed());
        build.push(built);
    }
    stats("  building the document only", build, None);
    stats(
        "1. create case + 3 evidence refs, save durably",
        total,
        Some(Duration::from_millis(5)),
    );

    // The same with the three photo files written too (temp, fsync, rename, fsync dir).
    let photos = real_photos("store bench, capture with photo files")
        .unwrap_or_else(|| (0..3u8).map(|n| vec![n; 150_000]).collect());
    let runs = 40;
    let mut with_files = Vec::with_capacity(runs);
    for n in 0..runs as u32 {
        // Distinct bytes each run, so every run writes three new files.
        let bytes: Vec<Vec<u8>> = photos
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.extend_from_slice(&n.to_be_bytes());
                p
            })
            .collect();
        let hashes: Vec<String> = bytes.iter().map(|b| sha256_hex(b)).collect();
        let refs = [hashes[0].clone(), hashes[1].clone(), hashes[2].clone()];
        let at = T0 + DAY + Millis::from(n) * MINUTE;
        let started = Instant::now();
        let mut doc = reported_case(id_at(at, u64::from(n)), at, store.actor(), &refs);
        let new: Vec<NewPhoto<'_>> = bytes
            .iter()
            .zip(&hashes)
            .map(|(bytes, sha256)| NewPhoto { sha256, bytes })
            .collect();
        store
            .capture(
                &mut doc,
                &open_listing("暴露垃圾", Some(at + 4 * HOUR), at),
                &new,
            )
            .expect("capture");
        with_files.push(started.elapsed());
    }
    let kb = photos.iter().map(Vec::len).sum::<usize>() / 1024;
    stats(
        &format!("  same, plus the 3 photo files ({kb} KiB) written durably"),
        with_files,
        None,
    );
}

/// A case taken from report to closure the way a device sees it: each step saved on its
/// own (appended chunks), the closing save compacting it.
fn closed_case(store: &mut Store, n: u32, at: Millis) -> Doc {
    let photos = photos3(n);
    let mut doc = reported_case(id_at(at, u64::from(n)), at, store.actor(), &photos);
    let deadline = Some(at + 4 * HOUR);
    store
        .save_doc(&mut doc, &open_listing("暴露垃圾", deadline, at))
        .expect("save");
    let events = lifecycle_after_report(at, &photos);
    let last = events.len() - 1;
    for (i, event) in events.iter().enumerate() {
        doc.append_event(event).expect("append");
        let listing = if i == last {
            closed_listing(event.at)
        } else {
            open_listing("暴露垃圾", deadline, event.at)
        };
        store.save_doc(&mut doc, &listing).expect("save");
    }
    doc
}

/// Figure 3: bytes per closed case with 12 events.
fn bytes_per_closed_case(dir: &Path) {
    let path = dir.join("closed.db");
    let mut store = Store::open(&path).expect("open");
    let cases = 1000;
    let mut automerge_bytes = 0u64;
    let mut events = 0;
    for n in 0..cases {
        let at = T0 + Millis::from(n) * 10 * MINUTE;
        let doc = closed_case(&mut store, n, at);
        events = doc.events().expect("events").len();
        let (base, chunks, chunk_bytes) = store
            .doc_storage(doc.header().expect("header").id)
            .expect("storage");
        assert_eq!(chunks, 0, "closed cases are compacted");
        automerge_bytes += base + chunk_bytes;
        if n == 0 {
            let json: usize = doc
                .events()
                .expect("events")
                .iter()
                .map(|e| serde_json::to_string(e).expect("json").len())
                .sum();
            println!("  one closed case: {events} events, {json} bytes of event JSON, stored as {base} bytes of automerge");
        }
    }
    drop(store);
    let file = std::fs::metadata(&path).expect("db size").len();
    let wal = std::fs::metadata(dir.join("closed.db-wal")).map_or(0, |m| m.len());
    let per_doc = automerge_bytes / u64::from(cases);
    let verdict = if per_doc <= 3 * 1024 { "met" } else { "MISSED" };
    println!(
        "3. stored bytes per closed case ({events} events), automerge     {per_doc} B  (target ≤ 3072 B: {verdict})"
    );
    println!(
        "   SQLite file per closed case (rows, listing, indexes, free pages), {cases} cases: {} B",
        (file + wal) / u64::from(cases)
    );
}

/// Figure 2: open a store of 10,000 documents and list the open tasks by deadline.
fn open_and_list(dir: &Path) {
    let path = dir.join("ten-thousand.db");
    let total = 10_000u32;
    let started = Instant::now();
    {
        let mut store = Store::open(&path).expect("open");
        let actor = store.actor().clone();
        // 7,000 closed cases with their 12 events, 3,000 open ones with deadlines spread
        // over two weeks; written 500 to a transaction to build the store quickly.
        let mut n = 0u32;
        while n < total {
            store
                .batch(|b| {
                    for k in n..(n + 500).min(total) {
                        let at = T0 + Millis::from(k) * MINUTE;
                        let photos = photos3(k);
                        let mut doc = reported_case(id_at(at, u64::from(k)), at, &actor, &photos);
                        let listing = if k % 10 < 7 {
                            for event in lifecycle_after_report(at, &photos) {
                                doc.append_event(&event)?;
                            }
                            closed_listing(at + 5 * HOUR)
                        } else {
                            let deadline = T0 + (Millis::from(k) * 7919 % (14 * DAY));
                            Listing {
                                status: "dispatched".into(),
                                ..open_listing(&format!("任务 {k}"), Some(deadline), at)
                            }
                        };
                        b.save_doc(&mut doc, &listing)?;
                    }
                    Ok(())
                })
                .expect("batch");
            n += 500;
        }
        assert_eq!(store.doc_count().expect("count"), u64::from(total));
    }
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "  built a store of {total} documents ({:.1} MiB) in {:.1?}",
        size as f64 / (1024.0 * 1024.0),
        started.elapsed()
    );

    let mut open_list = Vec::new();
    let mut list_only = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let store = Store::open_existing(&path).expect("open");
        let tasks = store.list_open_tasks(50).expect("list");
        open_list.push(started.elapsed());
        assert_eq!(tasks.len(), 50);
        assert!(tasks
            .windows(2)
            .all(|w| w[0].listing.deadline <= w[1].listing.deadline));
        let started = Instant::now();
        let all = store.list_open_tasks(10_000).expect("list");
        list_only.push(started.elapsed());
        assert_eq!(all.len(), 3_000);
    }
    stats(
        "2. open 10,000-doc store + list 50 open tasks by deadline",
        open_list,
        Some(Duration::from_millis(50)),
    );
    stats(
        "  list all 3,000 open tasks (store already open)",
        list_only,
        None,
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    machine();
    let base = std::env::var_os("FIELDLOOP_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = match base {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    println!("stores in {}", dir.path().display());
    capture_new_case(dir.path());
    open_and_list(dir.path());
    bytes_per_closed_case(dir.path());
}
