//! Object names: DNS-1123 labels, checked when parsed so a bad name fails with its field.

use serde::{Deserialize, Serialize};
use std::fmt;

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

/// Checks a DNS-1123 label; the error says what is wrong with `value`.
pub fn validate_label(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("name must not be empty".into());
    }
    if value.len() > 63 {
        return Err(format!("name {value:?} is longer than 63 characters"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "name {value:?} contains {bad:?}: use lowercase letters, digits and '-'"
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(format!(
            "name {value:?} must start and end with a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_label_rules() {
        assert!(Name::try_from("hello-1").is_ok());
        assert!(Name::try_from("Hello").is_err());
        assert!(Name::try_from("-a").is_err());
        assert!(Name::try_from("a_b").is_err());
        assert!(Name::try_from("").is_err());
        assert!(Name::try_from("a".repeat(64)).is_err());
    }
}
