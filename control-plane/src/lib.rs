//! The wasmpod control plane: the API server (axum), the object store (sled behind the
//! [`store::Store`] trait, Secrets sealed at rest), the component blob store, and the
//! controllers: deployments, statefulsets, the scheduler (with volume affinity), node leases,
//! claim protection, and config versions (ConfigMap/Secret changes reaching pods). Workers talk to it only over HTTP; it runs no components itself
//! (it only inspects a component's exports at upload time).

pub mod blobs;
pub mod controllers;
pub mod node_credentials;
pub mod registry;
pub mod server;
pub mod store;
pub mod typed;
mod typed_cache;
pub mod watch_hub;

use blobs::BlobStore;
use registry::Registry;
use server::{AppState, Auth};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::{SealedSecrets, SledStore};
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wasmpod_api::Kind;

#[derive(Debug, Error)]
pub enum ControlPlaneError {
    #[error("cannot open the store in {dir}: {source}")]
    Store {
        dir: PathBuf,
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

#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    pub data_dir: PathBuf,
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
        let store_dir = config.data_dir.join("store");
        let store = SledStore::open(&store_dir).map_err(|source| ControlPlaneError::Store {
            dir: store_dir,
            source,
        })?;
        let key_path = config
            .encryption_key
            .clone()
            .unwrap_or_else(|| config.data_dir.join("secrets.key"));
        let key =
            store::load_or_create_key(&key_path).map_err(|source| ControlPlaneError::Key {
                path: key_path,
                source,
            })?;
        let registry = Arc::new(Registry::new(Arc::new(SealedSecrets::new(store, &key)))?);
        let blobs = Arc::new(BlobStore::open(&config.data_dir.join("blobs"))?);
        let credentials = Arc::new(node_credentials::NodeCredentials::open(
            &config.data_dir.join("node-credentials.json"),
            &key,
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
