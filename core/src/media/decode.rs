//! Header reading (dimensions and the EXIF block, without decoding pixels) and decoding.
//!
//! The header is parsed here by hand, not by a decoder, so the pixel limit is checked
//! before any decoder sees the file and sizes a buffer from what it declares.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{photo_error, PhotoFormat, PhotoLimits, RgbImage};
use crate::error::{PhotoProblem, Result};

pub(super) struct Header {
    pub width: u32,
    pub height: u32,
    /// The raw EXIF block, starting at the TIFF header.
    pub exif: Option<Vec<u8>>,
}

fn undecodable(detail: impl Into<String>) -> crate::Error {
    photo_error(PhotoProblem::Undecodable, detail)
}

pub(super) fn read_header(format: PhotoFormat, bytes: &[u8]) -> Result<Header> {
    let header = match format {
        PhotoFormat::Jpeg => jpeg_header(bytes)?,
        PhotoFormat::Png => png_header(bytes)?,
    };
    if header.width == 0 || header.height == 0 {
        return Err(undecodable(format!(
            "the image declares {}×{} pixels",
            header.width, header.height
        )));
    }
    Ok(header)
}

/// Walks the JPEG marker segments up to the frame header (SOFn).
fn jpeg_header(bytes: &[u8]) -> Result<Header> {
    let truncated = || undecodable("the JPEG ends inside its header (truncated)");
    let mut exif = None;
    let mut pos = 2; // after SOI
    loop {
        if *bytes.get(pos).ok_or_else(truncated)? != 0xFF {
            return Err(undecodable(format!(
                "damaged JPEG header: no marker at byte {pos}"
            )));
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1; // fill bytes
        }
        let marker = *bytes.get(pos).ok_or_else(truncated)?;
        pos += 1;
        match marker {
            // Markers without a length field.
            0x01 | 0xD0..=0xD8 => continue,
            0xD9 | 0xDA => return Err(undecodable("the JPEG has no frame header")),
            _ => {}
        }
        let length = bytes
            .get(pos..pos + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(truncated)?;
        if length < 2 {
            return Err(undecodable("damaged JPEG header: bad segment length"));
        }
        let segment = bytes.get(pos + 2..pos + length).ok_or_else(truncated)?;
        match marker {
            0xE1 if exif.is_none() => {
                if let Some(tiff) = segment.strip_prefix(b"Exif\0\0") {
                    exif = Some(tiff.to_vec());
                }
            }
            // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let frame = segment.get(..5).ok_or_else(truncated)?;
                let height = u32::from(u16::from_be_bytes([frame[1], frame[2]]));
                let width = u32::from(u16::from_be_bytes([frame[3], frame[4]]));
                return Ok(Header {
                    width,
                    height,
                    exif,
                });
            }
            _ => {}
        }
        pos += length;
    }
}

/// Reads IHDR, and an eXIf chunk if one comes before the image data.
fn png_header(bytes: &[u8]) -> Result<Header> {
    let truncated = || undecodable("the PNG ends inside its header (truncated)");
    let ihdr = bytes.get(8..33).ok_or_else(truncated)?;
    if &ihdr[4..8] != b"IHDR" {
        return Err(undecodable("damaged PNG: the first chunk is not IHDR"));
    }
    let width = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    let height = u32::from_be_bytes([ihdr[12], ihdr[13], ihdr[14], ihdr[15]]);
    let mut exif = None;
    let mut pos = 33;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        if kind == b"IDAT" || kind == b"IEND" {
            break;
        }
        if kind == b"eXIf" {
            exif = bytes.get(pos + 8..pos + 8 + length).map(<[u8]>::to_vec);
            break;
        }
        pos = pos.saturating_add(12).saturating_add(length);
    }
    Ok(Header {
        width,
        height,
        exif,
    })
}

