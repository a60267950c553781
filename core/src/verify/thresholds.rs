//! A city's verification thresholds (核查阈值) as reference data: how far a photo's own
//! EXIF may be from what the phone claims, how far ahead a device clock may run, how long
//! a phone may stay offline, how much a position's accuracy may excuse, when two photos
//! are the same picture. Imported as one small JSON object of named figures, each name
//! ending in its unit; a figure left out keeps fieldloop's default, and a city that never
//! imported the kind judges with the defaults. The server and the phone turn the same
//! figures into the same [`VerifyPolicy`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::VerifyPolicy;
use crate::geo::AccuracyPolicy;
use crate::time::{HOUR, MINUTE};

/// The figures as stored (canonical JSON: every figure present) and sent to phones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyThresholds {
    /// Where the figures come from (a city's rule, a decision), for the person who reads
    /// the stored data later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub max_exif_time_gap_minutes: f64,
    pub exif_gps_slack_m: f64,
    pub exif_zone_minutes: i32,
    pub max_clock_ahead_minutes: f64,
    pub max_upload_delay_hours: f64,
    pub accuracy_cap_m: f64,
    pub max_phash_distance_bits: u32,
}

impl Default for VerifyThresholds {
    /// fieldloop's figures, not from a published source: 10 min between EXIF and claimed
    /// time, 30 m of camera GPS error, EXIF read in UTC+8, 5 min of clock lead, 72 h
    /// offline, 30 m of accuracy at most, Hamming ≤ 8 of 64 bits.
    fn default() -> Self {
        VerifyThresholds {
            source: None,
            max_exif_time_gap_minutes: 10.0,
            exif_gps_slack_m: 30.0,
            exif_zone_minutes: 8 * 60,
            max_clock_ahead_minutes: 5.0,
            max_upload_delay_hours: 72.0,
            accuracy_cap_m: 30.0,
            max_phash_distance_bits: 8,
        }
    }
}

/// One figure's name, meaning, unit and sane range.
struct Spec {
    name: &'static str,
    label_zh: &'static str,
    unit_zh: &'static str,
    unit_en: &'static str,
    min: f64,
    /// Zero would fail every photo (a gap of a second, a phone offline for a minute).
    min_exclusive: bool,
    max: f64,
    whole: bool,
}

const SPECS: [Spec; 7] = [
    Spec {
        name: "max_exif_time_gap_minutes",
        label_zh: "照片 EXIF 拍摄时间与手机记录时间的最大差",
        unit_zh: "分钟",
        unit_en: "min",
        min: 0.0,
        min_exclusive: true,
        max: 24.0 * 60.0,
        whole: false,
    },
    Spec {
        name: "exif_gps_slack_m",
        label_zh: "相机 GPS 误差余量（定位精度之外）",
        unit_zh: "米",
        unit_en: "m",
        min: 0.0,
        min_exclusive: false,
        max: 1_000.0,
        whole: false,
    },
    Spec {
        name: "exif_zone_minutes",
        label_zh: "EXIF 时间未注明时区时所用的时区（UTC 以东）",
        unit_zh: "分钟",
        unit_en: "min",
        min: -12.0 * 60.0,
        min_exclusive: false,
        max: 14.0 * 60.0,
        whole: true,
    },
    Spec {
        name: "max_clock_ahead_minutes",
        label_zh: "设备时钟最多可超前服务器",
        unit_zh: "分钟",
        unit_en: "min",
        min: 0.0,
        min_exclusive: false,
        max: 24.0 * 60.0,
        whole: false,
    },
    Spec {
        name: "max_upload_delay_hours",
        label_zh: "手机离线最长时长（拍摄到送达）",
        unit_zh: "小时",
        unit_en: "h",
        min: 0.0,
        min_exclusive: true,
        max: 30.0 * 24.0,
        whole: false,
    },
    Spec {
        name: "accuracy_cap_m",
        label_zh: "定位精度最多可抵扣的距离",
        unit_zh: "米",
        unit_en: "m",
        min: 0.0,
        min_exclusive: false,
        max: 500.0,
        whole: false,
    },
    Spec {
        name: "max_phash_distance_bits",
        label_zh: "判为同一张照片的感知哈希最大差异（64 位中）",
        unit_zh: "位",
        unit_en: "bits",
        min: 0.0,
        min_exclusive: false,
        max: 32.0,
        whole: true,
    },
];

