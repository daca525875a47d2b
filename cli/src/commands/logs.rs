//! `logs POD`, `logs deploy/hello` (its first pod), `logs -l app=web` (every matching pod,
//! each line prefixed with its pod).

use super::{ApiArgs, SelectorArgs};
use crate::kinds;
use anyhow::bail;
use clap::Args;
use wasmpod_api::{Kind, Pod};

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
        for pod in pods {
            let text = client.logs(ns, &pod).await?;
            if prefix || self.prefix {
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

/// The first pod (by name) that `kind` `name` owns, as kubectl picks one for `logs deploy/x`.
async fn owned_pod(
    client: &wasmpod_api::Client,
    kind: Kind,
    ns: &str,
    name: &str,
) -> anyhow::Result<String> {
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
