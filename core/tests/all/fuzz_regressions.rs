//! Inputs `scripts/fuzz` found that made automerge's decoder panic (`crash-*`) or
//! allocate gigabytes (`oom-*`), kept in `fuzz/regressions/<target>/`: each must now be
//! an error with a reason, as any other bad bytes are, on the paths the fuzz targets
//! drive. (Should the refusal regress, the `oom-*` inputs make this test take gigabytes.)

use std::path::PathBuf;

use fieldloop_core::doc::{actor_for, Doc};
use fieldloop_core::sync::wire::{self, SyncRequest};
use uuid::Uuid;

fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    found.sort();
    assert!(
        !found.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    found
}

#[test]
fn a_document_that_crashed_or_flooded_the_decoder_is_refused_with_a_reason() {
    for (name, bytes) in regressions("doc_load") {
        let refused = Doc::load(&bytes, &actor_for(&Uuid::nil()));
        let reason = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            reason.contains("automerge bytes"),
            "{name}: loaded, or refused without the decoder's reason: {reason:?}"
        );
    }
}

#[test]
fn pushed_changes_that_crashed_or_flooded_the_decoder_are_refused_with_a_reason() {
    let mut refused = 0;
    for (name, body) in regressions("sync_request") {
        let request: SyncRequest = wire::decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        for push in &request.pushes {
            let mut doc = Doc::empty(&actor_for(&Uuid::nil()));
            if let Err(e) = doc.load_changes(&push.changes) {
                refused += 1;
                assert!(e.to_string().contains("automerge bytes"), "{name}: {e}");
            }
        }
    }
    assert!(
        refused >= 2,
        "{refused} pushes of the regression inputs refused"
    );
}

/// A compressed change chunk (type 2) whose few KB of DEFLATE inflate to 16 MB: refused
/// before automerge inflates it whole.
#[test]
fn a_compressed_change_that_inflates_past_the_bound_is_refused() {
    use std::io::Write;
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..16 {
        deflate.write_all(&zeros).unwrap();
    }
    let data = deflate.finish().unwrap();
    assert!(data.len() < 200_000, "{} bytes of DEFLATE", data.len());
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = data.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            chunk.push(byte);
            break;
        }
        chunk.push(byte | 0x80);
    }
    chunk.extend(&data);
    let mut doc = Doc::empty(&actor_for(&Uuid::nil()));
    let refused = doc.load_changes(&chunk).unwrap_err().to_string();
    assert!(refused.contains("inflating past"), "{refused}");
}
