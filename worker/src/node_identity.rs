//! This node's TLS identity in a cluster served over TLS (see [`wasmpod_api::node_tls`]): on every
//! start the node makes a fresh P-256 key pair, keeps the private key in memory only, and asks
//! the control plane (with its own credential) for a certificate of the cluster CA for its name
//! and addresses. From it come the configs of both ends of every node-to-node connection: the
//! gateway's peer listener and the node agent accept only clients with a cluster-CA certificate
//! that is not revoked (see [`crate::revocations`]), and the forwarding client presents this node's certificate and accepts only the node it means
//! to reach.

use base64::Engine as _;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::IpAddr;
use std::sync::Arc;
use thiserror::Error;
use wasmpod_api::node_tls::{
    chain_from_pem, is_node_certificate, mutual_client_config, mutual_server_config, Identity,
    NodeCertificateRequest,
};
use wasmpod_api::revocation::RevokedSerials;
use wasmpod_api::tls::{ClusterCa, TlsError};
use wasmpod_api::{Client, ClientError};

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
}

impl NodeTls {
    /// Makes a key pair, has the control plane sign it for `node` at `addresses`, and builds the
    /// configs.
    pub async fn obtain(
        client: &Client,
        ca: &ClusterCa,
        node: &str,
        addresses: Vec<IpAddr>,
    ) -> Result<NodeTls, IdentityError> {
        let key = rcgen::KeyPair::generate()?;
        let request = NodeCertificateRequest {
            public_key: base64::engine::general_purpose::STANDARD.encode(key.public_key_raw()),
            addresses,
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
        let identity = Identity {
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        };
        let revoked = RevokedSerials::default();
        let server = mutual_server_config(ca, &identity, &[b"http/1.1"], &revoked)?;
        let client_config = mutual_client_config(ca, &identity)?;
        tracing::info!(node, addresses = ?request.addresses, "node certificate obtained");
        let server = Arc::new(server);
        Ok(NodeTls {
            client: Arc::new(client_config),
            peer_server: server.clone(),
            agent_server: server,
            revoked,
        })
    }
}
