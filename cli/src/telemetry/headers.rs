//! The headers sent with every export: `--otlp-header` and `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`.

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use http::{HeaderName, HeaderValue};

/// `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs separated by commas, values percent-encoded.
pub fn from_env(text: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut headers = Vec::new();
    for (index, member) in text.split(',').enumerate() {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let Some((key, value)) = member.split_once('=') else {
            return Err(format!(
                "entry {} is not key=value (entries are separated by commas)",
                index + 1
            ));
        };
        let key = key.trim();
        let value = urlencoding::decode(value.trim())
            .map_err(|_| format!("the value of {key:?} is not percent-encoded UTF-8"))?;
        headers.push(header(key, &value)?);
    }
    Ok(headers)
}

/// `--otlp-header KEY=VALUE`: the value as written.
pub fn from_flag(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err("expected KEY=VALUE (e.g. --otlp-header x-api-key=SECRET)".to_string());
    };
    header(key, value)
}

/// One header, checked; its value is marked sensitive (kept out of debug output).
fn header(key: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    if key.is_empty() {
        return Err("a header without a name".to_string());
    }
    let name = HeaderName::from_bytes(key.as_bytes())
        .map_err(|_| format!("{key:?} is not a header name"))?;
    if [CONTENT_TYPE, CONTENT_LENGTH, HOST, TRANSFER_ENCODING].contains(&name) {
        return Err(format!("{name} is set by the exporter itself"));
    }
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        format!("the value of {name} is not a header value (it holds a control character)")
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}
