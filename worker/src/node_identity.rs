//! This node's TLS identity in a cluster served over TLS (see [`wasmpod_api::node_tls`]): a P-256
//! key pair the node makes (its private half never leaves the node) and a certificate of the
//! cluster CA for it, asked of the control plane with the node's own credential. The node keeps
//! both in its data directory (see [`crate::node_certificate_file`]) and reuses them on a
//! restart while they are good; [`crate::cert_rotation`] renews them, for a new key, before they
//! expire.
//!
//! From the certificate come the configs of both ends of every node-to-node connection: the
//! gateway's peer listener and the node agent accept only clients with a cluster-CA certificate
//! that is not revoked (see [`crate::revocations`]), and the forwarding client presents this
//! node's certificate and accepts only the node it means to reach. Each config asks
//! [`CurrentCertificate`] at every handshake, so a renewed certificate serves new connections at
//! once, without a restart; an expired one is never presented (the handshake fails, and the
//! node logs why).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use thiserror::Error;
use wasmpod_api::node_tls::{
    chain_from_pem, is_node_certificate, mutual_client_config_resolving,
    mutual_server_config_resolving, Identity, NodeCertificateRequest,
};
use wasmpod_api::revocation::RevokedSerials;
use wasmpod_api::tls::{ClusterCa, TlsError};
use wasmpod_api::{Client, ClientError};

use crate::node_certificate_file::{CertificateFile, CertificateFileError};

#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("cannot make the node's key pair: {0}")]
    Key(#[from] rcgen::Error),
    #[error("the control plane refused a certificate for node {node}: {source}")]
    Refused {
        node: String,
        #[source]
        source: ClientError,
    },
    #[error("the certificate the control plane gave node {node} is unusable: {reason}")]
    Unusable { node: String, reason: String },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    File(#[from] CertificateFileError),
}

/// One certificate of this node, with its private key.
#[derive(Debug, Clone)]
pub struct HeldCertificate {
    /// The certificate then the CA, and the key.
    pub identity: Identity,
    /// Lowercase hex.
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// The addresses it was asked for.
    pub addresses: Vec<IpAddr>,
}

impl HeldCertificate {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.not_after
    }
}

/// Asks the control plane, with `client` (the node's credential), for a certificate of node
/// `node` at `addresses`, for a key pair made here.
pub async fn request_certificate(
    client: &Client,
    node: &str,
    addresses: &[IpAddr],
) -> Result<HeldCertificate, IdentityError> {
    let key = rcgen::KeyPair::generate()?;
    let request = NodeCertificateRequest {
        public_key: base64::engine::general_purpose::STANDARD.encode(key.public_key_raw()),
        addresses: addresses.to_vec(),
    };
    let answer = client
        .node_certificate(node, &request)
        .await
        .map_err(|source| IdentityError::Refused {
            node: node.to_string(),
            source,
        })?;
    let unusable = |reason: String| IdentityError::Unusable {
        node: node.to_string(),
        reason,
    };
    let chain = chain_from_pem(&answer.chain_pem)?;
    if !is_node_certificate(&chain[0], node) {
        return Err(unusable("it does not name this node".into()));
    }
    if wasmpod_api::revocation::serial_hex(&chain[0]).as_deref() != Some(answer.serial.as_str()) {
        return Err(unusable(format!(
            "its serial is not the {} the answer gives",
            answer.serial
        )));
    }
    Ok(HeldCertificate {
        identity: Identity {
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        },
        serial: answer.serial,
        not_before: answer.not_before,
        not_after: answer.not_after,
        addresses: request.addresses,
    })
}

/// Why a stored certificate is not reused (`None`: it is).
fn unusable_reason(
    held: &HeldCertificate,
    ca: &ClusterCa,
    addresses: &[IpAddr],
    revoked: Option<&[String]>,
    now: DateTime<Utc>,
) -> Option<String> {
    if held.expired(now) {
        return Some(format!("it expired at {}", held.not_after));
    }
    if held.identity.chain.last() != Some(ca.der()) || held.identity.chain.len() < 2 {
        return Some("another CA signed it".into());
    }
    if held.addresses != addresses {
        return Some(format!("it is for the addresses {:?}", held.addresses));
    }
    match revoked {
        Some(serials) if serials.contains(&held.serial) => Some("it was revoked".into()),
        Some(_) => None,
        None => Some("the revoked certificates cannot be read".into()),
    }
}

