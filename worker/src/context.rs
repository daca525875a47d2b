//! What every part of a node shares: its name, the API client, the runtime, the components,
//! the HTTP pods serving on this node, and each pod's logs.

use crate::backoff::BackoffPolicy;
use crate::components::Components;
use crate::node_dirs::NodeDirs;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;
use wasmpod_api::{Client, EventType, ObjectKey};
use wasmpod_runtime::{HttpPod, OutboundRouter, PodLogs, Runtime, DEFAULT_LOG_CAPACITY};

pub struct NodeContext {
    pub node: String,
    /// The node's directories: data (components, compile cache, volumes) and secret files.
    pub dirs: NodeDirs,
    pub client: Client,
    pub runtime: Runtime,
    pub components: Components,
    pub local: LocalPods,
    /// Each pod's live figures and the node's Prometheus metrics.
    pub metrics: Arc<crate::metrics::NodeMetrics>,
    pub backoff: BackoffPolicy,
    logs: Mutex<HashMap<ObjectKey, PodLogs>>,
    /// Builds the service-call router for a pod of one namespace.
    pub outbound: OutboundFactory,
    /// The `wasi:keyvalue` stores of this node's pods.
    pub key_value: Arc<wasmpod_runtime::keyvalue::KeyValueBackends>,
}

/// Builds the service-call router of one pod (namespace, pod name).
pub type OutboundFactory = Box<dyn Fn(&str, &str) -> Arc<dyn OutboundRouter> + Send + Sync>;

impl NodeContext {
    /// A node's context; its name is the one its `metrics` were made for.
    pub fn new(
        metrics: Arc<crate::metrics::NodeMetrics>,
        dirs: NodeDirs,
        client: Client,
        runtime: Runtime,
        components: Components,
        backoff: BackoffPolicy,
        outbound: OutboundFactory,
    ) -> NodeContext {
        let key_value = Arc::new(wasmpod_runtime::keyvalue::KeyValueBackends::new(
            dirs.data_dir().join(crate::keyvalue::EMBEDDED_DIR),
        ));
        NodeContext {
            key_value,
            node: metrics.node().to_string(),
            metrics,
            dirs,
            client,
            runtime,
            components,
            local: LocalPods::default(),
            backoff,
            logs: Mutex::default(),
            outbound,
        }
    }

    /// The log buffer of a pod; it outlives restarts of the pod on this node.
    pub fn logs(&self, key: &ObjectKey) -> PodLogs {
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_insert_with(|| PodLogs::new(DEFAULT_LOG_CAPACITY))
            .clone()
    }

    pub fn existing_logs(&self, key: &ObjectKey) -> Option<PodLogs> {
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// The pod left this node: its log goes, and whoever follows it reaches the end.
    pub fn forget_logs(&self, key: &ObjectKey) {
        let removed = self
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        if let Some(logs) = removed {
            logs.close();
        }
    }

    /// Reports an event about a pod (in the background; events are advisory).
    pub fn event(
        &self,
        pod: &ObjectKey,
        event_type: EventType,
        reason: &str,
        message: impl Into<String>,
    ) {
        crate::pod_events::report(
            &self.client,
            &self.node,
            &pod.namespace,
            &pod.name,
            event_type,
            reason,
            message.into(),
        );
    }
}

/// The HTTP pods serving on this node, by pod key; the gateway's routing table follows it.
#[derive(Default)]
pub struct LocalPods {
    pods: RwLock<HashMap<ObjectKey, HttpPod>>,
    version: VersionCell,
}

impl LocalPods {
    pub fn insert(&self, key: ObjectKey, pod: HttpPod) {
        self.pods
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, pod);
        self.version.bump();
    }

    pub fn remove(&self, key: &ObjectKey) {
        if self
            .pods
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
            .is_some()
        {
            self.version.bump();
        }
    }

    pub fn get(&self, key: &ObjectKey) -> Option<HttpPod> {
        self.pods
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.0.subscribe()
    }
}

struct VersionCell(watch::Sender<u64>);

impl Default for VersionCell {
    fn default() -> Self {
        VersionCell(watch::channel(0).0)
    }
}

impl VersionCell {
    fn bump(&self) {
        self.0.send_modify(|v| *v += 1);
    }
}
