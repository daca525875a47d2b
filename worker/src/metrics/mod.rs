//! What a node measures: each pod's live figures ([`PodStats`], served as JSON on the agent
//! port's `GET /podmetrics`) and the node's Prometheus metrics (`GET /metrics`). Both are fed by
//! one hook on the request path ([`LocalEndpoint::handle`]), by the pod's status reports
//! (restarts) and, for instantiation and compile figures, by the runtime's own counters.

mod hook;
mod pod_stats;
mod window;

pub use hook::LocalEndpoint;
pub use pod_stats::PodStats;

use crate::context::LocalPods;
use crate::gateway::service_id::ServiceId;
use hook::{RequestHook, CLASSES};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wasmpod_api::metrics::{Counter, Family, Gauge, Histogram, Registry};
use wasmpod_api::pod_metrics::PodMetricsList;
use wasmpod_api::{ObjectKey, PodStatus};
use wasmpod_runtime::HttpPod;

/// The node's metrics and the figures of the pods it runs.
pub struct NodeMetrics {
    node: String,
    registry: Registry,
    /// The runtime's (instantiation, compile cache): one per process.
    runtime: Registry,
    pods: Mutex<HashMap<ObjectKey, Arc<PodStats>>>,
    requests: Family<Counter>,
    request_duration: Family<Histogram>,
    in_flight: Family<Gauge>,
    memory: Family<Gauge>,
    restarts: Family<Counter>,
    egress_denied: Family<Counter>,
}

const POD: &[&str] = &["namespace", "pod"];
const SERVICE_POD: &[&str] = &["namespace", "service", "pod"];

impl NodeMetrics {
    pub fn new(node: &str, runtime: Registry) -> NodeMetrics {
        let registry = Registry::default();
        NodeMetrics {
            runtime,
            egress_denied: registry.counter(
                "wasmpod_egress_denied_total",
                "Outgoing requests of a pod refused: not a service, not in its allowedOutboundHosts.",
                POD,
            ),
            node: node.to_string(),
            requests: registry.counter(
                "wasmpod_requests_total",
                "Requests served by a pod on this node, by service and status class.",
                &["namespace", "service", "pod", "code"],
            ),
            request_duration: registry.histogram(
                "wasmpod_request_duration_seconds",
                "Time from a request's arrival at the pod to its response's head.",
                SERVICE_POD,
            ),
            in_flight: registry.gauge(
                "wasmpod_pod_requests_in_flight",
                "Requests a pod is serving now.",
                POD,
            ),
            memory: registry.gauge(
                "wasmpod_pod_memory_bytes",
                "Linear memory of a pod's live instances.",
                POD,
            ),
            restarts: registry.counter(
                "wasmpod_pod_restarts_total",
                "Pod restarts on this node, by the reason the pod stopped.",
                &["namespace", "pod", "reason"],
            ),
            registry,
            pods: Mutex::default(),
        }
    }

    /// The node these are the metrics of.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The live figures of a pod, created the first time it is seen.
    pub fn pod(&self, key: &ObjectKey) -> Arc<PodStats> {
        self.pods
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_insert_with(|| Arc::new(PodStats::new(key.clone())))
            .clone()
    }

    /// The replica `http` of pod `key` as the gateway calls it for `service`, with its handles.
    pub fn endpoint(&self, service: &ServiceId, key: &ObjectKey, http: HttpPod) -> LocalEndpoint {
        let labels = |class: &str| {
            self.requests
                .get(&[&key.namespace, &service.name, &key.name, class])
        };
        let hook = RequestHook {
            stats: self.pod(key),
            by_class: CLASSES.map(labels),
            duration: self
                .request_duration
                .get(&[&key.namespace, &service.name, &key.name]),
        };
        LocalEndpoint::new(http, hook)
    }

    /// The counter of pod `namespace/pod`'s refused outgoing requests.
    pub fn egress_denied(&self, namespace: &str, pod: &str) -> Counter {
        self.egress_denied.get(&[namespace, pod])
    }

    /// A pod reported its status: count its new restarts by the reason it stopped.
    pub fn pod_status(&self, key: &ObjectKey, status: &PodStatus) {
        let new = self.pod(key).set_restarts(u64::from(status.restart_count));
        if new > 0 {
            let reason = status
                .last_termination
                .as_ref()
                .map_or("Unknown", |t| t.reason.as_str());
            self.restarts
                .get(&[&key.namespace, &key.name, reason])
                .inc_by(new);
        }
    }

    /// The pod stopped on this node: its figures and series go.
    pub fn forget(&self, key: &ObjectKey) {
        self.pods
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        let is_pod = |family_label: Option<&str>, ns: Option<&str>| {
            family_label == Some(key.name.as_str()) && ns == Some(key.namespace.as_str())
        };
        self.requests.retain(|v| {
            !is_pod(
                self.requests.label(v, "pod"),
                self.requests.label(v, "namespace"),
            )
        });
        self.request_duration.retain(|v| {
            !is_pod(
                self.request_duration.label(v, "pod"),
                self.request_duration.label(v, "namespace"),
            )
        });
        for family in [&self.in_flight, &self.memory] {
            family.retain(|v| !is_pod(family.label(v, "pod"), family.label(v, "namespace")));
        }
        for family in [&self.restarts, &self.egress_denied] {
            family.retain(|v| !is_pod(family.label(v, "pod"), family.label(v, "namespace")));
        }
    }

    fn all(&self) -> Vec<Arc<PodStats>> {
        let mut pods: Vec<_> = self
            .pods
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        pods.sort_by(|a, b| a.key().cmp(b.key()));
        pods
    }

    /// Every pod's figures now (`GET /podmetrics`).
    pub fn pod_metrics(&self, local: &LocalPods) -> PodMetricsList {
        let items = self
            .all()
            .iter()
            .map(|stats| {
                let memory = local.get(stats.key()).map_or(0, |http| http.memory_bytes());
                stats.snapshot(&self.node, memory)
            })
            .collect();
        PodMetricsList {
            items,
            unreachable_nodes: Vec::new(),
        }
    }

    /// The text format (`GET /metrics`), with the per-pod gauges read now.
    pub fn render(&self, local: &LocalPods) -> String {
        for stats in self.all() {
            let key = stats.key();
            let labels = [key.namespace.as_str(), key.name.as_str()];
            let memory = local.get(key).map_or(0, |http| http.memory_bytes());
            self.memory
                .get(&labels)
                .set(i64::try_from(memory).unwrap_or(i64::MAX));
            self.in_flight
                .get(&labels)
                .set(i64::try_from(stats.in_flight()).unwrap_or(i64::MAX));
        }
        let mut text = self.registry.encode();
        text.push_str(&self.runtime.encode());
        text
    }
}
