//! The subcommands, one file each, and the flags several of them share (API, selectors,
//! dry run).

mod api_resources;
mod apply;
mod auth;
mod build;
mod client_certificate;
mod client_certificates;
mod cluster;
mod create;
mod delete;
mod delete_wait;
mod describe;
mod diff;
mod edit;
mod explain;
mod get;
mod get_watch;
mod label;
mod leases;
mod logs;
mod logs_output;
mod logs_roster;
mod logs_selected;
mod new;
mod node_limits;
mod nodes;
mod patch;
mod push;
mod rollout;
mod scale;
mod server;
mod set;
mod tokens;
mod top;
mod up;
mod version;
pub(crate) mod wait;
mod worker;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

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

/// `-l` and `--field-selector`, checked by the API server.
#[derive(Debug, Clone, Args, Default)]
pub struct SelectorArgs {
    /// Label selector: app=web, tier!=db, env in (a,b), release notin (x), gpu, !legacy
    #[arg(short = 'l', long = "selector")]
    pub labels: Option<String>,
    /// Field selector: spec.nodeName=NODE, status.phase=Running (=, ==, !=)
    #[arg(long = "field-selector")]
    pub fields: Option<String>,
}

impl SelectorArgs {
    pub fn is_set(&self) -> bool {
        self.labels.is_some() || self.fields.is_some()
    }

    pub fn options(&self) -> wasmpod_api::client::ListOptions {
        wasmpod_api::client::ListOptions {
            label_selector: self.labels.clone(),
            field_selector: self.fields.clone(),
        }
    }
}

/// `--dry-run=client|server`: client prints what would be sent; server has the API validate
/// it and store nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DryRun {
    #[default]
    None,
    Client,
    Server,
}

#[derive(Debug, Clone, Copy, Args, Default)]
pub struct DryRunArg {
    /// none, client (print, send nothing) or server (validated by the API, nothing stored)
    #[arg(long = "dry-run", value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    pub dry_run: DryRun,
}

impl DryRunArg {
    /// ` (dry run)` / ` (server dry run)` after what a command prints, as kubectl does.
    pub fn suffix(self) -> &'static str {
        match self.dry_run {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}

/// The not-found errors of a command that goes on past them (`get a b`, `delete a b`), each as
/// the server said it with its status (`deployments "b" not found (HTTP 404)`): all but the last
/// printed here, the last returned, so that every one is printed once and the CLI exits 1.
pub(crate) fn report_missing(mut missing: Vec<wasmpod_api::ClientError>) -> anyhow::Result<()> {
    let Some(last) = missing.pop() else {
        return Ok(());
    };
    for error in &missing {
        eprintln!("error: {error}");
    }
    Err(last.into())
}

/// What `diff` returns when it found a difference: the CLI exits 1 without an error message.
#[derive(Debug)]
pub struct Differs;

impl std::fmt::Display for Differs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the live objects differ from the manifests")
    }
}

