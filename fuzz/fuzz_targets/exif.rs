//! EXIF parsing: the fuzz input becomes the APP1 `Exif` segment of an otherwise valid
//! 16×16 JPEG, so every run reaches the EXIF reader (time, GPS, orientation) and then
//! the orientation step with whatever it read.
#![no_main]

use std::sync::OnceLock;

use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};
use libfuzzer_sys::fuzz_target;

fn base_jpeg() -> &'static [u8] {
    static JPEG: OnceLock<Vec<u8>> = OnceLock::new();
    JPEG.get_or_init(|| {
        let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 16, y as u8 * 16, 90]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&img)
            .expect("encode");
        out
    })
}

fuzz_target!(|tiff: &[u8]| {
    // APP1 length counts itself (2) and "Exif\0\0" (6); a segment holds at most 65,533.
    let tiff = &tiff[..tiff.len().min(65_533 - 8)];
    let base = base_jpeg();
    let mut jpeg = Vec::with_capacity(base.len() + tiff.len() + 10);
    jpeg.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE1]);
    jpeg.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    jpeg.extend_from_slice(b"Exif\0\0");
    jpeg.extend_from_slice(tiff);
    jpeg.extend_from_slice(&base[2..]);
    let options = ProcessOptions {
        long_edge: 16,
        thumbnail_long_edge: 8,
        ..ProcessOptions::default()
    };
    let _ = process_photo(&jpeg, &PhotoLimits::default(), &options);
});
