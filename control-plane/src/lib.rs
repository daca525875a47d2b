//! The wasmpod control plane: the API server (axum), the object store (sled or etcd behind the
//! [`store::Store`] trait, Secrets sealed at rest), the component blob store, and the
//! controllers: deployments, statefulsets, the scheduler (with volume affinity), node leases,
//! claim protection, and config versions (ConfigMap/Secret changes reaching pods). Workers talk to it only over HTTP; it runs no components itself
//! (it only inspects a component's exports at upload time).

pub mod blobs;
pub mod controllers;
mod ingest;
pub mod node_credentials;
pub mod registry;
pub mod server;
pub mod store;
mod typed_cache;
pub mod watch_hub;

use blobs::BlobStore;
use registry::Registry;
use server::{AppState, Auth};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::{EtcdStore, SealedSecrets, SledStore, Store};
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wasmpod_api::Kind;

#[derive(Debug, Error)]
pub enum ControlPlaneError {
    #[error("cannot open the store {store}: {source}")]
    Store {
        store: String,
        #[source]
        source: store::StoreError,
    },
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error("cannot read or create the secrets encryption key {path}: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Credentials(#[from] node_credentials::CredentialError),
    #[error("cannot open the blob store: {0}")]
    Blobs(#[from] blobs::BlobError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Where the control plane keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// sled in `<data dir>/store`: one API server.
    Sled,
    /// etcd (`http://HOST:PORT` endpoints), shared by every API server of the cluster; every key
    /// lives under `prefix`.
    Etcd {
        endpoints: Vec<String>,
        prefix: String,
    },
}

/// The etcd key prefix when none is given.
pub const DEFAULT_ETCD_PREFIX: &str = "/wasmpod/";

impl StoreConfig {
    /// `sled`, or `etcd://HOST:PORT[,HOST:PORT...]` (keys under `prefix`).
    pub fn parse(value: &str, prefix: &str) -> Result<StoreConfig, store::EtcdUrlError> {
        if value == "sled" {
            return Ok(StoreConfig::Sled);
        }
        Ok(StoreConfig::Etcd {
            endpoints: store::parse_etcd_url(value)?,
            prefix: prefix.to_string(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    pub api_addr: SocketAddr,
    pub auth: Auth,
    /// A node whose last heartbeat is older than this is NotReady and its pods are evicted.
    pub node_grace: Duration,
    /// The 32-byte key that seals Secrets at rest; default `<data dir>/secrets.key`, made on first start.
    pub encryption_key: Option<PathBuf>,
}

pub struct ControlPlane {
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    tasks: Vec<JoinHandle<()>>,
}

impl ControlPlane {
    /// Opens the store, binds the API and starts the controllers; they stop on `shutdown`.
    pub async fn start(
        config: ControlPlaneConfig,
        shutdown: CancellationToken,
    ) -> Result<ControlPlane, ControlPlaneError> {
        let key_path = config
            .encryption_key
            .clone()
            .unwrap_or_else(|| config.data_dir.join("secrets.key"));
        let key =
            store::load_or_create_key(&key_path).map_err(|source| ControlPlaneError::Key {
                path: key_path,
                source,
            })?;
        let store = open_store(&config, &key).await?;
        let registry = Arc::new(Registry::new(store)?);
        let blobs = Arc::new(BlobStore::open(&config.data_dir.join("blobs"))?);
        let credentials = Arc::new(node_credentials::NodeCredentials::open(
            registry.store(),
            &key,
            Some(&config.data_dir.join("node-credentials.json")),
        )?);
        let listener = tokio::net::TcpListener::bind(config.api_addr)
            .await
            .map_err(|source| ControlPlaneError::Bind {
                addr: config.api_addr,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ControlPlaneError::Bind {
                addr: config.api_addr,
                source,
            })?;
        let state = AppState {
            registry: registry.clone(),
            credentials,
            blobs,
            auth: Arc::new(config.auth.clone()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            shutdown: shutdown.clone(),
        };
        let app = server::router(state);
        let mut tasks = Vec::new();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(error) = serve.await {
                tracing::error!(%error, "API server stopped");
            }
        }));
        tasks.push(tokio::spawn(controllers::run_loop(
            "deployment",
            registry.clone(),
            &[Kind::Deployment, Kind::Pod],
            Duration::from_secs(10),
            shutdown.clone(),
            controllers::deployment::reconcile_all,
        )));
        tasks.push(tokio::spawn(controllers::run_loop(
            "scheduler",
            registry.clone(),
            &[Kind::Pod, Kind::Node, Kind::PersistentVolumeClaim],
            Duration::from_secs(5),
            shutdown.clone(),
            controllers::scheduler::reconcile_all,
        )));
        tasks.push(tokio::spawn(controllers::run_loop(
            "statefulset",
            registry.clone(),
            &[Kind::StatefulSet, Kind::Pod, Kind::PersistentVolumeClaim],
            Duration::from_secs(10),
            shutdown.clone(),
            controllers::statefulset::reconcile_all,
        )));
        tasks.push(tokio::spawn(controllers::run_loop(
            "claim-protection",
            registry.clone(),
            &[Kind::PersistentVolumeClaim, Kind::Pod],
            Duration::from_secs(10),
            shutdown.clone(),
            controllers::claims::reconcile_all,
        )));
        tasks.push(tokio::spawn(controllers::run_loop(
            "config-version",
            registry.clone(),
            &[Kind::ConfigMap, Kind::Secret, Kind::Pod],
            Duration::from_secs(30),
            shutdown.clone(),
            controllers::config_version::reconcile_all,
        )));
        let grace = config.node_grace;
        let started = chrono::Utc::now();
        tasks.push(tokio::spawn(controllers::run_loop(
            "node-lifecycle",
            registry.clone(),
            &[],
            (grace / 4).max(Duration::from_millis(100)),
            shutdown.clone(),
            move |r| controllers::node_lifecycle::reconcile_all(r, grace, started),
        )));
        tracing::info!(%addr, "control plane listening");
        Ok(ControlPlane {
            addr,
            registry,
            tasks,
        })
    }

    /// Waits for the API server and controllers to stop (after `shutdown` is cancelled).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens the configured store, Secrets sealed with `key`.
async fn open_store(
    config: &ControlPlaneConfig,
    key: &[u8; 32],
) -> Result<Arc<dyn Store>, ControlPlaneError> {
    Ok(match &config.store {
        StoreConfig::Sled => {
            let dir = config.data_dir.join("store");
            let store = SledStore::open(&dir).map_err(|source| ControlPlaneError::Store {
                store: dir.display().to_string(),
                source,
            })?;
            Arc::new(SealedSecrets::new(store, key))
        }
        StoreConfig::Etcd { endpoints, prefix } => {
            let (endpoints, prefix) = (endpoints.clone(), prefix.clone());
            let describe = format!("etcd {} (prefix {prefix})", endpoints.join(","));
            // Connecting blocks on the store's own runtime: keep it off this one's workers.
            let store =
                tokio::task::spawn_blocking(move || EtcdStore::connect(&endpoints, &prefix))
                    .await
                    .map_err(|e| ControlPlaneError::Store {
                        store: describe.clone(),
                        source: store::StoreError::Etcd(etcd_client::Error::IoError(
                            std::io::Error::other(e.to_string()),
                        )),
                    })?
                    .map_err(|source| ControlPlaneError::Store {
                        store: describe,
                        source,
                    })?;
            Arc::new(SealedSecrets::new(store, key))
        }
    })
}
