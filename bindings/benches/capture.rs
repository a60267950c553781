//! The Rust side of the bindings benchmark (scripts/bindings-bench runs the Kotlin side
//! in the same run): a capture (case + 3 real photos processed + durable save) through
//! `FieldPhone`'s Rust API, the very call the Kotlin bindings make minus the FFI; then a
//! store with 3,000 open tasks, left for the Kotlin side to list.
//!
//!   cargo bench -p fieldloop-ffi --bench capture -- <phone-test-server> <photos> <store dir>

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use fieldloop_ffi::{CaseDraft, FieldPhone, InboxFilter, PositionFix};

const CAPTURES: usize = 5;
const OPEN_TASKS: usize = 3_000;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn draft(photos: Vec<String>) -> CaseDraft {
    CaseDraft {
        category: "20102".into(),
        position: PositionFix {
            lat: 30.2634,
            lon: 120.0966,
            accuracy_m: 6.0,
            provider: "fused".into(),
            mock: false,
        },
        description: Some("基准".into()),
        address: None,
        urgent: false,
        component_id: None,
        photo_paths: photos,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [server, photos, store] = args.as_slice() else {
        eprintln!("usage: capture <phone-test-server> <photos dir> <store dir>");
        std::process::exit(2);
    };
    let mut child = Command::new(server)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let url = lines.next().ok_or("server did not start")??;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let photo_paths: Vec<String> = [
        "jolla-phone-8mp.jpg",
        "olympus-ep3-12mp.jpg",
        "coolpix-gps-a.jpg",
    ]
    .iter()
    .map(|p| format!("{photos}/{p}"))
    .collect();

    let capture_dir = format!("{store}-capture");
    let phone = FieldPhone::open(capture_dir.clone(), url.clone())?;
    phone.login("inspector".into(), "inspect-demo-pass".into())?;
    let mut samples = Vec::new();
    for _ in 0..CAPTURES {
        let start = Instant::now();
        runtime.block_on(Arc::clone(&phone).capture_case(draft(photo_paths.clone())))?;
        samples.push(start.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "rust capture (case + 3 photos + durable save): median {:.1} ms (n={CAPTURES})",
        median(samples)
    );
    phone.shutdown()?;
    let _ = std::fs::remove_dir_all(&capture_dir);

    let phone = FieldPhone::open(store.clone(), url)?;
    phone.login("inspector".into(), "inspect-demo-pass".into())?;
    let have = phone.inbox(InboxFilter::All)?.len();
    for _ in have..OPEN_TASKS {
        runtime.block_on(Arc::clone(&phone).capture_case(draft(vec![])))?;
    }
    let mut samples = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let tasks = phone.inbox(InboxFilter::All)?;
        samples.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(tasks.len(), OPEN_TASKS);
    }
    println!(
        "rust inbox of {OPEN_TASKS} open tasks: median {:.2} ms (n=20)",
        median(samples)
    );
    phone.shutdown()?;
    drop(child.stdin.take());
    child.wait()?;
    Ok(())
}