/// Decodes to RGB, at the smallest JPEG DCT scale (1/1, 1/2, 1/4, 1/8) that still gives at
/// least `long_edge` pixels on the long side.
pub(super) fn decode(
    format: PhotoFormat,
    bytes: &[u8],
    header: &Header,
    long_edge: u32,
    limits: &PhotoLimits,
) -> Result<RgbImage> {
    // Third-party decoders meet hostile bytes here; a panic in one is still a bad photo,
    // not a crashed app.
    catch_unwind(AssertUnwindSafe(|| match format {
        PhotoFormat::Jpeg => decode_jpeg(bytes, header, long_edge, limits),
        PhotoFormat::Png => decode_png(bytes, limits),
    }))
    .unwrap_or_else(|_| Err(undecodable("the decoder failed on damaged data")))
}

fn decode_jpeg(
    bytes: &[u8],
    header: &Header,
    long_edge: u32,
    limits: &PhotoLimits,
) -> Result<RgbImage> {
    use jpeg_decoder::{Decoder, PixelFormat};

    let describe = |e: jpeg_decoder::Error| match e {
        jpeg_decoder::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            undecodable("the JPEG is truncated")
        }
        jpeg_decoder::Error::Unsupported(what) => photo_error(
            PhotoProblem::UnsupportedFormat,
            format!("unsupported JPEG variant: {what:?}"),
        ),
        other => undecodable(format!("damaged JPEG: {other}")),
    };

    let mut decoder = Decoder::new(bytes);
    decoder.set_max_decoding_buffer_size(
        usize::try_from(limits.max_pixels.saturating_mul(4)).unwrap_or(usize::MAX),
    );
    let long = header.width.max(header.height);
    let (request_w, request_h) = if long > long_edge {
        let side = |s: u32| (u64::from(s) * u64::from(long_edge)).div_ceil(u64::from(long)) as u16;
        (side(header.width), side(header.height))
    } else {
        (header.width as u16, header.height as u16)
    };
    let (width, height) = decoder.scale(request_w, request_h).map_err(describe)?;
    let pixels = decoder.decode().map_err(describe)?;
    let format = decoder
        .info()
        .ok_or_else(|| undecodable("the JPEG decoder returned no frame"))?
        .pixel_format;
    let pixel_count = usize::from(width) * usize::from(height);
    let rgb = match format {
        PixelFormat::RGB24 => pixels,
        PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        // 16-bit samples arrive big-endian; the high byte is the 8-bit value.
        PixelFormat::L16 => pixels
            .chunks_exact(2)
            .flat_map(|l| [l[0], l[0], l[0]])
            .collect(),
        PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let k = 255 - u32::from(p[3]);
                let ink = |c: u8| ((255 - u32::from(c)) * k / 255) as u8;
                [ink(p[0]), ink(p[1]), ink(p[2])]
            })
            .collect(),
    };
    if rgb.len() != pixel_count * 3 {
        return Err(undecodable("the JPEG decoder returned a short image"));
    }
    RgbImage::new(u32::from(width), u32::from(height), rgb)
        .ok_or_else(|| undecodable("the JPEG decoder returned a short image"))
}

fn decode_png(bytes: &[u8], limits: &PhotoLimits) -> Result<RgbImage> {
    use image::{DynamicImage, ImageDecoder};

    let bad = |e: image::ImageError| match e {
        image::ImageError::Limits(l) => photo_error(PhotoProblem::TooLarge, l.to_string()),
        image::ImageError::Unsupported(u) => {
            photo_error(PhotoProblem::UnsupportedFormat, u.to_string())
        }
        other => undecodable(format!("damaged PNG: {other}")),
    };
    let mut decoder = image::codecs::png::PngDecoder::new(Cursor::new(bytes)).map_err(bad)?;
    let mut image_limits = image::Limits::default();
    // RGBA at 16 bits per channel is the widest a PNG decodes to.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    decoder.set_limits(image_limits).map_err(bad)?;
    let image = DynamicImage::from_decoder(decoder).map_err(bad)?;
    let (width, height) = (image.width(), image.height());
    let pixels = if image.color().has_alpha() {
        // Transparent areas become white, as a viewer would show them on paper.
        image
            .into_rgba8()
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                let over_white = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
                [over_white(p[0]), over_white(p[1]), over_white(p[2])]
            })
            .collect()
    } else {
        image.into_rgb8().into_raw()
    };
    RgbImage::new(width, height, pixels).ok_or_else(|| undecodable("the PNG decoded short"))
}
