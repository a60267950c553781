//! The clause library (water works / drainage site inspections) and the checklist it
//! gives for one construction stage.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const BUNDLED: &str = include_str!("../../data/clauses.json");

/// The app's one severity scale (一般 / 较重 / 严重); each clause keeps its source's own
/// grade beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Severity {
    /// 一般
    General,
    /// 较重
    Serious,
    /// 严重
    Major,
}

impl Severity {
    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::General => "一般",
            Severity::Serious => "较重",
            Severity::Major => "严重",
        }
    }
}

/// A construction stage the checklist is organised by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Stage {
    /// `excavation`, `backfill`, … (stored as the site inspection's header category).
    pub key: String,
    pub name: String,
    pub name_en: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Clause {
    /// `WW-09`: stable, used as checklist and notice item id.
    pub id: String,
    pub stage: String,
    pub stage_name: String,
    /// Item number in the reference list.
    pub no: u32,
    /// The item in zh-CN, as the supervisor and the contractor read it on a checklist and
    /// a notice.
    pub text: String,
    /// The same item in English (the reference list's wording).
    #[serde(default)]
    pub text_en: String,
    /// The source's own grade (JGJ 59 保证项目 −10, 重大事故隐患, …).
    pub source_grade: String,
    pub severity: Severity,
    /// When the app grade depends on circumstances (“污染河道时为较重”), in zh-CN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_note: Option<String>,
    /// The same note in English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_note_en: Option<String>,
    /// Source ids of the reference list (W5, W9, *cp* …).
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LibraryFile {
    #[allow(dead_code)]
    source: String,
    stages: Vec<Stage>,
    clauses: Vec<Clause>,
}

/// Reference data: read-only on the device, versioned by the server.
#[derive(Debug, Clone)]
pub struct ClauseLibrary {
    stages: Vec<Stage>,
    clauses: Vec<Clause>,
}

impl ClauseLibrary {
    /// The library shipped in `core/data/clauses.json` (78 clauses, 11 stages).
    pub fn bundled() -> Result<ClauseLibrary> {
        ClauseLibrary::from_json(BUNDLED)
    }

    pub fn from_json(text: &str) -> Result<ClauseLibrary> {
        let file: LibraryFile = serde_json::from_str(text)
            .map_err(|e| Error::invalid("clause library", e.to_string()))?;
        let mut ids = std::collections::BTreeSet::new();
        for clause in &file.clauses {
            if !ids.insert(clause.id.as_str()) {
                return Err(Error::invalid(
                    "clause library",
                    format!("clause {} given twice", clause.id),
                ));
            }
            // Checklists and notices show `text` to Chinese field workers: a library
            // without it (or English only) is refused rather than shown.
            if !has_cjk(&clause.text) {
                return Err(Error::invalid(
                    "clause library",
                    format!("clause {} has no Chinese text", clause.id),
                ));
            }
            if !file.stages.iter().any(|s| s.key == clause.stage) {
                return Err(Error::invalid(
                    "clause library",
                    format!("clause {} has unknown stage {}", clause.id, clause.stage),
                ));
            }
        }
        Ok(ClauseLibrary {
            stages: file.stages,
            clauses: file.clauses,
        })
    }

    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    pub fn clause(&self, id: &str) -> Option<&Clause> {
        self.clauses.iter().find(|c| c.id == id)
    }

    /// The clauses of one stage, in list order; an unknown stage is an error.
    pub fn for_stage(&self, stage: &str) -> Result<Vec<&Clause>> {
        if !self.stages.iter().any(|s| s.key == stage) {
            return Err(Error::NotFound(format!("inspection stage {stage}")));
        }
        Ok(self.clauses.iter().filter(|c| c.stage == stage).collect())
    }

    /// A fresh, unanswered checklist for `stage`.
    pub fn checklist(&self, stage: &str) -> Result<Checklist> {
        Ok(Checklist {
            stage: stage.to_string(),
            items: self
                .for_stage(stage)?
                .into_iter()
                .map(|c| ChecklistItem {
                    clause_id: c.id.clone(),
                    text: c.text.clone(),
                    text_en: c.text_en.clone(),
                    severity: c.severity,
                    answer: None,
                    note: None,
                    photo: None,
                })
                .collect(),
        })
    }
}

/// True when `text` holds at least one CJK ideograph (the unified block and extension A).
fn has_cjk(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Answer {
    Pass,
    Fail,
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ChecklistItem {
    pub clause_id: String,
    /// The clause in zh-CN.
    pub text: String,
    /// The clause in English.
    #[serde(default)]
    pub text_en: String,
    pub severity: Severity,
    pub answer: Option<Answer>,
    pub note: Option<String>,
    /// Content hash of the photo taken for this item.
    pub photo: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Checklist {
    pub stage: String,
    pub items: Vec<ChecklistItem>,
}

impl Checklist {
    pub fn unanswered(&self) -> usize {
        self.items.iter().filter(|i| i.answer.is_none()).count()
    }

    pub fn failed(&self) -> impl Iterator<Item = &ChecklistItem> {
        self.items.iter().filter(|i| i.answer == Some(Answer::Fail))
    }
}
