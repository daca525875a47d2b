//! `rollout status|history|undo|restart|pause|resume deployment/NAME`, as kubectl's. Plain
//! object reads and conditional writes: `status` follows the deployment's status and
//! conditions, `history` lists its ControllerRevisions, `undo` copies a revision's template
//! back, `restart` stamps `wasmpod.dev/restartedAt` on the template, `pause`/`resume` set
//! `spec.paused`.

use super::patch::{read_change_write, report, OnConflict};
use super::{ApiArgs, DryRun, DryRunArg};
use crate::kinds;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::time::Duration;
use wasmpod_api::{
    ConditionStatus, ConditionType, ControllerRevision, Deployment, Kind, RESTARTED_AT_ANNOTATION,
};

#[derive(Debug, Args)]
pub struct Rollout {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Wait for a rollout to finish, printing its progress (non-zero exit when it fails)
    Status {
        #[command(flatten)]
        target: Target,
        /// Give up after this long (e.g. 90s, 5m); 0 waits for the progress deadline
        #[arg(long, default_value = "0s", value_parser = super::wait::parse_duration)]
        timeout: Duration,
    },
    /// List a deployment's revisions, or show one (`--revision N`)
    History {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        revision: Option<u64>,
    },
    /// Roll back to the previous revision, or to `--to-revision N`
    Undo {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        to_revision: Option<u64>,
    },
    /// Replace every pod with a new one of the same template
    Restart {
        #[command(flatten)]
        target: Target,
    },
    /// Stop rolling template changes (scaling still works)
    Pause {
        #[command(flatten)]
        target: Target,
    },
    /// Roll template changes again
    Resume {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Args)]
struct Target {
    /// deployment/NAME (or: deployment NAME)
    #[arg(required = true, num_args = 1..=2, value_name = "TYPE[/NAME]")]
    args: Vec<String>,
    #[command(flatten)]
    api: ApiArgs,
}

impl Target {
    fn name(&self) -> anyhow::Result<String> {
        let (kind, name) = kinds::single(&self.args, |k| k == Kind::Deployment)
            .context("rollout works on deployments: name one as deployment/NAME")?;
        debug_assert_eq!(kind, Kind::Deployment);
        Ok(name)
    }
}

impl Rollout {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.what {
            What::Status { target, timeout } => status(&target, timeout).await,
            What::History { target, revision } => history(&target, revision).await,
            What::Undo {
                target,
                to_revision,
            } => undo(&target, to_revision).await,
            What::Restart { target } => {
                let at = chrono::Utc::now().to_rfc3339();
                change(&target, "restarted", move |o| {
                    o["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT_ANNOTATION] =
                        serde_json::Value::from(at.clone());
                    unpin_tag(&mut o["spec"]["template"]["spec"]["component"]);
                    Ok(())
                })
                .await
            }
            What::Pause { target } => {
                change(&target, "paused", |o| {
                    o["spec"]["paused"] = serde_json::Value::Bool(true);
                    Ok(())
                })
                .await
            }
            What::Resume { target } => {
                change(&target, "resumed", |o| {
                    o["spec"]["paused"] = serde_json::Value::Bool(false);
                    Ok(())
                })
                .await
            }
        }
    }
}

async fn change(
    target: &Target,
    verb: &str,
    edit: impl Fn(&mut serde_json::Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let name = target.name()?;
    let changed = read_change_write(
        &target.api,
        Kind::Deployment,
        &name,
        DryRun::None,
        OnConflict::Retry,
        edit,
    )
    .await?;
    report(
        Kind::Deployment,
        &name,
        verb,
        changed,
        DryRunArg {
            dry_run: DryRun::None,
        },
    );
    Ok(())
}

/// The revisions of deployment `name`, oldest first.
async fn revisions(api: &ApiArgs, name: &str) -> anyhow::Result<Vec<ControllerRevision>> {
    let client = api.client()?;
    let deployment: Deployment = client
        .get_typed(Kind::Deployment, &api.namespace, name)
        .await
        .with_context(|| format!("deployment {name:?} in namespace {:?}", api.namespace))?;
    let mut revisions: Vec<ControllerRevision> = client
        .list_typed(Kind::ControllerRevision, Some(&api.namespace))
        .await?;
    revisions.retain(|r| {
        r.metadata.owner_references.iter().any(|o| {
            o.kind == "Deployment"
                && o.name == name
                && (o.uid.is_none() || o.uid == deployment.metadata.uid)
        })
    });
    revisions.sort_by_key(|r| r.spec.revision);
    Ok(revisions)
}

async fn history(target: &Target, revision: Option<u64>) -> anyhow::Result<()> {
    let name = target.name()?;
    let revisions = revisions(&target.api, &name).await?;
    match revision {
        None => {
            println!("deployment.apps/{name}");
            println!("{:<10} {:<73} CHANGE-CAUSE", "REVISION", "COMPONENT");
            for r in &revisions {
                println!(
                    "{:<10} {:<73} {}",
                    r.spec.revision,
                    r.spec.component_digest.as_deref().unwrap_or("<none>"),
                    r.spec.change_cause.as_deref().unwrap_or("<none>")
                );
            }
        }
        Some(n) => {
            let r = find(&revisions, &name, n)?;
            println!("deployment.apps/{name} with revision #{n}");
            println!(
                "Component: {}",
                r.spec.component_digest.as_deref().unwrap_or("<none>")
            );
            for c in &r.spec.config_versions {
                let version = c
                    .resource_version
                    .map_or("missing".to_string(), |v| v.to_string());
                println!("Config:    {}/{} @ {version}", c.kind, c.name);
            }
            println!("Pod Template:");
            print!("{}", serde_yaml::to_string(&r.spec.template)?);
        }
    }
    Ok(())
}

fn find<'a>(
    revisions: &'a [ControllerRevision],
    name: &str,
    n: u64,
) -> anyhow::Result<&'a ControllerRevision> {
    revisions
        .iter()
        .find(|r| r.spec.revision == n)
        .with_context(|| {
            let known: Vec<String> = revisions
                .iter()
                .map(|r| r.spec.revision.to_string())
                .collect();
            format!(
                "deployment {name:?} has no revision {n} (its revisions: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )
        })
}

