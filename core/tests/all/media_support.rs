//! Helpers shared by the media tests: real JPEG/PNG bytes made here, EXIF blocks written
//! by hand (TIFF structure, little-endian), and the location of ../shared/photos.
#![allow(dead_code)]

use std::path::PathBuf;

use fieldloop_core::media::RgbImage;

/// `<repo>/../shared/photos`, or FIELDLOOP_PHOTOS; when absent, a failure under CI and a
/// recorded skip (`None`) locally.
pub fn photos_dir(test: &str) -> Option<PathBuf> {
    fieldloop_testdata::photos_dir(test)
}

pub fn image(width: u32, height: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            pixels.extend_from_slice(&f(x, y));
        }
    }
    RgbImage::new(width, height, pixels).expect("buffer matches dimensions")
}

/// A smooth, photo-like scene: a few overlapping blobs and gradients chosen by `seed`.
pub fn scene(width: u32, height: u32, seed: u32) -> RgbImage {
    let s = seed as f32;
    image(width, height, |x, y| {
        let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
        let a = ((u * (3.0 + s) + s).sin() * (v * (2.0 + s * 0.7) - s).cos() + 1.0) * 0.5;
        let b = (((u - 0.3 * s.sin()).powi(2) + (v - 0.5).powi(2)).sqrt() * (6.0 + s)).cos() * 0.5
            + 0.5;
        let c = v * (1.0 - u * (s * 0.37).cos().abs());
        [
            (a * 255.0) as u8,
            (b * 255.0) as u8,
            ((a + c) * 127.0) as u8,
        ]
    })
}

pub fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
    encoder
        .encode(
            &img.pixels,
            img.width as u16,
            img.height as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("encode test JPEG");
    out
}

/// Inserts an APP1 Exif segment right after SOI.
pub fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

pub fn decode(jpeg: &[u8]) -> RgbImage {
    let img = image::load_from_memory(jpeg)
        .expect("decodable")
        .into_rgb8();
    RgbImage::new(img.width(), img.height(), img.into_raw()).expect("sized")
}

/// One TIFF directory entry: tag, type (1 BYTE, 2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL),
/// count, and the value bytes (little-endian).
pub struct Entry {
    pub tag: u16,
    pub kind: u16,
    pub count: u32,
    pub data: Vec<u8>,
}

pub fn ascii(tag: u16, text: &str) -> Entry {
    let mut data = text.as_bytes().to_vec();
    data.push(0);
    Entry {
        tag,
        kind: 2,
        count: data.len() as u32,
        data,
    }
}

pub fn short(tag: u16, value: u16) -> Entry {
    Entry {
        tag,
        kind: 3,
        count: 1,
        data: value.to_le_bytes().to_vec(),
    }
}

pub fn byte(tag: u16, value: u8) -> Entry {
    Entry {
        tag,
        kind: 1,
        count: 1,
        data: vec![value],
    }
}

pub fn rationals(tag: u16, values: &[(u32, u32)]) -> Entry {
    let data = values
        .iter()
        .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
        .collect();
    Entry {
        tag,
        kind: 5,
        count: values.len() as u32,
        data,
    }
}

/// A TIFF block with IFD0 and, when non-empty, an Exif sub-IFD and a GPS sub-IFD.
pub fn tiff(mut ifd0: Vec<Entry>, exif: Vec<Entry>, gps: Vec<Entry>) -> Vec<u8> {
    let size = |entries: &[Entry]| -> usize {
        2 + 12 * entries.len()
            + 4
            + entries
                .iter()
                .filter(|e| e.data.len() > 4)
                .map(|e| e.data.len().next_multiple_of(2))
                .sum::<usize>()
    };
    // The pointer entries are part of IFD0's size, so add them (with placeholder values) first.
    let pointers = usize::from(!exif.is_empty()) + usize::from(!gps.is_empty());
    let ifd0_size = size(&ifd0) + 12 * pointers;
    let exif_at = 8 + ifd0_size;
    let gps_at = exif_at + if exif.is_empty() { 0 } else { size(&exif) };
    if !exif.is_empty() {
        ifd0.push(Entry {
            tag: 0x8769,
            kind: 4,
            count: 1,
            data: (exif_at as u32).to_le_bytes().to_vec(),
        });
    }
    if !gps.is_empty() {
        ifd0.push(Entry {
            tag: 0x8825,
            kind: 4,
            count: 1,
            data: (gps_at as u32).to_le_bytes().to_vec(),
        });
    }
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    for entries in [ifd0, exif, gps] {
        if entries.is_empty() {
            continue;
        }
        write_ifd(&mut out, entries);
    }
    out
}

fn write_ifd(out: &mut Vec<u8>, mut entries: Vec<Entry>) {
    entries.sort_by_key(|e| e.tag);
    let start = out.len();
    let mut data_at = start + 2 + 12 * entries.len() + 4;
    let mut data = Vec::new();
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for e in &entries {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.kind.to_le_bytes());
        out.extend_from_slice(&e.count.to_le_bytes());
        if e.data.len() <= 4 {
            let mut inline = e.data.clone();
            inline.resize(4, 0);
            out.extend_from_slice(&inline);
        } else {
            out.extend_from_slice(&(data_at as u32).to_le_bytes());
            data.extend_from_slice(&e.data);
            if e.data.len() % 2 == 1 {
                data.push(0);
            }
            data_at += e.data.len().next_multiple_of(2);
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    out.extend_from_slice(&data);
}
