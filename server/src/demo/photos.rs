//! Real JPEG photos for the simulated phones: each scene draws its own picture (sky,
//! ground, a coloured object, stripes, sensor noise) from a seed, so different scenes
//! differ in content and in perceptual hash, and the same seed gives the same bytes. The
//! "camera" JPEG then goes through `media::process_photo`, as on the phone: the processed
//! file is what is stored, uploaded and addressed, with its perceptual hash.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};

use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};
use fieldloop_core::{Error, Result};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
const QUALITY: u8 = 82;

/// One photo as the demo stores and uploads it.
#[derive(Debug, Clone)]
pub struct Photo {
    /// The processed JPEG.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, lowercase hex: the photo's address.
    pub sha256: String,
    /// 64-bit perceptual hash, for reuse detection.
    pub phash: u64,
}

/// A small deterministic generator (SplitMix64), so scenes need no RNG dependency.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
}

fn seed_of(scene: &str) -> u64 {
    // FNV-1a: stable across runs and platforms.
    scene.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Draws and encodes the scene named `scene` ("case-3/after", …).
pub fn scene(scene: &str) -> Result<Photo> {
    let mut mix = Mix(seed_of(scene));
    let horizon = HEIGHT / 3 + mix.below(HEIGHT / 3);
    let sky = Rgb([
        120 + mix.below(80) as u8,
        150 + mix.below(80) as u8,
        200 + mix.below(55) as u8,
    ]);
    let ground = Rgb([
        60 + mix.below(120) as u8,
        60 + mix.below(120) as u8,
        50 + mix.below(90) as u8,
    ]);
    let object = Rgb([
        mix.below(256) as u8,
        mix.below(256) as u8,
        mix.below(256) as u8,
    ]);
    let (ox, oy) = (
        mix.below(WIDTH - 160),
        horizon.saturating_sub(40) + mix.below(120),
    );
    let (ow, oh) = (60 + mix.below(140), 40 + mix.below(120));
    let stripe_period = 12 + mix.below(40);
    let stripe_slope = mix.below(5) as i64 - 2;
    let radius = 20 + mix.below(60);
    let (cx, cy) = (mix.below(WIDTH), mix.below(horizon.max(1)));

    // Light and shade over the whole picture: a few broad waves of brightness, different
    // per scene. They give the picture the strong low-frequency structure a real street
    // has, which is what a perceptual hash keys on.
    let waves: Vec<(f64, f64, f64, f64)> = (0..4)
        .map(|_| {
            let fx = f64::from(mix.below(7)) * 0.5;
            let fy = f64::from(mix.below(7)) * 0.5;
            let phase = f64::from(mix.below(628)) / 100.0;
            let amp = 15.0 + f64::from(mix.below(25));
            (fx, fy, phase, amp)
        })
        .collect();
    let mut img = RgbImage::new(WIDTH, HEIGHT);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let base = if y < horizon { sky } else { ground };
        let (u, v) = (
            f64::from(x) / f64::from(WIDTH),
            f64::from(y) / f64::from(HEIGHT),
        );
        let shade: f64 = waves
            .iter()
            .map(|(fx, fy, phase, amp)| {
                amp * (std::f64::consts::TAU * (fx * u + fy * v) + phase).cos()
            })
            .sum();
        let mut c = Rgb(base
            .0
            .map(|ch| (f64::from(ch) + shade).clamp(0.0, 255.0) as u8));
        // Paving stripes on the ground, at a slope particular to the scene.
        if y >= horizon {
            let phase = (x as i64 + stripe_slope * y as i64).rem_euclid(stripe_period as i64);
            if phase < 3 {
                c = Rgb([c[0] / 2 + 60, c[1] / 2 + 60, c[2] / 2 + 60]);
            }
        }
        let (dx, dy) = (x as i64 - cx as i64, y as i64 - cy as i64);
        if dx * dx + dy * dy < i64::from(radius * radius) {
            c = Rgb([250, 240, 200]);
        }
        if (ox..ox + ow).contains(&x) && (oy..oy + oh).contains(&y) {
            c = object;
        }
        *px = c;
    }
    // Sensor noise, so no two scenes share blocks by accident.
    for px in img.pixels_mut() {
        let n = mix.next();
        for (i, channel) in px.0.iter_mut().enumerate() {
            let delta = ((n >> (i * 8)) & 0x0f) as i16 - 8;
            *channel = (*channel as i16 + delta).clamp(0, 255) as u8;
        }
    }
    let mut camera = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut camera), QUALITY)
        .encode_image(&img)
        .map_err(|e| Error::invalid("demo photo", format!("{scene}: {e}")))?;
    let processed = process_photo(&camera, &PhotoLimits::default(), &ProcessOptions::default())?;
    Ok(Photo {
        bytes: processed.jpeg,
        sha256: processed.content_hash,
        phash: processed.phash,
    })
}

/// The same picture saved again at another JPEG quality: different bytes and address,
/// (nearly) the same perceptual hash. What a reused gallery photo looks like.
pub fn reencoded(photo: &Photo, quality: u8) -> Result<Photo> {
    let options = ProcessOptions {
        jpeg_quality: quality,
        ..ProcessOptions::default()
    };
    let processed = process_photo(&photo.bytes, &PhotoLimits::default(), &options)?;
    Ok(Photo {
        bytes: processed.jpeg,
        sha256: processed.content_hash,
        phash: processed.phash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_are_real_jpegs_distinct_and_repeatable() {
        let a = scene("case-1/before").unwrap();
        let b = scene("case-1/after").unwrap();
        assert_eq!(&a.bytes[..2], &[0xFF, 0xD8]);
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(a.sha256, scene("case-1/before").unwrap().sha256);
        assert_eq!(a.sha256, fieldloop_core::store::sha256_hex(&a.bytes));
        let distance = (a.phash ^ b.phash).count_ones();
        assert!(distance > 10, "different scenes, phash distance {distance}");
        let copy = reencoded(&a, 70).unwrap();
        assert_ne!(copy.sha256, a.sha256);
        assert!(
            (copy.phash ^ a.phash).count_ones() <= 4,
            "a re-encode keeps the pHash"
        );
        // The server hashes what arrives, at thumbnail scale; it must agree.
        let on_arrival = |bytes: &[u8]| {
            fieldloop_core::media::inspect_photo(bytes, &PhotoLimits::default(), 320)
                .unwrap()
                .phash
        };
        assert!((on_arrival(&copy.bytes) ^ on_arrival(&a.bytes)).count_ones() <= 4);
        let decoded = image::load_from_memory(&a.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (WIDTH, HEIGHT));
    }
}
