use crate::labels::Labels;
use crate::name::Name;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `metadata` of every object. Users write `name`, `namespace`, `labels`, `annotations`; the
/// control plane fills the rest (they are accepted back so `get -o yaml | apply -f -` works).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    pub name: Name,
    /// A DNS-1123 label (checked at parse time: it becomes a directory name on nodes).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::name::deserialize_namespace"
    )]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub annotations: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    /// Set when a pod is asked to stop: it leaves its services' endpoints at once, its node
    /// drains its in-flight requests (up to `terminationGracePeriodSeconds`), stops it, and the
    /// object goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<DateTime<Utc>>,
}

impl ObjectMeta {
    pub fn named(name: Name) -> Self {
        ObjectMeta {
            name,
            namespace: None,
            labels: Labels::new(),
            annotations: Labels::new(),
            uid: None,
            resource_version: None,
            generation: None,
            creation_timestamp: None,
            owner_references: Vec::new(),
            deletion_timestamp: None,
        }
    }

    pub fn namespace(&self) -> &str {
        self.namespace
            .as_deref()
            .unwrap_or(crate::DEFAULT_NAMESPACE)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnerReference {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}
