//! Autoscaling on concurrency and scale to zero: a HorizontalPodAutoscaler follows a load step
//! up (replicas reached, events) and back down after its window; a deployment at zero serves
//! its first requests, held at the gateway while it comes back (one request, a burst, and a
//! request landing on the node the pod does not start on); a service nothing will bring back
//! gets a clear 503, never a hang.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmpod_api::{Deployment, Event, HorizontalPodAutoscaler};
use wasmpod_tests::{
    components, deployment_doc, http_get, service_and_ingress, wait_until, Cluster, ClusterApi,
    MultiNode, PodSpecExtra,
};

const WAIT: Duration = Duration::from_secs(60);

/// An autoscaler of deployment `name` on concurrency `target`, with `spec` lines (indented
/// two spaces) added.
fn hpa(name: &str, min: u32, max: u32, target: u32, spec: &str) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: HorizontalPodAutoscaler
metadata: {{name: {name}}}
spec:
  scaleTargetRef: {{kind: Deployment, name: {name}}}
  minReplicas: {min}
  maxReplicas: {max}
  metrics:
  - type: Concurrency
    target: {target}
{spec}"#
    )
}

fn deployment(cluster: &impl ClusterApi, name: &str) -> Deployment {
    cluster
        .objects::<Deployment>()
        .into_iter()
        .find(|d| d.name() == name)
        .expect("the deployment")
}

fn autoscaler(cluster: &impl ClusterApi, name: &str) -> HorizontalPodAutoscaler {
    cluster
        .objects::<HorizontalPodAutoscaler>()
        .into_iter()
        .find(|h| h.name() == name)
        .expect("the autoscaler")
}

/// The autoscaler's events with `reason`.
fn events(cluster: &impl ClusterApi, name: &str, reason: &str) -> Vec<Event> {
    cluster
        .objects::<Event>()
        .into_iter()
        .filter(|e| {
            e.spec.involved_object.kind == "HorizontalPodAutoscaler"
                && e.spec.involved_object.name == name
                && e.spec.reason == reason
        })
        .collect()
}

/// Waits until the deployment is at zero and its pods are gone.
fn wait_for_zero(cluster: &impl ClusterApi, name: &str, timeout: Duration) {
    wait_until(&format!("{name} scaled to zero"), timeout, || {
        (deployment(cluster, name).spec.replicas == 0 && cluster.pods_of_app(name).is_empty())
            .then_some(())
    });
}

/// `count` concurrent GETs of `url`: their statuses and bodies.
fn burst(url: &str, count: usize) -> Vec<(u16, String)> {
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let url = url.to_string();
            std::thread::spawn(move || http_get(&url))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect()
}

fn assert_all_ok(replies: &[(u16, String)]) {
    let failed: Vec<_> = replies.iter().filter(|(code, _)| *code != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        replies.len()
    );
}

