//! Node leases: a node whose heartbeat is older than the grace period turns NotReady and its
//! pods are evicted (deleted, so their controllers replace them on other nodes).

use crate::registry::{EventDraft, Registry, RegistryError, Write};
use chrono::Utc;
use std::time::Duration;
use wasmpod_api::{Kind, Node, ObjectKey, Pod};

/// `started` is when this control plane started: a heartbeat it could not have received while
/// down does not count against a node.
pub fn reconcile_all(
    registry: &Registry,
    grace: Duration,
    started: chrono::DateTime<Utc>,
) -> Result<(), RegistryError> {
    let nodes: Vec<Node> = registry.list_typed(Kind::Node, None)?;
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
    if !lost.is_empty() {
        let pods: Vec<Pod> = registry.list_typed(Kind::Pod, None)?;
        let mut writes = Vec::new();
        for pod in pods
            .iter()
            .filter(|p| p.spec.node_name.as_ref().is_some_and(|n| lost.contains(n)))
        {
            let key = ObjectKey::new(Kind::Pod, pod.namespace(), pod.name());
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
    registry.record_events(&events, "node-lifecycle-controller");
    Ok(())
}
