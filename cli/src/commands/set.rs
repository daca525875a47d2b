//! `set image deployment/NAME COMPONENT`: points a deployment's (or statefulset's) pod template
//! at another component — a local file (uploaded, pinned by digest) or `sha256:...`.

use super::patch::{read_change_write, report, OnConflict};
use super::{ApiArgs, DryRun, DryRunArg};
use crate::kinds;
use anyhow::Context;
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct Set {
    #[command(subcommand)]
    what: SetWhat,
}

#[derive(Debug, Subcommand)]
enum SetWhat {
    /// Set the component of a deployment or statefulset: `set image deploy/hello ./hello.wasm`
    Image {
        #[arg(required = true, num_args = 2..=3, value_name = "TYPE[/NAME] COMPONENT", help = format!("{}; then the component: a .wasm file or sha256:DIGEST", kinds::help(kinds::scalable)))]
        args: Vec<String>,
        #[command(flatten)]
        dry_run: DryRunArg,
        #[command(flatten)]
        api: ApiArgs,
    },
}

impl Set {
    pub async fn run(self) -> anyhow::Result<()> {
        let SetWhat::Image { args, dry_run, api } = self.what;
        let (component, target) = args.split_last().context("name the component")?;
        let (kind, name) = kinds::single(target, kinds::scalable)?;
        let digest = if component.starts_with("sha256:") {
            component.clone()
        } else {
            let path = PathBuf::from(component);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("cannot read the component {}", path.display()))?;
            wasmpod_runtime::inspect_component(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
            if dry_run.dry_run != DryRun::Client {
                let client = api.client()?;
                if !client.blob_exists(&digest).await? {
                    client
                        .upload_blob(bytes)
                        .await
                        .with_context(|| format!("upload of {} failed", path.display()))?;
                }
            }
            digest
        };
        let changed =
            read_change_write(&api, kind, &name, dry_run.dry_run, OnConflict::Retry, |o| {
                o["spec"]["template"]["spec"]["component"] =
                    serde_json::Value::from(digest.clone());
                Ok(())
            })
            .await?;
        report(kind, &name, "image updated", changed, dry_run);
        Ok(())
    }
}
