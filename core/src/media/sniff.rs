//! Format detection from the first bytes, never from a file name or a MIME type the
//! phone claims.

use super::photo_error;
use crate::error::{PhotoProblem, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PhotoFormat {
    Jpeg,
    Png,
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// ISO-BMFF brands of HEIF stills (HEVC-coded or generic HEIF image collections).
const HEIF_BRANDS: &[&[u8; 4]] = &[
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
];
const AVIF_BRANDS: &[&[u8; 4]] = &[b"avif", b"avis"];

pub(super) fn sniff(bytes: &[u8]) -> Result<PhotoFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(PhotoFormat::Jpeg);
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        return Ok(PhotoFormat::Png);
    }
    if let Some(brands) = ftyp_brands(bytes) {
        // AVIF is checked first: AVIF files also list the generic `mif1` brand.
        if brands.clone().any(|b| AVIF_BRANDS.contains(&b)) {
            return Err(photo_error(
                PhotoProblem::UnsupportedFormat,
                "AVIF is not supported: convert to JPEG on the device",
            ));
        }
        if brands.clone().any(|b| HEIF_BRANDS.contains(&b)) {
            return Err(photo_error(
                PhotoProblem::UnsupportedFormat,
                "HEIC is not supported: convert to JPEG on the device",
            ));
        }
    }
    Err(photo_error(
        PhotoProblem::Undecodable,
        "not a JPEG or PNG image",
    ))
}

/// The major and compatible brands of an ISO-BMFF `ftyp` box at the start of the file.
fn ftyp_brands(bytes: &[u8]) -> Option<impl Iterator<Item = &[u8; 4]> + Clone> {
    if bytes.get(4..8)? != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    // Box size 1 means a 64-bit size follows; ftyp boxes are small, so cap what we look at.
    let end = if size >= 16 {
        size.min(bytes.len()).min(4096)
    } else {
        bytes.len().min(64)
    };
    let major = bytes.get(8..12)?;
    let compatible = bytes.get(16..end.max(16))?;
    Some(
        std::iter::once(major)
            .chain(compatible.chunks_exact(4))
            .filter_map(|b| <&[u8; 4]>::try_from(b).ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut b = size.to_be_bytes().to_vec();
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0, 0, 0, 0]);
        for c in compatible {
            b.extend_from_slice(*c);
        }
        b.extend_from_slice(&[0; 32]);
        b
    }

    fn problem(bytes: &[u8]) -> PhotoProblem {
        match sniff(bytes) {
            Err(crate::Error::Photo { problem, .. }) => problem,
            other => panic!("expected a photo error, got {other:?}"),
        }
    }

    #[test]
    fn recognises_heif_family_by_any_brand() {
        assert_eq!(
            problem(&ftyp(b"heic", &[b"mif1"])),
            PhotoProblem::UnsupportedFormat
        );
        assert_eq!(
            problem(&ftyp(b"mif1", &[b"heic"])),
            PhotoProblem::UnsupportedFormat
        );
        assert_eq!(
            problem(&ftyp(b"avif", &[b"mif1"])),
            PhotoProblem::UnsupportedFormat
        );
        // An MP4 video is ISO-BMFF too, but not an image we know.
        assert_eq!(
            problem(&ftyp(b"isom", &[b"mp41"])),
            PhotoProblem::Undecodable
        );
    }

    #[test]
    fn short_and_empty_inputs_are_undecodable() {
        assert_eq!(problem(b""), PhotoProblem::Undecodable);
        assert_eq!(problem(b"\xFF\xD8"), PhotoProblem::Undecodable);
        assert_eq!(problem(b"\0\0\0\x08ftyp"), PhotoProblem::Undecodable);
    }
}
