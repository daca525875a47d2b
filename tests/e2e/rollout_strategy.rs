//! Rollouts on two nodes: a rolling update, `rollout undo` and `rollout restart` of a 3-replica
//! deployment under load without one failed request or connection (pods leave the endpoints
//! before their node drains and stops them); revisions and history; `rollout status` failing
//! past the progress deadline; and the opt-in automatic rollback, with its reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmpod_tests::{components, service_and_ingress, wait_until, MultiNode};

const WAIT: Duration = Duration::from_secs(90);

fn manifest(component: &std::path::Path, version: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
{extra_spec}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      component: {}
      env: [{{name: VERSION, value: {version}}}]
      nodeSelector: {{role: app}}
---
"#,
        component.display()
    ) + &service_and_ingress("web", "/")
}

/// What one load loop saw.
#[derive(Default)]
struct Seen {
    requests: usize,
    failures: Vec<(u16, String)>,
}

/// Requests `url` until `stop` or `limit` requests, on kept-alive connections or a new
/// connection per request; every other request is a POST with a body, which no gateway retries
/// on another replica (a GET that meets a stopped replica is retried once and would hide it).
fn load(
    url: String,
    keep_alive: bool,
    limit: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut builder = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30));
        if !keep_alive {
            builder = builder.pool_max_idle_per_host(0);
        }
        let client = builder.build().expect("client");
        let mut seen = Seen::default();
        while !stop.load(Ordering::SeqCst) && seen.requests < limit {
            seen.requests += 1;
            let request = if seen.requests % 2 == 0 {
                client.post(&url).body("x".repeat(64))
            } else {
                client.get(&url)
            };
            match request.send() {
                Ok(r) if r.status().as_u16() == 200 => {
                    let _ = r.text();
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    seen.failures.push((status, r.text().unwrap_or_default()));
                }
                Err(e) => seen.failures.push((0, e.to_string())),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        seen
    })
}

fn deployment(cluster: &MultiNode) -> serde_json::Value {
    cluster
        .items("deployments")
        .into_iter()
        .find(|d| d["metadata"]["name"] == "web")
        .expect("deployment web")
}

/// Two nodes that run the pods, and a third whose gateway only forwards (every request it
/// takes crosses to another node: the path where a stale routing table would meet a stopped
/// pod).
fn two_nodes() -> MultiNode {
    let mut cluster = MultiNode::start();
    cluster.add_worker("a", &["--label", "role=app"]);
    cluster.add_worker("b", &["--label", "role=app"]);
    cluster.add_worker("edge", &["--label", "role=edge"]);
    cluster
}