#[test]
fn hpa_follows_a_concurrency_step_up_and_down_after_its_window() {
    let cluster = Cluster::up(&[]);
    let c = components();
    let yaml = format!(
        "{}{}{}",
        deployment_doc("busy", &c.misbehave, 1, "", PodSpecExtra::Flow("")),
        service_and_ingress("busy", "/"),
        hpa(
            "busy",
            1,
            4,
            2,
            "  behavior: {scaleDown: {stabilizationWindowSeconds: 3}}\n"
        )
    );
    cluster.apply_ok("busy.yaml", &yaml);
    cluster.wait_for_status("/ok", 200, WAIT);

    // 8 clients each keep one request of 400 ms in flight: 8 / 2 per pod = 4 replicas.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let url = format!("{}/count?hold_ms=400", cluster.ingress);
            let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
            std::thread::spawn(move || {
                // Bounded: at most 200 requests per client.
                for _ in 0..200 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match http_get(&url).0 {
                        200 => served.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    wait_until("4 replicas under 8 in-flight requests", WAIT, || {
        (deployment(&cluster, "busy").spec.replicas == 4).then_some(())
    });
    wait_until("4 ready pods", WAIT, || {
        (cluster
            .pods_of_app("busy")
            .iter()
            .filter(|p| p.status.ready)
            .count()
            == 4)
            .then_some(())
    });
    let rescaled = events(&cluster, "busy", "SuccessfulRescale");
    assert!(
        rescaled.iter().any(|e| e.spec.message.contains("-> 4")),
        "an event names the scale-up: {rescaled:?}"
    );
    let table = cluster.run_cli_ok(&["get", "hpa"]);
    assert!(table.contains("Deployment/busy"), "{table}");
    assert!(table.contains("concurrency"), "{table}");
    let row = table.lines().find(|l| l.starts_with("busy")).expect("row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert!(
        cells.contains(&"4") && cells.contains(&"1"),
        "min, max, replicas: {row}"
    );
    let described = cluster.run_cli_ok(&["describe", "hpa", "busy"]);
    assert!(
        described.contains("Reference:    Deployment/busy"),
        "{described}"
    );
    assert!(described.contains("Last decisions:"), "{described}");
    assert!(described.contains("SuccessfulRescale"), "{described}");

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client");
    }
    let stopped = Instant::now();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no failed request under load"
    );
    assert!(served.load(Ordering::Relaxed) > 0);
    wait_until("back to 1 replica", WAIT, || {
        (deployment(&cluster, "busy").spec.replicas == 1).then_some(())
    });
    // Without the window it would drop within a pass (1 s) of the load's end.
    assert!(
        stopped.elapsed() >= Duration::from_millis(1500),
        "the scale-down waited for its 3 s window ({:?})",
        stopped.elapsed()
    );
    // The autoscaler writes the replicas first, then its own status with the decision.
    let status = wait_until("the scale-down in the autoscaler's status", WAIT, || {
        let status = autoscaler(&cluster, "busy").status;
        let last = status.last_decisions.last()?;
        ((last.from, last.to) == (4, 1)).then_some(status)
    });
    assert_eq!(status.current_replicas, 1);
}

/// Deployment, service, ingress and an autoscaler to zero of `name` (hello), its pods placed
/// by `node_selector` (flow entries starting with `, `).
fn to_zero_app(name: &str, node_selector: &str, hpa_spec: &str) -> String {
    format!(
        "{}{}{}",
        deployment_doc(
            name,
            &components().hello,
            1,
            "",
            PodSpecExtra::Flow(node_selector)
        ),
        service_and_ingress(name, &format!("/{name}")),
        hpa(name, 0, 3, 10, hpa_spec)
    )
}

#[test]
fn a_deployment_at_zero_serves_its_first_requests_held_at_the_gateway() {
    let cluster = Cluster::up(&[]);
    cluster.apply_ok(
        "zero.yaml",
        &to_zero_app(
            "sleepy",
            "",
            "  scaleToZeroAfterSeconds: 2\n  behavior: {scaleDown: {stabilizationWindowSeconds: 1}}\n",
        ),
    );
    cluster.wait_for_status("/sleepy", 200, WAIT);
    wait_for_zero(&cluster, "sleepy", WAIT);
    let decisions = autoscaler(&cluster, "sleepy").status.last_decisions;
    assert!(
        decisions
            .last()
            .is_some_and(|d| d.to == 0 && d.reason.contains("no request for 2s")),
        "{decisions:?}"
    );

    // One request: held, then served.
    let (code, body) = cluster.get("/sleepy");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Hello"), "{body}");
    assert_eq!(deployment(&cluster, "sleepy").spec.replicas, 1);
    assert!(!events(&cluster, "sleepy", "Activated").is_empty());

    // A burst of first requests: one activation, every request served.
    wait_for_zero(&cluster, "sleepy", WAIT);
    let replies = burst(&format!("{}/sleepy", cluster.ingress), 50);
    assert_all_ok(&replies);
    let activated = autoscaler(&cluster, "sleepy")
        .status
        .last_decisions
        .iter()
        .filter(|d| d.from == 0)
        .count();
    assert_eq!(activated, 2, "one activation per wake-up");
}

#[test]
fn a_request_on_another_node_than_the_pod_is_held_then_forwarded() {
    let mut cluster = MultiNode::start();
    let front = cluster.add_worker("front", &["--label", "role=front"]);
    cluster.add_worker("back", &["--label", "role=back"]);
    cluster.apply_ok(
        "zero.yaml",
        &to_zero_app(
            "remote",
            ", nodeSelector: {role: back}",
            "  scaleToZeroAfterSeconds: 2\n",
        ),
    );
    wait_until("the pod ready on node back", WAIT, || {
        (cluster
            .ready_pods("remote")
            .iter()
            .any(|(_, n)| n == "back"))
        .then_some(())
    });
    wait_for_zero(&cluster, "remote", WAIT);
    let replies = burst(&format!("{front}/remote"), 20);
    assert_all_ok(&replies);
    assert!(cluster
        .ready_pods("remote")
        .iter()
        .all(|(_, node)| node == "back"));
}

#[test]
fn a_service_nothing_brings_back_gets_a_clear_503_not_a_hang() {
    let cluster = Cluster::up(&[]);
    let c = components();
    // No autoscaler, no replica: refused at once.
    let yaml = format!(
        "{}{}",
        deployment_doc("idle", &c.hello, 0, "", PodSpecExtra::Flow("")),
        service_and_ingress("idle", "/idle"),
    );
    cluster.apply_ok("idle.yaml", &yaml);
    let started = Instant::now();
    let (code, body) = wait_until("the idle route", WAIT, || {
        let reply = cluster.get("/idle");
        (reply.0 != 404).then_some(reply)
    });
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("default/idle has no ready endpoints")
            && body.contains("no HorizontalPodAutoscaler"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // An autoscaler whose pods can never be placed: held for its activation timeout, then 503.
    cluster.apply_ok(
        "stuck.yaml",
        &to_zero_app(
            "stuck",
            ", nodeSelector: {role: nowhere}",
            "  activationTimeoutSeconds: 2\n",
        ),
    );
    wait_until("the stuck deployment at zero", WAIT, || {
        let d = deployment(&cluster, "stuck");
        // Its one pod never schedules; scale it to zero by hand to start from zero.
        (d.spec.replicas == 0).then_some(()).or_else(|| {
            cluster.run_cli_ok(&["scale", "deployment", "stuck", "--replicas", "0"]);
            None
        })
    });
    let started = Instant::now();
    let (code, body) = cluster.get("/stuck");
    let waited = started.elapsed();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("after waiting 2s"), "{body}");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10),
        "held about its timeout: {waited:?}"
    );
}

