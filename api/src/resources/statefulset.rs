//! StatefulSets: replicas with stable names (`NAME-0`, `NAME-1` ...), started in order, each
//! with its own PersistentVolumeClaims from the set's claim templates, kept across restarts and
//! scale-downs. `podManagementPolicy` says whether pods come and go one at a time, in order
//! (`OrderedReady`, the default) or all at once (`Parallel`); `updateStrategy` whether a changed
//! template replaces the pods (`RollingUpdate`, highest ordinal first, one at a time) or only
//! pods deleted by hand come back with it (`OnDelete`).

use super::deployment::PodTemplate;
use super::volume::ClaimSpec;
use crate::error::ValidationError;
use crate::labels::{self, LabelSelector};
use crate::name::validate_label;
use crate::object::Object;
use serde::{Deserialize, Serialize};

/// Replicas with stable names (`db-0`, `db-1` ...), created in order, each with its own claims.
pub type StatefulSet = Object<StatefulSetSpec, StatefulSetStatus>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatefulSetSpec {
    #[serde(default = "one")]
    pub replicas: u32,
    pub selector: LabelSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    pub template: PodTemplate,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<ClaimTemplate>,
    #[serde(default)]
    pub pod_management_policy: PodManagementPolicy,
    #[serde(default)]
    pub update_strategy: StatefulSetUpdateStrategy,
}

/// How a StatefulSet's pods come and go, as in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PodManagementPolicy {
    /// One pod at a time: ordinal i is made once every lower one is Running and ready, and on a
    /// scale-down the highest goes first, the next only once it is gone.
    #[default]
    OrderedReady,
    /// Every missing pod is made at once, and every pod past `replicas` taken away at once.
    Parallel,
}

/// What a changed template does to a StatefulSet's pods.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatefulSetUpdateStrategy {
    #[serde(rename = "type", default)]
    pub strategy_type: StatefulSetUpdateType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StatefulSetUpdateType {
    /// Each pod is replaced, from the highest ordinal down, one at a time: the next only once
    /// the replaced one is back, Running and ready.
    #[default]
    RollingUpdate,
    /// Pods keep their template until someone deletes them; they come back with the new one.
    OnDelete,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimTemplate {
    pub metadata: ClaimTemplateMeta,
    #[serde(default)]
    pub spec: ClaimSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimTemplateMeta {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatefulSetStatus {
    #[serde(default)]
    pub replicas: u32,
    #[serde(default)]
    pub ready_replicas: u32,
    /// Pods of the current template (`updateRevision`).
    #[serde(default)]
    pub updated_replicas: u32,
    /// The hash of the current template, as the pods' `pod-template-hash` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_revision: Option<String>,
}

impl StatefulSetSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.replicas > 1000 {
            return Err(ValidationError::new(
                "spec.replicas",
                "a StatefulSet may have at most 1000 replicas",
            ));
        }
        if self.selector.match_labels.is_empty() {
            return Err(ValidationError::new(
                "spec.selector.matchLabels",
                "must not be empty",
            ));
        }
        if !labels::matches(&self.selector.match_labels, &self.template.metadata.labels) {
            return Err(ValidationError::new(
                "spec.template.metadata.labels",
                "must include the selector's labels",
            ));
        }
        for (i, t) in self.volume_claim_templates.iter().enumerate() {
            let field = format!("spec.volumeClaimTemplates[{i}]");
            validate_label(&t.metadata.name)
                .map_err(|e| ValidationError::new(format!("{field}.metadata.name"), e))?;
            t.spec.validate(&format!("{field}.spec"))?;
        }
        let claims: Vec<&str> = self
            .volume_claim_templates
            .iter()
            .map(|t| t.metadata.name.as_str())
            .collect();
        self.template
            .spec
            .validate_always_restarts("spec.template.spec", "StatefulSet")?;
        self.template
            .spec
            .validate_with_claims("spec.template.spec", &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: serde_json::Value) -> Result<StatefulSetSpec, String> {
        let mut spec = serde_json::json!({
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000"}},
        });
        if let (Some(map), Some(more)) = (spec.as_object_mut(), extra.as_object()) {
            map.extend(more.clone());
        }
        serde_path_to_error::deserialize::<_, StatefulSetSpec>(spec).map_err(|e| e.to_string())
    }

    #[test]
    fn ordered_ready_and_rolling_update_are_the_defaults() {
        let spec = parse(serde_json::json!({})).unwrap();
        assert_eq!(
            spec.pod_management_policy,
            PodManagementPolicy::OrderedReady
        );
        assert_eq!(
            spec.update_strategy.strategy_type,
            StatefulSetUpdateType::RollingUpdate
        );
        let spec = parse(serde_json::json!({"podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "OnDelete"}}))
        .unwrap();
        assert_eq!(spec.pod_management_policy, PodManagementPolicy::Parallel);
        assert_eq!(
            spec.update_strategy.strategy_type,
            StatefulSetUpdateType::OnDelete
        );
    }

    #[test]
    fn an_unknown_policy_is_refused_naming_the_field_and_the_values() {
        let error = parse(serde_json::json!({"podManagementPolicy": "Ordered"})).unwrap_err();
        assert!(
            error.contains("podManagementPolicy")
                && error.contains("OrderedReady")
                && error.contains("Parallel"),
            "{error}"
        );
        let error = parse(serde_json::json!({"updateStrategy": {"type": "Recreate"}})).unwrap_err();
        assert!(
            error.contains("updateStrategy.type") && error.contains("OnDelete"),
            "{error}"
        );
    }
}
