//! Issue 12 §4: convergence as a property. Five phones (two inspectors, a dispatcher, two
//! handlers) work a street's cases offline on a random schedule, syncing whenever the
//! schedule says, against a real server on loopback. After a full sync:
//! - every phone holds every case its scope covers, with the server's heads and fold;
//! - every event a phone wrote is on the server exactly once (or in its quarantine);
//! - a closed case has a passing server verdict, no case has more verdicts than
//!   verifications or more than one closure, every photo arrived whole.
//!
//! `PROPTEST_CASES` raises the bounded default case count for a longer run.

use fieldloop_tests::faults::{Backend, Figures, Step, World};
use proptest::prelude::*;

const DEVICES: usize = 5;

fn step() -> impl Strategy<Value = Step> {
    let device = 0..DEVICES;
    prop_oneof![
        2 => device.clone().prop_map(|device| Step::Report { device }),
        8 => (device.clone(), 0..8usize).prop_map(|(device, case)| Step::Advance { device, case }),
        1 => (device.clone(), 0..8usize).prop_map(|(device, case)| Step::Edit { device, case }),
        6 => device.prop_map(|device| Step::Sync { device }),
    ]
}

fn run_schedule(backend: Backend, schedule: &[Step]) -> Result<Figures, String> {
    let mut world = World::new(backend, DEVICES);
    for &s in schedule {
        world.run(s);
    }
    let passes = world.settle(8);
    let mut figures = world
        .check()
        .map_err(|e| format!("{e}\nphone errors:\n{}", world.errors()))?;
    figures.settle_passes = passes;
    Ok(figures)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // Each case starts a server and logs five phones in (about 2 s of CPU in a debug
        // build): eight cases keep the test well under a minute.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(8),
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_offline_schedules_of_five_phones_converge(
        schedule in prop::collection::vec(step(), 20..80)
    ) {
        for backend in Backend::selected() {
            let figures = run_schedule(backend, &schedule);
            prop_assert!(figures.is_ok(), "{backend:?}: {}", figures.unwrap_err());
            println!("{} steps on {backend:?}: {:?}", schedule.len(), figures.unwrap());
        }
    }
}

/// A fixed schedule that walks cases all the way to closure (the random ones rarely do
/// every step in order), so the closure invariant is exercised on every run.
#[test]
fn a_scripted_schedule_closes_cases_and_converges() {
    use Step::*;
    let mut schedule = vec![
        Report { device: 0 },
        Report { device: 1 },
        Report { device: 0 },
    ];
    schedule.extend((0..5).map(|device| Sync { device }));
    // The dispatcher registers all three; the server dispatches them by the matrix.
    schedule.extend((0..3).map(|case| Advance { device: 2, case }));
    schedule.push(Sync { device: 2 });
    // Both handlers accept offline, concurrently; then each handles.
    for device in [3, 4] {
        schedule.push(Sync { device });
        schedule.extend((0..3).map(|case| Advance { device, case }));
    }
    schedule.extend([Sync { device: 3 }, Sync { device: 4 }, Sync { device: 3 }]);
    for device in [3, 4] {
        schedule.extend((0..3).map(|case| Advance { device, case }));
        schedule.push(Sync { device });
    }
    // Inspectors verify, one of them twice offline on the same case.
    for device in [0, 1] {
        schedule.push(Sync { device });
        schedule.extend((0..3).map(|case| Advance { device, case }));
    }
    schedule.extend([
        Sync { device: 0 },
        Sync { device: 1 },
        Edit { device: 2, case: 1 },
    ]);
    for backend in Backend::selected() {
        let figures = run_schedule(backend, &schedule).unwrap_or_else(|e| panic!("{e}"));
        println!("scripted schedule on {backend:?}: {figures:?}");
        assert_eq!(figures.cases, 3);
        assert!(figures.closed >= 1, "{figures:?}");
        assert_eq!(figures.quarantined, 0, "{figures:?}");
    }
}
