//! `delete`: by kind and names (`delete deploy a b`, `delete deployment/x`), by selector
//! (`delete pods -l app=web`) or by manifest (`-f`); `--dry-run=client|server` deletes nothing.

use super::{ApiArgs, DryRun, DryRunArg, SelectorArgs};
use crate::kinds::{self, Target};
use crate::manifests;
use anyhow::bail;
use clap::Args;
use std::path::PathBuf;
use wasmpod_api::Kind;

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
    #[command(flatten)]
    pub api: ApiArgs,
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
        let suffix = self.dry_run.suffix();
        let mut missing = Vec::new();
        for (kind, ns, name) in objects {
            let shown = kinds::object_ref(kind, &name);
            let result = match self.dry_run.dry_run {
                DryRun::None => client.delete(kind, &ns, &name).await,
                DryRun::Server => client.delete_dry_run(kind, &ns, &name).await.map(|()| None),
                DryRun::Client => Ok(None),
            };
            match result {
                Ok(None) if kind == Kind::Node && suffix.is_empty() => {
                    println!("node/{name} deleted (its credential is revoked)")
                }
                Ok(None) => println!("{shown} deleted{suffix}"),
                Ok(Some(message)) => println!("{shown}: {message}"),
                Err(e) if e.is_not_found() => missing.push(e),
                Err(e) => return Err(e.into()),
            }
        }
        super::report_missing(missing)
    }
}
