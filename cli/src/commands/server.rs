//! `server`: the control plane alone, with admin and join tokens (workers join it with `worker`);
//! writes the client config so the CLI on this machine finds it.

use super::cluster;
use crate::config::{self, ClientConfig};
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wasmpod_control_plane::server::Auth;
use wasmpod_control_plane::{
    ApiTls, ControlPlane, ControlPlaneConfig, IdentityConfig, NodeCertificateValidity, StoreConfig,
};

#[derive(Debug, Args)]
pub struct Server {
    /// Data directory (store, components, tokens)
    #[arg(long, default_value = ".wasmpod")]
    pub data_dir: PathBuf,
    /// Where the objects live: `sled` (in the data directory; one server) or
    /// `etcd://HOST:PORT[,HOST:PORT...]` (shared by every server of the cluster; each server
    /// needs the same --encryption-key)
    #[arg(long, default_value = "sled")]
    pub store: String,
    /// The etcd key prefix (with --store etcd://...): one etcd can hold several clusters
    #[arg(long, default_value = wasmpod_control_plane::DEFAULT_ETCD_PREFIX)]
    pub store_prefix: String,
    /// Where the API listens
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub api_addr: SocketAddr,
    /// 32-byte key file that encrypts Secrets at rest (default: <data dir>/secrets.key, made on first start)
    #[arg(long)]
    pub encryption_key: Option<PathBuf>,
    /// A node without a heartbeat for this long turns NotReady and its pods move (milliseconds)
    #[arg(long, default_value = "3000")]
    pub node_grace_ms: u64,
    /// Do not write the client config (~/.wasmpod/config)
    #[arg(long)]
    pub no_client_config: bool,
    /// This server's name among the servers of the cluster (default: its API address)
    #[arg(long)]
    pub name: Option<String>,
    /// The URL other servers and clients use to reach this server's API (default:
    /// https://<api addr>, or http:// with --insecure-http)
    #[arg(long)]
    pub advertise_url: Option<String>,
    /// More names (DNS or IP) for the API's certificate, beyond the API address, the advertised
    /// URL's host and localhost (repeatable)
    #[arg(long = "tls-san")]
    pub tls_sans: Vec<String>,
    /// Serve the API in plain HTTP (tokens and Secrets then cross the network readable)
    #[arg(long)]
    pub insecure_http: bool,
    /// How long each node's certificate lives (365d, 12h, 1h30m, 90s; 10s to 3650d); nodes
    /// renew theirs at 70 to 90 % of it
    #[arg(long, value_name = "DURATION", default_value = "365d")]
    pub node_certificate_validity: NodeCertificateValidity,
    #[command(flatten)]
    pub otlp: crate::telemetry::OtlpArgs,
    /// A registry (HOST:PORT) spoken to over plain HTTP for `oci://` components (repeatable);
    /// every other registry is HTTPS
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
}

impl Server {
    pub async fn run(self) -> anyhow::Result<()> {
        let store = StoreConfig::parse(&self.store, &self.store_prefix)
            .with_context(|| format!("--store {}", self.store))?;
        cluster::prepare_data_dir(&self.data_dir)?;
        let tokens = cluster::load_or_create_tokens(&self.data_dir)?;
        let shutdown = CancellationToken::new();
        let plane = ControlPlane::start(
            ControlPlaneConfig {
                data_dir: self.data_dir.clone(),
                store,
                api_addr: self.api_addr,
                auth: Auth {
                    admin_token: Some(tokens.admin.clone()),
                    join_token: Some(tokens.join.clone()),
                },
                node_grace: Duration::from_millis(self.node_grace_ms),
                encryption_key: self.encryption_key.clone(),
                identity: IdentityConfig {
                    name: self.name.clone(),
                    advertise_url: self.advertise_url.clone(),
                },
                election: Default::default(),
                tls: if self.insecure_http {
                    ApiTls::Plain
                } else {
                    ApiTls::ClusterCa {
                        extra_names: self.tls_sans.clone(),
                        node_certificate_validity: self.node_certificate_validity,
                    }
                },
                insecure_registries: self.insecure_registries.clone(),
            },
            shutdown.clone(),
        )
        .await
        .context("the control plane could not start")?;
        let url = self
            .advertise_url
            .clone()
            .unwrap_or_else(|| plane.url.clone());
        let token_file = cluster::write_join_token(&self.data_dir, &tokens.join)?;
        let token_file = std::path::absolute(&token_file).unwrap_or(token_file);
        println!("API: {url}");
        println!("join token file: {}", token_file.display());
        let pin = match &plane.ca {
            Some(ca) => {
                let path = cluster::write_ca_certificate(&self.data_dir, ca)?;
                let pin = ca.pin()?;
                println!("cluster CA: {} ({pin})", path.display());
                format!(" --ca-cert-hash {pin}")
            }
            None => {
                eprintln!(
                    "warning: the API is plain HTTP (--insecure-http): tokens and Secrets cross \
                     the network readable"
                );
                String::new()
            }
        };
        println!(
            "join a worker (copy the token file to its machine): wasmpod worker --join {url} --token-file {}{pin} --name NAME",
            token_file.display()
        );
        if !self.no_client_config {
            let path = config::save(&ClientConfig {
                server: Some(config::Servers::One(url.clone())),
                token: Some(tokens.admin.clone()),
                certificate_authority_data: plane.ca.as_ref().map(config::encode_ca),
            })?;
            println!("client config: {}", path.display());
        }
        cluster::run_until_stopped(shutdown, plane.wait()).await;
        Ok(())
    }
}
