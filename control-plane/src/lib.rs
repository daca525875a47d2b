//! The wasmpod control plane: the API server (axum), the object store (sled or etcd behind the
//! [`store::Store`] trait, Secrets sealed at rest), the component blob store, and the
//! controllers: deployments, statefulsets, the scheduler (with volume affinity), node leases,
//! claim protection, and config versions (ConfigMap/Secret changes reaching pods). Workers talk to it only over HTTP; it runs no components itself
//! (it only inspects a component's exports at upload time).
//!
//! Several servers may share one etcd: all serve the API, and the controllers run only on the
//! one elected through an etcd lease ([`leader`]); blobs are copied between them ([`peer`]).

pub mod blobs;
pub mod cluster_ca;
pub mod controllers;
pub mod events;
mod ingest;
pub mod issued_certificates;
pub mod leader;
pub mod metrics;
pub mod node_agent;
pub mod node_certificate_validity;
pub mod node_credentials;
pub mod peer;
pub mod pod_metrics;
pub mod registry;
pub mod server;
mod staging;
pub mod store;
mod tls_listener;
mod token_record;
pub mod typed;
mod typed_cache;
pub mod user_tokens;
pub mod watch_hub;

pub use node_certificate_validity::NodeCertificateValidity;

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
    #[error(transparent)]
    Tokens(#[from] user_tokens::TokenError),
    #[error(transparent)]
    ClusterCa(#[from] cluster_ca::CaError),
    #[error("cannot open the blob store: {0}")]
    Blobs(#[from] blobs::BlobError),
    #[error("cannot take part in the controller election: {0}")]
    Election(#[from] leader::LeaderError),
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
    /// This server's name and API URL for its peers; defaults from the bound address.
    pub identity: IdentityConfig,
    /// How the leader of the controllers is elected on the etcd store (ignored on sled, where the
    /// only server always leads).
    pub election: leader::ElectionTiming,
    /// Plain HTTP or TLS with a certificate from the cluster CA.
    pub tls: ApiTls,
    /// Registries (`host:port`) spoken to over plain HTTP when resolving `oci://` tags.
    pub insecure_registries: Vec<String>,
}

/// How the API is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiTls {
    /// Plain HTTP (`wasmpod up` on loopback, or `server --insecure-http`).
    Plain,
    /// TLS with a certificate signed by the cluster CA (made on first start and shared through
    /// the store) for the bound address, the advertised URL's host, localhost, and `extra_names`;
    /// the nodes' certificates live `node_certificate_validity`.
    ClusterCa {
        extra_names: Vec<String>,
        node_certificate_validity: NodeCertificateValidity,
    },
}

/// How this server names itself to its peers (both default from the address the API is bound to).
#[derive(Debug, Clone, Default)]
pub struct IdentityConfig {
    pub name: Option<String>,
    pub advertise_url: Option<String>,
}

pub struct ControlPlane {
    pub addr: SocketAddr,
    /// The URL this server's API answers at (`http://` or `https://` the bound address).
    pub url: String,
    /// The cluster CA clients must trust (with TLS).
    pub ca: Option<wasmpod_api::tls::ClusterCa>,
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
        let tokens = Arc::new(user_tokens::UserTokens::open(registry.store())?);
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
        let scheme = match config.tls {
            ApiTls::Plain => "http",
            ApiTls::ClusterCa { .. } => "https",
        };
        let me = identity(&config.identity, addr, scheme);
        let authority = match &config.tls {
            ApiTls::Plain => None,
            ApiTls::ClusterCa {
                extra_names,
                node_certificate_validity,
            } => {
                let authority =
                    cluster_ca::ClusterAuthority::load_or_create(&registry.store(), &key)?
                        .with_node_validity(*node_certificate_validity);
                let names = certificate_names(addr, &me.url, extra_names);
                tracing::info!(?names, pin = %authority.certificate().pin().map_err(cluster_ca::CaError::from)?,
                    node_certificate_validity = %node_certificate_validity, "serving the API over TLS");
                Some((authority.server_config(&names)?, Arc::new(authority)))
            }
        };
        let ca = authority
            .as_ref()
            .map(|(_, authority)| authority.certificate().clone());
        let agents = match &authority {
            Some((_, authority)) => {
                let identity = authority.control_plane_identity()?;
                node_agent::NodeAgents::new(
                    api_http_client(ca.as_ref()),
                    Some((authority.certificate(), &identity)),
                )
            }
            None => node_agent::NodeAgents::new(api_http_client(None), None),
        }
        .map_err(cluster_ca::CaError::from)?;
        let mut tasks = Vec::new();
        let leadership = match &config.store {
            StoreConfig::Sled => leader::Leadership::always(me),
            StoreConfig::Etcd { endpoints, prefix } => {
                let (handle, task) = leader::elector::start(
                    leader::elector::EtcdElectionConfig {
                        endpoints: endpoints.clone(),
                        prefix: prefix.clone(),
                        me,
                        timing: config.election,
                    },
                    shutdown.clone(),
                )
                .await?;
                tasks.push(task);
                leader::Leadership::Etcd(Box::new(handle))
            }
        };
        let state = AppState {
            leadership: leadership.clone(),
            registry: registry.clone(),
            credentials,
            tokens,
            blobs,
            auth: Arc::new(config.auth.clone()),
            peer_token: peer::PeerToken::derive(&key),
            http: api_http_client(ca.as_ref()),
            authority: authority.as_ref().map(|(_, authority)| authority.clone()),
            agents: Arc::new(agents),
            oci: wasmpod_api::oci::RegistryClient::new(&config.insecure_registries),
            oci_layers: Arc::default(),
            shutdown: shutdown.clone(),
        };
        // The autoscaler's figures: the nodes' pod metrics, asked as the API serves them.
        let figures: Arc<dyn controllers::autoscaler_load::LoadSource> =
            Arc::new(controllers::autoscaler_source::NodeFigures {
                registry: registry.clone(),
                credentials: state.credentials.clone(),
                agents: state.agents.clone(),
            });
        let app = server::router(state);
        let stop = shutdown.clone();
        match authority {
            None => tasks.push(tokio::spawn(async move {
                let serve =
                    axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
                if let Err(error) = serve.await {
                    tracing::error!(%error, "API server stopped");
                }
            })),
            Some((tls, _)) => {
                let listener = tls_listener::TlsListener::new(listener, tls, shutdown.clone())
                    .map_err(|source| ControlPlaneError::Bind {
                        addr: config.api_addr,
                        source,
                    })?;
                tasks.push(tokio::spawn(async move {
                    let serve =
                        axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
                    if let Err(error) = serve.await {
                        tracing::error!(%error, "API server stopped");
                    }
                }));
            }
        }
        let gate_registry = registry.clone();
        let grace = config.node_grace;
        tasks.push(tokio::spawn(leader::gate::run_while_leader(
            leadership,
            shutdown.clone(),
            move |term: leader::gate::Term| {
                // The term's controllers write through its fence: a deposed leader's writes fail.
                let registry = term.registry(&gate_registry);
                let mut tasks = start_controllers(&registry, grace, term.since, term.stop.clone());
                tasks.push(tokio::spawn(controllers::autoscaler::run(
                    registry,
                    figures.clone(),
                    controllers::autoscaler::PERIOD,
                    term.stop,
                )));
                tasks
            },
        )));
        tracing::info!(%addr, "control plane listening");
        Ok(ControlPlane {
            addr,
            url: format!("{scheme}://{}", loopback_if_unspecified(addr)),
            ca,
            registry,
            tasks,
        })
    }

    /// Waits for the API server, the election and the controllers to stop (after `shutdown` is cancelled).
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

/// The address clients on this machine use for `addr` (127.0.0.1 when bound to every address).
fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::IpAddr::from([127, 0, 0, 1]), addr.port())
    } else {
        addr
    }
}

