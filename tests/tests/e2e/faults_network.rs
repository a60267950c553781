//! Issue 12 §2: network faults. Twenty phones work a street's cases and sync through a
//! proxy on loopback that drops requests, drops answers the server already acted on,
//! cuts request and answer bodies short, delays and duplicates. After the rounds, with
//! the network healed, one full sync: every phone converges to the server's state,
//! nothing a phone wrote is lost, no case is stored twice, every photo arrived whole
//! (cut uploads resumed).
//!
//! `FIELDLOOP_FAULT_ROUNDS` sync rounds (default 60); the figure is
//! `FIELDLOOP_FAULT_ROUNDS=1000` (see RELIABILITY.md). Ignored for now: too slow for CI on
//! the shared machine (150 rounds passed in 17 min at load 20).

use std::time::Instant;

use fieldloop_tests::faults::dump::document_count;
use fieldloop_tests::faults::proxy::{Draws, FaultMix, FaultProxy};
use fieldloop_tests::faults::{quick_retry, Backend, Step, World};

const DEVICES: usize = 20;

fn rounds() -> usize {
    std::env::var("FIELDLOOP_FAULT_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(60)
}

/// A step drawn with the convergence property's weights.
fn draw_step(draws: &mut Draws) -> Step {
    let device = draws.below(DEVICES);
    let case = draws.below(16);
    match draws.below(12) {
        0 | 1 => Step::Report { device },
        2..=7 => Step::Advance { device, case },
        8 => Step::Edit { device, case },
        _ => Step::Sync { device },
    }
}

#[test]
#[ignore = "150 rounds took 17 min on the loaded 2-core machine; run with --ignored (RELIABILITY.md)"]
fn twenty_phones_on_a_faulty_network_converge_and_lose_nothing() {
    let rounds = rounds();
    for backend in Backend::selected() {
        let started = Instant::now();
        let mut world = World::new(backend, DEVICES);
        let set_up = started.elapsed();
        let proxy = FaultProxy::start(&world.server.base, FaultMix::harsh(), 0x5eed_0012);
        world.route_through(&proxy.base);
        world.retry = quick_retry();
        let mut draws = Draws::new(12);
        let (mut synced, mut failed) = (0usize, 0usize);
        while synced + failed < rounds {
            match draw_step(&mut draws) {
                Step::Sync { device } => {
                    world.run(Step::Sync { device });
                    match world.phones[device].last_error {
                        None => synced += 1,
                        Some(_) => failed += 1,
                    }
                }
                step => world.run(step),
            }
        }
        let faulty = proxy.counts();
        let rounds_took = started.elapsed() - set_up;
        proxy.set_faults(false);
        let passes = world.settle(12);
        let settled = started.elapsed();
        let figures = world
            .check()
            .unwrap_or_else(|e| panic!("{backend:?}: {e}\nphone errors:\n{}", world.errors()));
        assert_eq!(
            document_count(&world.server),
            world.cases.len() as u64,
            "no case stored twice, none missing"
        );
        println!(
            "{backend:?}: {rounds} sync rounds ({synced} completed, {failed} cut by faults), \
             {passes} settle passes, {:.1} s (set-up {:.1} s, rounds {:.1} s, settle {:.1} s, \
             checks {:.1} s); faults {faulty:?}; {figures:?}",
            started.elapsed().as_secs_f64(),
            set_up.as_secs_f64(),
            rounds_took.as_secs_f64(),
            (settled - set_up - rounds_took).as_secs_f64(),
            (started.elapsed() - settled).as_secs_f64(),
        );
        assert!(
            faulty.dropped_requests > 0 && faulty.dropped_responses > 0,
            "{faulty:?}"
        );
        assert!(
            faulty.truncated_requests > 0 && faulty.duplicated > 0,
            "{faulty:?}"
        );
        assert!(failed > 0, "the faults reached the phones");
        assert!(figures.cases > 10, "{figures:?}");
    }
}
