//! Pods: one running instance of a component on one node, its spec (component, env, config,
//! volumes, limits, probes, egress), its component reference and its status as the node
//! reports it. Made by the Deployment and StatefulSet controllers, never written by users.

use super::volume::{validate_mount_path, validate_reference, NameRef, Volume, VolumeMount};
use crate::error::ValidationError;
use crate::labels::Labels;
use crate::name::validate_data_key;
use crate::object::Object;
use crate::origin::Origin;
use crate::quantity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A pod's component: a file (a manifest's path, relative to the manifest), once uploaded
/// `sha256:<64 lowercase hex digits>`, or an OCI artifact `oci://REGISTRY/REPO:TAG` /
/// `oci://REGISTRY/REPO@sha256:...` (the API server pins a tag to its digest at apply:
/// `oci://REGISTRY/REPO:TAG@sha256:...`). One string on the wire; a `sha256:` that is not a
/// digest or an `oci://` that is not a reference is refused when the spec is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ComponentRef {
    Path(String),
    /// The hex digits of the sha256 digest.
    Digest(String),
    Oci(crate::oci::Reference),
}

/// The scheme of a component pulled from an OCI registry.
pub const OCI_SCHEME: &str = "oci://";

impl ComponentRef {
    /// The digest's hex digits, if the component is pinned by digest.
    pub fn digest(&self) -> Option<&str> {
        match self {
            ComponentRef::Digest(hex) => Some(hex),
            ComponentRef::Path(_) | ComponentRef::Oci(_) => None,
        }
    }

    /// The OCI reference, if the component comes from a registry.
    pub fn oci(&self) -> Option<&crate::oci::Reference> {
        match self {
            ComponentRef::Oci(reference) => Some(reference),
            _ => None,
        }
    }

    /// The component with digest `sha256:<hex>`.
    pub fn from_digest(digest: &str) -> Result<ComponentRef, String> {
        ComponentRef::try_from(digest.to_string()).and_then(|c| match c {
            ComponentRef::Digest(_) => Ok(c),
            other => Err(format!("{other} is not a sha256: digest")),
        })
    }
}

impl TryFrom<String> for ComponentRef {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        if let Some(reference) = text.strip_prefix(OCI_SCHEME) {
            return crate::oci::Reference::parse(reference)
                .map(ComponentRef::Oci)
                .map_err(|e| e.to_string());
        }
        match text.strip_prefix("sha256:") {
            Some(hex)
                if hex.len() == 64
                    && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Ok(ComponentRef::Digest(hex.to_string()))
            }
            Some(_) => Err(format!(
                "{text:?} is not a sha256 digest (sha256: and 64 lowercase hex digits)"
            )),
            None => Ok(ComponentRef::Path(text)),
        }
    }
}

impl From<ComponentRef> for String {
    fn from(component: ComponentRef) -> String {
        component.to_string()
    }
}

impl std::fmt::Display for ComponentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComponentRef::Path(path) => f.write_str(path),
            ComponentRef::Digest(hex) => write!(f, "sha256:{hex}"),
            ComponentRef::Oci(reference) => write!(f, "{OCI_SCHEME}{reference}"),
        }
    }
}

/// The request body limit of an HTTP pod without `maxRequestBodyBytes` (10 MiB).
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 10 << 20;

/// The largest `containerConcurrency`: no node's instance pool is larger.
pub const MAX_CONTAINER_CONCURRENCY: u32 = 100_000;

/// One running instance of a component, bound to one node.
pub type Pod = Object<PodSpec, PodStatus>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    /// In a manifest, a path relative to the manifest or an `oci://` reference; once applied,
    /// `sha256:<hex>` of the uploaded component or the reference pinned to its manifest digest.
    pub component: ComponentRef,
    /// Secrets of type `kubernetes.io/dockerconfigjson` holding the registry credentials an
    /// `oci://` component is pulled with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<NameRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Every key of a ConfigMap or Secret as an env var.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<DataSource>,
    /// Every key of a ConfigMap or Secret in `wasi:config/store`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_from: Vec<DataSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default, skip_serializing_if = "ResourceRequirements::is_empty")]
    pub resources: ResourceRequirements,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub node_selector: Labels,
    /// Set by the scheduler when it binds the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Hosts besides services the component may call, e.g. `https://api.example.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_outbound_hosts: Vec<String>,
    /// The `wasi:keyvalue` stores (KeyValueStore objects of the pod's namespace) the component
    /// may open; opening any other name is refused (`access-denied`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_value_stores: Vec<String>,
    /// Longest a single request (or, for command pods, nothing) may run; default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_seconds: Option<u64>,
    /// HTTP pods: let one instance serve several requests (isolation traded for speed). Absent:
    /// every request gets a fresh instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_reuse: Option<InstanceReuse>,
    /// HTTP pods: instances the pod may run at once on its node; more requests wait in its
    /// queue. Absent or 0: a fair share of the node's instance pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_concurrency: Option<u32>,
    /// HTTP pods: the largest request body a request may carry, counted as it streams in
    /// (413 past it). Absent: [`DEFAULT_MAX_REQUEST_BODY_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body_bytes: Option<u64>,
    /// Not ready -> no traffic from services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Failing -> the pod is restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Seconds a terminating pod may take to finish its in-flight requests; default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<u64>,
}

