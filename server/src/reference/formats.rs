//! Import formats: a file as a city has it (GeoJSON, CSV, JSON) turned into the kind's
//! canonical JSON, every problem found at once, each with the line, feature or entry it
//! is at, an English code and a Chinese reason.

use std::collections::{BTreeMap, BTreeSet};

use fieldloop_core::catalogue::{parse_category_key, parse_grid_cell, Category};
use fieldloop_core::geo::LatLon;
use fieldloop_core::notice::ClauseLibrary;
use fieldloop_core::plan::{ChiefLevel, Segment, WarningLevel};
use fieldloop_core::reference::{
    calendar_over_bundled, grid_index, Cell, CityReference, Project, River, Unit,
};
use fieldloop_core::schedule::{ResponsibilityMatrix, ResponsibilityRule};
use fieldloop_core::sla::{Calendar, WorkingHours};
use fieldloop_core::verify::VerifyThresholds;
use serde::Serialize;
use serde_json::Value;

/// Where in the file a problem is: a CSV line (1 = the header), a GeoJSON feature or a
/// JSON entry (both counted from 1), a named field of a JSON object, or the file as a
/// whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Line(usize),
    Feature(usize),
    Entry(usize),
    Field(&'static str),
    File,
}

impl Place {
    fn prefix_zh(self) -> String {
        match self {
            Place::Line(n) => format!("第{n}行："),
            Place::Feature(n) => format!("第{n}个要素："),
            Place::Entry(n) => format!("第{n}条："),
            // The field's name already starts the reason.
            Place::Field(_) | Place::File => String::new(),
        }
    }
}

/// One problem of an import; as JSON `{"line": 3, "code": …, "reason": …}` (or
/// `feature`, `entry`, `field`, or none of them for the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: Place,
    pub code: &'static str,
    /// Chinese, with the place in front.
    pub reason: String,
}

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self.at {
            Place::Line(n) => map.serialize_entry("line", &n)?,
            Place::Feature(n) => map.serialize_entry("feature", &n)?,
            Place::Entry(n) => map.serialize_entry("entry", &n)?,
            Place::Field(name) => map.serialize_entry("field", name)?,
            Place::File => {}
        }
        map.serialize_entry("code", self.code)?;
        map.serialize_entry("reason", &self.reason)?;
        map.end()
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, at: Place, code: &'static str, reason: impl std::fmt::Display) {
        self.0.push(Problem {
            at,
            code,
            reason: format!("{}{reason}", at.prefix_zh()),
        });
    }

    fn finish(self, canonical: impl FnOnce() -> Result<String, Problems>) -> Outcome {
        if self.0.is_empty() {
            canonical().map_err(|p| p.0)
        } else {
            Err(self.0)
        }
    }
}

/// The canonical JSON to store, or every problem found.
pub type Outcome = Result<String, Vec<Problem>>;

fn to_json<T: Serialize>(value: &T) -> Result<String, Problems> {
    serde_json::to_string(value).map_err(|e| {
        let mut p = Problems::default();
        p.add(Place::File, "encode", format!("无法编码：{e}"));
        p
    })
}

fn whole(code: &'static str, reason: impl std::fmt::Display) -> Vec<Problem> {
    let mut p = Problems::default();
    p.add(Place::File, code, reason);
    p.0
}

fn utf8(bytes: &[u8]) -> Result<&str, Vec<Problem>> {
    std::str::from_utf8(bytes).map_err(|e| {
        whole(
            "not_utf8",
            format!("文件不是 UTF-8 编码（第{}字节）", e.valid_up_to() + 1),
        )
    })
}

fn json_of(text: &str) -> Result<Value, Vec<Problem>> {
    serde_json::from_str(text).map_err(|e| {
        let mut p = Problems::default();
        p.add(
            Place::Line(e.line()),
            "bad_json",
            format!("不是有效的 JSON（第{}列）：{e}", e.column()),
        );
        p.0
    })
}

fn lat_lon(value: &Value) -> Option<LatLon> {
    let pair = value.as_array()?;
    if pair.len() < 2 {
        return None;
    }
    let (lon, lat) = (pair[0].as_f64()?, pair[1].as_f64()?);
    ((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat))
        .then_some(LatLon { lat, lon })
}

/// The features of a GeoJSON FeatureCollection.
fn features(text: &str) -> Result<Vec<Value>, Vec<Problem>> {
    let root = json_of(text)?;
    if root.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(whole(
            "not_geojson",
            "不是 GeoJSON 要素集合（FeatureCollection）",
        ));
    }
    match root.get("features").and_then(Value::as_array) {
        Some(list) => Ok(list.clone()),
        None => Err(whole("not_geojson", "缺少 features 数组")),
    }
}

