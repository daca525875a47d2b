//! What a worker needs to start a pod beyond its spec: env, `wasi:config` values and files
//! resolved from ConfigMaps and Secrets, and the claims behind its volumes. Served by the control
//! plane per pod, only to the node the pod is bound to.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPodConfig {
    pub env: Vec<(String, String)>,
    pub config: Vec<(String, String)>,
    /// ConfigMap and Secret volumes: volume name -> file name -> base64 content.
    pub files: BTreeMap<String, BTreeMap<String, String>>,
    pub claims: Vec<ResolvedClaim>,
    /// An `oci://` component's registry credentials from the pod's `imagePullSecrets`:
    /// registry host -> credentials.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub registry_credentials: BTreeMap<String, crate::oci::Credentials>,
    /// The pod's `keyValueStores`, in its order, each with its backend (`None`: no such store).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_value_stores: Vec<ResolvedKeyValueStore>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedKeyValueStore {
    pub name: String,
    /// None when no KeyValueStore of that name exists (the guest's open gets `no-such-store`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<ResolvedStoreBackend>,
}

/// A store's backend with its password resolved from its Secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResolvedStoreBackend {
    Embedded,
    #[serde(rename_all = "camelCase")]
    Redis {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
}

impl std::fmt::Debug for ResolvedStoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolvedStoreBackend::Embedded => f.write_str("Embedded"),
            ResolvedStoreBackend::Redis { url, password } => f
                .debug_struct("Redis")
                .field("url", url)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedClaim {
    pub volume: String,
    pub claim_name: String,
    pub uid: String,
}

/// Annotation on a pod that changes whenever a ConfigMap or Secret it uses changes.
pub const CONFIG_VERSION_ANNOTATION: &str = "wasmpod.dev/config-version";
