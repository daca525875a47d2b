//! Registry credentials from a pod's `imagePullSecrets`: Secrets of type
//! `kubernetes.io/dockerconfigjson` whose `.dockerconfigjson` is a Docker config. Used at apply
//! (to resolve a tag) and in a pod's resolved config (for the node that pulls it).

use crate::registry::Registry;
use crate::typed::TypedRegistry;
use std::collections::BTreeMap;
use wasmpod_api::oci::{Credentials, DockerConfig};
use wasmpod_api::{NameRef, Secret};

pub const DOCKER_CONFIG_TYPE: &str = "kubernetes.io/dockerconfigjson";
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

/// Registry host -> credentials, from the secrets `names` (in `namespace`; `pending` are Secrets
/// of the same apply, not stored yet, looked at first). A later secret does not override an
/// earlier one's registry. Errors name the field.
pub fn credentials(
    registry: &Registry,
    namespace: &str,
    names: &[NameRef],
    field: &str,
    pending: &[Secret],
) -> Result<BTreeMap<String, Credentials>, String> {
    let mut out = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let at = format!("{field}.imagePullSecrets[{i}]");
        let stored;
        let secret = match pending.iter().find(|s| {
            s.metadata.name.as_str() == name.name
                && s.metadata
                    .namespace
                    .as_deref()
                    .unwrap_or(wasmpod_api::DEFAULT_NAMESPACE)
                    == namespace
        }) {
            Some(secret) => secret,
            None => {
                stored = registry
                    .fetch::<Secret>(namespace, &name.name)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| {
                        format!("secret {:?} not found (referenced by {at})", name.name)
                    })?;
                &stored
            }
        };
        if secret.secret_type.as_deref() != Some(DOCKER_CONFIG_TYPE) {
            return Err(format!(
                "secret {:?} (referenced by {at}) is not of type {DOCKER_CONFIG_TYPE}",
                name.name
            ));
        }
        let decoded = secret.decoded();
        let config = decoded.get(DOCKER_CONFIG_KEY).ok_or_else(|| {
            format!(
                "secret {:?} (referenced by {at}) has no {DOCKER_CONFIG_KEY} key",
                name.name
            )
        })?;
        let found = DockerConfig::parse(config)
            .and_then(|c| c.credentials())
            .map_err(|e| format!("secret {:?} (referenced by {at}): {e}", name.name))?;
        for (host, credentials) in found {
            out.entry(host).or_insert(credentials);
        }
    }
    Ok(out)
}
