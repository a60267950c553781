//! The **exif** check: what the phone claims (capture time, position) against what the
//! photo's own EXIF block said at capture, recorded under the signature because the
//! processed file carries no EXIF. A photo without EXIF time or GPS is not failed for it
//! (many phones strip GPS); a photo whose EXIF disagrees is.

use super::{checks, short, VerifyPolicy};
use crate::case::Check;
use crate::doc::{Evidence, Snapshot};
use crate::geo::{distance_m, LatLon};
use crate::time::{Millis, MINUTE};

/// Judges the EXIF facts of `photos` (stage label, content hash) in `snapshot`.
pub(crate) fn exif_check(
    snapshot: &Snapshot,
    photos: &[(&str, &str)],
    policy: &VerifyPolicy,
) -> Check {
    let mut problems = Vec::new();
    let (mut times, mut places) = (0, 0);
    for (label, hash) in photos {
        let Some(evidence) = snapshot.evidence.get(*hash) else {
            continue;
        };
        let photo = format!("{label} 照片 {}", short(hash));
        if let Some(problem) = time_problem(&photo, evidence, policy, &mut times) {
            problems.push(problem);
        }
        if let Some(problem) = place_problem(&photo, evidence, policy, &mut places) {
            problems.push(problem);
        }
    }
    let name = checks::EXIF.to_string();
    if problems.is_empty() {
        Check {
            name,
            passed: true,
            reason: format!(
                "照片自带的 EXIF 信息与手机记录一致：比对了 {times} 个拍摄时间、{places} 个 GPS 位置 (EXIF agrees)"
            ),
        }
    } else {
        Check {
            name,
            passed: false,
            reason: problems.join("; "),
        }
    }
}

fn time_problem(
    photo: &str,
    evidence: &Evidence,
    policy: &VerifyPolicy,
    compared: &mut usize,
) -> Option<String> {
    let exif = evidence.exif.as_ref()?;
    let local = exif.local_time?;
    let offset = exif.offset_minutes.unwrap_or(policy.exif_zone_minutes);
    let exif_utc = local.saturating_sub(i64::from(offset).saturating_mul(MINUTE));
    *compared += 1;
    let gap = evidence.taken_at.saturating_sub(exif_utc).unsigned_abs();
    if gap <= policy.max_exif_time_gap.unsigned_abs() {
        return None;
    }
    Some(format!(
        "{photo}：照片自带的拍摄时间 (EXIF) 为 {}，手机记录的拍摄时间为 {}，相差 {}，超过允许的 {} (EXIF time disagrees)",
        clock_text(exif_utc, offset),
        clock_text(evidence.taken_at, offset),
        gap_text(gap),
        gap_text(policy.max_exif_time_gap.unsigned_abs()),
    ))
}

fn place_problem(
    photo: &str,
    evidence: &Evidence,
    policy: &VerifyPolicy,
    compared: &mut usize,
) -> Option<String> {
    let exif = evidence.exif.as_ref()?;
    let (lat, lon) = (exif.lat?, exif.lon?);
    let claimed = evidence.position?;
    let Ok(exif_at) = LatLon::new(lat, lon) else {
        return Some(format!(
            "{photo}：照片 EXIF 中的 GPS 坐标 ({lat}, {lon}) 不是地球上的位置 (bad EXIF GPS)"
        ));
    };
    let claimed_at = LatLon::new(claimed.lat, claimed.lon).ok()?;
    *compared += 1;
    let distance = distance_m(exif_at, claimed_at);
    let accuracy = if claimed.accuracy_m.is_finite() {
        claimed.accuracy_m.clamp(0.0, policy.accuracy.cap_m)
    } else {
        policy.accuracy.cap_m
    };
    let allowed = accuracy + policy.exif_gps_slack_m;
    if distance <= allowed {
        return None;
    }
    Some(format!(
        "{photo}：照片 EXIF 中的 GPS 位置与手机记录的位置相距 {distance:.0} 米，超过允许的 {allowed:.0} 米（定位精度 {accuracy:.0} 米 + 相机 GPS 误差 {:.0} 米）(EXIF GPS disagrees)",
        policy.exif_gps_slack_m
    ))
}

/// `2026-01-01 10:00:00 (UTC+8)`: a wall-clock time in the zone the camera used.
fn clock_text(utc: Millis, offset_minutes: i32) -> String {
    let shifted = utc.saturating_add(i64::from(offset_minutes).saturating_mul(MINUTE));
    let zone = if offset_minutes % 60 == 0 {
        format!("UTC{:+}", offset_minutes / 60)
    } else {
        format!(
            "UTC{:+}:{:02}",
            offset_minutes / 60,
            (offset_minutes % 60).abs()
        )
    };
    chrono::DateTime::from_timestamp_millis(shifted)
        .map(|t| format!("{} ({zone})", t.format("%Y-%m-%d %H:%M:%S")))
        .unwrap_or_else(|| format!("{utc} ms"))
}

fn gap_text(ms: u64) -> String {
    let minutes = ms / MINUTE as u64;
    match (minutes / (24 * 60), minutes / 60 % 24, minutes % 60) {
        (0, 0, m) => format!("{m} 分钟"),
        (0, h, m) => format!("{h} 小时 {m} 分钟"),
        (d, h, m) => format!("{d} 天 {h} 小时 {m} 分钟"),
    }
}
