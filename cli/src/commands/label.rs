//! `label` and `annotate`: `label deploy/hello tier=web`, `--overwrite` to change a value,
//! `tier-` to remove one; written with the resourceVersion read.

use super::patch::{read_change_write, report, OnConflict};
use super::{ApiArgs, DryRunArg};
use crate::kinds;
use anyhow::bail;
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct Label {
    #[command(flatten)]
    change: Change,
}

#[derive(Debug, Args)]
pub struct Annotate {
    #[command(flatten)]
    change: Change,
}

#[derive(Debug, Args)]
struct Change {
    #[arg(required = true, value_name = "TYPE[/NAME] KEY=VALUE|KEY-", help = format!("{}; then KEY=VALUE (set) or KEY- (remove), repeatable", kinds::help(labelable)))]
    args: Vec<String>,
    /// Change a key that already has a value
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    dry_run: DryRunArg,
    #[command(flatten)]
    api: ApiArgs,
}

impl Label {
    pub async fn run(self) -> anyhow::Result<()> {
        self.change.run("labels", "labeled").await
    }
}

impl Annotate {
    pub async fn run(self) -> anyhow::Result<()> {
        self.change.run("annotations", "annotated").await
    }
}

/// What takes labels: what users write, and nodes (`label node/n1 disk=ssd` for nodeSelector).
fn labelable(kind: wasmpod_api::Kind) -> bool {
    kind.user_creatable() || kind == wasmpod_api::Kind::Node
}

/// One KEY=VALUE or KEY- argument.
enum Edit {
    Set(String, String),
    Remove(String),
}

impl Change {
    async fn run(self, field: &'static str, verb: &str) -> anyhow::Result<()> {
        let is_edit = |a: &String| a.contains('=') || a.ends_with('-');
        let split = self
            .args
            .iter()
            .position(is_edit)
            .unwrap_or(self.args.len());
        let (target, edits) = self.args.split_at(split);
        let (kind, name) = kinds::single(target, labelable)?;
        if edits.is_empty() {
            bail!("give at least one KEY=VALUE or KEY-");
        }
        let mut parsed = Vec::new();
        for edit in edits {
            parsed.push(match edit.split_once('=') {
                Some((k, v)) => {
                    if field == "labels" {
                        // A label is what a selector can name: the same rules.
                        wasmpod_api::labels::Selector::parse(&format!("{k}={v}"))
                            .map_err(|e| anyhow::anyhow!("{edit:?}: {}", e.problem))?;
                    }
                    Edit::Set(k.to_string(), v.to_string())
                }
                None => match edit.strip_suffix('-') {
                    Some(k) if !k.is_empty() => Edit::Remove(k.to_string()),
                    _ => bail!("{edit:?} is not KEY=VALUE or KEY-"),
                },
            });
        }
        let overwrite = self.overwrite;
        let changed = read_change_write(
            &self.api,
            kind,
            &name,
            self.dry_run.dry_run,
            OnConflict::Retry,
            |o| {
                let map = o["metadata"][field]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let mut map = map;
                for edit in &parsed {
                    match edit {
                        Edit::Set(k, v) => {
                            if let Some(old) = map.get(k).and_then(|o| o.as_str()) {
                                if old != v && !overwrite {
                                    bail!("{k} is already {old:?}; use --overwrite to change it");
                                }
                            }
                            map.insert(k.clone(), Value::from(v.as_str()));
                        }
                        Edit::Remove(k) => {
                            map.remove(k);
                        }
                    }
                }
                o["metadata"][field] = Value::Object(map);
                if o["metadata"][field]
                    .as_object()
                    .is_some_and(|m| m.is_empty())
                {
                    if let Some(meta) = o["metadata"].as_object_mut() {
                        meta.remove(field);
                    }
                }
                Ok(())
            },
        )
        .await?;
        report(kind, &name, verb, changed, self.dry_run);
        Ok(())
    }
}
