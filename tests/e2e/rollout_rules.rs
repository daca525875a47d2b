//! The rules of a rollout, observed on a real cluster: maxSurge / maxUnavailable bound the pod
//! counts, Recreate never runs old and new pods together, a paused deployment does not roll
//! (but scales), pausing mid-rollout stops it at its next step, `rollout status` fails past the
//! progress deadline, a pod taken away finishes the request it is serving, and so do the pods of
//! a deleted deployment (background cascading deletion).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use wasmpod_tests::{
    components, looks_until, pods_of, service_and_ingress, wait_until, Cluster, ClusterApi,
};

const WAIT: Duration = Duration::from_secs(60);

fn manifest(replicas: u32, version: &str, extra_spec: &str, extra_pod: &str) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
{extra_spec}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      component: {}
      env: [{{name: VERSION, value: {version}}}]
{extra_pod}
---
"#,
        components().misbehave.display()
    ) + &service_and_ingress("web", "/")
}

/// One look at the `web` pods: (template hash, terminating, ready) of each.
fn snapshot(cluster: &Cluster) -> Vec<(String, bool, bool)> {
    pods_of(&cluster.items("pods"), "web")
        .iter()
        .map(|p| {
            (
                p["metadata"]["labels"]["pod-template-hash"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                !p["metadata"]["deletionTimestamp"].is_null(),
                p["status"]["ready"] == true,
            )
        })
        .collect()
}

fn current_hash(cluster: &Cluster) -> String {
    wait_until("the deployment's current revision", WAIT, || {
        let d = cluster.items("deployments").into_iter().next()?;
        d["status"]["currentHash"].as_str().map(str::to_string)
    })
}

/// Applies `yaml` and watches the pods until every live one has the new template, all ready;
/// returns the snapshots seen.
fn roll_and_watch(
    cluster: &Cluster,
    yaml: &str,
    replicas: usize,
) -> Vec<Vec<(String, bool, bool)>> {
    let before = current_hash(cluster);
    cluster.apply_ok("web.yaml", yaml);
    looks_until(
        "the rollout",
        WAIT,
        || snapshot(cluster),
        |now| {
            let live: Vec<_> = now
                .iter()
                .filter(|(_, terminating, _)| !terminating)
                .collect();
            live.len() == replicas
                && live.iter().all(|(h, _, ready)| *h != before && *ready)
                && now.len() == replicas
        },
    )
}

#[test]
fn a_rolling_update_stays_within_max_surge_and_max_unavailable() {
    let cluster = Cluster::up(&[]);
    let strategy =
        "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}";
    cluster.apply_ok("web.yaml", &manifest(3, "v1", strategy, ""));
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let seen = roll_and_watch(&cluster, &manifest(3, "v2", strategy, ""), 3);
    for s in &seen {
        let live: Vec<_> = s.iter().filter(|(_, t, _)| !t).collect();
        assert!(live.len() <= 4, "more than replicas + maxSurge: {s:?}");
        let serving = live.iter().filter(|(_, _, ready)| *ready).count();
        assert!(
            serving >= 3,
            "fewer than replicas - maxUnavailable serve: {s:?}"
        );
    }
    assert!(
        seen.iter()
            .any(|s| s.iter().filter(|(_, t, _)| !t).count() == 4),
        "the surge was used"
    );

    // maxSurge 0, maxUnavailable 1: never more than 3 pods, at least 2 serving.
    let strategy =
        "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}";
    let seen = roll_and_watch(&cluster, &manifest(3, "v3", strategy, ""), 3);
    for s in &seen {
        let live: Vec<_> = s.iter().filter(|(_, t, _)| !t).collect();
        assert!(live.len() <= 3, "surge with maxSurge 0: {s:?}");
        assert!(live.iter().filter(|(_, _, r)| *r).count() >= 2, "{s:?}");
    }

    // Both 0: refused, naming the field.
    let bad = "  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}";
    let out = cluster.apply("web.yaml", &manifest(3, "v4", bad, ""));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spec.strategy.rollingUpdate.maxUnavailable"),
        "{stderr}"
    );
}

