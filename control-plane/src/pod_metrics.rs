//! The cluster's pod figures: every ready node is asked for its pods' figures on its agent port
//! (`GET /podmetrics`, with that node's agent key, as pod logs are fetched), all at once and each
//! with a short timeout. A node that does not answer in time is listed as unreachable; the
//! figures of the others are returned.

use crate::node_credentials::NodeCredentials;
use crate::registry::{Registry, RegistryError};
use futures::future::join_all;
use std::time::Duration;
use wasmpod_api::pod_metrics::{PodMetricsList, UnreachableNode};
use wasmpod_api::{Kind, Node};

/// How long one node may take to answer.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(2);

/// The figures of every pod (of `namespace`, when given) on every ready node.
pub async fn gather(
    registry: &Registry,
    credentials: &NodeCredentials,
    http: &reqwest::Client,
    namespace: Option<&str>,
) -> Result<PodMetricsList, RegistryError> {
    let nodes = registry.list_shared::<Node>(Kind::Node, None)?;
    let asks = nodes
        .iter()
        .filter(|n| n.status.ready && !n.status.agent.is_empty())
        .map(|node| {
            let name = node.name().to_string();
            let url = format!("{}/podmetrics", node.status.agent.trim_end_matches('/'));
            let key = credentials.agent_key(&name);
            async move {
                let asked = async {
                    let response = http
                        .get(&url)
                        .header(wasmpod_api::gateway_key::AGENT_KEY_HEADER, key)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = response.status();
                    if !status.is_success() {
                        return Err(format!("answered {status}"));
                    }
                    response
                        .json::<PodMetricsList>()
                        .await
                        .map_err(|e| format!("unreadable answer: {e}"))
                };
                let result = match tokio::time::timeout(NODE_TIMEOUT, asked).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {NODE_TIMEOUT:?}")),
                };
                (name, result)
            }
        });
    let mut list = PodMetricsList::default();
    for (node, result) in join_all(asks).await {
        match result {
            Ok(figures) => list.items.extend(
                figures
                    .items
                    .into_iter()
                    .filter(|m| namespace.is_none_or(|ns| m.namespace == ns)),
            ),
            Err(reason) => {
                tracing::warn!(%node, %reason, "node did not give pod metrics");
                list.unreachable_nodes
                    .push(UnreachableNode { node, reason });
            }
        }
    }
    list.items.sort_by(|a, b| {
        (a.namespace.as_str(), a.pod.as_str()).cmp(&(b.namespace.as_str(), b.pod.as_str()))
    });
    Ok(list)
}
