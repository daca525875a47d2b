//! The control plane as a client of the nodes' agents (pod logs). On a plain cluster it speaks
//! plain HTTP; with the cluster CA it speaks mutual TLS: it presents its client certificate
//! ([`wasmpod_api::node_tls::CONTROL_PLANE_NAME`]) and accepts only the certificate the CA signed
//! for the node it means to reach (`<node>.nodes.wasmpod`), whatever address that node published.
//! Each request also carries the node's agent key, as on a plain cluster.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use wasmpod_api::node_tls::{mutual_client_config, node_dns_name, Identity};
use wasmpod_api::tls::{ClusterCa, TlsError};

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("the agent address {url:?} is not a URL with a host")]
    Url { url: String },
    #[error("the agent of node {node} is https but this server has no cluster CA")]
    NoTls { node: String },
    #[error("cannot resolve the agent address {url}: {source}")]
    Resolve {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

pub struct NodeAgents {
    plain: reqwest::Client,
    /// The mutual TLS client config (its session cache shared by every request).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Per node, the TLS client that reaches it at its last known address: kept, so the pod
    /// figures asked every second reuse pooled connections instead of a handshake each time.
    tls_clients: Mutex<HashMap<String, (SocketAddr, reqwest::Client)>>,
}

impl NodeAgents {
    /// `plain` serves `http://` agents; with `tls` (the cluster CA and this server's client
    /// identity) `https://` agents are reached by mutual TLS.
    pub fn new(
        plain: reqwest::Client,
        tls: Option<(&ClusterCa, &Identity)>,
    ) -> Result<NodeAgents, TlsError> {
        let tls = match tls {
            Some((ca, identity)) => Some(Arc::new(mutual_client_config(ca, identity)?)),
            None => None,
        };
        Ok(NodeAgents {
            plain,
            tls,
            tls_clients: Mutex::default(),
        })
    }

    /// `GET {agent}{path_and_query}` on node `node`'s agent, presenting `agent_key`.
    pub async fn get(
        &self,
        node: &str,
        agent: &str,
        path_and_query: &str,
        agent_key: &str,
    ) -> Result<reqwest::Response, AgentError> {
        Ok(self
            .request(node, agent, path_and_query, agent_key)
            .await?
            .send()
            .await?)
    }

    /// The same request, not sent yet: the caller may set its own timeout (a followed log).
    pub async fn request(
        &self,
        node: &str,
        agent: &str,
        path_and_query: &str,
        agent_key: &str,
    ) -> Result<reqwest::RequestBuilder, AgentError> {
        let url = format!("{}{path_and_query}", agent.trim_end_matches('/'));
        let mut parsed =
            reqwest::Url::parse(&url).map_err(|_| AgentError::Url { url: url.clone() })?;
        let client = if parsed.scheme() == "https" {
            let config = self.tls.as_ref().ok_or_else(|| AgentError::NoTls {
                node: node.to_string(),
            })?;
            let host = parsed
                .host_str()
                .ok_or_else(|| AgentError::Url { url: url.clone() })?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = parsed.port_or_known_default().unwrap_or(443);
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|source| AgentError::Resolve {
                    url: url.clone(),
                    source,
                })?
                .next()
                .ok_or_else(|| AgentError::Resolve {
                    url: url.clone(),
                    source: std::io::ErrorKind::NotFound.into(),
                })?;
            // The URL names the node's certificate; the connection goes to its address.
            let name = node_dns_name(node);
            parsed
                .set_host(Some(&name))
                .map_err(|_| AgentError::Url { url: url.clone() })?;
            let mut clients = self.tls_clients.lock().unwrap_or_else(|e| e.into_inner());
            match clients.get(node) {
                Some((known, client)) if *known == addr => client.clone(),
                _ => {
                    let client = reqwest::Client::builder()
                        .use_preconfigured_tls((**config).clone())
                        .resolve(&name, addr)
                        .connect_timeout(Duration::from_secs(5))
                        .build()?;
                    clients.insert(node.to_string(), (addr, client.clone()));
                    client
                }
            }
        } else {
            self.plain.clone()
        };
        Ok(client
            .get(parsed)
            .header(wasmpod_api::gateway_key::AGENT_KEY_HEADER, agent_key))
    }
}
