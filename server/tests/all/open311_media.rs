//! Open311 `POST requests` with the photo uploaded as the multipart `media` field: a real
//! camera photo goes through the phone's pipeline into the evidence store and shows on
//! the case as its before-photo; what is not an image, not a format the pipeline takes,
//! or too big is refused in the spec's error format, with nothing stored.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use fieldloop_server::demo::city::City;

use crate::common::{sha256_hex, shared_photos, Reply, TestServer};
use crate::console_api::{city_server, get, post_json};

const BOUNDARY: &str = "----fieldloop-open311-test";

/// A multipart/form-data body as GeoReport clients send it: text fields, then `media`.
fn multipart(fields: &[(&str, String)], media: Option<(&str, &str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((file_name, content_type, bytes)) = media {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

struct Citizen {
    server: TestServer,
    key: String,
    dispatcher: String,
}

async fn citizen() -> Citizen {
    let server = city_server().await;
    let root = server.token("root").await;
    let key = post_json(
        &server,
        "/v1/admin/open311/keys",
        &root,
        serde_json::json!({ "client": "citizen-app" }),
    )
    .await
    .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let dispatcher = server.token("disp-north").await;
    Citizen {
        server,
        key,
        dispatcher,
    }
}

impl Citizen {
    async fn report(&self, path: &str, media: Option<(&str, &str, &[u8])>) -> Reply {
        let centre = City::builtin()
            .cell("330106001001001")
            .expect("cell")
            .centre;
        let fields = [
            ("api_key", self.key.clone()),
            ("service_code", "20102".to_owned()),
            ("lat", centre.lat.to_string()),
            ("long", centre.lon.to_string()),
            ("description", "路边堆着垃圾".to_owned()),
        ];
        self.server
            .send(
                Request::post(path)
                    .header(
                        header::CONTENT_TYPE,
                        format!("multipart/form-data; boundary={BOUNDARY}"),
                    )
                    .body(Body::from(multipart(&fields, media)))
                    .expect("request"),
            )
            .await
    }

    async fn register_queue_len(&self) -> usize {
        get(&self.server, "/v1/queues", &self.dispatcher)
            .await
            .json()["queues"][0]["items"]
            .as_array()
            .expect("items")
            .len()
    }
}

#[tokio::test]
async fn an_uploaded_photo_becomes_the_citizen_reports_before_photo() {
    let Some(dir) = shared_photos("an_uploaded_photo_becomes_the_citizen_reports_before_photo")
    else {
        return;
    };
    let original = std::fs::read(dir.join("canon-rot90-hdr-off.jpg")).expect("photo");
    let c = citizen().await;
    let created = c
        .report(
            "/open311/v2/requests.json",
            Some(("IMG_0001.JPG", "image/jpeg", &original)),
        )
        .await;
    assert_eq!(
        created.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = created.json()[0]["service_request_id"]
        .as_str()
        .expect("id")
        .to_owned();

    let case = get(&c.server, &format!("/v1/cases/{id}"), &c.dispatcher)
        .await
        .json();
    assert_eq!(case["source"], "open311");
    let photos = case["photos"].as_array().expect("photos");
    assert_eq!(photos.len(), 1, "{case:#}");
    assert_eq!(photos[0]["stage"], "before");
    // The file the case shows is the pipeline's output: upright, long edge 1600, no EXIF,
    // stored at its own SHA-256, readable by whoever may read the case.
    let stored = get(
        &c.server,
        photos[0]["url"].as_str().expect("url"),
        &c.dispatcher,
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(
        photos[0]["hash"].as_str().expect("hash"),
        sha256_hex(&stored.body)
    );
    let picture = image::load_from_memory(&stored.body).expect("a JPEG");
    assert_eq!(picture.height(), 1600, "rotated upright, long edge 1600");
    assert!(picture.width() < picture.height());

    // The evidence record keeps the original's hash and the camera's own EXIF facts.
    let doc = c
        .server
        .state
        .docs
        .load_doc(id.parse().expect("uuid"))
        .await
        .expect("store")
        .expect("case");
    let snapshot = doc
        .load(&fieldloop_core::doc::actor_for(&uuid::Uuid::nil()))
        .expect("doc")
        .snapshot()
        .expect("snapshot");
    let evidence = snapshot.evidence.values().next().expect("evidence");
    assert_eq!(
        evidence.original_sha256.as_deref(),
        Some(sha256_hex(&original).as_str())
    );
    assert!(evidence.exif.is_some_and(|e| e.local_time.is_some()));
    assert!(evidence.phash.is_some());
}

#[tokio::test]
async fn a_bad_upload_is_refused_in_the_specs_error_format_and_nothing_is_stored() {
    let c = citizen().await;
    let queued = c.register_queue_len().await;

    let not_an_image = c
        .report(
            "/open311/v2/requests.json",
            Some((
                "notes.txt",
                "image/jpeg",
                b"this is not a photo at all".as_slice(),
            )),
        )
        .await;
    assert_eq!(not_an_image.status, StatusCode::BAD_REQUEST);
    let error = not_an_image.json();
    assert_eq!(error[0]["code"], 400);
    assert!(
        error[0]["description"]
            .as_str()
            .expect("description")
            .contains("不是可读的图片"),
        "{error}"
    );

    // The spec's XML error form too.
    let truncated = &crate::common::make_jpeg(800, 600, 7)[..2000];
    let xml = c
        .report(
            "/open311/v2/requests.xml",
            Some(("cut.jpg", "image/jpeg", truncated)),
        )
        .await;
    assert_eq!(xml.status, StatusCode::BAD_REQUEST);
    let xml = String::from_utf8(xml.body).expect("utf-8");
    assert!(
        xml.contains("<errors><error><code>400</code><description>media 不是可读的图片"),
        "{xml}"
    );

    // One byte over the pipeline's limit for a camera original.
    let huge = vec![0xffu8; 40 * 1024 * 1024 + 1];
    let too_big = c
        .report(
            "/open311/v2/requests.json",
            Some(("huge.jpg", "image/jpeg", &huge)),
        )
        .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    let error = too_big.json();
    assert_eq!(error[0]["code"], 413);
    assert!(
        error[0]["description"]
            .as_str()
            .expect("description")
            .contains("照片过大"),
        "{error}"
    );

    if let Some(dir) = shared_photos("a_bad_upload_is_refused_in_the_specs_error_format") {
        let heic = std::fs::read(dir.join("iphone13-pro-max.heic")).expect("photo");
        let unsupported = c
            .report(
                "/open311/v2/requests.json",
                Some(("IMG_0002.HEIC", "image/heic", &heic)),
            )
            .await;
        assert_eq!(unsupported.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(unsupported.json()[0]["code"], 415);
    }

    // No case was made for any of them, and no photo kept.
    assert_eq!(c.register_queue_len().await, queued);
    let audit = c.server.state.audit.recent(500).await.expect("audit");
    assert!(
        !audit.iter().any(|e| e.action == "blob.stored"),
        "{audit:?}"
    );
}
