//! `apply -f`: create or update everything the manifests describe in one atomic request;
//! `--dry-run=client` prints what would be sent, `--dry-run=server` has the API validate it
//! and store nothing.

use super::{ApiArgs, DryRun, DryRunArg};
use crate::manifests;
use crate::output::Format;
use clap::Args;
use std::path::PathBuf;
use wasmpod_api::client::WriteMode;
use wasmpod_api::AnyObject;

#[derive(Debug, Args)]
pub struct Apply {
    /// Manifest file or directory (repeatable; `-` reads stdin)
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub dry_run: DryRunArg,
    /// With --dry-run: print the objects (yaml, json) instead of what would happen
    #[arg(short = 'o', long = "output", value_parser = crate::output::format::parse)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Apply {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = self.api.client()?;
        let objects = load_objects(
            &client,
            &self.files,
            &self.api.namespace,
            self.dry_run.dry_run,
        )
        .await?;
        if self.dry_run.dry_run == DryRun::Client {
            return print_dry_run(
                &objects,
                self.output.as_ref(),
                "configured",
                self.dry_run.suffix(),
            );
        }
        let mode = WriteMode {
            create: false,
            dry_run: self.dry_run.dry_run == DryRun::Server,
        };
        send(
            &client,
            objects,
            mode,
            self.output.as_ref(),
            self.dry_run.suffix(),
        )
        .await
    }
}

/// Parses, uploads components, and applies every object in one request (all or nothing).
pub async fn apply_files(
    client: &wasmpod_api::Client,
    files: &[PathBuf],
    namespace: &str,
) -> anyhow::Result<()> {
    let objects = load_objects(client, files, namespace, DryRun::None).await?;
    send(client, objects, WriteMode::default(), None, "").await
}

/// The objects of `files` as they are sent: each in `namespace` unless it names one, each
/// component path replaced by the digest of the uploaded component. A client dry run uploads
/// nothing and keeps the paths.
pub async fn load_objects(
    client: &wasmpod_api::Client,
    files: &[PathBuf],
    namespace: &str,
    dry_run: DryRun,
) -> anyhow::Result<Vec<AnyObject>> {
    let mut loaded = manifests::load(files)?;
    if dry_run != DryRun::Client {
        manifests::upload_components(client, &mut loaded).await?;
    }
    Ok(loaded
        .iter()
        .map(|l| {
            let mut any = l.doc.object.to_any();
            let namespaced = any.kind().is_some_and(|k| k.namespaced());
            if namespaced && any.0["metadata"].get("namespace").is_none() {
                any.0["metadata"]["namespace"] = serde_json::Value::from(namespace);
            }
            any
        })
        .collect())
}

/// Sends `objects` in one request and prints what happened to each.
pub async fn send(
    client: &wasmpod_api::Client,
    objects: Vec<AnyObject>,
    mode: WriteMode,
    output: Option<&Format>,
    suffix: &str,
) -> anyhow::Result<()> {
    if let Some(format) = output.filter(|f| matches!(f, Format::Yaml | Format::Json)) {
        client.apply_with(objects.clone(), mode).await?;
        return print_objects(&objects, format);
    }
    eprint!("applying {} object(s)... ", objects.len());
    let results = client.apply_with(objects, mode).await;
    eprintln!("{}", if results.is_ok() { "done" } else { "refused" });
    for r in results? {
        println!("{}/{} {}{suffix}", r.kind.to_lowercase(), r.name, r.action);
    }
    Ok(())
}

/// `--dry-run=client`: what would be sent, as `-o yaml|json` or one line per object.
pub fn print_dry_run(
    objects: &[AnyObject],
    output: Option<&Format>,
    action: &str,
    suffix: &str,
) -> anyhow::Result<()> {
    match output {
        Some(format @ (Format::Yaml | Format::Json)) => print_objects(objects, format),
        _ => {
            for o in objects {
                let kind = o
                    .kind()
                    .map_or("object".into(), |k| k.as_str().to_lowercase());
                println!("{kind}/{} {action}{suffix}", o.name());
            }
            Ok(())
        }
    }
}

/// Objects as YAML documents (`---` between them) or JSON (one object, or a List).
pub fn print_objects(objects: &[AnyObject], format: &Format) -> anyhow::Result<()> {
    if *format == Format::Json {
        let value = match objects {
            [one] => one.0.clone(),
            many => serde_json::json!({"apiVersion": wasmpod_api::API_VERSION, "kind": "List",
                "items": many.iter().map(|o| o.0.clone()).collect::<Vec<_>>()}),
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            println!("---");
        }
        print!("{}", serde_yaml::to_string(&o.0)?);
    }
    Ok(())
}
