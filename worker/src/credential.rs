//! The node's identity. On its first start a node asks the control plane for a credential bound
//! to its name, presenting the join token (which only bootstraps), and keeps the answer in
//! `<data dir>/node-credential.json` (mode 0600); later starts reuse it. A credential the API no
//! longer accepts (the node was deleted, which revokes it) is replaced by asking again, which the
//! control plane allows only for a name without a credential.

use std::path::{Path, PathBuf};
use thiserror::Error;
use wasmpod_api::client::NodeCredential;
use wasmpod_api::{Client, ClientError, Kind};

/// The file, in the node's data directory.
pub const FILE: &str = "node-credential.json";

#[derive(Debug, Error)]
pub enum CredentialError {
    #[error("cannot {action} the node credential {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the control plane refused a credential for node {node}: {source}")]
    Refused {
        node: String,
        #[source]
        source: ClientError,
    },
    #[error("cannot check the stored credential of node {node}: {source}")]
    Check {
        node: String,
        #[source]
        source: ClientError,
    },
}

/// The stored credential of node `name` if the API still accepts it, else a new one requested
/// with `join_token` (and stored).
pub async fn obtain(
    server: &str,
    join_token: Option<&str>,
    data_dir: &Path,
    name: &str,
    ca: Option<&wasmpod_api::tls::ClusterCa>,
) -> Result<NodeCredential, CredentialError> {
    let path = data_dir.join(FILE);
    if let Some(stored) = load(&path)?.filter(|c| c.node == name) {
        let client = Client::with_ca(server, Some(stored.token.clone()), ca);
        match client.get(Kind::Node, "", name).await {
            Ok(_) => return Ok(stored),
            Err(e) if e.is_not_found() => return Ok(stored),
            Err(e) if e.status() == Some(401) => {
                tracing::warn!(node = %name, "the stored credential was revoked; asking for a new one");
            }
            Err(source) => {
                return Err(CredentialError::Check {
                    node: name.to_string(),
                    source,
                })
            }
        }
    }
    let credential = Client::with_ca(server, join_token.map(str::to_string), ca)
        .node_credential(name)
        .await
        .map_err(|source| CredentialError::Refused {
            node: name.to_string(),
            source,
        })?;
    save(data_dir, &path, &credential)?;
    tracing::info!(node = %name, path = %path.display(), "node credential issued and stored");
    Ok(credential)
}

fn load(path: &Path) -> Result<Option<NodeCredential>, CredentialError> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(credential) => Ok(Some(credential)),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "unreadable node credential; asking for a new one");
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CredentialError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the credential (0600) beside its final place, syncs it, then renames it over.
fn save(data_dir: &Path, path: &Path, credential: &NodeCredential) -> Result<(), CredentialError> {
    let error = |action, source| CredentialError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| error("create the directory of", e))?;
    let text = serde_json::to_vec(credential).map_err(|e| error("encode", e.into()))?;
    crate::private_file::write(path, &text).map_err(|e| error("write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_credential_is_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("node");
        let path = data.join(FILE);
        assert!(load(&path).expect("load").is_none());
        let credential = NodeCredential {
            node: "node-a".into(),
            token: "t".repeat(64),
            agent_key: "k".repeat(64),
        };
        save(&data, &path, &credential).expect("save");
        let back = load(&path).expect("load").expect("stored");
        assert_eq!((back.node, back.token), ("node-a".into(), "t".repeat(64)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
