//! Registry credentials as a Docker config holds them (the `.dockerconfigjson` key of a
//! `kubernetes.io/dockerconfigjson` Secret): `{"auths": {"host:port": {"username", "password"}
//! or {"auth": base64("user:pass")}}}`.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    pub auths: BTreeMap<String, DockerAuth>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DockerAuth {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub auth: Option<String>,
}

impl DockerConfig {
    pub fn parse(bytes: &[u8]) -> Result<DockerConfig, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a Docker config: {e}"))
    }

    /// Every registry's credentials (entries with neither form are skipped; a bad `auth` is an
    /// error naming the registry).
    pub fn credentials(&self) -> Result<BTreeMap<String, Credentials>, String> {
        let mut out = BTreeMap::new();
        for (server, entry) in &self.auths {
            let host = registry_host(server);
            let credentials = match (&entry.username, &entry.password, &entry.auth) {
                (Some(username), Some(password), _) => Credentials {
                    username: username.clone(),
                    password: password.clone(),
                },
                (_, _, Some(auth)) => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| {
                            format!("auths[{server:?}].auth is not base64 of user:password")
                        })?;
                    let (username, password) = decoded.split_once(':').ok_or_else(|| {
                        format!("auths[{server:?}].auth is not base64 of user:password")
                    })?;
                    Credentials {
                        username: username.into(),
                        password: password.into(),
                    }
                }
                _ => continue,
            };
            out.insert(host, credentials);
        }
        Ok(out)
    }
}

/// `https://host:port/v1/` (as `docker login` writes some entries) -> `host:port`.
fn registry_host(server: &str) -> String {
    let s = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    s.split('/').next().unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_configs_give_credentials_per_registry_in_both_forms() {
        let config = DockerConfig::parse(
            br#"{"auths": {"reg.example:5000": {"username": "u", "password": "p"},
                 "https://other.example/v1/": {"auth": "YWxpY2U6czNjcjp0"}, "empty.example": {}}}"#,
        )
        .unwrap();
        let creds = config.credentials().unwrap();
        assert_eq!(creds["reg.example:5000"].username, "u");
        assert_eq!(creds["other.example"].username, "alice");
        assert_eq!(creds["other.example"].password, "s3cr:t");
        assert!(!creds.contains_key("empty.example"));
        assert!(!format!("{:?}", creds["other.example"]).contains("s3cr"));
        let bad = DockerConfig::parse(br#"{"auths": {"r": {"auth": "!!"}}}"#).unwrap();
        assert!(bad.credentials().unwrap_err().contains("\"r\""));
    }
}
