//! The harness itself at tiny scale, against the server app in this process: the city
//! sync converges with every device holding its grid's cases, the load run answers every
//! request, and the verdict bench judges a passing case.

use std::time::Duration;

use crate::city::{self, CityConfig};
use crate::server::Server;
use crate::{load, verdicts};

#[test]
fn four_devices_in_two_grids_converge_and_are_counted() {
    let server = Server::in_process().expect("server");
    let config = CityConfig {
        devices: 4,
        grids: 2,
        cases_per_device: 2,
        poll_ms: 50,
        timeout_s: 60,
    };
    let f = city::run(&server, &config, None).expect("converges");
    // Each device pushes its 2 cases and receives its grid partner's 2.
    assert!(f.round_trips >= 4, "{f:?}");
    assert!(f.bytes_up > 4 * 2 * 300, "{f:?}");
    assert!(f.bytes_down > 4 * 2 * 300, "{f:?}");
    assert!(f.converged_s > 0.0 && f.converged_s < 60.0, "{f:?}");
    assert!(f.device_cpu_s > 0.0, "{f:?}");
}

#[test]
fn load_answers_every_paced_request() {
    let server = Server::in_process().expect("server");
    let runs = load::run(
        std::slice::from_ref(&server),
        4,
        &[100, 0],
        Duration::from_millis(1500),
    )
    .expect("load runs");
    assert_eq!(runs.len(), 2);
    let f = &runs[0];
    // At least one timed sync per device (a debug build on a busy machine is slow).
    assert!(f.requests >= 4, "{f:?}");
    assert!(
        f.p50_ms > 0.0 && f.p50_ms <= f.p99_ms && f.p99_ms <= f.max_ms,
        "{f:?}"
    );
}

#[test]
fn the_verdict_bench_judges_a_passing_case() {
    let f = verdicts::run(0.2).expect("verdicts");
    assert!(f.passed, "{f:?}");
    assert!(f.checks_per_verdict >= 5, "{f:?}");
    assert!(
        f.verdicts_per_s > 0.0 && f.verdicts_per_s_from_doc > 0.0,
        "{f:?}"
    );
}

/// The convergence check counts only cases a device holds whole: its own two are not
/// its grid's four until its partner's have arrived, with all their events.
#[test]
fn a_device_holds_its_grid_only_once_every_case_has_arrived() {
    let server = Server::in_process().expect("server");
    server
        .create_users(&crate::fleet::people(1))
        .expect("people");
    let dir = crate::server::bench_dir().expect("dir");
    let mut fleet = crate::fleet::Device::fleet(&server, dir.path(), 2, 1).expect("fleet");
    let at = crate::fleet::now_millis();
    for device in &mut fleet {
        for n in 0..2 {
            device.create_case(n, at).expect("case");
        }
    }
    assert!(fleet[0].holds(2).unwrap(), "its own two cases, dispatched");
    assert!(!fleet[0].holds(4).unwrap(), "nothing of its partner's yet");
    fleet[0].sync().expect("first pushes");
    assert!(!fleet[0].holds(4).unwrap(), "its partner has not pushed");
    fleet[1].sync().expect("second pushes and receives");
    assert!(fleet[1].holds(4).unwrap());
    fleet[0].sync().expect("first receives");
    assert!(fleet[0].holds(4).unwrap());
    assert!(!fleet[0].holds(5).unwrap());
}
