//! The 部件/事件 category catalogue: codes, time limits per urgency, closure radius and the
//! usual responsible unit type. Reference data, server-authored and read-only on the device;
//! the starter set lives in `core/data/categories.json` with its sources.
//!
//! Codes: 大类 + 小类 are two digits each ("0101"). 部件 and 事件 reuse the same numbers, so a
//! category is named by its kind and its code; as one string (a case header's `category`)
//! it is the kind digit 1 = 部件 / 2 = 事件 followed by the code, as Beijing's lists write it:
//! "10101" is 上水井盖, "20101" is 私搭乱建.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sla::TimeLimit;

/// The built-in starter catalogue.
pub const BUILTIN_JSON: &str = include_str!("../../data/categories.json");

/// 部件 (a piece of city furniture) or 事件 (something happening).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum CaseKind {
    Component,
    Event,
}

impl CaseKind {
    fn digit(self) -> char {
        match self {
            CaseKind::Component => '1',
            CaseKind::Event => '2',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Urgency {
    #[default]
    Normal,
    Urgent,
}

/// One step of a time limit; most categories have one ("处置"), 私搭乱建 has three.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LimitStep {
    pub step: String,
    #[serde(flatten)]
    pub limit: TimeLimit,
}

/// The limit for one urgency. `default` says no source gave it: a deployment must set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StepLimits {
    pub steps: Vec<LimitStep>,
    #[serde(default)]
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Limits {
    pub normal: StepLimits,
    pub urgent: StepLimits,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Category {
    pub kind: CaseKind,
    /// 大类 + 小类, four digits.
    pub code: String,
    /// 大类 name.
    pub major: String,
    /// 小类 name.
    pub name: String,
    /// GB/T 47678.5-2026 code (5 digits), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gb47678: Option<String>,
    pub limits: Limits,
    /// How far after/verification photos may be from the case position.
    pub radius_m: f64,
    pub unit_type: String,
    /// When a new case of this category is a possible duplicate (疑似重复) of an open one.
    #[serde(default = "DuplicateRule::fallback")]
    pub duplicates: DuplicateRule,
    /// Where code and limits come from (S-numbers of the reference file), or "default".
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Category {
    /// The one-string form used in case headers: kind digit + code.
    pub fn key(&self) -> String {
        format!("{}{}", self.kind.digit(), self.code)
    }

    /// The checks a catalogue applies to each entry (code, limits, radius, name), so an
    /// import can name the entry that fails.
    pub fn validate(&self) -> Result<()> {
        validate_category(self)
    }

    pub fn limits_for(&self, urgency: Urgency) -> &StepLimits {
        match urgency {
            Urgency::Normal => &self.limits.normal,
            Urgency::Urgent => &self.limits.urgent,
        }
    }
}

/// An open case of the same category reported within `window_hours` before a new one and
/// within `radius_m` of it is suggested to the dispatcher as the case the new one may
/// duplicate; the phone warns before submitting on the same rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DuplicateRule {
    pub radius_m: f64,
    pub window_hours: u32,
    /// No source gave the figures: a deployment should set its own.
    #[serde(default)]
    pub default: bool,
}

impl DuplicateRule {
    /// For a catalogue entry that names no rule: 50 m and three days.
    pub fn fallback() -> DuplicateRule {
        DuplicateRule {
            radius_m: 50.0,
            window_hours: 72,
            default: true,
        }
    }

    pub fn window_ms(&self) -> crate::time::Millis {
        i64::from(self.window_hours) * crate::time::HOUR
    }
}

#[derive(Debug, Clone, Deserialize)]
struct CatalogueFile {
    version: String,
    categories: Vec<Category>,
}

/// A loaded, validated catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    version: String,
    by_key: BTreeMap<(CaseKind, String), Category>,
}

impl Catalogue {
    /// The starter catalogue compiled into the crate.
    pub fn builtin() -> Result<Catalogue> {
        Catalogue::from_json(BUILTIN_JSON)
    }

    /// Parses and validates a catalogue file (as the server publishes it).
    pub fn from_json(json: &str) -> Result<Catalogue> {
        let file: CatalogueFile = serde_json::from_str(json)
            .map_err(|e| Error::invalid("category catalogue", e.to_string()))?;
        let mut by_key = BTreeMap::new();
        for category in file.categories {
            validate_category(&category)?;
            let key = (category.kind, category.code.clone());
            if by_key.contains_key(&key) {
                return Err(Error::invalid(
                    "category catalogue",
                    format!("{} appears twice", category.key()),
                ));
            }
            by_key.insert(key, category);
        }
        Ok(Catalogue {
            version: file.version,
            by_key,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Category> {
        self.by_key.values()
    }

    /// Looks a category up by kind and 4-digit code.
    pub fn get(&self, kind: CaseKind, code: &str) -> Result<&Category> {
        validate_category_code(code)?;
        self.by_key
            .get(&(kind, code.to_string()))
            .ok_or_else(|| Error::NotFound(format!("category {}{code}", kind.digit())))
    }

    /// Looks a category up by its one-string key ("20101").
    pub fn get_by_key(&self, key: &str) -> Result<&Category> {
        let (kind, code) = parse_category_key(key)?;
        self.get(kind, code)
    }
}

fn validate_category(category: &Category) -> Result<()> {
    let key = format!("{}{}", category.kind.digit(), category.code);
    validate_category_code(&category.code)?;
    if let Some(gb) = &category.gb47678 {
        if gb.len() != 5 || !all_digits(gb) {
            return Err(Error::invalid(
                "category catalogue",
                format!("{key}: GB/T 47678.5 code {gb:?} is not 5 digits"),
            ));
        }
    }
    for (urgency, limits) in [
        ("normal", &category.limits.normal),
        ("urgent", &category.limits.urgent),
    ] {
        if limits.steps.is_empty() {
            return Err(Error::invalid(
                "category catalogue",
                format!("{key}: no {urgency} time limit"),
            ));
        }
        if let Some(step) = limits.steps.iter().find(|s| s.limit.amount == 0) {
            return Err(Error::invalid(
                "category catalogue",
                format!("{key}: {urgency} step {} has a zero limit", step.step),
            ));
        }
    }
    // A radius beyond a kilometre would make the place check meaningless.
    if !(category.radius_m.is_finite() && category.radius_m > 0.0 && category.radius_m <= 1000.0) {
        return Err(Error::invalid(
            "category catalogue",
            format!("{key}: radius {} m out of range", category.radius_m),
        ));
    }
    let dup = &category.duplicates;
    // Beyond a kilometre or a year every case of a busy category would look like a duplicate.
    if !(dup.radius_m.is_finite() && dup.radius_m > 0.0 && dup.radius_m <= 1000.0) {
        return Err(Error::invalid(
            "category catalogue",
            format!(
                "{key}: duplicate radius {} m out of range (0–1000 m)",
                dup.radius_m
            ),
        ));
    }
    if dup.window_hours == 0 || dup.window_hours > 24 * 366 {
        return Err(Error::invalid(
            "category catalogue",
            format!(
                "{key}: duplicate window {} h out of range (1 h – 1 year)",
                dup.window_hours
            ),
        ));
    }
    if category.name.trim().is_empty() {
        return Err(Error::invalid(
            "category catalogue",
            format!("{key}: no name"),
        ));
    }
    Ok(())
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// 大类 and 小类 of a 4-digit code ("0101" → (1, 1)); neither may be 00.
pub fn validate_category_code(code: &str) -> Result<(u8, u8)> {
    if code.len() != 4 || !all_digits(code) {
        return Err(Error::invalid(
            "category code",
            format!("{code:?} is not 4 digits (大类 2 + 小类 2)"),
        ));
    }
    let major: u8 = code[..2]
        .parse()
        .map_err(|_| Error::invalid("category code", code))?;
    let minor: u8 = code[2..]
        .parse()
        .map_err(|_| Error::invalid("category code", code))?;
    if major == 0 || minor == 0 {
        return Err(Error::invalid(
            "category code",
            format!("{code}: 大类 and 小类 start at 01"),
        ));
    }
    Ok((major, minor))
}

/// Splits a header's category key ("20101") into kind and 4-digit code.
pub fn parse_category_key(key: &str) -> Result<(CaseKind, &str)> {
    let kind = match key.as_bytes().first() {
        Some(b'1') => CaseKind::Component,
        Some(b'2') => CaseKind::Event,
        _ => {
            return Err(Error::invalid(
                "category key",
                format!("{key:?} does not start with 1 (部件) or 2 (事件)"),
            ))
        }
    };
    let code = &key[1..];
    validate_category_code(code)?;
    Ok((kind, code))
}

/// The parts of a 16-digit component ID (部件标识码): 6-digit administrative division,
/// 4-digit category code, 6-digit serial number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ComponentId {
    pub admin: String,
    pub category: String,
    pub serial: String,
}

pub fn parse_component_id(id: &str) -> Result<ComponentId> {
    if id.len() != 16 || !all_digits(id) {
        return Err(Error::invalid(
            "component id",
            format!("{id:?} is not 16 digits"),
        ));
    }
    validate_admin_code(&id[..6], "component id")?;
    validate_category_code(&id[6..10])
        .map_err(|e| Error::invalid("component id", format!("{id}: {e}")))?;
    Ok(ComponentId {
        admin: id[..6].to_string(),
        category: id[6..10].to_string(),
        serial: id[10..].to_string(),
    })
}

/// The parts of a 15-digit grid cell code (单元网格): 6 administrative division + 3 street +
/// 3 community + 3 cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GridCellCode {
    pub admin: String,
    pub street: String,
    pub community: String,
    pub cell: String,
}

pub fn parse_grid_cell(code: &str) -> Result<GridCellCode> {
    if code.len() != 15 || !all_digits(code) {
        return Err(Error::invalid(
            "grid cell",
            format!("{code:?} is not 15 digits"),
        ));
    }
    validate_admin_code(&code[..6], "grid cell")?;
    Ok(GridCellCode {
        admin: code[..6].to_string(),
        street: code[6..9].to_string(),
        community: code[9..12].to_string(),
        cell: code[12..].to_string(),
    })
}

// GB/T 2260 province codes run from 11 (Beijing) to 82 (Macao).
fn validate_admin_code(admin: &str, what: &'static str) -> Result<()> {
    let province: u8 = admin[..2]
        .parse()
        .map_err(|_| Error::invalid(what, format!("{admin}: not digits")))?;
    if !(11..=82).contains(&province) {
        return Err(Error::invalid(
            what,
            format!("{admin}: {province:02} is not a province code (11-82)"),
        ));
    }
    Ok(())
}
