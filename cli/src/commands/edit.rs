//! `edit TYPE/NAME`: opens the object's YAML in `$EDITOR` (else `vi`), then writes it back with
//! the resourceVersion read — a change someone made meanwhile is refused (409), not overwritten.
//! An unchanged file changes nothing; a file that does not parse is refused, nothing written.

use super::patch::{read_change_write, report, OnConflict};
use super::{ApiArgs, DryRunArg};
use crate::kinds;
use anyhow::{bail, Context};
use clap::Args;
use std::process::Command;

#[derive(Debug, Args)]
pub struct Edit {
    #[arg(required = true, num_args = 1..=2, help = kinds::help(kinds::user_writable), value_name = "TYPE[/NAME]")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub dry_run: DryRunArg,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Runs `$EDITOR` on `text` and returns what the file holds afterwards.
fn run_editor(text: &str, name: &str) -> anyhow::Result<String> {
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string());
    let path = std::env::temp_dir().join(format!(
        "wasmpod-edit-{name}-{}.yaml",
        hex::encode(rand::random::<[u8; 6]>())
    ));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    crate::config::restrict(&path);
    // Through the shell, so EDITOR may carry arguments ("code --wait").
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .with_context(|| format!("cannot run the editor {editor:?}"));
    let edited = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    let status = status?;
    if !status.success() {
        bail!("the editor {editor:?} exited with {status}; nothing was changed");
    }
    edited.with_context(|| format!("cannot read back {}", path.display()))
}

impl Edit {
    pub async fn run(self) -> anyhow::Result<()> {
        let (kind, name) = kinds::single(&self.args, kinds::user_writable)?;
        let changed = read_change_write(
            &self.api,
            kind,
            &name,
            self.dry_run.dry_run,
            OnConflict::Refuse,
            |object| {
                let mut shown = object.clone();
                if let Some(map) = shown.as_object_mut() {
                    // Status belongs to the controllers: not the user's to edit.
                    map.remove("status");
                }
                let text = serde_yaml::to_string(&shown)?;
                let edited = run_editor(&text, &name)?;
                if edited == text {
                    return Ok(());
                }
                let mut value: serde_json::Value = serde_yaml::from_str(&edited)
                    .context("the edited file is not YAML; nothing was changed")?;
                if let (Some(map), Some(status)) = (value.as_object_mut(), object.get("status")) {
                    map.insert("status".into(), status.clone());
                }
                *object = value;
                Ok(())
            },
        )
        .await?;
        if changed {
            report(kind, &name, "edited", true, self.dry_run);
        } else {
            println!("Edit cancelled, no changes made.");
        }
        Ok(())
    }
}
