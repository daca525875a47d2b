//! This node's certificate and its private key, kept in `<data dir>/node-certificate.json`
//! (mode 0600, replaced whole: see [`crate::private_file`]). A restart reuses it while it is
//! unexpired, not revoked, of this cluster's CA and for this node's current addresses, rather
//! than asking for another each time (each would be one more record in the control plane's
//! issued certificates until it expired); a renewal replaces it.

use crate::node_identity::HeldCertificate;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;
use wasmpod_api::node_tls::{chain_from_pem, chain_to_pem, Identity};

/// The file, in the node's data directory.
pub const FILE: &str = "node-certificate.json";

#[derive(Debug, Error)]
pub enum CertificateFileError {
    #[error("cannot {action} the node certificate {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Stored {
    node: String,
    serial: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    addresses: Vec<IpAddr>,
    /// The certificate then the CA.
    chain_pem: String,
    /// PKCS#8 DER, base64.
    key_pkcs8: String,
}

/// Where node certificates are kept.
#[derive(Debug, Clone)]
pub struct CertificateFile {
    path: PathBuf,
}

impl CertificateFile {
    pub fn in_dir(data_dir: &Path) -> CertificateFile {
        CertificateFile {
            path: data_dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificate stored for `node`, if any. A file that cannot be parsed (or is another
    /// node's) is logged and taken as none: the node asks for a new certificate.
    pub fn load(&self, node: &str) -> Result<Option<HeldCertificate>, CertificateFileError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CertificateFileError::Io {
                    action: "read",
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let held = serde_json::from_slice::<Stored>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|stored| {
                if stored.node != node {
                    return Err(format!("it is node {:?}'s", stored.node));
                }
                let chain = chain_from_pem(&stored.chain_pem).map_err(|e| e.to_string())?;
                let key = base64::engine::general_purpose::STANDARD
                    .decode(&stored.key_pkcs8)
                    .map_err(|e| format!("its key is not base64: {e}"))?;
                Ok(HeldCertificate {
                    identity: Identity {
                        chain,
                        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
                    },
                    serial: stored.serial,
                    not_before: stored.not_before,
                    not_after: stored.not_after,
                    addresses: stored.addresses,
                })
            });
        match held {
            Ok(held) => Ok(Some(held)),
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error,
                    "unusable stored node certificate; asking for a new one");
                Ok(None)
            }
        }
    }

    /// Stores `held` as node `node`'s certificate, replacing the one before.
    pub fn save(&self, node: &str, held: &HeldCertificate) -> Result<(), CertificateFileError> {
        let stored = Stored {
            node: node.to_string(),
            serial: held.serial.clone(),
            not_before: held.not_before,
            not_after: held.not_after,
            addresses: held.addresses.clone(),
            chain_pem: chain_to_pem(&held.identity.chain),
            key_pkcs8: base64::engine::general_purpose::STANDARD
                .encode(held.identity.key.secret_der()),
        };
        let error = |action, source| CertificateFileError::Io {
            action,
            path: self.path.clone(),
            source,
        };
        let text = serde_json::to_vec(&stored).map_err(|e| error("encode", e.into()))?;
        crate::private_file::write(&self.path, &text).map_err(|e| error("write", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_identity::test_certificate as held;

    #[test]
    fn a_stored_certificate_is_read_back_for_its_node_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = CertificateFile::in_dir(&dir.path().join("node"));
        assert!(file.load("node-a").expect("load").is_none());
        let first = held("41aa", Utc::now());
        file.save("node-a", &first).expect("save");
        let back = file.load("node-a").expect("load").expect("stored");
        assert_eq!(
            (back.serial.as_str(), back.not_after, &back.addresses),
            ("41aa", first.not_after, &first.addresses)
        );
        assert_eq!(back.identity.chain, first.identity.chain);
        assert_eq!(
            back.identity.key.secret_der(),
            first.identity.key.secret_der()
        );
        assert!(
            file.load("node-b").expect("load").is_none(),
            "another node's"
        );
        std::fs::write(file.path(), b"{half").expect("write");
        assert!(
            file.load("node-a").expect("load").is_none(),
            "a corrupt file"
        );
    }
}
