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
    /// Certificates the gateway's TLS listener serves for these hosts (picked by SNI).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<IngressTls>,
}

/// One certificate for some hosts: a Secret in the ingress's namespace holding `tls.crt` (PEM
/// chain) and `tls.key` (PEM private key), as Kubernetes' `kubernetes.io/tls` Secrets do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressTls {
    /// Host names (`*.example.com` matches one label) the certificate is served for.
    pub hosts: Vec<String>,
    pub secret_name: String,
}

/// The key of a TLS Secret holding the certificate chain (PEM).
pub const TLS_CERT_KEY: &str = "tls.crt";
/// The key of a TLS Secret holding the private key (PEM).
pub const TLS_PRIVATE_KEY: &str = "tls.key";

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
        for (t, tls) in self.tls.iter().enumerate() {
            let field = format!("spec.tls[{t}]");
            crate::name::validate_subdomain(&tls.secret_name)
                .map_err(|e| ValidationError::new(format!("{field}.secretName"), e))?;
            if tls.hosts.is_empty() {
                return Err(ValidationError::new(
                    format!("{field}.hosts"),
                    "must name at least one host",
                ));
            }
            for (h, host) in tls.hosts.iter().enumerate() {
                let plain = host.strip_prefix("*.").unwrap_or(host);
                crate::name::validate_subdomain(&plain.to_ascii_lowercase())
                    .map_err(|e| ValidationError::new(format!("{field}.hosts[{h}]"), e))?;
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
    fn tls_entries_name_a_secret_and_hosts() {
        let spec = |tls: serde_json::Value| -> IngressSpec {
            serde_json::from_value(serde_json::json!({
                "rules": [{"http": {"paths": [{"path": "/", "backend": {"service": "s"}}]}}],
                "tls": tls,
            }))
            .expect("an ingress spec")
        };
        spec(serde_json::json!([{"hosts": ["a.example.com", "*.example.com"], "secretName": "site"}]))
            .validate()
            .expect("valid");
        let error = spec(serde_json::json!([{"hosts": [], "secretName": "site"}]))
            .validate()
            .expect_err("no hosts");
        assert!(error.to_string().contains("spec.tls[0].hosts"), "{error}");
        let error = spec(
            serde_json::json!([{"hosts": ["a.example.com", "bad host"], "secretName": "site"}]),
        )
        .validate()
        .expect_err("a bad host");
        assert!(
            error.to_string().contains("spec.tls[0].hosts[1]"),
            "{error}"
        );
        let error = spec(serde_json::json!([{"hosts": ["a.example.com"], "secretName": "Site_1"}]))
            .validate()
            .expect_err("a bad secret name");
        assert!(
            error.to_string().contains("spec.tls[0].secretName"),
            "{error}"
        );
    }

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
