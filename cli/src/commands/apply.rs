use super::ApiArgs;
use crate::manifests;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct Apply {
    /// Manifest file or directory (repeatable; `-` reads stdin)
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Apply {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = self.api.client()?;
        apply_files(&client, &self.files, &self.api.namespace).await
    }
}

/// Parses, uploads components, and applies every object in one request (all or nothing).
pub async fn apply_files(
    client: &wasmpod_api::Client,
    files: &[PathBuf],
    namespace: &str,
) -> anyhow::Result<()> {
    let mut loaded = manifests::load(files)?;
    manifests::upload_components(client, &mut loaded).await?;
    let objects = loaded
        .iter()
        .map(|l| {
            let mut any = l.doc.object.to_any();
            if any.0["metadata"].get("namespace").is_none() {
                any.0["metadata"]["namespace"] = serde_json::Value::from(namespace);
            }
            any
        })
        .collect();
    eprint!("applying {} object(s)... ", loaded.len());
    let results = client.apply(objects).await;
    eprintln!("{}", if results.is_ok() { "done" } else { "refused" });
    for r in results? {
        println!("{}/{} {}", r.kind.to_lowercase(), r.name, r.action);
    }
    Ok(())
}
