//! §4 Photo upload throughput: devices upload distinct processed photos (real JPEGs from
//! ../shared/photos through the core's pipeline) with `PUT /v1/blobs/{sha256}`, as the
//! phone's uploader does; the server verifies each (hash, decodable) before it stores it.
//! The same photos go to a server on files and to one on PostgreSQL + S3 in one run.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use fieldloop_core::media::{process_photo, PhotoLimits, ProcessOptions};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_core::sync::client::SyncClient;
use fieldloop_core::sync::upload::put_range;
use serde::Serialize;

use crate::error::{setup, BenchError, Result};
use crate::fleet::grid_cell;
use crate::server::{Server, PASSWORD};
use crate::stats::percentile;

/// An inspector: the people who take photos.
const UPLOADER: &str = "bench-inspector";

/// A photo as the phone uploads it: its content address and the processed JPEG.
pub struct Photo {
    pub sha256: String,
    pub jpeg: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadFigures {
    pub devices: usize,
    pub photos: usize,
    pub mean_photo_kb: f64,
    pub seconds: f64,
    pub megabytes_per_s: f64,
    pub photos_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub server_cpu_s: f64,
}

/// `count` distinct photos: the shared JPEGs processed at long edges 1600, 1599, … so
/// each is a real, decodable, different file.
pub fn photos(count: usize) -> Result<Vec<Arc<Photo>>> {
    let dir = fieldloop_testdata::photos_dir("bench uploads")
        .ok_or_else(|| setup("../shared/photos not found (set FIELDLOOP_PHOTOS)"))?;
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jpg") {
            sources.push(std::fs::read(&path)?);
        }
    }
    sources.sort();
    let mut out = Vec::with_capacity(count);
    let mut round = 0u32;
    while out.len() < count {
        let before = out.len();
        for bytes in &sources {
            if out.len() == count {
                break;
            }
            let options = ProcessOptions {
                long_edge: 1600 - round,
                ..ProcessOptions::default()
            };
            // A source the pipeline refuses (the corrupted one) is simply not used.
            if let Ok(p) = process_photo(bytes, &PhotoLimits::default(), &options) {
                out.push(Arc::new(Photo {
                    sha256: p.content_hash,
                    jpeg: p.jpeg,
                }));
            }
        }
        if out.len() == before {
            return Err(setup("no usable JPEG in ../shared/photos"));
        }
        round += 1;
    }
    Ok(out)
}

/// Uploads every photo once, spread over `devices` logged-in clients at the same time.
pub fn run(server: &Server, photos: &[Arc<Photo>], devices: usize) -> Result<UploadFigures> {
    server.create_users(&[(
        UPLOADER.to_owned(),
        Role::Inspector,
        Jurisdiction {
            grid_prefixes: vec![grid_cell(0)],
            ..Jurisdiction::default()
        },
    )])?;
    let clients: Vec<SyncClient> = (0..devices.max(1))
        .map(|_| {
            SyncClient::login(&server.base, UPLOADER, PASSWORD)
                .map(|(client, _)| client)
                .map_err(BenchError::from)
        })
        .collect::<Result<_>>()?;
    let barrier = Arc::new(Barrier::new(clients.len() + 1));
    let n = clients.len();
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let mine: Vec<Arc<Photo>> = photos.iter().skip(i).step_by(n).cloned().collect();
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Result<Vec<f64>> {
                barrier.wait();
                let mut latencies = Vec::new();
                for photo in mine {
                    let started = Instant::now();
                    let len = photo.jpeg.len() as u64;
                    let stored = put_range(&client, &photo.sha256, &photo.jpeg, 0, len)?;
                    if !stored.complete {
                        return Err(setup(format!("upload of {} not complete", photo.sha256)));
                    }
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                Ok(latencies)
            })
        })
        .collect();
    let cpu0 = server.cpu_seconds();
    barrier.wait();
    let start = Instant::now();
    let mut all = Vec::new();
    for handle in handles {
        all.extend(
            handle
                .join()
                .map_err(|_| setup("an upload thread panicked"))??,
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    let bytes: usize = photos.iter().map(|p| p.jpeg.len()).sum();
    Ok(UploadFigures {
        devices: n,
        photos: photos.len(),
        mean_photo_kb: bytes as f64 / photos.len().max(1) as f64 / 1e3,
        seconds,
        megabytes_per_s: bytes as f64 / 1e6 / seconds,
        photos_per_s: photos.len() as f64 / seconds,
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        server_cpu_s: server.cpu_seconds() - cpu0,
    })
}