/// The certificate this node presents now, replaced whole when it is renewed; the TLS configs
/// ask it at every handshake.
#[derive(Debug)]
pub struct CurrentCertificate {
    node: String,
    held: arc_swap::ArcSwap<Presented>,
    /// The Unix second this node last logged that its certificate expired (once every
    /// [`EXPIRED_LOG_EVERY`] seconds at most).
    expired_logged_at: AtomicI64,
}

#[derive(Debug)]
struct Presented {
    held: HeldCertificate,
    certified: Arc<CertifiedKey>,
}

const EXPIRED_LOG_EVERY: i64 = 10;

impl Presented {
    fn new(held: HeldCertificate) -> Result<Presented, IdentityError> {
        let key = rustls::crypto::ring::sign::any_supported_type(&held.identity.key)
            .map_err(|e| TlsError::Certificate(format!("the node's key: {e}")))?;
        Ok(Presented {
            certified: Arc::new(CertifiedKey::new(held.identity.chain.clone(), key)),
            held,
        })
    }
}

impl CurrentCertificate {
    pub fn new(node: &str, held: HeldCertificate) -> Result<CurrentCertificate, IdentityError> {
        Ok(CurrentCertificate {
            node: node.to_string(),
            held: arc_swap::ArcSwap::from_pointee(Presented::new(held)?),
            expired_logged_at: AtomicI64::new(i64::MIN),
        })
    }

    /// The certificate presented now.
    pub fn held(&self) -> HeldCertificate {
        self.held.load().held.clone()
    }

    /// Presents `held` from the next handshake on.
    pub fn replace(&self, held: HeldCertificate) -> Result<(), IdentityError> {
        self.held.store(Arc::new(Presented::new(held)?));
        Ok(())
    }

    /// What a handshake at `now` presents: the certificate unless it has expired.
    fn presentable(&self, now: DateTime<Utc>) -> Option<Arc<CertifiedKey>> {
        let presented = self.held.load();
        if !presented.held.expired(now) {
            return Some(presented.certified.clone());
        }
        let second = now.timestamp();
        let last = self.expired_logged_at.load(Ordering::Relaxed);
        if second.saturating_sub(last) >= EXPIRED_LOG_EVERY
            && self
                .expired_logged_at
                .compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(node = %self.node, serial = %presented.held.serial,
                not_after = %presented.held.not_after,
                "the node certificate has expired and renewing it keeps failing: node-to-node \
                 connections fail until a renewal succeeds");
        }
        None
    }
}

impl rustls::server::ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.presentable(Utc::now())
    }
}

impl rustls::client::ResolvesClientCert for CurrentCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.presentable(Utc::now())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The TLS configs of this node's node-to-node connections.
pub struct NodeTls {
    /// What the forwarding client uses (its session cache shared by every gateway thread).
    pub client: Arc<rustls::ClientConfig>,
    /// The gateway's peer listener: HTTP/1.1, client certificate required.
    pub peer_server: Arc<rustls::ServerConfig>,
    /// The node agent: HTTP/1.1, client certificate required.
    pub agent_server: Arc<rustls::ServerConfig>,
    /// The revoked certificates both listeners refuse (in the handshake and on each request),
    /// kept current by [`crate::revocations::follow`].
    pub revoked: RevokedSerials,
    /// The certificate all three present, which [`crate::cert_rotation`] renews.
    pub current: Arc<CurrentCertificate>,
}

