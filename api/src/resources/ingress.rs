//! Ingresses: host and path rules that send outside HTTP traffic to a service; every node's
//! gateway serves them.

use super::NoStatus;
use crate::error::ValidationError;
use crate::name::validate_label;
use crate::object::Object;
use serde::{Deserialize, Serialize};

/// Host and path rules mapping outside HTTP traffic to services.
pub type Ingress = Object<IngressSpec, NoStatus>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressSpec {
    pub rules: Vec<IngressRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressRule {
    /// Matches the request's Host (without port); absent matches every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub http: HttpRules,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRules {
    pub paths: Vec<IngressPath>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressPath {
    #[serde(default = "root")]
    pub path: String,
    #[serde(default)]
    pub path_type: PathType,
    pub backend: IngressBackend,
}

fn root() -> String {
    "/".to_string()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PathType {
    /// Matches the path and everything below it, segment-wise (`/api` matches `/api/x`, not `/apix`).
    #[default]
    Prefix,
    Exact,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressBackend {
    /// The name of a Service in the ingress's namespace.
    pub service: String,
}

impl IngressSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.rules.is_empty() {
            return Err(ValidationError::new(
                "spec.rules",
                "must hold at least one rule",
            ));
        }
        for (r, rule) in self.rules.iter().enumerate() {
            if let Some(host) = &rule.host {
                if host.is_empty() || host.contains('/') || host.contains(':') {
                    return Err(ValidationError::new(
                        format!("spec.rules[{r}].host"),
                        format!("{host:?} is not a host name (no scheme, port or path)"),
                    ));
                }
            }
            if rule.http.paths.is_empty() {
                return Err(ValidationError::new(
                    format!("spec.rules[{r}].http.paths"),
                    "must hold at least one path",
                ));
            }
            for (p, path) in rule.http.paths.iter().enumerate() {
                let field = format!("spec.rules[{r}].http.paths[{p}]");
                if !path.path.starts_with('/') {
                    return Err(ValidationError::new(
                        format!("{field}.path"),
                        format!("{:?} must start with '/'", path.path),
                    ));
                }
                validate_label(&path.backend.service)
                    .map_err(|e| ValidationError::new(format!("{field}.backend.service"), e))?;
            }
        }
        Ok(())
    }
}

/// True when `path` falls under the rule `rule_path` of `path_type`.
pub fn path_matches(path_type: PathType, rule_path: &str, path: &str) -> bool {
    match path_type {
        PathType::Exact => path == rule_path,
        PathType::Prefix => {
            let prefix = rule_path.trim_end_matches('/');
            prefix.is_empty()
                || path == prefix
                || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_segments() {
        assert!(path_matches(PathType::Prefix, "/hello", "/hello"));
        assert!(path_matches(PathType::Prefix, "/hello", "/hello/x"));
        assert!(!path_matches(PathType::Prefix, "/hello", "/helloworld"));
        assert!(path_matches(PathType::Prefix, "/", "/anything"));
        assert!(path_matches(PathType::Exact, "/a", "/a"));
        assert!(!path_matches(PathType::Exact, "/a", "/a/b"));
    }
}
