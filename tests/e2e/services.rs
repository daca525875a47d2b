//! Services calling each other by name, probes, retries, egress control, trace propagation.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmpod_api::PodPhase;
use wasmpod_tests::{
    components, frontend_backend, frontend_backend_across_nodes, http_app, http_get, http_get_host,
    http_get_with, wait_until, Cluster, ClusterApi, MultiNode,
};

const WAIT: Duration = Duration::from_secs(40);

fn trace_ids(body: &str) -> Vec<String> {
    body.split("traceparent")
        .skip(1)
        .filter_map(|rest| rest.split("00-").nth(1))
        .map(|t| t.chars().take(32).collect())
        .collect()
}

#[test]
fn frontend_calls_backend_by_name_on_the_same_node_as_one_trace() {
    let cluster = Cluster::up(&[]);
    let out = cluster.apply("fb.yaml", &frontend_backend());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = cluster.wait_for_status("/frontend", 200, WAIT);
    assert!(
        body.contains(r#"backend said: {"items":["apple","banana","cherry"]"#),
        "{body}"
    );
    let ids = trace_ids(&body);
    assert_eq!(ids.len(), 2, "{body}");
    assert_eq!(
        ids[0], ids[1],
        "frontend and backend share one trace id: {body}"
    );

    // No replica: a clear 503 from the mesh, seen by the frontend; back to 2: 200 again.
    cluster.cli_ok(&["scale", "deployment", "backend", "--replicas", "0"]);
    let body = wait_until("the frontend sees no backend", WAIT, || {
        let (code, body) = cluster.get("/frontend");
        (code == 502).then_some(body)
    });
    assert!(
        body.contains("503") && body.contains("no ready endpoints"),
        "{body}"
    );
    cluster.cli_ok(&["scale", "deployment", "backend", "--replicas", "2"]);
    cluster.wait_for_status("/frontend", 200, WAIT);
}

#[test]
fn frontend_calls_backend_on_another_node() {
    let mut cluster = MultiNode::start();
    let gateway_a = cluster.add_worker("front", &["--label", "role=front"]);
    cluster.add_worker("back", &["--label", "role=back"]);
    let yaml = frontend_backend_across_nodes();
    cluster.apply("fb.yaml", &yaml);
    wait_until("backends ready on node back", WAIT, || {
        (cluster.ready_pods("backend").len() == 2).then_some(())
    });
    assert!(cluster
        .ready_pods("backend")
        .iter()
        .all(|(_, n)| n == "back"));
    let body = wait_until("frontend through node front", WAIT, || {
        let (code, body) = http_get(&format!("{gateway_a}/frontend"));
        (code == 200).then_some(body)
    });
    assert!(body.contains("apple"), "{body}");
    let ids = trace_ids(&body);
    assert!(
        ids.len() == 2 && ids[0] == ids[1],
        "one trace across nodes: {body}"
    );
}

fn two_deployments_one_service(good_extra: &str, bad_extra: &str) -> String {
    wasmpod_tests::who_deployments("mixed", &[("good", good_extra), ("bad", bad_extra)])
}

#[test]
fn an_unready_replica_gets_no_traffic() {
    let cluster = Cluster::up(&[]);
    let yaml = two_deployments_one_service("", "      readinessProbe: {httpGet: {path: /env/NOT_SET}, periodSeconds: 1, failureThreshold: 1}\n");
    cluster.apply("mixed.yaml", &yaml);
    cluster.wait_for_status("/env/WHO", 200, WAIT);
    wait_until("the bad pod running but not ready", WAIT, || {
        cluster
            .pods_of_app("bad")
            .iter()
            .any(|p| p.status.phase == PodPhase::Running)
            .then_some(())
    });
    for _ in 0..20 {
        assert_eq!(cluster.get("/env/WHO"), (200, "good".to_string()));
    }
}

#[test]
fn a_failing_replica_is_retried_on_another() {
    let cluster = Cluster::up(&[]);
    // 1 MiB is less than the component's initial memory: every request to `bad` traps.
    let yaml = two_deployments_one_service("", "      resources: {limits: {memory: 1Mi}}\n");
    cluster.apply("mixed.yaml", &yaml);
    wait_until("both replicas ready", WAIT, || {
        (cluster
            .items("pods")
            .iter()
            .filter(|p| p["status"]["ready"] == true)
            .count()
            == 2)
            .then_some(())
    });
    // The gateway's table follows the API a moment later.
    cluster.wait_for_status("/env/WHO", 200, WAIT);
    for _ in 0..20 {
        assert_eq!(
            cluster.get("/env/WHO"),
            (200, "good".to_string()),
            "every request lands on the good replica"
        );
    }
    // A POST is not idempotent and a PUT with a body cannot be replayed: neither is retried, so
    // the ones round robin sends to the bad replica fail. That also shows the GETs above did
    // reach the bad replica, and were retried.
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/env/WHO", cluster.ingress);
    for (method, body) in [
        (reqwest::Method::POST, ""),
        (reqwest::Method::PUT, "some body"),
    ] {
        let mut statuses = Vec::new();
        for _ in 0..10 {
            let response = client
                .request(method.clone(), &url)
                .body(body)
                .send()
                .expect("gateway answers");
            let status = response.status().as_u16();
            let text = response.text().unwrap_or_default();
            if status == 200 {
                assert_eq!(text, "good");
            }
            statuses.push(status);
        }
        let failed = statuses.iter().filter(|s| **s == 500).count();
        assert!(
            failed >= 3 && failed + statuses.iter().filter(|s| **s == 200).count() == 10,
            "{method} {body:?} is not retried: {statuses:?}"
        );
    }
}

#[test]
fn failing_liveness_restarts_the_pod() {
    let cluster = Cluster::up(&[]);
    let yaml = http_app("sick", &components().misbehave, 1, "/").replace(
        "spec: {component:",
        "spec: {livenessProbe: {httpGet: {path: /env/NOT_SET}, periodSeconds: 1, failureThreshold: 2}, component:",
    );
    cluster.apply("sick.yaml", &yaml);
    let pod = wait_until("a liveness restart", WAIT, || {
        cluster
            .items("pods")
            .into_iter()
            .find(|p| p["status"]["restartCount"].as_u64().unwrap_or(0) >= 1)
    });
    assert_eq!(
        pod["status"]["lastTermination"]["reason"], "LivenessProbeFailed",
        "{pod}"
    );
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(events.contains("Killing"), "{events}");
}

/// A local HTTP server answering `outside world` and counting requests.
fn outside_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\nconnection: close\r\n\r\noutside world",
            );
        }
    });
    (port, hits)
}

