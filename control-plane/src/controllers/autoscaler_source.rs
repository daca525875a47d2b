//! The autoscaler's figures from the nodes: every ready node's pods, as
//! [`crate::pod_metrics::gather`] asks the nodes' agents for them (the same figures
//! `GET /api/v1/namespaces/NS/podmetrics` serves), in one round per pass. A node that does not
//! answer leaves its pods without figures: the autoscaler then scales nothing of theirs to zero.

use super::autoscaler_load::{ClusterLoads, LoadError, LoadFuture, LoadSource, PodLoad};
use crate::node_credentials::NodeCredentials;
use crate::registry::Registry;
use chrono::Utc;
use std::sync::Arc;

pub struct NodeFigures {
    pub registry: Arc<Registry>,
    pub credentials: Arc<NodeCredentials>,
    pub agents: Arc<crate::node_agent::NodeAgents>,
}

impl LoadSource for NodeFigures {
    fn pod_loads(&self) -> LoadFuture<'_> {
        Box::pin(async move {
            let list =
                crate::pod_metrics::gather(&self.registry, &self.credentials, &self.agents, None)
                    .await
                    .map_err(|e| LoadError {
                        message: e.to_string(),
                    })?;
            let now = Utc::now();
            let mut loads = ClusterLoads::new();
            for figures in list.items {
                // Idle since the last request, or since the pod started serving without one.
                let idle = chrono::Duration::milliseconds((figures.idle_seconds * 1000.0) as i64);
                loads.entry(figures.namespace).or_default().insert(
                    figures.pod,
                    PodLoad {
                        in_flight: figures.in_flight as f64,
                        requests_per_second: figures.requests_per_second,
                        last_request: Some(now - idle),
                    },
                );
            }
            Ok(loads)
        })
    }
}
