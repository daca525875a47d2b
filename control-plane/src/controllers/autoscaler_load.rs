//! Where the autoscaler's figures come from: a [`LoadSource`] gives each pod's in-flight
//! requests, requests per second and last request time, by namespace, in one round of asking;
//! [`load_of`] sums them over the pods of one Deployment.

use super::autoscaler_math::Load;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use thiserror::Error;
use wasmpod_api::Pod;

/// One pod's figures, as its node reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PodLoad {
    pub in_flight: f64,
    pub requests_per_second: f64,
    pub last_request: Option<DateTime<Utc>>,
}

#[derive(Debug, Error)]
#[error("the pods' figures could not be read: {message}")]
pub struct LoadError {
    pub message: String,
}

/// Each pod's figures in a namespace, by pod name.
pub type PodLoads = HashMap<String, PodLoad>;

/// Each namespace's [`PodLoads`].
pub type ClusterLoads = HashMap<String, PodLoads>;

pub type LoadFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ClusterLoads, LoadError>> + Send + 'a>>;

/// Gives the figures of every pod (the nodes' reports, or a test's numbers).
pub trait LoadSource: Send + Sync + 'static {
    fn pod_loads(&self) -> LoadFuture<'_>;
}

/// The load of `pods` (one Deployment's live pods) from the namespace's figures. A ready pod
/// without figures makes the idle time unknown: nothing goes to zero on a missing report. Nor
/// while a pod is still starting: it was made for a reason (a request held at a gateway, a
/// scale-up) and has not had the chance to serve.
pub fn load_of(pods: &[&Pod], loads: &PodLoads, now: DateTime<Utc>) -> Load {
    let mut load = Load::default();
    let mut last_activity: Option<DateTime<Utc>> = None;
    let mut unreported = pods.iter().any(|p| !p.status.ready);
    for pod in pods {
        // A pod that just started counts as activity.
        last_activity = last_activity.max(pod.metadata.creation_timestamp);
        match loads.get(pod.name()) {
            Some(figures) => {
                load.pods += 1;
                load.in_flight += figures.in_flight.max(0.0);
                load.requests_per_second += figures.requests_per_second.max(0.0);
                last_activity = last_activity.max(figures.last_request);
            }
            None if pod.status.ready => unreported = true,
            None => {}
        }
    }
    load.idle_for = match (unreported, last_activity) {
        (false, Some(at)) => Some((now - at).to_std().unwrap_or(Duration::ZERO)),
        _ => None,
    };
    load
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, created: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
            "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
            "status": {"phase": "Running", "ready": ready}
        }))
        .expect("pod")
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn figures_sum_over_the_pods_and_idle_time_counts_from_the_latest_activity() {
        let (a, b) = (
            pod("a", "2026-01-01T00:00:00Z", true),
            pod("b", "2026-01-01T00:00:10Z", true),
        );
        let loads: PodLoads = [
            (
                "a".to_string(),
                PodLoad {
                    in_flight: 3.0,
                    requests_per_second: 10.0,
                    last_request: Some(at("2026-01-01T00:00:20Z")),
                },
            ),
            (
                "b".to_string(),
                PodLoad {
                    in_flight: 1.0,
                    requests_per_second: 5.0,
                    last_request: None,
                },
            ),
            ("other".to_string(), PodLoad::default()),
        ]
        .into();
        let load = load_of(&[&a, &b], &loads, at("2026-01-01T00:01:00Z"));
        assert_eq!(load.pods, 2);
        assert_eq!(load.in_flight, 4.0);
        assert_eq!(load.requests_per_second, 15.0);
        assert_eq!(load.idle_for, Some(Duration::from_secs(40)));
        // A new pod restarts the idle time; while it starts, the idle time is unknown.
        let c = pod("c", "2026-01-01T00:00:55Z", true);
        let mut with_c = loads.clone();
        with_c.insert("c".into(), PodLoad::default());
        let load = load_of(&[&a, &b, &c], &with_c, at("2026-01-01T00:01:00Z"));
        assert_eq!(load.idle_for, Some(Duration::from_secs(5)));
        let starting = pod("d", "2026-01-01T00:00:00Z", false);
        let load = load_of(&[&a, &b, &starting], &loads, at("2026-01-01T00:01:00Z"));
        assert_eq!(
            load.idle_for, None,
            "a pod still starting keeps it from zero"
        );
        assert_eq!(load.pods, 2, "d has no figures yet");
    }

    #[test]
    fn a_ready_pod_without_figures_keeps_the_idle_time_unknown() {
        let a = pod("a", "2026-01-01T00:00:00Z", true);
        let load = load_of(&[&a], &PodLoads::new(), at("2026-01-01T01:00:00Z"));
        assert_eq!(load.idle_for, None);
        assert_eq!(load.pods, 0);
    }
}
