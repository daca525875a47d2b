//! Secret values are never printed unless asked (`--show-secrets`): in yaml/json each value is
//! replaced by what it is, a hidden value of some size.

use std::fmt;
use wasmpod_api::AnyObject;

/// A value left out of the output; only its size is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HiddenValue {
    pub bytes: usize,
}

impl HiddenValue {
    /// The hidden form of a base64 `data` value.
    pub fn of_base64(value: &str) -> HiddenValue {
        HiddenValue {
            bytes: decoded_len(value),
        }
    }
}

impl fmt::Display for HiddenValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<hidden: {} bytes; use --show-secrets>", self.bytes)
    }
}

/// The size of what `value` (base64) decodes to.
pub fn decoded_len(value: &str) -> usize {
    let padding = value.bytes().rev().take_while(|b| *b == b'=').count();
    (value.len() * 3 / 4).saturating_sub(padding)
}

/// The keys of a Secret's `data` with the size of each value, in key order.
pub fn sizes(secret: &AnyObject) -> Vec<(String, HiddenValue)> {
    secret
        .0
        .get("data")
        .and_then(|d| d.as_object())
        .map(|data| {
            data.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        HiddenValue::of_base64(v.as_str().unwrap_or_default()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces each value of a Secret's `data` by its [`HiddenValue`] text.
pub fn hide_values(secret: &mut AnyObject) {
    let hidden = sizes(secret);
    if let Some(data) = secret.0.get_mut("data").and_then(|d| d.as_object_mut()) {
        for (key, value) in hidden {
            data.insert(key, serde_json::Value::from(value.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_the_data_not_from_printed_text() {
        let mut s = AnyObject(serde_json::json!({"kind": "Secret", "data": {"k": "c2VjcmV0"}}));
        assert_eq!(sizes(&s), vec![("k".to_string(), HiddenValue { bytes: 6 })]);
        hide_values(&mut s);
        assert_eq!(s.0["data"]["k"], "<hidden: 6 bytes; use --show-secrets>");
    }
}
