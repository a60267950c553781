//! Dispatch by the responsibility matrix (category × area → unit).
//!
//! A rule names a category (a full key "20102", a prefix ending in `*` such as "201*" for
//! a 大类, or "*" for any) and an area, a prefix of the 15-digit grid cell code (6 digits
//! a district, 9 a street, 12 a community, 15 one cell; empty = the whole city).
//!
//! **Most specific wins**: the longest matching area prefix first (the street's own
//! sanitation team beats the district's), then the most specific category (a full key
//! beats a 大类 prefix, which beats "*"). Two rules equally specific for the same pair
//! would make dispatch ambiguous, so loading refuses them.

use serde::{Deserialize, Serialize};

use crate::case::events::Dispatched;
use crate::case::{CaseEvent, CaseState, CaseStatus};
use crate::catalogue::parse_category_key;
use crate::error::{Error, Result};

/// The starter matrix for the demo city (Beijing 朝阳区).
pub const BUILTIN_MATRIX_JSON: &str = include_str!("../../data/responsibility.json");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ResponsibilityRule {
    /// "20102", "201*" or "*".
    pub category: String,
    /// Grid-code prefix, 0–15 digits.
    pub area: String,
    pub unit: String,
}

impl ResponsibilityRule {
    /// (area digits, category specificity), larger is more specific.
    fn specificity(&self) -> (usize, usize) {
        let category = match self.category.strip_suffix('*') {
            Some(prefix) => prefix.len(),
            // A full key outranks every prefix.
            None => usize::MAX,
        };
        (self.area.len(), category)
    }

    fn matches(&self, category_key: &str, grid_cell: &str) -> bool {
        let category = match self.category.strip_suffix('*') {
            Some(prefix) => category_key.starts_with(prefix),
            None => category_key == self.category,
        };
        category && grid_cell.starts_with(&self.area)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponsibilityMatrix {
    pub version: String,
    pub rules: Vec<ResponsibilityRule>,
}

impl ResponsibilityMatrix {
    pub fn builtin() -> Result<ResponsibilityMatrix> {
        ResponsibilityMatrix::from_json(BUILTIN_MATRIX_JSON)
    }

    pub fn from_json(json: &str) -> Result<ResponsibilityMatrix> {
        let matrix: ResponsibilityMatrix = serde_json::from_str(json)
            .map_err(|e| Error::invalid("responsibility matrix", e.to_string()))?;
        matrix.validate()?;
        Ok(matrix)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::invalid("responsibility matrix", reason));
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.unit.trim().is_empty() {
                return bad(format!("rule {i} names no unit"));
            }
            if rule.area.len() > 15 || !rule.area.bytes().all(|b| b.is_ascii_digit()) {
                return bad(format!(
                    "rule {i}: area {:?} is not a grid-code prefix",
                    rule.area
                ));
            }
            match rule.category.strip_suffix('*') {
                Some(prefix) => {
                    if prefix.len() > 4 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                        return bad(format!(
                            "rule {i}: category pattern {:?} is not a key prefix",
                            rule.category
                        ));
                    }
                }
                None => {
                    if let Err(e) = parse_category_key(&rule.category) {
                        return bad(format!("rule {i}: {e}"));
                    }
                }
            }
            if let Some(j) = self.rules[..i]
                .iter()
                .position(|r| r.category == rule.category && r.area == rule.area)
            {
                return bad(format!(
                    "rules {j} and {i} both cover category {} in area {:?}",
                    rule.category, rule.area
                ));
            }
        }
        Ok(())
    }
}

/// The unit responsible for `category_key` in `grid_cell`, by the most specific rule;
/// none when no rule covers it (the dispatcher decides by hand).
pub fn dispatch_unit<'m>(
    matrix: &'m ResponsibilityMatrix,
    category_key: &str,
    grid_cell: &str,
) -> Option<&'m str> {
    matrix
        .rules
        .iter()
        .filter(|r| r.matches(category_key, grid_cell))
        .max_by_key(|r| r.specificity())
        .map(|r| r.unit.as_str())
}

/// The dispatch the server writes for a freshly registered case (立案 → 派遣), none when
/// the case is not waiting for its first unit or the matrix has no rule for it.
pub fn auto_dispatch(
    state: &CaseState,
    grid_cell: &str,
    matrix: &ResponsibilityMatrix,
) -> Option<CaseEvent> {
    // A case returned to dispatch came back because the matrix's unit was wrong: a
    // dispatcher decides it by hand.
    if state.status != CaseStatus::Registered || state.returns > 0 {
        return None;
    }
    // A possible duplicate waits for the dispatcher to merge or keep it.
    if !state.duplicate_candidates.is_empty() {
        return None;
    }
    let category = state.category.as_deref()?;
    let unit = dispatch_unit(matrix, category, grid_cell)?;
    Some(CaseEvent::Dispatched(Dispatched {
        unit: unit.to_string(),
        note: Some(format!("责任矩阵 {category} × {grid_cell}")),
    }))
}
