use super::ApiArgs;
use anyhow::bail;
use clap::Args;
use wasmpod_api::Kind;

#[derive(Debug, Args)]
pub struct Scale {
    /// Kind: deployment or statefulset
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
        let kind = match Kind::from_cli(&self.kind) {
            Some(kind @ (Kind::Deployment | Kind::StatefulSet)) => kind,
            _ => bail!(
                "only deployments and statefulsets can be scaled, not {:?}",
                self.kind
            ),
        };
        self.api
            .client()?
            .scale(kind, &self.api.namespace, &self.name, self.replicas)
            .await?;
        println!(
            "{}/{} scaled to {}",
            kind.as_str().to_lowercase(),
            self.name,
            self.replicas
        );
        Ok(())
    }
}
