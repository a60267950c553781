//! A phone as the apps hold it: the FFI object (`fieldloop_ffi::FieldPhone`) on its own
//! store directory, with a clock the test moves, against the test server.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use fieldloop_core::time::Millis;
use fieldloop_ffi::{FieldPhone, PhoneClock, SyncResult};
use fieldloop_tests::{password_of, TestServer};

/// The phone's clock, shared with the test.
#[derive(Clone)]
pub(crate) struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub(crate) fn at(t: Millis) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(t)))
    }

    pub(crate) fn set(&self, t: Millis) {
        self.0.store(t, Ordering::SeqCst);
    }
}

impl PhoneClock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Opens the phone object on `dir` (as the app does at every start).
pub(crate) fn open(base: &str, dir: &Path, clock: &TestClock) -> Arc<FieldPhone> {
    FieldPhone::open_with_clock(
        dir.to_str().expect("utf-8 path").to_owned(),
        base.to_owned(),
        Box::new(clock.clone()),
    )
    .expect("the phone opens")
}

/// Opens, logs in as `username` and registers the device.
pub(crate) fn logged_in(
    server: &TestServer,
    dir: &Path,
    username: &str,
    clock: &TestClock,
) -> Arc<FieldPhone> {
    let phone = open(&server.base, dir, clock);
    phone
        .login(username.to_owned(), password_of(username))
        .expect("login");
    phone
        .register_device(format!("{username}'s phone"))
        .expect("device registers");
    phone
}

/// `syncNow()` as the app's background work calls it.
pub(crate) fn sync(server: &TestServer, phone: &Arc<FieldPhone>) -> SyncResult {
    server
        .runtime()
        .block_on(phone.clone().sync_now())
        .expect("sync")
}