#[test]
fn a_call_between_services_to_a_deployment_at_zero_is_held_too() {
    let cluster = Cluster::up(&[]);
    let yaml = format!(
        "{}\n---\n{}",
        wasmpod_tests::frontend_backend(),
        hpa("backend", 0, 2, 10, "  scaleToZeroAfterSeconds: 2\n")
    );
    cluster.apply_ok("fb.yaml", &yaml);
    cluster.wait_for_status("/frontend", 200, WAIT);
    wait_for_zero(&cluster, "backend", WAIT);
    // The frontend's call to http://backend/items waits for the backend to come back.
    let (code, body) = cluster.get("/frontend");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("apple"), "{body}");
    assert!(deployment(&cluster, "backend").spec.replicas >= 1);
}

#[test]
fn hpa_scales_up_on_a_steady_request_rate_above_its_target() {
    let cluster = Cluster::up(&[]);
    let c = components();
    let on_rate = r#"apiVersion: wasmpod.dev/v1
kind: HorizontalPodAutoscaler
metadata: {name: steady}
spec:
  scaleTargetRef: {kind: Deployment, name: steady}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: RequestsPerSecond
    target: 2
"#;
    let yaml = format!(
        "{}{}{on_rate}",
        deployment_doc("steady", &c.hello, 1, "", PodSpecExtra::Flow("")),
        service_and_ingress("steady", "/steady"),
    );
    cluster.apply_ok("steady.yaml", &yaml);
    cluster.wait_for_status("/steady", 200, WAIT);

    // One client, one request after another with a 50 ms pause: about 15-20 requests/s, far
    // above 2 per pod; bounded at 600 requests (30 s or more).
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let client = {
        let url = format!("{}/steady", cluster.ingress);
        let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
        std::thread::spawn(move || {
            for _ in 0..600 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match http_get(&url).0 {
                    200 => served.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let started = Instant::now();
    wait_until("3 replicas on a steady request rate", WAIT, || {
        (deployment(&cluster, "steady").spec.replicas == 3).then_some(())
    });
    let reached = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    client.join().expect("client");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no failed request");
    let rescaled = events(&cluster, "steady", "SuccessfulRescale");
    assert!(
        rescaled
            .iter()
            .any(|e| e.spec.message.contains("RequestsPerSecond")
                && e.spec.message.contains("target 2 per pod")),
        "a scale-up decided on the request rate: {rescaled:?}"
    );
    let status = autoscaler(&cluster, "steady").status;
    let rate = status
        .current_metrics
        .iter()
        .find(|m| m.metric == wasmpod_api::MetricType::RequestsPerSecond)
        .expect("the rate in the status");
    assert!(rate.current > 2.0, "{rate:?}");
    assert!(
        served.load(Ordering::Relaxed) <= 600,
        "bounded ({reached:?} to scale)"
    );
}

#[test]
fn the_activation_queue_holds_at_most_its_limit_and_the_next_request_gets_a_clear_503() {
    let cluster = Cluster::up(&[]);
    // The limit is checked at apply, naming the field.
    let out = cluster.apply(
        "bad.yaml",
        &to_zero_app("queued", "", "  activationQueueLimit: 0\n"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a limit of 0 was accepted");
    assert!(
        stderr.contains(
            "(HorizontalPodAutoscaler queued): spec.activationQueueLimit: 0 is not between 1 and 100000"
        ),
        "{stderr}"
    );
    assert!(cluster.objects::<Deployment>().is_empty(), "nothing stored");

    // Pods that can never be placed: every request is held for the full 4 s.
    cluster.apply_ok(
        "queued.yaml",
        &to_zero_app(
            "queued",
            ", nodeSelector: {role: nowhere}",
            "  activationTimeoutSeconds: 4\n  activationQueueLimit: 3\n",
        ),
    );
    wait_until("the queued deployment at zero", WAIT, || {
        let d = deployment(&cluster, "queued");
        (d.spec.replicas == 0).then_some(()).or_else(|| {
            cluster.run_cli_ok(&["scale", "deployment", "queued", "--replicas", "0"]);
            None
        })
    });
    // The route is there once a request is held rather than not found.
    wait_until("the queued route", WAIT, || {
        (cluster.get("/queued").0 == 503).then_some(())
    });

    // Four at once: three held until the timeout, the fourth refused at once.
    let url = format!("{}/queued", cluster.ingress);
    let timed: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let reply = http_get(&url);
                (reply, started.elapsed())
            })
        })
        .collect();
    let replies: Vec<((u16, String), Duration)> = timed
        .into_iter()
        .map(|t| t.join().expect("client"))
        .collect();
    let (full, held): (Vec<_>, Vec<_>) = replies
        .iter()
        .partition(|((_, body), _)| body.contains("requests already wait"));
    assert_eq!(full.len(), 1, "one past the limit of 3: {replies:?}");
    let ((code, body), waited) = &full[0];
    assert_eq!(*code, 503, "{body}");
    assert!(
        body.contains("default/queued is scaling from zero and 3 requests already wait")
            && body.contains("activationQueueLimit"),
        "{body}"
    );
    assert!(
        *waited < Duration::from_secs(3),
        "refused at once: {waited:?}"
    );
    for ((code, body), waited) in held {
        assert_eq!(*code, 503, "{body}");
        assert!(body.contains("after waiting 4s"), "{body}");
        assert!(*waited >= Duration::from_secs(3), "held: {waited:?}");
    }
}