/// `terminationGracePeriodSeconds` when the spec has none (Kubernetes' default).
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: u64 = 30;

impl PodSpec {
    /// How long a terminating pod may drain its in-flight requests.
    pub fn termination_grace_period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.termination_grace_period_seconds
                .unwrap_or(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS),
        )
    }
}

/// Opt-in instance reuse: one instance serves up to `max_requests` requests, one at a time; a
/// trap drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceReuse {
    pub max_requests: u32,
}

/// An HTTP probe, as in Kubernetes: `httpGet.path` is requested from the pod itself; a status
/// in 200..400 within `timeoutSeconds` is a success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    pub http_get: HttpGetAction,
    #[serde(default)]
    pub initial_delay_seconds: u64,
    #[serde(default = "default_period")]
    pub period_seconds: u64,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    #[serde(default = "default_success_threshold")]
    pub success_threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpGetAction {
    pub path: String,
}

fn default_period() -> u64 {
    10
}
fn default_timeout() -> u64 {
    1
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_success_threshold() -> u32 {
    1
}

impl Probe {
    fn validate(&self, field: &str) -> Result<(), ValidationError> {
        if !self.http_get.path.starts_with('/') {
            return Err(ValidationError::new(
                format!("{field}.httpGet.path"),
                "must start with '/'",
            ));
        }
        for (name, value) in [
            ("periodSeconds", self.period_seconds),
            ("timeoutSeconds", self.timeout_seconds),
        ] {
            if value == 0 {
                return Err(ValidationError::new(
                    format!("{field}.{name}"),
                    "must be at least 1",
                ));
            }
        }
        if self.failure_threshold == 0 || self.success_threshold == 0 {
            return Err(ValidationError::new(
                field.to_string(),
                "thresholds must be at least 1",
            ));
        }
        Ok(())
    }
}

impl PodSpec {
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        self.validate_with_claims(field, &[])
    }

    /// As `validate`, where `claims` are extra volume names (a StatefulSet's claim templates).
    pub fn validate_with_claims(
        &self,
        field: &str,
        claims: &[&str],
    ) -> Result<(), ValidationError> {
        for (i, v) in self.volumes.iter().enumerate() {
            v.validate(&format!("{field}.volumes[{i}]"))?;
        }
        for (i, m) in self.volume_mounts.iter().enumerate() {
            let at = format!("{field}.volumeMounts[{i}]");
            if !self.volumes.iter().any(|v| v.name == m.name) && !claims.contains(&m.name.as_str())
            {
                return Err(ValidationError::new(
                    format!("{at}.name"),
                    format!("no volume named {:?}", m.name),
                ));
            }
            validate_mount_path(&format!("{at}.mountPath"), &m.mount_path)?;
        }
        for (list, name) in [
            (&self.env_from, "envFrom"),
            (&self.config_from, "configFrom"),
        ] {
            for (i, s) in list.iter().enumerate() {
                if s.config_map_ref.is_some() == s.secret_ref.is_some() {
                    return Err(ValidationError::new(
                        format!("{field}.{name}[{i}]"),
                        "name exactly one of configMapRef, secretRef",
                    ));
                }
                if let Some(r) = &s.config_map_ref {
                    validate_reference(&format!("{field}.{name}[{i}].configMapRef.name"), &r.name)?;
                }
                if let Some(r) = &s.secret_ref {
                    validate_reference(&format!("{field}.{name}[{i}].secretRef.name"), &r.name)?;
                }
            }
        }
        for (i, e) in self.env.iter().enumerate() {
            if let Some(from) = &e.value_from {
                if from.config_map_key_ref.is_some() == from.secret_key_ref.is_some() {
                    return Err(ValidationError::new(
                        format!("{field}.env[{i}].valueFrom"),
                        "name exactly one of configMapKeyRef, secretKeyRef",
                    ));
                }
                for (r, what) in [
                    (&from.config_map_key_ref, "configMapKeyRef"),
                    (&from.secret_key_ref, "secretKeyRef"),
                ] {
                    if let Some(r) = r {
                        let at = format!("{field}.env[{i}].valueFrom.{what}");
                        validate_reference(&format!("{at}.name"), &r.name)?;
                        validate_data_key(&r.key)
                            .map_err(|e| ValidationError::new(format!("{at}.key"), e))?;
                    }
                }
            }
        }
        for (i, s) in self.image_pull_secrets.iter().enumerate() {
            validate_reference(&format!("{field}.imagePullSecrets[{i}].name"), &s.name)?;
        }
        if matches!(&self.component, ComponentRef::Path(p) if p.trim().is_empty()) {
            return Err(ValidationError::new(
                format!("{field}.component"),
                "must name a component file (a path relative to the manifest)",
            ));
        }
        for (i, env) in self.env.iter().enumerate() {
            if env.name.is_empty() || env.name.contains('=') {
                return Err(ValidationError::new(
                    format!("{field}.env[{i}].name"),
                    format!("{:?} is not a valid variable name", env.name),
                ));
            }
        }
        self.resources.validate(&format!("{field}.resources"))?;
        if let Some(p) = &self.readiness_probe {
            p.validate(&format!("{field}.readinessProbe"))?;
        }
        if let Some(p) = &self.liveness_probe {
            p.validate(&format!("{field}.livenessProbe"))?;
        }
        if self.max_request_body_bytes == Some(0) {
            return Err(ValidationError::new(
                format!("{field}.maxRequestBodyBytes"),
                "must be at least 1",
            ));
        }
        if self.request_timeout_seconds == Some(0) {
            return Err(ValidationError::new(
                format!("{field}.requestTimeoutSeconds"),
                "must be at least 1",
            ));
        }
        if self
            .container_concurrency
            .is_some_and(|c| c > MAX_CONTAINER_CONCURRENCY)
        {
            return Err(ValidationError::new(
                format!("{field}.containerConcurrency"),
                format!("must be at most {MAX_CONTAINER_CONCURRENCY} (0 means a fair share of the node)"),
            ));
        }
        if self.instance_reuse.is_some_and(|r| r.max_requests == 0) {
            return Err(ValidationError::new(
                format!("{field}.instanceReuse.maxRequests"),
                "must be at least 1",
            ));
        }
        super::keyvalue_store::validate_store_names(
            &format!("{field}.keyValueStores"),
            &self.key_value_stores,
        )?;
        for (i, host) in self.allowed_outbound_hosts.iter().enumerate() {
            Origin::parse(host).map_err(|e| {
                ValidationError::new(
                    format!("{field}.allowedOutboundHosts[{i}]"),
                    format!("{host:?}: {}", e.reason),
                )
            })?;
        }
        Ok(())
    }

    /// The pods of a controller that keeps them running (Deployment, StatefulSet) must restart
    /// whatever happens: a pod that ends would leave its controller short of a replica forever.
    pub fn validate_always_restarts(
        &self,
        field: &str,
        owner: &str,
    ) -> Result<(), ValidationError> {
        if self.restart_policy != RestartPolicy::Always {
            return Err(ValidationError::new(
                format!("{field}.restartPolicy"),
                format!(
                    "{:?} is not supported by a {owner}: only Always (the default); \
                     run a command to completion as a Pod",
                    self.restart_policy
                ),
            ));
        }
        Ok(())
    }

    pub fn component_digest(&self) -> Option<&str> {
        self.component.digest()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// One key of a ConfigMap or a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVarSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRef {
    pub name: String,
    pub key: String,
}

/// A whole ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<NameRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NameRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceRequirements {
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub requests: ResourceList,
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub limits: ResourceList,
}

