//! Node-to-node TLS on the gateway (see [`crate::node_identity`]).
//!
//! The forwarding side: a request for another node goes to its peer listener over mutual TLS,
//! presenting this node's certificate and accepting only the certificate of the node it means to
//! reach. The routing table writes a TLS peer's URL as `https://<node>@<host>:<port>` so the
//! connector knows whom to expect; connections are pooled per gateway thread (as the plain ones
//! are) and every thread's client shares one rustls config, so its session cache resumes TLS
//! sessions across threads and reconnections.
//!
//! The receiving side: the peer listener's handshake already refused any client without a
//! cluster-CA certificate; a forwarded request then counts only if that certificate names the
//! node the request says it comes from (and that node's forward key matches, as on a plain
//! cluster). A revoked certificate (a deleted node's, a revoked tool's) fails the handshake, and
//! each request on a connection made before the revocation gets 403 ([`refuse_revoked`]).

use crate::listener::PeerCertificate;
use http::Uri;
use hyper_rustls::{HttpsConnector, ResolveServerName};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::ServerName;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use wasmpod_api::revocation::RevokedSerials;
use wasmpod_runtime::BoxBody;

/// The base URL other nodes forward to: the peer listener's `https://host:port`, written into
/// this node's status as its gateway.
pub fn peer_url(host: &str, port: u16) -> String {
    format!("https://{host}:{port}")
}

/// A remote gateway's base URL as the table keeps it: for a TLS peer, the node's name rides in
/// the URL's user part, for [`NodeNameResolver`].
pub fn remote_url(node: &str, gateway: &str) -> String {
    match gateway.strip_prefix("https://") {
        Some(rest) => format!("https://{node}@{rest}"),
        None => gateway.to_string(),
    }
}

/// The TLS server name of a forwarding URL: the node named in its user part.
struct NodeNameResolver;

impl ResolveServerName for NodeNameResolver {
    fn resolve(
        &self,
        uri: &Uri,
    ) -> Result<ServerName<'static>, Box<dyn std::error::Error + Sync + Send>> {
        let node = uri
            .authority()
            .and_then(|a| a.as_str().split_once('@'))
            .map(|(node, _)| node)
            .ok_or("a TLS peer URL names its node (https://node@host:port)")?;
        Ok(wasmpod_api::node_tls::node_server_name(node)?)
    }
}

type PeerClient = Client<HttpsConnector<HttpConnector>, BoxBody>;

thread_local! {
    /// This thread's pooled client for each TLS config (one per node in this process).
    static CLIENTS: RefCell<HashMap<usize, PeerClient>> = RefCell::new(HashMap::new());
}

/// This gateway thread's client of the TLS peers, for `config`.
pub fn client(config: &Arc<rustls::ClientConfig>) -> PeerClient {
    let id = Arc::as_ptr(config) as usize;
    CLIENTS.with(|clients| {
        clients
            .borrow_mut()
            .entry(id)
            .or_insert_with(|| build(config))
            .clone()
    })
}

fn build(config: &Arc<rustls::ClientConfig>) -> PeerClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    // A clone shares the config's session cache (an `Arc` inside); the builder sets ALPN.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((**config).clone())
        .https_only()
        .with_server_name_resolver(NodeNameResolver)
        .enable_http1()
        .wrap_connector(http);
    // Idle connections are dropped before a peer's idle timeout (default 15 s) closes them.
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .pool_idle_timeout(std::time::Duration::from_secs(4))
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build(connector)
}

/// Whether a request claiming to come from node `node` may count as forwarded: on a plain
/// cluster (`tls` false) the forward key decides alone; on a TLS cluster the request must also
/// have come through the peer listener with a certificate naming that node.
pub fn certified(tls: bool, node: &[u8], certificate: Option<&PeerCertificate>) -> bool {
    if !tls {
        return true;
    }
    match (std::str::from_utf8(node), certificate) {
        (Ok(node), Some(certificate)) => certificate.is_node(node),
        _ => false,
    }
}

/// The answer to a request on a connection whose client certificate is revoked (`403`), if it
/// is: the handshake refuses a revoked certificate, but a connection opened, or a TLS session
/// resumed, before the revocation brings no new handshake.
pub fn refuse_revoked(
    revoked: Option<&RevokedSerials>,
    certificate: Option<&PeerCertificate>,
) -> Option<http::Response<BoxBody>> {
    let (revoked, certificate) = (revoked?, certificate?);
    if !revoked.revokes(certificate.serial()) {
        return None;
    }
    tracing::info!(
        serial = %certificate.serial(),
        "refused a request with a revoked client certificate"
    );
    Some(wasmpod_runtime::text_response(
        http::StatusCode::FORBIDDEN,
        "this client certificate is revoked",
    ))
}
