//! Persistent volume claims, and the volumes and mounts of a pod.

use crate::error::ValidationError;
use crate::labels::Labels;
use crate::name::validate_label;
use crate::object::Object;
use serde::{Deserialize, Serialize};

/// Durable storage bound to the node of the first pod that uses it.
pub type PersistentVolumeClaim = Object<ClaimSpec, ClaimStatus>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    #[serde(default)]
    pub resources: StorageRequest,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageRequest {
    #[serde(default)]
    pub requests: StorageList,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimPhase {
    #[default]
    Pending,
    Bound,
    /// Deleted while in use: it goes once no pod uses it.
    Terminating,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimStatus {
    #[serde(default)]
    pub phase: ClaimPhase,
    /// The node holding the data, once bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
}

impl ClaimSpec {
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        if let Some(s) = &self.resources.requests.storage {
            crate::quantity::parse_memory(s).map_err(|e| {
                ValidationError::new(format!("{field}.resources.requests.storage"), e)
            })?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretVolumeSource {
    pub secret_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimVolumeSource {
    pub claim_name: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyDirSource {}

/// A volume of a pod: exactly one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<NameRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<ClaimVolumeSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeMount {
    pub name: String,
    /// Absolute path inside the guest, e.g. `/data`.
    pub mount_path: String,
    #[serde(default)]
    pub read_only: bool,
}

impl Volume {
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        validate_label(&self.name).map_err(|e| ValidationError::new(format!("{field}.name"), e))?;
        let sources = usize::from(self.config_map.is_some())
            + usize::from(self.secret.is_some())
            + usize::from(self.persistent_volume_claim.is_some())
            + usize::from(self.empty_dir.is_some());
        if sources != 1 {
            return Err(ValidationError::new(
                field.to_string(),
                "a volume has exactly one of configMap, secret, persistentVolumeClaim, emptyDir",
            ));
        }
        if let Some(r) = &self.config_map {
            validate_reference(&format!("{field}.configMap.name"), &r.name)?;
        }
        if let Some(s) = &self.secret {
            validate_reference(&format!("{field}.secret.secretName"), &s.secret_name)?;
        }
        if let Some(c) = &self.persistent_volume_claim {
            validate_reference(
                &format!("{field}.persistentVolumeClaim.claimName"),
                &c.claim_name,
            )?;
        }
        Ok(())
    }
}

/// Checks the name of an object a pod refers to (a ConfigMap, Secret or claim): the names it
/// can refer to are DNS-1123 labels, and claim names become directory names on nodes.
pub fn validate_reference(field: &str, name: &str) -> Result<(), ValidationError> {
    validate_label(name).map_err(|e| ValidationError::new(field.to_string(), e))
}

/// Checks a guest mount path: absolute, normalised, inside the guest's root.
pub fn validate_mount_path(field: &str, path: &str) -> Result<(), ValidationError> {
    let err = |m: &str| {
        Err(ValidationError::new(
            field.to_string(),
            format!("{path:?} {m}"),
        ))
    };
    if !path.starts_with('/') {
        return err("must be an absolute path inside the guest");
    }
    if path == "/" {
        return err("must name a directory below the guest's root");
    }
    if path.split('/').any(|c| c == ".." || c == ".") {
        return err("must not contain '.' or '..': it would leave the guest's root");
    }
    if path.contains('\0') || path.contains("//") {
        return err("is not a clean path");
    }
    Ok(())
}

/// Labels a volume claim template's claims get.
pub type ClaimLabels = Labels;
