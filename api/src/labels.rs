//! Label maps and selectors: the `matchLabels` of a Deployment or Service, and the selector
//! language of `-l` and `?labelSelector=` (equality and set-based, as in Kubernetes) and of
//! `--field-selector` / `?fieldSelector=` (a few fields, equality only).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use thiserror::Error;

pub type Labels = BTreeMap<String, String>;

/// `matchLabels` selector, as in Kubernetes' Deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: Labels,
}

/// True when every `selector` pair is present in `labels` (an empty selector matches nothing,
/// because selecting everything by accident is never what a user meant).
pub fn matches(selector: &Labels, labels: &Labels) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub fn format_labels(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A selector that could not be parsed; `part` is the requirement at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} selector: {part:?}: {problem}")]
pub struct SelectorError {
    pub what: &'static str,
    pub part: String,
    pub problem: String,
}

/// What one requirement of a label selector asks of a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// `key=value`, `key==value`
    Equals(String),
    /// `key!=value` (also true when the label is absent, as in Kubernetes)
    NotEquals(String),
    /// `key in (a,b)`
    In(BTreeSet<String>),
    /// `key notin (a,b)` (also true when the label is absent)
    NotIn(BTreeSet<String>),
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
}

impl Requirement {
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match &self.operator {
            Operator::Equals(v) => value == Some(v),
            Operator::NotEquals(v) => value != Some(v),
            Operator::In(set) => value.is_some_and(|v| set.contains(v)),
            Operator::NotIn(set) => !value.is_some_and(|v| set.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
        match &self.operator {
            Operator::Equals(v) => write!(f, "{}={v}", self.key),
            Operator::NotEquals(v) => write!(f, "{}!={v}", self.key),
            Operator::In(s) => write!(f, "{} in ({})", self.key, set(s)),
            Operator::NotIn(s) => write!(f, "{} notin ({})", self.key, set(s)),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

/// A parsed label selector: every requirement must hold. The empty selector matches everything
/// (a list without `-l` lists all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses `app=web,tier!=db,env in (a,b),release notin (x),gpu,!legacy`.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            requirements.push(parse_requirement(part.trim())?);
        }
        Ok(Selector { requirements })
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

fn label_error(part: &str, problem: impl Into<String>) -> SelectorError {
    SelectorError {
        what: "label",
        part: part.to_string(),
        problem: problem.into(),
    }
}

/// Splits on commas outside parentheses; an unbalanced parenthesis is an error.
fn split_top_level(text: &str) -> Result<Vec<&str>, SelectorError> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(label_error(text, "a ')' without its '('"));
                }
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(label_error(&text[start..], "a '(' without its ')'"));
    }
    parts.push(&text[start..]);
    if parts.len() == 1 && parts[0].trim().is_empty() {
        return Ok(Vec::new());
    }
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<Requirement, SelectorError> {
    if part.is_empty() {
        return Err(label_error(
            part,
            "an empty requirement (two commas in a row?)",
        ));
    }
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement {
            key: check_key(part, key.trim())?,
            operator: Operator::DoesNotExist,
        });
    }
    for (op, len) in [("!=", 2), ("==", 2), ("=", 1)] {
        if let Some(at) = part.find(op) {
            let key = check_key(part, part[..at].trim())?;
            let value = check_value(part, part[at + len..].trim())?;
            let operator = if op == "!=" {
                Operator::NotEquals(value)
            } else {
                Operator::Equals(value)
            };
            return Ok(Requirement { key, operator });
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 1 {
        return Ok(Requirement {
            key: check_key(part, words[0])?,
            operator: Operator::Exists,
        });
    }
    let key = check_key(part, words[0])?;
    let rest = words[1].trim_start();
    let (negated, set_text) = if let Some(s) = rest.strip_prefix("notin") {
        (true, s)
    } else if let Some(s) = rest.strip_prefix("in") {
        (false, s)
    } else {
        return Err(label_error(
            part,
            "expected =, ==, !=, `in (...)` or `notin (...)` after the key",
        ));
    };
    let inner = set_text
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| label_error(part, "the values of in/notin go in parentheses: (a,b)"))?;
    let mut set = BTreeSet::new();
    for value in inner.split(',') {
        set.insert(check_value(part, value.trim())?);
    }
    if set.iter().any(String::is_empty) && set.len() == 1 {
        return Err(label_error(part, "in/notin needs at least one value"));
    }
    Ok(Requirement {
        key,
        operator: if negated {
            Operator::NotIn(set)
        } else {
            Operator::In(set)
        },
    })
}

