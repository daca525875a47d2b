//! What a pod may do: the part of a pod spec the runtime enforces.

use crate::OutboundRouter;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The resolved, runtime-relevant part of a pod: what its WASI context grants and how it is limited.
/// Everything not granted here is denied.
#[derive(Clone)]
pub struct PodRuntimeSpec {
    /// Pod name, for logs and tracing; also the guest's `argv[0]`.
    pub name: String,
    /// Environment variables the guest sees (nothing of the host's is inherited).
    pub env: Vec<(String, String)>,
    /// Arguments after `argv[0]`.
    pub args: Vec<String>,
    /// Key/value pairs exposed via `wasi:config/store`.
    pub config: Vec<(String, String)>,
    /// Host directories preopened for the guest.
    pub mounts: Vec<Mount>,
    /// Cap on the total linear memory of one instance (all its memories together); growing past it
    /// traps the guest. The engine's `max_memory_per_instance` applies either way.
    pub memory_limit_bytes: Option<u64>,
    /// Deadline for one request of an HTTP pod (guest CPU via epochs, and wall time).
    pub request_timeout: Duration,
    /// Origins the guest may reach with `wasi:http/outgoing-handler`, e.g. `https://api.example.com`
    /// or `http://127.0.0.1:8081` (scheme, host and port must match; the port defaults from the
    /// scheme). `*` allows every origin. Everything else is denied.
    pub allowed_outbound_hosts: Vec<String>,
    /// The service-mesh hook, consulted before the allow-list for every outgoing request.
    pub outbound: Option<Arc<dyn OutboundRouter>>,
    /// HTTP pods: how many requests one instance may serve, one after the other, before it is
    /// dropped. 1 (the default) gives every request a fresh instance; more trades isolation for
    /// speed (guest state carries over between requests; a trap still drops the instance). Must
    /// be at least 1. Command pods ignore it.
    pub max_requests_per_instance: u32,
    /// HTTP pods: instances this pod may run at once (`containerConcurrency`); more requests wait
    /// in the pod's queue. `None` or 0: a fair share of the node's pool (see `admission.rs`).
    pub container_concurrency: Option<u32>,
    /// HTTP pods: the largest request body, counted as it streams in; past it the request is
    /// answered 413 (at once when its Content-Length says so).
    pub max_request_body_bytes: u64,
    /// The `wasi:keyvalue` stores the pod may open, by name; any other name is `access-denied`.
    pub key_value: Arc<crate::keyvalue::KeyValueGrants>,
}

impl PodRuntimeSpec {
    /// A spec that grants nothing, with a 30 s request timeout.
    pub fn new(name: impl Into<String>) -> PodRuntimeSpec {
        PodRuntimeSpec {
            name: name.into(),
            env: Vec::new(),
            args: Vec::new(),
            config: Vec::new(),
            mounts: Vec::new(),
            memory_limit_bytes: None,
            request_timeout: Duration::from_secs(30),
            allowed_outbound_hosts: Vec::new(),
            outbound: None,
            max_requests_per_instance: 1,
            container_concurrency: None,
            max_request_body_bytes: wasmpod_api::DEFAULT_MAX_REQUEST_BODY_BYTES,
            key_value: Arc::default(),
        }
    }
}

impl std::fmt::Debug for PodRuntimeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodRuntimeSpec")
            .field("name", &self.name)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("args", &self.args)
            .field(
                "config",
                &self.config.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("mounts", &self.mounts)
            .field("memory_limit_bytes", &self.memory_limit_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("allowed_outbound_hosts", &self.allowed_outbound_hosts)
            .field("outbound", &self.outbound.is_some())
            .field("max_requests_per_instance", &self.max_requests_per_instance)
            .field("container_concurrency", &self.container_concurrency)
            .field("key_value", &self.key_value.names().collect::<Vec<_>>())
            .finish()
    }
}

/// A host directory preopened in the guest at `guest_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host_path: PathBuf,
    pub guest_path: String,
    pub read_only: bool,
}
