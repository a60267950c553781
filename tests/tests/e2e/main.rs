//! The end-to-end tests in one binary: real server on loopback, devices with their own stores.

mod control;
mod notices;
mod referee;
mod reference;
mod stalls;
mod sync;
mod upload;
