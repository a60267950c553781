//! Log in, register this device, log out, who am I. The token is kept beside the store
//! (the app's private directory) so a restarted app stays logged in.

use std::path::Path;

use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::sync::client::SyncClient;
use fieldloop_core::Error;
use serde::{Deserialize, Serialize};

use crate::error::{poisoned, FieldError, Result};
use crate::phone::FieldPhone;

const SESSION_FILE: &str = "session.json";

/// What the phone keeps of a login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionFile {
    pub username: String,
    pub token: String,
    pub expires_at: i64,
    pub principal: Principal,
}

impl SessionFile {
    pub fn load(dir: &Path) -> Result<Option<SessionFile>> {
        match std::fs::read(dir.join(SESSION_FILE)) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(Error::from)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::from(e).into()),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(format!("{SESSION_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(self).map_err(Error::from)?)
            .map_err(Error::from)?;
        std::fs::rename(&tmp, dir.join(SESSION_FILE)).map_err(Error::from)?;
        Ok(())
    }

    fn remove(dir: &Path) -> Result<()> {
        match std::fs::remove_file(dir.join(SESSION_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::from(e).into()),
            _ => Ok(()),
        }
    }
}

/// Who is logged in on this phone.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Me {
    pub username: String,
    pub user_id: String,
    pub role: Role,
    pub jurisdiction: Jurisdiction,
    /// The responsible unit of a handler (the first of the jurisdiction's units).
    pub unit: Option<String>,
}

/// What a login answers.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Session {
    pub me: Me,
    pub expires_at: i64,
}

fn me_of(session: &SessionFile) -> Me {
    Me {
        username: session.username.clone(),
        user_id: session.principal.user_id.clone(),
        role: session.principal.role,
        jurisdiction: session.principal.jurisdiction.clone(),
        unit: session.principal.jurisdiction.units.first().cloned(),
    }
}

impl FieldPhone {
    /// A client for the server with the session's token.
    pub(crate) fn client(&self) -> Result<SyncClient> {
        let guard = self.session.lock().map_err(poisoned)?;
        let session = guard.as_ref().ok_or_else(|| FieldError::Unauthorized {
            reason: "请先登录".into(),
        })?;
        Ok(SyncClient::new(&self.server_url, &session.token)?)
    }
}

#[uniffi::export]
impl FieldPhone {
    /// Logs in (blocking: one HTTP round trip; call it off the UI thread). The store
    /// remembers who is logged in, so later work is checked against their role offline.
    pub fn login(&self, username: String, password: String) -> Result<Session> {
        if username.trim().is_empty() {
            return Err(FieldError::InvalidInput {
                field: "username".into(),
                reason: "用户名为空".into(),
            });
        }
        let (client, info) = SyncClient::login(&self.server_url, &username, &password)?;
        let session = SessionFile {
            username,
            token: info.token.clone(),
            expires_at: info.expires_at,
            principal: info.principal(),
        };
        self.write(|store| Ok(store.set_principal(Some(&session.principal))?))?;
        session.save(self.dir())?;
        *self.session.lock().map_err(poisoned)? = Some(session.clone());
        self.fetch_reference(&client)?;
        Ok(Session {
            me: me_of(&session),
            expires_at: session.expires_at,
        })
    }

    /// Binds this device to the logged-in person on the server (blocking).
    pub fn register_device(&self, name: String) -> Result<()> {
        let client = self.client()?;
        let signer = self.write(|s| Ok(s.evidence_signer().clone()))?;
        Ok(client.register_device(&signer, &name)?)
    }

    /// Revokes the token on the server when it can be reached, and forgets it here.
    /// Unsynced work stays in the store for the next login.
    pub fn logout(&self) -> Result<()> {
        if let Ok(client) = self.client() {
            match client.logout() {
                Ok(()) => {}
                // Offline or already revoked: forgetting it here is what matters.
                Err(Error::Sync(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        SessionFile::remove(self.dir())?;
        *self.session.lock().map_err(poisoned)? = None;
        self.write(|store| Ok(store.set_principal(None)?))
    }

    /// The logged-in person, offline; none when nobody is.
    pub fn who_am_i(&self) -> Result<Option<Me>> {
        Ok(self.session.lock().map_err(poisoned)?.as_ref().map(me_of))
    }
}
