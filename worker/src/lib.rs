//! The wasmpod node agent. It joins the control plane, renews its lease, runs the pods bound to
//! it through `wasmpod-runtime` (restarting crashed command pods with backoff) and reports their
//! status. Its gateway serves ingress, forwards to other nodes, and routes service calls.
//! It talks to the control plane only through the HTTP API.

pub mod agent;
mod agent_server;
pub mod backoff;
pub mod cert_rotation;
mod command_span;
mod components;
mod context;
pub mod credential;
pub mod gateway;
mod keyvalue;
pub mod listener;
pub mod metrics;
pub mod node_certificate_file;
mod node_dirs;
pub mod node_identity;
mod pod_config;
mod pod_events;
mod pod_host;
mod pod_task;
mod pods;
mod private_file;
mod probes;
pub mod reflector;
mod revocations;
mod status_report;
mod volumes;

use arc_swap::ArcSwap;
use backoff::BackoffPolicy;
use context::NodeContext;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wasmpod_api::{Client, Name, NodeCapacity};
use wasmpod_runtime::{OutboundRouter, Runtime};

#[derive(Debug, Error)]
pub enum WorkerError {
    #[error("cannot listen on {addr} for the {what}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot prepare the data directory: {0}")]
    DataDir(#[from] node_dirs::DirError),
    #[error("node identity: {0}")]
    Credential(#[from] credential::CredentialError),
    #[error("node-to-node TLS: {0}")]
    Identity(#[from] node_identity::IdentityError),
    #[error("cannot join the control plane at {server}: {source}")]
    Join {
        server: String,
        #[source]
        source: wasmpod_api::ClientError,
    },
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub name: Name,
    pub server: String,
    /// The cluster CA an https `server` is verified against (plain http: none).
    pub cluster_ca: Option<wasmpod_api::tls::ClusterCa>,
    /// The join token: used only to ask for this node's credential when it has none.
    pub token: Option<String>,
    pub data_dir: PathBuf,
    pub gateway_addr: SocketAddr,
    /// The gateway's TLS listener (certificates from the Ingresses' `spec.tls`), if any.
    pub ingress_tls_addr: Option<SocketAddr>,
    /// On a TLS cluster (a `cluster_ca`), where the gateway takes requests forwarded by other
    /// nodes, over mutual TLS; default: the gateway's IP, a free port.
    pub peer_addr: Option<SocketAddr>,
    pub agent_addr: SocketAddr,
    /// The host other nodes and the control plane use to reach this node; defaults to the
    /// gateway's IP (127.0.0.1 when it listens on every address).
    pub advertise_host: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub capacity: NodeCapacity,
    pub heartbeat: Duration,
    pub gateway_threads: usize,
    pub backoff: BackoffPolicy,
    /// Header-read and idle timeouts of every connection to the gateway and the node agent.
    pub timeouts: listener::ConnectionTimeouts,
    /// Registries (`host:port`) `oci://` components are pulled from over plain HTTP.
    pub insecure_registries: Vec<String>,
}

pub struct Worker {
    pub gateway_addr: SocketAddr,
    pub ingress_tls_addr: Option<SocketAddr>,
    /// The node-to-node TLS listener (TLS clusters only).
    pub peer_addr: Option<SocketAddr>,
    pub agent_addr: SocketAddr,
    dirs: node_dirs::NodeDirs,
    tasks: Vec<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// The host others reach this node at (an IPv6 address in brackets).
fn advertised_host(host: &Option<String>, addr: SocketAddr) -> String {
    match host {
        Some(h) => h.clone(),
        None if addr.ip().is_unspecified() => "127.0.0.1".to_string(),
        None if addr.is_ipv6() => format!("[{}]", addr.ip()),
        None => addr.ip().to_string(),
    }
}

fn advertised(host: &Option<String>, addr: SocketAddr, scheme: &str) -> String {
    format!("{scheme}://{}:{}", advertised_host(host, addr), addr.port())
}

/// The IP addresses this node's certificate carries: the advertised host when it is one, and
/// the gateway's and the agent's addresses when they are not "every address".
fn certificate_addresses(config: &WorkerConfig) -> Vec<std::net::IpAddr> {
    let mut addresses: Vec<std::net::IpAddr> = config
        .advertise_host
        .iter()
        .filter_map(|h| h.trim_matches(['[', ']']).parse().ok())
        .chain(
            [config.gateway_addr.ip(), config.agent_addr.ip()]
                .into_iter()
                .map(|ip| {
                    if ip.is_unspecified() {
                        std::net::IpAddr::from([127, 0, 0, 1])
                    } else {
                        ip
                    }
                }),
        )
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

impl Worker {
    /// Starts the node: its listeners, its watches, its pods and its heartbeat. `runtime` is the
    /// process's one wasmtime runtime (workers started in one process share it).
    pub async fn start(
        config: WorkerConfig,
        runtime: Runtime,
        shutdown: CancellationToken,
    ) -> Result<Worker, WorkerError> {
        let dirs = node_dirs::NodeDirs::create(&config.data_dir)?;
        // Nothing runs yet: any secret file left here is from a node that did not stop cleanly.
        dirs.clear_secrets();
        let credential = credential::obtain(
            &config.server,
            config.token.as_deref(),
            &config.data_dir,
            config.name.as_str(),
            config.cluster_ca.as_ref(),
        )
        .await?;
        let client = Client::with_ca(
            &config.server,
            Some(credential.token.clone()),
            config.cluster_ca.as_ref(),
        );
        let certificate_file = node_certificate_file::CertificateFile::in_dir(&config.data_dir);
        let node_tls = match &config.cluster_ca {
            Some(ca) => Some(
                node_identity::NodeTls::obtain(
                    &client,
                    ca,
                    config.name.as_str(),
                    certificate_addresses(&config),
                    &certificate_file,
                )
                .await?,
            ),
            None => None,
        };
        let forwarder = Arc::new(gateway::table::Forwarder {
            node: config.name.to_string(),
            key: wasmpod_api::gateway_key::forward_key(&credential.token),
            tls: node_tls.as_ref().map(|tls| tls.client.clone()),
        });
        let agent_key: Arc<str> = credential.agent_key.clone().into();
        let agent_listener = tokio::net::TcpListener::bind(config.agent_addr)
            .await
            .map_err(|source| WorkerError::Bind {
                what: "node agent",
                addr: config.agent_addr,
                source,
            })?;
        let agent_addr = agent_listener
            .local_addr()
            .map_err(|source| WorkerError::Bind {
                what: "node agent",
                addr: config.agent_addr,
                source,
            })?;

        let table = Arc::new(ArcSwap::from_pointee(
            gateway::table::RoutingTable::default(),
        ));
        let activator = Arc::new(gateway::activator::Activator::new(
            Arc::new(gateway::activator::ApiActivate {
                client: client.clone(),
                runtime: tokio::runtime::Handle::current(),
            }),
            table.clone(),
            Default::default(),
        ));
        let router_table = table.clone();
        let metrics = Arc::new(metrics::NodeMetrics::new(
            config.name.as_str(),
            runtime.metrics_registry(),
        ));
        let router_metrics = metrics.clone();
        let (router_client, router_node) = (client.clone(), config.name.to_string());
        let router_activator = activator.clone();
        let outbound = Box::new(
            move |namespace: &str, pod: &str| -> Arc<dyn OutboundRouter> {
                Arc::new(gateway::ServiceRouter {
                    table: router_table.clone(),
                    namespace: namespace.to_string(),
                    pod: pod.to_string(),
                    client: router_client.clone(),
                    node: router_node.clone(),
                    activator: router_activator.clone(),
                    denied: router_metrics.egress_denied(namespace, pod),
                })
            },
        );
        let components = components::Components::new(
            config.data_dir.join("components"),
            client.clone(),
            runtime.clone(),
            wasmpod_api::oci::RegistryClient::new(&config.insecure_registries),
        );
        let ctx = Arc::new(NodeContext::new(
            metrics,
            dirs.clone(),
            client.clone(),
            runtime,
            components,
            config.backoff,
            outbound,
        ));

        let certificates = Arc::new(gateway::certificates::Certificates::default());
        let listen = gateway::GatewayListeners {
            plain: config.gateway_addr,
            tls: config.ingress_tls_addr.map(|addr| gateway::TlsIngress {
                addr,
                certificates: certificates.clone(),
            }),
            peer: node_tls.as_ref().map(|tls| gateway::PeerListener {
                addr: config
                    .peer_addr
                    .unwrap_or_else(|| SocketAddr::new(config.gateway_addr.ip(), 0)),
                config: tls.peer_server.clone(),
                revoked: tls.revoked.clone(),
            }),
        };
        let (bound, threads) = gateway::start(
            listen,
            config.gateway_threads,
            table.clone(),
            activator.clone(),
            config.timeouts,
            shutdown.clone(),
        )
        .map_err(|source| WorkerError::Bind {
            what: "gateway",
            addr: config.gateway_addr,
            source,
        })?;
        let gateway_addr = bound.plain;

        // Other nodes forward to the peer listener on a TLS cluster, to the gateway otherwise.
        let (gateway_url, agent_url) = match bound.peer {
            Some(peer) => (
                gateway::peer_tls::peer_url(
                    &advertised_host(&config.advertise_host, peer),
                    peer.port(),
                ),
                advertised(&config.advertise_host, agent_addr, "https"),
            ),
            None => (
                advertised(&config.advertise_host, gateway_addr, "http"),
                advertised(&config.advertise_host, agent_addr, "http"),
            ),
        };
        let registration = agent::Registration {
            name: config.name.clone(),
            labels: config.labels.clone(),
            capacity: config.capacity,
            gateway: gateway_url,
            agent: agent_url,
        };
        agent::register(&client, &registration)
            .await
            .map_err(|source| WorkerError::Join {
                server: config.server.clone(),
                source,
            })?;

        let mut tasks = Vec::new();
        let agent_app = agent_server::router(
            ctx.clone(),
            agent_key,
            node_tls.as_ref().map(|tls| tls.revoked.clone()),
        );
        if let Some(tls) = &node_tls {
            tasks.push(tokio::spawn(cert_rotation::run(
                cert_rotation::Renewer {
                    client: client.clone(),
                    node: config.name.to_string(),
                    addresses: certificate_addresses(&config),
                    current: tls.current.clone(),
                    file: certificate_file,
                },
                shutdown.clone(),
            )));
            tasks.push(tokio::spawn(revocations::follow(
                client.clone(),
                tls.revoked.clone(),
                wasmpod_api::revocation::REFRESH,
                shutdown.clone(),
            )));
        }
        tasks.push(tokio::spawn(agent_server::serve(
            agent_listener,
            node_tls.as_ref().map(|tls| tls.agent_server.clone()),
            agent_app,
            config.timeouts,
            shutdown.clone(),
        )));
        let (sources, reflectors) = gateway::Sources::follow(&client, &shutdown);
        tasks.extend(reflectors);
        if config.ingress_tls_addr.is_some() {
            tasks.push(tokio::spawn(gateway::certificates::follow(
                sources.ingresses.clone(),
                client.clone(),
                certificates,
                shutdown.clone(),
            )));
        }
        tasks.push(tokio::spawn(pods::run(
            ctx.clone(),
            sources.pods.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(gateway::follow(
            ctx.clone(),
            sources,
            table,
            forwarder,
            activator,
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(agent::heartbeat(
            client,
            registration,
            config.heartbeat,
            shutdown.clone(),
        )));
        tracing::info!(node = %config.name, %gateway_addr, %agent_addr, "worker joined");
        Ok(Worker {
            gateway_addr,
            ingress_tls_addr: bound.tls,
            peer_addr: bound.peer,
            agent_addr,
            dirs,
            tasks,
            threads,
        })
    }

    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        // The pod manager has waited for its pods; remove whatever secret file is left.
        self.dirs.clear_secrets();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}