impl ResourceRequirements {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.limits.is_empty()
    }

    fn validate(&self, field: &str) -> Result<(), ValidationError> {
        self.requests.validate(&format!("{field}.requests"))?;
        self.limits.validate(&format!("{field}.limits"))
    }

    /// Requested memory in bytes (what the scheduler reserves), 0 when unset.
    pub fn memory_request(&self) -> u64 {
        self.requests.memory_bytes().unwrap_or(0)
    }

    pub fn cpu_request(&self) -> u64 {
        self.requests.cpu_millis().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
}

impl ResourceList {
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.cpu.is_none()
    }

    pub fn memory_bytes(&self) -> Option<u64> {
        self.memory
            .as_deref()
            .and_then(|m| quantity::parse_memory(m).ok())
    }

    pub fn cpu_millis(&self) -> Option<u64> {
        self.cpu
            .as_deref()
            .and_then(|c| quantity::parse_cpu(c).ok())
    }

    fn validate(&self, field: &str) -> Result<(), ValidationError> {
        if let Some(m) = &self.memory {
            quantity::parse_memory(m)
                .map_err(|e| ValidationError::new(format!("{field}.memory"), e))?;
        }
        if let Some(c) = &self.cpu {
            quantity::parse_cpu(c).map_err(|e| ValidationError::new(format!("{field}.cpu"), e))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl PodPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
        }
    }
}