fn text_property<'v>(feature: &'v Value, name: &str) -> Option<&'v str> {
    feature
        .get("properties")?
        .get(name)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A JSON entry in its typed shape, or a problem naming it.
fn typed_entry<T: serde::de::DeserializeOwned>(
    p: &mut Problems,
    at: Place,
    entry: &Value,
    code: &'static str,
) -> Option<T> {
    match T::deserialize(entry) {
        Ok(value) => Some(value),
        Err(e) => {
            p.add(at, code, format!("字段缺失或格式错误：{e}"));
            None
        }
    }
}

/// Grid cells: a GeoJSON FeatureCollection of Polygons with `code` (15 digits) and an
/// optional `name`.
pub fn grid(bytes: &[u8]) -> Outcome {
    let list = features(utf8(bytes)?)?;
    let mut p = Problems::default();
    let mut cells = Vec::with_capacity(list.len());
    let mut seen = BTreeSet::new();
    if list.is_empty() {
        p.add(Place::File, "empty", "没有任何网格");
    }
    for (i, feature) in list.iter().enumerate() {
        let at = Place::Feature(i + 1);
        let code = text_property(feature, "code")
            .unwrap_or_default()
            .to_owned();
        if let Err(e) = parse_grid_cell(&code) {
            p.add(
                at,
                "bad_cell_code",
                format!("网格编码 {code:?} 不是有效的15位编码（{e}）"),
            );
        } else if !seen.insert(code.clone()) {
            p.add(at, "duplicate_cell", format!("网格编码 {code} 重复"));
        }
        let geometry = feature.get("geometry");
        if geometry.and_then(|g| g.get("type")).and_then(Value::as_str) != Some("Polygon") {
            p.add(at, "not_polygon", "几何类型必须是 Polygon");
            continue;
        }
        let outer = geometry
            .and_then(|g| g.get("coordinates"))
            .and_then(|c| c.get(0))
            .and_then(Value::as_array);
        let ring: Option<Vec<LatLon>> = outer.and_then(|r| r.iter().map(lat_lon).collect());
        match ring {
            Some(mut ring) if ring.len() >= 3 => {
                if ring.len() > 3 && ring.first() == ring.last() {
                    ring.pop();
                }
                cells.push(Cell {
                    code,
                    name: text_property(feature, "name")
                        .unwrap_or_default()
                        .to_owned(),
                    ring,
                });
            }
            _ => p.add(
                at,
                "bad_ring",
                "外环坐标无效（至少3个 [经度, 纬度] 点，且在取值范围内）",
            ),
        }
    }
    p.finish(|| {
        if let Err(e) = grid_index(&cells) {
            let mut p = Problems::default();
            p.add(Place::File, "bad_grid", format!("网格无法建立索引：{e}"));
            return Err(p);
        }
        to_json(&cells)
    })
}

/// One CSV record per line (quoted fields with `""` escapes; no line breaks inside).
fn csv_fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field).trim().to_owned()),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("引号未闭合");
    }
    fields.push(field.trim().to_owned());
    Ok(fields)
}

/// CSV rows by line number, after checking the header names `columns` in order.
fn csv_rows(
    bytes: &[u8],
    columns: &[&str],
    p: &mut Problems,
) -> Result<Vec<(usize, Vec<String>)>, Vec<Problem>> {
    let text = utf8(bytes)?.trim_start_matches('\u{feff}');
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| csv_fields(l));
    let expected: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    if header != Some(Ok(expected)) {
        return Err(whole(
            "bad_header",
            format!("第1行表头必须是 {}", columns.join(",")),
        ));
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        match csv_fields(line) {
            Ok(fields) if fields.len() == columns.len() => rows.push((i + 1, fields)),
            Ok(fields) => p.add(
                Place::Line(i + 1),
                "bad_columns",
                format!("应有{}列，实有{}列", columns.len(), fields.len()),
            ),
            Err(reason) => p.add(Place::Line(i + 1), "bad_csv", reason),
        }
    }
    Ok(rows)
}

