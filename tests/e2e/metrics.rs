//! What a cluster measures: each pod's live figures gathered from its node through the API
//! (`/api/v1/podmetrics`, what `wasmpod top` and the autoscaler read), and the Prometheus
//! metrics of the API server and the nodes.

use std::time::Duration;
use wasmpod_tests::prometheus::{Prometheus, ScrapeJob};
use wasmpod_tests::{
    components, http_app, http_get, http_get_with, wait_until, Cluster, MultiNode,
};

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

/// `host:port` of a `http://host:port` URL.
fn authority(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

/// The agent URL of every node, from the API.
fn agents(cluster: &MultiNode) -> Vec<String> {
    let nodes = cluster.items("nodes");
    nodes
        .iter()
        .map(|n| {
            n["status"]["agent"]
                .as_str()
                .expect("agent URL")
                .to_string()
        })
        .collect()
}

fn get_text(url: &str, token: Option<&str>) -> (u16, String) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

/// The sum of the samples of `series` (a name with its labels' opening, e.g.
/// `wasmpod_requests_total{namespace="default",service="hello"`) in a text-format page.
fn sum_of(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn create_view_token(cluster: &MultiNode) -> String {
    let token = cluster
        .cli_ok(&["create", "token", "prometheus", "--role", "view"])
        .trim()
        .to_string();
    assert!(token.starts_with("wpt_"), "{token:?}");
    token
}

/// Two nodes and the `hello` app, one replica on each; returns the first node's gateway.
fn two_nodes_with_hello() -> (MultiNode, String) {
    let mut cluster = MultiNode::start();
    let gateway = cluster.add_worker("a", &[]);
    cluster.add_worker("b", &[]);
    cluster.apply("app.yaml", &http_app("hello", &components().hello, 2, "/"));
    wait_until("both replicas ready", WAIT, || {
        (cluster.ready_pods("hello").len() == 2).then_some(())
    });
    wait_until("the gateway serves hello", WAIT, || {
        (http_get(&format!("{gateway}/")).0 == 200).then_some(())
    });
    (cluster, gateway)
}

#[test]
fn prometheus_scrapes_the_api_server_and_the_nodes_and_sees_the_requests_sent() {
    let (cluster, gateway) = two_nodes_with_hello();
    let token = create_view_token(&cluster);
    let token_file = cluster.work.path().join("prometheus-token");
    std::fs::write(&token_file, &token).expect("write the token file");
    let agents = agents(&cluster);
    assert_eq!(agents.len(), 2);
    let prometheus = Prometheus::start(&[
        ScrapeJob {
            name: "wasmpod-api".into(),
            targets: vec![authority(&cluster.api)],
            credentials_file: Some(token_file),
            tls: None,
        },
        ScrapeJob {
            name: "wasmpod-nodes".into(),
            targets: agents.iter().map(|a| authority(a)).collect(),
            credentials_file: None,
            tls: None,
        },
    ]);
    prometheus.wait_for("every target is up", "up", WAIT, |series| {
        (series.len() == 3 && series.iter().all(|(_, v)| *v == 1.0)).then_some(())
    });
    // What the nodes counted so far (the readiness polls), read from them directly.
    let counted = |agents: &[String]| -> f64 {
        agents
            .iter()
            .map(|a| {
                let (status, text) = get_text(&format!("{a}/metrics"), None);
                assert_eq!(status, 200, "{text}");
                sum_of(
                    &text,
                    "wasmpod_requests_total{namespace=\"default\",service=\"hello\"",
                )
            })
            .sum()
    };
    let before = counted(&agents);
    let sent = 25;
    for _ in 0..sent {
        assert_eq!(http_get(&format!("{gateway}/")).0, 200);
    }
    let want = before + sent as f64;
    assert_eq!(counted(&agents), want, "the nodes count every request once");
    let query = r#"sum(wasmpod_requests_total{job="wasmpod-nodes",service="hello",code="2xx"})"#;
    prometheus.wait_for(
        "the request counter moved by the requests sent",
        query,
        WAIT,
        |series| {
            series
                .first()
                .is_some_and(|(_, v)| *v == want)
                .then_some(())
        },
    );
    let latency = r#"sum(wasmpod_request_duration_seconds_count{service="hello"})"#;
    prometheus.wait_for(
        "the duration histogram counted them",
        latency,
        WAIT,
        |series| {
            series
                .first()
                .is_some_and(|(_, v)| *v == want)
                .then_some(())
        },
    );
    // The control plane's metrics, scraped with the view token.
    prometheus.wait_for(
        "the API counted the apply",
        r#"wasmpod_api_requests_total{job="wasmpod-api",verb="apply",code="2xx"}"#,
        WAIT,
        |series| series.first().is_some_and(|(_, v)| *v >= 1.0).then_some(()),
    );
    prometheus.wait_for(
        "the store committed and the workers watch",
        r#"wasmpod_store_commit_seconds_count > 0 and on() wasmpod_watch_clients > 0"#,
        WAIT,
        |series| (!series.is_empty()).then_some(()),
    );
    prometheus.wait_for(
        "the scheduler's passes are timed",
        r#"wasmpod_controller_pass_seconds_count{controller="scheduler"}"#,
        WAIT,
        |series| series.first().is_some_and(|(_, v)| *v >= 1.0).then_some(()),
    );
}

#[test]
fn metrics_pages_have_conventional_names_histograms_bounded_labels_and_their_auth() {
    let (cluster, gateway) = two_nodes_with_hello();
    // Requests with paths and trace ids that must not become labels.
    let secret_path = "/some/path-7f3a9c";
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    for _ in 0..3 {
        http_get_with(
            &format!("{gateway}{secret_path}"),
            &[("traceparent", &traceparent)],
        );
    }
    let agents = agents(&cluster);
    let mut node_text = String::new();
    for agent in &agents {
        // Prometheus scrapes a node without a key; its pod figures and logs want the agent key.
        let (status, text) = get_text(&format!("{agent}/metrics"), None);
        assert_eq!(status, 200, "{text}");
        node_text.push_str(&text);
        let (status, _) = get_text(&format!("{agent}/podmetrics"), None);
        assert_eq!(status, 401, "the pod figures want the agent key");
    }
    for want in [
        "# TYPE wasmpod_requests_total counter\n",
        "# TYPE wasmpod_request_duration_seconds histogram\n",
        "# TYPE wasmpod_instantiate_seconds histogram\n",
        "# TYPE wasmpod_pod_requests_in_flight gauge\n",
        "# TYPE wasmpod_pod_memory_bytes gauge\n",
        "# TYPE wasmpod_pod_instances gauge\n",
        "# TYPE wasmpod_pod_restarts_total counter\n",
        "# TYPE wasmpod_compile_cache_requests_total counter\n",
        "# TYPE wasmpod_compile_seconds histogram\n",
        "# TYPE wasmpod_egress_denied_total counter\n",
        "wasmpod_request_duration_seconds_bucket{namespace=\"default\",service=\"hello\",pod=\"hello-",
        ",le=\"+Inf\"} ",
        "wasmpod_compile_cache_requests_total{result=\"miss\"} ",
    ] {
        assert!(node_text.contains(want), "{want:?} missing in:\n{node_text}");
    }
    let (status, text) = get_text(&format!("{}/metrics", cluster.api), None);
    assert_eq!(status, 401, "the API's metrics want a token: {text}");
    let token = create_view_token(&cluster);
    let (status, api_text) = get_text(&format!("{}/metrics", cluster.api), Some(&token));
    assert_eq!(status, 200, "any role reads them: {api_text}");
    for want in [
        "# TYPE wasmpod_api_requests_total counter\n",
        "wasmpod_api_requests_total{verb=\"apply\",code=\"2xx\"} ",
        "wasmpod_api_requests_total{verb=\"read_metrics\",code=\"4xx\"} 1\n",
        "# TYPE wasmpod_store_commit_seconds histogram\n",
        "# TYPE wasmpod_watch_clients gauge\n",
        "# TYPE wasmpod_controller_pass_seconds histogram\n",
        "wasmpod_controller_pass_seconds_bucket{controller=\"scheduler\",le=\"+Inf\"} ",
        "# TYPE wasmpod_reconcile_errors_total counter\n",
        "wasmpod_pods_pending 0\n",
    ] {
        assert!(api_text.contains(want), "{want:?} missing in:\n{api_text}");
    }
    for text in [&node_text, &api_text] {
        assert!(!text.contains(secret_path) && !text.contains("path-7f3a9c"));
        assert!(!text.contains(trace_id), "no trace id label");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(name.starts_with("wasmpod_"), "{line}");
            // Only these label names, so every label's values are bounded.
            if let Some(labels) = line.split_once('{').and_then(|(_, l)| l.split_once('}')) {
                for pair in labels.0.split("\",") {
                    let key = pair.split('=').next().unwrap_or_default();
                    assert!(
                        [
                            "namespace",
                            "service",
                            "pod",
                            "code",
                            "verb",
                            "reason",
                            "result",
                            "controller",
                            "le"
                        ]
                        .contains(&key),
                        "label {key:?} in {line}"
                    );
                }
            }
        }
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut parts = line.split(' ').skip(2);
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            match kind {
                "counter" => assert!(name.ends_with("_total"), "{line}"),
                "histogram" => assert!(name.ends_with("_seconds"), "{line}"),
                "gauge" => assert!(!name.ends_with("_total"), "{line}"),
                other => panic!("type {other} in {line}"),
            }
        }
    }
}

