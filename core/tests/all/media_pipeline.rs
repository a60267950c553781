//! The photo pipeline on images made here: EXIF written by hand, every orientation,
//! damaged and hostile input, limits, output shape.

use crate::media_support;

use fieldloop_core::media::{
    hamming, process_photo, PhotoLimits, ProcessOptions, ProcessedPhoto, RgbImage,
};
use fieldloop_core::{Error, PhotoProblem};
use media_support::*;
use sha2::{Digest, Sha256};

fn process(bytes: &[u8]) -> fieldloop_core::Result<ProcessedPhoto> {
    process_photo(bytes, &PhotoLimits::default(), &ProcessOptions::default())
}

fn problem_of(result: fieldloop_core::Result<ProcessedPhoto>) -> (PhotoProblem, String) {
    match result {
        Err(Error::Photo { problem, detail }) => (problem, detail),
        Err(other) => panic!("expected a photo error, got {other}"),
        Ok(p) => panic!(
            "expected a photo error, got a {}×{} photo",
            p.width, p.height
        ),
    }
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 40)
}

#[test]
fn exif_time_with_offset_gps_and_orientation_are_read() {
    let base = jpeg(&scene(64, 48, 1), 90);
    let exif = tiff(
        vec![short(0x0112, 6)],
        vec![
            ascii(0x9003, "2024:05:01 10:11:12"),
            ascii(0x9011, "+08:00"),
            ascii(0x9291, "25"),
        ],
        vec![
            ascii(0x0001, "N"),
            rationals(0x0002, &[(30, 1), (15, 1), (3650, 100)]),
            ascii(0x0003, "E"),
            rationals(0x0004, &[(120, 1), (10, 1), (12, 1)]),
            byte(0x0005, 0),
            rationals(0x0006, &[(125, 10)]),
        ],
    );
    let photo = process(&with_exif(&base, &exif)).expect("processed");
    let taken = photo.exif.taken_at.expect("time read");
    assert_eq!(taken.local, "2024-05-01T10:11:12.250");
    assert_eq!(taken.offset_minutes, Some(480));
    // 2024-05-01T02:11:12.250Z
    assert_eq!(taken.utc_millis, Some(1_714_529_472_250));
    assert_eq!(taken.local_as_utc_millis, 1_714_529_472_250 + 8 * 3_600_000);
    let gps = photo.exif.gps.expect("gps read");
    assert!(
        (gps.lat - (30.0 + 15.0 / 60.0 + 36.5 / 3600.0)).abs() < 1e-9,
        "{gps:?}"
    );
    assert!(
        (gps.lon - (120.0 + 10.0 / 60.0 + 12.0 / 3600.0)).abs() < 1e-9,
        "{gps:?}"
    );
    assert_eq!(gps.alt_m, Some(12.5));
    assert_eq!(photo.exif.orientation, 6);
    assert_eq!(
        (photo.width, photo.height),
        (48, 64),
        "orientation 6 turns it upright"
    );
}

#[test]
fn time_without_offset_is_local_and_says_offset_unknown() {
    let base = jpeg(&scene(32, 32, 2), 90);
    let exif = tiff(vec![], vec![ascii(0x9003, "2023:12:31 23:59:58")], vec![]);
    let taken = process(&with_exif(&base, &exif))
        .expect("processed")
        .exif
        .taken_at
        .expect("time read");
    assert_eq!(taken.local, "2023-12-31T23:59:58");
    assert_eq!(taken.offset_minutes, None);
    assert_eq!(taken.utc_millis, None);
    assert_eq!(taken.local_as_utc_millis, 1_704_067_198_000);
}

#[test]
fn southern_western_and_below_sea_level_refs_are_applied() {
    let base = jpeg(&scene(32, 32, 3), 90);
    let exif = tiff(
        vec![],
        vec![],
        vec![
            ascii(0x0001, "S"),
            rationals(0x0002, &[(33, 1), (52, 1), (0, 1)]),
            ascii(0x0003, "W"),
            rationals(0x0004, &[(70, 1), (30, 1), (0, 1)]),
            byte(0x0005, 1),
            rationals(0x0006, &[(4, 1)]),
        ],
    );
    let gps = process(&with_exif(&base, &exif))
        .expect("processed")
        .exif
        .gps
        .expect("gps");
    assert!((gps.lat - -(33.0 + 52.0 / 60.0)).abs() < 1e-9, "{gps:?}");
    assert!((gps.lon - -70.5).abs() < 1e-9, "{gps:?}");
    assert_eq!(gps.alt_m, Some(-4.0));
}

