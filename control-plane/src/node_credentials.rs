//! Node credentials: one bearer token per node name, issued once by
//! `POST /api/v1/nodes/{name}/credential` and revoked by deleting the node.
//!
//! Only each token's SHA-256 is kept (with the SHA-256 of the node's forward key), as one record
//! in the store's reserved range (sled or etcd, so every API server of a cluster shares them).
//! That record is not an API object: no route lists, reads or writes it, so no node can see or
//! change another node's credential. Each server keeps a copy it reads again when it is more than
//! a second old, so a credential issued or revoked through one server holds on every other within
//! about a second. Agent keys (what the log proxy presents to a node's agent) are not stored: they
//! are derived from the secrets key and the node's name.
//!
//! A sled data directory from before kept them in `<data dir>/node-credentials.json`; that file is
//! imported on the first start and renamed `node-credentials.json.imported`.

use crate::store::{Store, StoreError};
use crate::token_record::{RecordError, TokenEntry, TokenRecord, FRESH_FOR};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use wasmpod_api::client::NodeCredential;
use wasmpod_api::gateway_key::{forward_key, hmac_sha256, sha256_hex};

/// The name of the store record that holds every credential.
const RECORD: &str = "node-credentials";

#[derive(Debug, Error)]
pub enum CredentialError {
    #[error("cannot read the node credentials {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the node credentials {what} are corrupt: {source}")]
    Corrupt {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot keep the node credentials in the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    token_sha256: String,
    forward_key_sha256: String,
    issued: DateTime<Utc>,
}

impl TokenEntry for Entry {
    fn token_sha256(&self) -> &str {
        &self.token_sha256
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
    record: TokenRecord<Entry>,
    /// Root of the per-node agent keys, derived from the secrets key.
    agent_root: [u8; 32],
}

fn parse(value: &[u8], what: &str) -> Result<BTreeMap<String, Entry>, CredentialError> {
    serde_json::from_slice(value).map_err(|source| CredentialError::Corrupt {
        what: what.to_string(),
        source,
    })
}

impl NodeCredentials {
    /// Reads the credentials from `store`, first importing `legacy_file` (the JSON file a sled
    /// data directory kept them in) when the store has none yet.
    pub fn open(
        store: Arc<dyn Store>,
        secrets_key: &[u8; 32],
        legacy_file: Option<&Path>,
    ) -> Result<NodeCredentials, CredentialError> {
        if let Some(path) = legacy_file {
            import(store.as_ref(), path)?;
        }
        Ok(NodeCredentials {
            record: TokenRecord::open(store, RECORD)?,
            agent_root: hmac_sha256(secrets_key, b"wasmpod agent keys"),
        })
    }

    /// The node whose credential `token` is.
    pub fn node_of(&self, token: &str) -> Option<String> {
        self.record.find(token).map(|(node, _)| node)
    }

    pub fn has(&self, node: &str) -> bool {
        self.record.current(FRESH_FOR).by_name.contains_key(node)
    }

    /// The SHA-256 of `node`'s forward key (empty when it has no credential).
    pub fn forward_key_hash(&self, node: &str) -> String {
        self.record
            .current(FRESH_FOR)
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
        let token = hex::encode(rand::random::<[u8; 32]>());
        let entry = Entry {
            token_sha256: sha256_hex(&token),
            forward_key_sha256: sha256_hex(&forward_key(&token)),
            issued: Utc::now(),
        };
        let written = self.record.update(|by_name| {
            if by_name.contains_key(node) && replace == Replace::Refused {
                return false;
            }
            by_name.insert(node.to_string(), entry.clone());
            true
        })?;
        Ok(written.then(|| NodeCredential {
            node: node.to_string(),
            token,
            agent_key: self.agent_key(node),
        }))
    }

    /// Revokes `node`'s credential; false when it had none.
    pub fn revoke(&self, node: &str) -> Result<bool, CredentialError> {
        Ok(self
            .record
            .update(|by_name| by_name.remove(node).is_some())?)
    }
}

/// Moves the credentials of `path` (an older sled data directory's file) into the store.
fn import(store: &dyn Store, path: &Path) -> Result<(), CredentialError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CredentialError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if store.get_record(RECORD)?.is_none() {
        parse(&bytes, &path.display().to_string())?;
        store.put_record(RECORD, &bytes, None)?;
        tracing::info!(file = %path.display(), "node credentials moved into the store");
    }
    let done = path.with_extension("json.imported");
    std::fs::rename(path, &done).map_err(|source| CredentialError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    #[test]
    fn credentials_are_bound_to_a_name_survive_a_restart_and_revoke() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = [7u8; 32];
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
        let creds = NodeCredentials::open(store.clone(), &key, None).expect("open");
        let a = creds
            .issue("node-a", Replace::Refused)
            .expect("issue")
            .expect("new name");
        assert_eq!(a.token.len(), 64);
        assert_eq!(creds.node_of(&a.token).as_deref(), Some("node-a"));
        assert!(creds.node_of("guess").is_none());
        assert!(
            creds
                .issue("node-a", Replace::Refused)
                .expect("issue")
                .is_none(),
            "a taken name is not issued again without the admin"
        );
        let record = store.get_record(RECORD).expect("read").expect("saved");
        let text = String::from_utf8_lossy(&record.value);
        assert!(!text.contains(&a.token), "only the hash is stored");
        assert_eq!(
            creds.forward_key_hash("node-a"),
            sha256_hex(&forward_key(&a.token))
        );
        assert_ne!(creds.agent_key("node-a"), creds.agent_key("node-b"));

        // Another server on the same store (or this one restarted) sees it.
        let other = NodeCredentials::open(store.clone(), &key, None).expect("reopen");
        assert_eq!(other.node_of(&a.token).as_deref(), Some("node-a"));
        assert_eq!(other.agent_key("node-a"), a.agent_key);
        let again = other
            .issue("node-a", Replace::Allowed)
            .expect("issue")
            .expect("admin re-issues");
        assert!(other.node_of(&a.token).is_none(), "the old one is void");
        // The first server's copy is re-read within a second.
        std::thread::sleep(crate::token_record::FRESH_FOR + std::time::Duration::from_millis(50));
        assert!(
            creds.node_of(&a.token).is_none(),
            "void on the other server too"
        );
        assert_eq!(creds.node_of(&again.token).as_deref(), Some("node-a"));
        assert!(other.revoke("node-a").expect("revoke"));
        assert!(other.node_of(&again.token).is_none());
        assert!(!other.has("node-a"));
        assert!(!other.revoke("node-a").expect("revoke"));
    }

    #[test]
    fn an_older_data_directorys_file_is_imported_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("node-credentials.json");
        let token = "t".repeat(64);
        let old = BTreeMap::from([(
            "node-a".to_string(),
            Entry {
                token_sha256: sha256_hex(&token),
                forward_key_sha256: sha256_hex(&forward_key(&token)),
                issued: Utc::now(),
            },
        )]);
        std::fs::write(&file, serde_json::to_vec(&old).expect("json")).expect("write");
        let store: Arc<dyn Store> =
            Arc::new(SledStore::open(&dir.path().join("store")).expect("sled"));
        let creds = NodeCredentials::open(store.clone(), &[1; 32], Some(&file)).expect("open");
        assert_eq!(creds.node_of(&token).as_deref(), Some("node-a"));
        assert!(!file.exists() && file.with_extension("json.imported").exists());
        let again = NodeCredentials::open(store, &[1; 32], Some(&file)).expect("reopen");
        assert_eq!(again.node_of(&token).as_deref(), Some("node-a"));
    }
}
