//! `POST requests` as `multipart/form-data`: the form's text fields, and the photo as the
//! `media` file field (GeoReport v2 lets clients upload it instead of a `media_url`).

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};

use super::media::max_media_bytes;
use super::Open311Error;
use crate::state::AppState;

/// A whole request: the largest photo the pipeline takes plus room for the text fields.
pub const MAX_BODY_BYTES: usize = 40 * 1024 * 1024 + 256 * 1024;
/// A text field is at most this long (a description is 4,000 characters).
const MAX_TEXT_BYTES: usize = 64 * 1024;

fn too_large() -> Open311Error {
    Open311Error::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "media 照片过大 (too large): a photo is at most {} bytes",
            max_media_bytes()
        ),
    )
}

/// The text fields, and the `media` file's bytes when one was sent (an empty file part,
/// as a form with no file chosen sends, counts as none).
pub async fn read(
    request: Request,
    state: &AppState,
) -> Result<(HashMap<String, String>, Option<Bytes>), Open311Error> {
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|e| Open311Error::bad(e.body_text()))?;
    let mut form = HashMap::new();
    let mut media = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(Open311Error::bad(e.body_text())),
        };
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let limit = if name == "media" {
            max_media_bytes() as usize
        } else {
            MAX_TEXT_BYTES
        };
        let mut bytes = BytesMut::new();
        let mut field = field;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > limit {
                        return Err(if name == "media" {
                            too_large()
                        } else {
                            Open311Error::bad(format!("field {name} is longer than {limit} bytes"))
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                Err(e) => return Err(Open311Error::bad(e.body_text())),
            }
        }
        if name == "media" {
            if media.is_some() {
                return Err(Open311Error::bad("one media file per request"));
            }
            if !bytes.is_empty() {
                media = Some(bytes.freeze());
            }
        } else {
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| Open311Error::bad(format!("field {name} is not UTF-8 text")))?;
            form.insert(name, text);
        }
    }
    Ok((form, media))
}
