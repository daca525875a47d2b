//! ConfigMaps and Secrets: key-value data injected into pods as env vars, files, or through
//! `wasi:config/store`. Unlike the other kinds they have `data` instead of `spec`, as in Kubernetes.

use crate::error::ValidationError;
use crate::meta::ObjectMeta;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMap {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

/// Secret values: `data` holds base64, `stringData` plain text (folded into `data` on apply).
/// Encrypted at rest by the control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
}

/// Checks a key of `data` or `stringData` (Kubernetes' ConfigMap key rule: keys become file
/// names on nodes).
pub fn validate_key(field: &str, key: &str) -> Result<(), ValidationError> {
    crate::name::validate_data_key(key)
        .map_err(|e| ValidationError::new(format!("{field}[{key:?}]"), e))
}

impl ConfigMap {
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.data.keys().try_for_each(|k| validate_key("data", k))
    }
}

impl Secret {
    pub fn validate(&self) -> Result<(), ValidationError> {
        for (key, value) in &self.data {
            validate_key("data", key)?;
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| {
                    ValidationError::new(
                        format!("data[{key:?}]"),
                        "is not base64 (use stringData for plain text)",
                    )
                })?;
        }
        self.string_data
            .keys()
            .try_for_each(|k| validate_key("stringData", k))
    }

    /// Moves `stringData` into `data` (base64), as Kubernetes does on write.
    pub fn normalise(&mut self) {
        for (key, value) in std::mem::take(&mut self.string_data) {
            self.data
                .insert(key, base64::engine::general_purpose::STANDARD.encode(value));
        }
    }

    /// The decoded values (skipping any that are not base64; validation refuses those).
    pub fn decoded(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out: BTreeMap<String, Vec<u8>> = self
            .data
            .iter()
            .filter_map(|(k, v)| {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .ok()
                    .map(|d| (k.clone(), d))
            })
            .collect();
        for (k, v) in &self.string_data {
            out.insert(k.clone(), v.clone().into_bytes());
        }
        out
    }
}
