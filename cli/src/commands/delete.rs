use super::ApiArgs;
use crate::manifests;
use anyhow::{bail, Context};
use clap::Args;
use std::path::PathBuf;
use wasmpod_api::Kind;

#[derive(Debug, Args)]
pub struct Delete {
    /// Kind of resource (deployment, service, ingress, pod, node)
    pub kind: Option<String>,
    /// Names of the resources
    pub names: Vec<String>,
    /// Delete what these manifests describe
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Delete {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = self.api.client()?;
        let mut targets = Vec::new();
        if !self.files.is_empty() {
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
                targets.push((o.kind(), ns, o.name().to_string()));
            }
        } else {
            let Some(kind_text) = &self.kind else {
                bail!("name a kind and names (`delete deployment hello`) or use -f FILE")
            };
            let kind = Kind::from_cli(kind_text)
                .with_context(|| format!("unknown resource type {kind_text:?}"))?;
            if self.names.is_empty() {
                bail!("name the {} to delete", kind.plural());
            }
            for name in &self.names {
                targets.push((kind, self.api.namespace.clone(), name.clone()));
            }
        }
        let mut failed = 0;
        for (kind, ns, name) in targets {
            match client.delete(kind, &ns, &name).await {
                Ok(None) if kind == Kind::Node => {
                    println!("node/{name} deleted (its credential is revoked)")
                }
                Ok(None) => println!("{}/{name} deleted", kind.as_str().to_lowercase()),
                Ok(Some(message)) => println!("{}/{name}: {message}", kind.as_str().to_lowercase()),
                Err(e) if e.is_not_found() => {
                    eprintln!("error: {} {name:?} not found", kind.as_str().to_lowercase());
                    failed += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if failed > 0 {
            bail!("{failed} object(s) were not found");
        }
        Ok(())
    }
}
