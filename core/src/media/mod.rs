//! The photo evidence pipeline: from the bytes a phone camera hands over to the record a
//! document references. See DESIGN.md, "Photos".
//!
//! One call, [`process_photo`], does the whole capture step: hash the original, read its
//! EXIF, refuse what is too large before allocating for it, decode (at reduced DCT scale
//! where the JPEG allows, which is most of the speed), apply the EXIF orientation, resize
//! to a long edge and a thumbnail, re-encode without metadata, and compute a perceptual
//! hash for reuse detection. The processed JPEG's SHA-256 is its content address.
//!
//! Damaged input gives a typed [`Error::Photo`], never a panic. A truncated JPEG is refused
//! as [`PhotoProblem::Undecodable`] rather than decoded partially: evidence must be whole.

mod decode;
mod exif;
mod orient;
mod phash;
mod sniff;

use sha2::{Digest, Sha256};

use crate::error::{Error, PhotoProblem, Result};
use crate::time::Millis;

pub use orient::apply_orientation;
pub use phash::hamming;
pub use sniff::PhotoFormat;

/// What the pipeline refuses before it spends memory on a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PhotoLimits {
    /// Largest accepted input file, in bytes (default 40 MiB).
    pub max_bytes: u64,
    /// Largest accepted declared width × height of the source image (default 50 million).
    /// Checked against the header before the decoder allocates anything.
    pub max_pixels: u64,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        PhotoLimits {
            max_bytes: 40 * 1024 * 1024,
            max_pixels: 50_000_000,
        }
    }
}

/// How the processed photo is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ProcessOptions {
    /// Long edge of the processed photo in pixels; smaller photos are never upscaled.
    pub long_edge: u32,
    /// Long edge of the thumbnail in pixels.
    pub thumbnail_long_edge: u32,
    /// JPEG quality (1–100) of both outputs.
    pub jpeg_quality: u8,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            long_edge: 1600,
            thumbnail_long_edge: 320,
            jpeg_quality: 80,
        }
    }
}

/// When the camera says the photo was taken (EXIF DateTimeOriginal).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PhotoTime {
    /// The camera's wall-clock reading as written, `YYYY-MM-DDTHH:MM:SS[.fff]`, no zone.
    pub local: String,
    /// That wall-clock reading counted as if it were UTC. Only meaningful with an offset,
    /// or against a known zone (China: UTC+8).
    pub local_as_utc_millis: Millis,
    /// EXIF OffsetTimeOriginal in minutes east of UTC; `None`: the offset is unknown.
    pub offset_minutes: Option<i32>,
    /// The instant in UTC, only when the offset is known.
    pub utc_millis: Option<Millis>,
}

/// An EXIF GPS fix in WGS-84, with the hemisphere references applied.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PhotoGps {
    pub lat: f64,
    pub lon: f64,
    /// Metres above sea level (negative below), when recorded.
    pub alt_m: Option<f64>,
}

/// The metadata the pipeline keeps from EXIF (the output JPEG carries none).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PhotoExif {
    pub taken_at: Option<PhotoTime>,
    pub gps: Option<PhotoGps>,
    /// EXIF orientation 1–8 as found (1 when absent or out of range); already applied.
    pub orientation: u16,
}

impl PhotoExif {
    /// The time and place facts the evidence record keeps (the output JPEG has no EXIF);
    /// none when the photo recorded neither.
    pub fn facts(&self) -> Option<crate::doc::ExifFacts> {
        let facts = crate::doc::ExifFacts {
            local_time: self.taken_at.as_ref().map(|t| t.local_as_utc_millis),
            offset_minutes: self.taken_at.as_ref().and_then(|t| t.offset_minutes),
            lat: self.gps.map(|g| g.lat),
            lon: self.gps.map(|g| g.lon),
        };
        (facts != crate::doc::ExifFacts::default()).then_some(facts)
    }
}

/// The result of processing one photo.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ProcessedPhoto {
    /// SHA-256 (lower-case hex) of the bytes as handed over.
    pub original_sha256: String,
    /// SHA-256 (lower-case hex) of `jpeg`: the photo's content address.
    pub content_hash: String,
    /// The processed photo: oriented, resized, JPEG without EXIF.
    pub jpeg: Vec<u8>,
    pub thumbnail: Vec<u8>,
    /// Dimensions of `jpeg`, upright.
    pub width: u32,
    pub height: u32,
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
    /// Dimensions the source declared (as stored, before orientation).
    pub source_width: u32,
    pub source_height: u32,
    /// 64-bit DCT perceptual hash of the upright picture; compare with [`hamming`].
    pub phash: u64,
    pub exif: PhotoExif,
}

/// Sniffs the format and reads the header, refusing what the limits exclude before any
/// pixel memory is allocated.
fn admit(bytes: &[u8], limits: &PhotoLimits) -> Result<(PhotoFormat, decode::Header)> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(photo_error(
            PhotoProblem::TooLarge,
            format!(
                "{} bytes is more than the {} bytes allowed",
                bytes.len(),
                limits.max_bytes
            ),
        ));
    }
    let format = sniff::sniff(bytes)?;
    let header = decode::read_header(format, bytes)?;
    let declared = u64::from(header.width) * u64::from(header.height);
    if declared > limits.max_pixels {
        return Err(photo_error(
            PhotoProblem::TooLarge,
            format!(
                "{}×{} is {declared} pixels, more than the {} allowed",
                header.width, header.height, limits.max_pixels
            ),
        ));
    }
    Ok((format, header))
}

/// What the server learns from a stored photo: it decodes whole, and its perceptual hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectedPhoto {
    pub format: PhotoFormat,
    pub width: u32,
    pub height: u32,
    pub phash: u64,
}

