//! The friction report as one self-contained HTML page: the report's JSON
//! inside it, drawn by the page's own script (tables, and SVG charts of
//! matches over time per rule and friction by namespace). No network, no
//! external library; its Content-Security-Policy forbids loading anything.

use super::friction::Report;

const PAGE: &str = include_str!("page.html");
const SLOT: &str = "__PALISADE_REPORT_DATA__";

pub fn page(report: &Report) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(report)?;
    Ok(PAGE.replacen(SLOT, &script_safe(&json), 1))
}

/// JSON that cannot end the `<script>` element holding it (an event's
/// command line may say `</script>`) nor open markup: `<`, `>` and `&`
/// escaped as JSON `\u` escapes, which only occur inside strings, and the
/// two line separators JavaScript once refused in string literals.
fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_its_script() {
        let json = serde_json::to_string(&serde_json::json!({"cmd": "x</script><b>&"})).unwrap();
        let safe = script_safe(&json);
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["cmd"], "x</script><b>&");
        assert_eq!(PAGE.matches(SLOT).count(), 1);
    }
}
