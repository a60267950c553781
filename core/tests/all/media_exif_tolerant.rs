//! EXIF read as phones write it: GPS as signed rationals, and blocks with one broken
//! pointer, made from the real Coolpix GPS photo in ../shared/photos by changing a few
//! bytes of its EXIF block in place (read in place, changed in memory only).

use crate::media_support;

use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions, ProcessedPhoto};
use media_support::*;

const GPS_LATITUDE: u16 = 0x0002;
const GPS_LONGITUDE: u16 = 0x0004;
const DATE_TIME: u16 = 0x0132;
const EXIF_POINTER: u16 = 0x8769;
const GPS_POINTER: u16 = 0x8825;
const SRATIONAL: u16 = 10;

/// 43°28'2.814" N, 11°53'6.456" E: what the camera wrote (see media_photos.rs).
const LAT: f64 = 43.0 + 28.0 / 60.0 + 2.814 / 3600.0;
const LON: f64 = 11.0 + 53.0 / 60.0 + 6.455_999_99 / 3600.0;

/// The Coolpix photo's bytes and where its TIFF block starts.
fn coolpix(test: &str) -> Option<(Vec<u8>, usize)> {
    let bytes = std::fs::read(photos_dir(test)?.join("coolpix-gps-a.jpg")).expect("readable");
    let app1 = bytes
        .windows(6)
        .position(|w| w == b"Exif\0\0")
        .expect("an EXIF block");
    Some((bytes, app1 + 6))
}

/// Reads the TIFF's byte order once and finds directory entries by tag.
struct Tiff {
    start: usize,
    big_endian: bool,
}

impl Tiff {
    fn of(bytes: &[u8], start: usize) -> Tiff {
        Tiff {
            start,
            big_endian: &bytes[start..start + 2] == b"MM",
        }
    }
    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let x = [b[at], b[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        }
    }
    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }
    }
    fn put_u16(&self, b: &mut [u8], at: usize, v: u16) {
        let x = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        b[at..at + 2].copy_from_slice(&x);
    }
    fn put_u32(&self, b: &mut [u8], at: usize, v: u32) {
        let x = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        b[at..at + 4].copy_from_slice(&x);
    }
    /// Absolute position of the entry `tag` in the directory at TIFF offset `ifd`.
    fn entry(&self, b: &[u8], ifd: u32, tag: u16) -> usize {
        let at = self.start + ifd as usize;
        let count = self.u16_at(b, at);
        (0..count as usize)
            .map(|i| at + 2 + 12 * i)
            .find(|e| self.u16_at(b, *e) == tag)
            .unwrap_or_else(|| panic!("tag {tag:#06x} in the directory at {ifd}"))
    }
    fn ifd0(&self, b: &[u8]) -> u32 {
        self.u32_at(b, self.start + 4)
    }
    fn gps_ifd(&self, b: &[u8]) -> u32 {
        let pointer = self.entry(b, self.ifd0(b), GPS_POINTER);
        self.u32_at(b, pointer + 8)
    }
}

fn process(bytes: &[u8]) -> ProcessedPhoto {
    process_photo(bytes, &PhotoLimits::default(), &ProcessOptions::default())
        .expect("the photo itself is fine")
}

#[test]
fn gps_written_as_signed_rationals_is_read() {
    let Some((mut bytes, start)) = coolpix("gps_written_as_signed_rationals_is_read") else {
        return;
    };
    let tiff = Tiff::of(&bytes, start);
    let gps = tiff.gps_ifd(&bytes);
    for tag in [GPS_LATITUDE, GPS_LONGITUDE] {
        let entry = tiff.entry(&bytes, gps, tag);
        tiff.put_u16(&mut bytes, entry + 2, SRATIONAL);
    }
    let fix = process(&bytes)
        .exif
        .gps
        .expect("GPS read from signed rationals");
    assert!((fix.lat - LAT).abs() < 1e-7, "{fix:?}");
    assert!((fix.lon - LON).abs() < 1e-7, "{fix:?}");

    // A phone that puts the sign on the degrees (west) despite an "E" reference.
    let entry = tiff.entry(&bytes, gps, GPS_LONGITUDE);
    let degrees_at = start + tiff.u32_at(&bytes, entry + 8) as usize;
    tiff.put_u32(&mut bytes, degrees_at, (-11i32) as u32);
    let fix = process(&bytes).exif.gps.expect("GPS read");
    assert!((fix.lon + LON).abs() < 1e-7, "west of Greenwich: {fix:?}");
}

#[test]
fn a_broken_value_pointer_loses_only_its_own_tag() {
    let Some((mut bytes, start)) = coolpix("a_broken_value_pointer_loses_only_its_own_tag") else {
        return;
    };
    let tiff = Tiff::of(&bytes, start);
    // IFD0's DateTime points far past the end of the block.
    let entry = tiff.entry(&bytes, tiff.ifd0(&bytes), DATE_TIME);
    tiff.put_u32(&mut bytes, entry + 8, 0x7FFF_FF00);
    let exif = process(&bytes).exif;
    assert_eq!(
        exif.taken_at.expect("the capture time survives").local,
        "2008-10-22T16:28:39"
    );
    let fix = exif.gps.expect("the position survives");
    assert!((fix.lat - LAT).abs() < 1e-7, "{fix:?}");
}

#[test]
fn a_broken_sub_directory_pointer_keeps_the_other_directories() {
    let Some((mut bytes, start)) =
        coolpix("a_broken_sub_directory_pointer_keeps_the_other_directories")
    else {
        return;
    };
    let tiff = Tiff::of(&bytes, start);
    // The Exif sub-IFD (capture time) is lost; the GPS sub-IFD after it is not.
    let entry = tiff.entry(&bytes, tiff.ifd0(&bytes), EXIF_POINTER);
    tiff.put_u32(&mut bytes, entry + 8, 0x00FF_FFF0);
    let exif = process(&bytes).exif;
    assert_eq!(exif.taken_at, None);
    let fix = exif.gps.expect("GPS read past the broken pointer");
    assert!((fix.lon - LON).abs() < 1e-7, "{fix:?}");
    // The facts the evidence record keeps: position, no time.
    let facts = exif.facts().expect("facts");
    assert_eq!((facts.local_time, facts.offset_minutes), (None, None));
    assert!((facts.lat.unwrap() - LAT).abs() < 1e-7);
}
