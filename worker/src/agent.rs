//! Joining the cluster: register this node, then renew its lease (a heartbeat carrying status)
//! every period. A node that stops renewing is declared NotReady by the control plane.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wasmpod_api::{AnyObject, Client, Kind, Name, Node, NodeCapacity, NodeStatus, ObjectMeta};

pub struct Registration {
    pub name: Name,
    pub labels: BTreeMap<String, String>,
    pub capacity: NodeCapacity,
    pub gateway: String,
    pub agent: String,
}

impl Registration {
    fn status(&self) -> NodeStatus {
        NodeStatus {
            ready: true,
            capacity: self.capacity,
            gateway: self.gateway.clone(),
            agent: self.agent.clone(),
            // The API sets it from this node's credential.
            forward_key_hash: String::new(),
            last_heartbeat: None,
            message: None,
        }
    }
}

/// Registers the node (keeping a cordon set by an admin) and reports it ready.
pub async fn register(
    client: &Client,
    registration: &Registration,
) -> Result<(), wasmpod_api::ClientError> {
    // Read, set the labels, write back with the version read (a create when absent); a cordon
    // or heartbeat in between is a conflict: read again rather than undo it.
    let mut attempts = 0;
    loop {
        let mut node: Node = match client
            .get_typed::<Node>(Kind::Node, "", registration.name.as_str())
            .await
        {
            Ok(existing) => existing,
            Err(e) if e.is_not_found() => Node::of(
                ObjectMeta::named(registration.name.clone()),
                Default::default(),
            ),
            Err(e) => return Err(e),
        };
        node.metadata.labels = registration.labels.clone();
        let any = AnyObject::from_typed(&node)
            .map_err(|e| wasmpod_api::ClientError::Decode(e.to_string()))?;
        match client.put_object(&any).await {
            Ok(_) => break,
            Err(e) if e.is_conflict() && attempts < 10 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
    report_ready(client, registration).await
}

/// Writes the node's status (ready, capacity, addresses); the server stamps the heartbeat.
async fn report_ready(
    client: &Client,
    registration: &Registration,
) -> Result<(), wasmpod_api::ClientError> {
    client
        .put_status(
            Kind::Node,
            "",
            registration.name.as_str(),
            &registration.status(),
        )
        .await
}

pub async fn heartbeat(
    client: Client,
    registration: Registration,
    period: Duration,
    shutdown: CancellationToken,
) {
    let mut registered = false;
    loop {
        let result = if registered {
            report_ready(&client, &registration).await
        } else {
            register(&client, &registration).await
        };
        match result {
            Ok(()) => registered = true,
            Err(e) if e.is_not_found() => registered = false,
            Err(error) => tracing::warn!(%error, "heartbeat failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}
