//! What a cluster measures: each pod's live figures gathered from its node through the API
//! (`/api/v1/podmetrics`, what `wasmpod top` and the autoscaler read), and the Prometheus
//! metrics of the API server and the nodes.

use std::time::Duration;
use wasmpod_tests::{components, http_app, wait_until, Cluster};

const WAIT: Duration = Duration::from_secs(60);

/// The figures of the pods of deployment `app` (by pod name prefix) in a podmetrics answer.
fn figures_of<'a>(list: &'a serde_json::Value, app: &str) -> Vec<&'a serde_json::Value> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|m| {
            m["pod"]
                .as_str()
                .is_some_and(|p| p.starts_with(&format!("{app}-")))
        })
        .collect()
}

fn total(figures: &[&serde_json::Value], field: &str) -> u64 {
    figures.iter().map(|m| m[field].as_u64().unwrap_or(0)).sum()
}

#[test]
fn pod_metrics_count_the_requests_sent_and_their_latency() {
    let cluster = Cluster::up(&[]);
    let out = cluster.apply("app.yaml", &http_app("hello", &components().hello, 2, "/"));
    assert!(out.status.success(), "{out:?}");
    cluster.wait_for_status("/", 200, WAIT);
    let before = wait_until("both pods have figures", WAIT, || {
        let list = cluster.api_json("/api/v1/podmetrics");
        let figures = figures_of(&list, "hello");
        (figures.len() == 2).then(|| total(&figures, "requestsTotal"))
    });
    let sent = 30;
    for _ in 0..sent {
        assert_eq!(cluster.get("/").0, 200);
    }
    let list = cluster.api_json("/api/v1/namespaces/default/podmetrics");
    let figures = figures_of(&list, "hello");
    assert_eq!(figures.len(), 2, "{list}");
    assert_eq!(
        total(&figures, "requestsTotal"),
        before + sent,
        "every request sent is counted once: {list}"
    );
    let rate: f64 = figures
        .iter()
        .map(|m| m["requestsPerSecond"].as_f64().expect("rate"))
        .sum();
    assert!(
        rate >= sent as f64 / 10.0 - 1e-9,
        "the {sent} requests are in the 10 s window: {list}"
    );
    for m in &figures {
        assert_eq!(m["namespace"], "default");
        assert!(m["node"].as_str().is_some_and(|n| !n.is_empty()), "{m}");
        assert_eq!(m["inFlight"], 0, "{m}");
        assert_eq!(m["windowSeconds"], 10);
        let p50 = m["p50Seconds"].as_f64().expect("a p50 after requests");
        let p99 = m["p99Seconds"].as_f64().expect("a p99 after requests");
        assert!(p50 > 0.0 && p50 <= p99 && p99 < 10.0, "{m}");
        assert!(m["idleSeconds"].as_f64().expect("idle") < 30.0, "{m}");
        assert!(m["lastRequest"].is_string(), "{m}");
        // An instance is made per request and dropped after it: nothing is live in between.
        assert!(m["memoryBytes"].is_u64(), "{m}");
    }
    // Another namespace has none of them; the list across namespaces has them.
    let other = cluster.api_json("/api/v1/namespaces/other/podmetrics");
    assert!(figures_of(&other, "hello").is_empty(), "{other}");
    let all = cluster.api_json("/api/v1/podmetrics");
    assert_eq!(figures_of(&all, "hello").len(), 2, "{all}");
    assert!(all.get("unreachableNodes").is_none(), "{all}");
}
