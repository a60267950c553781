//! A whole document as a phone receives it (a full update, a server copy in a
//! rejection): loaded, read into a snapshot, folded, listed.
#![no_main]

use fieldloop_core::doc::{actor_for, Doc};
use libfuzzer_sys::fuzz_target;

#[path = "shared/contained.rs"]
mod contained;

fuzz_target!(init: contained::let_automerge_panics_reach_the_guard(), |bytes: &[u8]| {
    let Ok(doc) = Doc::load(bytes, &actor_for(&uuid::Uuid::nil())) else {
        return;
    };
    if let Ok(snapshot) = doc.snapshot() {
        let _ = fieldloop_core::case::fold(&snapshot);
        let _ = fieldloop_core::sync::client::listing_for(&doc);
    }
});
