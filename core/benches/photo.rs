//! Photo pipeline benchmark: `process_photo` (hashes, EXIF, 1600 px + thumbnail, pHash)
//! against `vipsthumbnail` making the same 1600 px quality-80 stripped JPEG from the same
//! 12 MP camera photo, single-threaded (VIPS_CONCURRENCY=1), measured in the same run.
//!
//! vipsthumbnail is a process, so ours is timed both as a process (this binary re-run
//! with `--once`, the like-for-like figure) and in-process (what an app actually pays).
//! CPU time of the child processes comes from /proc/self/stat (cutime + cstime).
//!
//! Run: `cargo bench -p fieldloop-core --bench photo --no-run`, then the printed binary.
//! PHOTO_BENCH_ITERS (default 15) sets the iteration count.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};

const PHOTO: &str = "olympus-ep3-12mp.jpg";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--once") {
        return once(Path::new(&args[2]), Path::new(&args[3]));
    }
    let dir =
        fieldloop_testdata::find_photos().unwrap_or_else(|| PathBuf::from("../shared/photos"));
    let photo = dir.join(PHOTO);
    if !photo.is_file() {
        println!(
            "photo bench: skipped: {} not found (../shared/photos)",
            photo.display()
        );
        return;
    }
    let iterations: usize = std::env::var("PHOTO_BENCH_ITERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(15);
    let bytes = std::fs::read(&photo).expect("read the benchmark photo");
    let out_dir =
        std::env::temp_dir().join(format!("fieldloop-photo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("temp dir");
    let ours_out = out_dir.join("ours.jpg");
    let vips_out = out_dir.join("vips.jpg");
    let self_exe = std::env::current_exe().expect("own path");

    let run_ours_process = || {
        let status = Command::new(&self_exe)
            .args(["--once".as_ref(), photo.as_os_str(), ours_out.as_os_str()])
            .status()
            .expect("run self");
        assert!(status.success(), "our --once run failed");
    };
    let vips_target = format!("{}[Q=80,strip]", vips_out.display());
    let run_vips = || -> bool {
        Command::new("vipsthumbnail")
            .env("VIPS_CONCURRENCY", "1")
            .arg(&photo)
            .args(["-s", "1600", "-o", &vips_target])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };

    let limits = PhotoLimits::default();
    let options = ProcessOptions::default();
    let processed = process_photo(&bytes, &limits, &options).expect("process the benchmark photo");
    run_ours_process();
    let have_vips = run_vips();
    if !have_vips {
        println!("vipsthumbnail not runnable: apt-get install -y libvips-tools; timing ours only");
    }

    let mut in_process = Vec::new();
    let mut in_process_cpu = Duration::ZERO;
    let mut ours_wall = Vec::new();
    let mut ours_cpu = Duration::ZERO;
    let mut vips_wall = Vec::new();
    let mut vips_cpu = Duration::ZERO;
    for _ in 0..iterations {
        let cpu = self_cpu();
        let start = Instant::now();
        let p = process_photo(&bytes, &limits, &options).expect("processed");
        in_process.push(start.elapsed());
        in_process_cpu += self_cpu() - cpu;
        std::hint::black_box(p);

        let cpu = children_cpu();
        let start = Instant::now();
        run_ours_process();
        ours_wall.push(start.elapsed());
        ours_cpu += children_cpu() - cpu;

        if have_vips {
            let cpu = children_cpu();
            let start = Instant::now();
            run_vips();
            vips_wall.push(start.elapsed());
            vips_cpu += children_cpu() - cpu;
        }
    }

    let n = iterations as u32;
    println!(
        "photo pipeline benchmark: {PHOTO} ({} bytes, {}×{}), {iterations} iterations",
        bytes.len(),
        processed.source_width,
        processed.source_height
    );
    println!(
        "  output: {}×{} JPEG q80 ({} bytes) + {}×{} thumbnail, pHash {:016x}",
        processed.width,
        processed.height,
        processed.jpeg.len(),
        processed.thumbnail_width,
        processed.thumbnail_height,
        processed.phash
    );
    report(
        "fieldloop process_photo, in-process",
        &mut in_process,
        in_process_cpu / n,
    );
    report(
        "fieldloop process_photo, as a process",
        &mut ours_wall,
        ours_cpu / n,
    );
    if have_vips {
        let vips_len = std::fs::metadata(&vips_out).map(|m| m.len()).unwrap_or(0);
        let (vw, vh) = image::image_dimensions(&vips_out).unwrap_or((0, 0));
        println!("  vipsthumbnail output: {vw}×{vh} ({vips_len} bytes)");
        report(
            "vipsthumbnail -s 1600 [Q=80,strip], VIPS_CONCURRENCY=1",
            &mut vips_wall,
            vips_cpu / n,
        );
        let (ours, vips, inproc) = (median(&ours_wall), median(&vips_wall), median(&in_process));
        println!(
            "  ratio (median wall) process vs process: {:.2}× vipsthumbnail (target ≤ 1.0)",
            ours.as_secs_f64() / vips.as_secs_f64()
        );
        println!(
            "  ratio (median wall) in-process vs vipsthumbnail: {:.2}×",
            inproc.as_secs_f64() / vips.as_secs_f64()
        );
        println!(
            "  ratio (mean CPU) process vs process: {:.2}×",
            ours_cpu.as_secs_f64() / vips_cpu.as_secs_f64().max(1e-9)
        );
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// One run, as vipsthumbnail does it: read a file, write the processed JPEG.
fn once(input: &Path, output: &Path) {
    let bytes = std::fs::read(input).expect("read input");
    let photo = process_photo(&bytes, &PhotoLimits::default(), &ProcessOptions::default())
        .expect("processed");
    std::fs::write(output, &photo.jpeg).expect("write output");
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn report(what: &str, samples: &mut [Duration], mean_cpu: Duration) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "  {what}: median {:.1} ms, min {:.1} ms, mean {:.1} ms, max {:.1} ms wall; mean CPU {:.1} ms",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(mean),
        ms(samples[samples.len() - 1]),
        ms(mean_cpu)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// (utime + stime, cutime + cstime) of this process from /proc/self/stat, in clock ticks.
fn stat_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime is field 14 overall.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    (field(14) + field(15), field(16) + field(17))
}

const TICK: Duration = Duration::from_millis(10); // USER_HZ is 100 on Linux

fn self_cpu() -> Duration {
    TICK * stat_ticks().0 as u32
}

fn children_cpu() -> Duration {
    TICK * stat_ticks().1 as u32
}
