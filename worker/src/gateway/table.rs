//! The routing table every gateway thread reads: ingress rules resolved to their service's
//! endpoints, and every service's endpoints (HTTP pods on this node first, else the gateways of
//! the nodes that hold ready replicas). Rebuilt whole on any change and swapped in atomically.

use super::service_id::ServiceId;
use crate::context::LocalPods;
use crate::metrics::{LocalEndpoint, NodeMetrics};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wasmpod_api::labels::matches;
use wasmpod_api::path_matches;
use wasmpod_api::Resource as _;
use wasmpod_api::{Ingress, Node, PathType, Pod, PodPhase, Service};

pub struct Endpoints {
    pub service: ServiceId,
    pub local: Vec<LocalEndpoint>,
    /// Base URLs of other nodes' gateways holding ready replicas.
    pub remote: Vec<Arc<str>>,
    /// Who this gateway is to the remote gateways it forwards to.
    pub forwarder: Arc<Forwarder>,
    next: AtomicUsize,
}

impl Endpoints {
    /// Round robin over `len` choices.
    pub fn pick(&self, len: usize) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % len.max(1)
    }
}

/// This node as a forwarding gateway: its name and its forward key (see
/// [`wasmpod_api::gateway_key`]).
#[derive(Default)]
pub struct Forwarder {
    pub node: String,
    pub key: String,
}

pub struct Rule {
    host: Option<String>,
    path: String,
    path_type: PathType,
    pub endpoints: Arc<Endpoints>,
}

#[derive(Default)]
pub struct RoutingTable {
    rules: Vec<Rule>,
    services: HashMap<ServiceId, Arc<Endpoints>>,
    /// Each present node's published forward key hash: a request forwarded in a node's name
    /// must present a key of that hash.
    peers: HashMap<String, String>,
    /// Built from complete lists of ingresses, services, pods and nodes. Until then the table
    /// knows too little to say a route does not exist.
    synced: bool,
}

impl RoutingTable {
    /// The most specific rule for `host` (without port) and `path`: a rule naming the host beats
    /// one for every host, then the longer path wins.
    pub fn route(&self, host: &str, path: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| {
            r.host
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(host))
                && path_matches(r.path_type, &r.path, path)
        })
    }

    /// Whether `key` is the forward key of `node`, a node present in the cluster.
    pub fn is_peer(&self, node: &[u8], key: &[u8]) -> bool {
        std::str::from_utf8(node)
            .ok()
            .and_then(|node| self.peers.get(node))
            .is_some_and(|hash| wasmpod_api::gateway_key::hash_matches(hash, key))
    }

    /// Whether the table was built from the first complete lists of every input.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Endpoints of the service `namespace/name`.
    pub fn service(&self, id: &ServiceId) -> Option<&Arc<Endpoints>> {
        self.services.get(id)
    }
}

pub struct Inputs<'a> {
    pub node: &'a str,
    pub ingresses: &'a [Arc<Ingress>],
    pub services: &'a [Arc<Service>],
    pub pods: &'a [Arc<Pod>],
    pub nodes: &'a [Arc<Node>],
    pub local: &'a LocalPods,
    /// Where the local replicas' request hooks come from.
    pub metrics: &'a NodeMetrics,
    pub forwarder: &'a Arc<Forwarder>,
    /// Every input has had its first complete list.
    pub synced: bool,
}

