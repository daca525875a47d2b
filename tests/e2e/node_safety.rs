//! Issue 11, findings 3, 5 and 9: names cannot escape a node's data dir, a node restarts its
//! pods while the control plane is down, and secret files live only as long as their pods, in
//! owner-only directories.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use wasmpod_tests::{
    components, crasher_app, deployment_yaml, wait_until, wasmpod_bin, Cluster, MultiNode, Process,
};

const WAIT: Duration = Duration::from_secs(40);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Finding 3: `namespace: ../../../../tmp/x` on a claim and a Deployment using it.
#[test]
fn names_that_escape_the_data_dir_are_refused_at_apply() {
    let cluster = Cluster::up(&[]);
    let escape = "../../../../tmp/x";
    let yaml = format!(
        r#"apiVersion: wasmpod.dev/v1
kind: PersistentVolumeClaim
metadata: {{name: data, namespace: {escape}}}
spec: {{}}
---
apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: evil, namespace: {escape}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: evil}}}}
  template:
    metadata: {{labels: {{app: evil}}}}
    spec:
      component: {component}
      env: [{{name: CRASH_MODE, value: forever}}]
      volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]
      volumeMounts: [{{name: data, mountPath: /data}}]
"#,
        component = components().crasher.display()
    );
    let out = cluster.apply("evil.yaml", &yaml);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "apply accepted it: {stderr}");
    assert!(
        stderr.contains("metadata.namespace") && stderr.contains(escape),
        "the error names the field and the value: {stderr}"
    );

    // The API refuses it too (a client that skips the CLI's checks), with 422 naming the field.
    let client = reqwest::blocking::Client::new();
    let claim = serde_json::json!({"objects": [{
        "apiVersion": "wasmpod.dev/v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": escape}, "spec": {}}]});
    let response = client
        .post(format!("{}/api/v1/apply", cluster.api))
        .json(&claim)
        .send()
        .expect("apply answers");
    assert_eq!(response.status().as_u16(), 422);
    let body = response.text().unwrap_or_default();
    assert!(
        body.contains("metadata.namespace") && body.contains(escape),
        "{body}"
    );

    // Every route refuses a namespace or name that is not a DNS-1123 label.
    let encoded = "..%2F..%2F..%2F..%2Ftmp%2Fx";
    let attempts = [
        ("GET", format!("/api/v1/pods?namespace={encoded}")),
        (
            "GET",
            format!("/api/v1/persistentvolumeclaims/data?namespace={encoded}"),
        ),
        (
            "DELETE",
            format!("/api/v1/deployments/evil?namespace={encoded}"),
        ),
        ("PUT", format!("/api/v1/pods/p/status?namespace={encoded}")),
        (
            "POST",
            format!("/api/v1/deployments/evil/scale?namespace={encoded}"),
        ),
        ("GET", format!("/api/v1/pods/p/config?namespace={encoded}")),
        ("PUT", "/api/v1/pods/..%2Fx/status".to_string()),
        ("DELETE", "/api/v1/configmaps/..%2F..".to_string()),
        ("PUT", "/api/v1/nodes/Evil_Node".to_string()),
    ];
    for (method, path) in attempts {
        let request = match method {
            "GET" => client.get(format!("{}{path}", cluster.api)),
            "DELETE" => client.delete(format!("{}{path}", cluster.api)),
            "PUT" => client
                .put(format!("{}{path}", cluster.api))
                .json(&serde_json::json!({})),
            _ => client
                .post(format!("{}{path}", cluster.api))
                .json(&serde_json::json!({"replicas": 1})),
        };
        let response = request.send().expect("the API answers");
        let status = response.status().as_u16();
        let body = response.text().unwrap_or_default();
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert!(
            body.contains("namespace") || body.contains("name"),
            "{method} {path}: {body}"
        );
    }
    let event = serde_json::json!({
        "involvedObject": {"kind": "Pod", "namespace": escape, "name": "p"},
        "type": "Normal", "reason": "Started", "message": "x", "source": "node/x"});
    let response = client
        .post(format!("{}/api/v1/events", cluster.api))
        .json(&event)
        .send()
        .expect("events answer");
    assert_eq!(response.status().as_u16(), 422);

    // Nothing stored, nothing created outside the data dir.
    for plural in ["persistentvolumeclaims", "deployments", "pods", "events"] {
        let items = cluster.items(plural);
        assert!(
            items.iter().all(|o| o["metadata"]["namespace"] != escape),
            "{plural}: {items:?}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let outside = cluster
        .data_dir
        .parent()
        .expect("the data dir has a parent")
        .join("tmp");
    assert!(!outside.exists(), "{} was created", outside.display());
}

fn first_pod(cluster: &MultiNode, app: &str) -> Option<serde_json::Value> {
    cluster
        .items("pods")
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app"] == app)
}

/// `wasmpod server` on the address and data dir of the one `cluster` started (after a kill).
fn restart_server(cluster: &mut MultiNode) {
    let addr = cluster.api.trim_start_matches("http://").to_string();
    let mut command = Command::new(wasmpod_bin());
    command
        .args([
            "server",
            "--insecure-http",
            "--api-addr",
            &addr,
            "--node-grace-ms",
            "1500",
            "--data-dir",
        ])
        .arg(cluster.work.path().join("server"))
        .env("WASMPOD_CONFIG", cluster.work.path().join("config"));
    let server = Process::spawn_command(command);
    server.wait_line("API: ");
    cluster.server = server;
}

/// Finding 5: with the control plane killed, a crashing command pod (its env from a ConfigMap,
/// so it needs its resolved config) is still restarted by its node, on the config it last had.
/// The node's own log buffer of the pod proves it: each run prints `crasher starting`.
#[test]
fn node_restarts_crashed_pods_while_the_control_plane_is_down() {
    let mut cluster = MultiNode::start();
    cluster.add_worker("node-a", &[]);
    cluster.apply("crasher.yaml", &crasher_app(&components().crasher));
    let pod = wait_until("the crasher crashed once", WAIT, || {
        first_pod(&cluster, "crasher").filter(|p| p["status"]["restartCount"].as_u64() >= Some(1))
    });
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let starts = |cluster: &MultiNode| {
        cluster
            .cli_ok(&["logs", &name])
            .matches("crasher starting")
            .count()
    };
    let before = starts(&cluster);

    cluster.server.kill9();
    let down = Instant::now();
    // The backoff doubles from 500 ms: a node that restarts on its own starts the pod at least
    // three times in these 12 s; one that needs the API starts it none.
    std::thread::sleep(Duration::from_secs(12));
    restart_server(&mut cluster);
    let after = starts(&cluster);
    assert!(
        after >= before + 2,
        "the node started the pod {} times in the {:?} the API was down (before: {before}, after: {after})",
        after - before,
        down.elapsed()
    );
    // And the status written while the API was down reaches it once it is back.
    let restarts = pod["status"]["restartCount"].as_u64().unwrap_or_default();
    wait_until("the restart count to catch up", WAIT, || {
        first_pod(&cluster, "crasher")
            .filter(|p| p["status"]["restartCount"].as_u64() >= Some(restarts + 2))
    });
}

fn secret_yaml(component: &Path) -> String {
    let secret = "apiVersion: wasmpod.dev/v1\nkind: Secret\nmetadata: {name: api-token}\n\
                  stringData: {token: s3cret-node-value}\n---\n";
    let holder = deployment_yaml(
        "holder",
        component,
        1,
        "",
        ", env: [{name: CRASH_MODE, value: forever}], \
         volumes: [{name: creds, secret: {secretName: api-token}}], \
         volumeMounts: [{name: creds, mountPath: /creds}]",
    );
    format!("{secret}{holder}")
}

/// The directory of `uid`'s secret files, wherever this node keeps them: under a tmpfs
/// (`/dev/shm/...`) or, without one, under the node's data dir.
fn find_secret_dir(node_data: &Path, uid: &str) -> Option<PathBuf> {
    let shm = Path::new("/dev/shm");
    let roots: Vec<PathBuf> = if shm.is_dir() {
        std::fs::read_dir(shm)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect()
    } else {
        vec![node_data.join("secrets")]
    };
    roots
        .into_iter()
        .map(|root| root.join(uid))
        .find(|dir| dir.join("files-creds/token").is_file())
}

fn holder_uid(cluster: &MultiNode) -> Option<String> {
    first_pod(cluster, "holder")
        .filter(|p| p["status"]["phase"] == "Running")
        .and_then(|p| p["metadata"]["uid"].as_str().map(str::to_string))
}

fn wait_gone(what: &str, path: &Path) {
    wait_until(what, WAIT, || (!path.exists()).then_some(()));
}

/// Finding 9: secret files are 0600 in 0700 directories of the node's own root, and are gone
/// when their pod is deleted, when the node stops, and (after a kill -9) when it starts again.
#[test]
fn secret_files_are_private_and_do_not_outlive_pods_or_nodes() {
    let mut cluster = MultiNode::start();
    cluster.add_worker("node-a", &[]);
    let node_data = cluster.work.path().join("node-node-a");
    let server_data = cluster.work.path().join("server");
    for dir in [&node_data, &server_data, &server_data.join("store")] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }

    // While it runs: 0700 all the way down from the node's root, the file 0600.
    cluster.apply("secret.yaml", &secret_yaml(&components().crasher));
    let uid = wait_until("the holder pod running", WAIT, || holder_uid(&cluster));
    let dir = wait_until("its secret file", WAIT, || {
        find_secret_dir(&node_data, &uid)
    });
    let root = dir.parent().expect("a root").to_path_buf();
    let file = dir.join("files-creds/token");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        "s3cret-node-value"
    );
    for d in [&root, &dir, &dir.join("files-creds")] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    assert_eq!(mode(&file), 0o600);

    // Deleted pod: its files go.
    cluster.cli_ok(&["delete", "deployment", "holder"]);
    wait_gone("the deleted pod's secret files", &dir);

    // Stopped node (SIGTERM): its files go.
    cluster.apply("secret.yaml", &secret_yaml(&components().crasher));
    let uid = wait_until("a new holder pod", WAIT, || {
        holder_uid(&cluster).filter(|u| *u != uid)
    });
    let dir = wait_until("its secret file", WAIT, || {
        find_secret_dir(&node_data, &uid)
    });
    cluster.worker("node-a").terminate();
    assert!(!dir.exists(), "{} outlived its node", dir.display());

    // Killed node: its files stay until it starts again, then what it no longer runs goes.
    let token = cluster.join_token.clone();
    let worker = Process::spawn_command(cluster.worker_command("node-a", &token, &[]));
    worker.wait_line("gateway: ");
    let dir = wait_until("the secret file again", WAIT, || {
        find_secret_dir(&node_data, &uid)
    });
    let mut worker = worker;
    worker.kill9();
    assert!(dir.exists(), "a killed node cannot clean up");
    let planted = dir
        .parent()
        .expect("root")
        .join("0123456789abcdef/files-creds");
    std::fs::create_dir_all(&planted).expect("plant a stale dir");
    cluster.cli_ok(&["delete", "deployment", "holder"]);
    let restarted = Process::spawn_command(cluster.worker_command("node-a", &token, &[]));
    restarted.wait_line("gateway: ");
    wait_gone("the stale secret files of a deleted pod", &dir);
    wait_gone("a stale secret dir", planted.parent().expect("uid dir"));
}
