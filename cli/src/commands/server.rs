use super::cluster;
use crate::config::{self, ClientConfig};
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wasmpod_control_plane::leader::{ElectionConfig, ElectionTiming};
use wasmpod_control_plane::server::Auth;
use wasmpod_control_plane::{ControlPlane, ControlPlaneConfig, IdentityConfig};

#[derive(Debug, Args)]
pub struct Server {
    /// Data directory (store, components, tokens)
    #[arg(long, default_value = ".wasmpod")]
    pub data_dir: PathBuf,
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
    /// Where objects live: `sled` (embedded, one server) or `etcd://HOST:PORT[,HOST:PORT...]`
    /// (several servers; one of them, elected through an etcd lease, runs the controllers)
    #[arg(long, default_value = "sled", value_parser = StoreUrl::parse)]
    pub store: StoreUrl,
    /// This server's name among the servers of the cluster (default: its API address)
    #[arg(long)]
    pub name: Option<String>,
    /// The URL other servers and clients use to reach this server's API (default: http://<api addr>)
    #[arg(long)]
    pub advertise_url: Option<String>,
}

/// Where the control plane keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sled,
    /// `host:port` of each etcd member.
    Etcd(Vec<String>),
}

impl StoreUrl {
    pub fn parse(text: &str) -> Result<StoreUrl, String> {
        if text == "sled" {
            return Ok(StoreUrl::Sled);
        }
        let Some(members) = text.strip_prefix("etcd://") else {
            return Err(format!(
                "{text:?}: expected `sled` or `etcd://HOST:PORT[,HOST:PORT...]`"
            ));
        };
        let members: Vec<String> = members
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect();
        if members.is_empty() || members.iter().any(|m| !m.contains(':') || m.contains('/')) {
            return Err(format!(
                "{text:?}: every etcd member is HOST:PORT, e.g. etcd://127.0.0.1:2379"
            ));
        }
        Ok(StoreUrl::Etcd(members))
    }
}

impl Server {
    pub async fn run(self) -> anyhow::Result<()> {
        cluster::prepare_data_dir(&self.data_dir)?;
        let tokens = cluster::load_or_create_tokens(&self.data_dir)?;
        let shutdown = CancellationToken::new();
        let plane = ControlPlane::start(
            ControlPlaneConfig {
                data_dir: self.data_dir.clone(),
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
                election: match &self.store {
                    StoreUrl::Sled => None,
                    StoreUrl::Etcd(members) => Some(ElectionConfig {
                        etcd_endpoints: members.clone(),
                        key_prefix: wasmpod_control_plane::leader::records::DEFAULT_PREFIX.into(),
                        timing: ElectionTiming::default(),
                    }),
                },
            },
            shutdown.clone(),
        )
        .await
        .context("the control plane could not start")?;
        let url = format!("http://{}", plane.addr);
        let token_file = cluster::write_join_token(&self.data_dir, &tokens.join)?;
        let token_file = std::path::absolute(&token_file).unwrap_or(token_file);
        println!("API: {url}");
        println!("join token file: {}", token_file.display());
        println!(
            "join a worker (copy the token file to its machine): wasmpod worker --join {url} --token-file {} --name NAME",
            token_file.display()
        );
        if !self.no_client_config {
            let path = config::save(&ClientConfig {
                server: Some(config::Servers::One(url.clone())),
                token: Some(tokens.admin.clone()),
            })?;
            println!("client config: {}", path.display());
        }
        cluster::run_until_stopped(shutdown, plane.wait()).await;
        Ok(())
    }
}
