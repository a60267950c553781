//! Password guessing is slowed per account name: after a run of failed logins the name is
//! refused for a while, whatever password comes. The count lives in memory (a restart
//! forgets it, which costs a guesser one more run, not the account).

use std::collections::HashMap;
use std::sync::Mutex;

use fieldloop_core::time::{Millis, MINUTE};

/// Failed logins in a row before an account name is locked.
pub const MAX_FAILURES: u32 = 5;
/// How long the lock lasts, counted from the failure that set it.
pub const LOCK_FOR: Millis = 15 * MINUTE;
/// Names kept before forgotten ones are swept (unknown names count too, so that a locked
/// answer does not tell which accounts exist).
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Millis,
}

#[derive(Debug, Default)]
pub struct LoginThrottle(Mutex<HashMap<String, Failures>>);

impl LoginThrottle {
    /// When the name may try again, if it is locked at `now`.
    pub fn locked_until(&self, username: &str, now: Millis) -> Option<Millis> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let f = map.get(username)?;
        let until = f.last.saturating_add(LOCK_FOR);
        (f.count >= MAX_FAILURES && now < until).then_some(until)
    }

    pub fn failed(&self, username: &str, now: Millis) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(username) {
            map.retain(|_, f| now < f.last.saturating_add(LOCK_FOR));
        }
        let entry = map.entry(username.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
        });
        // A run that ended a lock ago starts over.
        if now >= entry.last.saturating_add(LOCK_FOR) {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
    }

    pub fn succeeded(&self, username: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(username);
    }
}
