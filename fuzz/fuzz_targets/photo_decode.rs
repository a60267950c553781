//! The photo pipeline on arbitrary bytes, as the phone runs it on capture and the server
//! on arrival of an upload: sniff, header, limits, decode, orientation, resize, pHash.
#![no_main]

use fieldloop_core::media::{inspect_photo, process_photo, PhotoLimits, ProcessOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // Small limits keep each run fast; the limit checks themselves are under test too.
    let limits = PhotoLimits {
        max_bytes: 4 * 1024 * 1024,
        max_pixels: 4_000_000,
    };
    let options = ProcessOptions {
        long_edge: 256,
        thumbnail_long_edge: 64,
        ..ProcessOptions::default()
    };
    let _ = process_photo(bytes, &limits, &options);
    let _ = inspect_photo(bytes, &limits, 64);
});
