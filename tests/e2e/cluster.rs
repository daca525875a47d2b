//! Several nodes: spreading, pending pods, node loss, worker restart, tokens.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use wasmpod_tests::{components, http_app, http_get, wait_until, MultiNode};

const WAIT: Duration = Duration::from_secs(40);

#[test]
fn replicas_spread_and_come_back_within_seconds_after_kill9() {
    let mut cluster = MultiNode::start();
    // node-a only routes: every replica sits on node-b and node-c, so each request that node-a's
    // gateway serves is forwarded, and half of them go to node-c until it is declared gone.
    let gateway_a = cluster.add_worker("node-a", &[]);
    cluster.add_worker("node-b", &["--label", "tier=app"]);
    cluster.add_worker("node-c", &["--label", "tier=app"]);
    cluster.apply(
        "hello.yaml",
        &http_app("hello", &components().hello, 4, "/hello").replace(
            "spec: {component:",
            "spec: {nodeSelector: {tier: app}, component:",
        ),
    );
    let pods = wait_until("4 ready replicas", WAIT, || {
        let pods = cluster.ready_pods("hello");
        (pods.len() == 4).then_some(pods)
    });
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for (_, node) in &pods {
        *per_node.entry(node.clone()).or_default() += 1;
    }
    assert_eq!(
        per_node,
        HashMap::from([("node-b".to_string(), 2), ("node-c".to_string(), 2)]),
        "spread over the app nodes"
    );
    let wide = cluster.cli_ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.contains("node-c"), "{wide}");

    cluster.worker("node-c").kill9();
    let killed = Instant::now();
    let mut failures = Vec::new();
    let mut served = 0;
    let elapsed = wait_until("4 ready replicas on node-b", WAIT, || {
        match http_get(&format!("{gateway_a}/hello")) {
            (200, _) => served += 1,
            other => failures.push(other),
        }
        let pods = cluster.ready_pods("hello");
        (pods.len() == 4 && pods.iter().all(|(_, n)| n == "node-b")).then(|| killed.elapsed())
    });
    eprintln!(
        "replicas serving elsewhere {} ms after kill -9 ({served} requests through node-a)",
        elapsed.as_millis()
    );
    assert!(served >= 10, "the gateway was under load: {served}");
    assert!(
        failures.is_empty(),
        "requests forwarded to the dead node were retried on a live one: {failures:?}"
    );
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
        "tagged.yaml",
        &wasmpod_tests::who_deployments("tagged", &[("one", ""), ("two", "")]),
    );
    let ready = |cluster: &MultiNode| {
        let mut pods: Vec<(String, String)> = ["one", "two"]
            .iter()
            .flat_map(|app| cluster.ready_pods(app))
            .collect();
        pods.sort();
        pods
    };
    let before = wait_until("2 ready", WAIT, || {
        let p = ready(&cluster);
        (p.len() == 2).then_some(p)
    });
    cluster.worker("node-a").kill9();
    cluster.workers.clear();
    let gateway = cluster.add_worker("node-a", &[]);
    // Served by the restarted process: both of its pods answer, in turns (round robin over what
    // it runs; a table rebuilt mid-way restarts the turns, so not exactly 10 each).
    let mut answers: HashMap<String, usize> = HashMap::new();
    wait_until("both pods served by the restarted node", WAIT, || {
        answers.clear();
        for _ in 0..20 {
            let (code, body) = http_get(&format!("{gateway}/env/WHO"));
            if code != 200 {
                return None;
            }
            *answers.entry(body).or_default() += 1;
        }
        (answers.len() == 2).then_some(())
    });
    assert!(
        answers.keys().all(|k| k == "one" || k == "two") && answers.values().all(|n| *n >= 5),
        "{answers:?}"
    );
    assert_eq!(ready(&cluster), before, "the same pods, no new ones");
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

#[test]
fn node_writes_state_the_version_they_read() {
    let mut cluster = MultiNode::start();
    cluster.add_worker("node-a", &[]);
    let client = reqwest::blocking::Client::new();
    let (api, admin) = (cluster.api.clone(), cluster.admin_token.clone());
    let url = format!("{api}/api/v1/nodes/node-a");
    let read = || -> serde_json::Value {
        wasmpod_tests::api_json(&api, "/api/v1/nodes/node-a", Some(&admin))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let put = |body: &serde_json::Value| {
        let response = client
            .put(&url)
            .bearer_auth(&admin)
            .json(body)
            .send()
            .expect("the API answers");
        (
            response.status().as_u16(),
            response.text().unwrap_or_default(),
        )
    };
    // No version: refused, nothing changed.
    let mut node = read();
    node["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("resourceVersion");
    node["spec"]["unschedulable"] = serde_json::json!(true);
    let (code, text) = put(&node);
    assert_eq!(code, 409, "{text}");
    assert_ne!(read()["spec"]["unschedulable"], true);
    // A version that a heartbeat has since replaced: refused as stale.
    let stale = read();
    wait_until("a heartbeat after the read", WAIT, || {
        (read()["metadata"]["resourceVersion"] != stale["metadata"]["resourceVersion"])
            .then_some(())
    });
    let mut node = stale.clone();
    node["spec"]["unschedulable"] = serde_json::json!(true);
    let (code, text) = put(&node);
    assert_eq!(code, 409, "{text}");
    assert!(
        text.contains("the object has been modified; read it again"),
        "{text}"
    );
    // `cordon` reads again and retries while heartbeats keep changing the node.
    for _ in 0..5 {
        cluster.cli_ok(&["cordon", "node-a"]);
        cluster.cli_ok(&["uncordon", "node-a"]);
    }
    cluster.cli_ok(&["cordon", "node-a"]);
    cluster.cli_ok(&["label", "node/node-a", "team=storage"]);
    // A restarted worker registers again without undoing the cordon or the admin's label.
    cluster.worker("node-a").kill9();
    cluster.workers.clear();
    cluster.add_worker("node-a", &["--label", "zone=b"]);
    let node = wait_until("the node re-registered with its new label", WAIT, || {
        let node = read();
        (node["metadata"]["labels"]["zone"] == "b").then_some(node)
    });
    assert_eq!(node["spec"]["unschedulable"], true, "{node}");
    assert_eq!(node["metadata"]["labels"]["team"], "storage", "{node}");
}