#[test]
fn unusable_exif_values_are_unknown_not_errors() {
    let base = jpeg(&scene(32, 32, 4), 90);
    let exif = tiff(
        vec![short(0x0112, 9)],
        vec![
            ascii(0x9003, "    :  :     :  :  "),
            ascii(0x9011, "   :  "),
        ],
        vec![
            ascii(0x0001, "N"),
            rationals(0x0002, &[(95, 1), (0, 1), (0, 1)]),
        ],
    );
    let photo = process(&with_exif(&base, &exif)).expect("still a usable photo");
    assert_eq!(photo.exif.taken_at, None);
    assert_eq!(photo.exif.gps, None, "no longitude, latitude out of range");
    assert_eq!(photo.exif.orientation, 1);

    // An APP1 block that is not TIFF at all.
    let garbage = with_exif(&base, b"this is not a TIFF header at all");
    assert_eq!(process(&garbage).expect("usable").exif.orientation, 1);
}

/// For EXIF orientation `o`, the upright pixel that lands at stored pixel (sx, sy),
/// written from the EXIF definition ("row 0 is the visual …, column 0 is the visual …").
fn upright_of_stored(o: u16, sx: u32, sy: u32, uw: u32, uh: u32) -> (u32, u32) {
    match o {
        1 => (sx, sy),
        2 => (uw - 1 - sx, sy),
        3 => (uw - 1 - sx, uh - 1 - sy),
        4 => (sx, uh - 1 - sy),
        5 => (sy, sx),
        6 => (uw - 1 - sy, sx),
        7 => (uw - 1 - sy, uh - 1 - sx),
        8 => (sy, uh - 1 - sx),
        _ => unreachable!(),
    }
}

#[test]
fn every_orientation_comes_out_upright() {
    const RED: [u8; 3] = [230, 20, 20];
    const GREEN: [u8; 3] = [20, 200, 20];
    const BLUE: [u8; 3] = [20, 20, 230];
    const YELLOW: [u8; 3] = [240, 240, 20];
    let (uw, uh) = (96u32, 64u32);
    let quadrant = |x: u32, y: u32| match (x < uw / 2, y < uh / 2) {
        (true, true) => RED,
        (false, true) => GREEN,
        (true, false) => BLUE,
        (false, false) => YELLOW,
    };
    for o in 1..=8u16 {
        let (sw, sh) = if o >= 5 { (uh, uw) } else { (uw, uh) };
        let stored = image(sw, sh, |sx, sy| {
            let (ux, uy) = upright_of_stored(o, sx, sy, uw, uh);
            quadrant(ux, uy)
        });
        let bytes = with_exif(
            &jpeg(&stored, 95),
            &tiff(vec![short(0x0112, o)], vec![], vec![]),
        );
        let photo = process(&bytes).expect("processed");
        assert_eq!(photo.exif.orientation, o);
        assert_eq!((photo.width, photo.height), (uw, uh), "orientation {o}");
        let out = decode(&photo.jpeg);
        for (x, y) in [
            (uw / 4, uh / 4),
            (3 * uw / 4, uh / 4),
            (uw / 4, 3 * uh / 4),
            (3 * uw / 4, 3 * uh / 4),
        ] {
            assert!(
                close(out.pixel(x, y), quadrant(x, y)),
                "orientation {o}: pixel ({x},{y}) is {:?}, expected {:?}",
                out.pixel(x, y),
                quadrant(x, y)
            );
        }
    }
}

