//! Node-to-node TLS: who is who on the wires between nodes and from the control plane to a node.
//!
//! In a cluster served over TLS every node holds a certificate the cluster CA signed for it
//! (`POST /api/v1/nodes/{name}/certificate`, asked for on every start with the node's own
//! credential; the node makes its key pair and sends only the public key, so its private key
//! never leaves it). A node's certificate names it as the DNS name `<node>.nodes.wasmpod` (and
//! carries its IP addresses); the control plane presents a client certificate named
//! `control-plane.wasmpod`, a name no node certificate can carry (a node asks only for IP
//! addresses). Connections between them are mutual TLS: each side verifies the other's chain
//! against the cluster CA, then checks the name it expects (the node it means to reach, or the
//! control plane on a node's agent port).

use crate::tls::{ClusterCa, TlsError};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;

/// The DNS suffix of node certificates.
const NODE_SUFFIX: &str = "nodes.wasmpod";
/// The name in the control plane's client certificate (what a node's agent accepts).
pub const CONTROL_PLANE_NAME: &str = "control-plane.wasmpod";

/// `POST /api/v1/nodes/{name}/certificate`: the node's public key and the addresses it serves at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeCertificateRequest {
    /// The raw ECDSA P-256 public key (the uncompressed point, 65 bytes), base64.
    pub public_key: String,
    /// The IP addresses other nodes and the control plane reach this node at.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

/// The answer: the node's certificate then the CA's, PEM, with the certificate's serial and
/// validity (the node renews it before `not_after`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeCertificate {
    pub chain_pem: String,
    /// Lowercase hex.
    pub serial: String,
    pub not_before: chrono::DateTime<chrono::Utc>,
    pub not_after: chrono::DateTime<chrono::Utc>,
}

/// The DNS name a node's certificate carries: `<node>.nodes.wasmpod`.
pub fn node_dns_name(node: &str) -> String {
    format!("{node}.{NODE_SUFFIX}")
}

/// The TLS server name to expect from `node`.
pub fn node_server_name(node: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(node_dns_name(node)).map_err(|_| TlsError::Certificate(node.to_string()))
}

/// Whether the certificate `der` (already verified against the cluster CA by the handshake) is
/// valid for the DNS name `name`.
pub fn certificate_names(der: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(server_name) = ServerName::try_from(name) else {
        return false;
    };
    webpki::EndEntityCert::try_from(der)
        .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&server_name).is_ok())
}

/// Whether `der` is the certificate of node `node`.
pub fn is_node_certificate(der: &CertificateDer<'_>, node: &str) -> bool {
    certificate_names(der, &node_dns_name(node))
}

/// A certificate chain (leaf first) and its key: what one side presents.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client config that trusts `ca` only and presents `identity`. Its session cache (rustls'
/// default, in memory) resumes sessions for every connection made with this one config, so
/// share it.
pub fn mutual_client_config(
    ca: &ClusterCa,
    identity: &Identity,
) -> Result<rustls::ClientConfig, TlsError> {
    Ok(client_builder(ca)?
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())?)
}

/// As [`mutual_client_config`], presenting what `resolver` holds at each handshake (a node's
/// certificate, replaced when it is renewed).
pub fn mutual_client_config_resolving(
    ca: &ClusterCa,
    resolver: Arc<dyn rustls::client::ResolvesClientCert>,
) -> Result<rustls::ClientConfig, TlsError> {
    Ok(client_builder(ca)?.with_client_cert_resolver(resolver))
}

fn client_builder(
    ca: &ClusterCa,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, TlsError>
{
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone())?;
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
}

/// A server config presenting `identity` that accepts only clients with a certificate the
/// cluster CA signed and `revoked` does not hold (the handshake fails for any other or none);
/// `alpn` in order of preference.
pub fn mutual_server_config(
    ca: &ClusterCa,
    identity: &Identity,
    alpn: &[&[u8]],
    revoked: &crate::revocation::RevokedSerials,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = server_builder(ca, revoked)?
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// As [`mutual_server_config`], presenting what `resolver` holds at each handshake (a node's
/// certificate, replaced when it is renewed).
pub fn mutual_server_config_resolving(
    ca: &ClusterCa,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    alpn: &[&[u8]],
    revoked: &crate::revocation::RevokedSerials,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = server_builder(ca, revoked)?.with_cert_resolver(resolver);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

fn server_builder(
    ca: &ClusterCa,
    revoked: &crate::revocation::RevokedSerials,
) -> Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>, TlsError>
{
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone())?;
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let verifier = Arc::new(crate::revocation::RevocationCheckingVerifier {
        inner,
        revoked: revoked.clone(),
    });
    Ok(rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier))
}

/// Parses a PEM chain (leaf first).
pub fn chain_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Pem("no certificate".into()));
    }
    Ok(chain)
}

/// A chain as PEM.
pub fn chain_to_pem(chain: &[CertificateDer<'_>]) -> String {
    chain.iter().map(crate::tls::certificate_pem).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_under_their_own_suffix() {
        assert_eq!(node_dns_name("node-a"), "node-a.nodes.wasmpod");
        assert!(node_server_name("node-a").is_ok());
        assert_ne!(node_dns_name("control-plane"), CONTROL_PLANE_NAME);
    }
}
