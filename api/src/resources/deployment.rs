//! Deployments: a number of identical pods of one template, kept running and rolled to a new
//! template by a strategy (`RollingUpdate` with `maxSurge` / `maxUnavailable`, or `Recreate`),
//! each template a numbered revision (see `revision.rs`). Their pods always restart
//! (`restartPolicy: Always`), and the template's labels must carry the selector's.

use super::pod::PodSpec;
use crate::error::ValidationError;
use crate::labels::{self, LabelSelector, Labels};
use crate::object::Object;
use chrono::{DateTime, Utc};
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
    #[serde(default)]
    pub strategy: DeploymentStrategy,
    /// Seconds a new pod must stay ready before it counts as available.
    #[serde(default)]
    pub min_ready_seconds: u64,
    /// Seconds a rollout may go without progress before it is reported failed
    /// (`Progressing=False`, reason `ProgressDeadlineExceeded`).
    #[serde(default = "default_progress_deadline")]
    pub progress_deadline_seconds: u64,
    /// Old revisions kept for `rollout undo`.
    #[serde(default = "default_history_limit")]
    pub revision_history_limit: u32,
    /// A paused deployment does not roll template changes and stops a rollout under way at its
    /// next step; scaling still works.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Opt-in: roll a revision that does not turn ready in time back to the last good one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackPolicy>,
}

fn one() -> u32 {
    1
}

/// Kubernetes' default `progressDeadlineSeconds`.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: u64 = 600;
/// Kubernetes' default `revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY_LIMIT: u32 = 10;
/// The annotation `rollout restart` sets on the template (as kubectl's `restartedAt`).
pub const RESTARTED_AT_ANNOTATION: &str = "wasmpod.dev/restartedAt";
/// The annotation carrying a pod's revision number.
pub const REVISION_ANNOTATION: &str = "deployment.wasmpod.dev/revision";

fn default_progress_deadline() -> u64 {
    DEFAULT_PROGRESS_DEADLINE_SECONDS
}

fn default_history_limit() -> u32 {
    DEFAULT_REVISION_HISTORY_LIMIT
}

/// How a new template replaces the old pods.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentStrategy {
    #[serde(rename = "type", default)]
    pub strategy_type: StrategyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StrategyType {
    /// New pods come up while old ones go, within `maxSurge` and `maxUnavailable`.
    #[default]
    RollingUpdate,
    /// Every old pod goes before any new one is made.
    Recreate,
}

/// The bounds of a rolling update (Kubernetes defaults: 25% each).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollingUpdate {
    /// Pods above `replicas` a rollout may run (a percentage rounds up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrPercent>,
    /// Pods below `replicas` that may be unavailable during a rollout (a percentage rounds down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
}

/// A count, or a percentage of the replicas (`"25%"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "serde_json::Value")]
pub enum IntOrPercent {
    Int(u32),
    Percent(u32),
}

impl IntOrPercent {
    /// The count this stands for among `replicas`: a percentage rounds up or down.
    pub fn resolve(self, replicas: u32, round_up: bool) -> u32 {
        match self {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => {
                let scaled = u64::from(p) * u64::from(replicas);
                let n = if round_up {
                    scaled.div_ceil(100)
                } else {
                    scaled / 100
                };
                u32::try_from(n).unwrap_or(u32::MAX)
            }
        }
    }

    fn is_zero(self) -> bool {
        matches!(self, IntOrPercent::Int(0) | IntOrPercent::Percent(0))
    }
}

impl TryFrom<serde_json::Value> for IntOrPercent {
    type Error = String;

    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        match &value {
            serde_json::Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(IntOrPercent::Int)
                .ok_or_else(|| format!("{n} is not a count (a whole number from 0)")),
            serde_json::Value::String(text) => {
                let parsed = match text.strip_suffix('%') {
                    Some(digits) => digits.parse::<u32>().ok().map(IntOrPercent::Percent),
                    None => text.parse::<u32>().ok().map(IntOrPercent::Int),
                };
                parsed.ok_or_else(|| {
                    format!("{text:?} is neither a count nor a percentage such as \"25%\"")
                })
            }
            other => Err(format!(
                "{other} is neither a count nor a percentage such as \"25%\""
            )),
        }
    }
}

impl From<IntOrPercent> for serde_json::Value {
    fn from(value: IntOrPercent) -> serde_json::Value {
        match value {
            IntOrPercent::Int(n) => serde_json::Value::from(n),
            IntOrPercent::Percent(p) => serde_json::Value::from(format!("{p}%")),
        }
    }
}

/// The Kubernetes default of both bounds.
pub const DEFAULT_ROLLING_BOUND: IntOrPercent = IntOrPercent::Percent(25);

