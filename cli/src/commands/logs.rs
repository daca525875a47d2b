use super::ApiArgs;
use clap::Args;

#[derive(Debug, Args)]
pub struct Logs {
    /// Pod name
    pub pod: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Logs {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = self.api.client()?;
        let text = client.logs(&self.api.namespace, &self.pod).await?;
        print!("{text}");
        Ok(())
    }
}
