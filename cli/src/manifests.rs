//! Reading manifests for `apply` and `delete -f`: files, directories or `-` (stdin); resolving
//! each Deployment's component path against its manifest and uploading it by digest.

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use wasmpod_api::manifest::{parse_manifests, ManifestDocument, UserObject};
use wasmpod_api::{Client, ComponentRef};

/// A parsed document and the directory its relative paths start from.
pub struct Loaded {
    pub doc: ManifestDocument,
    pub base: PathBuf,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read directory {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let is_yaml = entry.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if entry.is_dir() || is_yaml {
                collect(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Parses every document of every file; stops at the first error, which names file, document and field.
pub fn load(files: &[PathBuf]) -> anyhow::Result<Vec<Loaded>> {
    let mut loaded = Vec::new();
    let mut seen = HashSet::new();
    for file in files {
        let (text, source, base) = if file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read manifests from stdin")?;
            (text, "<stdin>".to_string(), std::env::current_dir()?)
        } else {
            let mut paths = Vec::new();
            if !file.exists() {
                bail!("{}: no such file or directory", file.display());
            }
            collect(file, &mut paths)?;
            for path in paths {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                push(
                    &mut loaded,
                    &mut seen,
                    &text,
                    &path.display().to_string(),
                    base,
                )?;
            }
            continue;
        };
        push(&mut loaded, &mut seen, &text, &source, base)?;
    }
    if loaded.is_empty() {
        bail!(
            "no resources found in {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(loaded)
}

fn push(
    loaded: &mut Vec<Loaded>,
    seen: &mut HashSet<(String, String, String)>,
    text: &str,
    source: &str,
    base: PathBuf,
) -> anyhow::Result<()> {
    for doc in parse_manifests(text, source)? {
        let o = &doc.object;
        let key = (
            o.kind().to_string(),
            o.namespace().to_string(),
            o.name().to_string(),
        );
        if !seen.insert(key) {
            bail!(
                "{}: metadata.name: {} {:?} appears twice in this apply",
                doc.document,
                o.kind(),
                o.name()
            );
        }
        loaded.push(Loaded {
            doc,
            base: base.clone(),
        });
    }
    Ok(())
}

fn human_size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / (1 << 10) as f64),
        b => format!("{b} B"),
    }
}

/// Replaces each Deployment's component path with the digest of the uploaded component.
/// Components are checked locally first, so a wrong file is refused before anything is sent.
pub async fn upload_components(client: &Client, loaded: &mut [Loaded]) -> anyhow::Result<()> {
    let mut uploaded = HashSet::new();
    for item in loaded.iter_mut() {
        let component = match &mut item.doc.object {
            UserObject::Deployment(d) => &mut d.spec.template.spec.component,
            UserObject::StatefulSet(s) => &mut s.spec.template.spec.component,
            _ => continue,
        };
        let ComponentRef::Path(file) = &*component else {
            continue;
        };
        let at = format!("{}: spec.template.spec.component", item.doc.document);
        let path = item.base.join(file);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("{at}: cannot read {}", path.display()))?;
        wasmpod_runtime::inspect_component(&bytes)
            .map_err(|e| anyhow::anyhow!("{at}: {}: {e}", path.display()))?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if uploaded.insert(digest.clone()) && !client.blob_exists(&digest).await? {
            let started = Instant::now();
            eprint!(
                "uploading {} ({})... ",
                path.display(),
                human_size(bytes.len())
            );
            let _ = std::io::stderr().flush();
            let stored = client
                .upload_blob(bytes)
                .await
                .with_context(|| format!("{at}: upload of {} failed", path.display()))?;
            eprintln!("done in {:.1}s", started.elapsed().as_secs_f64());
            if stored.digest != digest {
                bail!(
                    "{at}: the server stored {} as {}, expected {digest}",
                    path.display(),
                    stored.digest
                );
            }
        }
        *component =
            ComponentRef::from_digest(&digest).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
    }
    Ok(())
}
