//! A tiny CSV writer (RFC 4180): a field is quoted when it holds a comma, a quote, a
//! line break or leading/trailing space; quotes inside are doubled. Lines end in CRLF.

pub(super) fn field(out: &mut String, value: &str) {
    let needs_quotes =
        value.contains([',', '"', '\r', '\n']) || value.starts_with(' ') || value.ends_with(' ');
    if needs_quotes {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

pub(super) fn row(out: &mut String, fields: &[&str]) {
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, value);
    }
    out.push_str("\r\n");
}

/// A rate with four decimals; empty when there is none (nothing to divide by).
pub(super) fn ratio(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.4}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        let mut out = String::new();
        row(
            &mut out,
            &[
                "plain",
                "a,b",
                "say \"hi\"",
                "two\nlines",
                " pad",
                "环卫一所",
            ],
        );
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" pad\",环卫一所\r\n"
        );
    }

    #[test]
    fn empty_ratio_is_an_empty_cell() {
        assert_eq!(ratio(None), "");
        assert_eq!(ratio(Some(2.0 / 3.0)), "0.6667");
    }
}
