//! Live figures of each pod (requests per second, latency, memory, restarts), as its node
//! measures them over a short window. The node serves them on its agent port
//! (`GET /podmetrics`), the API server gathers them from every ready node
//! (`GET /api/v1/podmetrics`, `GET /api/v1/namespaces/NS/podmetrics`), and `wasmpod top` and the
//! autoscaler read them there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The length of the window rates and latency percentiles are measured over, in seconds.
pub const WINDOW_SECONDS: u32 = 10;

/// One pod's figures, as its node measured them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetrics {
    pub namespace: String,
    pub pod: String,
    pub node: String,
    /// Requests being served right now (admitted or waiting for an instance).
    pub in_flight: u64,
    /// Requests served since the pod started on this node.
    pub requests_total: u64,
    /// Requests completed over the last `window_seconds`, per second.
    pub requests_per_second: f64,
    /// Median time to the response's head over the window (`None`: no request in the window).
    pub p50_seconds: Option<f64>,
    /// 99th percentile of the same.
    pub p99_seconds: Option<f64>,
    /// Linear memory of the pod's live instances (idle reused ones included).
    pub memory_bytes: u64,
    /// Times the pod was restarted on this node (its status' `restartCount`).
    pub restarts: u64,
    /// When the last request completed (`None`: none yet).
    pub last_request: Option<DateTime<Utc>>,
    /// Seconds since the last request completed, or since the pod started serving when it has
    /// had none: how long it has been idle (what scale to zero looks at).
    pub idle_seconds: f64,
    /// The window the rate and percentiles cover.
    pub window_seconds: u32,
}

/// The figures of every pod of one node (the agent's answer) or of the cluster (the API's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetricsList {
    pub items: Vec<PodMetrics>,
    /// Ready nodes that did not answer in time: their pods are missing from `items`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreachable_nodes: Vec<UnreachableNode>,
}

/// A node whose figures are missing, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreachableNode {
    pub node: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_camel_case_json() {
        let list = PodMetricsList {
            items: vec![PodMetrics {
                namespace: "default".into(),
                pod: "web-1".into(),
                node: "n1".into(),
                in_flight: 2,
                requests_total: 40,
                requests_per_second: 4.0,
                p50_seconds: Some(0.002),
                p99_seconds: None,
                memory_bytes: 1 << 20,
                restarts: 1,
                last_request: None,
                idle_seconds: 3.5,
                window_seconds: WINDOW_SECONDS,
            }],
            unreachable_nodes: vec![],
        };
        let json = serde_json::to_value(&list).expect("json");
        assert_eq!(json["items"][0]["requestsPerSecond"], 4.0);
        assert_eq!(json["items"][0]["inFlight"], 2);
        assert!(json.get("unreachableNodes").is_none());
        let back: PodMetricsList = serde_json::from_value(json).expect("decode");
        assert_eq!(back, list);
    }
}