#[test]
fn rolling_update_undo_and_restart_on_two_nodes_fail_no_request() {
    let cluster = two_nodes();
    let c = components();
    let gateways: Vec<String> = cluster.workers.iter().map(|(_, _, g)| g.clone()).collect();
    // minReadySeconds stretches each rollout over seconds of load.
    let slow = "  minReadySeconds: 1";
    cluster.apply("web.yaml", &manifest(&c.misbehave, "v1", slow));
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    wait_until("replicas on both nodes", WAIT, || {
        let nodes: std::collections::BTreeSet<String> = cluster
            .ready_pods("web")
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        (nodes.len() == 2).then_some(())
    });

    let stop = Arc::new(AtomicBool::new(false));
    // The gateway-only node forwards everything (kept-alive and new connections); node a serves
    // locally first.
    let loaders = [
        load(
            format!("{}/env/VERSION", gateways[2]),
            true,
            4_000,
            stop.clone(),
        ),
        load(
            format!("{}/env/VERSION", gateways[2]),
            false,
            4_000,
            stop.clone(),
        ),
        load(
            format!("{}/env/VERSION", gateways[0]),
            true,
            4_000,
            stop.clone(),
        ),
    ];
    std::thread::sleep(Duration::from_millis(500));

    cluster.apply("web.yaml", &manifest(&c.misbehave, "v2", slow));
    let out = cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let out = cluster.cli_ok(&["rollout", "undo", "deployment/web"]);
    assert!(out.contains("rolled back to revision 1"), "{out}");
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let restart = cluster.cli_ok(&["rollout", "restart", "deployment/web"]);
    assert!(restart.contains("restarted"), "{restart}");
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    // Let the last old pods drain and go while the load runs.
    wait_until("the old pods gone", WAIT, || {
        let pods = wasmpod_tests::pods_of(&cluster.items("pods"), "web");
        (pods.len() == 3).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    let seen: Vec<Seen> = loaders
        .into_iter()
        .map(|l| l.join().expect("loader"))
        .collect();
    let requests: usize = seen.iter().map(|s| s.requests).sum();
    let failures: Vec<&(u16, String)> = seen.iter().flat_map(|s| &s.failures).collect();
    println!("{requests} requests across a rollout, an undo and a restart");
    assert!(requests > 2_000, "the load ran: {requests}");
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed, first: {:?}",
        failures.len(),
        failures.first()
    );

    // v1 came back as revision 3, the restart made revision 4; history lists them.
    let d = deployment(&cluster);
    assert_eq!(d["status"]["revision"], 4, "{d}");
    let history = cluster.cli_ok(&["rollout", "history", "deployment/web"]);
    for n in ["2", "3", "4"] {
        assert!(history.lines().any(|l| l.starts_with(n)), "{history}");
    }
    let one = cluster.cli_ok(&["rollout", "history", "deployment/web", "--revision", "3"]);
    assert!(
        one.contains("value: v1") && one.contains("sha256:"),
        "{one}"
    );
    let unknown = cluster.cli(&["rollout", "history", "deployment/web", "--revision", "9"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("has no revision 9"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    // undo --to-revision: back to v2's template (revision 2 becomes 5).
    cluster.cli_ok(&["rollout", "undo", "deployment/web", "--to-revision", "2"]);
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    wait_until("v2 served again", WAIT, || {
        let (status, body) = wasmpod_tests::http_get(&format!("{}/env/VERSION", gateways[0]));
        (status == 200 && body == "v2").then_some(())
    });
    assert_eq!(deployment(&cluster)["status"]["revision"], 5);
}

#[test]
fn a_revision_that_never_turns_ready_fails_its_deadline_and_is_rolled_back_with_its_reason() {
    let cluster = two_nodes();
    let c = components();
    let extra = "  progressDeadlineSeconds: 8\n  rollback: {onFailure: true}";
    cluster.apply("web.yaml", &manifest(&c.misbehave, "v1", extra));
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);

    // A component that imports what no node provides: its pods never start.
    cluster.apply("web.yaml", &manifest(&c.unlinkable, "v1", extra));
    let out = cluster.cli(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "status must fail: {stderr}{}{}",
        String::from_utf8_lossy(&out.stdout),
        deployment(&cluster)
    );
    assert!(
        stderr.contains("exceeded its progress deadline") || stderr.contains("rollout failed"),
        "{stderr}"
    );

    let rolled_back = wait_until("the automatic rollback", WAIT, || {
        let d = deployment(&cluster);
        let condition = d["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "RolledBack")?
            .clone();
        Some((d, condition))
    });
    let (_, condition) = rolled_back;
    let message = condition["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("revision 2")
            && message.contains("ComponentLinkError")
            && message.contains("rolled back to revision 1"),
        "{condition}"
    );
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(events.contains("RolledBack"), "{events}");
    // Back on v1's component, and the rollout completes.
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let d = deployment(&cluster);
    assert!(
        d["spec"]["template"]["spec"]["component"]
            .as_str()
            .is_some_and(|c| c.starts_with("sha256:")),
        "{d}"
    );
    assert_eq!(d["status"]["revision"], 3, "v1 is revision 3 now: {d}");
}