/// Written by the scheduler (while unbound) and by the worker that runs the pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodStatus {
    #[serde(default)]
    pub phase: PodPhase,
    #[serde(default)]
    pub ready: bool,
    /// Short machine-readable cause, e.g. `Unschedulable`, `ComponentError`, `CrashLoopBackOff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub restart_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    /// When the pod last turned ready (for a Deployment's `minReadySeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<Termination>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Termination {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub finished_at: DateTime<Utc>,
}

impl Pod {
    /// What `get pods` shows in STATUS: the reason when there is one, else the phase.
    pub fn display_status(&self) -> String {
        if self.metadata.deletion_timestamp.is_some()
            && !matches!(self.status.phase, PodPhase::Succeeded | PodPhase::Failed)
        {
            return "Terminating".to_string();
        }
        match (&self.status.reason, self.status.phase) {
            (Some(reason), PodPhase::Pending | PodPhase::Failed) => reason.clone(),
            (Some(reason), PodPhase::Running) if !self.status.ready => reason.clone(),
            (_, phase) => phase.as_str().to_string(),
        }
    }

    /// The name of the Deployment that owns this pod, if any.
    pub fn owner(&self) -> Option<&str> {
        self.metadata
            .owner_references
            .first()
            .map(|o| o.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_refs_keep_their_wire_form() {
        let hex = "ab".repeat(32);
        let pinned: ComponentRef =
            serde_json::from_value(serde_json::json!(format!("sha256:{hex}"))).expect("digest");
        assert_eq!(pinned.digest(), Some(hex.as_str()));
        assert_eq!(
            serde_json::to_value(&pinned).expect("json"),
            format!("sha256:{hex}")
        );
        let path: ComponentRef =
            serde_json::from_value(serde_json::json!("./app.wasm")).expect("path");
        assert_eq!(path, ComponentRef::Path("./app.wasm".into()));
        assert_eq!(serde_json::to_value(&path).expect("json"), "./app.wasm");
    }

    #[test]
    fn oci_components_parse_and_name_the_problem() {
        let hex = "cd".repeat(32);
        let tagged: ComponentRef =
            serde_json::from_value(serde_json::json!("oci://127.0.0.1:5000/app:v1")).expect("oci");
        let reference = tagged.oci().expect("an OCI reference");
        assert_eq!(reference.registry, "127.0.0.1:5000");
        assert_eq!(reference.repository, "app");
        assert_eq!(reference.tag.as_deref(), Some("v1"));
        assert_eq!(tagged.digest(), None);
        let pinned = format!("oci://127.0.0.1:5000/app:v1@sha256:{hex}");
        let back: ComponentRef = serde_json::from_value(serde_json::json!(pinned)).expect("oci");
        assert_eq!(serde_json::to_value(&back).expect("json"), pinned);
        let spec = serde_json::json!({"component": "oci://reg.example/App:v1"});
        let err = serde_path_to_error::deserialize::<_, PodSpec>(spec).expect_err("uppercase");
        assert_eq!(err.path().to_string(), "component");
        assert!(err.to_string().contains("lowercase"), "{err}");
    }

    #[test]
    fn a_sha256_that_is_no_digest_is_refused() {
        for bad in [
            "sha256:",
            "sha256:abc",
            &format!("sha256:{}", "AB".repeat(32)),
        ] {
            let err = serde_json::from_value::<ComponentRef>(serde_json::json!(bad))
                .expect_err("not a digest");
            assert!(err.to_string().contains("not a sha256 digest"), "{err}");
        }
    }
}
