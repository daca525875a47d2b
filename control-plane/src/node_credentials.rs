//! Node credentials: one bearer token per node name, issued once by
//! `POST /api/v1/nodes/{name}/credential` and revoked by deleting the node.
//!
//! Only each token's SHA-256 is kept (with the SHA-256 of the node's forward key), in
//! `<data dir>/node-credentials.json` (mode 0600). That file is not an API object: no route lists,
//! reads or writes it, so no node can see or change another node's credential. Agent keys (what
//! the log proxy presents to a node's agent) are not stored: they are derived from the secrets key
//! and the node's name.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use thiserror::Error;
use wasmpod_api::client::NodeCredential;
use wasmpod_api::gateway_key::{forward_key, hmac_sha256, sha256_hex};

#[derive(Debug, Error)]
pub enum CredentialError {
    #[error("cannot read the node credentials {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the node credentials file {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the node credentials {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    token_sha256: String,
    forward_key_sha256: String,
    issued: DateTime<Utc>,
}

#[derive(Default)]
struct Entries {
    by_name: BTreeMap<String, Entry>,
    /// token SHA-256 -> node name.
    by_token: HashMap<String, String>,
}

impl Entries {
    fn new(by_name: BTreeMap<String, Entry>) -> Entries {
        let by_token = by_name
            .iter()
            .map(|(name, e)| (e.token_sha256.clone(), name.clone()))
            .collect();
        Entries { by_name, by_token }
    }
}

/// Whether [`NodeCredentials::issue`] may replace a credential the name already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// The admin may re-issue (the old credential stops working).
    Allowed,
    /// The join token may only register a name that has no credential.
    Refused,
}

pub struct NodeCredentials {
    path: PathBuf,
    /// Root of the per-node agent keys, derived from the secrets key.
    agent_root: [u8; 32],
    entries: RwLock<Entries>,
}

impl NodeCredentials {
    /// Opens `path` (absent: no node has a credential yet).
    pub fn open(path: &Path, secrets_key: &[u8; 32]) -> Result<NodeCredentials, CredentialError> {
        let by_name = match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| CredentialError::Corrupt {
                    path: path.to_path_buf(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(CredentialError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(NodeCredentials {
            path: path.to_path_buf(),
            agent_root: hmac_sha256(secrets_key, b"wasmpod agent keys"),
            entries: RwLock::new(Entries::new(by_name)),
        })
    }

    /// The node whose credential `token` is.
    pub fn node_of(&self, token: &str) -> Option<String> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.by_token.get(&sha256_hex(token)).cloned()
    }

    pub fn has(&self, node: &str) -> bool {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.by_name.contains_key(node)
    }

    /// The SHA-256 of `node`'s forward key (empty when it has no credential).
    pub fn forward_key_hash(&self, node: &str) -> String {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .by_name
            .get(node)
            .map(|e| e.forward_key_sha256.clone())
            .unwrap_or_default()
    }

    /// What the control plane presents to `node`'s agent.
    pub fn agent_key(&self, node: &str) -> String {
        hex::encode(hmac_sha256(&self.agent_root, node.as_bytes()))
    }

    /// Issues a new credential for `node`; `None` when it has one and `replace` is refused.
    pub fn issue(
        &self,
        node: &str,
        replace: Replace,
    ) -> Result<Option<NodeCredential>, CredentialError> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.by_name.contains_key(node) && replace == Replace::Refused {
            return Ok(None);
        }
        let token = hex::encode(rand::random::<[u8; 32]>());
        let mut by_name = entries.by_name.clone();
        by_name.insert(
            node.to_string(),
            Entry {
                token_sha256: sha256_hex(&token),
                forward_key_sha256: sha256_hex(&forward_key(&token)),
                issued: Utc::now(),
            },
        );
        self.save(&by_name)?;
        *entries = Entries::new(by_name);
        Ok(Some(NodeCredential {
            node: node.to_string(),
            token,
            agent_key: self.agent_key(node),
        }))
    }

    /// Revokes `node`'s credential; false when it had none.
    pub fn revoke(&self, node: &str) -> Result<bool, CredentialError> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if !entries.by_name.contains_key(node) {
            return Ok(false);
        }
        let mut by_name = entries.by_name.clone();
        by_name.remove(node);
        self.save(&by_name)?;
        *entries = Entries::new(by_name);
        Ok(true)
    }

    /// Writes the whole file (0600) beside the old one, syncs it, then renames it over.
    fn save(&self, by_name: &BTreeMap<String, Entry>) -> Result<(), CredentialError> {
        let error = |source| CredentialError::Write {
            path: self.path.clone(),
            source,
        };
        let text = serde_json::to_vec_pretty(by_name).map_err(|e| error(e.into()))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(error)?;
        file.write_all(&text).map_err(error)?;
        file.sync_all().map_err(error)?;
        std::fs::rename(&tmp, &self.path).map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_bound_to_a_name_survive_a_restart_and_revoke() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node-credentials.json");
        let key = [7u8; 32];
        let store = NodeCredentials::open(&path, &key).expect("open");
        let a = store
            .issue("node-a", Replace::Refused)
            .expect("issue")
            .expect("new name");
        assert_eq!(a.token.len(), 64);
        assert_eq!(store.node_of(&a.token).as_deref(), Some("node-a"));
        assert!(store.node_of("guess").is_none());
        assert!(
            store
                .issue("node-a", Replace::Refused)
                .expect("issue")
                .is_none(),
            "a taken name is not issued again without the admin"
        );
        let text = std::fs::read_to_string(&path).expect("saved");
        assert!(!text.contains(&a.token), "only the hash is stored");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            store.forward_key_hash("node-a"),
            sha256_hex(&forward_key(&a.token))
        );
        assert_ne!(store.agent_key("node-a"), store.agent_key("node-b"));

        let reopened = NodeCredentials::open(&path, &key).expect("reopen");
        assert_eq!(reopened.node_of(&a.token).as_deref(), Some("node-a"));
        assert_eq!(reopened.agent_key("node-a"), a.agent_key);
        let again = reopened
            .issue("node-a", Replace::Allowed)
            .expect("issue")
            .expect("admin re-issues");
        assert!(reopened.node_of(&a.token).is_none(), "the old one is void");
        assert!(reopened.revoke("node-a").expect("revoke"));
        assert!(reopened.node_of(&again.token).is_none());
        assert!(!reopened.has("node-a"));
        assert!(!reopened.revoke("node-a").expect("revoke"));
    }
}
