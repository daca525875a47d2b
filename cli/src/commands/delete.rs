//! `delete`: by kind and names (`delete deploy a b`, `delete deployment/x`), by selector
//! (`delete pods -l app=web`) or by manifest (`-f`); `--dry-run=client|server` deletes nothing.
//! As kubectl, it waits until what it deleted is gone (`--wait`, `--timeout`, see
//! [`super::delete_wait`]); `--cascade` says what becomes of a Deployment's or StatefulSet's pods.

use super::delete_wait::{self, Dependents};
use super::{ApiArgs, DryRun, DryRunArg, SelectorArgs};
use crate::kinds::{self, Target};
use crate::manifests;
use anyhow::bail;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;
use wasmpod_api::client::PropagationPolicy;
use wasmpod_api::{Client, Kind};

/// `--cascade`: what becomes of the pods a Deployment or StatefulSet owns. kubectl's old
/// `--cascade=true|false` are taken as `background|orphan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Cascade {
    /// The owner goes at once; its pods drain, then go
    #[default]
    #[value(alias = "true")]
    Background,
    /// As background, and the command waits for the pods to be gone too
    Foreground,
    /// The pods stay and keep running, without an owner
    #[value(alias = "false")]
    Orphan,
}

/// `-o name`: `kind/name` of each object deleted, nothing else, on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeleteOutput {
    Name,
}

