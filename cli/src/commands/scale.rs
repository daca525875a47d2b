//! `scale deployment hello --replicas 3` (or `deployment/hello`); `--dry-run=server` has the
//! API check it and change nothing.

use super::{ApiArgs, DryRun, DryRunArg};
use crate::kinds;
use clap::Args;

#[derive(Debug, Args)]
pub struct Scale {
    #[arg(required = true, num_args = 1..=2, help = kinds::help(kinds::scalable), value_name = "TYPE[/NAME]")]
    pub args: Vec<String>,
    #[arg(long)]
    pub replicas: u32,
    #[command(flatten)]
    pub dry_run: DryRunArg,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Scale {
    pub async fn run(self) -> anyhow::Result<()> {
        let (kind, name) = kinds::single(&self.args, kinds::scalable)?;
        let client = self.api.client()?;
        match self.dry_run.dry_run {
            DryRun::None => {
                client
                    .scale(kind, &self.api.namespace, &name, self.replicas)
                    .await?
            }
            DryRun::Server => {
                client
                    .scale_dry_run(kind, &self.api.namespace, &name, self.replicas)
                    .await?
            }
            DryRun::Client => {}
        }
        println!(
            "{} scaled to {}{}",
            kinds::object_ref(kind, &name),
            self.replicas,
            self.dry_run.suffix()
        );
        Ok(())
    }
}
