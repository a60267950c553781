//! The pipeline on real camera photos from ../shared/photos (skipped, with a printed
//! notice, when that directory is absent).

use crate::media_support;

use std::path::Path;

use fieldloop_core::media::{hamming, process_photo, PhotoLimits, ProcessOptions, ProcessedPhoto};
use fieldloop_core::{Error, PhotoProblem};
use media_support::*;

fn process_file(dir: &Path, name: &str) -> fieldloop_core::Result<ProcessedPhoto> {
    let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
    process_photo(&bytes, &PhotoLimits::default(), &ProcessOptions::default())
}

fn ok(dir: &Path, name: &str) -> ProcessedPhoto {
    process_file(dir, name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn benchmark_photo_is_resized_with_its_exif_time() {
    let Some(dir) = photos_dir("benchmark_photo_is_resized_with_its_exif_time") else {
        return;
    };
    let photo = ok(&dir, "olympus-ep3-12mp.jpg");
    assert_eq!((photo.source_width, photo.source_height), (4032, 3024));
    assert_eq!((photo.width, photo.height), (1600, 1200));
    assert_eq!((photo.thumbnail_width, photo.thumbnail_height), (320, 240));
    let taken = photo.exif.taken_at.expect("DateTimeOriginal");
    assert_eq!(taken.local, "2014-08-23T13:05:43");
    assert_eq!(taken.offset_minutes, None);
    assert_eq!(photo.exif.gps, None);
    assert_eq!(decode(&photo.jpeg).width, 1600);
}

#[test]
fn coolpix_gps_is_read_with_refs() {
    let Some(dir) = photos_dir("coolpix_gps_is_read_with_refs") else {
        return;
    };
    // exif-ifd3 of each file, as printed by `vipsheader -a`: 43/1 28/1 2.814 N, 11/1 53/1 6.456 E.
    let expected = [
        (
            "coolpix-gps-a.jpg",
            (43.0, 28.0, 2.814),
            (11.0, 53.0, 6.455_999_99),
            "2008-10-22T16:28:39",
        ),
        (
            "coolpix-gps-b.jpg",
            (43.0, 28.0, 1.493_999_99),
            (11.0, 53.0, 4.337_999_99),
            "2008-10-22T16:38:20",
        ),
    ];
    let mut fixes = Vec::new();
    for (name, (lad, lam, las), (lod, lom, los), time) in expected {
        let photo = ok(&dir, name);
        let gps = photo.exif.gps.unwrap_or_else(|| panic!("{name}: no GPS"));
        assert!(
            (gps.lat - (lad + lam / 60.0 + las / 3600.0)).abs() < 1e-7,
            "{name}: {gps:?}"
        );
        assert!(
            (gps.lon - (lod + lom / 60.0 + los / 3600.0)).abs() < 1e-7,
            "{name}: {gps:?}"
        );
        assert_eq!(gps.alt_m, None, "{name}: the camera wrote no altitude");
        assert_eq!(photo.exif.taken_at.expect("time").local, time);
        assert_eq!((photo.width, photo.height), (640, 480), "not upscaled");
        fixes.push(gps);
    }
    // "A few hundred metres apart": 1° of latitude is about 111 km.
    let dlat_m = (fixes[0].lat - fixes[1].lat) * 111_000.0;
    let dlon_m = (fixes[0].lon - fixes[1].lon) * 111_000.0 * fixes[0].lat.to_radians().cos();
    let apart = dlat_m.hypot(dlon_m);
    assert!((20.0..1_000.0).contains(&apart), "{apart} m apart");
}

#[test]
fn rotated_photos_come_out_upright() {
    let Some(dir) = photos_dir("rotated_photos_come_out_upright") else {
        return;
    };
    let canon = ok(&dir, "canon-rot90-hdr-off.jpg");
    assert_eq!(canon.exif.orientation, 6);
    assert_eq!((canon.width, canon.height), (1200, 1600));

    for (name, orientation, upright) in [
        ("orientation-6.jpg", 6, (600, 450)),
        ("orientation-3.jpg", 3, (600, 450)),
    ] {
        let photo = ok(&dir, name);
        assert_eq!(photo.exif.orientation, orientation, "{name}");
        assert_eq!((photo.width, photo.height), upright, "{name}");
        // Pixel check against an independent decoder (image/zune-jpeg, which leaves the
        // stored orientation alone) turned by image's own rotation.
        let stored = image::load_from_memory(&std::fs::read(dir.join(name)).expect("read"))
            .expect("decodable")
            .into_rgb8();
        let turned = match orientation {
            6 => image::imageops::rotate90(&stored),
            _ => image::imageops::rotate180(&stored),
        };
        let ours = decode(&photo.jpeg);
        let mut total = 0u64;
        for (a, b) in ours.pixels.iter().zip(turned.as_raw()) {
            total += u64::from(a.abs_diff(*b));
        }
        let mean = total as f64 / ours.pixels.len() as f64;
        assert!(
            mean < 6.0,
            "{name}: mean difference {mean} from the rotated original"
        );
    }
}

#[test]
fn near_duplicates_are_close_and_different_scenes_far() {
    let Some(dir) = photos_dir("near_duplicates_are_close_and_different_scenes_far") else {
        return;
    };
    let off = ok(&dir, "canon-rot90-hdr-off.jpg").phash;
    let on = ok(&dir, "canon-rot90-hdr-on.jpg").phash;
    println!("canon HDR off/on: {}", hamming(off, on));
    assert!(
        hamming(off, on) <= 8,
        "near-duplicate pair {} apart",
        hamming(off, on)
    );

    let scenes = [
        "canon-rot90-hdr-off.jpg",
        "coolpix-gps-a.jpg",
        "coolpix-gps-b.jpg",
        "jolla-phone-8mp.jpg",
        "olympus-ep3-12mp.jpg",
        "orientation-6.jpg",
    ];
    let hashes: Vec<u64> = scenes.iter().map(|name| ok(&dir, name).phash).collect();
    for i in 0..scenes.len() {
        for j in i + 1..scenes.len() {
            let d = hamming(hashes[i], hashes[j]);
            println!("{} vs {}: {d}", scenes[i], scenes[j]);
            assert!(d >= 20, "{} and {} only {d} apart", scenes[i], scenes[j]);
        }
    }
}

#[test]
fn copies_of_a_real_photo_stay_within_8() {
    let Some(dir) = photos_dir("copies_of_a_real_photo_stay_within_8") else {
        return;
    };
    let photo = ok(&dir, "jolla-phone-8mp.jpg");
    let reprocess = |bytes: &[u8]| {
        process_photo(bytes, &PhotoLimits::default(), &ProcessOptions::default())
            .expect("reprocessed")
            .phash
    };
    let upright = decode(&photo.jpeg);
    let (w, h) = (upright.width, upright.height);
    let (dx, dy) = (w / 40, h / 40);
    let cropped = image(w - 2 * dx, h - 2 * dy, |x, y| upright.pixel(x + dx, y + dy));
    for (what, hash) in [
        ("re-encoded at quality 40", reprocess(&jpeg(&upright, 40))),
        ("the thumbnail", reprocess(&photo.thumbnail)),
        ("cropped 2.5 % on each side", reprocess(&jpeg(&cropped, 85))),
    ] {
        let d = hamming(photo.phash, hash);
        println!("{what}: {d}");
        assert!(d <= 8, "{what}: {d} apart");
    }
}

#[test]
fn heic_is_refused_with_advice() {
    let Some(dir) = photos_dir("heic_is_refused_with_advice") else {
        return;
    };
    match process_file(&dir, "iphone13-pro-max.heic") {
        Err(Error::Photo { problem, detail }) => {
            assert_eq!(problem, PhotoProblem::UnsupportedFormat);
            assert_eq!(
                detail,
                "HEIC is not supported: convert to JPEG on the device"
            );
        }
        other => panic!("expected UnsupportedFormat, got {other:?}"),
    }
}

#[test]
fn damaged_camera_file_gives_a_typed_error() {
    let Some(dir) = photos_dir("damaged_camera_file_gives_a_typed_error") else {
        return;
    };
    match process_file(&dir, "corrupted-olympus.jpg") {
        Err(Error::Photo { problem, detail }) => {
            println!("corrupted-olympus.jpg: {problem:?}: {detail}");
            assert_eq!(problem, PhotoProblem::Undecodable);
        }
        other => panic!("expected Undecodable, got {other:?}"),
    }
}
