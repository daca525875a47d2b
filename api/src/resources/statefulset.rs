//! StatefulSets: replicas with stable names (`NAME-0`, `NAME-1` ...), started in order, each
//! with its own PersistentVolumeClaims from the set's claim templates, kept across restarts and
//! scale-downs.

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
