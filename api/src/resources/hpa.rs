//! HorizontalPodAutoscalers: the replicas of a Deployment set from the load its pods report, as
//! in Kubernetes (`scaleTargetRef`, `minReplicas`, `maxReplicas`, `behavior` windows), with the
//! metrics that fit components serving one request per instance: in-flight requests per pod
//! (Knative's concurrency) or requests per second per pod. `minReplicas: 0` lets the deployment
//! go to zero after `scaleToZeroAfterSeconds` without a request; the gateways hold the first
//! requests while it comes back. The autoscaler controller does the work and writes the status.

use crate::error::ValidationError;
use crate::object::Object;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Scales a Deployment on the load its pods report.
pub type HorizontalPodAutoscaler = Object<HpaSpec, HpaStatus>;

/// Kubernetes' default scale-down stabilization window.
pub const DEFAULT_SCALE_DOWN_WINDOW_SECONDS: u32 = 300;
/// Knative's default grace before a service with no traffic goes to zero is of this order.
pub const DEFAULT_SCALE_TO_ZERO_AFTER_SECONDS: u32 = 60;
/// How long a gateway holds a request for a deployment at zero, by default.
pub const DEFAULT_ACTIVATION_TIMEOUT_SECONDS: u32 = 30;
/// How many requests a gateway holds per service while its deployment comes back from zero,
/// by default (and before the gateway has heard the autoscaler's own limit).
pub const DEFAULT_ACTIVATION_QUEUE_LIMIT: u32 = 1000;
/// The largest `activationQueueLimit`: each held request keeps a connection and its buffers.
pub const MAX_ACTIVATION_QUEUE_LIMIT: u32 = 100_000;
/// Kubernetes' upper bound on a stabilization window (one hour).
pub const MAX_WINDOW_SECONDS: u32 = 3600;
/// How many recent decisions the status keeps.
pub const MAX_DECISIONS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaSpec {
    pub scale_target_ref: ScaleTargetRef,
    #[serde(default = "one")]
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub metrics: Vec<MetricSpec>,
    #[serde(default)]
    pub behavior: Behavior,
    /// With `minReplicas: 0`: how long without a request (and none in flight) before the
    /// deployment goes to zero.
    #[serde(default = "scale_to_zero_after")]
    pub scale_to_zero_after_seconds: u32,
    /// How long a gateway holds a request while the deployment comes back from zero; past it the
    /// request gets a 503.
    #[serde(default = "activation_timeout")]
    pub activation_timeout_seconds: u32,
    /// How many requests a gateway holds for the service at once while the deployment comes
    /// back from zero (per node); the next one gets a 503 at once.
    #[serde(default = "activation_queue_limit")]
    pub activation_queue_limit: u32,
}

fn one() -> u32 {
    1
}

fn scale_to_zero_after() -> u32 {
    DEFAULT_SCALE_TO_ZERO_AFTER_SECONDS
}

fn activation_timeout() -> u32 {
    DEFAULT_ACTIVATION_TIMEOUT_SECONDS
}

fn activation_queue_limit() -> u32 {
    DEFAULT_ACTIVATION_QUEUE_LIMIT
}

/// The object whose replicas the autoscaler sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleTargetRef {
    pub kind: ScaleTargetKind,
    pub name: String,
}

/// The kinds an autoscaler can scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScaleTargetKind {
    Deployment,
}

/// One metric and its target value per pod.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum MetricSpec {
    /// Requests in flight per pod (Knative's concurrency).
    Concurrency { target: f64 },
    /// Requests per second per pod.
    RequestsPerSecond { target: f64 },
}

/// What a metric measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricType {
    Concurrency,
    RequestsPerSecond,
}

impl MetricSpec {
    pub fn metric_type(&self) -> MetricType {
        match self {
            MetricSpec::Concurrency { .. } => MetricType::Concurrency,
            MetricSpec::RequestsPerSecond { .. } => MetricType::RequestsPerSecond,
        }
    }

    pub fn target(&self) -> f64 {
        match *self {
            MetricSpec::Concurrency { target } | MetricSpec::RequestsPerSecond { target } => target,
        }
    }
}

