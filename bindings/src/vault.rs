//! The platform's key store, implemented by the apps (Android Keystore, iOS Keychain) and
//! handed to [`crate::FieldPhone::open_with_vault`]: the device's evidence signing key is
//! kept in the store only sealed by it. Core knows it as [`KeySealer`].

use std::sync::Arc;

use fieldloop_core::store::KeySealer;

/// Why the key store could not seal or open: raised by the app's vault, never returned to
/// the app (core reports it as [`crate::FieldError::DeviceKeyUnavailable`]).
#[derive(Debug, Clone, thiserror::Error, uniffi::Error)]
pub enum VaultError {
    /// The key store failed (no key, locked, wrong key, damaged data); `reason` says how.
    #[error("{reason}")]
    Failed { reason: String },
}

/// An exception the vault did not declare (a Kotlin `RuntimeException`, …) arrives here
/// instead of aborting the call.
impl From<uniffi::UnexpectedUniFFICallbackError> for VaultError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        VaultError::Failed { reason: e.reason }
    }
}

/// Seals and opens the device's 32-byte signing secret with a key the platform keeps
/// outside the app's files. `unseal(seal(x))` must give `x` back on this device, across app
/// restarts; nothing else about the sealed bytes is assumed.
// `unseal`, not `open`: the apps' calls are checked against the bindings by method name
// (bindings/tests/check_app_calls.py), and `FieldPhone.open` is taken.
#[uniffi::export(with_foreign)]
pub trait KeyVault: Send + Sync {
    fn seal(&self, secret: Vec<u8>) -> Result<Vec<u8>, VaultError>;
    fn unseal(&self, sealed: Vec<u8>) -> Result<Vec<u8>, VaultError>;
}

/// The app's vault as core's sealer.
pub(crate) struct VaultSealer(pub Arc<dyn KeyVault>);

impl KeySealer for VaultSealer {
    fn seal(&self, secret: &[u8]) -> Result<Vec<u8>, String> {
        self.0.seal(secret.to_vec()).map_err(|e| e.to_string())
    }

    fn unseal(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        self.0.unseal(sealed.to_vec()).map_err(|e| e.to_string())
    }
}
