//! The subcommands, one file each.

mod apply;
mod build;
mod cluster;
mod create;
mod delete;
mod describe;
mod get;
mod leases;
mod logs;
mod new;
mod node_limits;
mod nodes;
mod scale;
mod server;
mod up;
mod worker;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "wasmpod",
    version,
    about = "Kubernetes for WebAssembly components"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How to reach the API; shared by every command that talks to it.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// API server URL, or several of one control plane separated by commas (default: the client
    /// config, else http://127.0.0.1:7070)
    #[arg(long, env = "WASMPOD_SERVER", global = true)]
    pub server: Option<String>,
    /// Bearer token for the API
    #[arg(long, env = "WASMPOD_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Namespace
    #[arg(short = 'n', long, default_value = wasmpod_api::DEFAULT_NAMESPACE, global = true)]
    pub namespace: String,
}

impl ApiArgs {
    pub fn client(&self) -> anyhow::Result<wasmpod_api::Client> {
        crate::config::client(self.server.as_deref(), self.token.as_deref())
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local cluster: the control plane and worker node(s) in one process
    Up(up::Up),
    /// Run the control plane alone (workers join it with `wasmpod worker`)
    Server(server::Server),
    /// Run a worker node that joins a control plane
    Worker(worker::WorkerCmd),
    /// Create or update resources from manifest files or directories
    Apply(apply::Apply),
    /// Create a Secret or ConfigMap from literals and files
    Create(create::Create),
    /// List resources
    Get(get::Get),
    /// Show one resource in detail, with its events
    Describe(describe::Describe),
    /// Delete resources by file or by kind and name
    Delete(delete::Delete),
    /// Print what a pod's component wrote to stdout and stderr
    Logs(logs::Logs),
    /// Set the replicas of a deployment
    Scale(scale::Scale),
    /// Mark a node unschedulable
    Cordon(nodes::NodeArgs),
    /// Mark a node schedulable again
    Uncordon(nodes::NodeArgs),
    /// Cordon a node and move its pods elsewhere
    Drain(nodes::NodeArgs),
    /// Create a service project (source, build, deploy.yaml) in Rust, JavaScript or Python
    New(new::New),
    /// Build the project in this directory into a component (installs pinned toolchains)
    Build(build::Build),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Up(c) => c.run().await,
            Command::Server(c) => c.run().await,
            Command::Worker(c) => c.run().await,
            Command::Apply(c) => c.run().await,
            Command::Create(c) => c.run().await,
            Command::Get(c) => c.run().await,
            Command::Describe(c) => c.run().await,
            Command::Delete(c) => c.run().await,
            Command::Logs(c) => c.run().await,
            Command::Scale(c) => c.run().await,
            Command::Cordon(c) => c.cordon(true).await,
            Command::Uncordon(c) => c.cordon(false).await,
            Command::Drain(c) => c.drain().await,
            Command::New(c) => c.run().await,
            Command::Build(c) => c.run().await,
        }
    }
}
