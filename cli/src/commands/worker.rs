//! `worker`: a node that joins a control plane with the join token, gets its own credential,
//! and runs the pods bound to it.

use super::cluster;
use super::node_limits::NodeLimits;
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wasmpod_api::{Name, NodeCapacity};
use wasmpod_worker::backoff::BackoffPolicy;
use wasmpod_worker::{Worker, WorkerConfig};

#[derive(Debug, Args)]
pub struct WorkerCmd {
    /// URL of the control plane's API, or the URLs of its servers separated by commas (the node
    /// fails over between them)
    #[arg(long)]
    pub join: String,
    /// The join token (prefer --token-file or WASMPOD_JOIN_TOKEN: a command line is visible in `ps`).
    /// Used only on the first start, to get this node's own credential
    #[arg(long, env = "WASMPOD_JOIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the join token (`wasmpod server` writes <data dir>/join-token); wins over
    /// --token and WASMPOD_JOIN_TOKEN
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The cluster CA's pin, `sha256:<hex>` of its SubjectPublicKeyInfo (printed by `wasmpod
    /// server`): needed on the first join over https; a server whose CA differs is refused.
    /// The CA is then kept in the data directory (ca.crt)
    #[arg(long, env = "WASMPOD_CA_CERT_HASH")]
    pub ca_cert_hash: Option<String>,
    /// Node name (stable across restarts: the node runs the pods bound to this name)
    #[arg(long)]
    pub name: String,
    /// Node label, key=value (repeatable)
    #[arg(long = "label", value_parser = cluster::parse_label)]
    pub labels: Vec<(String, String)>,
    /// Capacity, e.g. memory=2Gi,cpu=2000m,pods=500
    #[arg(long, value_parser = NodeCapacity::parse, default_value = "")]
    pub capacity: NodeCapacity,
    /// Where the gateway (ingress and node-to-node traffic) listens
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub gateway_addr: SocketAddr,
    /// Where the gateway serves ingress over TLS (HTTP/1.1 and HTTP/2), with the certificates of
    /// the Ingresses' `spec.tls` Secrets picked by SNI; no TLS listener when absent
    #[arg(long)]
    pub ingress_tls_addr: Option<SocketAddr>,
    /// On a TLS cluster (an https --join), where the gateway takes the requests other nodes
    /// forward, over mutual TLS with the cluster CA; default: the gateway's IP, a free port
    #[arg(long)]
    pub peer_addr: Option<SocketAddr>,
    /// Where the node agent listens: logs and pod figures for the control plane, `/metrics` for
    /// Prometheus
    #[arg(long, default_value = "127.0.0.1:0")]
    pub agent_addr: SocketAddr,
    /// Host the control plane and other nodes use to reach this node
    #[arg(long)]
    pub advertise_host: Option<String>,
    /// A registry (HOST:PORT) spoken to over plain HTTP for `oci://` components (repeatable);
    /// every other registry is HTTPS
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// Data directory (component and compile caches)
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Lease renewal period in milliseconds
    #[arg(long, default_value = "1000")]
    pub heartbeat_ms: u64,
    /// Gateway threads (default: one per core)
    #[arg(long)]
    pub gateway_threads: Option<usize>,
    #[command(flatten)]
    pub limits: NodeLimits,
    #[command(flatten)]
    pub otlp: crate::telemetry::OtlpArgs,
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

impl WorkerCmd {
    pub async fn run(self) -> anyhow::Result<()> {
        let name = Name::try_from(self.name.clone()).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!(".wasmpod-worker-{name}")));
        cluster::prepare_data_dir(&data_dir)?;
        let runtime = self.limits.runtime(&data_dir)?;
        let timeouts = self.limits.timeouts()?;
        let shutdown = CancellationToken::new();
        let token = match &self.token_file {
            Some(path) => Some(cluster::read_token_file(path)?),
            None => self.token.clone(),
        };
        let cluster_ca =
            cluster::node_trust(&self.join, &data_dir, self.ca_cert_hash.as_deref()).await?;
        let config = WorkerConfig {
            name,
            server: self.join.clone(),
            cluster_ca,
            token,
            data_dir,
            gateway_addr: self.gateway_addr,
            ingress_tls_addr: self.ingress_tls_addr,
            peer_addr: self.peer_addr,
            agent_addr: self.agent_addr,
            advertise_host: self.advertise_host.clone(),
            labels: self.labels.iter().cloned().collect(),
            capacity: self.capacity,
            heartbeat: Duration::from_millis(self.heartbeat_ms.max(50)),
            gateway_threads: self.gateway_threads.unwrap_or_else(default_threads),
            backoff: BackoffPolicy::default(),
            timeouts,
            insecure_registries: self.insecure_registries.clone(),
        };
        let worker = Worker::start(config, runtime, shutdown.clone())
            .await
            .context("the worker could not start")?;
        println!("worker {} joined {}", self.name, self.join);
        println!("gateway: http://{}", worker.gateway_addr);
        if let Some(tls) = worker.ingress_tls_addr {
            println!("ingress TLS: https://{tls}");
        }
        if let Some(peer) = worker.peer_addr {
            println!("node-to-node TLS: https://{peer}");
        }
        cluster::run_until_stopped(shutdown, worker.wait()).await;
        Ok(())
    }
}
