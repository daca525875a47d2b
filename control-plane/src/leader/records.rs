//! What the election keeps in etcd, beside (never inside) the objects: the leader key and one
//! membership key per live server, each attached to its writer's lease.

use super::LeaderError;
use serde::{Deserialize, Serialize};
use wasmpod_api::cluster::{LeaderInfo, ServerInfo};

/// Where the election's keys are, under the cluster's etcd prefix (beside its objects, whose
/// keys have three parts: `<plural>/<namespace>/<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Held by the server running the controllers: `<prefix>leader/controllers`.
    pub leader: String,
    /// `<servers><name>` → [`ServerRecord`], one per live server: `<prefix>servers/`.
    pub servers: String,
}

impl Keys {
    pub fn under(prefix: &str) -> Keys {
        Keys {
            leader: format!("{prefix}leader/controllers"),
            servers: format!("{prefix}servers/"),
        }
    }

    pub fn server(&self, name: &str) -> String {
        format!("{}{name}", self.servers)
    }
}

/// The leader key's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderRecord {
    pub holder: String,
    pub url: String,
    pub since: chrono::DateTime<chrono::Utc>,
    pub lease_ttl_seconds: u64,
}

/// A membership key's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerRecord {
    pub name: String,
    pub url: String,
    pub started: chrono::DateTime<chrono::Utc>,
}

pub fn decode<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, LeaderError> {
    serde_json::from_slice(value).map_err(|source| LeaderError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Plain structs of strings and numbers: serialising them cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

impl From<LeaderRecord> for LeaderInfo {
    fn from(r: LeaderRecord) -> LeaderInfo {
        LeaderInfo {
            holder: r.holder,
            url: r.url,
            since: r.since,
            lease_ttl_seconds: Some(r.lease_ttl_seconds),
        }
    }
}

impl From<ServerRecord> for ServerInfo {
    fn from(r: ServerRecord) -> ServerInfo {
        ServerInfo {
            name: r.name,
            url: r.url,
            started: r.started,
        }
    }
}
