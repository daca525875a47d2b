//! `GET /api/v1/pods/{name}/config`: a pod's env, `wasi:config` values, ConfigMap/Secret files
//! and claims, resolved. A reference to something missing answers 422 naming it, and the worker
//! keeps the pod Pending with `CreateContainerConfigError`.

use super::objects::ObjectQuery;
use super::{ApiError, AppState, Identity};
use crate::registry::Registry;
use crate::typed::TypedRegistry;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use base64::Engine as _;
use std::collections::BTreeMap;
use wasmpod_api::resolved::{
    ResolvedClaim, ResolvedKeyValueStore, ResolvedPodConfig, ResolvedStoreBackend,
};
use wasmpod_api::{
    ConfigMap, DataSource, KeyValueStore, PersistentVolumeClaim, Pod, Secret, DEFAULT_NAMESPACE,
};

pub async fn pod_config(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path((plural, name)): Path<(String, String)>,
    Query(query): Query<ObjectQuery>,
) -> Result<Json<ResolvedPodConfig>, ApiError> {
    if plural != "pods" {
        return Err(ApiError::not_found("only pods have a resolved config"));
    }
    let namespace = query.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    let pod: Pod = state
        .registry
        .fetch::<Pod>(namespace, &name)?
        .ok_or_else(|| ApiError::not_found(format!("pods {name:?} not found")))?;
    if let Identity::Node(node) = &identity {
        // The authorizer checked this before; the pod read here is the one resolved.
        if pod.spec.node_name.as_deref() != Some(node.as_str()) {
            return Err(ApiError::forbidden(format!(
                "{identity} may not read the resolved config of pods {namespace}/{name}: it is not bound to it"
            )));
        }
    }
    resolve(&state.registry, &pod).map(Json)
}

struct Sources<'a> {
    registry: &'a Registry,
    namespace: &'a str,
}

impl Sources<'_> {
    fn config_map(&self, name: &str, field: &str) -> Result<ConfigMap, ApiError> {
        self.registry
            .fetch::<ConfigMap>(self.namespace, name)?
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "configmap {name:?} not found (referenced by {field})"
                ))
            })
    }

    fn secret(&self, name: &str, field: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let secret: Secret = self
            .registry
            .fetch::<Secret>(self.namespace, name)?
            .ok_or_else(|| {
                ApiError::invalid(format!("secret {name:?} not found (referenced by {field})"))
            })?;
        Ok(secret
            .decoded()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect())
    }

    fn whole(
        &self,
        source: &DataSource,
        field: &str,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        match (&source.config_map_ref, &source.secret_ref) {
            (Some(cm), _) => Ok(self
                .config_map(&cm.name, &format!("{field}.configMapRef"))?
                .data),
            (_, Some(s)) => self.secret(&s.name, &format!("{field}.secretRef")),
            _ => Ok(BTreeMap::new()),
        }
    }
}

pub fn resolve(registry: &Registry, pod: &Pod) -> Result<ResolvedPodConfig, ApiError> {
    let spec = &pod.spec;
    let sources = Sources {
        registry,
        namespace: pod.namespace(),
    };
    let mut resolved = ResolvedPodConfig::default();
    for (i, source) in spec.env_from.iter().enumerate() {
        resolved
            .env
            .extend(sources.whole(source, &format!("spec.envFrom[{i}]"))?);
    }
    for (i, var) in spec.env.iter().enumerate() {
        let field = format!("spec.env[{i}].valueFrom");
        let value = match &var.value_from {
            None => var.value.clone(),
            Some(from) => {
                let (data, key, what) = match (&from.config_map_key_ref, &from.secret_key_ref) {
                    (Some(r), _) => (sources.config_map(&r.name, &field)?.data, r, "configmap"),
                    (_, Some(r)) => (sources.secret(&r.name, &field)?, r, "secret"),
                    _ => continue,
                };
                data.get(&key.key).cloned().ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{what} {:?} has no key {:?} (referenced by {field})",
                        key.name, key.key
                    ))
                })?
            }
        };
        resolved.env.retain(|(k, _)| *k != var.name);
        resolved.env.push((var.name.clone(), value));
    }
    for (i, source) in spec.config_from.iter().enumerate() {
        resolved
            .config
            .extend(sources.whole(source, &format!("spec.configFrom[{i}]"))?);
    }
    if spec.component.oci().is_some() {
        resolved.registry_credentials = super::pull_secrets::credentials(
            registry,
            pod.namespace(),
            &spec.image_pull_secrets,
            "spec",
            &[],
        )
        .map_err(ApiError::invalid)?;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    for (i, volume) in spec.volumes.iter().enumerate() {
        let field = format!("spec.volumes[{i}]");
        if let Some(cm) = &volume.config_map {
            let data = sources
                .config_map(&cm.name, &format!("{field}.configMap"))?
                .data;
            resolved.files.insert(
                volume.name.clone(),
                data.into_iter().map(|(k, v)| (k, b64.encode(v))).collect(),
            );
        }
        if let Some(secret) = &volume.secret {
            let value = registry
                .fetch::<Secret>(pod.namespace(), &secret.secret_name)?
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "secret {:?} not found (referenced by {field}.secret)",
                        secret.secret_name
                    ))
                })?;
            resolved.files.insert(
                volume.name.clone(),
                value
                    .decoded()
                    .into_iter()
                    .map(|(k, v)| (k, b64.encode(v)))
                    .collect(),
            );
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            let found = registry
                .fetch::<PersistentVolumeClaim>(pod.namespace(), &claim.claim_name)?
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "persistentvolumeclaim {:?} not found (referenced by {field})",
                        claim.claim_name
                    ))
                })?;
            resolved.claims.push(ResolvedClaim {
                volume: volume.name.clone(),
                claim_name: claim.claim_name.clone(),
                uid: found.metadata.uid.clone().unwrap_or_default(),
            });
        }
    }
    for (i, name) in spec.key_value_stores.iter().enumerate() {
        let field = format!("spec.keyValueStores[{i}]");
        let backend = match registry.fetch::<KeyValueStore>(pod.namespace(), name)? {
            None => None,
            Some(store) => Some(store_backend(&sources, &store, &field)?),
        };
        resolved.key_value_stores.push(ResolvedKeyValueStore {
            name: name.clone(),
            backend,
        });
    }
    Ok(resolved)
}

/// A store's backend, its Redis password read from the Secret it names.
fn store_backend(
    sources: &Sources<'_>,
    store: &KeyValueStore,
    field: &str,
) -> Result<ResolvedStoreBackend, ApiError> {
    let Some(redis) = &store.spec.redis else {
        return Ok(ResolvedStoreBackend::Embedded);
    };
    let password = match &redis.password_secret_ref {
        None => None,
        Some(r) => {
            let field = format!(
                "keyvaluestore {:?} spec.redis.passwordSecretRef, used by {field}",
                store.name()
            );
            let data = sources.secret(&r.name, &field)?;
            Some(data.get(&r.key).cloned().ok_or_else(|| {
                ApiError::invalid(format!(
                    "secret {:?} has no key {:?} (referenced by {field})",
                    r.name, r.key
                ))
            })?)
        }
    };
    Ok(ResolvedStoreBackend::Redis {
        url: redis.url.clone(),
        password,
    })
}
