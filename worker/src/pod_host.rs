//! What one pod's lifecycle (`pod_task.rs`) asks of its node, as a trait: load a component,
//! resolve the pod's config, start it in the runtime, run a command, probe an HTTP pod, and
//! report status, events and log lines. `NodeHost` is the real node (API client, runtime, disk);
//! the lifecycle's unit tests drive it with a scripted host and tokio's paused clock.

use crate::components::{ComponentError, Loaded};
use crate::context::NodeContext;
use crate::pod_config::{ConfigError, PodConfig};
use crate::status_report::StatusReporter;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use wasmpod_api::{ComponentRef, EventType, ObjectKey, Pod, PodStatus, Resource};
use wasmpod_runtime::{
    CommandExit, CommandPod, ComponentWorld, HttpPod, PodRuntimeSpec, RuntimeError,
};

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a pod cannot start now. Each variant is one status reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StartFailure {
    /// The spec's component is not pinned by digest.
    #[error("{0}")]
    InvalidComponent(String),
    /// The component cannot be fetched, compiled or instantiated.
    #[error("{0}")]
    Component(String),
    /// The config refers to something missing (the API's 422).
    #[error("{0}")]
    Config(String),
    /// The control plane cannot be reached and there is no earlier config.
    #[error("{0}")]
    ConfigUnavailable(String),
    /// The pod's volumes cannot be laid out on disk.
    #[error("{0}")]
    Volumes(String),
    /// The pod is gone from the control plane (this node's watch lags behind).
    #[error("{0}")]
    PodDeleted(String),
    /// The component imports an interface this node does not provide.
    #[error("{0}")]
    Link(String),
    /// The component's exports do not make the kind of pod asked for: neither a
    /// `wasi:http/incoming-handler` nor a `wasi:cli/run` of the expected shape, or a pod spec
    /// for the other kind (an HTTP probe on a command).
    #[error("{0}")]
    WrongWorld(String),
    /// The bytes are not a component wasmtime can compile (not wasm, truncated, invalid code).
    #[error("{0}")]
    Compile(String),
    /// An `oci://` component cannot be pulled (unknown, refused, unreachable, not a Wasm
    /// artifact, digest mismatch).
    #[error("{0}")]
    ImagePull(String),
}

impl From<RuntimeError> for StartFailure {
    fn from(error: RuntimeError) -> StartFailure {
        let message = wasmpod_runtime::error_causes(&error);
        match error {
            RuntimeError::Link(_) => StartFailure::Link(message),
            RuntimeError::NotHttpProxy(_) | RuntimeError::NotCommand(_) => {
                StartFailure::WrongWorld(message)
            }
            RuntimeError::Compile { .. } | RuntimeError::NotAComponent(_) => {
                StartFailure::Compile(message)
            }
            _ => StartFailure::Component(message),
        }
    }
}

impl From<ComponentError> for StartFailure {
    fn from(error: ComponentError) -> StartFailure {
        let message = error.to_string();
        match error {
            ComponentError::Compile { .. } => StartFailure::Compile(message),
            ComponentError::WrongWorld { .. } => StartFailure::WrongWorld(message),
            _ => StartFailure::Component(message),
        }
    }
}

impl StartFailure {
    /// The pod status reason, as Kubernetes names it where it has a name.
    pub fn reason(&self) -> &'static str {
        match self {
            StartFailure::InvalidComponent(_) => "InvalidComponent",
            StartFailure::Component(_) => "ComponentError",
            StartFailure::Config(_) => "CreateContainerConfigError",
            StartFailure::ConfigUnavailable(_) => "ConfigUnavailable",
            StartFailure::Volumes(_) => "CreateContainerError",
            StartFailure::PodDeleted(_) => "PodDeleted",
            StartFailure::Link(_) => "ComponentLinkError",
            StartFailure::WrongWorld(_) => "WrongWorld",
            StartFailure::Compile(_) => "CompileError",
            StartFailure::ImagePull(_) => "ErrImagePull",
        }
    }
}

impl From<ConfigError> for StartFailure {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid(m) => StartFailure::Config(m),
            ConfigError::PodDeleted(m) => StartFailure::PodDeleted(m),
            ConfigError::Unavailable(m) => StartFailure::ConfigUnavailable(m),
        }
    }
}