#[test]
fn top_shows_each_pod_s_and_node_s_figures() {
    let cluster = Cluster::up(&[]);
    let out = cluster.apply("app.yaml", &http_app("hello", &components().hello, 1, "/"));
    assert!(out.status.success(), "{out:?}");
    cluster.wait_for_status("/", 200, WAIT);
    for _ in 0..20 {
        assert_eq!(cluster.get("/").0, 200);
    }
    let pods = cluster.cli_ok(&["top", "pods"]);
    let lines: Vec<&str> = pods.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "NAME",
            "NODE",
            "REQUESTS/S",
            "P50",
            "P99",
            "IN",
            "FLIGHT",
            "MEMORY",
            "RESTARTS",
            "IDLE"
        ],
        "{pods}"
    );
    let row: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("hello-"))
        .unwrap_or_else(|| panic!("a row for the hello pod: {pods}"))
        .split_whitespace()
        .collect();
    let rps: f64 = row[2].parse().expect("a rate");
    assert!(rps >= 2.0, "20 requests in the 10 s window: {pods}");
    assert!(
        row[3] != "-" && row[4] != "-",
        "latencies after requests: {pods}"
    );
    assert_eq!(row[6], "0", "no restarts: {pods}");
    let all = cluster.cli_ok(&["top", "pods", "-A"]);
    assert!(all.starts_with("NAMESPACE"), "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with("default") && l.contains("hello-")),
        "{all}"
    );
    let other = cluster.cli(&["top", "pods", "-n", "other"]);
    assert!(other.status.success());
    assert!(!String::from_utf8_lossy(&other.stdout).contains("hello-"));
    let nodes = cluster.cli_ok(&["top", "nodes"]);
    let lines: Vec<&str> = nodes.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PODS", "REQUESTS/S", "MEMORY"],
        "{nodes}"
    );
    let node_row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(node_row[1], "1", "{nodes}");
    assert!(
        node_row[2].parse::<f64>().expect("a rate") >= 2.0,
        "{nodes}"
    );
}

