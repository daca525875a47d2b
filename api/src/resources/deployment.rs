//! Deployments: a number of identical pods of one template, kept running and rolled to a new
//! template as its pods turn ready (the deployment controller does the work). Their pods always
//! restart (`restartPolicy: Always`), and the template's labels must carry the selector's.

use super::pod::PodSpec;
use crate::error::ValidationError;
use crate::labels::{self, LabelSelector, Labels};
use crate::object::Object;
use serde::{Deserialize, Serialize};

/// Desired replicas of a pod template, reconciled continuously.
pub type Deployment = Object<DeploymentSpec, DeploymentStatus>;

/// The most replicas one Deployment may ask for.
pub const MAX_REPLICAS: u32 = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    #[serde(default = "one")]
    pub replicas: u32,
    pub selector: LabelSelector,
    pub template: PodTemplate,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTemplate {
    #[serde(default)]
    pub metadata: TemplateMeta,
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateMeta {
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub annotations: Labels,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentStatus {
    #[serde(default)]
    pub replicas: u32,
    #[serde(default)]
    pub ready_replicas: u32,
    #[serde(default)]
    pub updated_replicas: u32,
    #[serde(default)]
    pub observed_generation: u64,
}

impl DeploymentSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.replicas > MAX_REPLICAS {
            return Err(ValidationError::new(
                "spec.replicas",
                format!("{} is more than the limit of {MAX_REPLICAS}", self.replicas),
            ));
        }
        if self.selector.match_labels.is_empty() {
            return Err(ValidationError::new(
                "spec.selector.matchLabels",
                "must not be empty: the selector decides which pods belong to the deployment",
            ));
        }
        if !labels::matches(&self.selector.match_labels, &self.template.metadata.labels) {
            return Err(ValidationError::new(
                "spec.template.metadata.labels",
                format!(
                    "must include the selector's labels ({})",
                    labels::format_labels(&self.selector.match_labels)
                ),
            ));
        }
        self.template
            .spec
            .validate_always_restarts("spec.template.spec", "Deployment")?;
        self.template.spec.validate("spec.template.spec")
    }
}