/// This server's name and URL: as configured, else from the bound address.
fn identity(config: &IdentityConfig, addr: SocketAddr, scheme: &str) -> leader::ServerIdentity {
    let authority = loopback_if_unspecified(addr).to_string();
    leader::ServerIdentity {
        name: config.name.clone().unwrap_or_else(|| authority.clone()),
        url: config
            .advertise_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{authority}"))
            .trim_end_matches('/')
            .to_string(),
    }
}

/// The names the API's certificate holds: the bound IP (unless every address), the advertised
/// URL's host, localhost and 127.0.0.1, and the `--tls-san` names.
fn certificate_names(addr: SocketAddr, advertised: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !addr.ip().is_unspecified() {
        names.push(addr.ip().to_string());
    }
    if let Some(host) = reqwest::Url::parse(advertised)
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
    {
        names.push(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        );
    }
    names.extend(extra.iter().cloned());
    names.sort();
    names.dedup();
    names
}

/// The client this server calls its peers and the nodes' agents with (trusting the cluster CA).
fn api_http_client(ca: Option<&wasmpod_api::tls::ClusterCa>) -> reqwest::Client {
    let builder = wasmpod_api::tls::http_client(ca).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot set up TLS for calls to peers and nodes");
        reqwest::Client::builder()
    });
    builder
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// Spawns the controllers and the scheduler; they stop when `term` is cancelled. `since` is
/// when this server took the lead: node leases are judged from then on, not from before.
fn start_controllers(
    registry: &Arc<Registry>,
    grace: Duration,
    since: chrono::DateTime<chrono::Utc>,
    term: CancellationToken,
) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(controllers::run_loop(
            "deployment",
            registry.clone(),
            &[Kind::Deployment, Kind::Pod],
            // Often enough for minReadySeconds and progress deadlines to be seen on time.
            Duration::from_secs(2),
            term.clone(),
            controllers::deployment::reconcile_all,
        )),
        tokio::spawn(controllers::run_loop(
            "scheduler",
            registry.clone(),
            &[Kind::Pod, Kind::Node, Kind::PersistentVolumeClaim],
            Duration::from_secs(5),
            term.clone(),
            controllers::scheduler::reconcile_all,
        )),
        tokio::spawn(controllers::run_loop(
            "statefulset",
            registry.clone(),
            &[Kind::StatefulSet, Kind::Pod, Kind::PersistentVolumeClaim],
            Duration::from_secs(10),
            term.clone(),
            controllers::statefulset::reconcile_all,
        )),
        tokio::spawn(controllers::run_loop(
            "namespace",
            registry.clone(),
            &[Kind::Namespace, Kind::Pod],
            Duration::from_secs(5),
            term.clone(),
            controllers::namespace::reconcile_all,
        )),
        tokio::spawn(controllers::run_loop(
            "claim-protection",
            registry.clone(),
            &[Kind::PersistentVolumeClaim, Kind::Pod],
            Duration::from_secs(10),
            term.clone(),
            controllers::claims::reconcile_all,
        )),
        tokio::spawn(controllers::run_loop(
            "config-version",
            registry.clone(),
            &[
                Kind::ConfigMap,
                Kind::Secret,
                Kind::KeyValueStore,
                Kind::Pod,
            ],
            Duration::from_secs(30),
            term.clone(),
            controllers::config_version::reconcile_all,
        )),
        tokio::spawn(controllers::run_loop(
            "node-lifecycle",
            registry.clone(),
            &[],
            (grace / 4).max(Duration::from_millis(100)),
            term,
            move |r| controllers::node_lifecycle::reconcile_all(r, grace, since),
        )),
    ]
}
