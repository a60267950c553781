//! The test data that lives beside the checkout (`../shared/photos`, real camera photos),
//! and the one rule for when it is missing:
//!
//! - under CI (`CI` set to anything but `false`/`0`/empty) a test that needs it **fails**:
//!   a green run must not hide tests that did not run;
//! - locally the test is skipped, and says so where a person sees it: a line written
//!   straight to the terminal's stderr (not captured by the test harness, so it shows in
//!   a plain `cargo test`), and a line appended to the skip log that `scripts/test-all`
//!   prints as its `skipped:` summary at the end.
//!
//! The skip log is `$FIELDLOOP_SKIP_LOG`, else `test-skips.txt` in the target directory.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

/// Whether this run is CI's, where missing test data is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

/// `../shared/photos` beside the checkout (a worktree sits deeper, so every ancestor's
/// `shared/photos` is tried), or `$FIELDLOOP_PHOTOS`. `None` when absent; the caller
/// then calls [`missing`] (or uses [`photos_dir`], which does).
pub fn find_photos() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FIELDLOOP_PHOTOS").map(PathBuf::from) {
        return dir.is_dir().then_some(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared").join("photos"))
        .find(|dir| dir.is_dir())
}

/// The photos directory for `test`; when it is absent, [`missing`] decides: a failure
/// under CI, a recorded skip (and `None`) locally.
pub fn photos_dir(test: &str) -> Option<PathBuf> {
    let found = find_photos();
    if found.is_none() {
        missing(
            test,
            "../shared/photos not found (set FIELDLOOP_PHOTOS)",
            "skipped",
        );
    }
    found
}

/// Test data `what` is missing for `test`, which therefore `outcome`s ("skipped", "used
/// stand-in bytes"). Panics under CI; locally prints and records it.
pub fn missing(test: &str, what: &str, outcome: &str) {
    let line = format!("{test}: {outcome}: {what}");
    if in_ci() {
        panic!("{line}; CI=true, so missing test data is a failure");
    }
    // Straight to the stream, past the harness's capture of print!/eprint!.
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Some(log) = skip_log() {
        if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// `$FIELDLOOP_SKIP_LOG`, else `<target>/test-skips.txt` (the test binary runs from
/// `<target>/<profile>/deps/`).
pub fn skip_log() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FIELDLOOP_SKIP_LOG") {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.ancestors().nth(3)?.join("test-skips.txt"))
}

#[cfg(test)]
mod tests {
    //! Each case runs this test binary again as a child with its own environment, so no
    //! test changes the environment of another running in parallel.
    use std::process::Command;

    const CHILD: &str = "FIELDLOOP_TESTDATA_CHILD";

    /// In a child run: asks for photos in a directory that does not exist.
    #[test]
    fn child_asks_for_missing_photos() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        assert_eq!(super::photos_dir("child_asks_for_missing_photos"), None);
    }

    fn run_child(ci: Option<&str>, log: &std::path::Path) -> std::process::Output {
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args(["--exact", "tests::child_asks_for_missing_photos"])
            .env(CHILD, "1")
            .env("FIELDLOOP_PHOTOS", log.with_extension("no-such-dir"))
            .env("FIELDLOOP_SKIP_LOG", log)
            .env_remove("CI");
        if let Some(ci) = ci {
            command.env("CI", ci);
        }
        command.output().expect("child runs")
    }

    fn temp_log(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "fieldloop-testdata-{}-{name}.txt",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn missing_photos_fail_the_test_under_ci() {
        let log = temp_log("ci");
        let out = run_child(Some("true"), &log);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "CI=true must fail: {stdout}");
        assert!(
            stdout.contains("missing test data is a failure"),
            "{stdout}"
        );
        assert!(!log.exists(), "a failure is not also a skip");
    }

    #[test]
    fn missing_photos_are_a_recorded_skip_locally() {
        let log = temp_log("local");
        for ci in [None, Some("false")] {
            let out = run_child(ci, &log);
            assert!(out.status.success(), "{out:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("child_asks_for_missing_photos: skipped: ../shared/photos"),
                "the skip shows without --nocapture: {stderr}"
            );
        }
        let recorded = std::fs::read_to_string(&log).expect("skip log written");
        assert_eq!(recorded.lines().count(), 2, "{recorded}");
        let _ = std::fs::remove_file(&log);
    }
}