/// The node as one pod's lifecycle sees it.
pub trait PodHost: Send + 'static {
    /// A loaded (compiled) component.
    type Component: Clone + Send + Sync + 'static;
    /// A started HTTP pod.
    type Http: Clone + Send + Sync + 'static;
    /// A started command pod.
    type Command: Send + 'static;

    fn world(&self, component: &Self::Component) -> ComponentWorld;

    /// Fetches (an upload, by digest) or pulls (`oci://`) and compiles the pod's component.
    fn load(
        &mut self,
        component: &ComponentRef,
    ) -> impl Future<Output = Result<Self::Component, StartFailure>> + Send;

    /// The pod's env, config and volumes under config version `version`, ready for the runtime.
    fn resolve(
        &mut self,
        version: Option<String>,
    ) -> impl Future<Output = Result<PodRuntimeSpec, StartFailure>> + Send;

    fn http_pod(
        &self,
        component: &Self::Component,
        spec: PodRuntimeSpec,
    ) -> Result<Self::Http, StartFailure>;

    fn command_pod(
        &self,
        component: &Self::Component,
        spec: PodRuntimeSpec,
    ) -> Result<Self::Command, StartFailure>;

    /// Runs a command pod to its end.
    fn run_command(&self, command: &Self::Command) -> impl Future<Output = CommandExit> + Send;

    /// One probe: GET `path` on the pod; true when it answers 200..400 within `timeout`.
    fn probe(
        &self,
        http: &Self::Http,
        path: &str,
        timeout: Duration,
    ) -> impl Future<Output = bool> + Send;

    /// The HTTP pod this node routes the pod's traffic to (`None`: no traffic).
    fn route(&self, http: Option<&Self::Http>);

    /// Requests the HTTP pod is serving right now.
    fn in_flight(&self, http: &Self::Http) -> u32;

    /// Records the pod's status (sent to the control plane in the background).
    fn report(&self, status: &PodStatus);

    /// Reports an event about the pod (in the background; events are advisory).
    fn event(&self, event_type: EventType, reason: &str, message: String);

    /// Appends a line of the node's own to the pod's logs.
    fn log(&self, line: &str);

    /// The pod stopped on this node: remove what it left (routes, directories).
    fn stopped(&mut self);
}

/// The real node: the control plane's API, the wasmtime runtime, the node's disk.
pub struct NodeHost {
    ctx: Arc<NodeContext>,
    pod: Pod,
    key: ObjectKey,
    reporter: StatusReporter,
    /// The last resolved config, reused while its version is current.
    config: PodConfig,
}

impl NodeHost {
    pub fn new(ctx: Arc<NodeContext>, pod: Pod, cancel: CancellationToken) -> NodeHost {
        let key = pod.key();
        NodeHost {
            reporter: StatusReporter::spawn(
                ctx.client.clone(),
                key.clone(),
                pod.status.clone(),
                cancel,
            ),
            ctx,
            pod,
            key,
            config: PodConfig::default(),
        }
    }

    fn uid(&self) -> String {
        self.pod
            .metadata
            .uid
            .clone()
            .unwrap_or_else(|| self.key.name.clone())
    }

    /// The credentials for `registry` from the pod's `imagePullSecrets` (resolved by the
    /// control plane, which gives a node only the Secrets its own pods name).
    async fn pull_credentials(
        &mut self,
        registry: &str,
    ) -> Result<Option<wasmpod_api::oci::Credentials>, StartFailure> {
        if self.pod.spec.image_pull_secrets.is_empty() {
            return Ok(None);
        }
        match self
            .config
            .get(&self.ctx.client, &self.key, &self.pod.spec, None)
            .await
        {
            Ok((resolved, _)) => Ok(resolved.registry_credentials.get(registry).cloned()),
            Err(ConfigError::PodDeleted(m)) => Err(StartFailure::PodDeleted(m)),
            Err(ConfigError::Invalid(m)) => Err(StartFailure::ImagePull(format!(
                "cannot read the pull secrets of {}: {m}",
                self.pod.spec.component
            ))),
            // Static stability: with the control plane down, a component this node already
            // pulled loads from its disk; one it must pull fails with the registry's answer.
            Err(ConfigError::Unavailable(error)) => {
                tracing::warn!(%error, "cannot fetch the pull secrets; pulling without them");
                Ok(None)
            }
        }
    }

