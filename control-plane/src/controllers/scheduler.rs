//! The scheduler: binds each unbound pod to a node. Filters (node ready, schedulable, pods,
//! memory and cpu fit, nodeSelector), then scores (spread the replicas of one owner across
//! nodes, then least allocated). A pod that fits nowhere stays Pending with the reason.

use crate::registry::{to_any, EventDraft, Registry, RegistryError, Write};
use std::collections::{BTreeMap, HashMap};
use wasmpod_api::{Kind, Node, ObjectKey, Pod, PodPhase};

#[derive(Debug, Default, Clone)]
struct Allocated {
    memory: u64,
    cpu: u64,
    pods: u32,
    /// Pods per owner (deployment), for spreading.
    by_owner: HashMap<String, u32>,
}

fn occupies(pod: &Pod) -> bool {
    !matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
}

fn owner_id(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace(), pod.owner().unwrap_or(pod.name()))
}

/// Why one node cannot take a pod, in the words `0/3 nodes: ...` uses.
fn rejection(node: &Node, alloc: &Allocated, pod: &Pod) -> Option<&'static str> {
    if !node.status.ready {
        return Some("not ready");
    }
    if node.spec.unschedulable {
        return Some("unschedulable");
    }
    if !pod.spec.node_selector.iter().all(|(k, v)| node.metadata.labels.get(k) == Some(v)) {
        return Some("node selector mismatch");
    }
    let cap = node.status.capacity;
    if alloc.pods + 1 > cap.pods {
        return Some("too many pods");
    }
    if alloc.memory + pod.spec.resources.memory_request() > cap.memory_bytes {
        return Some("insufficient memory");
    }
    if alloc.cpu + pod.spec.resources.cpu_request() > cap.cpu_millis {
        return Some("insufficient cpu");
    }
    None
}

/// Lower is better: (replicas of this owner already there, allocated share of memory in ‰, pods).
fn score(node: &Node, alloc: &Allocated, owner: &str) -> (u32, u64, u32) {
    let mem_permille = (alloc.memory.saturating_mul(1000)) / node.status.capacity.memory_bytes.max(1);
    (alloc.by_owner.get(owner).copied().unwrap_or(0), mem_permille, alloc.pods)
}

/// The node for `pod`, or the reason none fits.
fn choose<'a>(nodes: &'a [Node], allocated: &HashMap<String, Allocated>, pod: &Pod) -> Result<&'a Node, String> {
    let empty = Allocated::default();
    let owner = owner_id(pod);
    let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut best: Option<(&Node, (u32, u64, u32))> = None;
    for node in nodes {
        let alloc = allocated.get(node.name()).unwrap_or(&empty);
        match rejection(node, alloc, pod) {
            Some(reason) => *reasons.entry(reason).or_default() += 1,
            None => {
                let s = score(node, alloc, &owner);
                if best.as_ref().is_none_or(|(_, b)| s < *b) {
                    best = Some((node, s));
                }
            }
        }
    }
    best.map(|(n, _)| n).ok_or_else(|| {
        let detail: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        if nodes.is_empty() {
            "0/0 nodes are available: no node has joined".to_string()
        } else {
            format!("0/{} nodes are available: {}", nodes.len(), detail.join(", "))
        }
    })
}

pub fn reconcile_all(registry: &Registry) -> Result<(), RegistryError> {
    let nodes: Vec<Node> = registry.list_typed(Kind::Node, None)?;
    let mut pods: Vec<Pod> = registry.list_typed(Kind::Pod, None)?;
    let mut allocated: HashMap<String, Allocated> = HashMap::new();
    for pod in pods.iter().filter(|p| occupies(p)) {
        if let Some(node) = &pod.spec.node_name {
            let a = allocated.entry(node.clone()).or_default();
            a.memory += pod.spec.resources.memory_request();
            a.cpu += pod.spec.resources.cpu_request();
            a.pods += 1;
            *a.by_owner.entry(owner_id(pod)).or_default() += 1;
        }
    }
    pods.retain(|p| p.spec.node_name.is_none() && occupies(p));
    pods.sort_by_key(|p| p.metadata.creation_timestamp);
    let mut writes = Vec::new();
    let mut events = Vec::new();
    for mut pod in pods {
        let key = ObjectKey::new(Kind::Pod, pod.namespace(), pod.name());
        match choose(&nodes, &allocated, &pod) {
            Ok(node) => {
                let a = allocated.entry(node.name().to_string()).or_default();
                a.memory += pod.spec.resources.memory_request();
                a.cpu += pod.spec.resources.cpu_request();
                a.pods += 1;
                *a.by_owner.entry(owner_id(&pod)).or_default() += 1;
                pod.spec.node_name = Some(node.name().to_string());
                pod.status.reason = None;
                pod.status.message = None;
                events.push(EventDraft::normal(key.clone(), "Scheduled", format!("assigned {} to {}", key.name, node.name())));
                writes.push(Write::Put(to_any(&key, &pod)?));
            }
            Err(message) => {
                if pod.status.reason.as_deref() != Some("Unschedulable") || pod.status.message.as_deref() != Some(&message) {
                    events.push(EventDraft::warning(key.clone(), "FailedScheduling", message.clone()));
                    pod.status.reason = Some("Unschedulable".into());
                    pod.status.message = Some(message);
                    writes.push(Write::Put(to_any(&key, &pod)?));
                }
            }
        }
    }
    if !writes.is_empty() {
        registry.commit(writes)?;
    }
    registry.record_events(&events, "scheduler");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::{Name, NodeCapacity, Object, ObjectMeta, PodSpec};

    fn node(name: &str, ready: bool, memory: u64) -> Node {
        let mut n: Node = Object::new(Kind::Node, ObjectMeta::named(Name::try_from(name).unwrap()), Default::default());
        n.status.ready = ready;
        n.status.capacity = NodeCapacity { memory_bytes: memory, cpu_millis: 4000, pods: 100 };
        n
    }

    fn pod(memory: &str) -> Pod {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "component": "sha256:x", "resources": {"requests": {"memory": memory}}
        }))
        .unwrap();
        Object::new(Kind::Pod, ObjectMeta::named(Name::try_from("p").unwrap()), spec)
    }

    #[test]
    fn pod_that_fits_nowhere_names_the_reasons() {
        let nodes = vec![node("a", true, 1 << 20), node("b", true, 1 << 20), node("c", false, 8 << 30)];
        let err = choose(&nodes, &HashMap::new(), &pod("1Gi")).unwrap_err();
        assert_eq!(err, "0/3 nodes are available: 2 insufficient memory, 1 not ready");
    }

    #[test]
    fn replicas_spread_across_nodes() {
        let nodes = vec![node("a", true, 8 << 30), node("b", true, 8 << 30)];
        let mut allocated = HashMap::new();
        let p = pod("1Mi");
        let first = choose(&nodes, &allocated, &p).unwrap().name().to_string();
        let a: &mut Allocated = allocated.entry(first.clone()).or_default();
        a.pods += 1;
        a.by_owner.insert(owner_id(&p), 1);
        let second = choose(&nodes, &allocated, &p).unwrap().name().to_string();
        assert_ne!(first, second);
    }
}
