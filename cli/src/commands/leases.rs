//! `wasmpod get leases`: who runs the controllers (the holder of the leader lease) and which
//! API servers are live.

use super::ApiArgs;
use crate::output::{age, Format, Table};
use wasmpod_api::cluster::ClusterStatus;

pub async fn print(api: &ApiArgs, format: Format) -> anyhow::Result<()> {
    let status = api.client()?.cluster().await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(&status)?),
        Format::Table | Format::Wide => print!("{}", table(&status)),
        other => {
            anyhow::bail!("-o {other:?} is not available for leases: use table, wide, yaml or json")
        }
    }
    Ok(())
}

fn table(status: &ClusterStatus) -> String {
    let mut leases = Table::new(&["NAME", "HOLDER", "URL", "SINCE", "TTL"]);
    match &status.leader {
        Some(leader) => leases.row(vec![
            "controllers".into(),
            leader.holder.clone(),
            leader.url.clone(),
            age(Some(leader.since)),
            leader
                .lease_ttl_seconds
                .map(|s| format!("{s}s"))
                .unwrap_or_else(|| "-".into()),
        ]),
        None => leases.row(vec![
            "controllers".into(),
            "<none>".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ]),
    }
    let mut servers = Table::new(&["SERVER", "URL", "AGE"]);
    for server in &status.servers {
        servers.row(vec![
            server.name.clone(),
            server.url.clone(),
            age(Some(server.started)),
        ]);
    }
    format!(
        "{}\n{}election: {}\n",
        leases.render(),
        servers.render(),
        status.election
    )
}
