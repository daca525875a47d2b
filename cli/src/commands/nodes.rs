//! `cordon`, `uncordon` and `drain`: a node's `spec.unschedulable`, written with the version read
//! (a heartbeat in between makes it a conflict, read again), and moving its pods elsewhere.

use super::ApiArgs;
use anyhow::Context;
use clap::Args;
use std::time::{Duration, Instant};
use wasmpod_api::{AnyObject, Kind, Node, Pod};

/// How often a write refused as stale is read again and retried.
const CONFLICT_RETRIES: u32 = 10;

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Node name
    pub node: String,
    /// How long `drain` waits for the node's pods to leave
    #[arg(long, default_value = "60")]
    pub timeout_seconds: u64,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl NodeArgs {
    pub async fn cordon(&self, unschedulable: bool) -> anyhow::Result<()> {
        let client = self.api.client()?;
        // Read, change, write back with the version read; a heartbeat or another writer in
        // between makes the write a conflict: read again.
        let mut attempts = 0;
        loop {
            let mut node: Node = client
                .get_typed(Kind::Node, "", &self.node)
                .await
                .with_context(|| format!("node {:?}", self.node))?;
            node.spec.unschedulable = unschedulable;
            match client.put_object(&AnyObject::from_typed(&node)?).await {
                Ok(_) => break,
                Err(e) if e.is_conflict() && attempts < CONFLICT_RETRIES => attempts += 1,
                Err(e) => return Err(e).with_context(|| format!("node {:?}", self.node)),
            }
        }
        println!(
            "node/{} {}",
            self.node,
            if unschedulable {
                "cordoned"
            } else {
                "uncordoned"
            }
        );
        Ok(())
    }

    /// Cordons the node, deletes its pods (their deployments recreate them elsewhere) and waits
    /// until none is left there.
    pub async fn drain(&self) -> anyhow::Result<()> {
        self.cordon(true).await?;
        let client = self.api.client()?;
        let on_node = |pods: Vec<Pod>| -> Vec<Pod> {
            pods.into_iter()
                .filter(|p| p.spec.node_name.as_deref() == Some(self.node.as_str()))
                .collect()
        };
        for pod in on_node(client.list_typed::<Pod>(Kind::Pod, None).await?) {
            match client.delete(Kind::Pod, pod.namespace(), pod.name()).await {
                Ok(_) => println!("evicting pod {}/{}", pod.namespace(), pod.name()),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(self.timeout_seconds);
        loop {
            let left = on_node(client.list_typed::<Pod>(Kind::Pod, None).await?).len();
            if left == 0 {
                println!("node/{} drained", self.node);
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "{left} pod(s) still on node {} after {} s",
                    self.node,
                    self.timeout_seconds
                );
            }
            eprintln!("waiting for {left} pod(s) to leave {}", self.node);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
