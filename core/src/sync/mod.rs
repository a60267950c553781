//! Sync between a device and the server: the wire format and the device's client.

pub mod client;
pub mod upload;
pub mod wire;
