//! `logs POD`, `logs deploy/hello` (its first pod), `logs -l app=web` (every matching pod,
//! each line prefixed with its pod); `-f` follows (across the pod's restarts, until the pod is
//! deleted or Ctrl-C; with `-l`, the pods that match later too: see [`super::logs_selected`]),
//! `--previous` prints the run before the current one.

use super::logs_output::LogPrinter;
use super::{ApiArgs, SelectorArgs};
use crate::kinds;
use anyhow::{bail, Context};
use clap::Args;
use futures::StreamExt;
use wasmpod_api::{Client, Kind, Pod};

#[derive(Debug, Args)]
pub struct Logs {
    /// A pod's name, or TYPE/NAME (a deployment's or statefulset's first pod)
    #[arg(help = kinds::help(can_log), value_name = "POD|TYPE/NAME")]
    pub target: Option<String>,
    #[command(flatten)]
    pub selector: SelectorArgs,
    /// Prefix each line with its pod (the default with -l)
    #[arg(long)]
    pub prefix: bool,
    /// Follow the log: print new lines as they come, across restarts, until the pod is deleted
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The log of the pod's previous run (before its last restart)
    #[arg(short = 'p', long, conflicts_with = "follow")]
    pub previous: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

fn can_log(kind: Kind) -> bool {
    matches!(kind, Kind::Pod | Kind::Deployment | Kind::StatefulSet)
}

impl Logs {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = self.api.client()?;
        let ns = self.api.namespace.as_str();
        let (pods, prefix) = match (&self.target, self.selector.is_set()) {
            (Some(_), true) => bail!("give a pod or a selector (-l), not both"),
            (None, false) => bail!("name a pod (POD, deploy/NAME) or select pods with -l"),
            (None, true) if self.follow => {
                let options = self.selector.options();
                return super::logs_selected::follow_selected(&client, ns, &options).await;
            }
            (None, true) => {
                let list = client
                    .list_selected(Kind::Pod, Some(ns), &self.selector.options())
                    .await?;
                let mut names: Vec<String> =
                    list.items.iter().map(|p| p.name().to_string()).collect();
                names.sort();
                if names.is_empty() {
                    eprintln!("No resources found in {ns} namespace.");
                }
                (names, true)
            }
            (Some(target), false) => {
                let (kind, name) = match target.split_once('/') {
                    Some((kind, name)) => (kinds::parse(kind, can_log)?, name.to_string()),
                    None => (Kind::Pod, target.clone()),
                };
                let pod = if kind == Kind::Pod {
                    name
                } else {
                    owned_pod(&client, kind, ns, &name).await?
                };
                (vec![pod], self.prefix)
            }
        };
        let prefix = prefix || self.prefix;
        if self.follow {
            // One named pod: a selector with -f was followed above.
            for pod in &pods {
                follow(&client, ns, pod, prefix).await?;
            }
            return Ok(());
        }
        for pod in pods {
            let text = if self.previous {
                client.previous_logs(ns, &pod).await?
            } else {
                client.logs(ns, &pod).await?
            };
            if prefix {
                for line in text.lines() {
                    println!("[pod/{pod}] {line}");
                }
            } else {
                print!("{text}");
            }
        }
        Ok(())
    }
}

/// Prints `pod`'s log as it comes until the server ends the stream (the pod was deleted or left
/// its node). With `prefix`, whole lines only, each prefixed with the pod.
async fn follow(client: &Client, ns: &str, pod: &str, prefix: bool) -> anyhow::Result<()> {
    let mut chunks = client
        .follow_logs(ns, pod)
        .await
        .with_context(|| format!("following the log of pod {pod}"))?;
    let mut printer = LogPrinter::new(pod, prefix);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.with_context(|| format!("reading the log of pod {pod}"))?;
        printer.write(&mut std::io::stdout().lock(), &chunk)?;
    }
    printer.finish(&mut std::io::stdout().lock())?;
    // The node ends the stream when the pod leaves it; otherwise the connection was lost.
    match client.get(Kind::Pod, ns, pod).await {
        Err(e) if e.is_not_found() => Ok(()),
        Ok(_) => bail!("the log stream of pod {pod} ended while the pod is still there (its node or the API server went away)"),
        Err(e) => Err(e).with_context(|| format!("the log stream of pod {pod} ended")),
    }
}

/// The first pod (by name) that `kind` `name` owns, as kubectl picks one for `logs deploy/x`.
async fn owned_pod(client: &Client, kind: Kind, ns: &str, name: &str) -> anyhow::Result<String> {
    client.get(kind, ns, name).await?;
    let pods: Vec<Pod> = client.list_typed(Kind::Pod, Some(ns)).await?;
    let mut owned: Vec<&Pod> = pods
        .iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .any(|o| o.kind == kind.as_str() && o.name == name)
        })
        .collect();
    owned.sort_by_key(|p| p.name().to_string());
    owned
        .first()
        .map(|p| p.name().to_string())
        .ok_or_else(|| anyhow::anyhow!("{} has no pods", kinds::object_ref(kind, name)))
}
