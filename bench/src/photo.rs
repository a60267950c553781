//! §4 The photo pipeline against `vipsthumbnail` (core/benches/photo.rs's method): the
//! same 12 MP camera JPEG to a 1600 px quality-80 JPEG without EXIF, both as processes
//! (this binary's `photo-once`, and vipsthumbnail with VIPS_CONCURRENCY=1), alternating.
//! Ours also does the SHA-256s, EXIF, thumbnail and pHash; vipsthumbnail only the resize.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};
use serde::Serialize;

use crate::error::{setup, Result};
use crate::stats::{median, ratio};

pub const PHOTO: &str = "olympus-ep3-12mp.jpg";

#[derive(Debug, Clone, Serialize)]
pub struct PhotoFigures {
    pub photo: String,
    pub iterations: usize,
    pub ours_process_ms: f64,
    pub ours_in_process_ms: f64,
    pub vipsthumbnail_ms: Option<f64>,
    pub ratio_process: Option<f64>,
}

/// `photo-once IN OUT`: what the process timing runs.
pub fn once(input: &Path, output: &Path) -> Result<()> {
    let bytes = std::fs::read(input)?;
    let photo = process_photo(&bytes, &PhotoLimits::default(), &ProcessOptions::default())?;
    std::fs::write(output, &photo.jpeg)?;
    Ok(())
}

pub fn photo_path() -> Option<PathBuf> {
    let dir = fieldloop_testdata::find_photos()?;
    let photo = dir.join(PHOTO);
    photo.is_file().then_some(photo)
}

pub fn run(iterations: usize) -> Result<PhotoFigures> {
    let photo =
        photo_path().ok_or_else(|| setup(format!("{PHOTO} not found (../shared/photos)")))?;
    let out = crate::server::bench_dir()?;
    let ours_out = out.path().join("ours.jpg");
    let vips_target = format!("{}[Q=80,strip]", out.path().join("vips.jpg").display());
    let exe = std::env::current_exe()?;
    let run_ours = || -> Result<f64> {
        let start = Instant::now();
        let status = Command::new(&exe)
            .arg("photo-once")
            .arg(&photo)
            .arg(&ours_out)
            .status()?;
        if !status.success() {
            return Err(setup("photo-once failed"));
        }
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    };
    let run_vips = || -> Option<f64> {
        let start = Instant::now();
        let ok = Command::new("vipsthumbnail")
            .env("VIPS_CONCURRENCY", "1")
            .arg(&photo)
            .args(["-s", "1600", "-o", &vips_target])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| start.elapsed().as_secs_f64() * 1000.0)
    };
    // Warm the page cache and both binaries.
    run_ours()?;
    let have_vips = run_vips().is_some();
    let (mut ours, mut vips) = (Vec::new(), Vec::new());
    for _ in 0..iterations {
        ours.push(run_ours()?);
        if have_vips {
            vips.extend(run_vips());
        }
    }
    let bytes = std::fs::read(&photo)?;
    let mut in_process = Vec::new();
    for _ in 0..iterations {
        let start = Instant::now();
        std::hint::black_box(process_photo(
            &bytes,
            &PhotoLimits::default(),
            &ProcessOptions::default(),
        )?);
        in_process.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let vips_ms = have_vips.then(|| median(&vips));
    Ok(PhotoFigures {
        photo: PHOTO.into(),
        iterations,
        ours_process_ms: median(&ours),
        ours_in_process_ms: median(&in_process),
        vipsthumbnail_ms: vips_ms,
        ratio_process: vips_ms.map(|v| ratio(median(&ours), v)),
    })
}
