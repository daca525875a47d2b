use super::ApiArgs;
use crate::commands::get;
use anyhow::Context;
use clap::Args;
use wasmpod_api::{Event, Kind};

#[derive(Debug, Args)]
pub struct Describe {
    /// Kind: pod, deployment, service, ingress, node
    pub kind: String,
    pub name: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Describe {
    pub async fn run(self) -> anyhow::Result<()> {
        let kind = Kind::from_cli(&self.kind)
            .with_context(|| format!("unknown resource type {:?}", self.kind))?;
        let client = self.api.client()?;
        let object = client.get(kind, &self.api.namespace, &self.name).await?;
        let mut value = object.0.clone();
        let mut out = String::new();
        out.push_str(&format!("Name:         {}\n", object.name()));
        if kind.namespaced() {
            out.push_str(&format!("Namespace:    {}\n", object.namespace()));
        }
        out.push_str(&format!("Kind:         {kind}\n"));
        if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for field in ["name", "namespace"] {
                meta.remove(field);
            }
        }
        if kind == Kind::Secret {
            if let Some(data) = value.get("data").and_then(|d| d.as_object()) {
                out.push_str("Data (values hidden):\n");
                for (k, v) in data {
                    let size = v.as_str().map_or(0, |v| v.len() * 3 / 4);
                    out.push_str(&format!("  {k}: ~{size} bytes\n"));
                }
            }
        }
        let sections: &[&str] = if kind == Kind::ConfigMap {
            &["metadata", "data"]
        } else {
            &["metadata", "spec", "status"]
        };
        for section in sections.iter().copied() {
            if let Some(v) = value
                .get(section)
                .filter(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
            {
                out.push_str(&format!("{}:\n", capitalise(section)));
                for line in serde_yaml::to_string(v)?.lines() {
                    out.push_str(&format!("  {line}\n"));
                }
            }
        }
        let events = client
            .list(
                Kind::Event,
                if kind.namespaced() {
                    Some(&self.api.namespace)
                } else {
                    None
                },
            )
            .await?;
        let related: Vec<_> = events
            .items
            .into_iter()
            .filter(|e| {
                e.to_typed::<Event>().is_ok_and(|e| {
                    e.spec.involved_object.kind == kind.as_str()
                        && e.spec.involved_object.name == self.name
                })
            })
            .collect();
        out.push_str("Events:\n");
        if related.is_empty() {
            out.push_str("  <none>\n");
        } else {
            for line in get::events(&related).render().lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        print!("{out}");
        Ok(())
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
