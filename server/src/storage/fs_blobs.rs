//! Photo bytes on the local filesystem by content address:
//! `<root>/sha256/<first two hex digits>/<hash>`, unfinished uploads in
//! `<root>/parts/<hash>.part` until verified.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::error::{StoreError, StoreResult as Result};
use super::{BlobHash, BlobState, BlobStore, StoreFuture};

#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

fn len_of(path: &Path) -> Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Makes the rename itself durable, not only the file's bytes.
    File::open(dir)?.sync_all()?;
    Ok(())
}

impl FsBlobStore {
    pub fn open(root: &Path) -> Result<FsBlobStore> {
        fs::create_dir_all(root.join("sha256"))?;
        fs::create_dir_all(root.join("parts"))?;
        Ok(FsBlobStore {
            root: root.to_owned(),
        })
    }

    fn final_path(&self, hash: &BlobHash) -> PathBuf {
        let text = hash.as_str();
        self.root.join("sha256").join(&text[..2]).join(text)
    }

    fn part_path(&self, hash: &BlobHash) -> PathBuf {
        self.root.join("parts").join(format!("{hash}.part"))
    }

    fn blocking<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(FsBlobStore) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        Box::pin(async move { tokio::task::spawn_blocking(move || f(store)).await? })
    }
}

impl BlobStore for FsBlobStore {
    fn state(&self, hash: &BlobHash) -> StoreFuture<'_, BlobState> {
        let hash = hash.clone();
        self.blocking(move |store| {
            if let Some(len) = len_of(&store.final_path(&hash))? {
                return Ok(BlobState::Complete(len));
            }
            Ok(match len_of(&store.part_path(&hash))? {
                Some(len) => BlobState::Partial(len),
                None => BlobState::Absent,
            })
        })
    }

    fn append_part(&self, hash: &BlobHash, offset: u64, data: Bytes) -> StoreFuture<'_, u64> {
        let hash = hash.clone();
        self.blocking(move |store| {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(store.part_path(&hash))?;
            let have = file.metadata()?.len();
            if have != offset {
                return Err(StoreError::OffsetMismatch {
                    held: have,
                    asked: offset,
                });
            }
            file.write_all(&data)?;
            Ok(have + data.len() as u64)
        })
    }

    fn read_part(&self, hash: &BlobHash) -> StoreFuture<'_, Vec<u8>> {
        let hash = hash.clone();
        // No part file is an empty upload (a PUT with an empty body), not a failure.
        self.blocking(move |store| match fs::read(store.part_path(&hash)) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        })
    }

    fn discard_part(&self, hash: &BlobHash) -> StoreFuture<'_, ()> {
        let hash = hash.clone();
        self.blocking(move |store| match fs::remove_file(store.part_path(&hash)) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        })
    }

    fn stale_parts(&self, idle: std::time::Duration) -> StoreFuture<'_, Vec<BlobHash>> {
        self.blocking(move |store| {
            let now = std::time::SystemTime::now();
            let mut stale = Vec::new();
            for entry in fs::read_dir(store.root.join("parts"))? {
                let entry = entry?;
                let name = entry.file_name();
                // Anything else in the folder (a stray editor file) is not ours to delete.
                let Some(hash) = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".part"))
                    .and_then(|h| BlobHash::parse(h).ok())
                else {
                    continue;
                };
                let modified = entry.metadata()?.modified()?;
                if now.duration_since(modified).is_ok_and(|age| age >= idle) {
                    stale.push(hash);
                }
            }
            Ok(stale)
        })
    }

    fn promote_part(&self, hash: &BlobHash) -> StoreFuture<'_, ()> {
        let hash = hash.clone();
        self.blocking(move |store| {
            let part = store.part_path(&hash);
            let target = store.final_path(&hash);
            File::open(&part)?.sync_all()?;
            let dir = target
                .parent()
                .ok_or_else(|| StoreError::Damaged("blob path has no parent".into()))?;
            fs::create_dir_all(dir)?;
            fs::rename(&part, &target)?;
            sync_dir(dir)?;
            Ok(())
        })
    }

    fn read(&self, hash: &BlobHash) -> StoreFuture<'_, Option<Vec<u8>>> {
        let hash = hash.clone();
        self.blocking(move |store| match fs::read(store.final_path(&hash)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
    }
}
