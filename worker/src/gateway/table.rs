//! The routing table every gateway thread reads: ingress rules resolved to their service's
//! endpoints, and every service's endpoints (HTTP pods on this node first, else the gateways of
//! the nodes that hold ready replicas). Rebuilt whole on any change and swapped in atomically.

use crate::context::LocalPods;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wasmpod_api::labels::matches;
use wasmpod_api::path_matches;
use wasmpod_api::{Ingress, Kind, Node, ObjectKey, PathType, Pod, PodPhase, Service};
use wasmpod_runtime::HttpPod;

pub struct Endpoints {
    /// `namespace/name` of the service.
    pub service: String,
    pub local: Vec<HttpPod>,
    /// Base URLs of other nodes' gateways holding ready replicas.
    pub remote: Vec<Arc<str>>,
    next: AtomicUsize,
}

impl Endpoints {
    /// Round robin over `len` choices.
    pub fn pick(&self, len: usize) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % len.max(1)
    }
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
    services: HashMap<String, Arc<Endpoints>>,
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

    /// Endpoints of the service `namespace/name`.
    pub fn service(&self, id: &str) -> Option<&Arc<Endpoints>> {
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
}

pub fn build(inputs: &Inputs<'_>) -> RoutingTable {
    let gateways: HashMap<&str, &str> = inputs
        .nodes
        .iter()
        .filter(|n| n.status.ready && !n.status.gateway.is_empty())
        .map(|n| (n.name(), n.status.gateway.as_str()))
        .collect();
    let mut by_namespace: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for pod in inputs
        .pods
        .iter()
        .filter(|p| p.status.ready && p.status.phase == PodPhase::Running)
    {
        by_namespace.entry(pod.namespace()).or_default().push(pod);
    }
    let mut services = HashMap::new();
    for service in inputs.services {
        let mut local = Vec::new();
        let mut remote = BTreeSet::new();
        for pod in by_namespace
            .get(service.namespace())
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if !matches(&service.spec.selector, &pod.metadata.labels) {
                continue;
            }
            let Some(node) = pod.spec.node_name.as_deref() else {
                continue;
            };
            if node == inputs.node {
                if let Some(http) =
                    inputs
                        .local
                        .get(&ObjectKey::new(Kind::Pod, pod.namespace(), pod.name()))
                {
                    local.push(http);
                }
            } else if let Some(gateway) = gateways.get(node) {
                remote.insert(gateway.to_string());
            }
        }
        let id = format!("{}/{}", service.namespace(), service.name());
        services.insert(
            id.clone(),
            Arc::new(Endpoints {
                service: id,
                local,
                remote: remote.into_iter().map(Arc::from).collect(),
                next: AtomicUsize::new(0),
            }),
        );
    }
    let mut rules = Vec::new();
    for ingress in inputs.ingresses {
        for rule in &ingress.spec.rules {
            for path in &rule.http.paths {
                let id = format!("{}/{}", ingress.namespace(), path.backend.service);
                let endpoints = services.get(&id).cloned().unwrap_or_else(|| {
                    Arc::new(Endpoints {
                        service: id,
                        local: Vec::new(),
                        remote: Vec::new(),
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
    RoutingTable { rules, services }
}
