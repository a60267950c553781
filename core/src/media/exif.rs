//! The few EXIF fields the evidence needs. A damaged or absent EXIF block is not an error:
//! the photo stays usable, the fields are just unknown.

use chrono::{NaiveDateTime, Timelike};
use exif::{Exif, In, Tag, Value};

use super::{PhotoExif, PhotoGps, PhotoTime};

pub(super) fn read(tiff: Option<&[u8]>) -> PhotoExif {
    let Some(exif) = tiff.and_then(parse) else {
        return PhotoExif {
            taken_at: None,
            gps: None,
            orientation: 1,
        };
    };
    PhotoExif {
        taken_at: taken_at(&exif),
        gps: gps(&exif),
        orientation: exif
            .get_field(Tag::Orientation, In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
            .and_then(|o| u16::try_from(o).ok())
            .filter(|o| (1..=8).contains(o))
            .unwrap_or(1),
    }
}

/// Phones' EXIF is often slightly broken (a pointer past the end, a tag of the wrong
/// type). The parser goes on past such faults and keeps every tag it could read, so one
/// bad entry does not lose the capture time and position with it.
fn parse(tiff: &[u8]) -> Option<Exif> {
    exif::Reader::new()
        .continue_on_error(true)
        .read_raw(tiff.to_vec())
        .or_else(|e| e.distill_partial_result(|_| {}))
        .ok()
}

fn ascii(exif: &Exif, tag: Tag) -> Option<String> {
    match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Ascii(parts) => {
            let text = String::from_utf8_lossy(parts.first()?);
            let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            (!text.is_empty()).then(|| text.to_owned())
        }
        _ => None,
    }
}

fn taken_at(exif: &Exif) -> Option<PhotoTime> {
    let text = ascii(exif, Tag::DateTimeOriginal)?;
    // Cameras without a set clock write blanks or zeros here; both fail to parse.
    let mut local = NaiveDateTime::parse_from_str(&text, "%Y:%m:%d %H:%M:%S").ok()?;
    let subsec_ms = ascii(exif, Tag::SubSecTimeOriginal).and_then(|digits| {
        let digits: String = digits
            .chars()
            .take_while(char::is_ascii_digit)
            .take(3)
            .collect();
        (!digits.is_empty()).then(|| format!("{digits:0<3}").parse::<u32>().ok())?
    });
    if let Some(ms) = subsec_ms {
        local = local.with_nanosecond(ms * 1_000_000)?;
    }
    let local_text = match subsec_ms {
        Some(_) => local.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        None => local.format("%Y-%m-%dT%H:%M:%S").to_string(),
    };
    let local_as_utc_millis = local.and_utc().timestamp_millis();
    let offset_minutes = ascii(exif, Tag::OffsetTimeOriginal).and_then(|o| parse_offset(&o));
    Some(PhotoTime {
        local: local_text,
        local_as_utc_millis,
        offset_minutes,
        utc_millis: offset_minutes.map(|m| local_as_utc_millis - i64::from(m) * 60_000),
    })
}

/// `±HH:MM` as minutes east of UTC; anything else (EXIF allows blanks) is unknown.
fn parse_offset(text: &str) -> Option<i32> {
    let bytes = text.as_bytes();
    if bytes.len() != 6 || bytes[3] != b':' {
        return None;
    }
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i32 = text.get(1..3)?.parse().ok()?;
    let minutes: i32 = text.get(4..6)?.parse().ok()?;
    (hours <= 14 && minutes < 60).then_some(sign * (hours * 60 + minutes))
}

fn gps(exif: &Exif) -> Option<PhotoGps> {
    let lat = degrees(exif, Tag::GPSLatitude)?;
    let lon = degrees(exif, Tag::GPSLongitude)?;
    // A negative (signed rational) value is south or west whatever the reference says.
    let lat = match ascii(exif, Tag::GPSLatitudeRef).as_deref() {
        Some("S") => -lat.abs(),
        _ => lat,
    };
    let lon = match ascii(exif, Tag::GPSLongitudeRef).as_deref() {
        Some("W") => -lon.abs(),
        _ => lon,
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return None;
    }
    let alt_m = match exif
        .get_field(Tag::GPSAltitude, In::PRIMARY)
        .map(|f| &f.value)
    {
        Some(Value::Rational(r)) => r.first().map(|r| r.to_f64()).filter(|a| a.is_finite()),
        _ => None,
    };
    let below_sea_level = exif
        .get_field(Tag::GPSAltitudeRef, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        == Some(1);
    Some(PhotoGps {
        lat,
        lon,
        alt_m: alt_m.map(|a| if below_sea_level { -a } else { a }),
    })
}

/// Degrees, minutes, seconds as three rationals, to decimal degrees. The standard says
/// unsigned rationals; some phones write signed ones, with the sign on the degrees.
fn degrees(exif: &Exif, tag: Tag) -> Option<f64> {
    let parts: Vec<f64> = match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Rational(parts) => parts.iter().map(|r| r.to_f64()).collect(),
        Value::SRational(parts) => parts.iter().map(|r| r.to_f64()).collect(),
        _ => return None,
    };
    let part = |i: usize| parts.get(i).copied().unwrap_or(0.0);
    let magnitude = part(0).abs() + part(1).abs() / 60.0 + part(2).abs() / 3600.0;
    let negative = parts.iter().any(|p| *p < 0.0);
    let value = if negative { -magnitude } else { magnitude };
    (!parts.is_empty() && value.is_finite()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::parse_offset;

    #[test]
    fn offsets_parse_as_minutes_east() {
        assert_eq!(parse_offset("+08:00"), Some(480));
        assert_eq!(parse_offset("-05:30"), Some(-330));
        assert_eq!(parse_offset("   :  "), None);
        assert_eq!(parse_offset("+8:00"), None);
        assert_eq!(parse_offset("+15:00"), None);
    }
}
