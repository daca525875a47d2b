//! Components on this node: fetched from the control plane by digest (kept on disk, checked
//! against the digest), compiled once per digest (the runtime caches the compiled artifact on
//! disk, so a restart only maps it back in) and shared by every pod that runs them.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use thiserror::Error;
use wasmpod_api::Client;
use wasmpod_runtime::{CompiledComponent, ComponentWorld, Runtime};

#[derive(Debug, Error, Clone)]
pub enum ComponentError {
    #[error("cannot fetch component {digest}: {message}")]
    Fetch { digest: String, message: String },
    #[error("component {digest} does not match its digest")]
    Digest { digest: String },
    #[error("{digest:?} is not a sha256 digest (64 lowercase hex digits); it names no file here")]
    BadDigest { digest: String },
    #[error("cannot compile component {digest}: {message}")]
    Compile { digest: String, message: String },
    /// It exports neither `wasi:http/incoming-handler` nor `wasi:cli/run`.
    #[error("component {digest} cannot run as a pod: {message}")]
    WrongWorld { digest: String, message: String },
}

#[derive(Clone)]
pub struct Loaded {
    pub component: CompiledComponent,
    pub world: ComponentWorld,
}

pub struct Components {
    dir: PathBuf,
    client: Client,
    runtime: Runtime,
    loaded: Mutex<HashMap<String, Loaded>>,
    /// One fetch-and-compile per digest at a time; later callers wait for it.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Components {
    pub fn new(dir: PathBuf, client: Client, runtime: Runtime) -> Components {
        Components {
            dir,
            client,
            runtime,
            loaded: Mutex::default(),
            inflight: Mutex::default(),
        }
    }

    fn cached(&self, digest: &str) -> Option<Loaded> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }

    pub async fn load(&self, digest: &str) -> Result<Loaded, ComponentError> {
        if let Some(loaded) = self.cached(digest) {
            return Ok(loaded);
        }
        let gate = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest.to_string())
            .or_default()
            .clone();
        let _held = gate.lock().await;
        if let Some(loaded) = self.cached(digest) {
            return Ok(loaded);
        }
        let bytes = self.fetch(digest).await?;
        let runtime = self.runtime.clone();
        let owned = digest.to_string();
        let started = std::time::Instant::now();
        let loaded = tokio::task::spawn_blocking(move || -> Result<Loaded, ComponentError> {
            let compile = |message: String| ComponentError::Compile {
                digest: owned.clone(),
                message,
            };
            let world = wasmpod_runtime::inspect_component(&bytes).map_err(|e| match e {
                wasmpod_runtime::InspectError::UnknownWorld(_) => ComponentError::WrongWorld {
                    digest: owned.clone(),
                    message: e.to_string(),
                },
                other => compile(other.to_string()),
            })?;
            // The compiler's own error (the cause), not only "compiling component ...".
            let component = runtime
                .load_component(&owned, &bytes)
                .map_err(|e| compile(wasmpod_runtime::error_causes(&e)))?;
            Ok(Loaded { component, world })
        })
        .await
        .map_err(|e| ComponentError::Compile {
            digest: digest.to_string(),
            message: e.to_string(),
        })??;
        tracing::info!(
            digest,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "component ready"
        );
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_string(), loaded.clone());
        Ok(loaded)
    }

    async fn fetch(&self, digest: &str) -> Result<Vec<u8>, ComponentError> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        // The digest becomes a file name: nothing but the 64 hex digits of a sha256.
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ComponentError::BadDigest {
                digest: digest.to_string(),
            });
        }
        let path = self.dir.join(format!("{hex}.wasm"));
        if let Ok(bytes) = tokio::fs::read(&path).await {
            if hex::encode(Sha256::digest(&bytes)) == hex {
                return Ok(bytes);
            }
        }
        let fetch_err = |message: String| ComponentError::Fetch {
            digest: digest.to_string(),
            message,
        };
        let bytes = self
            .client
            .get_blob(digest)
            .await
            .map_err(|e| fetch_err(e.to_string()))?;
        if hex::encode(Sha256::digest(&bytes)) != hex {
            return Err(ComponentError::Digest {
                digest: digest.to_string(),
            });
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| fetch_err(e.to_string()))?;
        let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| fetch_err(e.to_string()))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| fetch_err(e.to_string()))?;
        Ok(bytes.to_vec())
    }
}
