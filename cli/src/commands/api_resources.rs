//! `api-resources`: every kind the API serves, from [`Kind::ALL`], with its short names and
//! whether it lives in a namespace.

use crate::output::Table;
use clap::Args;
use wasmpod_api::Kind;

#[derive(Debug, Args)]
pub struct ApiResources {
    /// Only namespaced (true) or cluster (false) kinds
    #[arg(long)]
    pub namespaced: Option<bool>,
}

impl ApiResources {
    pub fn run(self) -> anyhow::Result<()> {
        let mut table = Table::new(&[
            "NAME",
            "SHORTNAMES",
            "APIVERSION",
            "NAMESPACED",
            "KIND",
            "WRITTEN BY",
        ]);
        for kind in Kind::ALL {
            if self.namespaced.is_some_and(|n| n != kind.namespaced()) {
                continue;
            }
            table.row(vec![
                kind.plural().to_string(),
                kind.short_names().join(","),
                wasmpod_api::API_VERSION.to_string(),
                kind.namespaced().to_string(),
                kind.as_str().to_string(),
                if kind.user_creatable() {
                    "apply"
                } else {
                    "the system"
                }
                .to_string(),
            ]);
        }
        print!("{}", table.render());
        Ok(())
    }
}
