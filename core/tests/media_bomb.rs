//! Decompression bombs: files whose headers declare far more pixels than they carry must
//! be refused before anything is allocated for those pixels. A counting allocator
//! watches the largest single allocation made during the call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};
use fieldloop_core::{Error, PhotoProblem};

struct LargestAllocation;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&0u32.to_be_bytes()); // CRC not checked before refusing
                                                // A small IDAT of zeros: inflating it would fill rows of a huge image.
    png.extend_from_slice(&[0, 0, 0, 16]);
    png.extend_from_slice(b"IDAT");
    png.extend_from_slice(&[
        0x78, 0x9C, 0xED, 0xC1, 1, 1, 0, 0, 0, 0x80, 0x90, 0xFE, 0xAF, 0x6E, 0x48, 0x40,
    ]);
    png.extend_from_slice(&[0; 4]);
    png
}

/// A JPEG whose frame header (SOF0) declares `width`×`height` (65535 at most: u16).
fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8];
    jpeg.extend_from_slice(&height.to_be_bytes());
    jpeg.extend_from_slice(&width.to_be_bytes());
    jpeg.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

fn assert_refused_without_allocating(bytes: &[u8]) {
    LARGEST.store(0, Ordering::Relaxed);
    let result = process_photo(bytes, &PhotoLimits::default(), &ProcessOptions::default());
    let largest = LARGEST.load(Ordering::Relaxed);
    match result {
        Err(Error::Photo {
            problem: PhotoProblem::TooLarge,
            detail,
        }) => {
            assert!(detail.contains("pixels"), "{detail}")
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Tests run in parallel threads in this binary; 1 MiB is far above anything the header
    // check needs and far below one row-set of the declared image.
    assert!(
        largest < 1 << 20,
        "allocated {largest} bytes before refusing"
    );
}

#[test]
fn png_declaring_100000_by_100000_is_refused_before_allocation() {
    assert_refused_without_allocating(&png_declaring(100_000, 100_000));
}

#[test]
fn jpeg_declaring_65535_by_65535_is_refused_before_allocation() {
    assert_refused_without_allocating(&jpeg_declaring(65_535, 65_535));
}

#[test]
fn jpeg_just_over_fifty_megapixels_is_refused() {
    // 8200 × 6100 = 50.02 MP
    assert_refused_without_allocating(&jpeg_declaring(8_200, 6_100));
}
