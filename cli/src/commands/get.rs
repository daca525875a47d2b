//! `get`: list objects of one or more kinds (`get pods`, `get deploy a b`, `get deploy/a svc/b`,
//! `get all`), narrowed by `-l` / `--field-selector`, printed as a table or `-o` anything; `-w` then prints each change as it comes (get_watch.rs).

use super::get_watch::{self, WatchTarget};
use super::{ApiArgs, SelectorArgs};
use crate::kinds::{self, Target};
use crate::output::jsonpath::Path;
use crate::output::print::{self, Found, PrintOptions};
use crate::output::Format;
use anyhow::{bail, Context};
use clap::Args;
use wasmpod_api::{AnyObject, Kind};

#[derive(Debug, Args)]
pub struct Get {
    #[arg(required = true, help = kinds::help(kinds::any), value_name = "TYPE[/NAME]")]
    pub args: Vec<String>,
    /// Output format: table, wide, yaml, json, name, jsonpath=TEMPLATE, custom-columns=SPEC
    #[arg(short = 'o', long = "output", value_parser = crate::output::format::parse, default_value = "table")]
    pub output: Format,
    /// Every namespace (adds a NAMESPACE column)
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Print secret values in -o yaml/json (hidden otherwise)
    #[arg(long)]
    pub show_secrets: bool,
    /// Leave out the header line
    #[arg(long)]
    pub no_headers: bool,
    /// Add a LABELS column
    #[arg(long)]
    pub show_labels: bool,
    /// Sort by a JSONPath, e.g. .metadata.name or {.status.restartCount}
    #[arg(long)]
    pub sort_by: Option<String>,
    /// After the list, print each change as it comes (until Ctrl-C)
    #[arg(short = 'w', long)]
    pub watch: bool,
    #[command(flatten)]
    pub selector: SelectorArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Get {
    pub async fn run(self) -> anyhow::Result<()> {
        if let [only] = self.args.as_slice() {
            if self.watch
                && (matches!(only.as_str(), "leases" | "lease" | "tokens" | "token")
                    || super::client_certificates::names_them(only))
            {
                bail!("{only} cannot be watched");
            }
            if matches!(only.as_str(), "leases" | "lease") {
                return super::leases::print(&self.api, self.output).await;
            }
            if matches!(only.as_str(), "tokens" | "token") {
                return super::tokens::print(&self.api, self.output).await;
            }
            if super::client_certificates::names_them(only) {
                return super::client_certificates::print(&self.api, self.output).await;
            }
        }
        let targets = kinds::targets(&self.args, kinds::any)?;
        let by_name = targets.iter().any(|t| t.name.is_some());
        if by_name && self.selector.is_set() {
            bail!("give names or a selector (-l, --field-selector), not both");
        }
        let sort_by = match &self.sort_by {
            Some(text) => {
                let text = text.trim();
                let inner = text
                    .strip_prefix('{')
                    .and_then(|t| t.strip_suffix('}'))
                    .unwrap_or(text);
                Some(Path::parse(inner)?)
            }
            None => None,
        };
        let client = self.api.client()?;
        let namespace = (!self.all_namespaces).then_some(self.api.namespace.as_str());
        let mut groups: Vec<(Kind, Vec<AnyObject>)> = Vec::new();
        let mut missing = Vec::new();
        let mut watches: Vec<WatchTarget> = Vec::new();
        for Target { kind, name } in &targets {
            if self.watch && !watches.iter().any(|w| w.kind == *kind) {
                // The revision to watch from: a list's, read before the objects are.
                let revision = client
                    .list_selected(*kind, namespace, &self.selector.options())
                    .await?
                    .revision;
                watches.push(WatchTarget {
                    kind: *kind,
                    revision,
                    names: Some(Vec::new()),
                });
            }
            if let Some(watch) = watches.iter_mut().find(|w| w.kind == *kind) {
                match (name, &mut watch.names) {
                    (Some(name), Some(names)) => names.push(name.clone()),
                    // The whole kind was asked for too: every object of it is watched.
                    (None, names) => *names = None,
                    (Some(_), None) => {}
                }
            }
            let items = match name {
                Some(name) => match client.get(*kind, &self.api.namespace, name).await {
                    Ok(object) => vec![object],
                    Err(e) if e.is_not_found() => {
                        missing.push(e);
                        Vec::new()
                    }
                    Err(e) => return Err(e.into()),
                },
                None => {
                    let mut items = client
                        .list_selected(*kind, namespace, &self.selector.options())
                        .await?
                        .items;
                    items.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
                    items
                }
            };
            match groups.iter_mut().find(|(k, _)| k == kind) {
                Some((_, existing)) => existing.extend(items),
                None => groups.push((*kind, items)),
            }
        }
        let all_pods = if groups
            .iter()
            .any(|(k, items)| *k == Kind::Node && !items.is_empty())
        {
            client.list(Kind::Pod, None).await?.items
        } else {
            Vec::new()
        };
        let node_certificates = if self.output == Format::Wide
            && groups
                .iter()
                .any(|(k, items)| *k == Kind::Node && !items.is_empty())
        {
            match client.node_certificates().await {
                Ok(certificates) => certificates,
                // A plain-HTTP cluster: nodes have no certificates.
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e).context("reading the nodes' certificates"),
            }
        } else {
            Vec::new()
        };
        let empty = groups.iter().all(|(_, items)| items.is_empty());
        let single = targets.len() == 1 && by_name;
        let options = PrintOptions {
            format: self.output,
            no_headers: self.no_headers,
            show_labels: self.show_labels,
            all_namespaces: self.all_namespaces,
            sort_by,
            show_secrets: self.show_secrets,
            node_certificates,
        };
        if !(empty && (single || matches!(options.format, Format::Table | Format::Wide))) {
            print!(
                "{}",
                print::render(Found { groups, single }, &options, &all_pods)?
            );
        }
        if !missing.is_empty() {
            return super::report_missing(missing);
        }
        if empty && matches!(options.format, Format::Table | Format::Wide) {
            match namespace.filter(|_| targets.iter().any(|t| t.kind.namespaced())) {
                Some(ns) => eprintln!("No resources found in {ns} namespace."),
                None => eprintln!("No resources found."),
            }
        }
        if self.watch {
            let selector = self.selector.options();
            return get_watch::follow(&client, watches, namespace, &selector, &options, &all_pods)
                .await;
        }
        Ok(())
    }
}