impl std::fmt::Display for MetricType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MetricType::Concurrency => "Concurrency",
            MetricType::RequestsPerSecond => "RequestsPerSecond",
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behavior {
    #[serde(default)]
    pub scale_up: ScaleUpRules,
    #[serde(default)]
    pub scale_down: ScaleDownRules,
}

/// Scale-up: at once unless a window is set (then the lowest recommendation of the window).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleUpRules {
    #[serde(default)]
    pub stabilization_window_seconds: u32,
}

/// Scale-down: the highest recommendation of the window (300 s by default, as Kubernetes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleDownRules {
    #[serde(default = "scale_down_window")]
    pub stabilization_window_seconds: u32,
}

impl Default for ScaleDownRules {
    fn default() -> Self {
        ScaleDownRules {
            stabilization_window_seconds: DEFAULT_SCALE_DOWN_WINDOW_SECONDS,
        }
    }
}

fn scale_down_window() -> u32 {
    DEFAULT_SCALE_DOWN_WINDOW_SECONDS
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaStatus {
    #[serde(default)]
    pub current_replicas: u32,
    #[serde(default)]
    pub desired_replicas: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub current_metrics: Vec<MetricValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<HpaCondition>,
    /// The most recent scale decisions, newest last, at most [`MAX_DECISIONS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_decisions: Vec<ScaleDecision>,
}

/// A metric's current value per pod (the average over the target's pods) against its target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricValue {
    #[serde(rename = "type")]
    pub metric: MetricType,
    pub current: f64,
    pub target: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaCondition {
    #[serde(rename = "type")]
    pub condition: HpaConditionType,
    pub status: bool,
    pub reason: String,
    pub message: String,
    pub last_transition_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HpaConditionType {
    /// The target exists and its replicas can be read and written.
    AbleToScale,
    /// The pods' figures could be read.
    ScalingActive,
    /// The recommendation was cut to minReplicas or maxReplicas.
    ScalingLimited,
}

/// One change of the target's replicas and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleDecision {
    pub time: DateTime<Utc>,
    pub from: u32,
    pub to: u32,
    pub reason: String,
}

impl HpaSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        crate::name::validate_label(&self.scale_target_ref.name)
            .map_err(|e| ValidationError::new("spec.scaleTargetRef.name", e))?;
        if self.max_replicas == 0 {
            return Err(ValidationError::new(
                "spec.maxReplicas",
                "must be at least 1",
            ));
        }
        if self.max_replicas > super::MAX_REPLICAS {
            return Err(ValidationError::new(
                "spec.maxReplicas",
                format!(
                    "{} is more than the limit of {}",
                    self.max_replicas,
                    super::MAX_REPLICAS
                ),
            ));
        }
        if self.min_replicas > self.max_replicas {
            return Err(ValidationError::new(
                "spec.minReplicas",
                format!(
                    "{} is more than maxReplicas ({})",
                    self.min_replicas, self.max_replicas
                ),
            ));
        }
        if self.metrics.is_empty() {
            return Err(ValidationError::new(
                "spec.metrics",
                "must name at least one metric (type: Concurrency or RequestsPerSecond, with a target)",
            ));
        }
        for (i, metric) in self.metrics.iter().enumerate() {
            let target = metric.target();
            if !target.is_finite() || target <= 0.0 || target > 1e9 {
                return Err(ValidationError::new(
                    format!("spec.metrics[{i}].target"),
                    format!("{target} is not a positive number"),
                ));
            }
            if self.metrics[..i]
                .iter()
                .any(|m| m.metric_type() == metric.metric_type())
            {
                return Err(ValidationError::new(
                    format!("spec.metrics[{i}].type"),
                    format!("{} is named twice", metric.metric_type()),
                ));
            }
        }
        for (field, seconds) in [
            (
                "spec.behavior.scaleUp.stabilizationWindowSeconds",
                self.behavior.scale_up.stabilization_window_seconds,
            ),
            (
                "spec.behavior.scaleDown.stabilizationWindowSeconds",
                self.behavior.scale_down.stabilization_window_seconds,
            ),
        ] {
            if seconds > MAX_WINDOW_SECONDS {
                return Err(ValidationError::new(
                    field,
                    format!("{seconds} is more than {MAX_WINDOW_SECONDS} (one hour)"),
                ));
            }
        }
        if self.scale_to_zero_after_seconds == 0 || self.scale_to_zero_after_seconds > 86_400 {
            return Err(ValidationError::new(
                "spec.scaleToZeroAfterSeconds",
                "must be between 1 and 86400",
            ));
        }
        if self.activation_timeout_seconds == 0 || self.activation_timeout_seconds > 600 {
            return Err(ValidationError::new(
                "spec.activationTimeoutSeconds",
                "must be between 1 and 600",
            ));
        }
        if self.activation_queue_limit == 0
            || self.activation_queue_limit > MAX_ACTIVATION_QUEUE_LIMIT
        {
            return Err(ValidationError::new(
                "spec.activationQueueLimit",
                format!(
                    "{} is not between 1 and {MAX_ACTIVATION_QUEUE_LIMIT}",
                    self.activation_queue_limit
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> Result<HpaSpec, String> {
        serde_json::from_value::<HpaSpec>(value).map_err(|e| e.to_string())
    }

    fn base() -> serde_json::Value {
        json!({
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 0,
            "maxReplicas": 5,
            "metrics": [{"type": "Concurrency", "target": 10}],
        })
    }

    #[test]
    fn defaults_follow_kubernetes_and_knative() {
        let mut value = base();
        value.as_object_mut().expect("object").remove("minReplicas");
        let spec = spec(value).expect("parses");
        assert_eq!(spec.min_replicas, 1);
        assert_eq!(spec.behavior.scale_down.stabilization_window_seconds, 300);
        assert_eq!(spec.behavior.scale_up.stabilization_window_seconds, 0);
        assert_eq!(spec.scale_to_zero_after_seconds, 60);
        assert_eq!(spec.activation_queue_limit, 1000);
        assert_eq!(spec.metrics, [MetricSpec::Concurrency { target: 10.0 }]);
        spec.validate().expect("valid");
    }

    #[test]
    fn invalid_specs_name_their_field() {
        let cases = [
            (json!({"maxReplicas": 0}), "spec.maxReplicas"),
            (json!({"minReplicas": 6}), "spec.minReplicas"),
            (json!({"metrics": []}), "spec.metrics"),
            (
                json!({"metrics": [{"type": "Concurrency", "target": 0}]}),
                "spec.metrics[0].target",
            ),
            (
                json!({"metrics": [{"type": "Concurrency", "target": 1}, {"type": "Concurrency", "target": 2}]}),
                "spec.metrics[1].type",
            ),
            (
                json!({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 4000}}}),
                "spec.behavior.scaleDown.stabilizationWindowSeconds",
            ),
            (
                json!({"scaleToZeroAfterSeconds": 0}),
                "spec.scaleToZeroAfterSeconds",
            ),
            (
                json!({"activationQueueLimit": 0}),
                "spec.activationQueueLimit",
            ),
            (
                json!({"activationQueueLimit": 100_001}),
                "spec.activationQueueLimit",
            ),
            (
                json!({"scaleTargetRef": {"kind": "Deployment", "name": "Not A Name"}}),
                "spec.scaleTargetRef.name",
            ),
        ];
        for (patch, field) in cases {
            let mut value = base();
            for (k, v) in patch.as_object().expect("object") {
                value[k] = v.clone();
            }
            let error = spec(value).expect("parses").validate().expect_err(field);
            assert_eq!(error.field, field, "{error:?}");
        }
    }

    #[test]
    fn unknown_metric_types_and_fields_are_refused_at_parse_time() {
        let mut value = base();
        value["metrics"] = json!([{"type": "Cpu", "target": 1}]);
        assert!(spec(value).expect_err("unknown type").contains("Cpu"));
        let mut value = base();
        value["metrics"] = json!([{"type": "Concurrency", "target": 1, "extra": 2}]);
        assert!(spec(value).expect_err("unknown field").contains("extra"));
        let mut value = base();
        value["scaleTargetRef"] = json!({"kind": "StatefulSet", "name": "db"});
        assert!(spec(value).is_err(), "only Deployments are scaled");
    }
}
