//! The server's look at an uploaded photo: the same perceptual hash the phone computed,
//! and the same refusals.

use crate::media_support;

use fieldloop_core::media::{
    hamming, inspect_photo, process_photo, PhotoFormat, PhotoLimits, ProcessOptions,
};
use fieldloop_core::{Error, PhotoProblem};
use media_support::{jpeg, scene};

#[test]
fn a_processed_photo_inspects_to_its_own_perceptual_hash() {
    let limits = PhotoLimits::default();
    let options = ProcessOptions::default();
    for seed in 1..4 {
        let original = jpeg(&scene(2400, 1800, seed), 92);
        let processed = process_photo(&original, &limits, &options).unwrap();
        let seen = inspect_photo(&processed.jpeg, &limits, options.thumbnail_long_edge).unwrap();
        assert_eq!(seen.format, PhotoFormat::Jpeg);
        assert_eq!(
            (seen.width, seen.height),
            (processed.width, processed.height)
        );
        let distance = hamming(seen.phash, processed.phash);
        assert!(
            distance <= 4,
            "scene {seed}: server and phone differ by {distance} bits"
        );
    }
    // Different scenes stay apart when judged by the server's numbers too.
    let a = process_photo(&jpeg(&scene(1600, 1200, 7), 90), &limits, &options).unwrap();
    let b = process_photo(&jpeg(&scene(1600, 1200, 8), 90), &limits, &options).unwrap();
    let ia = inspect_photo(&a.jpeg, &limits, 320).unwrap();
    let ib = inspect_photo(&b.jpeg, &limits, 320).unwrap();
    assert!(hamming(ia.phash, ib.phash) >= 20);
}

#[test]
fn inspection_refuses_what_processing_refuses() {
    let limits = PhotoLimits::default();
    let refused = |bytes: &[u8]| match inspect_photo(bytes, &limits, 320) {
        Err(Error::Photo { problem, .. }) => problem,
        other => panic!("expected a photo error, got {other:?}"),
    };
    assert_eq!(refused(b"not an image at all"), PhotoProblem::Undecodable);
    let whole = jpeg(&scene(800, 600, 3), 85);
    assert_eq!(
        refused(&whole[..whole.len() / 2]),
        PhotoProblem::Undecodable
    );
    let small = PhotoLimits {
        max_pixels: 1000,
        ..limits
    };
    assert!(matches!(
        inspect_photo(&whole, &small, 320),
        Err(Error::Photo {
            problem: PhotoProblem::TooLarge,
            ..
        })
    ));
    assert!(matches!(
        inspect_photo(&whole, &limits, 0),
        Err(Error::Invalid { .. })
    ));
}
