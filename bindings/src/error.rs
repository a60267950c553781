//! The one public error of the FFI, and the one place core's error is mapped to it.

use fieldloop_core::{Error, PhotoProblem};

/// What went wrong, typed so the app can react (log in again, show the field, retake the
/// photo); `reason` is readable text for the person.
#[derive(Debug, Clone, thiserror::Error, uniffi::Error)]
pub enum FieldError {
    /// No network or no server: the work stays queued; try again later.
    #[error("离线: {reason}")]
    Offline { reason: String },
    /// Not logged in, or the token was revoked or expired: log in again.
    #[error("需要重新登录: {reason}")]
    Unauthorized { reason: String },
    /// The permission table (the phone's or the server's) said no.
    #[error("无权操作: {reason}")]
    Forbidden { reason: String },
    /// Input that breaks the rules; `field` names it ("category", "position", …).
    #[error("输入无效 ({field}): {reason}")]
    InvalidInput { field: String, reason: String },
    /// A photo that cannot be read, decoded or taken (format, size).
    #[error("照片无法使用: {reason}")]
    PhotoUnreadable {
        problem: PhotoProblem,
        reason: String,
    },
    #[error("未找到: {what}")]
    NotFound { what: String },
    /// The server answered but refused (a status other than 401/403).
    #[error("服务器拒绝: {reason}")]
    Server { reason: String },
    /// The device store failed (disk full, damaged file) or was closed.
    #[error("存储错误: {reason}")]
    Storage { reason: String },
    /// The device's signing key, sealed by the system key store (Android Keystore, iOS
    /// Keychain), cannot be opened: the store was left as it was. Not a reason to reinstall
    /// (that makes a new device); the key store may be locked or changed.
    #[error("设备签名密钥不可用，系统密钥库无法解开: {reason}")]
    DeviceKeyUnavailable { reason: String },
    /// The work was cancelled through its handle; what was saved stays saved.
    #[error("已取消")]
    Cancelled,
}

pub type Result<T, E = FieldError> = std::result::Result<T, E>;

/// The one mapping point from core's error.
impl From<Error> for FieldError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { what, reason } => FieldError::InvalidInput {
                field: what.to_owned(),
                reason,
            },
            Error::Forbidden(reason) => FieldError::Forbidden { reason },
            Error::NotFound(what) => FieldError::NotFound { what },
            Error::Photo { problem, detail } => FieldError::PhotoUnreadable {
                problem,
                reason: detail,
            },
            Error::Sync(text) => sync_error(text),
            Error::DeviceKeyUnavailable(reason) => FieldError::DeviceKeyUnavailable { reason },
            Error::Automerge(e) => FieldError::Storage {
                reason: format!("document: {e}"),
            },
            Error::Sqlite(e) => FieldError::Storage {
                reason: e.to_string(),
            },
            Error::Io(e) => FieldError::Storage {
                reason: e.to_string(),
            },
            Error::Json(e) => FieldError::Storage {
                reason: format!("encoding: {e}"),
            },
        }
    }
}

/// The sync client words its errors "network: …" or "<HTTP status> <code>: <reason>".
fn sync_error(text: String) -> FieldError {
    if text.starts_with("network") {
        FieldError::Offline { reason: text }
    } else if text.starts_with("401") {
        FieldError::Unauthorized { reason: text }
    } else if text.starts_with("403") {
        FieldError::Forbidden { reason: text }
    } else {
        FieldError::Server { reason: text }
    }
}

/// A lock whose holder panicked: the store behind it may be mid-write, so report it
/// rather than carry on.
pub(crate) fn poisoned<T>(_: std::sync::PoisonError<T>) -> FieldError {
    FieldError::Storage {
        reason: "an earlier call failed while writing; open the store again".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_errors_are_told_apart_by_the_clients_wording() {
        assert!(matches!(
            FieldError::from(Error::Sync("network: connection refused".into())),
            FieldError::Offline { .. }
        ));
        assert!(matches!(
            FieldError::from(Error::Sync(
                "401 Unauthorized bad_credentials: wrong password".into()
            )),
            FieldError::Unauthorized { .. }
        ));
        assert!(matches!(
            FieldError::from(Error::Sync("403 Forbidden forbidden: not yours".into())),
            FieldError::Forbidden { .. }
        ));
        assert!(matches!(
            FieldError::from(Error::Sync(
                "429 Too Many Requests too_many_attempts: x".into()
            )),
            FieldError::Server { .. }
        ));
        assert!(matches!(
            FieldError::from(Error::DeviceKeyUnavailable("sealed".into())),
            FieldError::DeviceKeyUnavailable { .. }
        ));
        match FieldError::from(Error::invalid("category", "unknown 99999")) {
            FieldError::InvalidInput { field, .. } => assert_eq!(field, "category"),
            other => panic!("{other:?}"),
        }
    }
}
