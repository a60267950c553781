//! The XML form of Open311 answers: the spec's element names around the same values the
//! JSON form carries. Small enough to write by hand (no attributes, no namespaces).

use serde_json::Value;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn element(out: &mut String, name: &str, value: &Value, item_names: &dyn Fn(&str) -> String) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match value {
        Value::Null => {}
        Value::String(s) => out.push_str(&escape(s)),
        Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
        Value::Array(items) => {
            let child = item_names(name);
            for item in items {
                element(out, &child, item, item_names);
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                element(out, key, field, item_names);
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// `<root><item>…</item>…</root>` for a list, `<root>…</root>` for an object; nested
/// lists name their items by `item_names(list element name)`.
pub fn document(root: &str, value: &Value, item_names: &dyn Fn(&str) -> String) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    element(&mut out, root, value, item_names);
    out
}

/// The spec's item names: services/service, service_requests/request, errors/error,
/// attributes/attribute, values/value, endpoints/endpoint, formats/format.
pub fn item_name(list: &str) -> String {
    match list {
        "services" => "service",
        "service_requests" => "request",
        "errors" => "error",
        "attributes" => "attribute",
        "values" => "value",
        "endpoints" => "endpoint",
        "formats" => "format",
        "keywords" => "keyword",
        _ => "item",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_escaping() {
        let value = serde_json::json!([{ "code": 400, "description": "a < b & \"c\"" }]);
        assert_eq!(
            document("errors", &value, &item_name),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><errors><error><code>400</code>\
             <description>a &lt; b &amp; &quot;c&quot;</description></error></errors>"
        );
    }
}
