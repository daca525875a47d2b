use std::time::Duration;
use wasmpod_tests::{components, http_app, wait_until, Cluster, ClusterApi};

const WAIT: Duration = Duration::from_secs(30);

fn pod_names(cluster: &Cluster, app: &str) -> Vec<String> {
    cluster
        .items("pods")
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .map(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn apply_serves_through_ingress_scales_and_deletes() {
    let cluster = Cluster::up(&[]);
    let c = components();
    let out = cluster.apply("hello.yaml", &http_app("hello", &c.hello, 2, "/hello"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("deployment/hello created"), "{stdout}");
    let body = cluster.wait_for_status("/hello", 200, WAIT);
    assert_eq!(body, "Hello from wasmpod!\n");

    // Scale by re-applying with more replicas.
    cluster.apply("hello.yaml", &http_app("hello", &c.hello, 3, "/hello"));
    wait_until("3 ready pods", WAIT, || {
        let ready = cluster
            .items("pods")
            .iter()
            .filter(|p| p["status"]["ready"] == true)
            .count();
        (ready == 3).then_some(())
    });
    let table = cluster.cli_ok(&["get", "pods"]);
    assert_eq!(
        table.lines().filter(|l| l.starts_with("hello-")).count(),
        3,
        "{table}"
    );
    assert!(table.starts_with("NAME"), "{table}");
    let deployments = cluster.cli_ok(&["get", "deployments"]);
    assert!(deployments.contains("3/3"), "{deployments}");

    // The scale verb, and get -o json/yaml.
    cluster.cli_ok(&["scale", "deployment", "hello", "--replicas", "1"]);
    wait_until("1 pod", WAIT, || {
        (pod_names(&cluster, "hello").len() == 1).then_some(())
    });
    let json: serde_json::Value =
        serde_json::from_str(&cluster.cli_ok(&["get", "deployment", "hello", "-o", "json"]))
            .expect("json");
    assert_eq!(json["spec"]["replicas"], 1);
    assert!(cluster
        .cli_ok(&["get", "services", "-o", "yaml"])
        .contains("kind: Service"));
    assert!(cluster.cli_ok(&["get", "nodes"]).contains("local-1"));
    assert!(cluster
        .cli_ok(&["get", "ingresses"])
        .contains("/hello -> hello"));
    let pod = pod_names(&cluster, "hello").remove(0);
    let described = cluster.cli_ok(&["describe", "pod", &pod]);
    assert!(
        described.contains("nodeName: local-1") && described.contains("Scheduled"),
        "{described}"
    );

    // Delete everything the file made: the route is gone.
    let file = cluster.work.path().join("hello.yaml");
    cluster.cli_ok(&["delete", "-f", file.to_str().unwrap_or_default()]);
    cluster.wait_for_status("/hello", 404, WAIT);
    wait_until("pods gone", WAIT, || {
        pod_names(&cluster, "hello").is_empty().then_some(())
    });
}

/// An object named like a segment of the API's paths (`api`, `v1`) is scaled, reported on and
/// logged like any other: the client builds subresource paths from the name, it does not search
/// the object's path for it (that turned `/api/v1/deployments/api` into `/api/scale/v1/...`).
#[test]
fn objects_named_like_api_path_segments_scale_and_log() {
    let cluster = Cluster::up(&[]);
    let c = components();
    let out = cluster.apply("api.yaml", &http_app("api", &c.hello, 1, "/api"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.wait_for_status("/api", 200, WAIT);
    // The server-side dry run goes to the same subresource, and stores nothing.
    cluster.cli_ok(&[
        "scale",
        "deployment",
        "api",
        "--replicas",
        "3",
        "--dry-run=server",
    ]);
    assert_eq!(
        cluster.api_json("/api/v1/deployments/api")["spec"]["replicas"],
        1
    );
    cluster.cli_ok(&["scale", "deployment", "api", "--replicas", "2"]);
    let pods = wait_until("2 ready pods of api", WAIT, || {
        let pods = cluster.pods_of_app("api");
        (pods.iter().filter(|p| p.status.ready).count() == 2).then_some(pods)
    });
    cluster.cli_ok(&["logs", pods[0].name()]);
}

#[test]
fn restart_with_same_data_dir_keeps_state_and_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let c = components();
    {
        let mut cluster = Cluster::up_in(&data, &[]);
        cluster.apply("hello.yaml", &http_app("hello", &c.hello, 2, "/hello"));
        cluster.wait_for_status("/hello", 200, WAIT);
        cluster.stop();
    }
    let cluster = Cluster::up_in(&data, &[]);
    let body = cluster.wait_for_status("/hello", 200, WAIT);
    assert_eq!(body, "Hello from wasmpod!\n");
    let deployments = cluster.cli_ok(&["get", "deployments"]);
    assert!(deployments.contains("hello"), "{deployments}");
    assert_eq!(
        pod_names(&cluster, "hello").len(),
        2,
        "no duplicate pods after restart"
    );
}

#[test]
fn trap_answers_500_and_the_next_request_succeeds() {
    let cluster = Cluster::up(&[]);
    let c = components();
    cluster.apply("m.yaml", &http_app("misbehave", &c.misbehave, 1, "/"));
    cluster.wait_for_status("/ok", 200, WAIT);
    let (code, _) = cluster.get("/trap");
    assert_eq!(code, 500);
    assert_eq!(cluster.get("/ok").0, 200);
}

#[test]
fn logs_show_what_the_component_wrote() {
    let cluster = Cluster::up(&[]);
    let c = components();
    cluster.apply("m.yaml", &http_app("misbehave", &c.misbehave, 1, "/"));
    cluster.wait_for_status("/log", 200, WAIT);
    let pod = pod_names(&cluster, "misbehave").remove(0);
    let logs = wait_until("log lines", WAIT, || {
        let logs = cluster.cli_ok(&["logs", &pod]);
        (logs.contains("log-stdout") && logs.contains("log-stderr")).then_some(logs)
    });
    // One request wrote one line to each stream.
    assert_eq!(logs.matches("log-stdout").count(), 1, "{logs}");
    assert_eq!(logs.matches("log-stderr").count(), 1, "{logs}");

    // The node agent gives logs to the control plane only (which presents the node's agent key).
    let agent = cluster.items("nodes")[0]["status"]["agent"]
        .as_str()
        .expect("agent address")
        .to_string();
    let (code, body) =
        wasmpod_tests::http_get(&format!("{agent}/logs?namespace=default&pod={pod}"));
    assert_eq!(code, 401, "{body}");
    assert!(!body.contains("log-stdout"), "{body}");
}
