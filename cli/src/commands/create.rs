//! `create secret generic|configmap|namespace NAME`: refused with AlreadyExists when the name
//! is taken (never a silent replacement); `--dry-run=client -o yaml | wasmpod apply -f -` turns
//! it into an update, as with kubectl.

use super::apply::{print_dry_run, send};
use super::{ApiArgs, DryRun, DryRunArg};
use crate::output::Format;
use anyhow::{bail, Context};
use base64::Engine as _;
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct Create {
    #[command(subcommand)]
    what: CreateWhat,
}

#[derive(Debug, Subcommand)]
enum CreateWhat {
    /// Create a Secret: `create secret generic NAME --from-literal k=v --from-file path`
    Secret {
        /// Only `generic` (Opaque) secrets
        #[arg(value_parser = ["generic"])]
        secret_type: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Create a ConfigMap: `create configmap NAME --from-literal k=v --from-file path`
    #[command(alias = "cm")]
    Configmap {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Create an API token with a role: `create token NAME --role edit --namespace dev`
    Token(super::tokens::CreateToken),
    /// Create a client certificate of the cluster CA for a tool (e.g. Prometheus scraping the
    /// nodes of a TLS cluster): `create client-certificate NAME --out DIR`
    ClientCertificate(super::client_certificate::CreateClientCertificate),
    /// Create a Namespace: `create namespace NAME`
    #[command(alias = "ns")]
    Namespace {
        name: String,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// How the object is written and printed.
#[derive(Debug, Args)]
struct WriteArgs {
    #[command(flatten)]
    dry_run: DryRunArg,
    /// With --dry-run: print the object (yaml, json) instead of what would happen
    #[arg(short = 'o', long = "output", value_parser = crate::output::format::parse)]
    output: Option<Format>,
}

#[derive(Debug, Args)]
struct DataArgs {
    name: String,
    /// key=value (repeatable)
    #[arg(long = "from-literal")]
    literals: Vec<String>,
    /// A file; its name is the key (or key=path) (repeatable)
    #[arg(long = "from-file")]
    files: Vec<String>,
    #[command(flatten)]
    write: WriteArgs,
    #[command(flatten)]
    api: ApiArgs,
}

impl DataArgs {
    fn collect(&self) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
        let mut data = BTreeMap::new();
        for literal in &self.literals {
            let (k, v) = literal
                .split_once('=')
                .with_context(|| format!("--from-literal {literal:?} is not key=value"))?;
            data.insert(k.to_string(), v.as_bytes().to_vec());
        }
        for spec in &self.files {
            let (key, path) = match spec.split_once('=') {
                Some((k, p)) => (k.to_string(), PathBuf::from(p)),
                None => {
                    let path = PathBuf::from(spec);
                    let key = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .with_context(|| format!("--from-file {spec:?} has no file name"))?
                        .to_string();
                    (key, path)
                }
            };
            let bytes = std::fs::read(&path)
                .with_context(|| format!("--from-file: cannot read {}", path.display()))?;
            data.insert(key, bytes);
        }
        if data.is_empty() {
            bail!("give at least one --from-literal or --from-file");
        }
        Ok(data)
    }
}

impl Create {
    pub async fn run(self) -> anyhow::Result<()> {
        let what = match self.what {
            CreateWhat::Token(token) => return token.run().await,
            CreateWhat::ClientCertificate(certificate) => return certificate.run().await,
            other => other,
        };
        let (object, write, api) = match &what {
            CreateWhat::Token(_) | CreateWhat::ClientCertificate(_) => {
                unreachable!("returned above")
            }
            CreateWhat::Secret { data, .. } => {
                let values: BTreeMap<String, String> = data
                    .collect()?
                    .into_iter()
                    .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
                    .collect();
                (
                    serde_json::json!({"apiVersion": wasmpod_api::API_VERSION, "kind": "Secret",
                    "metadata": {"name": data.name, "namespace": data.api.namespace}, "type": "Opaque", "data": values}),
                    &data.write,
                    &data.api,
                )
            }
            CreateWhat::Configmap { data } => {
                let mut values = BTreeMap::new();
                for (k, v) in data.collect()? {
                    let text = String::from_utf8(v).with_context(|| {
                        format!("{k}: a ConfigMap holds text; use a Secret for binary data")
                    })?;
                    values.insert(k, text);
                }
                (
                    serde_json::json!({"apiVersion": wasmpod_api::API_VERSION, "kind": "ConfigMap",
                    "metadata": {"name": data.name, "namespace": data.api.namespace}, "data": values}),
                    &data.write,
                    &data.api,
                )
            }
            CreateWhat::Namespace { name, write, api } => (
                serde_json::json!({"apiVersion": wasmpod_api::API_VERSION, "kind": "Namespace",
                    "metadata": {"name": name}, "spec": {}}),
                write,
                api,
            ),
        };
        let object = wasmpod_api::AnyObject(object);
        // Checked here as the server would, so a client dry run refuses what apply would.
        wasmpod_api::manifest::UserObject::from_any(&object)?;
        let suffix = write.dry_run.suffix();
        if write.dry_run.dry_run == DryRun::Client {
            return print_dry_run(&[object], write.output.as_ref(), "created", suffix);
        }
        let mode = wasmpod_api::client::WriteMode {
            create: true,
            dry_run: write.dry_run.dry_run == DryRun::Server,
        };
        send(
            &api.client()?,
            vec![object],
            mode,
            write.output.as_ref(),
            suffix,
        )
        .await
    }
}