impl DeploymentStrategy {
    /// `(maxSurge, maxUnavailable)` in pods for `replicas`, as Kubernetes resolves them: surge
    /// rounds up, unavailable rounds down, and when both come to 0 one pod may be unavailable.
    pub fn bounds(&self, replicas: u32) -> (u32, u32) {
        let rolling = self.rolling_update.clone().unwrap_or_default();
        let surge = rolling
            .max_surge
            .unwrap_or(DEFAULT_ROLLING_BOUND)
            .resolve(replicas, true);
        let unavailable = rolling
            .max_unavailable
            .unwrap_or(DEFAULT_ROLLING_BOUND)
            .resolve(replicas, false)
            .min(replicas);
        if surge == 0 && unavailable == 0 && replicas > 0 {
            (0, 1)
        } else {
            (surge, unavailable)
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        let Some(rolling) = &self.rolling_update else {
            return Ok(());
        };
        if self.strategy_type == StrategyType::Recreate {
            return Err(ValidationError::new(
                "spec.strategy.rollingUpdate",
                "may only be set when spec.strategy.type is RollingUpdate",
            ));
        }
        for (field, value) in [
            ("maxSurge", rolling.max_surge),
            ("maxUnavailable", rolling.max_unavailable),
        ] {
            if let Some(IntOrPercent::Percent(p)) = value {
                if p > 100 {
                    return Err(ValidationError::new(
                        format!("spec.strategy.rollingUpdate.{field}"),
                        format!("{p}% is more than 100%"),
                    ));
                }
            }
        }
        let surge = rolling.max_surge.unwrap_or(DEFAULT_ROLLING_BOUND);
        let unavailable = rolling.max_unavailable.unwrap_or(DEFAULT_ROLLING_BOUND);
        if surge.is_zero() && unavailable.is_zero() {
            return Err(ValidationError::new(
                "spec.strategy.rollingUpdate.maxUnavailable",
                "may not be 0 when maxSurge is 0: the rollout could never replace a pod",
            ));
        }
        Ok(())
    }
}

/// `spec.rollback`: what to do with a revision that fails.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackPolicy {
    /// Roll back to the last revision that completed when this one passes its progress deadline.
    #[serde(default)]
    pub on_failure: bool,
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
    /// Pods ready for at least `minReadySeconds`.
    #[serde(default)]
    pub available_replicas: u32,
    /// Available pods of the revision the deployment rolls to (how a rollout's progress is seen).
    #[serde(default)]
    pub updated_available_replicas: u32,
    /// The revision of the template the deployment rolls to (or, paused, stays on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// The template hash of that revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_hash: Option<String>,
    /// The template hash of the last revision that completed (all its replicas available):
    /// where an automatic rollback goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_complete_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<DeploymentCondition>,
}

/// One condition of a deployment, as in Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentCondition {
    #[serde(rename = "type")]
    pub condition_type: ConditionType,
    pub status: ConditionStatus,
    pub reason: String,
    #[serde(default)]
    pub message: String,
    /// When the condition last changed status.
    pub last_transition_time: DateTime<Utc>,
    /// When the condition was last updated (for `Progressing`: the last progress).
    pub last_update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionType {
    /// At least `replicas - maxUnavailable` pods are available.
    Available,
    /// The rollout moves on, is complete, or has failed (its deadline passed).
    Progressing,
    /// The deployment rolled a failed revision back (automatic rollback).
    RolledBack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl DeploymentStatus {
    pub fn condition(&self, condition_type: ConditionType) -> Option<&DeploymentCondition> {
        self.conditions
            .iter()
            .find(|c| c.condition_type == condition_type)
    }
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
        self.strategy.validate()?;
        if self.progress_deadline_seconds == 0 {
            return Err(ValidationError::new(
                "spec.progressDeadlineSeconds",
                "must be at least 1",
            ));
        }
        if self.progress_deadline_seconds <= self.min_ready_seconds {
            return Err(ValidationError::new(
                "spec.progressDeadlineSeconds",
                format!(
                    "must be more than spec.minReadySeconds ({})",
                    self.min_ready_seconds
                ),
            ));
        }
        self.template
            .spec
            .validate_always_restarts("spec.template.spec", "Deployment")?;
        self.template.spec.validate("spec.template.spec")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(surge: serde_json::Value, unavailable: serde_json::Value) -> DeploymentStrategy {
        serde_json::from_value(serde_json::json!({
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}
        }))
        .expect("strategy")
    }

    #[test]
    fn rolling_bounds_round_as_kubernetes_does() {
        let d = DeploymentStrategy::default();
        assert_eq!(d.bounds(4), (1, 1));
        assert_eq!(
            d.bounds(3),
            (1, 0),
            "25% of 3: surge rounds up, unavailable down"
        );
        assert_eq!(d.bounds(10), (3, 2));
        assert_eq!(d.bounds(1), (1, 0));
        let s = strategy(serde_json::json!(2), serde_json::json!("50%"));
        assert_eq!(s.bounds(5), (2, 2));
        let s = strategy(serde_json::json!("0%"), serde_json::json!("10%"));
        assert_eq!(
            s.bounds(3),
            (0, 1),
            "both resolve to 0: one may be unavailable"
        );
        assert!(s.validate().is_ok());
    }

    #[test]
    fn int_or_percent_keeps_its_wire_form() {
        let s = strategy(serde_json::json!(3), serde_json::json!("30%"));
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["rollingUpdate"]["maxSurge"], 3);
        assert_eq!(json["rollingUpdate"]["maxUnavailable"], "30%");
        for bad in [
            serde_json::json!("x%"),
            serde_json::json!(-1),
            serde_json::json!(true),
        ] {
            let err = serde_json::from_value::<IntOrPercent>(bad).expect_err("refused");
            assert!(err.to_string().contains("count"), "{err}");
        }
    }

    #[test]
    fn a_strategy_that_cannot_replace_a_pod_is_refused_naming_the_field() {
        let err = strategy(serde_json::json!(0), serde_json::json!("0%"))
            .validate()
            .expect_err("refused");
        assert_eq!(err.field, "spec.strategy.rollingUpdate.maxUnavailable");
        assert!(err.message.contains("maxSurge is 0"), "{err}");
        let err = strategy(serde_json::json!("150%"), serde_json::json!(1))
            .validate()
            .expect_err("refused");
        assert_eq!(err.field, "spec.strategy.rollingUpdate.maxSurge");
    }
}