#[test]
fn egress_is_denied_unless_allowed() {
    let (port, hits) = outside_server();
    let cluster = Cluster::up(&[]);
    let c = components();
    let denied = http_app("denied", &c.misbehave, 1, "/")
        .replace("- http:", "- host: denied.test\n    http:");
    let allowed = http_app("allowed", &c.misbehave, 1, "/")
        .replace("- http:", "- host: allowed.test\n    http:")
        .replace(
            "spec: {component:",
            &format!("spec: {{allowedOutboundHosts: [\"http://127.0.0.1:{port}\"], component:"),
        );
    cluster.apply("denied.yaml", &denied);
    cluster.apply("allowed.yaml", &allowed);
    let url = format!("{}/fetch?url=http://127.0.0.1:{port}/", cluster.ingress);
    let (code, body) = wait_until("the allowed pod reaches the outside", WAIT, || {
        let r = http_get_host(&url, "allowed.test");
        (r.0 == 200).then_some(r)
    });
    assert_eq!((code, body.as_str()), (200, "200\noutside world"));
    let before = hits.load(Ordering::SeqCst);
    let (code, body) = wait_until("the denied pod answers", WAIT, || {
        let r = http_get_host(&url, "denied.test");
        (r.0 != 404 && r.0 != 503).then_some(r)
    });
    assert_eq!(code, 502, "{body}");
    assert!(
        body.contains("HttpRequestDenied"),
        "the guest sees a clear error: {body}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), before, "nothing left the node");
    wait_until("an EgressDenied event", WAIT, || {
        cluster
            .cli_ok(&["get", "events"])
            .contains("EgressDenied")
            .then_some(())
    });
}

#[test]
fn an_outside_client_cannot_name_a_service_no_ingress_exposes() {
    let cluster = Cluster::up(&[]);
    let manifest = cluster.manifest("fb.yaml", &frontend_backend());
    cluster.cli_ok(&["apply", "-f", manifest.to_str().expect("utf-8 path")]);
    cluster.wait_for_status("/frontend", 200, WAIT);
    // `backend` has no ingress rule; the headers peers use to forward must not open it.
    let url = format!("{}/items", cluster.ingress);
    // A peer gateway presents its name and the forward key derived from its own credential.
    let stored =
        std::fs::read_to_string(cluster.data_dir.join("nodes/local-1/node-credential.json"))
            .expect("the node's credential");
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("json");
    let key = wasmpod_api::gateway_key::forward_key(stored["token"].as_str().expect("token"));
    for headers in [
        vec![("x-wasmpod-service", "default/backend")],
        vec![
            ("x-wasmpod-service", "default/backend"),
            ("x-wasmpod-node", "local-1"),
            ("x-wasmpod-forward-key", "guessed"),
        ],
        vec![
            ("x-wasmpod-service", "default/backend"),
            ("x-wasmpod-node", "local-2"),
            ("x-wasmpod-forward-key", &key),
        ],
    ] {
        let (code, body) = http_get_with(&url, &headers);
        assert_eq!(code, 404, "{headers:?} reached the backend: {body}");
        assert!(body.contains("no ingress rule"), "{body}");
    }
    let (code, body) = http_get_with(
        &url,
        &[
            ("x-wasmpod-service", "default/backend"),
            ("x-wasmpod-node", "local-1"),
            ("x-wasmpod-forward-key", &key),
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("apple"), "{body}");
}
