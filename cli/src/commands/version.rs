//! `version`: this binary's version and the API server's (`GET /version`).

use super::ApiArgs;
use clap::Args;

#[derive(Debug, Args)]
pub struct Version {
    /// Only the client's version (no request)
    #[arg(long)]
    pub client: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Version {
    pub async fn run(self) -> anyhow::Result<()> {
        println!("Client Version: {}", env!("CARGO_PKG_VERSION"));
        if self.client {
            return Ok(());
        }
        let client = self.api.client()?;
        let server = client.server_version().await?;
        println!("Server Version: {} ({})", server.version, client.server());
        Ok(())
    }
}
