//! The control plane's Prometheus metrics, one set per process (like Prometheus' default
//! registry): API requests by verb and status class, store commit latency, watch clients,
//! controller pass durations (the scheduler's among them) and reconcile errors, pods pending.
//! Rendered by `GET /metrics` on the API server ([`crate::server`]).

use std::sync::OnceLock;
use wasmpod_api::metrics::{Counter, Family, Gauge, Histogram, Registry};

pub struct ControlPlaneMetrics {
    pub registry: Registry,
    /// `wasmpod_api_requests_total{verb, code}`.
    pub api_requests: Family<Counter>,
    /// `wasmpod_store_commit_seconds`: a batch's transaction until it is durable and visible.
    pub store_commit: Histogram,
    /// `wasmpod_watch_clients`: watch streams open now.
    pub watch_clients: Gauge,
    /// `wasmpod_controller_pass_seconds{controller}`.
    pub controller_pass: Family<Histogram>,
    /// `wasmpod_reconcile_errors_total{controller}`.
    pub reconcile_errors: Family<Counter>,
    /// `wasmpod_pods_pending`: set when scraped.
    pub pods_pending: Gauge,
}

/// This process's control-plane metrics.
pub fn get() -> &'static ControlPlaneMetrics {
    static METRICS: OnceLock<ControlPlaneMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let registry = Registry::default();
        ControlPlaneMetrics {
            api_requests: registry.counter(
                "wasmpod_api_requests_total",
                "API requests answered, by verb and status class.",
                &["verb", "code"],
            ),
            store_commit: registry
                .histogram(
                    "wasmpod_store_commit_seconds",
                    "Time to commit one batch of writes to the store, until durable and visible.",
                    &[],
                )
                .get(&[]),
            watch_clients: registry
                .gauge("wasmpod_watch_clients", "Watch streams open now.", &[])
                .get(&[]),
            controller_pass: registry.histogram(
                "wasmpod_controller_pass_seconds",
                "Time of one reconcile pass, by controller (the scheduler's is controller=\"scheduler\").",
                &["controller"],
            ),
            reconcile_errors: registry.counter(
                "wasmpod_reconcile_errors_total",
                "Reconcile passes that failed (and will be retried), by controller.",
                &["controller"],
            ),
            pods_pending: registry
                .gauge(
                    "wasmpod_pods_pending",
                    "Pods in phase Pending (not scheduled, or not started yet).",
                    &[],
                )
                .get(&[]),
            registry,
        }
    })
}

/// One watch stream open, for as long as this lives.
pub struct WatchClient(());

impl WatchClient {
    pub fn open() -> WatchClient {
        get().watch_clients.inc();
        WatchClient(())
    }
}

impl Drop for WatchClient {
    fn drop(&mut self) {
        get().watch_clients.dec();
    }
}
