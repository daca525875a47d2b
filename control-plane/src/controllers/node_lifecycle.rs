//! Node leases: a node whose heartbeat is older than the grace period turns NotReady and its
//! pods are evicted (deleted, so their controllers replace them on other nodes).

use crate::events::{EventDraft, Recorder};
use crate::registry::{Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use chrono::Utc;
use std::time::Duration;
use wasmpod_api::Resource as _;
use wasmpod_api::{Kind, Node, ObjectKey, Pod};

/// `started` is when this control plane started: a heartbeat it could not have received while
/// down does not count against a node.
pub fn reconcile_all(
    registry: &Registry,
    grace: Duration,
    started: chrono::DateTime<Utc>,
) -> Result<(), RegistryError> {
    let nodes: Vec<Node> = registry.all_owned(None)?;
    let now = Utc::now();
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::seconds(5));
    let mut events = Vec::new();
    let mut lost = Vec::new();
    for node in &nodes {
        let key = ObjectKey::new(Kind::Node, "", node.name());
        let last = node
            .status
            .last_heartbeat
            .map_or(started, |t| t.max(started));
        let expired = now - last > grace;
        if node.status.ready && expired {
            registry.modify::<Node, _>(&key, |n| {
                let still =
                    now - n.status.last_heartbeat.map_or(started, |t| t.max(started)) > grace;
                if still {
                    n.status.ready = false;
                    n.status.message =
                        Some("lease expired: no heartbeat within the grace period".into());
                }
                still
            })?;
            events.push(EventDraft::warning(
                key.clone(),
                "NodeNotReady",
                format!("node {} stopped renewing its lease", node.name()),
            ));
            tracing::warn!(node = node.name(), "node lease expired");
        }
        if !node.status.ready || expired {
            lost.push(node.name().to_string());
        }
    }
    // With no ready node left, eviction only destroys pods that have nowhere to go (and, when
    // the control plane itself was too busy to take heartbeats, pods that were fine): wait.
    let any_ready = nodes.iter().any(|n| !lost.iter().any(|l| l == n.name()));
    if !lost.is_empty() && !any_ready {
        tracing::warn!(nodes = lost.len(), "no node is ready; not evicting");
    }
    if !lost.is_empty() && any_ready {
        let pods = registry.all::<Pod>(None)?;
        let mut writes = Vec::new();
        for pod in pods
            .iter()
            .filter(|p| p.spec.node_name.as_ref().is_some_and(|n| lost.contains(n)))
        {
            let key = pod.key();
            let node = pod.spec.node_name.clone().unwrap_or_default();
            events.push(EventDraft::warning(
                key.clone(),
                "Evicted",
                format!("node {node} is not ready; evicting the pod"),
            ));
            writes.push(Write::Delete(key));
        }
        if !writes.is_empty() {
            registry.commit(writes)?;
        }
    }
    Recorder::new(registry, "node-lifecycle-controller").record(&events);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::registry;
    use crate::registry::to_any;
    use wasmpod_api::{Name, Node, ObjectMeta, PodSpec};

    fn node(name: &str, heartbeat_age: chrono::Duration) -> Write {
        let mut n: Node = Node::of(
            ObjectMeta::named(Name::try_from(name).unwrap()),
            Default::default(),
        );
        n.status.ready = true;
        n.status.last_heartbeat = Some(Utc::now() - heartbeat_age);
        Write::Put(to_any(&ObjectKey::new(Kind::Node, "", name), &n).unwrap())
    }

    fn pod_on(name: &str, node: &str) -> Write {
        let mut spec: PodSpec =
            serde_json::from_value(serde_json::json!({"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000"})).unwrap();
        spec.node_name = Some(node.to_string());
        let mut meta = ObjectMeta::named(Name::try_from(name).unwrap());
        meta.namespace = Some("default".into());
        let pod: Pod = Pod::of(meta, spec);
        Write::Put(to_any(&ObjectKey::new(Kind::Pod, "default", name), &pod).unwrap())
    }

    fn pods(registry: &Registry) -> usize {
        registry.list(Kind::Pod, None).unwrap().0.len()
    }

    #[test]
    fn pods_of_a_lost_node_are_evicted_when_another_node_is_ready() {
        let (_dir, registry) = registry();
        let long_ago = Utc::now() - chrono::Duration::minutes(5);
        registry
            .commit(vec![
                node("a", chrono::Duration::minutes(1)),
                node("b", chrono::Duration::zero()),
                pod_on("p", "a"),
            ])
            .unwrap();
        reconcile_all(&registry, Duration::from_secs(3), long_ago).unwrap();
        assert_eq!(pods(&registry), 0);
    }

    #[test]
    fn nothing_is_evicted_when_no_node_is_ready() {
        let (_dir, registry) = registry();
        let long_ago = Utc::now() - chrono::Duration::minutes(5);
        registry
            .commit(vec![
                node("a", chrono::Duration::minutes(1)),
                pod_on("p", "a"),
            ])
            .unwrap();
        reconcile_all(&registry, Duration::from_secs(3), long_ago).unwrap();
        assert_eq!(pods(&registry), 1, "the only node's pods stay");
        let node: Node = registry
            .get_typed(&ObjectKey::new(Kind::Node, "", "a"))
            .unwrap()
            .unwrap();
        assert!(!node.status.ready, "but the node is NotReady");
    }
}