/// A label key: an optional DNS prefix and `/`, then up to 63 of `[A-Za-z0-9._-]`.
fn check_key(part: &str, key: &str) -> Result<String, SelectorError> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let ok = !name.is_empty()
        && name.len() <= 63
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(key.to_string())
    } else {
        Err(label_error(
            part,
            format!("{key:?} is not a label key (letters, digits, '.', '_', '-', starting and ending with a letter or digit)"),
        ))
    }
}

fn check_value(part: &str, value: &str) -> Result<String, SelectorError> {
    let ok = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(label_error(
            part,
            format!("{value:?} is not a label value (up to 63 letters, digits, '.', '_', '-')"),
        ))
    }
}

/// The fields a field selector may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    MetadataName,
    MetadataNamespace,
    SpecNodeName,
    StatusPhase,
}

impl Field {
    pub const ALL: [Field; 4] = [
        Field::MetadataName,
        Field::MetadataNamespace,
        Field::SpecNodeName,
        Field::StatusPhase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::MetadataName => "metadata.name",
            Field::MetadataNamespace => "metadata.namespace",
            Field::SpecNodeName => "spec.nodeName",
            Field::StatusPhase => "status.phase",
        }
    }

    /// The field's value in an object's JSON form (`""` when absent, as Kubernetes compares).
    pub fn value_in(self, object: &serde_json::Value) -> String {
        let pointer = match self {
            Field::MetadataName => "/metadata/name",
            Field::MetadataNamespace => "/metadata/namespace",
            Field::SpecNodeName => "/spec/nodeName",
            Field::StatusPhase => "/status/phase",
        };
        object
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: Field,
    pub equals: bool,
    pub value: String,
}

/// A parsed field selector: `spec.nodeName=node-1,status.phase!=Running`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn parse(text: &str) -> Result<FieldSelector, SelectorError> {
        let mut requirements = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let error = |problem: String| SelectorError {
                what: "field",
                part: part.to_string(),
                problem,
            };
            let (name, equals, value) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(error(
                    "expected field=value, field==value or field!=value".into(),
                ));
            };
            let field = Field::ALL
                .into_iter()
                .find(|f| f.as_str() == name.trim())
                .ok_or_else(|| {
                    let known: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
                    error(format!(
                        "{:?} is not a supported field (supported: {})",
                        name.trim(),
                        known.join(", ")
                    ))
                })?;
            requirements.push(FieldRequirement {
                field,
                equals,
                value: value.trim().to_string(),
            });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn matches(&self, object: &serde_json::Value) -> bool {
        self.requirements
            .iter()
            .all(|r| (r.field.value_in(object) == r.value) == r.equals)
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// The labels of an object in its JSON form.
pub fn labels_of(object: &serde_json::Value) -> Labels {
    object
        .pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_match_labels_match_nothing() {
        let l = labels(&[("app", "a")]);
        assert!(!matches(&Labels::new(), &l));
        assert!(matches(&l, &l));
    }

    #[test]
    fn equality_and_set_based_requirements() {
        let web = labels(&[("app", "web"), ("tier", "front")]);
        let db = labels(&[("app", "db")]);
        let cases = [
            ("app=web", true, false),
            ("app==web", true, false),
            ("app!=web", false, true),
            ("app in (web, api)", true, false),
            ("app notin (web)", false, true),
            ("tier", true, false),
            ("!tier", false, true),
            ("app=web,tier=front", true, false),
            ("tier!=back", true, true),
            ("", true, true),
        ];
        for (text, on_web, on_db) in cases {
            let s = Selector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.matches(&web), on_web, "{text} on web");
            assert_eq!(s.matches(&db), on_db, "{text} on db");
        }
    }

    #[test]
    fn errors_name_the_bad_part() {
        for (text, part) in [
            ("app=web,=x", "=x"),
            ("app=web,tier in (a", "tier in (a"),
            ("app wat (a)", "app wat (a)"),
            ("app=we b", "app=we b"),
            ("app=web,,x=y", ""),
            ("tier in a,b", "tier in a"),
        ] {
            let e = Selector::parse(text).expect_err(text);
            assert_eq!(e.part, part, "{text}: {e}");
        }
    }

    #[test]
    fn field_selectors() {
        let pod = serde_json::json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"},
            "status": {"phase": "Running"}});
        assert!(FieldSelector::parse("spec.nodeName=n1")
            .unwrap()
            .matches(&pod));
        assert!(!FieldSelector::parse("status.phase!=Running")
            .unwrap()
            .matches(&pod));
        let e = FieldSelector::parse("spec.image=x").unwrap_err();
        assert!(e.to_string().contains("spec.nodeName"), "{e}");
    }
}
