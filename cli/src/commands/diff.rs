//! `diff -f`: what `apply -f` would change, as a unified diff of the live objects and the
//! manifests (system fields and status left out, secret values hidden). Exits 1 when there is
//! a difference, 0 when there is none, as kubectl does.

use super::apply::load_objects;
use super::{ApiArgs, Differs, DryRun};
use crate::output::secrets::HiddenValue;
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;
use wasmpod_api::manifest::UserObject;
use wasmpod_api::AnyObject;

#[derive(Debug, Args)]
pub struct Diff {
    /// Manifest file or directory (repeatable; `-` reads stdin)
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// The fields the system writes: never part of what a user declares.
const SYSTEM_METADATA: [&str; 5] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "ownerReferences",
];

fn declared(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        for field in SYSTEM_METADATA {
            meta.remove(field);
        }
    }
    v
}

/// Secret values replaced by their size, marked where the two sides differ.
fn hide_secret_values(live: &mut Value, new: &mut Value) {
    let live_data = live.get("data").cloned().unwrap_or_default();
    if let Some(data) = new.get_mut("data").and_then(|d| d.as_object_mut()) {
        for (key, value) in data.iter_mut() {
            let hidden = HiddenValue::of_base64(value.as_str().unwrap_or_default());
            let changed = live_data.get(key).is_some_and(|l| l != value);
            *value = Value::from(if changed {
                format!("{hidden} (changed)")
            } else {
                hidden.to_string()
            });
        }
    }
    if let Some(data) = live.get_mut("data").and_then(|d| d.as_object_mut()) {
        for value in data.values_mut() {
            *value =
                Value::from(HiddenValue::of_base64(value.as_str().unwrap_or_default()).to_string());
        }
    }
}

impl Diff {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = self.api.client()?;
        let objects = load_objects(&client, &self.files, &self.api.namespace, DryRun::None).await?;
        let mut differs = false;
        for object in objects {
            let mut user = UserObject::from_any(&object)?;
            if let UserObject::Secret(s) = &mut user {
                s.normalise();
            }
            let mut new = declared(&user.to_any().0);
            let kind = user.kind();
            let name = user.name().to_string();
            let ns = object.namespace().to_string();
            let mut live = match client.get(kind, &ns, &name).await {
                Ok(AnyObject(live)) => declared(&live),
                Err(e) if e.is_not_found() => Value::Null,
                Err(e) => return Err(e.into()),
            };
            if new == live {
                continue;
            }
            differs = true;
            if kind == wasmpod_api::Kind::Secret {
                hide_secret_values(&mut live, &mut new);
            }
            let title = format!("{}/{}", kind.as_str().to_lowercase(), name);
            let old_text = if live.is_null() {
                String::new()
            } else {
                serde_yaml::to_string(&live)?
            };
            print!(
                "{}",
                unified(&title, &old_text, &serde_yaml::to_string(&new)?)
            );
        }
        if differs {
            return Err(Differs.into());
        }
        Ok(())
    }
}

/// A diff of two texts by lines (longest common subsequence), every line shown.
pub fn unified(title: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = format!("--- live/{title}\n+++ manifest/{title}\n");
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_is_removed_and_added() {
        let d = unified("cm/x", "a: 1\nb: 2\n", "a: 1\nb: 3\n");
        assert!(d.contains(" a: 1\n-b: 2\n+b: 3\n"), "{d}");
    }

    #[test]
    fn secret_values_are_never_printed() {
        let mut live = serde_json::json!({"data": {"k": "c2VjcmV0"}});
        let mut new = serde_json::json!({"data": {"k": "b3RoZXI="}});
        hide_secret_values(&mut live, &mut new);
        assert_eq!(live["data"]["k"], "<hidden: 6 bytes; use --show-secrets>");
        assert!(new["data"]["k"].as_str().unwrap().ends_with("(changed)"));
    }
}
