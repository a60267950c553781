//! Issue 12 §3: a burst. 200 phones that were offline (their inspectors reported cases
//! with photos meanwhile) all come online at the same instant: every one syncs and uploads
//! at once. No request may fail for load, every phone converges, and the server's memory
//! stays bounded (the server runs in this process, so the bound is on this process's peak).
//!
//! `FIELDLOOP_BURST_DEVICES` changes the count (default 200); the 1,000-device burst is the
//! load benchmark's setup (bench/README.md).

use std::sync::Barrier;
use std::time::Instant;

use fieldloop_core::sync::upload::upload_pending;
use fieldloop_tests::faults::dump::document_count;
use fieldloop_tests::faults::{Backend, Step, World};

fn devices() -> usize {
    std::env::var("FIELDLOOP_BURST_DEVICES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

/// This process's peak resident memory (VmHWM), in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// What the burst may add to the process's peak: the server holds each request's body
/// and answer and a few documents, never the whole city at once.
const BURST_MEMORY_BOUND: u64 = 400 * 1024 * 1024;

#[test]
fn two_hundred_offline_phones_syncing_at_once_all_get_through_and_converge() {
    let count = devices();
    for backend in Backend::selected() {
        let started = Instant::now();
        let mut world = World::new(backend, count);
        // Offline work: every inspector reports a case with its before-photo.
        let inspectors = count * 2 / 5;
        for n in 0..inspectors {
            world.run(Step::Report { device: n });
        }
        let set_up = started.elapsed();
        let now = world.now();
        let retry = world.retry;
        let peak_before = peak_rss();
        let barrier = Barrier::new(world.phones.len());
        let burst = Instant::now();
        let failures: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = world
                .phones
                .iter_mut()
                .enumerate()
                .map(|(i, phone)| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        let device = &mut phone.device;
                        let synced = device.client.sync(&mut device.store, now);
                        let uploaded = upload_pending(&device.client, &mut device.store, &retry);
                        match (synced, uploaded) {
                            (Err(e), _) => Some(format!("phone {i} sync: {e}")),
                            (_, Err(e)) => Some(format!("phone {i} upload: {e}")),
                            (_, Ok(r)) if !r.failed.is_empty() => {
                                Some(format!("phone {i} upload: {:?}", r.failed))
                            }
                            _ => None,
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap_or_else(|_| Some("a phone panicked".into())))
                .collect()
        });
        let burst_took = burst.elapsed();
        let grown = peak_rss().saturating_sub(peak_before);
        assert!(
            failures.is_empty(),
            "{backend:?}: {} of {count} phones failed in the burst: {}",
            failures.len(),
            failures.join("; ")
        );
        assert!(
            grown < BURST_MEMORY_BOUND,
            "{backend:?}: the burst grew the peak by {} MB",
            grown / (1024 * 1024)
        );
        // Every case arrived once; then everyone converges to the server's state.
        assert_eq!(document_count(&world.server), inspectors as u64);
        let passes = world.settle(6);
        let figures = world
            .check()
            .unwrap_or_else(|e| panic!("{backend:?}: {e}\nphone errors:\n{}", world.errors()));
        assert_eq!(figures.cases, inspectors, "{figures:?}");
        println!(
            "{backend:?}: {count} phones, {inspectors} offline reports; burst {:.1} s, peak grew \
             {} MB; {passes} settle passes; set-up {:.1} s, total {:.1} s; {figures:?}",
            burst_took.as_secs_f64(),
            grown / (1024 * 1024),
            set_up.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
}
