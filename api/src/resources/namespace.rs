//! Namespaces: cluster-scoped objects that group the namespaced ones. `default` always exists;
//! deleting a namespace deletes everything in it. While its pods drain, a deleted namespace stays
//! `Terminating` (as in Kubernetes): nothing new may go into it and it cannot be created again
//! until it is gone.

use crate::meta::ObjectMeta;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespace {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    /// Nothing to configure; optional in a manifest.
    #[serde(default)]
    pub spec: NamespaceSpec,
    #[serde(default)]
    pub status: NamespaceStatus,
}

impl Namespace {
    /// A Namespace object named `name`.
    pub fn named(name: crate::Name) -> Namespace {
        Namespace {
            api_version: crate::API_VERSION.to_string(),
            kind: "Namespace".to_string(),
            metadata: ObjectMeta::named(name),
            spec: NamespaceSpec::default(),
            status: NamespaceStatus::default(),
        }
    }

    pub fn name(&self) -> &str {
        self.metadata.name.as_str()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSpec {}

/// A namespace's phase: none (or `Active`) while it is in use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<NamespacePhase>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamespacePhase {
    Active,
    /// Deleted: its pods drain; it goes once the last one is gone.
    Terminating,
}

impl NamespacePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            NamespacePhase::Active => "Active",
            NamespacePhase::Terminating => "Terminating",
        }
    }
}

impl Namespace {
    /// Deleted, its pods still draining.
    pub fn is_terminating(&self) -> bool {
        self.status.phase == Some(NamespacePhase::Terminating)
    }
}
