//! The server's word on this phone's work: each document's latest verdict with every
//! check and its reason, and the changes the server refused (quarantine), which the
//! person discards or sends again.

use fieldloop_core::case::Check;
use fieldloop_core::doc::DocKind;
use fieldloop_core::notice::fold_notice;
use fieldloop_core::{case, patrol};

use crate::error::{FieldError, Result};
use crate::phone::{save_in, FieldPhone};

/// A verdict of the server (case, notice or patrol).
#[derive(Debug, Clone, uniffi::Record)]
pub struct VerdictView {
    pub doc_id: String,
    pub kind: DocKind,
    pub passed: bool,
    /// Every check with its reason (cases); notices and patrols give reasons only.
    pub checks: Vec<Check>,
    pub reasons: Vec<String>,
    pub at: Option<i64>,
}

/// A change of this phone the server refused, kept until the person decides.
#[derive(Debug, Clone, uniffi::Record)]
pub struct QuarantinedChange {
    pub id: i64,
    pub doc_id: String,
    pub reason: String,
    pub at: i64,
}

#[uniffi::export]
impl FieldPhone {
    /// The latest server verdict on a document; none before the server judged it.
    pub fn latest_verdict(&self, doc_id: String) -> Result<Option<VerdictView>> {
        let snapshot = self.load_doc(&doc_id)?.snapshot()?;
        let kind = snapshot.header.kind;
        let view = match kind {
            DocKind::Case => {
                let state = case::fold(&snapshot);
                state.last_verdict.map(|v| VerdictView {
                    doc_id: doc_id.clone(),
                    kind,
                    passed: v.passed(),
                    reasons: v
                        .checks
                        .iter()
                        .filter(|c| !c.passed)
                        .map(|c| format!("{}: {}", c.name, c.reason))
                        .collect(),
                    checks: v.checks,
                    at: state.verdict_at,
                })
            }
            DocKind::Notice => fold_notice(&snapshot)?.verdict.map(|v| VerdictView {
                doc_id: doc_id.clone(),
                kind,
                passed: v.passed,
                checks: Vec::new(),
                reasons: v.reasons,
                at: None,
            }),
            DocKind::Patrol => patrol::fold(&snapshot).verdict.map(|v| VerdictView {
                doc_id: doc_id.clone(),
                kind,
                passed: v.valid,
                checks: Vec::new(),
                reasons: v.reasons,
                at: None,
            }),
            DocKind::SiteInspection | DocKind::PatrolPlan => None,
        };
        Ok(view)
    }

    /// Changes the server refused, with its reason.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedChange>> {
        Ok(self
            .read(|r| Ok(r.quarantined()?))?
            .into_iter()
            .map(|q| QuarantinedChange {
                id: q.id,
                doc_id: q.doc_id.to_string(),
                reason: q.reason,
                at: q.at,
            })
            .collect())
    }

    /// Drops a refused change for good (the person has seen it).
    pub fn discard_quarantined(&self, id: i64) -> Result<()> {
        let now = self.now();
        self.write(|s| Ok(s.dismiss_quarantined(id, now)?))
    }

    /// Puts a refused change back on its document, to be sent with the next sync (after
    /// the person fixed what the server objected to, e.g. their role or jurisdiction).
    pub fn retry_quarantined(&self, id: i64) -> Result<()> {
        let now = self.now();
        self.write(|store| {
            let entry = store
                .quarantined()?
                .into_iter()
                .find(|q| q.id == id)
                .ok_or_else(|| FieldError::NotFound {
                    what: format!("quarantined change {id}"),
                })?;
            let mut doc = store.load_doc(entry.doc_id)?;
            doc.load_changes(&entry.change)?;
            save_in(store, &mut doc, &[])?;
            Ok(store.dismiss_quarantined(id, now)?)
        })
    }
}