/// One problem of a thresholds document; `field` is the figure it is about (none for
/// the document as a whole or a name that is no figure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdProblem {
    pub field: Option<&'static str>,
    pub code: &'static str,
    /// Chinese, then English in brackets.
    pub reason: String,
}

impl std::fmt::Display for ThresholdProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl VerifyThresholds {
    /// Parses and checks a thresholds document, every problem at once.
    pub fn from_json(text: &str) -> Result<VerifyThresholds, Vec<ThresholdProblem>> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            vec![ThresholdProblem {
                field: None,
                code: "bad_json",
                reason: format!(
                    "核查阈值不是有效的 JSON（第{}行第{}列）(not JSON: {e})",
                    e.line(),
                    e.column()
                ),
            }]
        })?;
        VerifyThresholds::from_value(&value)
    }

    /// Checks a parsed document: an object of known figures, each a number of its unit in
    /// its range; figures left out take the defaults.
    pub fn from_value(value: &Value) -> Result<VerifyThresholds, Vec<ThresholdProblem>> {
        let Some(given) = value.as_object() else {
            return Err(vec![ThresholdProblem {
                field: None,
                code: "not_object",
                reason: "核查阈值应为一个 JSON 对象，如 {\"max_exif_time_gap_minutes\": 10} (thresholds must be a JSON object)".into(),
            }]);
        };
        let mut problems = Vec::new();
        for (key, figure) in given {
            if key == "source" {
                if !figure.is_string() {
                    problems.push(ThresholdProblem {
                        field: Some("source"),
                        code: "bad_source",
                        reason: "source（来源说明）应为文字 (source must be a string)".into(),
                    });
                }
                continue;
            }
            match SPECS.iter().find(|s| s.name == key) {
                Some(spec) => problems.extend(check_figure(spec, figure)),
                None => {
                    let known: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
                    problems.push(ThresholdProblem {
                        field: None,
                        code: "unknown_threshold",
                        reason: format!(
                            "没有名为 \"{key}\" 的核查阈值；可用的有：{} (unknown threshold {key:?})",
                            known.join("、")
                        ),
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut merged = match serde_json::to_value(VerifyThresholds::default()) {
            Ok(Value::Object(defaults)) => defaults,
            _ => Map::new(),
        };
        merged.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
        serde_json::from_value(Value::Object(merged)).map_err(|e| {
            vec![ThresholdProblem {
                field: None,
                code: "bad_thresholds",
                reason: format!("核查阈值无法读取 (unreadable thresholds: {e})"),
            }]
        })
    }

    /// Checks figures built in code (or read from a store) as an import would.
    pub fn validate(&self) -> Result<(), Vec<ThresholdProblem>> {
        // NaN and infinities become JSON null here, which the figure check names.
        let value = serde_json::to_value(self).map_err(|e| {
            vec![ThresholdProblem {
                field: None,
                code: "bad_thresholds",
                reason: format!("核查阈值无法编码 (unencodable thresholds: {e})"),
            }]
        })?;
        VerifyThresholds::from_value(&value).map(|_| ())
    }

    /// The policy the verdict uses; what is no threshold (a before-photo is required)
    /// stays as fieldloop has it.
    pub fn policy(&self) -> VerifyPolicy {
        let millis = |minutes: f64| (minutes * MINUTE as f64).round() as i64;
        VerifyPolicy {
            accuracy: AccuracyPolicy {
                cap_m: self.accuracy_cap_m,
            },
            max_phash_distance: self.max_phash_distance_bits,
            max_clock_ahead: millis(self.max_clock_ahead_minutes),
            max_upload_delay: (self.max_upload_delay_hours * HOUR as f64).round() as i64,
            require_before: true,
            max_exif_time_gap: millis(self.max_exif_time_gap_minutes),
            exif_zone_minutes: self.exif_zone_minutes,
            exif_gps_slack_m: self.exif_gps_slack_m,
        }
    }
}

fn check_figure(spec: &Spec, figure: &Value) -> Option<ThresholdProblem> {
    let name = spec.name;
    let what = format!("{name}（{}）", spec.label_zh);
    let problem = |code, reason| {
        Some(ThresholdProblem {
            field: Some(name),
            code,
            reason,
        })
    };
    let Some(number) = figure.as_f64().filter(|n| n.is_finite()) else {
        return problem(
            "not_a_number",
            format!(
                "{what} 应为一个数字（单位：{}），而不是 {figure} ({name} must be a number of {})",
                spec.unit_zh, spec.unit_en
            ),
        );
    };
    if spec.whole && number.fract() != 0.0 {
        return problem(
            "not_whole",
            format!(
                "{what} 应为整数{}，而不是 {number} ({name} must be a whole number of {})",
                spec.unit_zh, spec.unit_en
            ),
        );
    }
    let too_low = if spec.min_exclusive {
        number <= spec.min
    } else {
        number < spec.min
    };
    if too_low || number > spec.max {
        let (low_zh, low_en) = if spec.min_exclusive {
            ("大于", ">")
        } else {
            ("不小于", "≥")
        };
        return problem(
            "out_of_range",
            format!(
                "{what} 为 {number} {unit}，应{low_zh} {min} 且不超过 {max} {unit} ({name} = {number} {unit_en} is out of range: must be {low_en} {min} and ≤ {max} {unit_en})",
                unit = spec.unit_zh,
                unit_en = spec.unit_en,
                min = spec.min,
                max = spec.max,
            ),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_todays_policy_and_pass_their_own_check() {
        let defaults = VerifyThresholds::default();
        defaults.validate().expect("defaults are sane");
        let policy = defaults.policy();
        assert_eq!(policy.max_exif_time_gap, 10 * MINUTE);
        assert_eq!(policy.max_clock_ahead, 5 * MINUTE);
        assert_eq!(policy.max_upload_delay, 72 * HOUR);
        assert_eq!(policy.exif_zone_minutes, 480);
        assert_eq!(policy.exif_gps_slack_m, 30.0);
        assert_eq!(policy.accuracy.cap_m, 30.0);
        assert_eq!(policy.max_phash_distance, 8);
        assert!(policy.require_before);
    }

    #[test]
    fn a_partial_document_keeps_the_defaults_for_what_it_leaves_out() {
        let parsed = VerifyThresholds::from_json(
            r#"{"source": "市城管局 2026 年核查细则", "max_exif_time_gap_minutes": 2.5, "exif_gps_slack_m": 0}"#,
        )
        .expect("valid");
        assert_eq!(parsed.max_exif_time_gap_minutes, 2.5);
        assert_eq!(parsed.exif_gps_slack_m, 0.0);
        assert_eq!(parsed.max_upload_delay_hours, 72.0);
        assert_eq!(parsed.policy().max_exif_time_gap, 150_000);
        assert_eq!(parsed.source.as_deref(), Some("市城管局 2026 年核查细则"));
    }

    #[test]
    fn every_bad_figure_is_named_at_once() {
        let problems = VerifyThresholds::from_json(
            r#"{"max_exif_time_gap_minutes": -5, "exif_gps_slack_m": "NaN",
                "exif_zone_minutes": 480.5, "max_upload_delay_hours": 100000,
                "max_phash_distance_bits": 0, "gps_slack": 3}"#,
        )
        .unwrap_err();
        let named: Vec<Option<&str>> = problems.iter().map(|p| p.field).collect();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        for field in [
            "max_exif_time_gap_minutes",
            "exif_gps_slack_m",
            "exif_zone_minutes",
            "max_upload_delay_hours",
        ] {
            assert!(named.contains(&Some(field)), "{field} in {problems:#?}");
        }
        let text: Vec<&str> = problems.iter().map(|p| p.reason.as_str()).collect();
        let all = text.join("\n");
        assert!(
            all.contains("为 -5 分钟，应大于 0 且不超过 1440 分钟"),
            "{all}"
        );
        assert!(all.contains("must be a number of m"), "{all}");
        assert!(all.contains("没有名为 \"gps_slack\" 的核查阈值"), "{all}");
    }

    #[test]
    fn nan_and_infinity_built_in_code_are_refused_by_name() {
        let thresholds = VerifyThresholds {
            exif_gps_slack_m: f64::NAN,
            accuracy_cap_m: f64::INFINITY,
            ..VerifyThresholds::default()
        };
        let problems = thresholds.validate().unwrap_err();
        let mut named: Vec<Option<&str>> = problems.iter().map(|p| p.field).collect();
        named.sort();
        assert_eq!(
            named,
            vec![Some("accuracy_cap_m"), Some("exif_gps_slack_m")],
            "{problems:#?}"
        );
    }

    #[test]
    fn a_document_that_is_no_object_is_refused_whole() {
        for text in ["[1, 2]", "10", "{", ""] {
            let problems = VerifyThresholds::from_json(text).unwrap_err();
            assert_eq!(problems.len(), 1, "{text}: {problems:?}");
            assert_eq!(problems[0].field, None);
        }
    }
}