impl NodeTls {
    /// The certificate stored in `file` when it is still good for `node` at `addresses`, else a
    /// new one asked of the control plane (and stored); and the configs over it.
    pub async fn obtain(
        client: &Client,
        ca: &ClusterCa,
        node: &str,
        addresses: Vec<IpAddr>,
        file: &CertificateFile,
    ) -> Result<NodeTls, IdentityError> {
        let stored = match file.load(node)? {
            Some(held) => {
                let revoked = match client.revoked_certificates().await {
                    Ok(revoked) => Some(revoked.serials),
                    Err(error) => {
                        tracing::warn!(node, %error, "cannot read the revoked certificates");
                        None
                    }
                };
                match unusable_reason(&held, ca, &addresses, revoked.as_deref(), Utc::now()) {
                    None => Some(held),
                    Some(reason) => {
                        tracing::info!(node, serial = %held.serial, %reason,
                            "not reusing the stored node certificate");
                        None
                    }
                }
            }
            None => None,
        };
        let held = match stored {
            Some(held) => {
                tracing::info!(node, serial = %held.serial, not_after = %held.not_after,
                    "reusing the stored node certificate");
                held
            }
            None => {
                let held = request_certificate(client, node, &addresses).await?;
                file.save(node, &held)?;
                tracing::info!(node, serial = %held.serial, not_after = %held.not_after,
                    addresses = ?held.addresses, "node certificate obtained");
                held
            }
        };
        let current = Arc::new(CurrentCertificate::new(node, held)?);
        let revoked = RevokedSerials::default();
        let server = Arc::new(mutual_server_config_resolving(
            ca,
            current.clone(),
            &[b"http/1.1"],
            &revoked,
        )?);
        let client_config = mutual_client_config_resolving(ca, current.clone())?;
        Ok(NodeTls {
            client: Arc::new(client_config),
            peer_server: server.clone(),
            agent_server: server,
            revoked,
            current,
        })
    }
}

/// A self-signed certificate for node-a's name with its key, ending at `not_after`, for tests.
#[cfg(test)]
pub(crate) fn test_certificate(serial: &str, not_after: DateTime<Utc>) -> HeldCertificate {
    let key = rcgen::KeyPair::generate().expect("key");
    let certificate = rcgen::CertificateParams::new(vec!["node-a.nodes.wasmpod".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    HeldCertificate {
        identity: Identity {
            chain: vec![certificate.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        },
        serial: serial.to_string(),
        not_before: not_after - chrono::Duration::seconds(30),
        not_after,
        addresses: vec![IpAddr::from([127, 0, 0, 1])],
    }
}

#[cfg(test)]
mod tests {
    use super::test_certificate as held;
    use super::*;
    use rustls::client::ResolvesClientCert;

    #[test]
    fn a_renewed_certificate_is_presented_at_the_next_handshake_and_an_expired_one_never() {
        let now = Utc::now();
        let first = held("41aa", now + chrono::Duration::seconds(30));
        let current = CurrentCertificate::new("node-a", first.clone()).expect("current");
        let presented = |at| current.presentable(at).map(|c| c.cert[0].clone());
        assert_eq!(presented(now), Some(first.identity.chain[0].clone()));
        assert!(current.has_certs());
        // Past its end it is not presented (the handshake fails rather than use it).
        assert_eq!(presented(first.not_after), None);
        let second = held("41bb", now + chrono::Duration::seconds(60));
        current.replace(second.clone()).expect("replace");
        assert_eq!(presented(now), Some(second.identity.chain[0].clone()));
        assert_eq!(
            presented(first.not_after + chrono::Duration::seconds(1)),
            Some(second.identity.chain[0].clone())
        );
        assert_eq!(current.held().serial, "41bb");
    }

    #[test]
    fn a_stored_certificate_is_reused_only_while_it_is_good() {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca_params = rcgen::CertificateParams::default();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
        let ca = ClusterCa::from_pem(&ca_cert.pem()).expect("CA");
        let now = Utc::now();
        let mut good = held("41aa", now + chrono::Duration::seconds(30));
        good.identity.chain.push(ca.der().clone());
        let addresses = good.addresses.clone();
        let none: &[String] = &[];
        assert_eq!(
            unusable_reason(&good, &ca, &addresses, Some(none), now),
            None
        );
        let later = good.not_after;
        assert!(unusable_reason(&good, &ca, &addresses, Some(none), later).is_some());
        let moved = [IpAddr::from([10, 0, 0, 9])];
        assert!(unusable_reason(&good, &ca, &moved, Some(none), now).is_some());
        let revoked = ["41aa".to_string()];
        assert!(unusable_reason(&good, &ca, &addresses, Some(&revoked), now).is_some());
        assert!(unusable_reason(&good, &ca, &addresses, None, now).is_some());
        let mut foreign = good.clone();
        foreign.identity.chain.pop();
        assert!(unusable_reason(&foreign, &ca, &addresses, Some(none), now).is_some());
    }
}
