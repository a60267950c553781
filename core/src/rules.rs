//! Change validation: whether a principal's update of a document is acceptable. The server
//! runs it on every change a device sends; the device runs it before it writes, so a
//! rejection is a backstop, not the normal path.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::doc::{Doc, DocKind, DocScope, Event, Snapshot};
use crate::error::Error;
use crate::roles::{decide_in, Decision, Principal, Role, Rule, ScopeCheck};

/// Why an update was refused, in words a person can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
}

impl Rejection {
    fn new(reason: impl Into<String>) -> Rejection {
        Rejection {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Error {
        Error::Forbidden(r.reason)
    }
}

/// The scope in force just before each event of `snapshot.events`, then the scope now
/// (one more entry than events), per document kind. A case's unit comes from its dispatch
/// events; the other kinds keep the header's scope.
pub fn scopes_along(snapshot: &Snapshot) -> Vec<DocScope> {
    match snapshot.header.kind {
        DocKind::Case => crate::case::scopes_along(snapshot),
        _ => vec![snapshot.header.scope.clone(); snapshot.events.len() + 1],
    }
}

/// Checks that going from `before` (none for a new document) to `after` is an update
/// `principal` may make: the header unchanged, no event removed or altered, every new
/// event allowed by `rules` for the principal where it lands and written in the principal's
/// own name, fields edited only by those [`field_edit_scope`] allows, evidence only added
/// and in the principal's name.
pub fn validate_update(
    principal: &Principal,
    before: Option<&Snapshot>,
    after: &Snapshot,
    rules: &[Rule],
) -> Result<(), Rejection> {
    match before {
        Some(before) => {
            if before.header != after.header {
                return Err(Rejection::new("the header may not change"));
            }
        }
        None => {
            let h = &after.header;
            if h.created_by != principal.user_id || h.created_role != principal.role {
                return Err(Rejection::new(format!(
                    "a new document must be created by its sender: header says {} ({:?}), sender is {} ({:?})",
                    h.created_by, h.created_role, principal.user_id, principal.role
                )));
            }
            if after.events.is_empty() {
                return Err(Rejection::new("a new document needs its first event"));
            }
        }
    }

    let mut seen = HashSet::with_capacity(after.events.len());
    for event in &after.events {
        if !seen.insert(event.id) {
            return Err(Rejection::new(format!(
                "event {} appears twice with different contents",
                event.id
            )));
        }
    }

    let empty = Vec::new();
    let old_events = before.map_or(&empty, |b| &b.events);
    let by_id: BTreeMap<_, &Event> = after.events.iter().map(|e| (e.id, e)).collect();
    for old in old_events {
        match by_id.get(&old.id) {
            None => {
                return Err(Rejection::new(format!(
                    "event {} ({}) was removed",
                    old.id, old.kind
                )))
            }
            Some(new) if *new != old => {
                return Err(Rejection::new(format!(
                    "event {} ({}) was altered",
                    old.id, old.kind
                )))
            }
            Some(_) => {}
        }
    }
    let old_ids: HashSet<_> = old_events.iter().map(|e| e.id).collect();

    let scopes = scopes_along(after);
    let mut notice = None;
    for (event, scope) in after.events.iter().zip(&scopes) {
        if old_ids.contains(&event.id) {
            continue;
        }
        if event.by != principal.user_id {
            return Err(Rejection::new(format!(
                "event {} ({}) claims to be by {}, but was sent by {}",
                event.id, event.kind, event.by, principal.user_id
            )));
        }
        if event.role != principal.role {
            return Err(Rejection::new(format!(
                "event {} ({}) claims role {}, but the sender is {}",
                event.id, event.kind, event.role, principal.role
            )));
        }
        if let Decision::Denied(reason) = decide_in(rules, principal, &event.kind, scope) {
            return Err(Rejection::new(reason));
        }
        if after.header.kind == DocKind::Notice {
            notice_party_check(after, event, &mut notice)?;
        }
    }

    let scope_now = scopes.last().unwrap_or(&after.header.scope);
    if let Some(before) = before {
        check_field_edits(principal, before, after, scope_now)?;
    }

    let no_evidence = BTreeMap::new();
    let old_evidence = before.map_or(&no_evidence, |b| &b.evidence);
    for (hash, old) in old_evidence {
        match after.evidence.get(hash) {
            None => return Err(Rejection::new(format!("evidence {hash} was removed"))),
            Some(new) if new != old => {
                return Err(Rejection::new(format!("evidence {hash} was changed")))
            }
            Some(_) => {}
        }
    }
    // A photo is judged against every place the case has been: a handler's after-photo
    // taken offline stays acceptable even if the case was returned to dispatch meanwhile
    // (the fold then ignores the handling; the photo is only a reference).
    let case_scopes = (after.header.kind == DocKind::Case).then_some(&scopes);
    for (hash, evidence) in &after.evidence {
        if old_evidence.contains_key(hash) {
            continue;
        }
        if evidence.by != principal.user_id {
            return Err(Rejection::new(format!(
                "evidence {hash} claims to be by {}, but was sent by {}",
                evidence.by, principal.user_id
            )));
        }
        if let Some(case_scopes) = &case_scopes {
            let Some(check) = crate::case::evidence_scope(evidence.stage, principal.role) else {
                return Err(Rejection::new(format!(
                    "a {} may not add {:?} photos to a case",
                    principal.role, evidence.stage
                )));
            };
            if !case_scopes
                .iter()
                .any(|scope| principal.jurisdiction.covers(check, scope))
            {
                return Err(Rejection::new(format!(
                    "{:?} photo {hash}: the case is outside {}'s jurisdiction",
                    evidence.stage, principal.user_id
                )));
            }
        }
    }
    Ok(())
}

/// A notice's contractor events come from the contractor it names: the permission table
/// only knows "a contractor of the project". `notice` caches the fold across events.
fn notice_party_check(
    after: &Snapshot,
    event: &Event,
    notice: &mut Option<Option<crate::notice::NoticeState>>,
) -> Result<(), Rejection> {
    use crate::notice::{NOTICE_ITEM_REPLIED, NOTICE_SIGNED};
    if event.kind != NOTICE_SIGNED && event.kind != NOTICE_ITEM_REPLIED {
        return Ok(());
    }
    let state = notice.get_or_insert_with(|| crate::notice::fold_notice(after).ok());
    if let Some(state) = state {
        let what = if event.kind == NOTICE_SIGNED {
            "签收"
        } else {
            "回复"
        };
        crate::notice::named_contractor_acts(state, &event.by, what).map_err(Rejection::new)?;
    }
    Ok(())
}

/// Who may change a document's editable fields (description, address) after it was
/// created, and where they must be entitled to act: its creator anywhere (correcting their
/// own report), a dispatcher within their grid (registration tidies reports), an admin.
/// Fields are never removed.
pub fn field_edit_scope(role: Role) -> Option<ScopeCheck> {
    match role {
        Role::Dispatcher => Some(ScopeCheck::GridCell),
        Role::Admin | Role::Server => Some(ScopeCheck::Anywhere),
        _ => None,
    }
}

fn check_field_edits(
    principal: &Principal,
    before: &Snapshot,
    after: &Snapshot,
    scope_now: &DocScope,
) -> Result<(), Rejection> {
    // Picking one of two concurrent values may leave the winner as it was: the conflict's
    // end is an edit too.
    if before.fields == after.fields && before.conflicts == after.conflicts {
        return Ok(());
    }
    if let Some(gone) = before
        .fields
        .keys()
        .find(|k| !after.fields.contains_key(*k))
    {
        return Err(Rejection::new(format!("field {gone} was removed")));
    }
    if after.header.created_by == principal.user_id {
        return Ok(());
    }
    let edited: Vec<&str> = after
        .fields
        .iter()
        .filter(|(k, v)| {
            before.fields.get(*k) != Some(*v) || before.conflicts.get(*k) != after.conflicts.get(*k)
        })
        .map(|(k, _)| k.as_str())
        .collect();
    match field_edit_scope(principal.role) {
        Some(check) if principal.jurisdiction.covers(check, scope_now) => Ok(()),
        Some(_) => Err(Rejection::new(format!(
            "editing {}: the document is outside {}'s jurisdiction",
            edited.join(", "),
            principal.user_id
        ))),
        None => Err(Rejection::new(format!(
            "a {} may not edit {} of a document they did not create",
            principal.role,
            edited.join(", ")
        ))),
    }
}

/// [`validate_update`] on documents, comparing the stored header byte for byte first, so
/// even a change that parses to the same header is refused. Accepted, it hands back the
/// snapshot of `after` it read, for the caller's projections.
pub fn validate_doc_update(
    principal: &Principal,
    before: Option<&Doc>,
    after: &Doc,
    rules: &[Rule],
) -> Result<Snapshot, Rejection> {
    validate_doc_update_pair(principal, before, after, rules).map(|pair| pair.after)
}

/// Both folds [`validate_doc_update_pair`] read, so a caller that also needs the state
/// before the update does not fold the document again.
#[derive(Debug)]
pub struct SnapshotPair {
    pub before: Option<Snapshot>,
    pub after: Snapshot,
}

/// [`validate_doc_update`], handing back the snapshot of `before` as well.
pub fn validate_doc_update_pair(
    principal: &Principal,
    before: Option<&Doc>,
    after: &Doc,
    rules: &[Rule],
) -> Result<SnapshotPair, Rejection> {
    let unreadable = |e: Error| Rejection::new(format!("unreadable document: {e}"));
    let before_snapshot = match before {
        Some(before) => {
            let old = before.raw_header().map_err(unreadable)?;
            let new = after.raw_header().map_err(unreadable)?;
            if old != new {
                return Err(Rejection::new("the header may not change"));
            }
            Some(before.snapshot().map_err(unreadable)?)
        }
        None => None,
    };
    let after_snapshot = after.snapshot().map_err(unreadable)?;
    validate_update(principal, before_snapshot.as_ref(), &after_snapshot, rules)?;
    Ok(SnapshotPair {
        before: before_snapshot,
        after: after_snapshot,
    })
}
