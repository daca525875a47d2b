//! `up`: a whole cluster in one process — the control plane and `--workers` nodes — open on
//! loopback, token-protected beyond it; `-f` applies manifests once it is up.

use super::cluster;
use super::node_limits::NodeLimits;
use super::worker::default_threads;
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmpod_api::{Client, Deployment, Ingress, Kind, Name, NodeCapacity};
use wasmpod_control_plane::server::Auth;
use wasmpod_control_plane::{
    ApiTls, ControlPlane, ControlPlaneConfig, NodeCertificateValidity, StoreConfig,
};
use wasmpod_worker::backoff::BackoffPolicy;
use wasmpod_worker::{Worker, WorkerConfig};

#[derive(Debug, Args)]
pub struct Up {
    /// Data directory (store, components, compile cache)
    #[arg(long, default_value = ".wasmpod")]
    pub data_dir: PathBuf,
    /// Where the API listens
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub api_addr: SocketAddr,
    /// Where ingress listens (the first node's gateway; further nodes take the next ports)
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub ingress_addr: SocketAddr,
    /// Where the first node also serves ingress over TLS (HTTP/1.1 and HTTP/2), with the
    /// certificates of the Ingresses' `spec.tls` Secrets picked by SNI; none when absent
    #[arg(long)]
    pub ingress_tls_addr: Option<SocketAddr>,
    /// Worker nodes to run in this process
    #[arg(long, default_value = "1")]
    pub workers: u32,
    /// Capacity of each node, e.g. memory=2Gi,cpu=2000m,pods=500
    #[arg(long, value_parser = NodeCapacity::parse, default_value = "")]
    pub capacity: NodeCapacity,
    /// Manifests to apply once the cluster is up (repeatable)
    #[arg(short = 'f', long = "apply")]
    pub apply: Vec<PathBuf>,
    /// Lease renewal period of the nodes (milliseconds)
    #[arg(long, default_value = "1000")]
    pub heartbeat_ms: u64,
    /// 32-byte key file that encrypts Secrets at rest (default: <data dir>/secrets.key, made on first start)
    #[arg(long)]
    pub encryption_key: Option<PathBuf>,
    /// A node without a heartbeat for this long turns NotReady (milliseconds)
    #[arg(long, default_value = "3000")]
    pub node_grace_ms: u64,
    /// Gateway threads per node (default: one per core)
    #[arg(long)]
    pub gateway_threads: Option<usize>,
    /// Serve the API over TLS with a cluster CA (as `wasmpod server` does); plain HTTP otherwise
    #[arg(long)]
    pub tls: bool,
    /// With --tls: how long each node's certificate lives (365d, 12h, 1h30m, 90s; 10s to
    /// 3650d; default 365d); nodes renew theirs at 70 to 90 % of it
    #[arg(long, value_name = "DURATION")]
    pub node_certificate_validity: Option<NodeCertificateValidity>,
    #[command(flatten)]
    pub limits: NodeLimits,
    #[command(flatten)]
    pub otlp: crate::telemetry::OtlpArgs,
    /// A registry (HOST:PORT) spoken to over plain HTTP for `oci://` components (repeatable);
    /// every other registry is HTTPS
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
}