/// Decodes a photo (normally one this pipeline produced) and computes its perceptual hash
/// the way [`process_photo`] does, from an upright thumbnail of `thumbnail_long_edge`.
/// The server calls it on arrival of an upload to judge reuse with its own numbers
/// rather than the device's.
pub fn inspect_photo(
    bytes: &[u8],
    limits: &PhotoLimits,
    thumbnail_long_edge: u32,
) -> Result<InspectedPhoto> {
    if thumbnail_long_edge == 0 {
        return Err(Error::invalid(
            "photo options",
            "long edges must be positive",
        ));
    }
    let (format, header) = admit(bytes, limits)?;
    let exif = exif::read(header.exif.as_deref());
    let decoded = decode::decode(format, bytes, &header, thumbnail_long_edge, limits)?;
    let upright = apply_orientation(decoded, exif.orientation);
    let (tw, th) = fit_long_edge(upright.width, upright.height, thumbnail_long_edge);
    let thumbnail = if (tw, th) == (upright.width, upright.height) {
        upright
    } else {
        resize_rgb(&upright, tw, th)?
    };
    Ok(InspectedPhoto {
        format,
        width: header.width,
        height: header.height,
        phash: phash::phash(&thumbnail),
    })
}

/// Processes a photo as captured. See the module documentation for the steps.
pub fn process_photo(
    bytes: &[u8],
    limits: &PhotoLimits,
    options: &ProcessOptions,
) -> Result<ProcessedPhoto> {
    if options.long_edge == 0 || options.thumbnail_long_edge == 0 {
        return Err(Error::invalid(
            "photo options",
            "long edges must be positive",
        ));
    }
    let (format, header) = admit(bytes, limits)?;
    let exif = exif::read(header.exif.as_deref());

    let original_sha256 = hex::encode(Sha256::digest(bytes));

    // Resize before orienting: rotation then moves 1600 px images, not 12 MP ones.
    let decoded = decode::decode(format, bytes, &header, options.long_edge, limits)?;
    let (w, h) = fit_long_edge(decoded.width, decoded.height, options.long_edge);
    let resized = if (w, h) == (decoded.width, decoded.height) {
        decoded
    } else {
        resize_rgb(&decoded, w, h)?
    };
    let upright = apply_orientation(resized, exif.orientation);

    let (tw, th) = fit_long_edge(upright.width, upright.height, options.thumbnail_long_edge);
    let thumbnail = resize_rgb(&upright, tw, th)?;
    let phash = phash::phash(&thumbnail);

    let jpeg = encode_jpeg(&upright, options.jpeg_quality)?;
    let thumbnail_jpeg = encode_jpeg(&thumbnail, options.jpeg_quality)?;
    let content_hash = hex::encode(Sha256::digest(&jpeg));

    Ok(ProcessedPhoto {
        original_sha256,
        content_hash,
        jpeg,
        thumbnail: thumbnail_jpeg,
        width: upright.width,
        height: upright.height,
        thumbnail_width: thumbnail.width,
        thumbnail_height: thumbnail.height,
        source_width: header.width,
        source_height: header.height,
        phash,
        exif,
    })
}

/// Interleaved 8-bit RGB pixels, row-major, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// `None` when the buffer length does not match the dimensions.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Option<Self> {
        (pixels.len() as u64 == u64::from(width) * u64::from(height) * 3).then_some(RgbImage {
            width,
            height,
            pixels,
        })
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }
}

pub(crate) fn photo_error(problem: PhotoProblem, detail: impl Into<String>) -> Error {
    Error::Photo {
        problem,
        detail: detail.into(),
    }
}

/// Dimensions scaled so the long edge is at most `long_edge`, aspect kept, never upscaled.
fn fit_long_edge(width: u32, height: u32, long_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_edge {
        return (width, height);
    }
    let scale = |side: u32| {
        ((u64::from(side) * u64::from(long_edge) + u64::from(long) / 2) / u64::from(long)).max(1)
            as u32
    };
    (scale(width), scale(height))
}

fn resize_rgb(source: &RgbImage, width: u32, height: u32) -> Result<RgbImage> {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions};

    if source.width == width && source.height == height {
        return Ok(source.clone());
    }
    let internal = |e: &dyn std::fmt::Display| {
        photo_error(PhotoProblem::Undecodable, format!("resize failed: {e}"))
    };
    let src = ImageRef::new(source.width, source.height, &source.pixels, PixelType::U8x3)
        .map_err(|e| internal(&e))?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    // Lanczos3 like vipsthumbnail: a sharp downscale of the reduced-scale decode.
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    fast_image_resize::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| internal(&e))?;
    Ok(RgbImage {
        width,
        height,
        pixels: dst.into_vec(),
    })
}

fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let too_large = || {
        photo_error(
            PhotoProblem::TooLarge,
            format!(
                "{}×{} cannot be written as a JPEG (65535 px at most per side)",
                image.width, image.height
            ),
        )
    };
    let width = u16::try_from(image.width).map_err(|_| too_large())?;
    let height = u16::try_from(image.height).map_err(|_| too_large())?;
    let mut out = Vec::with_capacity(image.pixels.len() / 8);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder
        .encode(&image.pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| {
            photo_error(
                PhotoProblem::Undecodable,
                format!("JPEG encoding failed: {e}"),
            )
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_long_edge_keeps_aspect_and_never_upscales() {
        assert_eq!(fit_long_edge(4032, 3024, 1600), (1600, 1200));
        assert_eq!(fit_long_edge(3024, 4032, 1600), (1200, 1600));
        assert_eq!(fit_long_edge(640, 480, 1600), (640, 480));
        assert_eq!(fit_long_edge(10_000, 1, 320), (320, 1));
    }
}
