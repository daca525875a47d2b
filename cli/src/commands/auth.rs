//! `auth whoami`: who the API token proves this client is, its role and the namespaces it may
//! read, as `kubectl auth whoami` prints it (`GET /api/v1/whoami`).

use super::ApiArgs;
use crate::output::{Format, Table};
use clap::{Args, Subcommand};
use wasmpod_api::whoami::WhoAmI;

#[derive(Debug, Args)]
pub struct Auth {
    #[command(subcommand)]
    pub command: AuthCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Who the API token is: its name, role and the namespaces it may read
    Whoami(Whoami),
}

#[derive(Debug, Args)]
pub struct Whoami {
    /// Output format: table, yaml or json
    #[arg(short = 'o', long = "output", value_parser = crate::output::format::parse, default_value = "table")]
    pub output: Format,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Auth {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            AuthCommand::Whoami(whoami) => whoami.run().await,
        }
    }
}

impl Whoami {
    async fn run(self) -> anyhow::Result<()> {
        let who = self.api.client()?.whoami().await?;
        match self.output {
            Format::Json => println!("{}", serde_json::to_string_pretty(&who)?),
            Format::Yaml => print!("{}", serde_yaml::to_string(&who)?),
            Format::Table | Format::Wide => print!("{}", table(&who).render()),
            other => anyhow::bail!(
                "-o {other:?} is not available for auth whoami: use table, yaml or json"
            ),
        }
        Ok(())
    }
}

fn table(who: &WhoAmI) -> Table {
    let mut table = Table::new(&["ATTRIBUTE", "VALUE"]);
    table.row(vec!["Identity".to_string(), who.identity.clone()]);
    if let Some(role) = who.role {
        table.row(vec!["Role".to_string(), role.to_string()]);
    }
    let namespaces = match &who.namespaces {
        Some(namespaces) => namespaces.join(", "),
        None => "(all)".to_string(),
    };
    table.row(vec!["Namespaces".to_string(), namespaces]);
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::tokens::Role;

    /// The VALUE of the row named `attribute`.
    fn value<'a>(text: &'a str, attribute: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|line| line.strip_prefix(attribute))
            .map(str::trim)
    }

    #[test]
    fn a_namespaced_token_shows_its_role_and_namespace() {
        let who = WhoAmI {
            identity: r#"token "ci" (role edit, namespace dev)"#.to_string(),
            role: Some(Role::Edit),
            namespaces: Some(vec!["dev".to_string()]),
        };
        let text = table(&who).render();
        assert_eq!(
            value(&text, "Identity"),
            Some(r#"token "ci" (role edit, namespace dev)"#)
        );
        assert_eq!(value(&text, "Role"), Some("edit"));
        assert_eq!(value(&text, "Namespaces"), Some("dev"));
    }

    #[test]
    fn a_cluster_wide_token_reads_every_namespace() {
        let who = WhoAmI {
            identity: "the admin".to_string(),
            role: Some(Role::Admin),
            namespaces: None,
        };
        let text = table(&who).render();
        assert_eq!(value(&text, "Namespaces"), Some("(all)"));
    }
}
