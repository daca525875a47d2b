//! Several nodes: spreading, pending pods, node loss, worker restart, tokens.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use wasmpod_tests::{components, http_app, http_get, wait_until, MultiNode};

const WAIT: Duration = Duration::from_secs(40);

#[test]
fn replicas_spread_and_come_back_within_seconds_after_kill9() {
    let mut cluster = MultiNode::start();
    let gateway_a = cluster.add_worker("node-a", &[]);
    cluster.add_worker("node-b", &[]);
    cluster.add_worker("node-c", &[]);
    cluster.apply(
        "hello.yaml",
        &http_app("hello", &components().hello, 6, "/hello"),
    );
    let pods = wait_until("6 ready replicas", WAIT, || {
        let pods = cluster.ready_pods("hello");
        (pods.len() == 6).then_some(pods)
    });
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for (_, node) in &pods {
        *per_node.entry(node.clone()).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "spread over every node: {per_node:?}");
    assert!(per_node.values().all(|n| *n == 2), "{per_node:?}");
    let wide = cluster.cli_ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.contains("node-c"), "{wide}");

    cluster.worker("node-c").kill9();
    let killed = Instant::now();
    let mut failures = 0;
    let elapsed = wait_until("6 ready replicas on the surviving nodes", WAIT, || {
        if http_get(&format!("{gateway_a}/hello")).0 != 200 {
            failures += 1;
        }
        let pods = cluster.ready_pods("hello");
        (pods.len() == 6 && pods.iter().all(|(_, n)| n != "node-c")).then(|| killed.elapsed())
    });
    eprintln!(
        "replicas serving elsewhere {} ms after kill -9",
        elapsed.as_millis()
    );
    assert_eq!(failures, 0, "ingress on a surviving node kept answering");
    let nodes = cluster.cli_ok(&["get", "nodes"]);
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with("node-c") && l.contains("NotReady")),
        "{nodes}"
    );
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(
        events.contains("Evicted") && events.contains("NodeNotReady"),
        "{events}"
    );
}

#[test]
fn pod_that_fits_nowhere_stays_pending_until_a_node_has_room() {
    let mut cluster = MultiNode::start();
    cluster.add_worker("small", &["--capacity", "memory=100Mi"]);
    let yaml = http_app("big", &components().hello, 1, "/big").replace(
        "spec: {component:",
        "spec: {resources: {requests: {memory: 1Gi}}, component:",
    );
    cluster.apply("big.yaml", &yaml);
    let message = wait_until("Unschedulable status", WAIT, || {
        cluster.items("pods").iter().find_map(|p| {
            (p["status"]["reason"] == "Unschedulable").then(|| {
                p["status"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        })
    });
    assert_eq!(message, "0/1 nodes are available: 1 insufficient memory");
    let pods = cluster.cli_ok(&["get", "pods"]);
    assert!(pods.contains("Unschedulable"), "{pods}");
    cluster.add_worker("large", &["--capacity", "memory=4Gi"]);
    let placed = wait_until("the pod scheduled on the new node", WAIT, || {
        let ready = cluster.ready_pods("big");
        (ready.len() == 1).then(|| ready[0].1.clone())
    });
    assert_eq!(placed, "large");
}

#[test]
fn restarted_worker_runs_exactly_its_pods() {
    let mut cluster = MultiNode::start();
    cluster.add_worker("node-a", &[]);
    cluster.apply(
        "hello.yaml",
        &http_app("hello", &components().hello, 2, "/hello"),
    );
    let before = wait_until("2 ready", WAIT, || {
        let p = cluster.ready_pods("hello");
        (p.len() == 2).then_some(p)
    });
    cluster.worker("node-a").kill9();
    cluster.workers.clear();
    let gateway = cluster.add_worker("node-a", &[]);
    wait_until("hello served by the restarted node", WAIT, || {
        (http_get(&format!("{gateway}/hello")).0 == 200).then_some(())
    });
    let mut after = cluster.ready_pods("hello");
    let mut before = before;
    after.sort();
    before.sort();
    assert_eq!(after, before, "the same pods, no duplicates");
}

#[test]
fn tokens_guard_the_api() {
    let mut cluster = MultiNode::start();
    let client = reqwest::blocking::Client::new();
    let anonymous = client
        .get(format!("{}/api/v1/pods", cluster.api))
        .send()
        .expect("answers");
    assert_eq!(anonymous.status().as_u16(), 401);
    let apply = client
        .post(format!("{}/api/v1/apply", cluster.api))
        .json(&serde_json::json!({"objects": []}))
        .send()
        .expect("answers");
    assert_eq!(apply.status().as_u16(), 401);
    let as_node = client
        .post(format!("{}/api/v1/apply", cluster.api))
        .bearer_auth(&cluster.join_token)
        .json(&serde_json::json!({"objects": []}))
        .send()
        .expect("answers");
    assert_eq!(as_node.status().as_u16(), 403, "a join token cannot apply");

    let mut intruder = wasmpod_tests::Process::spawn_command(cluster.worker_command(
        "intruder",
        "wrong-token",
        &[],
    ));
    let status = intruder
        .wait_exit(Duration::from_secs(30))
        .expect("the worker gives up");
    assert!(!status.success());
    assert!(
        cluster.items("nodes").is_empty(),
        "no node registered with a wrong token"
    );
    cluster.add_worker("good", &[]);
    assert_eq!(cluster.items("nodes").len(), 1);
}

#[test]
fn up_with_three_workers_cordon_and_drain() {
    let cluster = wasmpod_tests::Cluster::up(&["--workers", "3"]);
    let nodes = cluster.cli_ok(&["get", "nodes"]);
    assert_eq!(
        nodes
            .lines()
            .filter(|l| l.starts_with("local-") && l.contains("Ready"))
            .count(),
        3,
        "{nodes}"
    );
    cluster.cli_ok(&["cordon", "local-3"]);
    let nodes = cluster.cli_ok(&["get", "nodes"]);
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with("local-3") && l.contains("SchedulingDisabled")),
        "{nodes}"
    );
    cluster.apply(
        "hello.yaml",
        &http_app("hello", &components().hello, 4, "/hello"),
    );
    let on_nodes = |cluster: &wasmpod_tests::Cluster| -> Vec<String> {
        cluster
            .items("pods")
            .iter()
            .filter(|p| p["status"]["ready"] == true)
            .map(|p| {
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let placed = wait_until("4 ready", WAIT, || {
        let n = on_nodes(&cluster);
        (n.len() == 4).then_some(n)
    });
    assert!(
        !placed.contains(&"local-3".to_string()),
        "a cordoned node gets no pods: {placed:?}"
    );
    assert!(placed.contains(&"local-2".to_string()));
    cluster.cli_ok(&["drain", "local-2", "--timeout-seconds", "30"]);
    let placed = wait_until("4 ready after drain", WAIT, || {
        let n = on_nodes(&cluster);
        (n.len() == 4).then_some(n)
    });
    assert!(
        placed.iter().all(|n| n == "local-1"),
        "drained pods moved: {placed:?}"
    );
    assert_eq!(cluster.get("/hello").0, 200);
    cluster.cli_ok(&["uncordon", "local-3"]);
    let nodes = cluster.cli_ok(&["get", "nodes"]);
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with("local-3") && !l.contains("SchedulingDisabled")),
        "{nodes}"
    );
}
