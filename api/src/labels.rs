//! Label maps and selectors.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// Parses `k=v,k2=v2` as used by `-l` on the command line and `labelSelector` in the API.
pub fn parse_selector(text: &str) -> Result<Labels, String> {
    let mut out = Labels::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("label selector {part:?} is not key=value"))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

pub fn format_labels(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_selector_matches_nothing() {
        let labels: Labels = [("app".to_string(), "a".to_string())].into();
        assert!(!matches(&Labels::new(), &labels));
        assert!(matches(&labels, &labels));
        assert_eq!(parse_selector("app=a").unwrap(), labels);
    }
}
