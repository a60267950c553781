//! The end-to-end tests in one binary: real server on loopback, devices with their own stores.

mod backup;
mod referee;
mod sync;
mod upload;