#[test]
fn output_is_resized_stripped_and_content_addressed() {
    let big = scene(3400, 2550, 5);
    let exif = tiff(
        vec![short(0x0112, 1)],
        vec![ascii(0x9003, "2024:01:02 03:04:05")],
        vec![],
    );
    let bytes = with_exif(&jpeg(&big, 85), &exif);
    let photo = process(&bytes).expect("processed");
    assert_eq!((photo.width, photo.height), (1600, 1200));
    assert_eq!((photo.source_width, photo.source_height), (3400, 2550));
    assert_eq!((photo.thumbnail_width, photo.thumbnail_height), (320, 240));
    assert_eq!(photo.original_sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(photo.content_hash, hex::encode(Sha256::digest(&photo.jpeg)));
    let out = decode(&photo.jpeg);
    assert_eq!((out.width, out.height), (1600, 1200));
    let thumb = decode(&photo.thumbnail);
    assert_eq!((thumb.width, thumb.height), (320, 240));
    for output in [&photo.jpeg, &photo.thumbnail] {
        assert!(
            !output.windows(6).any(|w| w == b"Exif\0\0"),
            "EXIF must not be copied"
        );
        // Outside entropy-coded data 0xFF 0xE1 can only be an APP1 marker.
        assert!(
            !output.windows(2).any(|w| w == [0xFF, 0xE1]),
            "no APP1 segment"
        );
    }
    // Same input, same address: a retried upload is the same blob.
    assert_eq!(
        process(&bytes).expect("again").content_hash,
        photo.content_hash
    );
}

#[test]
fn small_photos_are_not_upscaled_and_long_edge_is_configurable() {
    let small = jpeg(&scene(640, 480, 6), 90);
    let photo = process(&small).expect("processed");
    assert_eq!((photo.width, photo.height), (640, 480));
    assert_eq!((photo.thumbnail_width, photo.thumbnail_height), (320, 240));

    let tall = jpeg(&scene(900, 2000, 7), 90);
    let options = ProcessOptions {
        long_edge: 800,
        thumbnail_long_edge: 100,
        jpeg_quality: 70,
    };
    let photo = process_photo(&tall, &PhotoLimits::default(), &options).expect("processed");
    assert_eq!((photo.width, photo.height), (360, 800));
    assert_eq!((photo.thumbnail_width, photo.thumbnail_height), (45, 100));
}

#[test]
fn truncated_jpeg_is_a_typed_error_wherever_it_is_cut() {
    let whole = jpeg(&scene(400, 300, 8), 85);
    let (problem, detail) = problem_of(process(&whole[..whole.len() * 6 / 10]));
    assert_eq!(problem, PhotoProblem::Undecodable);
    assert!(detail.contains("truncated"), "{detail}");
    // Cut anywhere, including inside the header: a typed error, never a panic.
    for cut in (0..whole.len() - 2).step_by(97) {
        let (problem, _) = problem_of(process(&whole[..cut]));
        assert_eq!(problem, PhotoProblem::Undecodable, "cut at {cut}");
    }
}

#[test]
fn damaged_bytes_never_panic() {
    let whole = jpeg(&scene(200, 150, 9), 85);
    let mut state = 0x9E37_79B9u32;
    for round in 0..200 {
        let mut bytes = whole.clone();
        for _ in 0..1 + round % 8 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let at = state as usize % bytes.len();
            bytes[at] = (state >> 24) as u8;
        }
        // Either decodes (the damage hit pixels) or a typed photo error.
        if let Err(e) = process(&bytes) {
            assert!(matches!(e, Error::Photo { .. }), "round {round}: {e}");
        }
    }
}

