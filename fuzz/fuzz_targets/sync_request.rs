//! The server's sync request path up to the rules: the body decoder (zstd + postcard),
//! then each push's automerge changes loaded onto an empty document, its header read
//! and its fold computed, as `judge_push` does before it validates.
#![no_main]

use fieldloop_core::doc::{actor_for, Doc};
use fieldloop_core::sync::wire::{self, SyncRequest};
use libfuzzer_sys::fuzz_target;

#[path = "shared/contained.rs"]
mod contained;

fuzz_target!(init: contained::let_automerge_panics_reach_the_guard(), |body: &[u8]| {
    let Ok(request) = wire::decode::<SyncRequest>(body) else {
        return;
    };
    let actor = actor_for(&uuid::Uuid::nil());
    for push in request.pushes.iter().take(8) {
        let mut doc = Doc::empty(&actor);
        if doc.load_pushed_changes(&push.changes).is_err() {
            continue;
        }
        let _ = doc.missing_deps(&[]);
        if let Ok(snapshot) = doc.snapshot() {
            let _ = fieldloop_core::case::fold(&snapshot);
        }
    }
});
