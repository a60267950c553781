//! Photo upload: whole, resumed after a cut, verified, limited, idempotent, scoped reads.

use crate::common;

use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request, StatusCode};
use common::{jurisdiction_cells, make_jpeg, make_png, sha256_hex, shared_photos, TestServer};
use fieldloop_core::doc::{DocKind, DocScope};
use fieldloop_core::roles::{Jurisdiction, Role};
use fieldloop_server::storage::{BlobHash, BlobState, NewChange, Origin, ProjectionFields};
use fieldloop_server::Config;
use uuid::Uuid;

fn blob_uri(hash: &str) -> String {
    format!("/v1/blobs/{hash}")
}

async fn put(
    server: &TestServer,
    token: &str,
    hash: &str,
    range: Option<String>,
    body: Body,
) -> common::Reply {
    let mut request =
        Request::put(blob_uri(hash)).header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(range) = range {
        request = request.header(header::CONTENT_RANGE, range);
    }
    server.send(request.body(body).expect("request")).await
}

/// The whole photo in one PUT at its own address.
async fn put_photo(server: &TestServer, token: &str, photo: &[u8]) -> common::Reply {
    put(
        server,
        token,
        &sha256_hex(photo),
        None,
        Body::from(photo.to_vec()),
    )
    .await
}

async fn head(server: &TestServer, token: &str, hash: &str) -> common::Reply {
    server
        .call(Method::HEAD, &blob_uri(hash), Some(token), Body::empty())
        .await
}

async fn inspector_server() -> (TestServer, String) {
    let server = TestServer::new();
    server
        .add_user(
            "li.wei",
            Role::Inspector,
            jurisdiction_cells("330106001001"),
        )
        .await;
    let token = server.token("li.wei").await;
    (server, token)
}

/// Nothing left behind in the unfinished-uploads directory.
fn no_parts(server: &TestServer) -> bool {
    std::fs::read_dir(server.dir.path().join("blobs/parts"))
        .expect("parts dir")
        .next()
        .is_none()
}

#[tokio::test]
async fn a_whole_jpeg_is_stored_at_its_address_and_read_back() {
    let (server, token) = inspector_server().await;
    let photo = make_jpeg(320, 240, 1);
    let hash = sha256_hex(&photo);

    let reply = put(&server, &token, &hash, None, Body::from(photo.clone())).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    let stored = reply.json();
    assert_eq!(stored["complete"], true);
    assert_eq!(stored["format"], "jpeg");
    assert_eq!(stored["width"], 320);
    assert_eq!(stored["height"], 240);
    assert_eq!(stored["size"], photo.len());

    let on_disk = server
        .dir
        .path()
        .join("blobs/sha256")
        .join(&hash[..2])
        .join(&hash);
    assert_eq!(std::fs::read(on_disk).expect("stored file"), photo);
    assert!(no_parts(&server));

    let got = server
        .call(Method::GET, &blob_uri(&hash), Some(&token), Body::empty())
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, photo);
    assert_eq!(got.header("content-type").as_deref(), Some("image/jpeg"));

    let probe = head(&server, &token, &hash).await;
    assert_eq!(probe.status, StatusCode::OK);
    assert_eq!(probe.header("upload-offset"), Some(photo.len().to_string()));
    assert_eq!(probe.header("upload-complete").as_deref(), Some("?1"));
}

#[tokio::test]
async fn a_png_is_accepted_too() {
    let (server, token) = inspector_server().await;
    let photo = make_png(64, 48);
    let reply = put_photo(&server, &token, &photo).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["format"], "png");
}

