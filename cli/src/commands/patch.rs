//! `patch TYPE/NAME -p '{"spec":{"replicas":2}}'` (JSON merge patch, `--type merge`), and the
//! read-change-write every changing verb (`edit`, `label`, `annotate`, `set image`) shares: the
//! write carries the resourceVersion read, so a change made in between is refused (409), never
//! overwritten.

use super::{ApiArgs, DryRun, DryRunArg};
use crate::kinds;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde_json::Value;
use wasmpod_api::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatchType {
    /// JSON merge patch (RFC 7396): objects merge, `null` removes, anything else replaces
    Merge,
}

#[derive(Debug, Args)]
pub struct Patch {
    #[arg(required = true, num_args = 1..=2, help = kinds::help(kinds::user_writable), value_name = "TYPE[/NAME]")]
    pub args: Vec<String>,
    /// The patch, JSON (or YAML)
    #[arg(short = 'p', long = "patch")]
    pub patch: String,
    #[arg(long = "type", value_enum, default_value = "merge")]
    pub patch_type: PatchType,
    #[command(flatten)]
    pub dry_run: DryRunArg,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// RFC 7396: applies `patch` to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// How a change meets a write made since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Read again and redo the change on what is there now (patch, label, annotate, set image:
    /// the change is computed from the object, as a server-side patch would be).
    Retry,
    /// Refuse: the user decided on what they saw (`edit`).
    Refuse,
}

/// Reads made before giving up on an object that keeps changing.
const RETRIES: u32 = 5;

/// Reads `kind` `name`, lets `change` edit its JSON form, and writes it back with the
/// resourceVersion read (or, with a dry run, has the server check it / changes nothing).
/// Returns whether anything changed.
pub async fn read_change_write(
    api: &ApiArgs,
    kind: Kind,
    name: &str,
    dry_run: DryRun,
    on_conflict: OnConflict,
    change: impl Fn(&mut Value) -> anyhow::Result<()>,
) -> anyhow::Result<bool> {
    let client = api.client()?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let read = client
            .get(kind, &api.namespace, name)
            .await
            .with_context(|| kinds::object_ref(kind, name))?;
        let mut object = read.0.clone();
        change(&mut object)?;
        for field in ["kind", "apiVersion"] {
            if object.get(field) != read.0.get(field) {
                bail!("the {field} of an object cannot be changed");
            }
        }
        if object.pointer("/metadata/name") != read.0.pointer("/metadata/name")
            || object.pointer("/metadata/namespace") != read.0.pointer("/metadata/namespace")
        {
            bail!("metadata.name and metadata.namespace cannot be changed");
        }
        // The version read, whatever the change did to it.
        object["metadata"]["resourceVersion"] = Value::from(read.resource_version());
        if object == read.0 {
            return Ok(false);
        }
        if dry_run == DryRun::Client {
            return Ok(true);
        }
        match client
            .update(&wasmpod_api::AnyObject(object), dry_run == DryRun::Server)
            .await
        {
            Ok(_) => return Ok(true),
            Err(e) if e.is_conflict() && on_conflict == OnConflict::Retry && attempt < RETRIES => {
                tracing::debug!(object = %kinds::object_ref(kind, name), attempt, "changed since read; reading again");
            }
            Err(e) if e.is_conflict() => {
                return Err(anyhow::Error::from(e).context(format!(
                    "{} was changed by someone else since it was read; nothing was written (read it again and retry)",
                    kinds::object_ref(kind, name)
                )))
            }
            Err(e) => return Err(anyhow::Error::from(e).context(kinds::object_ref(kind, name))),
        }
    }
}

/// `patched`, `patched (no change)`: what kubectl prints.
pub fn report(kind: Kind, name: &str, verb: &str, changed: bool, dry_run: DryRunArg) {
    let note = if changed { "" } else { " (no change)" };
    println!(
        "{} {verb}{note}{}",
        kinds::object_ref(kind, name),
        dry_run.suffix()
    );
}

impl Patch {
    pub async fn run(self) -> anyhow::Result<()> {
        let (kind, name) = kinds::single(&self.args, kinds::user_writable)?;
        let patch: Value = serde_yaml::from_str(&self.patch)
            .with_context(|| format!("--patch {:?} is not JSON", self.patch))?;
        if !patch.is_object() {
            bail!("--patch must be a JSON object, e.g. '{{\"spec\":{{\"replicas\":2}}}}'");
        }
        let changed = read_change_write(
            &self.api,
            kind,
            &name,
            self.dry_run.dry_run,
            OnConflict::Retry,
            |o| {
                merge_patch(o, &patch);
                Ok(())
            },
        )
        .await?;
        report(kind, &name, "patched", changed, self.dry_run);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_merges_replaces_and_removes() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "d": [1], "e": "x"});
        merge_patch(
            &mut doc,
            &json!({"a": {"b": 5, "c": null}, "d": [2, 3], "f": true}),
        );
        assert_eq!(
            doc,
            json!({"a": {"b": 5}, "d": [2, 3], "e": "x", "f": true})
        );
    }
}
