//! `fieldloop-server backup` / `restore` on the embedded default: a backup taken while the
//! server serves, restored into a new directory, serves the same data and syncs on.

use fieldloop_core::doc::EvidenceStage;
use fieldloop_core::store::sha256_hex;
use fieldloop_core::sync::client::SyncClient;
use fieldloop_core::sync::upload::{upload_pending, RetryPolicy};
use fieldloop_server::ops::backup::{backup, restore};
use fieldloop_tests::*;

fn jpeg(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x as u8).wrapping_mul(seed), (y as u8) ^ seed, seed])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .expect("encode");
    out
}

#[test]
fn a_restored_deployment_serves_and_syncs_on() {
    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    let photo = jpeg(7);
    let hash = sha256_hex(&photo);
    let before = evidence(EvidenceStage::Before, &inspector.principal, minutes(0));
    let first = report_with_photo(&mut inspector, minutes(0), &hash, &photo, before);
    server.clock.set(minutes(1));
    inspector.sync(minutes(1));
    let uploaded = upload_pending(
        &inspector.client,
        &mut inspector.store,
        &RetryPolicy::default(),
    )
    .expect("upload");
    assert_eq!(uploaded.uploaded, 1);

    // Online: the server keeps running (and serving) while the copy is taken.
    let backups = tempfile::tempdir().expect("temp dir");
    let taken = backup(server.data_dir(), &backups.path().join("b1")).expect("backup");
    assert_eq!((taken.photos, taken.photo_bytes), (1, photo.len() as u64));
    assert!(taken.documents >= 1 && taken.head_seq >= 1, "{taken:?}");
    // A backup goes into a new directory only.
    assert!(backup(server.data_dir(), &backups.path().join("b1")).is_err());

    // A change after the backup is not in it.
    let later = report_case(&mut inspector, GRID, minutes(2));
    inspector.sync(minutes(2));
    drop(server);

    let restored_dir = tempfile::tempdir().expect("temp dir");
    let laid = restore(&backups.path().join("b1"), restored_dir.path()).expect("restore");
    assert_eq!(laid, taken);
    // Restoring over a deployment is refused, and leaves it alone.
    assert!(restore(&backups.path().join("b1"), restored_dir.path()).is_err());

    let restored = TestServer::start_in(restored_dir);
    restored.clock.set(minutes(3));
    assert_eq!(restored.status(first).as_deref(), Some("reported"));
    assert_eq!(restored.status(later), None, "taken after the backup");
    assert_eq!(restored.head_seq() as i64, taken.head_seq);

    // The phone carries on against the restored server with its old token: the login,
    // the device binding and the photo came back with the backup.
    inspector.client = SyncClient::new(&restored.base, &inspector.token).expect("client");
    let fresh = report_case(&mut inspector, GRID, minutes(3));
    let report = inspector.sync(minutes(3));
    assert!(report.complete, "{report:?}");
    assert_eq!(restored.status(fresh).as_deref(), Some("reported"));
    let bytes = reqwest::blocking::Client::new()
        .get(format!("{}/v1/blobs/{hash}", restored.base))
        .bearer_auth(&inspector.token)
        .send()
        .expect("photo")
        .bytes()
        .expect("bytes");
    assert_eq!(bytes.as_ref(), photo.as_slice());

    // Another person's phone, new to the restored server, receives the restored case
    // and the new one.
    let mut dispatcher = Device::login(&restored, "dispatcher");
    dispatcher.sync(minutes(4));
    assert_eq!(dispatcher.status(first), "reported");
    assert_eq!(dispatcher.status(fresh), "reported");
}