impl std::error::Error for Differs {}

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
    /// Push a component to an OCI registry as a Wasm artifact; prints its digest
    Push(push::Push),
    /// Create a Secret, ConfigMap or Namespace (refused if the name is taken), an API token or a
    /// client certificate
    Create(create::Create),
    /// Show what `apply -f` would change (exit 1 when something differs)
    Diff(diff::Diff),
    /// List resources (`get pods -l app=web`, `get deploy/hello`, `get all`)
    Get(get::Get),
    /// Show one resource in detail, with its events
    Describe(describe::Describe),
    /// Delete resources by file or by kind and name
    Delete(delete::Delete),
    /// Print what a pod's component wrote to stdout and stderr
    Logs(logs::Logs),
    /// Set the replicas of a deployment or statefulset
    Scale(scale::Scale),
    /// Live figures of pods or nodes: requests/s, p50/p99 latency, memory, restarts
    Top(top::Top),
    /// Wait until pods or deployments are Ready/Available, or deleted
    Wait(wait::Wait),
    /// Follow, list, undo, restart, pause and resume a deployment's rollouts
    Rollout(rollout::Rollout),
    /// Edit an object in $EDITOR; a change made meanwhile by someone else is refused
    Edit(edit::Edit),
    /// Change an object with a JSON merge patch
    Patch(patch::Patch),
    /// Add, change (--overwrite) or remove (key-) labels
    Label(label::Label),
    /// Add, change (--overwrite) or remove (key-) annotations
    Annotate(label::Annotate),
    /// Change part of an object: `set image deployment/NAME COMPONENT`
    Set(set::Set),
    /// The kinds the API serves, with short names
    ApiResources(api_resources::ApiResources),
    /// Document a kind or one of its fields: `explain deployment.spec.replicas`
    Explain(explain::Explain),
    /// Client and server version
    Version(version::Version),
    /// Inspect the caller's authorization: `auth whoami`
    Auth(auth::Auth),
    /// Print a shell completion script: `source <(wasmpod completion bash)`
    Completion(Completion),
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
    /// Where this process exports spans, and as whom: only the commands that run a cluster do,
    /// when a collector is configured (flags, then the OTel SDK's variables). A bad setting is
    /// an error naming its flag or variable.
    pub fn span_export(&self) -> anyhow::Result<Option<crate::telemetry::Export>> {
        use crate::telemetry::{Export, Exporting, Origin};
        let node = |instance: String| Origin {
            service: "wasmpod-node",
            instance,
        };
        let (otlp, origin) = match &self.command {
            Command::Up(c) => (&c.otlp, node("local".into())),
            Command::Worker(c) => (&c.otlp, node(c.name.clone())),
            Command::Server(c) => (
                &c.otlp,
                Origin {
                    service: "wasmpod-server",
                    instance: c.name.clone().unwrap_or_else(|| c.api_addr.to_string()),
                },
            ),
            _ => return Ok(None),
        };
        Ok(match otlp.resolve_from_env()? {
            Exporting::Off => None,
            exporting => Some(Export { exporting, origin }),
        })
    }

    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Up(c) => c.run().await,
            Command::Server(c) => c.run().await,
            Command::Worker(c) => c.run().await,
            Command::Apply(c) => c.run().await,
            Command::Push(c) => c.run().await,
            Command::Create(c) => c.run().await,
            Command::Diff(c) => c.run().await,
            Command::Get(c) => c.run().await,
            Command::Describe(c) => c.run().await,
            Command::Delete(c) => c.run().await,
            Command::Logs(c) => c.run().await,
            Command::Scale(c) => c.run().await,
            Command::Top(c) => c.run().await,
            Command::Wait(c) => c.run().await,
            Command::Rollout(c) => c.run().await,
            Command::Edit(c) => c.run().await,
            Command::Patch(c) => c.run().await,
            Command::Label(c) => c.run().await,
            Command::Annotate(c) => c.run().await,
            Command::Set(c) => c.run().await,
            Command::ApiResources(c) => c.run(),
            Command::Explain(c) => c.run(),
            Command::Version(c) => c.run().await,
            Command::Auth(c) => c.run().await,
            Command::Completion(c) => c.run(),
            Command::Cordon(c) => c.cordon(true).await,
            Command::Uncordon(c) => c.cordon(false).await,
            Command::Drain(c) => c.drain().await,
            Command::New(c) => c.run().await,
            Command::Build(c) => c.run().await,
        }
    }
}

#[derive(Debug, Args)]
pub struct Completion {
    /// bash, zsh, fish, elvish or powershell
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

impl Completion {
    /// Writes the script for `shell` (built from the same clap definition as the parser).
    fn run(self) -> anyhow::Result<()> {
        use std::io::Write as _;
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut Cli::command(), "wasmpod", &mut script);
        std::io::stdout()
            .write_all(&script)
            .map_err(|e| anyhow::anyhow!("cannot write the completion script: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own checks of every verb's flags (duplicates, conflicting short names ...).
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn dry_run_takes_client_server_or_nothing() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
        let cli = parse(&["wasmpod", "delete", "cm/x", "--dry-run=server"]).expect("parses");
        let Command::Delete(delete) = cli.command else {
            panic!("not delete")
        };
        assert_eq!(delete.dry_run.dry_run, DryRun::Server);
        let cli = parse(&["wasmpod", "delete", "cm/x", "--dry-run"]).expect("parses");
        let Command::Delete(delete) = cli.command else {
            panic!("not delete")
        };
        assert_eq!(delete.dry_run.dry_run, DryRun::Client);
        assert!(parse(&["wasmpod", "delete", "cm/x", "--dry-run=maybe"]).is_err());
    }
}