#[test]
fn recreate_never_runs_old_and_new_pods_together() {
    let cluster = Cluster::up(&[]);
    let strategy = "  strategy: {type: Recreate}";
    cluster.apply_ok("web.yaml", &manifest(2, "v1", strategy, ""));
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let seen = roll_and_watch(&cluster, &manifest(2, "v2", strategy, ""), 2);
    for s in &seen {
        let hashes: BTreeSet<&String> = s.iter().map(|(h, _, _)| h).collect();
        assert!(hashes.len() <= 1, "old and new pods at once: {s:?}");
    }
    assert!(
        seen.iter()
            .any(|s| !s.is_empty() && s.iter().all(|(_, terminating, _)| *terminating)),
        "every old pod was taken away before a new one came: {seen:?}"
    );
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll_until_resumed() {
    let cluster = Cluster::up(&[]);
    cluster.apply_ok("web.yaml", &manifest(2, "v1", "", ""));
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let v1 = current_hash(&cluster);
    cluster.cli_ok(&["rollout", "pause", "deployment/web"]);
    cluster.apply_ok("web.yaml", &manifest(2, "v2", "  paused: true", ""));
    cluster.cli_ok(&["scale", "deployment/web", "--replicas", "3"]);
    wait_until("three v1 pods", WAIT, || {
        let s = snapshot(&cluster);
        (s.len() == 3 && s.iter().all(|(h, _, r)| *h == v1 && *r)).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        snapshot(&cluster).iter().all(|(h, _, _)| *h == v1),
        "paused: no pod of the new template: {:?}",
        cluster.items("deployments")
    );
    let out = cluster.cli(&["rollout", "status", "deployment/web", "--timeout", "5s"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is paused"));

    cluster.cli_ok(&["rollout", "resume", "deployment/web"]);
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    wait_until("v2 served", WAIT, || {
        (cluster.get("/env/VERSION") == (200, "v2".to_string())).then_some(())
    });
    wait_until("the v1 pods gone", WAIT, || {
        let s = snapshot(&cluster);
        (s.len() == 3 && s.iter().all(|(h, _, _)| *h != v1)).then_some(())
    });
}

#[test]
fn rollout_status_fails_when_the_progress_deadline_passes() {
    let cluster = Cluster::up(&[]);
    let extra = "  progressDeadlineSeconds: 5";
    cluster.apply_ok("web.yaml", &manifest(2, "v1", extra, ""));
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    // A readiness probe that always fails: the new pods never turn ready.
    let probe =
        "      readinessProbe: {httpGet: {path: /trap}, periodSeconds: 1, failureThreshold: 1}";
    cluster.apply_ok("web.yaml", &manifest(2, "v2", extra, probe));
    let started = Instant::now();
    let out = cluster.cli(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("exceeded its progress deadline"),
        "{stderr}"
    );
    assert!(stderr.contains("NotReady"), "the pod's reason: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let d = cluster.items("deployments").remove(0);
    let progressing = d["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing").cloned())
        .expect("Progressing condition");
    assert_eq!(progressing["status"], "False", "{progressing}");
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    // The old pods kept serving.
    assert_eq!(cluster.get("/env/VERSION"), (200, "v1".to_string()));
}

#[test]
fn a_pod_taken_away_finishes_its_in_flight_request() {
    let cluster = Cluster::up(&[]);
    cluster.apply_ok("web.yaml", &manifest(1, "v1", "", ""));
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let url = format!("{}/count?hold_ms=3000", cluster.ingress);
    let slow = std::thread::spawn(move || wasmpod_tests::http_get(&url));
    std::thread::sleep(Duration::from_millis(500));
    cluster.cli_ok(&["scale", "deployment/web", "--replicas", "0"]);
    // The pod is terminating (out of the endpoints) while its request runs on.
    wait_until("the pod terminating", Duration::from_secs(10), || {
        snapshot(&cluster).iter().any(|(_, t, _)| *t).then_some(())
    });
    let (status, body) = slow.join().expect("slow request");
    assert_eq!(status, 200, "the in-flight request finished: {body}");
    wait_until("the pod gone", WAIT, || {
        snapshot(&cluster).is_empty().then_some(())
    });
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(events.contains("after draining"), "{events}");
}

#[test]
fn a_deleted_pod_drains_its_in_flight_request_and_a_second_delete_does_not_wait() {
    let cluster = Cluster::up(&[]);
    let probe = "      terminationGracePeriodSeconds: 20";
    cluster.apply_ok("web.yaml", &manifest(1, "v1", "", probe));
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let pod = wasmpod_tests::name_of(&pods_of(&cluster.items("pods"), "web")[0]);
    let url = format!("{}/count?hold_ms=3000", cluster.ingress);
    let slow = std::thread::spawn(move || wasmpod_tests::http_get(&url));
    std::thread::sleep(Duration::from_millis(500));
    let out = cluster.cli_ok(&["delete", "pod", &pod, "--wait=false"]);
    assert!(out.contains("is terminating"), "{out}");
    // Its replacement comes at once; the old pod drains.
    let (status, body) = slow.join().expect("slow request");
    assert_eq!(status, 200, "the in-flight request finished: {body}");
    wait_until("the deleted pod gone", WAIT, || {
        let names: Vec<String> = pods_of(&cluster.items("pods"), "web")
            .iter()
            .map(wasmpod_tests::name_of)
            .collect();
        (!names.contains(&pod) && names.len() == 1).then_some(())
    });

    // A pod held in flight: the second delete does not wait for the grace period.
    let pod = wait_until("the replacement ready", WAIT, || {
        let pods = pods_of(&cluster.items("pods"), "web");
        let p = pods.first()?;
        (p["status"]["ready"] == true).then(|| wasmpod_tests::name_of(p))
    });
    let url = format!("{}/count?hold_ms=8000", cluster.ingress);
    let held = std::thread::spawn(move || wasmpod_tests::http_get(&url));
    std::thread::sleep(Duration::from_millis(500));
    cluster.cli_ok(&["delete", "pod", &pod, "--wait=false"]);
    let started = Instant::now();
    let out = cluster.cli_ok(&["delete", "pod", &pod]);
    assert!(out.contains("deleted"), "{out}");
    wait_until("the pod gone at once", Duration::from_secs(5), || {
        let names: Vec<String> = pods_of(&cluster.items("pods"), "web")
            .iter()
            .map(wasmpod_tests::name_of)
            .collect();
        (!names.contains(&pod)).then_some(())
    });
    assert!(started.elapsed() < Duration::from_secs(5));
    let _ = held.join();
}

#[test]
fn deleting_a_deployment_or_namespace_drains_its_pods_before_they_go() {
    let cluster = Cluster::up(&[]);
    cluster.apply_ok(
        "web.yaml",
        &manifest(2, "v1", "", "      terminationGracePeriodSeconds: 20"),
    );
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let url = format!("{}/count?hold_ms=3000", cluster.ingress);
    let slow = std::thread::spawn(move || wasmpod_tests::http_get(&url));
    std::thread::sleep(Duration::from_millis(500));
    let out = cluster.cli_ok(&["delete", "deployment", "web", "--wait=false"]);
    assert!(out.contains("drain"), "{out}");
    // The deployment is gone from the API at once; its pods are terminating, not gone.
    assert!(cluster.items("deployments").is_empty());
    let s = snapshot(&cluster);
    assert!(
        !s.is_empty() && s.iter().all(|(_, terminating, _)| *terminating),
        "every pod terminating: {s:?}"
    );
    let (status, body) = slow.join().expect("slow request");
    assert_eq!(status, 200, "the in-flight request finished: {body}");
    wait_until("the pods gone", WAIT, || {
        snapshot(&cluster).is_empty().then_some(())
    });
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(events.contains("after draining"), "{events}");

    // A deleted namespace's pods drain the same way.
    cluster.cli_ok(&["create", "namespace", "shop"]);
    let shop = manifest(1, "v1", "", "")
        .split("---")
        .next()
        .unwrap_or_default()
        .replace(
            "metadata: {name: web}",
            "metadata: {name: web, namespace: shop}",
        );
    cluster.apply_ok("web.yaml", &shop);
    let in_shop = || -> Vec<(bool, bool)> {
        cluster
            .items("pods")
            .iter()
            .filter(|p| p["metadata"]["namespace"] == "shop")
            .map(|p| {
                (
                    !p["metadata"]["deletionTimestamp"].is_null(),
                    p["status"]["ready"] == true,
                )
            })
            .collect()
    };
    wait_until("the pod in shop ready", WAIT, || {
        (in_shop() == [(false, true)]).then_some(())
    });
    let out = cluster.cli_ok(&["delete", "namespace", "shop", "--wait=false"]);
    assert!(out.contains("drain"), "{out}");
    let now = in_shop();
    assert!(
        !now.is_empty() && now.iter().all(|(terminating, _)| *terminating),
        "terminating, not gone: {now:?}"
    );
    wait_until("the pod in shop gone", WAIT, || {
        in_shop().is_empty().then_some(())
    });
    // The namespace stays Terminating until its last pod is gone, then goes.
    wait_until("the namespace gone", Duration::from_secs(10), || {
        let namespaces = cluster.cli_ok(&["get", "namespaces"]);
        (!namespaces.contains("shop")).then_some(())
    });
}

#[test]
fn pausing_mid_rollout_stops_it_at_the_next_step_and_resuming_finishes_it() {
    let cluster = Cluster::up(&[]);
    // New pods count as available only 2 s after they turn ready: a rollout of 3 replicas
    // one pod at a time takes several steps, seconds apart.
    let extra = "  minReadySeconds: 2\n  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}";
    cluster.apply_ok("web.yaml", &manifest(3, "v1", extra, ""));
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    let v1 = current_hash(&cluster);
    cluster.apply_ok("web.yaml", &manifest(3, "v2", extra, ""));
    let count = |new: bool| {
        snapshot(&cluster)
            .iter()
            .filter(|(h, terminating, _)| !terminating && (*h != v1) == new)
            .count()
    };
    wait_until("the rollout under way", WAIT, || {
        (count(true) > 0).then_some(())
    });
    cluster.cli_ok(&["rollout", "pause", "deployment/web"]);
    // A pass already under way may finish its step; from the next one on, nothing moves.
    std::thread::sleep(Duration::from_secs(1));
    let (new, old) = (count(true), count(false));
    assert!(
        new < 3,
        "the rollout ended before the pause: {new} new pods"
    );
    let window = Instant::now() + Duration::from_secs(8);
    while Instant::now() < window {
        assert_eq!(
            (count(true), count(false)),
            (new, old),
            "paused: the new revision does not grow and no old pod goes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let described = cluster.cli_ok(&["describe", "deployment", "web"]);
    for expected in [
        "StrategyType:           RollingUpdate".to_string(),
        "MinReadySeconds:        2".to_string(),
        "0 max unavailable, 1 max surge".to_string(),
        "Conditions:".to_string(),
        "DeploymentPaused".to_string(),
        format!("3 desired | {new} updated | {} total", new + old),
    ] {
        assert!(
            described.contains(&expected),
            "{expected:?} in:\n{described}"
        );
    }

    cluster.cli_ok(&["rollout", "resume", "deployment/web"]);
    cluster.cli_ok(&["rollout", "status", "deployment/web", "--timeout", "60s"]);
    wait_until("every pod of the new revision", WAIT, || {
        let s = snapshot(&cluster);
        (s.len() == 3 && s.iter().all(|(h, t, _)| *h != v1 && !t)).then_some(())
    });
    let described = cluster.cli_ok(&["describe", "deployment", "web"]);
    assert!(
        described.contains("3 desired | 3 updated | 3 total")
            && described.contains("NewReplicaSetAvailable")
            && described.contains("MinimumReplicasAvailable"),
        "{described}"
    );
}