#[tokio::test]
async fn an_upload_cut_midway_resumes_from_where_the_server_stopped() {
    let (server, token) = inspector_server().await;
    let photo = make_jpeg(1200, 900, 2);
    let hash = sha256_hex(&photo);
    let total = photo.len();
    let half = total / 2;

    // The connection drops after half the body: the stream ends with an error.
    let first_half = Bytes::copy_from_slice(&photo[..half]);
    let cut = futures_util::stream::iter(vec![
        Ok::<Bytes, std::io::Error>(first_half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "network gone",
        )),
    ]);
    let reply = put(
        &server,
        &token,
        &hash,
        Some(format!("bytes 0-{}/{total}", total - 1)),
        Body::from_stream(cut),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "body_interrupted");
    assert_eq!(reply.header("upload-offset"), Some(half.to_string()));

    let probe = head(&server, &token, &hash).await;
    assert_eq!(probe.status, StatusCode::OK);
    assert_eq!(probe.header("upload-offset"), Some(half.to_string()));
    assert_eq!(probe.header("upload-complete").as_deref(), Some("?0"));
    assert_eq!(
        server
            .state
            .blobs
            .state(&BlobHash::parse(&hash).expect("hash"))
            .await
            .expect("state"),
        BlobState::Partial(half as u64)
    );

    // Resuming past what the server holds is refused with where to resume.
    let ahead = put(
        &server,
        &token,
        &hash,
        Some(format!("bytes {}-{}/{total}", half + 10, total - 1)),
        Body::from(photo[half + 10..].to_vec()),
    )
    .await;
    assert_eq!(ahead.status, StatusCode::CONFLICT);
    assert_eq!(ahead.header("upload-offset"), Some(half.to_string()));

    let rest = put(
        &server,
        &token,
        &hash,
        Some(format!("bytes {half}-{}/{total}", total - 1)),
        Body::from(photo[half..].to_vec()),
    )
    .await;
    assert_eq!(rest.status, StatusCode::CREATED, "{:?}", rest.json());
    let got = server
        .call(Method::GET, &blob_uri(&hash), Some(&token), Body::empty())
        .await;
    assert_eq!(got.body, photo, "the joined file is the original");
    assert!(no_parts(&server));
}

#[tokio::test]
async fn pieces_may_overlap_what_the_server_already_has() {
    let (server, token) = inspector_server().await;
    let photo = make_jpeg(400, 300, 3);
    let hash = sha256_hex(&photo);
    let total = photo.len();
    let third = total / 3;

    let first = put(
        &server,
        &token,
        &hash,
        Some(format!("bytes 0-{}/{total}", 2 * third - 1)),
        Body::from(photo[..2 * third].to_vec()),
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.json()["offset"], 2 * third);
    assert_eq!(first.json()["complete"], false);
    // The client did not see that answer and resends from a third: the overlap is skipped.
    let rest = put(
        &server,
        &token,
        &hash,
        Some(format!("bytes {third}-{}/{total}", total - 1)),
        Body::from(photo[third..].to_vec()),
    )
    .await;
    assert_eq!(rest.status, StatusCode::CREATED);
    let got = server
        .call(Method::GET, &blob_uri(&hash), Some(&token), Body::empty())
        .await;
    assert_eq!(got.body, photo);
}

#[tokio::test]
async fn bytes_that_do_not_hash_to_the_address_are_rejected_and_discarded() {
    let (server, token) = inspector_server().await;
    let photo = make_jpeg(64, 64, 4);
    let other = sha256_hex(b"some other content");
    let reply = put(&server, &token, &other, None, Body::from(photo)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "hash_mismatch");
    assert!(no_parts(&server), "the bad upload is discarded");
    let probe = head(&server, &token, &other).await;
    assert_eq!(probe.status, StatusCode::NOT_FOUND);
    assert_eq!(probe.header("upload-offset").as_deref(), Some("0"));
    // The refusal is audited with the address and the reason.
    let refused = audited(&server, "blob.refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].target.as_deref(), Some(other.as_str()));
    assert!(refused[0]
        .detail
        .as_deref()
        .unwrap_or_default()
        .contains("hash_mismatch"));
}

#[tokio::test]
async fn bytes_that_are_not_an_image_are_rejected() {
    let (server, token) = inspector_server().await;
    let text = b"this is a PDF, honestly".repeat(50);
    let reply = put_photo(&server, &token, &text).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "not_an_image");

    // A JPEG signature followed by garbage: the header does not read.
    let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0];
    fake.extend_from_slice(&[0x13; 200]);
    let reply = put_photo(&server, &token, &fake).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.json());
    assert_eq!(reply.error_code(), "not_an_image");

    // An image in a format the pipeline does not take: a GIF header.
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[10, 0, 10, 0, 0, 0, 0]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 10, 0, 10, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B]);
    let reply = put_photo(&server, &token, &gif).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.error_code(), "unsupported_format");

    // A real JPEG cut short: the header reads, the picture does not. Evidence must decode.
    let whole = make_jpeg(400, 300, 7);
    let cut = whole[..whole.len() * 2 / 3].to_vec();
    let reply = put_photo(&server, &token, &cut).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.json());
    assert_eq!(reply.error_code(), "not_an_image");
    assert!(no_parts(&server));
}

