//! Components on this node: fetched from the control plane by digest or pulled from an OCI
//! registry by manifest digest (kept on disk, checked against the digest), compiled once per
//! digest (the runtime caches the compiled artifact on disk, so a restart only maps it back in)
//! and shared by every pod that runs them.
//!
//! An `oci://REG/REPO@sha256:M` component: the manifest M is pulled (checked against M: one Wasm
//! layer), then its layer L like an uploaded blob, kept as `L.wasm` beside them, so the compiled
//! cache is keyed by the component's own digest. One pull per manifest at a time on the node
//! (single flight); later loads find the layer on disk or compiled in memory.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use wasmpod_api::oci::{Credentials, Reference, RegistryClient};
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
    /// The registry could not give a checked Wasm layer (unknown, refused, unreachable, wrong
    /// media type, digest mismatch).
    #[error("cannot pull {reference}: {message}")]
    Pull { reference: String, message: String },
}

impl ComponentError {
    /// Whether the failure is the registry's (a pull), not the component's (a compile, its
    /// world).
    pub fn is_pull(&self) -> bool {
        !matches!(
            self,
            ComponentError::Compile { .. } | ComponentError::WrongWorld { .. }
        )
    }
}

/// Where a component's bytes come from when they are not on disk.
enum Source<'a> {
    ControlPlane,
    Registry {
        reference: &'a str,
        repository: &'a wasmpod_api::oci::client::Repository,
    },
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
    /// One fetch-and-compile per digest (and one pull per OCI manifest) at a time; later
    /// callers wait for it.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    registries: RegistryClient,
    /// OCI manifest digest -> its Wasm layer's digest, once pulled.
    layers: Mutex<HashMap<String, String>>,
}

impl Components {
    pub fn new(
        dir: PathBuf,
        client: Client,
        runtime: Runtime,
        registries: RegistryClient,
    ) -> Components {
        Components {
            dir,
            client,
            runtime,
            loaded: Mutex::default(),
            inflight: Mutex::default(),
            registries,
            layers: Mutex::default(),
        }
    }

    fn gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Pulls (once per node) and compiles the component `oci://reference`, which must be pinned
    /// to a manifest digest, with `credentials` for its registry.
    pub async fn load_oci(
        &self,
        reference: &Reference,
        credentials: Option<Credentials>,
    ) -> Result<Loaded, ComponentError> {
        let name = format!("{}{reference}", wasmpod_api::OCI_SCHEME);
        let pull_err = |message: String| ComponentError::Pull {
            reference: name.clone(),
            message,
        };
        let Some(manifest) = reference.digest.as_deref() else {
            return Err(pull_err(
                "not pinned to a manifest digest (apply pins tags)".into(),
            ));
        };
        let known = |this: &Self| {
            this.layers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(manifest)
                .cloned()
        };
        if let Some(loaded) = known(self).and_then(|layer| self.cached(&layer)) {
            return Ok(loaded);
        }
        let gate = self.gate(&format!("oci {manifest}"));
        let _held = gate.lock().await;
        let repository = self.registries.repository(reference, credentials);
        let layer = match known(self) {
            Some(layer) => layer,
            None => {
                let layer = self
                    .layer_of(manifest, &repository)
                    .await
                    .map_err(|e| pull_err(e.to_string()))?;
                self.layers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(manifest.to_string(), layer.clone());
                layer
            }
        };
        self.load_from(
            &layer,
            Source::Registry {
                reference: &name,
                repository: &repository,
            },
        )
        .await
    }

    /// The Wasm layer's digest of `manifest`: from the manifest kept on disk (checked against
    /// its digest) or pulled.
    async fn layer_of(
        &self,
        manifest: &str,
        repository: &wasmpod_api::oci::client::Repository,
    ) -> Result<String, wasmpod_api::oci::OciError> {
        let hex = manifest.trim_start_matches("sha256:");
        let path = self.dir.join(format!("{hex}.manifest.json"));
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == hex => bytes,
            _ => {
                let (_, bytes) = repository.manifest(manifest).await?;
                tracing::info!(manifest, "pulled an OCI manifest");
                if let Err(error) = write_atomically(&self.dir, &path, &bytes).await {
                    tracing::warn!(%error, "cannot keep the manifest on disk");
                }
                bytes
            }
        };
        let pulled = wasmpod_api::oci::manifest::wasm_layer(&bytes).map_err(|source| {
            wasmpod_api::oci::OciError::Manifest {
                reference: manifest.to_string(),
                source,
            }
        })?;
        Ok(pulled.layer.digest)
    }

    fn cached(&self, digest: &str) -> Option<Loaded> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }

    /// Fetches (from the control plane) and compiles the uploaded component `digest`.
    pub async fn load(&self, digest: &str) -> Result<Loaded, ComponentError> {
        self.load_from(digest, Source::ControlPlane).await
    }

    async fn load_from(&self, digest: &str, source: Source<'_>) -> Result<Loaded, ComponentError> {
        if let Some(loaded) = self.cached(digest) {
            return Ok(loaded);
        }
        let gate = self.gate(digest);
        let _held = gate.lock().await;
        if let Some(loaded) = self.cached(digest) {
            return Ok(loaded);
        }
        let bytes = self.fetch(digest, source).await?;
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

    async fn fetch(&self, digest: &str, source: Source<'_>) -> Result<Vec<u8>, ComponentError> {
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
        let bytes: Vec<u8> = match source {
            Source::ControlPlane => self
                .client
                .get_blob(digest)
                .await
                .map_err(|e| fetch_err(e.to_string()))?
                .to_vec(),
            Source::Registry {
                reference,
                repository,
            } => {
                let bytes = repository
                    .blob(digest)
                    .await
                    .map_err(|e| ComponentError::Pull {
                        reference: reference.to_string(),
                        message: e.to_string(),
                    })?;
                tracing::info!(
                    reference,
                    layer = digest,
                    bytes = bytes.len(),
                    "pulled a component from its registry"
                );
                bytes
            }
        };
        if hex::encode(Sha256::digest(&bytes)) != hex {
            return Err(ComponentError::Digest {
                digest: digest.to_string(),
            });
        }
        write_atomically(&self.dir, &path, &bytes)
            .await
            .map_err(fetch_err)?;
        Ok(bytes)
    }
}

/// Writes `bytes` to `path` (in `dir`) through a temporary file and a rename.
async fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), String> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| e.to_string())?;
    let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| e.to_string())?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| e.to_string())
}