pub fn build(inputs: &Inputs<'_>) -> RoutingTable {
    let gateways: HashMap<&str, &str> = inputs
        .nodes
        .iter()
        .filter(|n| n.status.ready && !n.status.gateway.is_empty())
        .map(|n| (n.name(), n.status.gateway.as_str()))
        .collect();
    // Ready pods by (namespace, label key, label value): a service looks only at the pods that
    // carry its rarest selector pair, not at every pod (10,000 services x 10,000 pods otherwise).
    let mut by_label: HashMap<(&str, &str, &str), Vec<&Pod>> = HashMap::new();
    for pod in inputs
        .pods
        .iter()
        .filter(|p| p.status.ready && p.status.phase == PodPhase::Running)
    {
        for (key, value) in &pod.metadata.labels {
            by_label
                .entry((pod.namespace(), key.as_str(), value.as_str()))
                .or_default()
                .push(pod);
        }
    }
    let mut services = HashMap::new();
    for service in inputs.services {
        let id = ServiceId::new(service.namespace(), service.name());
        let mut local = Vec::new();
        let mut remote = BTreeSet::new();
        let candidates = service
            .spec
            .selector
            .iter()
            .map(|(k, v)| {
                by_label
                    .get(&(service.namespace(), k.as_str(), v.as_str()))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|pods| pods.len())
            .unwrap_or(&[]);
        for pod in candidates {
            if !matches(&service.spec.selector, &pod.metadata.labels) {
                continue;
            }
            let Some(node) = pod.spec.node_name.as_deref() else {
                continue;
            };
            if node == inputs.node {
                let key = pod.key();
                if let Some(http) = inputs.local.get(&key) {
                    local.push(inputs.metrics.endpoint(&id, &key, http));
                }
            } else if let Some(gateway) = gateways.get(node) {
                remote.insert(gateway.to_string());
            }
        }
        services.insert(
            id.clone(),
            Arc::new(Endpoints {
                service: id,
                local,
                remote: remote.into_iter().map(Arc::from).collect(),
                forwarder: inputs.forwarder.clone(),
                next: AtomicUsize::new(0),
            }),
        );
    }
    let mut rules = Vec::new();
    for ingress in inputs.ingresses {
        for rule in &ingress.spec.rules {
            for path in &rule.http.paths {
                let id = ServiceId::new(ingress.namespace(), &path.backend.service);
                let endpoints = services.get(&id).cloned().unwrap_or_else(|| {
                    Arc::new(Endpoints {
                        service: id,
                        local: Vec::new(),
                        remote: Vec::new(),
                        forwarder: inputs.forwarder.clone(),
                        next: AtomicUsize::new(0),
                    })
                });
                rules.push(Rule {
                    host: rule.host.clone(),
                    path: path.path.clone(),
                    path_type: path.path_type,
                    endpoints,
                });
            }
        }
    }
    rules.sort_by(|a, b| {
        b.host
            .is_some()
            .cmp(&a.host.is_some())
            .then_with(|| (b.path_type == PathType::Exact).cmp(&(a.path_type == PathType::Exact)))
            .then_with(|| b.path.len().cmp(&a.path.len()))
    });
    let peers = inputs
        .nodes
        .iter()
        .filter(|n| !n.status.forward_key_hash.is_empty())
        .map(|n| (n.name().to_string(), n.status.forward_key_hash.clone()))
        .collect();
    RoutingTable {
        rules,
        services,
        peers,
        synced: inputs.synced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ns: &str, labels: serde_json::Value, node: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "wasmpod.dev/v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "nodeName": node},
                "status": {"phase": "Running", "ready": ready}
            }))
            .expect("pod"),
        )
    }

    fn node(name: &str) -> Arc<Node> {
        let hash = wasmpod_api::gateway_key::sha256_hex(&format!("forward key of {name}"));
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "wasmpod.dev/v1", "kind": "Node", "metadata": {"name": name}, "spec": {},
                "status": {"ready": true, "gateway": format!("http://{name}"), "forwardKeyHash": hash}
            }))
            .expect("node"),
        )
    }

    fn service(name: &str, selector: serde_json::Value) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "wasmpod.dev/v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"selector": selector}
            }))
            .expect("service"),
        )
    }

    #[test]
    fn services_reach_ready_pods_matching_every_selector_pair_in_their_namespace() {
        let pods = [
            pod(
                "web-1",
                "default",
                json!({"app": "a", "tier": "web"}),
                "n2",
                true,
            ),
            pod(
                "db-1",
                "default",
                json!({"app": "a", "tier": "db"}),
                "n3",
                true,
            ),
            pod(
                "web-2",
                "default",
                json!({"app": "a", "tier": "web"}),
                "n4",
                false,
            ),
            pod(
                "web-3",
                "other",
                json!({"app": "a", "tier": "web"}),
                "n5",
                true,
            ),
            pod("api-1", "default", json!({"app": "b"}), "n5", true),
        ];
        let nodes: Vec<_> = ["n1", "n2", "n3", "n4", "n5"].map(node).into();
        let services = [
            service("web", json!({"app": "a", "tier": "web"})),
            service("all-a", json!({"app": "a"})),
            service("none", json!({"app": "zzz"})),
        ];
        let local = LocalPods::default();
        let table = build(&Inputs {
            node: "n1",
            ingresses: &[],
            services: &services,
            pods: &pods,
            nodes: &nodes,
            local: &local,
            metrics: &NodeMetrics::new("n1", Default::default()),
            forwarder: &Arc::new(Forwarder::default()),
            synced: true,
        });
        assert!(table.synced());
        assert!(!RoutingTable::default().synced());
        assert!(table.is_peer(b"n2", b"forward key of n2"));
        assert!(
            !table.is_peer(b"n2", b"forward key of n3"),
            "another node's key"
        );
        assert!(
            !table.is_peer(b"n9", b"forward key of n9"),
            "a node not in the cluster"
        );
        assert!(!table.is_peer(b"n2", b""));
        assert!(!table.is_peer(b"", b""));
        assert!(!RoutingTable::default().is_peer(b"n2", b"forward key of n2"));
        let remote = |id: &str| {
            let mut r: Vec<String> = table
                .service(&ServiceId::parse(id).expect("service id"))
                .expect("service in table")
                .remote
                .iter()
                .map(|g| g.to_string())
                .collect();
            r.sort();
            r
        };
        assert_eq!(remote("default/web"), ["http://n2"]);
        assert_eq!(remote("default/all-a"), ["http://n2", "http://n3"]);
        assert!(remote("default/none").is_empty());
    }
}