#[tokio::test]
async fn heic_from_an_iphone_is_refused_as_unsupported() {
    let Some(dir) = shared_photos("heic_from_an_iphone_is_refused_as_unsupported") else {
        return;
    };
    let (server, token) = inspector_server().await;
    let heic = std::fs::read(dir.join("iphone13-pro-max.heic")).expect("heic sample");
    let reply = put_photo(&server, &token, &heic).await;
    assert!(
        reply.status == StatusCode::UNSUPPORTED_MEDIA_TYPE
            || reply.status == StatusCode::BAD_REQUEST,
        "{}",
        reply.status
    );
}

#[tokio::test]
async fn a_real_camera_photo_uploads_in_pieces() {
    let Some(dir) = shared_photos("a_real_camera_photo_uploads_in_pieces") else {
        return;
    };
    let (server, token) = inspector_server().await;
    let photo = std::fs::read(dir.join("olympus-ep3-12mp.jpg")).expect("sample");
    let hash = sha256_hex(&photo);
    let total = photo.len();
    let piece = 1 << 20;
    let mut start = 0;
    let mut last = None;
    while start < total {
        let end = (start + piece).min(total);
        let reply = put(
            &server,
            &token,
            &hash,
            Some(format!("bytes {start}-{}/{total}", end - 1)),
            Body::from(photo[start..end].to_vec()),
        )
        .await;
        start = end;
        last = Some(reply);
    }
    let last = last.expect("at least one piece");
    assert_eq!(last.status, StatusCode::CREATED);
    assert_eq!(last.json()["width"], 4032);
    assert_eq!(last.json()["height"], 3024);
}