    fn runtime_spec(
        &self,
        resolved: wasmpod_api::resolved::ResolvedPodConfig,
        mounts: Vec<wasmpod_runtime::Mount>,
    ) -> PodRuntimeSpec {
        let spec = &self.pod.spec;
        let mut runtime = PodRuntimeSpec::new(self.key.name.clone());
        runtime.env = resolved.env.clone();
        runtime.config = resolved.config.clone();
        runtime.mounts = mounts;
        runtime.args = spec.args.clone();
        runtime.memory_limit_bytes = spec.resources.limits.memory_bytes();
        runtime.request_timeout = spec
            .request_timeout_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        runtime.allowed_outbound_hosts = spec.allowed_outbound_hosts.clone();
        runtime.max_requests_per_instance = spec.instance_reuse.map_or(1, |r| r.max_requests);
        runtime.container_concurrency = spec.container_concurrency;
        runtime.max_request_body_bytes = spec
            .max_request_body_bytes
            .unwrap_or(wasmpod_api::DEFAULT_MAX_REQUEST_BODY_BYTES);
        runtime.outbound = Some((self.ctx.outbound)(&self.key.namespace, &self.key.name));
        runtime.key_value = crate::keyvalue::grants(
            &self.ctx.key_value,
            &self.key.namespace,
            &resolved.key_value_stores,
        )
        .into_shared();
        runtime
    }
}

impl PodHost for NodeHost {
    type Component = Loaded;
    type Http = HttpPod;
    type Command = CommandPod;

    fn world(&self, component: &Loaded) -> ComponentWorld {
        component.world
    }

    async fn load(&mut self, component: &ComponentRef) -> Result<Loaded, StartFailure> {
        if let Some(reference) = component.oci() {
            let credentials = self.pull_credentials(&reference.registry).await?;
            return self
                .ctx
                .components
                .load_oci(reference, credentials)
                .await
                .map_err(|e| match e.is_pull() {
                    true => StartFailure::ImagePull(e.to_string()),
                    false => StartFailure::from(e),
                });
        }
        let Some(digest) = component.digest() else {
            return Err(StartFailure::InvalidComponent(format!(
                "component {:?} is not a digest",
                component.to_string()
            )));
        };
        self.ctx
            .components
            .load(&format!("sha256:{digest}"))
            .await
            .map_err(StartFailure::from)
    }

    /// The pod's env, config and volumes (resolved by the control plane, or the last resolved
    /// config while it is current or the control plane unreachable), laid out on disk.
    async fn resolve(&mut self, version: Option<String>) -> Result<PodRuntimeSpec, StartFailure> {
        let (resolved, source) = self
            .config
            .get(&self.ctx.client, &self.key, &self.pod.spec, version)
            .await?;
        tracing::debug!(?source, "pod config resolved");
        let mounts = crate::volumes::prepare(
            &self.ctx.dirs,
            &self.key.namespace,
            &self.uid(),
            &self.pod.spec,
            &resolved,
        )
        .map_err(StartFailure::Volumes)?;
        Ok(self.runtime_spec(resolved, mounts))
    }

    fn http_pod(&self, component: &Loaded, spec: PodRuntimeSpec) -> Result<HttpPod, StartFailure> {
        let logs = self.ctx.logs(&self.key);
        logs.begin_run();
        self.ctx
            .runtime
            .http_pod(&component.component, spec, logs)
            .map_err(StartFailure::from)
    }

    fn command_pod(
        &self,
        component: &Loaded,
        spec: PodRuntimeSpec,
    ) -> Result<CommandPod, StartFailure> {
        let logs = self.ctx.logs(&self.key);
        logs.begin_run();
        self.ctx
            .runtime
            .command_pod(&component.component, spec, logs)
            .map_err(StartFailure::from)
    }

    async fn run_command(&self, command: &CommandPod) -> CommandExit {
        command.run().await
    }

    async fn probe(&self, http: &HttpPod, path: &str, timeout: Duration) -> bool {
        crate::probes::check(http, path, timeout).await
    }

    fn route(&self, http: Option<&HttpPod>) {
        match http {
            Some(http) => self.ctx.local.insert(self.key.clone(), http.clone()),
            None => self.ctx.local.remove(&self.key),
        }
    }

    fn in_flight(&self, http: &HttpPod) -> u32 {
        http.in_flight()
    }

    fn report(&self, status: &PodStatus) {
        self.ctx.metrics.pod_status(&self.key, status);
        self.reporter.report(status);
    }

    fn event(&self, event_type: EventType, reason: &str, message: String) {
        self.ctx.event(&self.key, event_type, reason, message);
    }

    fn log(&self, line: &str) {
        self.ctx.logs(&self.key).append_line(line);
    }

    fn stopped(&mut self) {
        self.ctx.local.remove(&self.key);
        self.ctx.metrics.forget(&self.key);
        self.ctx.dirs.remove_pod(&self.uid());
    }
}
