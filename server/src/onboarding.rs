//! A city's own deployment from nothing: `fieldloop-server init` makes the data directory
//! and its first admin; `fieldloop-server import` loads reference files into it (the same
//! service `PUT /v1/reference/{kind}` calls). No demo user, no demo city.

use std::path::Path;
use std::sync::Arc;

use fieldloop_core::reference::ReferenceKind;
use fieldloop_core::roles::{Jurisdiction, Principal, Role};

use crate::auth::{create_user, NewUser};
use crate::clock::SystemClock;
use crate::error::{Result, ServerError};
use crate::reference::{self, ImportError, Imported};
use crate::state::{AppState, Config};
use crate::storage::open::Location;
use crate::storage::UserRecord;

/// Where `init` reads the first admin's password when it is set (scripts, CI); otherwise
/// it asks on the terminal.
pub const ADMIN_PASSWORD_VAR: &str = "FIELDLOOP_ADMIN_PASSWORD";

async fn open(location: &Location) -> Result<AppState> {
    let state = AppState::open(location, Arc::new(SystemClock), Config::default()).await?;
    reference::refresh(&state).await?;
    Ok(state)
}

/// Creates the deployment at `location` (or opens an empty one) and its first admin,
/// with a jurisdiction over everything. Refuses when that admin exists already.
pub async fn init(location: &Location, admin: &str, password: String) -> Result<UserRecord> {
    let state = open(location).await?;
    if state.users.user_by_name(admin).await?.is_some() {
        return Err(ServerError::conflict(
            "already_initialised",
            format!("{admin} exists already in {}", location.describe()),
        ));
    }
    create_user(
        &state,
        NewUser {
            username: admin.to_owned(),
            password,
            role: Role::Admin,
            jurisdiction: Jurisdiction {
                everywhere: true,
                ..Jurisdiction::default()
            },
        },
    )
    .await
}

/// Who imports from the command line: whoever may open the data directory is its admin.
pub fn command_line_admin() -> Principal {
    Principal {
        user_id: "command-line".to_owned(),
        role: Role::Admin,
        jurisdiction: Jurisdiction {
            everywhere: true,
            ..Jurisdiction::default()
        },
    }
}

/// Imports one file as `kind` into the deployment at `location`.
pub async fn import_file(
    location: &Location,
    kind: &str,
    file: &Path,
) -> Result<Imported, ImportError> {
    let Some(kind) = ReferenceKind::parse(kind) else {
        let known: Vec<&str> = ReferenceKind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(ServerError::bad_request(
            "unknown_kind",
            format!("no reference kind {kind:?}; one of {}", known.join(", ")),
        )
        .into());
    };
    let bytes = std::fs::read(file).map_err(ServerError::from)?;
    let state = open(location).await?;
    reference::import(&state, &command_line_admin(), kind, &bytes).await
}

/// The admin password: from [`ADMIN_PASSWORD_VAR`], else asked twice on the terminal
/// without echo. Never logged or printed.
pub fn admin_password() -> std::io::Result<String> {
    if let Ok(password) = std::env::var(ADMIN_PASSWORD_VAR) {
        return Ok(password);
    }
    let first = read_hidden("新管理员密码 (admin password): ")?;
    let second = read_hidden("再输入一次 (again): ")?;
    if first != second {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "两次输入的密码不一致 (the passwords differ)",
        ));
    }
    Ok(first)
}

fn read_hidden(prompt: &str) -> std::io::Result<String> {
    use std::io::{BufRead, Write};
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let echo = EchoOff::new();
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo);
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Terminal echo off while alive (a no-op when stdin is not a terminal).
struct EchoOff {
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl EchoOff {
    #[cfg(unix)]
    fn new() -> EchoOff {
        // SAFETY: tcgetattr/tcsetattr on stdin with a termios we own; failure (stdin not a
        // terminal) leaves it untouched.
        unsafe {
            let mut term: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut term) != 0 {
                return EchoOff { saved: None };
            }
            let saved = term;
            term.c_lflag &= !libc::ECHO;
            term.c_lflag |= libc::ECHONL;
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &term);
            EchoOff { saved: Some(saved) }
        }
    }

    #[cfg(not(unix))]
    fn new() -> EchoOff {
        EchoOff {}
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.saved {
            // SAFETY: restores the settings read in `new`.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved);
            }
        }
    }
}
