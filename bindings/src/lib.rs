//! The FFI surface: the only crate that knows UniFFI.
uniffi::setup_scaffolding!();

/// The version of the core the app is running, so the app can show it in its about screen.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
