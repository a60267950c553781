//! A capture reported as saved survives the process being killed right after: a child
//! process captures case after case and prints each one once `Store::capture` returned;
//! the test SIGKILLs it mid-stream and reopens the store.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fieldloop_core::store::Store;
use uuid::Uuid;

const REPORTED_BEFORE_KILL: usize = 5;

#[test]
fn captures_survive_sigkill_right_after_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldloop-capture-child"))
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the capture child");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut reported = Vec::new();
    while reported.len() < REPORTED_BEFORE_KILL {
        let line = lines
            .next()
            .expect("the child ended early")
            .expect("read the child's output");
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some("captured"), "{line}");
        let id = Uuid::parse_str(parts.next().unwrap()).unwrap();
        let hash = parts.next().unwrap().to_string();
        reported.push((id, hash));
    }
    // No pause: the child is already in its next capture when this lands.
    child.kill().expect("SIGKILL the child");
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the child died of SIGKILL: {status:?}"
    );

    let store = Store::open_existing(&path).unwrap();
    store.check_integrity().unwrap();
    let outbox: Vec<Uuid> = store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|e| e.doc_id)
        .collect();
    for (id, hash) in &reported {
        let snapshot = store.load_doc(*id).unwrap().snapshot().unwrap();
        assert_eq!(snapshot.header.id, *id);
        assert_eq!(snapshot.events.len(), 1);
        assert_eq!(snapshot.events[0].kind, "case.reported");
        assert!(snapshot.evidence.contains_key(hash));
        assert!(
            store.listing(*id).unwrap().is_some(),
            "listing saved with the capture"
        );
        assert!(outbox.contains(id), "queued for the server");
        let photo = store.read_photo(hash).unwrap();
        assert_eq!(photo.len(), 120 * 1024);
        assert!(store.blob(hash).unwrap().is_some_and(|b| !b.uploaded));
    }
    // A capture cut short is entirely absent, never half there: every stored document
    // has its listing and its photo.
    let count = store.doc_count().unwrap() as usize;
    assert!(count >= REPORTED_BEFORE_KILL);
    let listed = store.list_open_tasks(10_000).unwrap();
    assert_eq!(listed.len(), count);
    for task in listed {
        let snapshot = store.load_doc(task.id).unwrap().snapshot().unwrap();
        for hash in snapshot.evidence.keys() {
            store.read_photo(hash).unwrap();
        }
    }
}
