//! A simulated phone's line to the server: plain HTTP on the real listener, the way the
//! app talks to it. Login and device registration are JSON calls; sync and photo upload
//! go through the core's sync client, the same one the phone uses.

use std::time::Duration;

use fieldloop_core::roles::Principal;
use fieldloop_core::store::Store;
use fieldloop_core::time::Millis;
use fieldloop_core::{Error, Result};
use serde::Deserialize;
use serde_json::json;

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

#[derive(Debug, Deserialize)]
struct LoginReply {
    token: String,
    user_id: String,
    role: fieldloop_core::roles::Role,
    jurisdiction: fieldloop_core::roles::Jurisdiction,
}

pub struct Link {
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
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| http_error("http client", e))?;
        let reply = http
            .post(format!("{base}/v1/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .map_err(|e| http_error("login", e))?;
        if !reply.status().is_success() {
            return Err(Error::Sync(format!(
                "login as {username}: HTTP {}",
                reply.status()
            )));
        }
        let login: LoginReply = reply.json().map_err(|e| http_error("login reply", e))?;
        let link = Link {
            base: base.to_owned(),
            token: login.token,
            http,
        };
        let device = link
            .http
            .post(format!("{}/v1/devices", link.base))
            .bearer_auth(&link.token)
            .json(&json!({
                "device_id": store.device_id().to_string(),
                "name": format!("demo phone of {username}"),
            }))
            .send()
            .map_err(|e| http_error("device registration", e))?;
        if !device.status().is_success() {
            return Err(Error::Sync(format!(
                "device registration for {username}: HTTP {}",
                device.status()
            )));
        }
        let principal = Principal {
            user_id: login.user_id,
            role: login.role,
            jurisdiction: login.jurisdiction,
        };
        Ok((link, principal))
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

    /// Uploads the photos the store has not yet sent, then exchanges documents.
    pub fn sync(&mut self, store: &mut Store, now: Millis) -> Result<SyncCounts> {
        let _ = (store, now, &self.token);
        Err(Error::Sync(
            "the core sync client (branch `sync`) is not merged into this build yet".into(),
        ))
    }
}
