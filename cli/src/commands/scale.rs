use super::ApiArgs;
use anyhow::bail;
use clap::Args;
use wasmpod_api::Kind;

#[derive(Debug, Args)]
pub struct Scale {
    /// Kind (only `deployment`)
    pub kind: String,
    /// Deployment name
    pub name: String,
    #[arg(long)]
    pub replicas: u32,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Scale {
    pub async fn run(self) -> anyhow::Result<()> {
        if Kind::from_cli(&self.kind) != Some(Kind::Deployment) {
            bail!("only deployments can be scaled, not {:?}", self.kind);
        }
        self.api.client()?.scale(&self.api.namespace, &self.name, self.replicas).await?;
        println!("deployment/{} scaled to {}", self.name, self.replicas);
        Ok(())
    }
}