#[tokio::test]
async fn photos_over_the_limit_are_rejected() {
    let (server, token) = inspector_server().await;
    let max = server.state.config.max_blob_bytes;
    assert_eq!(max, 40 * 1024 * 1024);
    let hash = sha256_hex(b"large");

    // Declared too large up front: refused before any byte is stored.
    let declared = put(
        &server,
        &token,
        &hash,
        Some(format!("bytes 0-1023/{}", max + 1)),
        Body::from(vec![0u8; 1024]),
    )
    .await;
    assert_eq!(declared.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(declared.error_code(), "too_large");

    // Not declared: the stream is cut off once it passes the limit, and nothing is kept.
    let chunk = Bytes::from(vec![0x55u8; 1 << 20]);
    let frames = (0..=(max >> 20)).map(move |_| Ok::<Bytes, std::io::Error>(chunk.clone()));
    let streamed = put(
        &server,
        &token,
        &hash,
        None,
        Body::from_stream(futures_util::stream::iter(frames)),
    )
    .await;
    assert_eq!(streamed.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(no_parts(&server));
}

#[tokio::test]
async fn a_small_configured_limit_applies_to_real_images() {
    let server = TestServer::with_config(Config {
        max_blob_bytes: 10_000,
        ..Config::default()
    });
    server
        .add_user("li.wei", Role::Inspector, Jurisdiction::default())
        .await;
    let token = server.token("li.wei").await;
    let photo = make_jpeg(800, 600, 5);
    assert!(photo.len() > 10_000);
    let reply = put_photo(&server, &token, &photo).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn repeating_a_finished_upload_changes_nothing() {
    let (server, token) = inspector_server().await;
    let photo = make_jpeg(200, 100, 6);
    let hash = sha256_hex(&photo);
    let first = put(&server, &token, &hash, None, Body::from(photo.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let path = server
        .dir
        .path()
        .join("blobs/sha256")
        .join(&hash[..2])
        .join(&hash);
    let written = std::fs::metadata(&path)
        .expect("stored")
        .modified()
        .expect("mtime");

    let again = put(&server, &token, &hash, None, Body::from(photo.clone())).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json(), first.json());
    // Even a piece of it, or garbage under its address, leaves the stored file alone.
    let garbage = put(
        &server,
        &token,
        &hash,
        Some("bytes 0-3/4".into()),
        Body::from("nope"),
    )
    .await;
    assert_eq!(garbage.status, StatusCode::OK);
    assert_eq!(std::fs::read(&path).expect("stored"), photo);
    assert_eq!(
        std::fs::metadata(&path)
            .expect("stored")
            .modified()
            .expect("mtime"),
        written
    );
    let stored_events = audited(&server, "blob.stored").await.len();
    assert_eq!(stored_events, 1);
}

#[tokio::test]
async fn bad_addresses_and_ranges_are_400s() {
    let (server, token) = inspector_server().await;
    let odd = put(&server, &token, "%FF%FE", None, Body::from("x")).await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST);
    assert_eq!(odd.error_code(), "bad_path");
    let reply = put(&server, &token, "not-a-hash", None, Body::from("x")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "bad_hash");
    // An empty body: nothing to store, a typed refusal rather than a server error.
    let empty_hash = sha256_hex(b"");
    let empty = put(&server, &token, &empty_hash, None, Body::empty()).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty.error_code(), "not_an_image");
    let wrong = put(&server, &token, &sha256_hex(b"y"), None, Body::empty()).await;
    assert_eq!(wrong.error_code(), "hash_mismatch");

    let hash = sha256_hex(b"x");
    for range in [
        "bytes 5-2/10",
        "bytes 0-10/10",
        "items 0-1/2",
        "bytes a-b/c",
    ] {
        let reply = put(&server, &token, &hash, Some(range.into()), Body::from("xx")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{range}");
        assert_eq!(reply.error_code(), "bad_content_range", "{range}");
    }
}

#[tokio::test]
async fn dispatchers_do_not_upload_photos() {
    let server = TestServer::new();
    server
        .add_user(
            "zhou.min",
            Role::Dispatcher,
            jurisdiction_cells("330106001"),
        )
        .await;
    let token = server.token("zhou.min").await;
    let photo = make_jpeg(16, 16, 7);
    let reply = put_photo(&server, &token, &photo).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn reading_a_photo_needs_a_referencing_document_in_scope() {
    let server = TestServer::new();
    server
        .add_user(
            "li.wei",
            Role::Inspector,
            jurisdiction_cells("330106001001"),
        )
        .await;
    server
        .add_user(
            "zhang.san",
            Role::Inspector,
            jurisdiction_cells("330106002"),
        )
        .await;
    server
        .add_user(
            "sanitation",
            Role::Handler,
            Jurisdiction {
                units: vec!["sanitation-xihu".into()],
                ..Default::default()
            },
        )
        .await;
    server
        .add_user(
            "root",
            Role::Admin,
            Jurisdiction {
                everywhere: true,
                ..Default::default()
            },
        )
        .await;
    let li = server.token("li.wei").await;
    let zhang = server.token("zhang.san").await;
    let handler = server.token("sanitation").await;
    let admin = server.token("root").await;

    let photo = make_jpeg(300, 200, 8);
    let hash = sha256_hex(&photo);
    assert_eq!(
        put(&server, &li, &hash, None, Body::from(photo.clone()))
            .await
            .status,
        StatusCode::CREATED
    );

    // Not referenced by any document yet: only the uploader and admins.
    let get = |token: String| {
        let uri = blob_uri(&hash);
        let server = &server;
        async move {
            server
                .call(Method::GET, &uri, Some(&token), Body::empty())
                .await
        }
    };
    assert_eq!(get(li.clone()).await.status, StatusCode::OK);
    assert_eq!(get(admin.clone()).await.status, StatusCode::OK);
    let refused = get(zhang.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "forbidden");
    assert_eq!(get(handler.clone()).await.status, StatusCode::FORBIDDEN);

    // A case in Li's cell, dispatched to the sanitation unit, references the photo.
    let case_id = Uuid::now_v7();
    let header = fieldloop_core::doc::Header {
        id: case_id,
        kind: DocKind::Case,
        schema: fieldloop_core::doc::SCHEMA_VERSION,
        created_by: "li.wei".into(),
        created_role: Role::Inspector,
        created_at: common::T0,
        position: None,
        category: Some("0101".into()),
        scope: DocScope {
            grid_cell: Some("330106001001002".into()),
            ..Default::default()
        },
    };
    let mut doc =
        fieldloop_core::doc::Doc::create(&header, &fieldloop_core::doc::actor_for(&Uuid::now_v7()))
            .expect("doc");
    server
        .state
        .docs
        .append_change(NewChange {
            doc_id: case_id,
            kind: DocKind::Case,
            bytes: doc.save(),
            origin: Origin {
                user_id: "li.wei".into(),
                device_id: Some("phone-1".into()),
                arrived_at: common::T0,
            },
            projection: ProjectionFields {
                status: Some("dispatched".into()),
                grid_cell: Some("330106001001002".into()),
                unit: Some("sanitation-xihu".into()),
                ..Default::default()
            },
            blob_refs: vec![hash.clone()],
            audit: Vec::new(),
            snapshot: None,
        })
        .await
        .expect("store case");

    assert_eq!(
        get(handler).await.status,
        StatusCode::OK,
        "the case's unit may read it"
    );
    assert_eq!(
        get(zhang).await.status,
        StatusCode::FORBIDDEN,
        "another street still may not"
    );
}

#[tokio::test]
async fn a_second_upload_of_the_same_photo_waits_its_turn() {
    let (server, token) = inspector_server().await;
    let photo = make_jpeg(2400, 1800, 9);
    let hash = sha256_hex(&photo);
    let total = photo.len();
    assert!(
        total > 1 << 20,
        "big enough that half of it is written before the end"
    );

    // The first upload sends half, then stalls with the connection open.
    let (feed, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    feed.send(Ok(Bytes::copy_from_slice(&photo[..total / 2])))
        .await
        .expect("feed");
    let first = {
        let app = server.app();
        let request = Request::put(blob_uri(&hash))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(
                header::CONTENT_RANGE,
                format!("bytes 0-{}/{total}", total - 1),
            )
            .body(body)
            .expect("request");
        tokio::spawn(async move { tower::ServiceExt::oneshot(app, request).await })
    };
    // Wait until the first upload holds the slot and has written part of its half.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let state = server
            .state
            .blobs
            .state(&BlobHash::parse(&hash).expect("hash"))
            .await
            .expect("state");
        if matches!(state, BlobState::Partial(n) if n > 0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "first upload never wrote: {state:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let second = put(&server, &token, &hash, None, Body::from(photo.clone())).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.error_code(), "upload_in_progress");

    feed.send(Ok(Bytes::copy_from_slice(&photo[total / 2..])))
        .await
        .expect("feed");
    drop(feed);
    let finished = first.await.expect("task").expect("response");
    assert_eq!(finished.status(), StatusCode::CREATED);

    // The slot is free again: a repeat is answered as already stored.
    let again = put(&server, &token, &hash, None, Body::from(photo)).await;
    assert_eq!(again.status, StatusCode::OK);
}

#[tokio::test]
async fn uploads_abandoned_for_a_week_are_swept_and_fresh_ones_kept() {
    let (server, token) = inspector_server().await;
    let (old, fresh) = (make_jpeg(64, 48, 11), make_jpeg(64, 48, 12));
    let (old_hash, fresh_hash) = (sha256_hex(&old), sha256_hex(&fresh));
    for (jpeg, hash) in [(&old, &old_hash), (&fresh, &fresh_hash)] {
        let half = jpeg.len() / 2;
        let range = format!("bytes 0-{}/{}", half - 1, jpeg.len());
        let reply = put(
            &server,
            &token,
            hash,
            Some(range),
            Body::from(jpeg[..half].to_vec()),
        )
        .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
    let stored = make_jpeg(64, 48, 13);
    let stored_hash = sha256_hex(&stored);
    let whole = put(&server, &token, &stored_hash, None, Body::from(stored)).await;
    assert_eq!(whole.status, StatusCode::CREATED);

    // The first upload's last byte arrived eight days ago.
    let part = server
        .dir
        .path()
        .join(format!("blobs/parts/{old_hash}.part"));
    let eight_days = std::time::Duration::from_secs(8 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&part)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - eight_days))
        .expect("age the part");
    // A stray file in the folder is not an upload and stays.
    let stray = server.dir.path().join("blobs/parts/notes.txt");
    std::fs::write(&stray, b"x").expect("stray");

    let swept = fieldloop_server::blobs::sweep_abandoned_uploads(&server.state)
        .await
        .expect("sweep");
    assert_eq!(swept, 1);
    assert!(!part.exists());
    assert!(stray.exists());
    assert_eq!(
        head(&server, &token, &old_hash).await.status,
        StatusCode::NOT_FOUND
    );
    let fresh_head = head(&server, &token, &fresh_hash).await;
    assert_eq!(fresh_head.status, StatusCode::OK);
    assert_eq!(
        fresh_head.header("upload-offset"),
        Some((fresh.len() / 2).to_string())
    );
    let stored_head = head(&server, &token, &stored_hash).await;
    assert_eq!(stored_head.header("upload-complete").as_deref(), Some("?1"));
}

/// The recent audit entries with `action`.
async fn audited(server: &TestServer, action: &str) -> Vec<fieldloop_server::storage::AuditEntry> {
    server
        .state
        .audit
        .recent(50)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}