#[derive(Debug, Args)]
pub struct Delete {
    #[arg(help = kinds::help(kinds::deletable), value_name = "TYPE[/NAME]")]
    pub args: Vec<String>,
    /// Delete what these manifests describe
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// With -l: in every namespace
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[command(flatten)]
    pub selector: SelectorArgs,
    #[command(flatten)]
    pub dry_run: DryRunArg,
    /// Wait until the objects are gone from the API (a pod once drained, a namespace with its
    /// pods); --wait=false returns once the deletes are accepted
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", require_equals = true, action = clap::ArgAction::Set)]
    pub wait: bool,
    /// How long --wait waits (30s, 2m, 500ms); 0, the default, waits as long as it takes
    #[arg(long, default_value = "0s", value_parser = super::wait::parse_duration)]
    pub timeout: Duration,
    /// background (a Deployment's or StatefulSet's pods drain after it), foreground (and wait
    /// for them) or orphan (they keep running)
    #[arg(long, value_enum, default_value = "background", num_args = 0..=1, default_missing_value = "background", require_equals = true)]
    pub cascade: Cascade,
    /// name: print only kind/name of each object deleted
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<DeleteOutput>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Owns pods: `--cascade` is about these.
fn owns_pods(kind: Kind) -> bool {
    matches!(kind, Kind::Deployment | Kind::StatefulSet)
}

impl Delete {
    pub async fn run(self) -> anyhow::Result<()> {
        if let Some((first, names)) = self.args.split_first() {
            if matches!(first.as_str(), "token" | "tokens") {
                return super::tokens::delete(&self.api, names).await;
            }
            if super::client_certificates::names_them(first) {
                return super::client_certificates::delete(&self.api, names).await;
            }
        }
        let client = self.api.client()?;
        let mut objects = Vec::new();
        if !self.files.is_empty() {
            if !self.args.is_empty() || self.selector.is_set() {
                bail!("give -f FILE or kinds and names, not both");
            }
            for l in manifests::load(&self.files)? {
                let o = &l.doc.object;
                let ns = if l.doc.object.to_any().0["metadata"]
                    .get("namespace")
                    .is_some()
                {
                    o.namespace().to_string()
                } else {
                    self.api.namespace.clone()
                };
                objects.push((o.kind(), ns, o.name().to_string()));
            }
        } else {
            if self.args.is_empty() {
                bail!("name a kind and names (`delete deployment hello`, `delete deploy/hello`), a kind and -l SELECTOR, or use -f FILE")
            }
            let targets = kinds::targets(&self.args, kinds::deletable)?;
            let named = targets.iter().any(|t| t.name.is_some());
            match (named, self.selector.is_set()) {
                (true, true) => bail!("give names or a selector (-l, --field-selector), not both"),
                (false, false) => bail!(
                    "name the {} to delete, or select them with -l",
                    targets
                        .iter()
                        .map(|t| t.kind.plural())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => {}
            }
            for Target { kind, name } in targets {
                match name {
                    Some(name) => objects.push((kind, self.api.namespace.clone(), name)),
                    None => {
                        let ns = (!self.all_namespaces).then_some(self.api.namespace.as_str());
                        let found = client
                            .list_selected(kind, ns, &self.selector.options())
                            .await?;
                        objects.extend(
                            found
                                .items
                                .iter()
                                .map(|o| (kind, o.namespace().to_string(), o.name().to_string())),
                        );
                    }
                }
            }
            if objects.is_empty() {
                eprintln!("No resources found.");
                return Ok(());
            }
        }
        if self.cascade == Cascade::Orphan && objects.iter().any(|(k, _, _)| *k == Kind::Namespace)
        {
            bail!("--cascade=orphan cannot be used for a namespace: everything in it goes with it");
        }
        let waits = self.wait && self.dry_run.dry_run == DryRun::None;
        let suffix = self.dry_run.suffix();
        let mut missing = Vec::new();
        let mut pending = Vec::new();
        for (kind, ns, name) in objects {
            let shown = kinds::object_ref(kind, &name);
            let uid = if waits {
                uid_of(&client, kind, &ns, &name).await
            } else {
                None
            };
            let result = match (self.dry_run.dry_run, self.cascade) {
                (DryRun::None, Cascade::Orphan) if owns_pods(kind) => {
                    client
                        .delete_propagating(kind, &ns, &name, PropagationPolicy::Orphan)
                        .await
                }
                (DryRun::None, _) => client.delete(kind, &ns, &name).await,
                (DryRun::Server, _) => client.delete_dry_run(kind, &ns, &name).await.map(|()| None),
                (DryRun::Client, _) => Ok(None),
            };
            match result {
                Ok(message) if waits => {
                    // What the server says of the way it goes (drains, orphans) is progress.
                    if let Some(message) = message {
                        eprintln!("{shown}: {message}");
                    }
                    let dependents = match kind {
                        Kind::Namespace => Dependents::NamespacePods,
                        k if owns_pods(k) && self.cascade == Cascade::Foreground => {
                            Dependents::OwnedPods
                        }
                        _ => Dependents::None,
                    };
                    pending.push(delete_wait::Deleted {
                        kind,
                        namespace: ns,
                        name,
                        uid,
                        dependents,
                    });
                }
                Ok(message) if self.output == Some(DeleteOutput::Name) => {
                    if let Some(message) = message {
                        eprintln!("{shown}: {message}");
                    }
                    println!("{shown}");
                }
                Ok(None) if kind == Kind::Node && suffix.is_empty() => {
                    println!("{}", deleted_line(kind, &name))
                }
                Ok(None) => println!("{shown} deleted{suffix}"),
                Ok(Some(message)) => println!("{shown}: {message}"),
                Err(e) if e.is_not_found() => missing.push(e),
                Err(e) => return Err(e.into()),
            }
        }
        if !pending.is_empty() {
            let timeout = (!self.timeout.is_zero()).then_some(self.timeout);
            let name_only = self.output == Some(DeleteOutput::Name);
            let waited = delete_wait::until_gone(&client, pending, timeout, |gone| {
                if name_only {
                    println!("{}", gone.shown());
                } else {
                    println!("{}", deleted_line(gone.kind, &gone.name));
                }
            })
            .await;
            if let Err(error) = waited {
                for not_found in &missing {
                    eprintln!("error: {not_found}");
                }
                return Err(error);
            }
        }
        super::report_missing(missing)
    }
}

/// `pod/x deleted`; a node's line says its credential no longer works.
fn deleted_line(kind: Kind, name: &str) -> String {
    if kind == Kind::Node {
        format!("node/{name} deleted (its credential is revoked)")
    } else {
        format!("{} deleted", kinds::object_ref(kind, name))
    }
}

/// The uid of the object about to be deleted, so that the wait does not take an object made
/// again under its name (a StatefulSet's pod) for it. Not read (not found, not allowed): the
/// delete itself says why, and the wait goes by name.
async fn uid_of(client: &Client, kind: Kind, namespace: &str, name: &str) -> Option<String> {
    match client.get(kind, namespace, name).await {
        Ok(object) => object
            .0
            .pointer("/metadata/uid")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        Err(error) => {
            tracing::debug!(%error, kind = kind.plural(), name, "cannot read the uid before the delete");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Line {
        #[command(flatten)]
        delete: Delete,
    }

    fn parse(args: &[&str]) -> Result<Delete, clap::Error> {
        Line::try_parse_from(std::iter::once("delete").chain(args.iter().copied()))
            .map(|line| line.delete)
    }

    #[test]
    fn delete_waits_without_limit_and_cascades_in_the_background_by_default() {
        let d = parse(&["pod/x"]).expect("parses");
        assert!(d.wait);
        assert_eq!(d.timeout, Duration::ZERO);
        assert_eq!(d.cascade, Cascade::Background);
        assert_eq!(d.output, None);
        let d = parse(&[
            "pod/x",
            "--wait=false",
            "--timeout",
            "1s",
            "--cascade=foreground",
            "-o",
            "name",
        ])
        .expect("parses");
        assert!(!d.wait);
        assert_eq!(d.timeout, Duration::from_secs(1));
        assert_eq!(d.cascade, Cascade::Foreground);
        assert_eq!(d.output, Some(DeleteOutput::Name));
        assert!(parse(&["pod/x", "--wait"]).expect("parses").wait);
        assert!(parse(&["pod/x", "--wait=true"]).expect("parses").wait);
        assert_eq!(
            parse(&["pod/x", "--timeout=500ms"])
                .expect("parses")
                .timeout,
            Duration::from_millis(500)
        );
    }

    #[test]
    fn cascade_takes_kubectls_values_and_its_old_booleans() {
        let cascade = |arg: &str| parse(&["deploy/x", arg]).expect("parses").cascade;
        assert_eq!(cascade("--cascade"), Cascade::Background);
        assert_eq!(cascade("--cascade=background"), Cascade::Background);
        assert_eq!(cascade("--cascade=true"), Cascade::Background);
        assert_eq!(cascade("--cascade=orphan"), Cascade::Orphan);
        assert_eq!(cascade("--cascade=false"), Cascade::Orphan);
        assert_eq!(cascade("--cascade=foreground"), Cascade::Foreground);
    }

    #[test]
    fn a_bad_value_is_an_error_naming_its_flag() {
        let error = |args: &[&str]| parse(args).expect_err("refused").to_string();
        let e = error(&["deploy/x", "--cascade=sideways"]);
        assert!(e.contains("--cascade") && e.contains("foreground"), "{e}");
        let e = error(&["pod/x", "--wait=maybe"]);
        assert!(e.contains("--wait"), "{e}");
        let e = error(&["pod/x", "--timeout", "5 years"]);
        assert!(e.contains("--timeout"), "{e}");
        let e = error(&["pod/x", "-o", "yaml"]);
        assert!(e.contains("--output"), "{e}");
    }
}
