//! Photo bytes in an S3-compatible bucket (AWS S3, MinIO, Ceph, s3s, …), shared by every
//! server instance of a deployment: `sha256/<first two hex digits>/<hash>` for verified
//! photos, and an unfinished upload as its appended pieces `parts/<hash>/<offset>`, so a
//! phone can resume through any instance. The upload's length is the run of pieces that
//! follow each other from offset 0; the SHA-256 check on completion catches any piece
//! two instances raced to write.
//!
//! The five calls needed (PUT, GET, HEAD, DELETE, ListObjectsV2; path-style, SigV4) go
//! through the reqwest client already in the tree; see [`super::s3_sign`].

use bytes::Bytes;
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest, Sha256};

use super::error::{StoreError, StoreResult as Result};
use super::s3_sign::{uri_encode, Credentials, Signer};
use super::{BlobHash, BlobState, BlobStore, StoreFuture};

/// Where and how to reach the bucket; unset fields come from the usual environment
/// variables (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT`, `AWS_REGION` or `AWS_DEFAULT_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Plain HTTP to the endpoint (a bucket on the same private network or loopback).
    pub allow_http: bool,
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    http: reqwest::Client,
    /// `<endpoint>/<bucket>`: path-style addressing works on every S3-compatible server.
    base: Url,
    signer: Signer,
}

/// An object as a listing shows it.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    size: u64,
    last_modified: chrono::DateTime<chrono::Utc>,
}

/// Digits enough for any offset, so listing order is offset order.
fn piece_name(offset: u64) -> String {
    format!("{offset:020}")
}

fn s3_error(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::S3(format!("{context}: {e}"))
}

impl S3BlobStore {
    pub fn open(settings: &S3Settings) -> Result<S3BlobStore> {
        let region = settings
            .region
            .clone()
            .or_else(|| env(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = settings
            .endpoint
            .clone()
            .or_else(|| env(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]))
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let credentials = Credentials {
            access_key_id: settings
                .access_key_id
                .clone()
                .or_else(|| env(&["AWS_ACCESS_KEY_ID"]))
                .ok_or_else(|| StoreError::Config("no S3 access key id".into()))?,
            secret_access_key: settings
                .secret_access_key
                .clone()
                .or_else(|| env(&["AWS_SECRET_ACCESS_KEY"]))
                .ok_or_else(|| StoreError::Config("no S3 secret access key".into()))?,
            session_token: env(&["AWS_SESSION_TOKEN"]),
        };
        let bucket = &settings.bucket;
        let valid_bucket = !bucket.is_empty()
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(StoreError::Config(format!("S3 bucket name {bucket:?}")));
        }
        let base = Url::parse(&format!("{}/{bucket}", endpoint.trim_end_matches('/')))
            .map_err(|e| StoreError::Config(format!("S3 endpoint {endpoint}: {e}")))?;
        match base.scheme() {
            "https" => {}
            "http" if settings.allow_http => {}
            "http" => {
                return Err(StoreError::Config(format!(
                    "S3 endpoint {endpoint} is plain HTTP: allow it explicitly"
                )))
            }
            other => return Err(StoreError::Config(format!("S3 endpoint scheme {other}"))),
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|e| StoreError::Config(format!("S3 client: {e}")))?;
        Ok(S3BlobStore {
            http,
            base,
            signer: Signer {
                credentials,
                region,
            },
        })
    }

