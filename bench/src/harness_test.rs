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