fn plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Units: CSV `id,name,handles`; a unit the stored matrix still dispatches to stays.
pub fn units(bytes: &[u8], current: &CityReference) -> Outcome {
    let mut p = Problems::default();
    let rows = csv_rows(bytes, &["id", "name", "handles"], &mut p)?;
    let mut seen = BTreeSet::new();
    let mut units = Vec::new();
    for (line, fields) in rows {
        let at = Place::Line(line);
        let [id, name, handles] = <[String; 3]>::try_from(fields).unwrap_or_default();
        if !plain_id(&id) {
            p.add(
                at,
                "bad_unit_id",
                format!("单位编号 {id:?} 只能用字母、数字和 - _ ."),
            );
        } else if !seen.insert(id.clone()) {
            p.add(at, "duplicate_unit", format!("单位编号 {id} 重复"));
        }
        if name.is_empty() {
            p.add(at, "no_name", "单位名称为空");
        }
        units.push(Unit { id, name, handles });
    }
    if units.is_empty() && p.0.is_empty() {
        p.add(Place::File, "empty", "没有任何单位");
    }
    let rules = current.matrix.iter().flat_map(|m| m.rules.iter());
    let in_use: BTreeSet<&str> = rules.map(|r| r.unit.as_str()).collect();
    for unit in in_use.into_iter().filter(|u| !seen.contains(*u)) {
        p.add(
            Place::File,
            "unit_in_use",
            format!("单位 {unit} 仍在责任矩阵中，请先导入不含它的责任矩阵"),
        );
    }
    p.finish(|| to_json(&units))
}

/// The responsibility matrix: CSV `category,area,unit`; every unit must be a known one.
pub fn matrix(bytes: &[u8], current: &CityReference) -> Outcome {
    let mut p = Problems::default();
    let rows = csv_rows(bytes, &["category", "area", "unit"], &mut p)?;
    let units: BTreeSet<&str> = current.units.iter().map(|u| u.id.as_str()).collect();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut rules = Vec::new();
    for (line, fields) in rows {
        let at = Place::Line(line);
        let [category, area, unit] = <[String; 3]>::try_from(fields).unwrap_or_default();
        let category_ok = match category.strip_suffix('*') {
            Some(prefix) => prefix.len() <= 4 && prefix.bytes().all(|b| b.is_ascii_digit()),
            None => parse_category_key(&category).is_ok(),
        };
        if !category_ok {
            p.add(
                at,
                "bad_category",
                format!("分类 {category:?} 应为5位分类键（如 20102）、前缀加 *（如 201*）或 *"),
            );
        }
        if area.len() > 15 || !area.bytes().all(|b| b.is_ascii_digit()) {
            p.add(
                at,
                "bad_area",
                format!("区域 {area:?} 应为网格编码的前缀（0至15位数字）"),
            );
        }
        if !units.contains(unit.as_str()) {
            p.add(
                at,
                "unknown_unit",
                format!("责任单位 {unit:?} 不在已导入的单位中"),
            );
        }
        if let Some(first) = seen.insert((category.clone(), area.clone()), line) {
            p.add(
                at,
                "ambiguous_rule",
                format!("分类 {category} 在区域 {area:?} 与第{first}行重复，派遣将无法确定"),
            );
        }
        rules.push(ResponsibilityRule {
            category,
            area,
            unit,
        });
    }
    if rules.is_empty() && p.0.is_empty() {
        p.add(Place::File, "empty", "没有任何规则");
    }
    p.finish(|| {
        // The reference version numbers the data; the label only names where it came from.
        let matrix = ResponsibilityMatrix {
            version: "city".to_owned(),
            rules,
        };
        if let Err(e) = matrix.validate() {
            let mut p = Problems::default();
            p.add(Place::File, "bad_matrix", format!("责任矩阵无效：{e}"));
            return Err(p);
        }
        to_json(&matrix)
    })
}

/// The category catalogue: JSON `{version, categories: [...]}` as `core/data/categories.json`,
/// each category with its 4-digit code and, where known, its 5-digit GB/T 47678.5 code.
pub fn categories(bytes: &[u8]) -> Outcome {
    let root = json_of(utf8(bytes)?)?;
    let mut p = Problems::default();
    if root.get("version").and_then(Value::as_str).is_none() {
        p.add(Place::File, "no_version", "缺少 version（分类目录版本）");
    }
    let Some(entries) = root.get("categories").and_then(Value::as_array) else {
        return Err(whole("no_categories", "缺少 categories 数组"));
    };
    let mut codes = BTreeMap::new();
    let mut new_codes = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = Place::Entry(i + 1);
        let Some(category) = typed_entry::<Category>(&mut p, at, entry, "bad_category") else {
            continue;
        };
        if let Err(e) = category.validate() {
            p.add(at, "bad_category", format!("{}：{e}", category.key()));
        }
        if let Some(first) = codes.insert(category.key(), i + 1) {
            p.add(
                at,
                "duplicate_category",
                format!("{} 与第{first}条重复", category.key()),
            );
        }
        if let Some(gb) = &category.gb47678 {
            if let Some(first) = new_codes.insert((category.kind, gb.clone()), i + 1) {
                p.add(
                    at,
                    "duplicate_gb47678",
                    format!("新国标编码 {gb} 与第{first}条重复：新旧编码应一一对应"),
                );
            }
        }
    }
    if entries.is_empty() {
        p.add(Place::File, "empty", "没有任何分类");
    }
    p.finish(|| to_json(&root))
}

