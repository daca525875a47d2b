//! The control plane's own state, as `GET /api/v1/cluster` reports it: which server runs the
//! controllers (the holder of the leader lease) and which API servers are live.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// How the leader is chosen (`etcd lease` or none with one server).
    pub election: String,
    /// The server running the controllers and the scheduler; none while the key is free.
    pub leader: Option<LeaderInfo>,
    /// The API servers alive now (each registered under its own lease).
    pub servers: Vec<ServerInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderInfo {
    /// The server's name.
    pub holder: String,
    pub url: String,
    /// When it took the leadership.
    pub since: chrono::DateTime<chrono::Utc>,
    /// The lease's time to live: without a renewal for this long, another server takes over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ttl_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub name: String,
    /// Where its API answers.
    pub url: String,
    pub started: chrono::DateTime<chrono::Utc>,
}
