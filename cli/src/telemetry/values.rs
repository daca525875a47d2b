//! The values of the OpenTelemetry SDK's variables that are not URLs or headers, parsed as the
//! SDK environment variable spec says: a boolean (`OTEL_SDK_DISABLED`), a timeout in
//! milliseconds (`OTEL_EXPORTER_OTLP_TIMEOUT`) and a list of resource attributes
//! (`OTEL_RESOURCE_ATTRIBUTES`, W3C Baggage's `key=value,...` with percent-encoded values). Where
//! the spec lets an SDK warn and go on, wasmpod refuses the value at start instead: a setting the
//! operator got wrong is said once, at once, rather than exporting in a way nobody asked for.
//! Errors never quote a whole value (a resource attribute may be a deployment's secret name).

use std::time::Duration;

/// The export timeout the spec gives when none is set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(10_000);

/// A boolean variable: `true` or `false`, any case; `None` for another value.
pub fn boolean(text: &str) -> Option<bool> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Why a zero export timeout is refused.
pub const ZERO_TIMEOUT: &str = "0 ms: an export needs some time (the default is 10 s)";

/// A timeout variable: a whole number of milliseconds, above zero.
pub fn timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let millis: u64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of milliseconds"))?;
    if millis == 0 {
        return Err(ZERO_TIMEOUT.to_string());
    }
    Ok(Duration::from_millis(millis))
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, keys as written (trimmed),
/// values percent-decoded; a later key replaces an earlier one. The order is kept.
pub fn resource_attributes(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut attributes: Vec<(String, String)> = Vec::new();
    for (index, member) in text.split(',').enumerate() {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let entry = index + 1;
        let Some((key, value)) = member.split_once('=') else {
            return Err(format!(
                "entry {entry} is not key=value (entries are separated by commas)"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("entry {entry} has no key"));
        }
        if key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | '"' | '\\'))
        {
            return Err(format!(
                "entry {entry}: {key:?} is not a key (no spaces, quotes, backslashes or ';')"
            ));
        }
        let value = urlencoding::decode(value.trim())
            .map_err(|_| format!("the value of {key:?} is not percent-encoded UTF-8"))?
            .into_owned();
        match attributes.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => attributes.push((key.to_string(), value)),
        }
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_true_or_false_in_any_case() {
        for (text, value) in [
            ("true", Some(true)),
            (" TRUE ", Some(true)),
            ("True", Some(true)),
            ("false", Some(false)),
            ("FALSE", Some(false)),
            ("1", None),
            ("yes", None),
            ("on", None),
        ] {
            assert_eq!(boolean(text), value, "{text:?}");
        }
    }

    #[test]
    fn a_timeout_is_a_positive_whole_number_of_milliseconds() {
        assert_eq!(timeout("10000"), Ok(Duration::from_secs(10)));
        assert_eq!(timeout(" 250 "), Ok(Duration::from_millis(250)));
        for bad in [
            "0",
            "-5",
            "1.5",
            "10s",
            "",
            "abc",
            "99999999999999999999999",
        ] {
            assert!(timeout(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            timeout("10s"),
            Err("\"10s\" is not a whole number of milliseconds".to_string())
        );
    }

    #[test]
    fn resource_attributes_are_key_value_pairs_with_percent_decoded_values() {
        let parsed = resource_attributes(
            " deployment.environment = staging ,team=edge%2Cnodes,note=a%3Db=c,, empty=,\
             deployment.environment=prod,utf=%C3%A9t%C3%A9",
        )
        .expect("valid");
        assert_eq!(
            parsed,
            [
                ("deployment.environment", "prod"),
                ("team", "edge,nodes"),
                ("note", "a=b=c"),
                ("empty", ""),
                ("utf", "été"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(resource_attributes(""), Ok(vec![]));
    }

    #[test]
    fn a_malformed_resource_attribute_is_refused_without_its_value() {
        for (bad, says) in [
            ("a=b,secret-1", "entry 2 is not key=value"),
            ("=secret-1", "entry 1 has no key"),
            ("a b=secret-1", "entry 1: \"a b\" is not a key"),
            (
                "k=secret-1%FF",
                "the value of \"k\" is not percent-encoded UTF-8",
            ),
        ] {
            let error = resource_attributes(bad).expect_err(bad);
            assert!(error.starts_with(says), "{bad:?}: {error}");
            assert!(!error.contains("secret-1"), "{bad:?}: {error}");
        }
    }
}
