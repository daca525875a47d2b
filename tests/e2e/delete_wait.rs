//! `delete` waits, as kubectl's does, until what it deleted is gone from the API: a pod once its
//! node drained its in-flight requests, a namespace with its pods, a Deployment's pods with
//! `--cascade=foreground`. `--wait=false` returns once the delete is accepted, `--timeout` fails
//! naming what is still there and leaves the drain going, `--cascade=orphan` leaves the pods
//! running without an owner.

use std::process::Output;
use std::time::{Duration, Instant};
use wasmpod_tests::{
    components, name_of, pods_of, service_and_ingress, wait_until, Cluster, ClusterApi,
};

const WAIT: Duration = Duration::from_secs(60);
/// How long the slow request holds its pod in terminating.
const HOLD: Duration = Duration::from_secs(3);

/// `replicas` misbehave pods `app: NAME` (in `namespace`), with a grace period well past `HOLD`.
fn deployment(name: &str, namespace: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      component: {}
      terminationGracePeriodSeconds: 20
---
"#,
        components().misbehave.display()
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `app` pods of `namespace`: (name, terminating, ready) of each.
fn pods(cluster: &Cluster, namespace: &str, app: &str) -> Vec<(String, bool, bool)> {
    pods_of(&cluster.items("pods"), app)
        .iter()
        .filter(|p| p["metadata"]["namespace"] == namespace)
        .map(|p| {
            (
                name_of(p),
                !p["metadata"]["deletionTimestamp"].is_null(),
                p["status"]["ready"] == true,
            )
        })
        .collect()
}

/// The one ready, not terminating `app` pod in `default` that is not `other`.
fn ready_pod(cluster: &Cluster, app: &str, other: &str) -> String {
    wait_until("a ready pod", WAIT, || {
        let now = pods(cluster, "default", app);
        let live: Vec<_> = now.iter().filter(|(_, t, _)| !t).collect();
        match live.as_slice() {
            [(name, _, true)] if name != other => Some(name.clone()),
            _ => None,
        }
    })
}

/// A request held `HOLD` by the pod serving it, started now; joined for its (status, body).
struct Slow {
    started: Instant,
    thread: std::thread::JoinHandle<(u16, String)>,
}

impl Slow {
    fn start(cluster: &Cluster, hold: Duration) -> Slow {
        let url = format!("{}/count?hold_ms={}", cluster.ingress, hold.as_millis());
        let started = Instant::now();
        let thread = std::thread::spawn(move || wasmpod_tests::http_get(&url));
        // Let it reach the pod before the pod is taken away.
        std::thread::sleep(Duration::from_millis(500));
        Slow { started, thread }
    }

    /// What is left of `hold` now: the least time a drain of its pod still takes.
    fn remaining(&self, hold: Duration) -> Duration {
        hold.saturating_sub(self.started.elapsed())
    }

    fn finished_ok(self) {
        let (status, body) = self.thread.join().expect("slow request");
        assert_eq!(status, 200, "the in-flight request finished: {body}");
    }
}

/// Runs the CLI, returning its output and how long it took.
fn timed(cluster: &Cluster, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = cluster.cli(args);
    (out, started.elapsed())
}

fn succeeded(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn not_found(cluster: &Cluster, kind: &str, name: &str) {
    let out = cluster.cli(&["get", kind, name]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("not found"),
        "{kind} {name} still there: {}",
        text(&out.stdout)
    );
}

#[test]
fn delete_pod_waits_until_its_drain_ended_and_it_is_gone_unless_told_not_to() {
    let cluster = Cluster::up(&[]);
    cluster.apply_ok(
        "app.yaml",
        &(deployment("web", "default", 1) + &service_and_ingress("web", "/")),
    );
    let pod = ready_pod(&cluster, "web", "");

    // The default: back only once the drain of the in-flight request ended and the pod is gone.
    let slow = Slow::start(&cluster, HOLD);
    let remaining = slow.remaining(HOLD);
    let args = ["delete", "pod", pod.as_str()];
    let (out, took) = timed(&cluster, &args);
    let stdout = succeeded(&args, &out);
    not_found(&cluster, "pod", &pod);
    assert!(
        took >= remaining,
        "back after {took:?}, before the {remaining:?} left of the request"
    );
    assert_eq!(stdout.trim(), format!("pod/{pod} deleted"), "{stdout}");
    assert!(
        text(&out.stderr).contains("terminating"),
        "{}",
        text(&out.stderr)
    );
    slow.finished_ok();

    // --wait=false: back at once, the pod still draining.
    let pod = ready_pod(&cluster, "web", &pod);
    let slow = Slow::start(&cluster, HOLD);
    let remaining = slow.remaining(HOLD);
    let args = ["delete", "pod", pod.as_str(), "--wait=false"];
    let (out, took) = timed(&cluster, &args);
    let stdout = succeeded(&args, &out);
    assert!(stdout.contains("is terminating"), "{stdout}");
    assert!(
        took < remaining,
        "took {took:?}, the drain had {remaining:?} left"
    );
    assert!(
        pods(&cluster, "default", "web")
            .iter()
            .any(|(name, terminating, _)| *name == pod && *terminating),
        "{pod} terminating after --wait=false"
    );
    slow.finished_ok();
    wait_until("the pod gone", WAIT, || {
        (!pods(&cluster, "default", "web")
            .iter()
            .any(|(n, _, _)| *n == pod))
        .then_some(())
    });

    // --timeout 1s on a pod held for 8 s: a non-zero exit naming the pod; the drain goes on.
    let pod = ready_pod(&cluster, "web", &pod);
    let long = Duration::from_secs(8);
    let slow = Slow::start(&cluster, long);
    let (out, took) = timed(
        &cluster,
        &["delete", "pod", pod.as_str(), "--timeout", "1s"],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "--timeout 1s succeeded: {stderr}");
    assert!(
        stderr.contains("timed out after 1s")
            && stderr.contains(&format!("pod/{pod} (terminating)")),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        pods(&cluster, "default", "web")
            .iter()
            .any(|(name, terminating, _)| *name == pod && *terminating),
        "{pod} still draining after the timeout"
    );
    slow.finished_ok();
    wait_until("the pod gone after its drain", WAIT, || {
        (!pods(&cluster, "default", "web")
            .iter()
            .any(|(n, _, _)| *n == pod))
        .then_some(())
    });
}

#[test]
fn delete_namespace_waits_for_its_pods_and_foreground_cascade_for_a_deployments() {
    let cluster = Cluster::up(&[]);

    // A namespace goes at once; its pods drain after it. The delete waits for them.
    cluster.cli_ok(&["create", "namespace", "shop"]);
    cluster.apply_ok("app.yaml", &deployment("cart", "shop", 2));
    wait_until("the pods in shop ready", WAIT, || {
        let now = pods(&cluster, "shop", "cart");
        (now.len() == 2 && now.iter().all(|(_, t, r)| !t && *r)).then_some(())
    });
    let args = ["delete", "namespace", "shop"];
    let stdout = succeeded(&args, &cluster.cli(&args));
    assert_eq!(stdout.trim(), "namespace/shop deleted");
    let left = pods(&cluster, "shop", "cart");
    assert!(left.is_empty(), "pods of the deleted namespace: {left:?}");
    not_found(&cluster, "namespace", "shop");

    // Foreground: back once the deployment's pods are gone, the in-flight request drained.
    cluster.apply_ok(
        "app.yaml",
        &(deployment("web", "default", 2) + &service_and_ingress("web", "/")),
    );
    wait_until("two web pods ready", WAIT, || {
        let now = pods(&cluster, "default", "web");
        (now.len() == 2 && now.iter().all(|(_, t, r)| !t && *r)).then_some(())
    });
    let slow = Slow::start(&cluster, HOLD);
    let remaining = slow.remaining(HOLD);
    let args = [
        "delete",
        "deployment",
        "web",
        "--cascade=foreground",
        "-o",
        "name",
    ];
    let (out, took) = timed(&cluster, &args);
    let stdout = succeeded(&args, &out);
    assert_eq!(stdout.trim(), "deployment/web", "-o name prints names only");
    let left = pods(&cluster, "default", "web");
    assert!(left.is_empty(), "pods of the deleted deployment: {left:?}");
    assert!(
        took >= remaining,
        "back after {took:?}, before {remaining:?}"
    );
    slow.finished_ok();

    // Orphan: the deployment goes, its pods keep running and serving, without an owner.
    cluster.apply_ok("app.yaml", &deployment("web", "default", 2));
    wait_until("two web pods ready", WAIT, || {
        let now = pods(&cluster, "default", "web");
        (now.len() == 2 && now.iter().all(|(_, t, r)| !t && *r)).then_some(())
    });
    let args = ["delete", "deployment", "web", "--cascade=orphan"];
    let stdout = succeeded(&args, &cluster.cli(&args));
    assert_eq!(stdout.trim(), "deployment/web deleted");
    not_found(&cluster, "deployment", "web");
    // Past a few controller passes, they are still there, running and owned by nothing.
    std::thread::sleep(Duration::from_secs(3));
    let now = pods_of(&cluster.items("pods"), "web");
    assert_eq!(now.len(), 2, "{now:?}");
    for pod in &now {
        assert!(pod["metadata"]["deletionTimestamp"].is_null(), "{pod}");
        assert!(pod["metadata"]["ownerReferences"].is_null(), "{pod}");
        assert_eq!(pod["status"]["ready"], true, "{pod}");
    }
    assert_eq!(cluster.get("/count").0, 200);

    // A namespace has no orphans.
    let out = cluster.cli(&["delete", "namespace", "shop2", "--cascade=orphan"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--cascade=orphan"),
        "{}",
        text(&out.stderr)
    );
}
