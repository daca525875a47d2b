//! The on-disk cache of compiled components: `<cache_dir>/<engine hash>/<digest>.cwasm`, written
//! atomically (temporary file, then rename) and memory-mapped back with
//! `Component::deserialize_file`.

use crate::error::boxed;
use crate::{inspect_component, RuntimeError};
use sha2::{Digest as _, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::Component;
use wasmtime::Engine;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, cache_dir: &Path) -> Result<ComponentCache, RuntimeError> {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = cache_dir.join(format!("{:016x}", hasher.finish()));
        std::fs::create_dir_all(&dir).map_err(|source| RuntimeError::Cache {
            path: dir.clone(),
            source,
        })?;
        Ok(ComponentCache { dir })
    }

    pub(crate) fn path_for(&self, digest: &str) -> Result<PathBuf, RuntimeError> {
        let valid = !digest.is_empty()
            && digest.len() <= 200
            && !digest.starts_with('.')
            && digest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        if !valid {
            return Err(RuntimeError::InvalidDigest(digest.to_string()));
        }
        Ok(self.dir.join(format!("{}.cwasm", digest.replace(':', "_"))))
    }

    pub(crate) fn load(
        &self,
        engine: &Engine,
        digest: &str,
        wasm: &[u8],
        metrics: &crate::metrics::RuntimeMetrics,
    ) -> Result<Component, RuntimeError> {
        let path = self.path_for(digest)?;
        if path.is_file() {
            match deserialize_file(engine, &path) {
                Ok(component) => {
                    metrics.cache_hits.inc();
                    tracing::debug!(%digest, path = %path.display(), "component loaded from cache");
                    return Ok(component);
                }
                Err(e) => {
                    tracing::warn!(%digest, path = %path.display(), error = %e,
                        "unusable cache entry; recompiling");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        if let Some(expected) = digest.strip_prefix("sha256:") {
            let actual = hex::encode(Sha256::digest(wasm));
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(RuntimeError::DigestMismatch {
                    expected: digest.to_string(),
                    actual: format!("sha256:{actual}"),
                });
            }
        }
        // Reject what is not a component with a helpful message before compiling.
        inspect_component(wasm)?;
        metrics.cache_misses.inc();
        let started = std::time::Instant::now();
        let compiled = engine
            .precompile_component(wasm)
            .map_err(|e| RuntimeError::Compile {
                digest: digest.to_string(),
                source: boxed(e),
            })?;
        metrics.compile.observe(started.elapsed());
        tracing::info!(%digest, elapsed = ?started.elapsed(), "component compiled");
        match self.write_atomically(&path, &compiled) {
            Ok(()) => deserialize_file(engine, &path).map_err(|e| RuntimeError::Compile {
                digest: digest.to_string(),
                source: boxed(e),
            }),
            Err(source) => {
                tracing::warn!(%digest, error = %source, "cannot write the component cache");
                deserialize_bytes(engine, &compiled).map_err(|e| RuntimeError::Compile {
                    digest: digest.to_string(),
                    source: boxed(e),
                })
            }
        }
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// Memory-maps a compiled component.
#[allow(
    unsafe_code,
    reason = "wasmtime's deserialize functions are unsafe; see SAFETY"
)]
fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was produced by `Engine::precompile_component` of an engine with the same
    // compatibility hash (it is in that hash's directory, which only this cache writes), and it is
    // replaced only by atomic rename, never modified in place, so the mapping cannot change under
    // us. wasmtime additionally checks the header and engine compatibility.
    unsafe { Component::deserialize_file(engine, path) }
}

/// Loads compiled bytes that this engine just produced.
#[allow(
    unsafe_code,
    reason = "wasmtime's deserialize functions are unsafe; see SAFETY"
)]
fn deserialize_bytes(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `bytes` come straight from `engine.precompile_component` in this process.
    unsafe { Component::deserialize(engine, bytes) }
}
