use super::ApiArgs;
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
        let (kind, data_args, object) = match &self.what {
            CreateWhat::Secret { data, .. } => {
                let values: BTreeMap<String, String> = data
                    .collect()?
                    .into_iter()
                    .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
                    .collect();
                (
                    "secret",
                    data,
                    serde_json::json!({"apiVersion": wasmpod_api::API_VERSION, "kind": "Secret",
                    "metadata": {"name": data.name, "namespace": data.api.namespace}, "type": "Opaque", "data": values}),
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
                    "configmap",
                    data,
                    serde_json::json!({"apiVersion": wasmpod_api::API_VERSION, "kind": "ConfigMap",
                    "metadata": {"name": data.name, "namespace": data.api.namespace}, "data": values}),
                )
            }
        };
        let client = data_args.api.client()?;
        for r in client.apply(vec![wasmpod_api::AnyObject(object)]).await? {
            println!("{kind}/{} {}", r.name, r.action);
        }
        Ok(())
    }
}
