//! EXIF orientation: turning the stored pixels into the picture as the camera saw it.

use super::RgbImage;

/// Applies EXIF orientation `orientation` (1–8; anything else is treated as 1) to `stored`,
/// giving the upright image. Orientations 5–8 swap width and height.
pub fn apply_orientation(stored: RgbImage, orientation: u16) -> RgbImage {
    let (w, h) = (stored.width as usize, stored.height as usize);
    // Each arm maps an output pixel (x, y) to the stored pixel it comes from.
    match orientation {
        2 => remap(&stored, w, h, |x, y| (w - 1 - x, y)),
        3 => remap(&stored, w, h, |x, y| (w - 1 - x, h - 1 - y)),
        4 => remap(&stored, w, h, |x, y| (x, h - 1 - y)),
        5 => remap(&stored, h, w, |x, y| (y, x)),
        6 => remap(&stored, h, w, |x, y| (y, h - 1 - x)),
        7 => remap(&stored, h, w, |x, y| (w - 1 - y, h - 1 - x)),
        8 => remap(&stored, h, w, |x, y| (w - 1 - y, x)),
        _ => stored,
    }
}

fn remap(
    stored: &RgbImage,
    out_w: usize,
    out_h: usize,
    source: impl Fn(usize, usize) -> (usize, usize),
) -> RgbImage {
    let stride = stored.width as usize;
    let mut pixels = vec![0u8; stored.pixels.len()];
    for (y, row) in pixels.chunks_exact_mut(out_w * 3).enumerate() {
        for (x, out) in row.chunks_exact_mut(3).enumerate() {
            let (sx, sy) = source(x, y);
            let i = (sy * stride + sx) * 3;
            out.copy_from_slice(&stored.pixels[i..i + 3]);
        }
    }
    RgbImage {
        width: out_w as u32,
        height: out_h as u32,
        pixels,
    }
}
