//! The Prometheus text exposition format 0.0.4: sample lines and label escaping.

use std::fmt::Write as _;

/// `name{labels,extra} value\n`; `labels` is already rendered (`a="x",b="y"`, maybe empty).
pub(crate) fn sample(
    out: &mut String,
    name: &str,
    labels: &str,
    extra: Option<(&str, &str)>,
    value: f64,
) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some((key, v)) = extra {
            if !labels.is_empty() {
                out.push(',');
            }
            label(out, key, v);
        }
        out.push('}');
    }
    out.push(' ');
    number(out, value);
    out.push('\n');
}

/// `key="value"` with the value escaped (backslash, double quote, newline).
pub(crate) fn label(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The labels of one series, rendered once when the series is created.
pub(crate) fn labels(names: &[&str], values: &[String]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        label(&mut out, k, v);
    }
    out
}

pub(crate) fn number(out: &mut String, v: f64) {
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// `# HELP` (escaped) and `# TYPE` lines.
pub(crate) fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\n');
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