#[test]
fn png_is_processed_with_transparency_over_white() {
    let (w, h) = (200u32, 100u32);
    let mut rgba = image::RgbaImage::new(w, h);
    for (x, _, p) in rgba.enumerate_pixels_mut() {
        *p = if x < w / 2 {
            image::Rgba([10, 40, 200, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        };
    }
    let mut png = Vec::new();
    rgba.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode PNG");
    let photo = process(&png).expect("PNG processed");
    assert_eq!((photo.width, photo.height), (200, 100));
    assert_eq!(photo.exif.orientation, 1);
    let out = decode(&photo.jpeg);
    assert!(
        close(out.pixel(20, 50), [10, 40, 200]),
        "{:?}",
        out.pixel(20, 50)
    );
    assert!(
        close(out.pixel(180, 50), [255, 255, 255]),
        "{:?}",
        out.pixel(180, 50)
    );
}

#[test]
fn non_images_are_undecodable_and_heic_is_unsupported() {
    for junk in [
        &b""[..],
        b"hello, this is a text file",
        b"%PDF-1.7\n",
        b"GIF89a\x01\0\x01\0",
    ] {
        assert_eq!(problem_of(process(junk)).0, PhotoProblem::Undecodable);
    }
    let mut heic = 24u32.to_be_bytes().to_vec();
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.extend_from_slice(&[0u8; 100]);
    let (problem, detail) = problem_of(process(&heic));
    assert_eq!(problem, PhotoProblem::UnsupportedFormat);
    assert_eq!(
        detail,
        "HEIC is not supported: convert to JPEG on the device"
    );
}

#[test]
fn limits_refuse_large_files_and_many_pixels() {
    let bytes = jpeg(&scene(100, 100, 10), 90);
    let tight = PhotoLimits {
        max_bytes: bytes.len() as u64 - 1,
        max_pixels: 50_000_000,
    };
    let (problem, _) = problem_of(process_photo(&bytes, &tight, &ProcessOptions::default()));
    assert_eq!(problem, PhotoProblem::TooLarge);
    let few_pixels = PhotoLimits {
        max_bytes: 1 << 30,
        max_pixels: 100 * 100 - 1,
    };
    let (problem, detail) = problem_of(process_photo(
        &bytes,
        &few_pixels,
        &ProcessOptions::default(),
    ));
    assert_eq!(problem, PhotoProblem::TooLarge);
    assert!(detail.contains("100×100"), "{detail}");
    let exact = PhotoLimits {
        max_bytes: bytes.len() as u64,
        max_pixels: 100 * 100,
    };
    assert!(process_photo(&bytes, &exact, &ProcessOptions::default()).is_ok());

    // 40 MB by default: 41 MB of zero-padded JPEG is refused before anything else.
    let mut huge = bytes.clone();
    huge.resize(41 * 1024 * 1024, 0);
    assert_eq!(problem_of(process(&huge)).0, PhotoProblem::TooLarge);
}

#[test]
fn perceptual_hash_survives_reencoding_resizing_and_cropping() {
    let original = scene(1200, 900, 11);
    let hash = |img: &RgbImage, q: u8| process(&jpeg(img, q)).expect("processed").phash;
    let reference = hash(&original, 90);
    let reencoded = hash(&original, 40);
    let resized = {
        let photo = process(&jpeg(&original, 90)).expect("processed");
        process(&photo.thumbnail)
            .expect("thumbnail processed")
            .phash
    };
    let cropped = {
        let (dx, dy) = (30u32, 22u32); // 5 % off the width, 5 % off the height
        let c = image(1200 - dx, 900 - dy, |x, y| {
            original.pixel(x + dx / 2, y + dy / 2)
        });
        hash(&c, 85)
    };
    for (what, h) in [
        ("re-encoded", reencoded),
        ("resized", resized),
        ("cropped", cropped),
    ] {
        assert!(
            hamming(reference, h) <= 8,
            "{what}: distance {}",
            hamming(reference, h)
        );
    }
    for seed in [12, 13, 14, 15] {
        let other = hash(&scene(1200, 900, seed), 90);
        assert!(
            hamming(reference, other) >= 20,
            "scene {seed}: distance {}",
            hamming(reference, other)
        );
    }
}

#[test]
fn progressive_and_greyscale_jpegs_are_decoded_at_reduced_scale() {
    // A 300 px long edge from 640×480 decodes at DCT scale 1/2 (320×240), then resizes.
    let options = ProcessOptions {
        long_edge: 300,
        ..ProcessOptions::default()
    };
    let run = |bytes: &[u8]| process_photo(bytes, &PhotoLimits::default(), &options);
    let colour = scene(640, 480, 16);
    let mut progressive = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 85);
    encoder.set_progressive(true);
    encoder
        .encode(&colour.pixels, 640, 480, jpeg_encoder::ColorType::Rgb)
        .expect("encode progressive");
    let photo = run(&progressive).expect("progressive processed");
    assert_eq!((photo.width, photo.height), (300, 225));
    let baseline = run(&jpeg(&colour, 85)).expect("baseline processed");
    assert!(hamming(photo.phash, baseline.phash) <= 4);

    let luma: Vec<u8> = colour.pixels.chunks_exact(3).map(|p| p[1]).collect();
    let mut grey = Vec::new();
    jpeg_encoder::Encoder::new(&mut grey, 85)
        .encode(&luma, 640, 480, jpeg_encoder::ColorType::Luma)
        .expect("encode greyscale");
    let photo = run(&grey).expect("greyscale processed");
    assert_eq!((photo.width, photo.height), (300, 225));
    let out = decode(&photo.jpeg);
    let [r, g, b] = out.pixel(150, 110);
    assert!(
        r.abs_diff(g) <= 3 && g.abs_diff(b) <= 3,
        "grey stays grey: {r} {g} {b}"
    );
}
