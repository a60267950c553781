//! The heads a device holds after its push, without rebuilding its copy.
//!
//! A device pushes the changes it made since the heads it shared (automerge's
//! `save_after`). Its heads afterwards are those shared heads and its new changes, less
//! every hash one of the new changes depends on. Working this out by forking the server's
//! document at the shared heads and applying the push was a fifteenth of a sync's CPU in
//! the load benchmark's profile; reading the pushed changes' hashes and dependencies is a
//! parse of their headers.

use std::collections::{BTreeSet, HashSet};

use automerge::{Change, ChangeHash};

/// Automerge's chunk magic bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHANGE_CHUNK: u8 = 1;
const COMPRESSED_CHANGE_CHUNK: u8 = 2;

/// The pushed changes, chunk by chunk; `None` when `bytes` hold anything but whole change
/// chunks (a document chunk, a torn chunk), for the caller to take the long way.
pub fn pushed_changes(bytes: &[u8]) -> Option<Vec<Change>> {
    let mut rest = bytes;
    let mut changes = Vec::new();
    while !rest.is_empty() {
        // magic (4), checksum (4), chunk type (1), body length (unsigned LEB128), body
        if rest.len() < 9 || rest[..4] != MAGIC {
            return None;
        }
        let chunk_type = rest[8];
        if chunk_type != CHANGE_CHUNK && chunk_type != COMPRESSED_CHANGE_CHUNK {
            return None;
        }
        let (body_len, len_bytes) = read_uleb128(&rest[9..])?;
        let end = 9usize
            .checked_add(len_bytes)?
            .checked_add(usize::try_from(body_len).ok()?)?;
        if end > rest.len() {
            return None;
        }
        changes.push(Change::from_bytes(rest[..end].to_vec()).ok()?);
        rest = &rest[end..];
    }
    Some(changes)
}

fn read_uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The device's heads after pushing `changes` on top of `shared`, when every pushed
/// change is new to the server (`known` says which the server already held): then none of
/// them can be an ancestor of a shared head, and the heads are the shared heads and the
/// pushed hashes less everything a pushed change depends on. `None` otherwise.
pub fn heads_after_push(
    shared: &[ChangeHash],
    changes: &[Change],
    known: impl Fn(&ChangeHash) -> bool,
) -> Option<Vec<ChangeHash>> {
    if changes.iter().any(|c| known(&c.hash())) {
        return None;
    }
    let depended: HashSet<ChangeHash> = changes
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .collect();
    let heads: BTreeSet<ChangeHash> = shared
        .iter()
        .copied()
        .chain(changes.iter().map(Change::hash))
        .filter(|h| !depended.contains(h))
        .collect();
    Some(heads.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    fn edit(doc: &mut AutoCommit, value: &str) {
        doc.put(ROOT, "description", value).unwrap();
        doc.commit();
    }

    /// What forking at the shared heads and applying the push gives: the reference.
    fn heads_by_fork(
        server: &mut AutoCommit,
        shared: &[ChangeHash],
        bytes: &[u8],
    ) -> Vec<ChangeHash> {
        let mut fork = server.fork_at(shared).unwrap();
        fork.load_incremental(bytes).unwrap();
        let mut heads = fork.get_heads();
        heads.sort();
        heads
    }

    #[test]
    fn heads_match_a_fork_for_a_push_on_shared_heads_while_the_server_moved_on() {
        let mut device = AutoCommit::new();
        edit(&mut device, "reported");
        let mut server = device.fork();
        let shared = device.get_heads();
        // The server has someone else's change the device lacks.
        edit(&mut server, "dispatched elsewhere");
        edit(&mut device, "first");
        edit(&mut device, "second");
        let bytes = device.save_after(&shared);
        let changes = pushed_changes(&bytes).expect("plain change chunks");
        assert_eq!(changes.len(), 2);
        let before: HashSet<ChangeHash> =
            server.get_changes(&[]).iter().map(Change::hash).collect();
        let heads = heads_after_push(&shared, &changes, |h| before.contains(h)).unwrap();
        assert_eq!(heads, heads_by_fork(&mut server, &shared, &bytes));
        let mut device_heads = device.get_heads();
        device_heads.sort();
        assert_eq!(heads, device_heads);
    }

    #[test]
    fn a_first_push_of_a_whole_history_ends_at_its_latest_changes() {
        let mut device = AutoCommit::new();
        edit(&mut device, "a");
        let mut other = device.fork();
        edit(&mut device, "b");
        edit(&mut other, "c");
        device.merge(&mut other).unwrap();
        let bytes = device.save_after(&[]);
        let changes = pushed_changes(&bytes).unwrap();
        let heads = heads_after_push(&[], &changes, |_| false).unwrap();
        let mut expected = device.get_heads();
        expected.sort();
        assert_eq!(heads.len(), 2);
        assert_eq!(heads, expected);
    }

    #[test]
    fn a_repeated_change_or_anything_but_change_chunks_takes_the_long_way() {
        let mut device = AutoCommit::new();
        edit(&mut device, "a");
        let bytes = device.save_after(&[]);
        let changes = pushed_changes(&bytes).unwrap();
        assert!(heads_after_push(&[], &changes, |_| true).is_none());
        assert!(pushed_changes(&device.save()).is_none(), "a document chunk");
        assert!(pushed_changes(&bytes[..bytes.len() - 1]).is_none(), "torn");
        assert!(pushed_changes(b"not automerge at all").is_none());
        assert_eq!(pushed_changes(&[]).map(|c| c.len()), Some(0));
    }
}
