//! `wait --for=condition=Ready pod/x`, `--for=condition=Available deploy/x`,
//! `--for=delete pod -l app=web`, bounded by `--timeout`. Follows the kind's watch: each change
//! re-checks, no polling.

use super::{ApiArgs, SelectorArgs};
use crate::kinds::{self, Target};
use anyhow::{bail, Context};
use clap::Args;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use wasmpod_api::{AnyObject, Deployment, Kind, Pod, StatefulSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// A pod is ready; a deployment or statefulset has all its replicas ready.
    Ready,
    Deleted,
}

impl FromStr for Goal {
    type Err = String;

    fn from_str(text: &str) -> Result<Goal, String> {
        match text {
            "delete" => Ok(Goal::Deleted),
            "condition=Ready"
            | "condition=Available"
            | "condition=ready"
            | "condition=available" => Ok(Goal::Ready),
            other => Err(format!(
                "--for={other:?}: use condition=Ready, condition=Available or delete"
            )),
        }
    }
}

fn waitable(kind: Kind) -> bool {
    matches!(kind, Kind::Pod | Kind::Deployment | Kind::StatefulSet)
}

/// `30s`, `2m`, `500ms`, `1h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |at| text.split_at(at));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 2m or 500ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    }
}

#[derive(Debug, Args)]
pub struct Wait {
    #[arg(required = true, help = kinds::help(waitable), value_name = "TYPE[/NAME]")]
    pub args: Vec<String>,
    /// condition=Ready, condition=Available or delete
    #[arg(long = "for")]
    pub goal: Goal,
    /// How long to wait (30s, 2m, 500ms)
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub selector: SelectorArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

fn ready(object: &AnyObject) -> anyhow::Result<bool> {
    Ok(match object.kind() {
        Some(Kind::Pod) => object.to_typed::<Pod>()?.status.ready,
        Some(Kind::Deployment) => {
            let d: Deployment = object.to_typed()?;
            d.status.ready_replicas >= d.spec.replicas
                && d.status.updated_replicas >= d.spec.replicas
        }
        Some(Kind::StatefulSet) => {
            let s: StatefulSet = object.to_typed()?;
            s.status.ready_replicas >= s.spec.replicas
        }
        _ => false,
    })
}

impl Wait {
    pub async fn run(self) -> anyhow::Result<()> {
        let targets = kinds::targets(&self.args, waitable)?;
        let kinds_asked: Vec<Kind> = targets.iter().map(|t| t.kind).collect();
        if kinds_asked.iter().any(|k| *k != kinds_asked[0]) {
            bail!("wait on one kind at a time");
        }
        let kind = kinds_asked[0];
        let names: Vec<String> = targets.iter().filter_map(|t| t.name.clone()).collect();
        if names.is_empty() && !self.selector.is_set() {
            bail!("name the objects (TYPE/NAME) or select them with -l");
        }
        let client = self.api.client()?;
        let outcome = tokio::time::timeout(self.timeout, self.follow(&client, kind, &names)).await;
        match outcome {
            Ok(result) => result,
            Err(_) => bail!(
                "timed out after {:?} waiting for {} to be {}",
                self.timeout,
                targets
                    .iter()
                    .map(|Target { kind, name }| match name {
                        Some(n) => kinds::object_ref(*kind, n),
                        None => kind.plural().to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                if self.goal == Goal::Deleted {
                    "deleted"
                } else {
                    "ready"
                }
            ),
        }
    }

    /// Checks, then re-checks on every change of `kind` until the goal holds.
    async fn follow(
        &self,
        client: &wasmpod_api::Client,
        kind: Kind,
        names: &[String],
    ) -> anyhow::Result<()> {
        let ns = &self.api.namespace;
        let mut first = true;
        loop {
            let list = client
                .list_selected(kind, Some(ns), &self.selector.options())
                .await?;
            let live: BTreeMap<&str, &AnyObject> =
                list.items.iter().map(|o| (o.name(), o)).collect();
            let watched: Vec<String> = if names.is_empty() {
                live.keys().map(|n| n.to_string()).collect()
            } else {
                names.to_vec()
            };
            if first && self.goal == Goal::Ready {
                if let Some(missing) = watched.iter().find(|n| !live.contains_key(n.as_str())) {
                    bail!("{} not found", kinds::object_ref(kind, missing));
                }
                if watched.is_empty() {
                    bail!("no {} match the selector", kind.plural());
                }
            }
            first = false;
            let mut done = true;
            for name in &watched {
                let met = match (self.goal, live.get(name.as_str())) {
                    (Goal::Deleted, found) => found.is_none(),
                    (Goal::Ready, Some(object)) => ready(object).with_context(|| {
                        format!("cannot read {}", kinds::object_ref(kind, name))
                    })?,
                    (Goal::Ready, None) => false,
                };
                done &= met;
            }
            if done {
                for name in &watched {
                    match self.goal {
                        Goal::Deleted => println!("{} deleted", kinds::object_ref(kind, name)),
                        Goal::Ready => println!("{} condition met", kinds::object_ref(kind, name)),
                    }
                }
                return Ok(());
            }
            // Wait for the next change of this kind after what was read, then check again.
            let changes = client.watch(kind, list.revision).await?;
            let mut changes = std::pin::pin!(changes);
            loop {
                match changes.next().await {
                    Some(Ok(event)) if event.object.is_some() => break,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) if e.status() == Some(410) => break,
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                }
            }
        }
    }
}