    fn url(&self, key: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}/{}", self.base.path(), uri_encode(key, false)));
        url
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Bytes,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Bytes)> {
        let payload_hash = hex::encode(Sha256::digest(&body));
        let headers = self
            .signer
            .sign(&method, &url, &payload_hash, chrono::Utc::now())?;
        let mut request = self.http.request(method.clone(), url.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| s3_error(&format!("{method} {url}"), e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| s3_error(&format!("{method} {url}"), e))?;
        Ok((status, headers, bytes))
    }

    /// Fails on anything but a success or (when `absent_ok`) a 404.
    async fn call(
        &self,
        method: Method,
        key: &str,
        body: Bytes,
    ) -> Result<Option<(reqwest::header::HeaderMap, Bytes)>> {
        let (status, headers, bytes) = self.send(method.clone(), self.url(key), body).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(StoreError::S3(format!(
                "{method} {key}: {status} {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )));
        }
        Ok(Some((headers, bytes)))
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        self.call(Method::PUT, key, body)
            .await?
            .ok_or_else(|| StoreError::S3(format!("PUT {key}: no such bucket")))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self
            .call(Method::GET, key, Bytes::new())
            .await?
            .map(|(_, body)| body))
    }

    async fn head(&self, key: &str) -> Result<Option<u64>> {
        let Some((headers, _)) = self.call(Method::HEAD, key, Bytes::new()).await? else {
            return Ok(None);
        };
        let length = headers
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::S3(format!("HEAD {key}: no content length")))?;
        Ok(Some(length))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.call(Method::DELETE, key, Bytes::new()).await?;
        Ok(())
    }

    /// Every object under `prefix`, page after page (ListObjectsV2).
    async fn list(&self, prefix: &str) -> Result<Vec<Listed>> {
        let mut listed = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.base.clone();
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("list-type", "2");
                query.append_pair("prefix", prefix);
                if let Some(token) = &token {
                    query.append_pair("continuation-token", token);
                }
            }
            let (status, _, body) = self.send(Method::GET, url, Bytes::new()).await?;
            let text = String::from_utf8_lossy(&body);
            if !status.is_success() {
                return Err(StoreError::S3(format!("list {prefix}: {status} {text}")));
            }
            for contents in elements(&text, "Contents") {
                let field = |name: &str| elements(contents, name).next().map(xml_unescape);
                let key =
                    field("Key").ok_or_else(|| StoreError::S3("listing without a key".into()))?;
                let size = field("Size").and_then(|s| s.parse().ok()).unwrap_or(0);
                let last_modified = field("LastModified")
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .unwrap_or_else(chrono::Utc::now);
                listed.push(Listed {
                    key,
                    size,
                    last_modified,
                });
            }
            let truncated = elements(&text, "IsTruncated").next() == Some("true");
            token = elements(&text, "NextContinuationToken")
                .next()
                .map(xml_unescape);
            if !truncated || token.is_none() {
                return Ok(listed);
            }
        }
    }

    fn final_key(hash: &BlobHash) -> String {
        let text = hash.as_str();
        format!("sha256/{}/{text}", &text[..2])
    }

    fn parts_prefix(hash: &BlobHash) -> String {
        format!("parts/{hash}/")
    }

    /// The pieces of an unfinished upload that follow each other from offset 0, in
    /// order, and the length they make.
    async fn pieces(&self, hash: &BlobHash) -> Result<(Vec<Listed>, u64)> {
        let prefix = Self::parts_prefix(hash);
        let mut listed: Vec<(u64, Listed)> = self
            .list(&prefix)
            .await?
            .into_iter()
            .filter_map(|piece| Some((piece.key.strip_prefix(&prefix)?.parse().ok()?, piece)))
            .collect();
        listed.sort_by_key(|(offset, _)| *offset);
        let mut length = 0;
        let mut run = Vec::new();
        for (offset, piece) in listed {
            if offset != length {
                break;
            }
            length += piece.size;
            run.push(piece);
        }
        Ok((run, length))
    }

    async fn read_pieces(&self, hash: &BlobHash) -> Result<Vec<u8>> {
        let (run, length) = self.pieces(hash).await?;
        let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        for piece in run {
            match self.get(&piece.key).await? {
                Some(data) => bytes.extend_from_slice(&data),
                // Discarded meanwhile by another instance: what is left is not the upload.
                None => return Err(StoreError::NotFound(format!("upload piece {}", piece.key))),
            }
        }
        Ok(bytes)
    }

    async fn delete_pieces(&self, hash: &BlobHash) -> Result<()> {
        for piece in self.list(&Self::parts_prefix(hash)).await? {
            self.delete(&piece.key).await?;
        }
        Ok(())
    }
}

/// The text of each `<name>…</name>` element in `xml`, in order. S3 listings are flat
/// and regular; this is all the XML they need.
fn elements<'a>(xml: &'a str, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut rest = xml;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let end = start + rest[start..].find(&close)?;
        let found = &rest[start..end];
        rest = &rest[end + close.len()..];
        Some(found)
    })
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

impl BlobStore for S3BlobStore {
    fn state(&self, hash: &BlobHash) -> StoreFuture<'_, BlobState> {
        let hash = hash.clone();
        Box::pin(async move {
            if let Some(size) = self.head(&Self::final_key(&hash)).await? {
                return Ok(BlobState::Complete(size));
            }
            let (run, length) = self.pieces(&hash).await?;
            Ok(if run.is_empty() {
                BlobState::Absent
            } else {
                BlobState::Partial(length)
            })
        })
    }

    fn append_part(&self, hash: &BlobHash, offset: u64, data: Bytes) -> StoreFuture<'_, u64> {
        let hash = hash.clone();
        Box::pin(async move {
            let (_, held) = self.pieces(&hash).await?;
            if held != offset {
                return Err(StoreError::OffsetMismatch {
                    held,
                    asked: offset,
                });
            }
            let length = data.len() as u64;
            let key = format!("{}{}", Self::parts_prefix(&hash), piece_name(offset));
            self.put(&key, data).await?;
            Ok(offset + length)
        })
    }

    fn read_part(&self, hash: &BlobHash) -> StoreFuture<'_, Vec<u8>> {
        let hash = hash.clone();
        Box::pin(async move { self.read_pieces(&hash).await })
    }

    fn discard_part(&self, hash: &BlobHash) -> StoreFuture<'_, ()> {
        let hash = hash.clone();
        Box::pin(async move { self.delete_pieces(&hash).await })
    }

    fn promote_part(&self, hash: &BlobHash) -> StoreFuture<'_, ()> {
        let hash = hash.clone();
        Box::pin(async move {
            let bytes = self.read_pieces(&hash).await?;
            // One PUT is atomic: the photo is there whole or not at all.
            self.put(&Self::final_key(&hash), Bytes::from(bytes))
                .await?;
            self.delete_pieces(&hash).await
        })
    }

    fn stale_parts(&self, idle: std::time::Duration) -> StoreFuture<'_, Vec<BlobHash>> {
        Box::pin(async move {
            // An upload is as fresh as its newest piece.
            let mut newest = std::collections::BTreeMap::new();
            for piece in self.list("parts/").await? {
                let Some(hash) = piece.key.split('/').nth(1) else {
                    continue;
                };
                let Ok(hash) = BlobHash::parse(hash) else {
                    continue;
                };
                let entry = newest.entry(hash).or_insert(piece.last_modified);
                *entry = (*entry).max(piece.last_modified);
            }
            let idle = chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX);
            let now = chrono::Utc::now();
            Ok(newest
                .into_iter()
                .filter(|(_, at)| now - *at >= idle)
                .map(|(hash, _)| hash)
                .collect())
        })
    }

    fn read(&self, hash: &BlobHash) -> StoreFuture<'_, Option<Vec<u8>>> {
        let hash = hash.clone();
        Box::pin(async move {
            Ok(self
                .get(&Self::final_key(&hash))
                .await?
                .map(|bytes| bytes.to_vec()))
        })
    }
}
