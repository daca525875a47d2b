//! Stamps each pod with a version of the ConfigMaps, Secrets and KeyValueStores (and their
//! password Secrets) it uses (`wasmpod.dev/config-version`). When one of them changes, the stamp changes, and the node
//! running the pod reloads it: HTTP pods serve new instances with the new values, command pods
//! restart.

use crate::registry::{to_any, Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use wasmpod_api::resolved::CONFIG_VERSION_ANNOTATION;
use wasmpod_api::Resource as _;
use wasmpod_api::{KeyValueStore, Kind, Pod, PodSpec};

/// (kind, name) of every ConfigMap and Secret the spec refers to.
pub(crate) fn references(spec: &PodSpec) -> BTreeSet<(Kind, String)> {
    let mut refs = BTreeSet::new();
    for source in spec.env_from.iter().chain(&spec.config_from) {
        if let Some(r) = &source.config_map_ref {
            refs.insert((Kind::ConfigMap, r.name.clone()));
        }
        if let Some(r) = &source.secret_ref {
            refs.insert((Kind::Secret, r.name.clone()));
        }
    }
    for var in &spec.env {
        if let Some(from) = &var.value_from {
            if let Some(r) = &from.config_map_key_ref {
                refs.insert((Kind::ConfigMap, r.name.clone()));
            }
            if let Some(r) = &from.secret_key_ref {
                refs.insert((Kind::Secret, r.name.clone()));
            }
        }
    }
    for volume in &spec.volumes {
        if let Some(r) = &volume.config_map {
            refs.insert((Kind::ConfigMap, r.name.clone()));
        }
        if let Some(r) = &volume.secret {
            refs.insert((Kind::Secret, r.secret_name.clone()));
        }
    }
    for store in &spec.key_value_stores {
        refs.insert((Kind::KeyValueStore, store.clone()));
    }
    refs
}

pub fn reconcile_all(registry: &Registry) -> Result<(), RegistryError> {
    let mut versions: HashMap<(Kind, String, String), u64> = HashMap::new();
    for kind in [Kind::ConfigMap, Kind::Secret, Kind::KeyValueStore] {
        for object in registry.list(kind, None)?.0 {
            versions.insert(
                (
                    kind,
                    object.namespace().to_string(),
                    object.name().to_string(),
                ),
                object.resource_version(),
            );
        }
    }
    // The Secret behind each Redis store's password, by (namespace, store).
    let store_secrets: HashMap<(String, String), String> = registry
        .all::<KeyValueStore>(None)?
        .iter()
        .filter_map(|s| {
            let secret = s.spec.redis.as_ref()?.password_secret_ref.as_ref()?;
            Some((
                (s.namespace().to_string(), s.name().to_string()),
                secret.name.clone(),
            ))
        })
        .collect();
    let pods = registry.all::<Pod>(None)?;
    let mut writes = Vec::new();
    for pod in pods {
        let mut refs = references(&pod.spec);
        for store in &pod.spec.key_value_stores {
            if let Some(secret) = store_secrets.get(&(pod.namespace().to_string(), store.clone())) {
                refs.insert((Kind::Secret, secret.clone()));
            }
        }
        if refs.is_empty() {
            continue;
        }
        let mut text = String::new();
        for (kind, name) in &refs {
            let rv = versions
                .get(&(*kind, pod.namespace().to_string(), name.clone()))
                .copied();
            text.push_str(&format!("{kind}/{name}@{rv:?};"));
        }
        let version = hex::encode(Sha256::digest(text.as_bytes()))[..12].to_string();
        if pod.metadata.annotations.get(CONFIG_VERSION_ANNOTATION) != Some(&version) {
            let mut pod = std::sync::Arc::unwrap_or_clone(pod);
            pod.metadata
                .annotations
                .insert(CONFIG_VERSION_ANNOTATION.to_string(), version);
            let key = pod.key();
            writes.push(Write::Update(to_any(&key, &pod)?));
        }
    }
    super::commit_each(registry, "config-version", writes)?;
    Ok(())
}
