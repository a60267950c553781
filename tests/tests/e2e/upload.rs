//! Photo upload end to end: a real JPEG from the store to `PUT /v1/blobs/{sha256}`,
//! resumed after a cut, then readable by the people whose documents reference it.

use std::time::Duration;

use fieldloop_core::doc::EvidenceStage;
use fieldloop_core::store::sha256_hex;
use fieldloop_core::sync::client::SyncClient;
use fieldloop_core::sync::upload::{put_range, remote_blob, upload_pending, RetryPolicy};
use fieldloop_server::storage::BlobHash;
use fieldloop_tests::*;
use uuid::Uuid;

fn photo_bytes(test: &str) -> Option<Vec<u8>> {
    let dir = shared_photos(test)?;
    Some(std::fs::read(dir.join("coolpix-gps-a.jpg")).expect("photo readable"))
}

/// A case reported with `bytes` as its before-photo, captured with the file.
fn capture_with_photo(device: &mut Device, bytes: &[u8]) -> (Uuid, String) {
    let hash = sha256_hex(bytes);
    let before = evidence(EvidenceStage::Before, &device.principal, minutes(0));
    let id = report_with_photo(device, minutes(0), &hash, bytes, before);
    (id, hash)
}

#[test]
fn a_photo_upload_resumes_after_a_cut() {
    let Some(bytes) = photo_bytes("a_photo_upload_resumes_after_a_cut") else {
        return;
    };
    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    let (_, hash) = capture_with_photo(&mut inspector, &bytes);
    assert_eq!(inspector.store.pending_uploads(10).unwrap().len(), 1);

    // The connection drops after the first half.
    let total = bytes.len() as u64;
    let half = total / 2;
    let cut = put_range(&inspector.client, &hash, &bytes, 0, half).unwrap();
    assert_eq!((cut.offset, cut.complete), (half, false));
    let remote = remote_blob(&inspector.client, &hash).unwrap();
    assert_eq!((remote.offset, remote.complete), (half, false));

    let report = upload_pending(
        &inspector.client,
        &mut inspector.store,
        &RetryPolicy::default(),
    )
    .unwrap();
    assert_eq!((report.uploaded, report.already_there), (1, 0));
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.bytes_sent,
        total - half,
        "only the missing half is sent"
    );
    assert!(inspector.store.pending_uploads(10).unwrap().is_empty());
    let stored = server
        .runtime()
        .block_on(server.state.blobs.read(&BlobHash::parse(&hash).unwrap()))
        .unwrap()
        .expect("stored");
    assert_eq!(stored, bytes);

    // Nothing left: a second run sends nothing.
    let again = upload_pending(
        &inspector.client,
        &mut inspector.store,
        &RetryPolicy::default(),
    )
    .unwrap();
    assert_eq!((again.uploaded, again.bytes_sent), (0, 0));
}

#[test]
fn a_synced_case_makes_its_photo_readable_in_scope_only() {
    let Some(bytes) = photo_bytes("a_synced_case_makes_its_photo_readable_in_scope_only") else {
        return;
    };
    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    let dispatcher = Device::login(&server, "dispatcher");
    let other = Device::login(&server, "other-inspector");
    let (_, hash) = capture_with_photo(&mut inspector, &bytes);
    inspector.sync(minutes(1));
    let report = upload_pending(
        &inspector.client,
        &mut inspector.store,
        &RetryPolicy::default(),
    )
    .unwrap();
    assert_eq!(report.bytes_sent, bytes.len() as u64);

    let get = |token: &str| {
        reqwest::blocking::Client::new()
            .get(format!("{}/v1/blobs/{hash}", server.base))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    let response = get(&dispatcher.token);
    assert_eq!(
        response.status(),
        200,
        "the case is in the dispatcher's street"
    );
    assert_eq!(response.bytes().unwrap().to_vec(), bytes);
    assert_eq!(
        get(&other.token).status(),
        403,
        "another community's inspector"
    );
}

#[test]
fn an_unreachable_server_leaves_photos_pending_after_bounded_retries() {
    let Some(bytes) =
        photo_bytes("an_unreachable_server_leaves_photos_pending_after_bounded_retries")
    else {
        return;
    };
    let server = TestServer::with_street_people();
    let mut inspector = Device::login(&server, "inspector");
    capture_with_photo(&mut inspector, &bytes);
    // Port 9 (discard) on loopback: nothing listens, connections are refused at once.
    let offline = SyncClient::new("http://127.0.0.1:9", &inspector.token).unwrap();
    let policy = RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    };
    let started = std::time::Instant::now();
    let report = upload_pending(&offline, &mut inspector.store, &policy).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(report.uploaded, 0);
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].1.contains("network"),
        "{:?}",
        report.failed
    );
    assert_eq!(inspector.store.pending_uploads(10).unwrap().len(), 1);

    // Back online, it goes.
    let report = upload_pending(&inspector.client, &mut inspector.store, &policy).unwrap();
    assert_eq!(report.uploaded, 1);
}