impl Up {
    pub async fn run(self) -> anyhow::Result<()> {
        if self.node_certificate_validity.is_some() && !self.tls {
            anyhow::bail!(
                "--node-certificate-validity needs --tls: without it nodes have no certificates"
            );
        }
        cluster::prepare_data_dir(&self.data_dir)?;
        // Beyond loopback the API needs tokens; on loopback `up` stays open like `spin up`.
        let tokens = if self.api_addr.ip().is_loopback() {
            None
        } else {
            Some(cluster::load_or_create_tokens(&self.data_dir)?)
        };
        let auth = Auth {
            admin_token: tokens.as_ref().map(|t| t.admin.clone()),
            join_token: tokens.as_ref().map(|t| t.join.clone()),
        };
        let runtime = self.limits.runtime(&self.data_dir)?;
        let timeouts = self.limits.timeouts()?;
        let shutdown = CancellationToken::new();
        let plane = ControlPlane::start(
            ControlPlaneConfig {
                data_dir: self.data_dir.clone(),
                store: StoreConfig::Sled,
                api_addr: self.api_addr,
                auth,
                node_grace: Duration::from_millis(self.node_grace_ms),
                encryption_key: self.encryption_key.clone(),
                identity: Default::default(),
                election: Default::default(),
                tls: if self.tls {
                    ApiTls::ClusterCa {
                        extra_names: Vec::new(),
                        node_certificate_validity: self
                            .node_certificate_validity
                            .unwrap_or_default(),
                    }
                } else {
                    ApiTls::Plain
                },
                insecure_registries: self.insecure_registries.clone(),
            },
            shutdown.clone(),
        )
        .await
        .context("the control plane could not start")?;
        let api_url = plane.url.clone();
        let ca_file = match &plane.ca {
            Some(ca) => Some(cluster::write_ca_certificate(&self.data_dir, ca)?),
            None => None,
        };
        let mut workers = Vec::new();
        for i in 1..=self.workers.max(1) {
            let mut gateway_addr = self.ingress_addr;
            if gateway_addr.port() != 0 {
                gateway_addr.set_port(self.ingress_addr.port() + (i as u16 - 1));
            }
            let name = Name::try_from(format!("local-{i}")).map_err(|e| anyhow::anyhow!(e))?;
            let config = WorkerConfig {
                name: name.clone(),
                server: api_url.clone(),
                cluster_ca: plane.ca.clone(),
                token: tokens.as_ref().map(|t| t.join.clone()),
                data_dir: self.data_dir.join("nodes").join(name.as_str()),
                gateway_addr,
                ingress_tls_addr: self.ingress_tls_addr.filter(|_| i == 1),
                peer_addr: None,
                agent_addr: SocketAddr::new(self.ingress_addr.ip(), 0),
                advertise_host: None,
                labels: Default::default(),
                capacity: self.capacity,
                heartbeat: Duration::from_millis(self.heartbeat_ms.max(50)),
                gateway_threads: self.gateway_threads.unwrap_or_else(default_threads),
                backoff: BackoffPolicy::default(),
                timeouts,
                insecure_registries: self.insecure_registries.clone(),
            };
            let worker = Worker::start(config, runtime.clone(), shutdown.clone())
                .await
                .with_context(|| format!("node {name} could not start"))?;
            workers.push(worker);
        }
        let ingress = format!("http://{}", workers[0].gateway_addr);
        println!("wasmpod is up (data in {})", self.data_dir.display());
        println!("API: {api_url}");
        match &tokens {
            Some(_) => println!(
                "dashboard: {}/ui/ (sign in with the admin token: the admin: line of {})",
                api_url.trim_end_matches('/'),
                self.data_dir.join("tokens.yaml").display()
            ),
            None => println!(
                "dashboard: {}/ui/ (an open API: any token signs in)",
                api_url.trim_end_matches('/')
            ),
        }
        if let (Some(path), Some(ca)) = (&ca_file, &plane.ca) {
            println!(
                "cluster CA: {} ({}); the CLI trusts it with WASMPOD_CA_FILE={}",
                path.display(),
                ca.pin()?,
                path.display()
            );
        }
        println!("ingress: {ingress}");
        if let Some(tls) = workers[0].ingress_tls_addr {
            println!("ingress TLS: https://{tls}");
        }
        for (i, w) in workers.iter().enumerate().skip(1) {
            println!("node local-{}: http://{}", i + 1, w.gateway_addr);
        }
        let client = Client::with_ca(
            &api_url,
            tokens.as_ref().map(|t| t.admin.clone()),
            plane.ca.as_ref(),
        );
        if !self.apply.is_empty() {
            if let Err(error) =
                super::apply::apply_files(&client, &self.apply, wasmpod_api::DEFAULT_NAMESPACE)
                    .await
            {
                eprintln!("error: could not apply the manifests: {error:#}");
            }
        }
        wait_ready(&client).await;
        print_urls(&client, &ingress).await;
        println!("Press Ctrl-C to stop.");
        let done = async move {
            plane.wait().await;
            for w in workers {
                w.wait().await;
            }
        };
        cluster::run_until_stopped(shutdown, done).await;
        Ok(())
    }
}

/// Waits (at most three minutes, showing progress: a large component's first compile takes a
/// while) until every deployment has its replicas ready.
async fn wait_ready(client: &Client) {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        if started.elapsed() > Duration::from_secs(180) {
            eprintln!("{last} — still starting; they answer once ready (`wasmpod get pods`)");
            return;
        }
        let Ok(deployments) = client
            .list_typed::<Deployment>(Kind::Deployment, None)
            .await
        else {
            return;
        };
        let waiting: Vec<String> = deployments
            .iter()
            .filter(|d| d.status.ready_replicas < d.spec.replicas)
            .map(|d| {
                format!(
                    "{} {}/{}",
                    d.name(),
                    d.status.ready_replicas,
                    d.spec.replicas
                )
            })
            .collect();
        if waiting.is_empty() {
            return;
        }
        let line = format!("waiting for deployments: {}", waiting.join(", "));
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn print_urls(client: &Client, ingress: &str) {
    let Ok(ingresses) = client.list_typed::<Ingress>(Kind::Ingress, None).await else {
        return;
    };
    for i in ingresses {
        for rule in &i.spec.rules {
            for path in &rule.http.paths {
                match &rule.host {
                    Some(host) => println!(
                        "  {ingress}{} (Host: {host}) -> service {}",
                        path.path, path.backend.service
                    ),
                    None => println!(
                        "  {ingress}{} -> service {}",
                        path.path, path.backend.service
                    ),
                }
            }
        }
    }
}
