//! `create token NAME --role admin|edit|view [--namespace NS]` (prints the secret once),
//! `get tokens` (never a secret), `delete token NAME`.

use super::ApiArgs;
use crate::output::{age, Format, Table};
use clap::Args;
use wasmpod_api::tokens::{Role, TokenRequest};

/// `create token`: its own `--namespace` (the token's scope, none by default), so it takes the
/// server and token flags by themselves rather than the shared [`ApiArgs`].
#[derive(Debug, Args)]
pub struct CreateToken {
    name: String,
    /// admin (everything), edit (workloads, config and secrets), view (reads all but Secrets)
    #[arg(long)]
    role: Role,
    /// The one namespace the token may touch (default: every namespace)
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// API server URL (default: the client config)
    #[arg(long, env = "WASMPOD_SERVER")]
    server: Option<String>,
    /// Bearer token for the API
    #[arg(long, env = "WASMPOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl CreateToken {
    pub async fn run(self) -> anyhow::Result<()> {
        let request = TokenRequest {
            name: wasmpod_api::Name::try_from(self.name.as_str())
                .map_err(|e| anyhow::anyhow!("token name {:?}: {e}", self.name))?,
            role: self.role,
            namespace: self
                .namespace
                .map(wasmpod_api::name::Namespace::try_from)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--namespace: {e}"))?,
        };
        let client = crate::config::client(self.server.as_deref(), self.token.as_deref())?;
        let issued = client.create_token(&request).await?;
        let scope = issued
            .info
            .namespace
            .as_deref()
            .map(|ns| format!(" in namespace {ns}"))
            .unwrap_or_default();
        eprintln!(
            "token {:?} created with role {}{scope}; it is shown this once:",
            issued.info.name, issued.info.role
        );
        println!("{}", issued.token);
        Ok(())
    }
}

pub async fn print(api: &ApiArgs, format: Format) -> anyhow::Result<()> {
    let tokens = api.client()?.tokens().await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&tokens)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(&tokens)?),
        Format::Table | Format::Wide => {
            let mut table = Table::new(&["NAME", "ROLE", "NAMESPACE", "AGE"]);
            for token in &tokens {
                table.row(vec![
                    token.name.clone(),
                    token.role.to_string(),
                    token.namespace.clone().unwrap_or_else(|| "*".into()),
                    age(Some(token.created)),
                ]);
            }
            print!("{}", table.render());
        }
        other => {
            anyhow::bail!("-o {other:?} is not available for tokens: use table, wide, yaml or json")
        }
    }
    Ok(())
}

/// `delete token NAME...`
pub async fn delete(api: &ApiArgs, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        anyhow::bail!("name the token to delete: `wasmpod delete token NAME`");
    }
    let client = api.client()?;
    for name in names {
        client.delete_token(name).await?;
        println!("token \"{name}\" deleted");
    }
    Ok(())
}
