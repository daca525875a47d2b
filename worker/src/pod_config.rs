//! A pod's resolved config (env, `wasi:config` values, ConfigMap/Secret files, claims) as this
//! node last got it, so that restarting a crashed pod needs no control plane (static
//! stability). Kept in memory only: secret values never reach the node's disk this way.
//!
//! - A pod that refers to no ConfigMap, Secret or claim resolves here, from its spec alone.
//! - Otherwise the node fetches `/api/v1/pods/NAME/config` when it has no config yet or when the
//!   pod's config version (the `wasmpod.dev/config-version` stamp) differs from the one it was
//!   fetched under; every other start reuses what it has.
//! - When a fetch fails because the control plane cannot be reached, the last config is used.

use std::time::Duration;
use wasmpod_api::resolved::ResolvedPodConfig;
use wasmpod_api::{Client, ClientError, ObjectKey, PodSpec};

/// Longest a fetch may take before the control plane counts as unreachable.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a pod has no config to start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A reference to something missing (the API's 422): `CreateContainerConfigError`.
    Invalid(String),
    /// The pod is gone from the control plane.
    PodDeleted(String),
    /// The control plane could not answer and there is no earlier config.
    Unavailable(String),
}

/// Where a start's config came from (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The spec alone: literal env only.
    Spec,
    Fetched,
    /// The last fetched config, its version still current.
    Cached,
    /// The last fetched config, because the control plane could not be reached.
    Stale,
}

#[derive(Default)]
pub struct PodConfig {
    last: Option<Last>,
}

struct Last {
    version: Option<String>,
    resolved: ResolvedPodConfig,
}

impl PodConfig {
    /// The config to start the pod with, under config version `version`.
    pub async fn get(
        &mut self,
        client: &Client,
        key: &ObjectKey,
        spec: &PodSpec,
        version: Option<String>,
    ) -> Result<(ResolvedPodConfig, Source), ConfigError> {
        if let Some(resolved) = from_spec(spec) {
            return Ok((resolved, Source::Spec));
        }
        if let Some(last) = self.last.as_ref().filter(|l| l.version == version) {
            return Ok((last.resolved.clone(), Source::Cached));
        }
        let fetched =
            tokio::time::timeout(FETCH_TIMEOUT, client.pod_config(&key.namespace, &key.name)).await;
        let unreachable = |error: String| match &self.last {
            Some(last) => {
                tracing::warn!(%error, "cannot fetch the pod's config; starting with the last one");
                Ok((last.resolved.clone(), Source::Stale))
            }
            None => Err(ConfigError::Unavailable(error)),
        };
        let fetched: Result<ResolvedPodConfig, ClientError> = match fetched {
            Ok(result) => result,
            Err(_elapsed) => {
                return unreachable(format!(
                    "the control plane did not answer within {} s",
                    FETCH_TIMEOUT.as_secs()
                ))
            }
        };
        match fetched {
            Ok(resolved) => {
                self.last = Some(Last {
                    version,
                    resolved: resolved.clone(),
                });
                Ok((resolved, Source::Fetched))
            }
            // The server's reason, without "(HTTP 422)": it becomes the pod's status message.
            Err(e) if e.status() == Some(422) => Err(ConfigError::Invalid(e.server_message())),
            Err(e) if e.is_not_found() => Err(ConfigError::PodDeleted(e.to_string())),
            Err(error) => unreachable(error.to_string()),
        }
    }
}

/// The resolved config of a pod whose spec refers to no ConfigMap, Secret, claim or
/// key-value store: its literal
/// env (a later variable of the same name wins, as on the control plane). None otherwise.
pub fn from_spec(spec: &PodSpec) -> Option<ResolvedPodConfig> {
    let refers = !spec.env_from.is_empty()
        || (spec.component.oci().is_some() && !spec.image_pull_secrets.is_empty())
        || !spec.config_from.is_empty()
        || !spec.key_value_stores.is_empty()
        || spec.env.iter().any(|v| v.value_from.is_some())
        || spec.volumes.iter().any(|v| {
            v.config_map.is_some() || v.secret.is_some() || v.persistent_volume_claim.is_some()
        });
    if refers {
        return None;
    }
    let mut resolved = ResolvedPodConfig::default();
    for var in &spec.env {
        resolved.env.retain(|(k, _)| *k != var.name);
        resolved.env.push((var.name.clone(), var.value.clone()));
    }
    Some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::Kind;

    fn spec(json: &str) -> PodSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn literal_env_resolves_without_the_control_plane() {
        let s = spec(
            r#"{"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "env": [{"name": "A", "value": "1"},
                {"name": "B", "value": "2"}, {"name": "A", "value": "3"}],
                "volumes": [{"name": "scratch", "emptyDir": {}}]}"#,
        );
        let resolved = from_spec(&s).unwrap();
        assert_eq!(
            resolved.env,
            [("B".into(), "2".into()), ("A".into(), "3".into())]
        );
        let with_secret = spec(
            r#"{"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "envFrom": [{"secretRef": {"name": "s"}}]}"#,
        );
        assert!(from_spec(&with_secret).is_none());
    }

    /// Nothing listens on the client's address: a pod whose config was fetched once starts
    /// again with it; one that never had any cannot start.
    #[tokio::test]
    async fn last_config_is_used_while_the_control_plane_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = Client::new(&format!("http://{addr}"), None);
        let key = ObjectKey::new(Kind::Pod, "default", "p");
        let s = spec(
            r#"{"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "envFrom": [{"secretRef": {"name": "s"}}]}"#,
        );
        let mut config = PodConfig::default();
        let err = config
            .get(&client, &key, &s, Some("v1".into()))
            .await
            .unwrap_err();
        assert!(matches!(err, ConfigError::Unavailable(_)), "{err:?}");

        let mut known = ResolvedPodConfig::default();
        known.env.push(("TOKEN".into(), "s3cret".into()));
        config.last = Some(Last {
            version: Some("v1".into()),
            resolved: known.clone(),
        });
        let same = config.get(&client, &key, &s, Some("v1".into())).await;
        assert_eq!(same, Ok((known.clone(), Source::Cached)));
        let changed = config.get(&client, &key, &s, Some("v2".into())).await;
        assert_eq!(changed, Ok((known, Source::Stale)));
    }
}