fn chief_level(text: &str) -> Option<ChiefLevel> {
    Some(match text {
        "city" | "市级" => ChiefLevel::City,
        "district" | "区级" | "县级" => ChiefLevel::District,
        "town" | "镇街级" | "乡级" | "镇级" => ChiefLevel::Town,
        "village" | "村居级" | "村级" => ChiefLevel::Village,
        _ => return None,
    })
}

fn warning_level(text: &str) -> Option<WarningLevel> {
    Some(match text {
        "none" | "无" => WarningLevel::None,
        "yellow" | "黄" | "黄色" => WarningLevel::Yellow,
        "orange" | "橙" | "橙色" => WarningLevel::Orange,
        "red" | "红" | "红色" => WarningLevel::Red,
        _ => return None,
    })
}

/// River segments: a GeoJSON FeatureCollection of LineStrings with `id`, `name`, `river`,
/// `chief_level`, `warning` and `chiefs` (an array of usernames).
pub fn rivers(bytes: &[u8]) -> Outcome {
    let list = features(utf8(bytes)?)?;
    let mut p = Problems::default();
    let mut seen = BTreeSet::new();
    let mut rivers = Vec::new();
    for (i, feature) in list.iter().enumerate() {
        let at = Place::Feature(i + 1);
        let id = text_property(feature, "id").unwrap_or_default().to_owned();
        if !plain_id(&id) {
            p.add(
                at,
                "bad_segment_id",
                format!("河段编号 {id:?} 只能用字母、数字和 - _ ."),
            );
        } else if !seen.insert(id.clone()) {
            p.add(at, "duplicate_segment", format!("河段编号 {id} 重复"));
        }
        let name = text_property(feature, "name")
            .unwrap_or_default()
            .to_owned();
        let river = text_property(feature, "river")
            .unwrap_or_default()
            .to_owned();
        if name.is_empty() || river.is_empty() {
            p.add(at, "no_name", "河段名称（name）和河流名称（river）不能为空");
        }
        let level = text_property(feature, "chief_level").and_then(chief_level);
        if level.is_none() {
            p.add(
                at,
                "bad_chief_level",
                "河长级别（chief_level）应为 市级/区级/镇街级/村居级",
            );
        }
        let warning = text_property(feature, "warning").and_then(warning_level);
        if warning.is_none() {
            p.add(at, "bad_warning", "预警等级（warning）应为 无/黄/橙/红");
        }
        let chiefs: Option<Vec<String>> = feature
            .get("properties")
            .and_then(|props| props.get("chiefs"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
        let chiefs = chiefs.unwrap_or_default();
        if chiefs.is_empty() {
            p.add(at, "no_chief", "至少需要一名河长（chiefs，用户名数组）");
        }
        let geometry = feature.get("geometry");
        let is_line =
            geometry.and_then(|g| g.get("type")).and_then(Value::as_str) == Some("LineString");
        let line: Option<Vec<LatLon>> = geometry
            .and_then(|g| g.get("coordinates"))
            .and_then(Value::as_array)
            .and_then(|points| points.iter().map(lat_lon).collect());
        let line = match (is_line, line) {
            (true, Some(line)) if line.len() >= 2 => line,
            _ => {
                p.add(at, "bad_line", "几何必须是至少2个有效点的 LineString");
                continue;
            }
        };
        if let (Some(chief_level), Some(warning)) = (level, warning) {
            rivers.push(River {
                segment: Segment {
                    id,
                    name,
                    river,
                    chief_level,
                    warning,
                },
                chiefs,
                line,
            });
        }
    }
    if list.is_empty() {
        p.add(Place::File, "empty", "没有任何河段");
    }
    p.finish(|| to_json(&rivers))
}

/// Water-works projects: a JSON array of `{id, name, site: {lat, lon}, stages, contractor}`;
/// every stage must be one of the clause library's.
pub fn projects(bytes: &[u8], current: &CityReference) -> Outcome {
    let root = json_of(utf8(bytes)?)?;
    let Some(entries) = root.as_array() else {
        return Err(whole("not_array", "应为工程对象的 JSON 数组"));
    };
    let bundled;
    let library = match &current.clauses {
        Some(library) => library,
        None => {
            bundled = ClauseLibrary::bundled()
                .map_err(|e| whole("internal", format!("内置条款库无法读取：{e}")))?;
            &bundled
        }
    };
    let stages: BTreeSet<&str> = library.stages().iter().map(|s| s.key.as_str()).collect();
    let mut p = Problems::default();
    let mut seen = BTreeSet::new();
    let mut projects = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = Place::Entry(i + 1);
        let Some(project) = typed_entry::<Project>(&mut p, at, entry, "bad_project") else {
            continue;
        };
        if !plain_id(&project.id) {
            p.add(
                at,
                "bad_project_id",
                format!("工程编号 {:?} 只能用字母、数字和 - _ .", project.id),
            );
        } else if !seen.insert(project.id.clone()) {
            p.add(
                at,
                "duplicate_project",
                format!("工程编号 {} 重复", project.id),
            );
        }
        if lat_lon(&serde_json::json!([project.site.lon, project.site.lat])).is_none() {
            p.add(at, "bad_site", "工地坐标超出范围");
        }
        if project.contractor.trim().is_empty() {
            p.add(at, "no_contractor", "施工单位账号（contractor）不能为空");
        }
        for stage in &project.stages {
            if !stages.contains(stage.as_str()) {
                p.add(
                    at,
                    "unknown_stage",
                    format!("阶段 {stage:?} 不在检查条款库中"),
                );
            }
        }
        projects.push(project);
    }
    p.finish(|| to_json(&projects))
}

/// The clause library, in the shape of `core/data/clauses.json`.
pub fn clauses(bytes: &[u8]) -> Outcome {
    let text = utf8(bytes)?;
    json_of(text)?;
    ClauseLibrary::from_json(text)
        .map_err(|e| whole("bad_clauses", format!("检查条款库无效：{e}")))?;
    Ok(text.to_owned())
}

/// One year of the holiday calendar, in the shape of `core/data/holidays/2026.json`; the
/// stored calendar keeps the city's other years and replaces this one.
pub fn calendar_year(bytes: &[u8], previous: Option<&str>) -> Outcome {
    let text = utf8(bytes)?;
    let year = json_of(text)?;
    Calendar::from_year_files(&[text], WorkingHours::default())
        .map_err(|e| whole("bad_calendar", format!("节假日日历无效：{e}")))?;
    let number = year.get("year").and_then(Value::as_i64);
    let mut years: Vec<Value> = previous
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    years.retain(|y| y.get("year").and_then(Value::as_i64) != number);
    years.push(year);
    years.sort_by_key(|y| y.get("year").and_then(Value::as_i64));
    calendar_over_bundled(&years)
        .map_err(|e| whole("bad_calendar", format!("节假日日历无效：{e}")))?;
    serde_json::to_string(&years).map_err(|e| whole("encode", format!("无法编码：{e}")))
}

/// The verification thresholds (核查阈值): a JSON object of named figures, checked whole
/// by the core's own rules (the phone reads the stored copy with the same ones).
pub fn thresholds(bytes: &[u8]) -> Outcome {
    let text = utf8(bytes)?;
    let thresholds = VerifyThresholds::from_json(text).map_err(|found| {
        let mut p = Problems::default();
        for problem in found {
            let at = problem.field.map_or(Place::File, Place::Field);
            p.add(at, problem.code, problem.reason);
        }
        p.0
    })?;
    to_json(&thresholds).map_err(|p| p.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_take_quotes_and_commas() {
        assert_eq!(
            csv_fields(r#"a,"b, c","say ""hi""""#).unwrap(),
            ["a", "b, c", "say \"hi\""]
        );
        assert!(csv_fields(r#"a,"open"#).is_err());
    }

    #[test]
    fn every_bad_line_of_a_units_file_is_named() {
        let file =
            "id,name,handles\nroads,道路所,市政\nroads,重复,市政\nbad id!,,环卫\nonly-two,x\n";
        let problems = units(file.as_bytes(), &CityReference::default()).unwrap_err();
        let places: Vec<(Place, &str)> = problems.iter().map(|p| (p.at, p.code)).collect();
        assert_eq!(
            places,
            [
                (Place::Line(5), "bad_columns"),
                (Place::Line(3), "duplicate_unit"),
                (Place::Line(4), "bad_unit_id"),
                (Place::Line(4), "no_name"),
            ]
        );
        assert!(
            problems[1].reason.starts_with("第3行："),
            "{}",
            problems[1].reason
        );
    }
}
