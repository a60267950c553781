//! Photo files by content address, in a directory beside the database:
//! `<db file>.photos/<first two hex digits>/<sha256>`.
//!
//! A file is written to a temporary name, synced, renamed into place and its directory
//! synced, so after a crash a name either holds the whole file or does not exist. Files are
//! written before the rows that reference them are committed, so the database never points
//! at a missing file; the worst a crash leaves is an unreferenced file.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A processed photo (or thumbnail) to keep, with the SHA-256 its document refers to.
#[derive(Debug, Clone, Copy)]
pub struct NewPhoto<'a> {
    /// Lowercase hex SHA-256 of `bytes`; checked before anything is written.
    pub sha256: &'a str,
    pub bytes: &'a [u8],
}

/// What the uploader needs to know about one stored photo.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BlobInfo {
    pub sha256: String,
    pub size: u64,
    pub uploaded: bool,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Refuses anything but 64 lowercase hex digits, so a hash can never name a path outside
/// the photo directory.
pub fn check_hash(hash: &str) -> Result<()> {
    let ok = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "photo hash",
            format!("{hash:?} is not a lowercase hex SHA-256"),
        ))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PhotoDir {
    root: PathBuf,
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

impl PhotoDir {
    pub(crate) fn open(root: PathBuf) -> Result<PhotoDir> {
        if !root.is_dir() {
            fs::create_dir_all(&root)?;
            if let Some(parent) = root.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(PhotoDir { root })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn path_for(&self, hash: &str) -> Result<PathBuf> {
        check_hash(hash)?;
        Ok(self.root.join(&hash[..2]).join(hash))
    }

    /// Writes the photo durably unless a complete copy is already there.
    pub(crate) fn put(&self, photo: &NewPhoto<'_>) -> Result<()> {
        let path = self.path_for(photo.sha256)?;
        let actual = sha256_hex(photo.bytes);
        if actual != photo.sha256 {
            return Err(Error::invalid(
                "photo",
                format!("bytes hash to {actual}, not {}", photo.sha256),
            ));
        }
        // Renames are atomic, so a file of the right length under its address is complete.
        if let Ok(meta) = fs::metadata(&path) {
            if meta.len() == photo.bytes.len() as u64 {
                return Ok(());
            }
        }
        let shard = path
            .parent()
            .ok_or_else(|| Error::invalid("photo path", path.display().to_string()))?;
        if !shard.is_dir() {
            fs::create_dir_all(shard)?;
            sync_dir(&self.root)?;
        }
        let tmp = shard.join(format!(".{}.{}.tmp", photo.sha256, std::process::id()));
        let written = (|| -> Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(photo.bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            sync_dir(shard)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// The photo's bytes, checked against its address.
    pub(crate) fn read(&self, hash: &str) -> Result<Vec<u8>> {
        let path = self.path_for(hash)?;
        let bytes = fs::read(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::NotFound(format!("photo file {hash}")),
            _ => Error::Io(e),
        })?;
        let actual = sha256_hex(&bytes);
        if actual != hash {
            return Err(Error::invalid(
                "photo file",
                format!("{} is damaged: its bytes hash to {actual}", path.display()),
            ));
        }
        Ok(bytes)
    }
}
