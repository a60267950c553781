//! A simulated phone's line to the server: plain HTTP on the real listener, through the
//! core's sync client and photo uploader, the same code the phone runs.

use std::time::Duration;

use fieldloop_core::roles::Principal;
use fieldloop_core::store::Store;
use fieldloop_core::sync::client::SyncClient;
use fieldloop_core::sync::upload::{upload_pending, RetryPolicy};
use fieldloop_core::time::Millis;
use fieldloop_core::{Error, Result};

/// What one sync (photo upload plus document exchange) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncCounts {
    pub round_trips: u32,
    pub pushed: u32,
    pub received: u32,
    pub rejected: u32,
    pub photos_uploaded: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

pub struct Link {
    client: SyncClient,
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

fn http_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Sync(format!("{what}: {e}"))
}

impl Link {
    /// Logs in and registers the store's device; answers the logged-in principal.
    pub fn connect(
        base: &str,
        username: &str,
        password: &str,
        store: &Store,
    ) -> Result<(Link, Principal)> {
        let (client, info) = SyncClient::login(base, username, password)?;
        client.register_device(
            store.evidence_signer(),
            &format!("demo phone of {username}"),
        )?;
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| http_error("http client", e))?;
        Ok((
            Link {
                client,
                base: base.trim_end_matches('/').to_owned(),
                token: info.token.clone(),
                http,
            },
            info.principal(),
        ))
    }

    /// A JSON GET with the phone's token; `None` when the server has no such endpoint.
    pub fn get_json(&self, path: &str) -> Result<Option<serde_json::Value>> {
        let reply = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| http_error(path, e))?;
        if reply.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !reply.status().is_success() {
            return Err(Error::Sync(format!("GET {path}: HTTP {}", reply.status())));
        }
        reply.json().map(Some).map_err(|e| http_error(path, e))
    }

    /// Uploads the photos the store has not yet sent (so a verdict never waits for
    /// them), then exchanges documents.
    pub fn sync(&mut self, store: &mut Store, now: Millis) -> Result<SyncCounts> {
        let uploads = upload_pending(&self.client, store, &RetryPolicy::default())?;
        if let Some((hash, why)) = uploads.failed.first() {
            return Err(Error::Sync(format!("photo {hash} did not upload: {why}")));
        }
        let report = self.client.sync(store, now)?;
        Ok(SyncCounts {
            round_trips: report.round_trips,
            pushed: report.docs_pushed,
            received: report.docs_received,
            rejected: report.docs_rejected,
            photos_uploaded: uploads.uploaded,
            bytes_sent: report.bytes_sent + uploads.bytes_sent,
            bytes_received: report.bytes_received,
        })
    }
}
