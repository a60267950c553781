//! A 64-bit DCT perceptual hash: the picture reduced to 32×32 grey, its 2-D DCT, and one
//! bit per low frequency saying whether it is above their median. Re-encoding, resizing
//! and slight cropping barely move those frequencies, so copies of a photo land a few bits
//! apart; different scenes land about half apart.

use super::RgbImage;

const GRID: usize = 32;
/// Frequencies 1..=8 on each axis: the 8×8 block next to DC (DC is only brightness).
const LOW: std::ops::RangeInclusive<usize> = 1..=8;
/// Share of each side kept around the brightness centroid (see `centred_window`).
const WINDOW: f64 = 0.9;

pub(super) fn phash(image: &RgbImage) -> u64 {
    let (w, h) = (image.width as usize, image.height as usize);
    let luma: Vec<f64> = image
        .pixels
        .chunks_exact(3)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let grey = equalise(grey_grid(&luma, w, centred_window(&luma, w, h, WINDOW)));

    let basis: Vec<[f64; GRID]> = LOW
        .map(|u| {
            let mut row = [0.0; GRID];
            for (x, c) in row.iter_mut().enumerate() {
                *c = (std::f64::consts::PI * (2 * x + 1) as f64 * u as f64 / (2 * GRID) as f64)
                    .cos();
            }
            row
        })
        .collect();
    // Separable DCT-II, only the frequencies kept.
    let mut rows = [[0.0f64; 8]; GRID];
    for (y, out) in rows.iter_mut().enumerate() {
        for (u, b) in basis.iter().enumerate() {
            out[u] = (0..GRID).map(|x| grey[y][x] * b[x]).sum();
        }
    }
    let mut coefficients = [0.0f64; 64];
    for (v, b) in basis.iter().enumerate() {
        for u in 0..8 {
            coefficients[v * 8 + u] = (0..GRID).map(|y| rows[y][u] * b[y]).sum();
        }
    }
    let mut sorted = coefficients;
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[31] + sorted[32]) / 2.0;
    coefficients
        .iter()
        .fold(0u64, |hash, &c| (hash << 1) | u64::from(c > median))
}

/// Number of differing bits: 0 for the same picture, about 32 for unrelated ones.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Replaces each value by its rank (ties share their mean rank): histogram equalisation,
/// so a global tone change (HDR on/off, exposure) leaves the hash alone.
fn equalise(grid: [[f64; GRID]; GRID]) -> [[f64; GRID]; GRID] {
    let flat: Vec<f64> = grid.iter().flatten().copied().collect();
    let mut order: Vec<usize> = (0..flat.len()).collect();
    order.sort_by(|&a, &b| flat[a].total_cmp(&flat[b]));
    let mut ranked = [[0.0; GRID]; GRID];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && flat[order[end]] == flat[order[start]] {
            end += 1;
        }
        let rank = (start + end - 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranked[i / GRID][i % GRID] = rank;
        }
        start = end;
    }
    ranked
}

/// A window of `frac` of each side, centred on the brightness centroid and kept inside
/// the picture. The same scene framed a little differently (a second shot, a slight crop)
/// moves its centroid with its content, so the windows line up again.
fn centred_window(luma: &[f64], w: usize, h: usize, frac: f64) -> (f64, f64, f64, f64) {
    if frac >= 1.0 {
        return (0.0, 0.0, w as f64, h as f64);
    }
    let (mut sum, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, &l) in luma.iter().enumerate() {
        sum += l;
        sx += l * (i % w) as f64;
        sy += l * (i / w) as f64;
    }
    let (cx, cy) = if sum > 0.0 {
        (sx / sum + 0.5, sy / sum + 0.5)
    } else {
        (w as f64 / 2.0, h as f64 / 2.0)
    };
    let (ww, wh) = (w as f64 * frac, h as f64 * frac);
    let x0 = (cx - ww / 2.0).clamp(0.0, w as f64 - ww);
    let y0 = (cy - wh / 2.0).clamp(0.0, h as f64 - wh);
    (x0, y0, ww, wh)
}

/// Mean luma over a 32×32 grid of areas of the window (aspect ratio deliberately dropped).
fn grey_grid(
    luma: &[f64],
    w: usize,
    (x0, y0, ww, wh): (f64, f64, f64, f64),
) -> [[f64; GRID]; GRID] {
    let span = |i: usize, origin: f64, extent: f64| {
        let start = (origin + i as f64 * extent / GRID as f64) as usize;
        let end = (origin + (i + 1) as f64 * extent / GRID as f64) as usize;
        (start, end.max(start + 1))
    };
    let h = luma.len() / w.max(1);
    let mut grid = [[0.0; GRID]; GRID];
    for (gy, out_row) in grid.iter_mut().enumerate() {
        let (ya, yb) = span(gy, y0, wh);
        let (ya, yb) = (ya.min(h - 1), yb.min(h));
        for (gx, out) in out_row.iter_mut().enumerate() {
            let (xa, xb) = span(gx, x0, ww);
            let (xa, xb) = (xa.min(w - 1), xb.min(w));
            let mut sum = 0.0;
            for y in ya..yb {
                sum += luma[y * w + xa..y * w + xb].iter().sum::<f64>();
            }
            *out = sum / ((yb - ya) * (xb - xa)) as f64;
        }
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> RgbImage {
        let mut pixels = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let v = f(x, y);
                pixels.extend_from_slice(&[v, v, v]);
            }
        }
        RgbImage::new(w, h, pixels).expect("sized")
    }

    #[test]
    fn same_picture_at_another_size_or_tone_hashes_close_and_a_different_one_far() {
        // A few soft blobs over a gradient: a broad spectrum, like a photo's.
        let blobs = [
            (60.0, 50.0, 40.0),
            (250.0, 70.0, 25.0),
            (150.0, 180.0, 60.0),
            (290.0, 210.0, 20.0),
        ];
        let wave = |x: u32, y: u32| {
            let (x, y) = (f64::from(x), f64::from(y));
            let glow: f64 = blobs
                .iter()
                .map(|&(cx, cy, r): &(f64, f64, f64)| {
                    (-((x - cx).powi(2) + (y - cy).powi(2)) / (r * r)).exp()
                })
                .sum();
            (0.15 + 0.5 * glow + x / 1600.0).min(1.0)
        };
        let big = gradient(320, 240, |x, y| (wave(x, y) * 255.0) as u8);
        let small = super::super::resize_rgb(&big, 160, 120).expect("resized");
        let brighter = gradient(320, 240, |x, y| (wave(x, y).sqrt() * 255.0) as u8);
        let other = gradient(320, 240, |x, y| ((x * 255 / 320) ^ (y * 255 / 240)) as u8);
        let near = [
            hamming(phash(&big), phash(&small)),
            hamming(phash(&big), phash(&brighter)),
        ];
        // 8 is the near-duplicate bound; the window follows brightness, so tone moves it a bit.
        assert!(near.iter().all(|&d| d <= 8), "{near:?}");
        let far = hamming(phash(&big), phash(&other));
        assert!(far >= 20, "{far}");
    }

    #[test]
    fn flat_and_tiny_images_still_hash() {
        let _ = phash(&gradient(1, 1, |_, _| 9));
        let _ = phash(&gradient(3, 2, |x, _| x as u8));
        let _ = phash(&gradient(64, 64, |_, _| 0));
        assert_eq!(hamming(0, u64::MAX), 64);
    }
}
