//! Distinct processed JPEGs for the fault harnesses: generated scenes (no test data to
//! miss), each run through the device's photo pipeline, so the referee decodes them.
//! Every index gives its own scene, so a long run never repeats a photo: a repeat is
//! rightly judged as reused, and a run where every verification fails for that would
//! never close a case.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};

/// A processed photo and its content address.
#[derive(Debug, Clone)]
pub struct Photo {
    pub hash: String,
    pub jpeg: Vec<u8>,
}

/// splitmix64: a seeded, dependency-free stream of block brightnesses.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An 8 × 8 board of blocks whose brightness is drawn from `seed`, shaded by a smooth
/// colour wash: the perceptual hash reads the low frequencies, which the random board
/// decides, so two seeds' hashes land about 32 of 64 bits apart.
fn scene_jpeg(seed: u64) -> Vec<u8> {
    let (w, h) = (320u32, 240u32);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let block = u64::from(y * 8 / h * 8 + x * 8 / w);
        let level = (mix(seed.wrapping_mul(64).wrapping_add(block)) % 256) as f32;
        let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
        let wash = ((u * 3.0 + seed as f32).sin() * (v * 2.0).cos() + 1.0) * 0.5 * 255.0;
        let shade = |k: f32| (0.8 * level + 0.2 * wash * k).clamp(0.0, 255.0) as u8;
        image::Rgb([shade(1.0), shade(0.7), shade(0.4)])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encode a generated scene");
    out
}

/// Photo `i`, made on first use and the same on every call.
pub fn photo(i: usize) -> &'static Photo {
    &made(i).0
}

/// Photo `i` with its perceptual hash.
fn made(i: usize) -> &'static (Photo, u64) {
    type Made = HashMap<usize, &'static (Photo, u64)>;
    static MADE: LazyLock<Mutex<Made>> = LazyLock::new(Default::default);
    if let Some(made) = MADE.lock().expect("photo cache").get(&i) {
        return made;
    }
    // Made outside the lock, so harness threads process their photos in parallel.
    let processed = process_photo(
        &scene_jpeg(i as u64 + 1),
        &PhotoLimits::default(),
        &ProcessOptions::default(),
    )
    .expect("a generated scene processes");
    let photo = Photo {
        hash: processed.content_hash,
        jpeg: processed.jpeg,
    };
    let mut cache = MADE.lock().expect("photo cache");
    let kept: &'static (Photo, u64) = cache
        .entry(i)
        .or_insert_with(|| Box::leak(Box::new((photo, processed.phash))));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_differ_beyond_the_referees_reuse_distance() {
        // The referee calls two photos the same within 8 bits (thresholds.rs); a long
        // fault run takes a few thousand, so a sample of 300 must keep far apart.
        let photos: Vec<&(Photo, u64)> = (0..300).map(made).collect();
        let mut closest = 64;
        for (i, (a, a_phash)) in photos.iter().enumerate() {
            for (b, b_phash) in &photos[i + 1..] {
                assert_ne!(a.hash, b.hash);
                closest = closest.min((a_phash ^ b_phash).count_ones());
            }
        }
        assert!(closest > 8, "two photos are only {closest} bits apart");
        assert_eq!(
            photo(7).hash,
            photo(7).hash,
            "the same index, the same photo"
        );
    }
}