async fn undo(target: &Target, to_revision: Option<u64>) -> anyhow::Result<()> {
    let name = target.name()?;
    let revisions = revisions(&target.api, &name).await?;
    let chosen = match to_revision {
        Some(n) => find(&revisions, &name, n)?,
        None => {
            // The newest revision before the current (the newest one).
            let Some((_, earlier)) = revisions.split_last() else {
                bail!("deployment {name:?} has no revisions yet");
            };
            earlier.last().with_context(|| {
                format!("deployment {name:?} has no previous revision to roll back to")
            })?
        }
    };
    let template = serde_json::to_value(&chosen.spec.template)?;
    let changed = read_change_write(
        &target.api,
        Kind::Deployment,
        &name,
        DryRun::None,
        OnConflict::Retry,
        |o| {
            o["spec"]["template"] = template.clone();
            Ok(())
        },
    )
    .await?;
    if changed {
        println!(
            "deployment/{name} rolled back to revision {}",
            chosen.spec.revision
        );
    } else {
        println!(
            "deployment/{name} skipped rollback (revision {} is current)",
            chosen.spec.revision
        );
    }
    Ok(())
}

async fn status(target: &Target, timeout: Duration) -> anyhow::Result<()> {
    let name = target.name()?;
    let client = target.api.client()?;
    let started = std::time::Instant::now();
    let mut last = String::new();
    // An automatic rollback while this waits is a failed rollout, even once the old revision
    // is back and complete.
    let mut rolled_back_before = None;
    let mut first = true;
    loop {
        let d: Deployment = client
            .get_typed(Kind::Deployment, &target.api.namespace, &name)
            .await
            .with_context(|| format!("deployment {name:?}"))?;
        let s = &d.status;
        let generation = d.metadata.generation.unwrap_or(0);
        let progressing = s.condition(ConditionType::Progressing);
        let rolled_back = s
            .condition(ConditionType::RolledBack)
            .map(|c| (c.last_update_time, c.message.clone()));
        if first {
            rolled_back_before = rolled_back.as_ref().map(|(at, _)| *at);
            first = false;
        } else if let Some((at, message)) = &rolled_back {
            if rolled_back_before != Some(*at) {
                bail!("deployment {name:?} rollout failed: {message}");
            }
        }
        let line = if s.observed_generation < generation {
            "Waiting for deployment spec update to be observed...".to_string()
        } else if let Some(c) = progressing.filter(|c| {
            c.status == ConditionStatus::False && c.reason == "ProgressDeadlineExceeded"
        }) {
            bail!(
                "deployment {name:?} exceeded its progress deadline: {}",
                c.message
            );
        } else if d.spec.paused {
            bail!("deployment {name:?} is paused: resume it with `wasmpod rollout resume deployment/{name}`");
        } else if s.updated_replicas < d.spec.replicas {
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} out of {} new replicas have been updated...",
                s.updated_replicas, d.spec.replicas
            )
        } else if s.replicas > s.updated_replicas {
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
                s.replicas - s.updated_replicas
            )
        } else if s.updated_available_replicas < s.updated_replicas {
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} of {} updated replicas are available...",
                s.updated_available_replicas, s.updated_replicas
            )
        } else {
            println!("deployment {name:?} successfully rolled out");
            return Ok(());
        };
        if line != last {
            println!("{line}");
            last = line;
        }
        if !timeout.is_zero() && started.elapsed() >= timeout {
            bail!("timed out after {timeout:?} waiting for deployment {name:?} to roll out");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An `oci://REG/REPO:TAG@sha256:...` component loses its digest, so the API server resolves the
/// tag again, as at apply: a restart picks up where the tag points now. A reference by digest
/// alone, a file's digest or anything unreadable is left as it is.
fn unpin_tag(component: &mut serde_json::Value) {
    let Some(text) = component.as_str() else {
        return;
    };
    if let Ok(wasmpod_api::ComponentRef::Oci(mut reference)) =
        wasmpod_api::ComponentRef::try_from(text.to_string())
    {
        if reference.tag.is_some() && reference.digest.take().is_some() {
            *component =
                serde_json::Value::from(wasmpod_api::ComponentRef::Oci(reference).to_string());
        }
    }
}