/// The text of the only node's `/metrics` in a `wasmpod up`.
fn node_metrics(cluster: &Cluster) -> String {
    let nodes = cluster.items("nodes");
    let agent = nodes[0]["status"]["agent"].as_str().expect("agent URL");
    let (status, text) = get_text(&format!("{agent}/metrics"), None);
    assert_eq!(status, 200, "{text}");
    text
}

#[test]
fn egress_denials_and_restarts_by_reason_are_counted() {
    let cluster = Cluster::up(&[]);
    let c = components();
    cluster.apply("denied.yaml", &http_app("denied", &c.misbehave, 1, "/"));
    cluster.apply("crasher.yaml", &wasmpod_tests::crasher_app(&c.crasher));
    cluster.wait_for_status("/ok", 200, WAIT);
    for _ in 0..2 {
        let (code, body) = cluster.get("/fetch?url=http://127.0.0.1:9/");
        assert_eq!(code, 502, "{body}");
    }
    let text = node_metrics(&cluster);
    let denied = sum_of(
        &text,
        "wasmpod_egress_denied_total{namespace=\"default\",pod=\"denied-",
    );
    assert_eq!(denied, 2.0, "{text}");
    // The crashing command pod: its restarts, by reason, on the node and in its figures.
    let restarts = wait_until("the crasher restarted twice", WAIT, || {
        let list = cluster.api_json("/api/v1/podmetrics");
        let figures = figures_of(&list, "crasher");
        let restarts = total(&figures, "restarts");
        (restarts >= 2).then_some(restarts)
    });
    let text = node_metrics(&cluster);
    let counted = sum_of(
        &text,
        "wasmpod_pod_restarts_total{namespace=\"default\",pod=\"crasher-",
    );
    assert!(counted >= restarts as f64, "{restarts} restarts: {text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("wasmpod_pod_restarts_total{")
                && l.contains("pod=\"crasher-")
                && l.contains("reason=\"Error\"")),
        "{text}"
    );
}
