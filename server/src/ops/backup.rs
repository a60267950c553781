//! `fieldloop-server backup` and `restore` for the embedded default: the SQLite database
//! through SQLite's online backup API (a consistent copy while the server keeps
//! writing), then the photo files the copy indexes, each checked against its address.
//!
//! Order matters: a photo's index row is written before its file is moved into place and
//! files are never changed or deleted, so every photo the database copy knows is on disk
//! by the time the copy is taken (or arrives moments later; see [`wait_for_file`]).
//!
//! A backup directory holds `fieldloop.sqlite3`, `blobs/sha256/<2 hex>/<hash>` and
//! `backup.json` (what was copied). Unfinished uploads are not copied: phones resume them.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, ServerError};

/// The embedded default's database file inside a data directory.
pub const DB_FILE: &str = "fieldloop.sqlite3";
/// Its photo files.
pub const BLOB_DIR: &str = "blobs";
/// What a backup directory says about itself.
pub const MANIFEST: &str = "backup.json";

/// What [`backup`] copied (also written to `backup.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub server_version: String,
    /// Wall-clock time of the copy, RFC 3339.
    pub taken_at: String,
    /// The highest change sequence number in the copy.
    pub head_seq: i64,
    pub documents: i64,
    pub photos: u64,
    pub photo_bytes: u64,
}

fn invalid(what: impl Into<String>) -> ServerError {
    ServerError::Internal(what.into())
}

fn blob_path(root: &Path, hash: &str) -> PathBuf {
    root.join(BLOB_DIR)
        .join("sha256")
        .join(&hash[..2])
        .join(hash)
}

/// Copies `data`'s database and photos into `dest` (which must not exist or be empty).
/// Safe while a server runs on `data`. Blocking.
pub fn backup(data: &Path, dest: &Path) -> Result<Manifest> {
    let source_db = data.join(DB_FILE);
    if !source_db.is_file() {
        return Err(invalid(format!(
            "{} has no database ({DB_FILE}): not an embedded data directory",
            data.display()
        )));
    }
    ensure_empty(dest)?;
    fs::create_dir_all(dest)?;
    let partial = dest.join(format!("{DB_FILE}.partial"));
    {
        // Read-write flags though nothing is written: a read-only connection cannot
        // open a WAL database whose server has stopped (no -shm file to map).
        let source = Connection::open(&source_db)?;
        source.busy_timeout(Duration::from_secs(30))?;
        let mut copy = Connection::open(&partial)?;
        // Pages in steps, pausing between them, so the server's writers are not starved.
        Backup::new(&source, &mut copy)?.run_to_completion(1024, Duration::from_millis(5), None)?;
        // The copy inherits WAL mode; as one self-contained file it travels better.
        copy.query_row("PRAGMA journal_mode=DELETE", [], |_| Ok(()))?;
        check_integrity(&copy)?;
    }
    File::open(&partial)?.sync_all()?;
    let copy = Connection::open_with_flags(&partial, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let (photos, photo_bytes) = copy_photos(&copy, data, dest)?;
    let manifest = Manifest {
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        taken_at: chrono::Utc::now().to_rfc3339(),
        head_seq: copy.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
            r.get(0)
        })?,
        documents: copy.query_row("SELECT COUNT(*) FROM documents", [], |r| r.get(0))?,
        photos,
        photo_bytes,
    };
    drop(copy);
    fs::rename(&partial, dest.join(DB_FILE))?;
    write_synced(
        &dest.join(MANIFEST),
        &serde_json::to_vec_pretty(&manifest).map_err(|e| invalid(e.to_string()))?,
    )?;
    sync_dir(dest)?;
    Ok(manifest)
}

/// Lays a backup made by [`backup`] out as the data directory `data`, which must not
/// hold a database yet. Every photo is checked against its address on the way. Blocking.
pub fn restore(from: &Path, data: &Path) -> Result<Manifest> {
    let manifest: Manifest =
        serde_json::from_slice(&fs::read(from.join(MANIFEST)).map_err(|e| {
            invalid(format!(
                "{} is not a backup ({MANIFEST}: {e})",
                from.display()
            ))
        })?)
        .map_err(|e| invalid(format!("{MANIFEST}: {e}")))?;
    if data.join(DB_FILE).exists() {
        return Err(invalid(format!(
            "{} already holds a database; restore into an empty directory",
            data.display()
        )));
    }
    fs::create_dir_all(data.join(BLOB_DIR).join("parts"))?;
    let partial = data.join(format!("{DB_FILE}.partial"));
    fs::copy(from.join(DB_FILE), &partial)?;
    File::open(&partial)?.sync_all()?;
    let copy = Connection::open(&partial)?;
    check_integrity(&copy)?;
    let (photos, photo_bytes) = copy_photos(&copy, from, data)?;
    drop(copy);
    if (photos, photo_bytes) != (manifest.photos, manifest.photo_bytes) {
        return Err(invalid(format!(
            "the backup's manifest lists {} photos ({} bytes) but its database {photos} ({photo_bytes} bytes)",
            manifest.photos, manifest.photo_bytes
        )));
    }
    fs::rename(&partial, data.join(DB_FILE))?;
    sync_dir(data)?;
    Ok(manifest)
}

fn ensure_empty(dir: &Path) -> Result<()> {
    match fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(false) => Err(invalid(format!(
            "{} is not empty; back up into a new directory",
            dir.display()
        ))),
        Ok(true) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn check_integrity(db: &Connection) -> Result<()> {
    let verdict: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(invalid(format!("database copy is damaged: {verdict}")));
    }
    Ok(())
}

/// A photo indexed a moment ago may still be on its way into place (index row first,
/// then the rename): wait a little before calling it missing.
fn wait_for_file(path: &Path) -> bool {
    for _ in 0..50 {
        if path.is_file() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    path.is_file()
}

/// Copies every photo `db` indexes from `from` to `to`, checking size and SHA-256.
fn copy_photos(db: &Connection, from: &Path, to: &Path) -> Result<(u64, u64)> {
    let mut statement = db.prepare("SELECT hash, size FROM blobs ORDER BY hash")?;
    let rows = statement
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut bytes = 0;
    for (hash, size) in &rows {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "the photo index holds a bad address {hash:?}"
            )));
        }
        let source = blob_path(from, hash);
        if !wait_for_file(&source) {
            return Err(invalid(format!(
                "photo {hash} is indexed but {} is missing",
                source.display()
            )));
        }
        let copied = copy_checked(&source, &blob_path(to, hash), hash)?;
        if copied != *size as u64 {
            return Err(invalid(format!(
                "photo {hash}: {copied} bytes on disk, {size} in the index"
            )));
        }
        bytes += copied;
    }
    Ok((rows.len() as u64, bytes))
}

fn copy_checked(source: &Path, target: &Path, hash: &str) -> Result<u64> {
    let dir = target
        .parent()
        .ok_or_else(|| invalid("photo path has no parent"))?;
    fs::create_dir_all(dir)?;
    let mut input = File::open(source)?;
    let mut output = File::create(target)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        output.write_all(&buffer[..n])?;
        total += n as u64;
    }
    if hex::encode(hasher.finalize()) != hash {
        let _ = fs::remove_file(target);
        return Err(invalid(format!(
            "photo {} does not hash to its address {hash}: damaged",
            source.display()
        )));
    }
    output.sync_all()?;
    Ok(total)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}
