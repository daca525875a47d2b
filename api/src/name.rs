//! Names: DNS-1123 labels and subdomains, as Kubernetes has them, checked when parsed so a bad
//! name fails with its field. Names become store keys, URL segments and directory names on
//! nodes, so nothing else ever gets in: no `/`, no `..`, no uppercase, nothing empty.

use crate::error::ValidationError;
use crate::object::ObjectKey;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::ops::Deref;

/// Longest DNS-1123 label.
pub const MAX_LABEL: usize = 63;
/// Longest DNS-1123 subdomain.
pub const MAX_SUBDOMAIN: usize = 253;

/// A checked object name: 1 to 63 characters of lowercase letters, digits and `-`,
/// starting and ending with a letter or digit (a DNS-1123 label, as Kubernetes requires).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        validate_label(&value).map(|()| Name(value))
    }
}

impl TryFrom<&str> for Name {
    type Error = String;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Name::try_from(value.to_string())
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A checked namespace: a DNS-1123 label, as in Kubernetes. Derefs to `str`, so an
/// `Option<Namespace>` reads as `Option<&str>` through `as_deref()`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Namespace(String);

impl TryFrom<String> for Namespace {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        validate_namespace(&value).map(|()| Namespace(value))
    }
}

impl From<Namespace> for String {
    fn from(namespace: Namespace) -> String {
        namespace.0
    }
}

impl Deref for Namespace {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a DNS-1123 label; the error says what is wrong with `value`.
pub fn validate_label(value: &str) -> Result<(), String> {
    check_label("name", value)
}

/// Checks a namespace (a DNS-1123 label); the error quotes the value.
pub fn validate_namespace(value: &str) -> Result<(), String> {
    check_label("namespace", value)
}

fn check_label(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if value.len() > MAX_LABEL {
        return Err(format!(
            "{what} {value:?} is longer than {MAX_LABEL} characters"
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "{what} {value:?} contains {bad:?}: use lowercase letters, digits and '-' (a DNS-1123 label)"
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(format!(
            "{what} {value:?} must start and end with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a DNS-1123 subdomain: dot-separated labels, at most 253 characters in all.
pub fn validate_subdomain(value: &str) -> Result<(), String> {
    if value.len() > MAX_SUBDOMAIN {
        return Err(format!(
            "name {value:?} is longer than {MAX_SUBDOMAIN} characters"
        ));
    }
    value
        .split('.')
        .try_for_each(|part| check_label("name", part))
        .map_err(|e| format!("{value:?} is not a DNS-1123 subdomain: {e}"))
}

/// Checks a ConfigMap or Secret key (Kubernetes' rule, `[-._a-zA-Z0-9]+`, not `.` or `..`):
/// keys become file names on nodes.
pub fn validate_data_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= MAX_SUBDOMAIN
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && key != "."
        && key != "..";
    if ok {
        Ok(())
    } else {
        Err(format!(
            "key {key:?} is not valid: use letters, digits, '-', '_' and '.' (not '.' or '..'; keys become file names)"
        ))
    }
}

/// Checks the namespace and name of a key the store is about to hold: a second line of
/// defence behind parsing, for writes built from path segments or by controllers.
pub fn validate_object_key(key: &ObjectKey) -> Result<(), ValidationError> {
    if key.kind.namespaced() {
        validate_namespace(&key.namespace)
            .map_err(|e| ValidationError::new("metadata.namespace", e))?;
    }
    validate_label(&key.name).map_err(|e| ValidationError::new("metadata.name", e))
}

/// Serde helper for an optional namespace held as a `String`: refuses a bad one at parse time.
pub fn deserialize_namespace<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Option::<Namespace>::deserialize(deserializer).map(|n| n.map(String::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Kind;

    #[test]
    fn names_follow_dns_label_rules() {
        assert!(Name::try_from("hello-1").is_ok());
        assert!(Name::try_from("Hello").is_err());
        assert!(Name::try_from("-a").is_err());
        assert!(Name::try_from("a_b").is_err());
        assert!(Name::try_from("").is_err());
        assert!(Name::try_from("a".repeat(64)).is_err());
    }

    #[test]
    fn namespaces_that_would_escape_a_directory_are_refused() {
        for bad in [
            "../../../../tmp/x",
            "..",
            ".",
            "a/b",
            "/tmp",
            "",
            "Default",
            "a.b",
            "a\0b",
        ] {
            let err = Namespace::try_from(bad.to_string()).unwrap_err();
            assert!(err.contains("namespace"), "{bad:?}: {err}");
        }
        assert_eq!(
            &*Namespace::try_from("team-a".to_string()).unwrap(),
            "team-a"
        );
        let err = serde_json::from_str::<Namespace>("\"../x\"").unwrap_err();
        assert!(err.to_string().contains("\\\"../x\\\"") || err.to_string().contains("../x"));
    }

    #[test]
    fn subdomains_are_dot_separated_labels() {
        assert!(validate_subdomain("a.b-c.d").is_ok());
        assert!(validate_subdomain("a..b").is_err());
        assert!(validate_subdomain(".a").is_err());
        assert!(validate_subdomain("a/b").is_err());
        assert!(validate_subdomain(&"a.".repeat(127)).is_err());
    }

    #[test]
    fn data_keys_follow_the_configmap_rule() {
        for good in ["a", "A_b.c-1", ".env", "tls.crt"] {
            assert!(validate_data_key(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(validate_data_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_keys_are_checked_before_storing() {
        let bad = ObjectKey::new(Kind::PersistentVolumeClaim, "../../tmp", "data");
        let err = validate_object_key(&bad).unwrap_err();
        assert_eq!(err.field, "metadata.namespace");
        assert!(validate_object_key(&ObjectKey::new(Kind::Node, "", "node-a")).is_ok());
        assert!(validate_object_key(&ObjectKey::new(Kind::Pod, "default", "a/b")).is_err());
    }
}
