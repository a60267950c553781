//! Distinct processed JPEGs for the fault harnesses: generated scenes (no test data to
//! miss), each run through the device's photo pipeline, so the referee decodes them and
//! their perceptual hashes differ (no false "reused photo" verdicts).

use std::sync::OnceLock;

use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};

/// A processed photo and its content address.
#[derive(Debug, Clone)]
pub struct Photo {
    pub hash: String,
    pub jpeg: Vec<u8>,
}

/// Photos in the pool; a world that takes more wraps around (the referee then judges the
/// repeat as reuse, which is a legitimate verdict, not a fault).
pub const POOL: usize = 24;

fn scene_jpeg(seed: u32) -> Vec<u8> {
    let s = seed as f32;
    let (w, h) = (320u32, 240u32);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
        let a = ((u * (3.0 + s) + s).sin() * (v * (2.0 + 0.7 * s) - s).cos() + 1.0) * 0.5;
        let b = (((u - 0.3 * s.sin()).powi(2) + (v - 0.5).powi(2)).sqrt() * (6.0 + s)).cos();
        image::Rgb([
            (a * 255.0) as u8,
            ((b + 1.0) * 127.0) as u8,
            (v * 255.0) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encode a generated scene");
    out
}

/// Photo `i` of the pool (modulo its size), made on first use.
pub fn photo(i: usize) -> &'static Photo {
    static SLOTS: [OnceLock<Photo>; POOL] = [const { OnceLock::new() }; POOL];
    let i = i % POOL;
    SLOTS[i].get_or_init(|| {
        let processed = process_photo(
            &scene_jpeg(i as u32 + 1),
            &PhotoLimits::default(),
            &ProcessOptions::default(),
        )
        .expect("a generated scene processes");
        Photo {
            hash: processed.content_hash,
            jpeg: processed.jpeg,
        }
    })
}
