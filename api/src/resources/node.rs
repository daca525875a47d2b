//! Nodes: the workers that joined the cluster, with their labels and capacity (the scheduler's
//! input) and their status (heartbeat, readiness, gateway address, forward key hash).

use crate::object::Object;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A worker process running the wasmpod runtime.
pub type Node = Object<NodeSpec, NodeStatus>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    /// Cordoned: the scheduler places no new pods here.
    #[serde(default)]
    pub unschedulable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeStatus {
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub capacity: NodeCapacity,
    /// Where this node's gateway answers, e.g. `http://127.0.0.1:8080`.
    #[serde(default)]
    pub gateway: String,
    /// Where this node's agent answers (logs), e.g. `http://127.0.0.1:40123`.
    #[serde(default)]
    pub agent: String,
    /// SHA-256 (hex) of this node's forward key: other gateways accept a request forwarded in
    /// this node's name only with a key of this hash. The API sets it from the node's credential.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub forward_key_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeCapacity {
    pub memory_bytes: u64,
    pub cpu_millis: u64,
    pub pods: u32,
}

impl Default for NodeCapacity {
    fn default() -> Self {
        NodeCapacity {
            memory_bytes: 8 << 30,
            cpu_millis: 4000,
            pods: 1000,
        }
    }
}

impl NodeCapacity {
    /// Parses `memory=2Gi,cpu=2000m,pods=500` (any subset; the rest keep their defaults).
    pub fn parse(text: &str) -> Result<NodeCapacity, String> {
        let mut cap = NodeCapacity::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("capacity {part:?} is not key=value"))?;
            match k.trim() {
                "memory" => cap.memory_bytes = crate::quantity::parse_memory(v)?,
                "cpu" => cap.cpu_millis = crate::quantity::parse_cpu(v)?,
                "pods" => {
                    cap.pods = v
                        .trim()
                        .parse()
                        .map_err(|_| format!("pods={v:?} is not a number"))?
                }
                other => {
                    return Err(format!(
                        "unknown capacity {other:?} (expected memory, cpu or pods)"
                    ))
                }
            }
        }
        Ok(cap)
    }
}
