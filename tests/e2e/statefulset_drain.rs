//! Pods leave gracefully beyond Deployments: a StatefulSet's scale-down and rolling update drain
//! their pods, highest ordinal first, one at a time (`OrderedReady`); a paused deployment's pod
//! that fails comes back with its own revision's template; a deleted namespace stays
//! `Terminating` while its pods drain and cannot be created again until they are gone.

use std::time::Duration;
use wasmpod_tests::{
    components, looks_until, pods_of, service_and_ingress, statefulset_doc, wait_until, Cluster,
    ClusterApi,
};

const WAIT: Duration = Duration::from_secs(60);

/// A StatefulSet `web` of `replicas` pods of the misbehave component (`VERSION` = `version`),
/// 20 s of grace, and a service and ingress that reach pod `web-2` only.
fn set_manifest(replicas: u32, version: &str) -> String {
    let pod = format!(
        "      env: [{{name: VERSION, value: {version}}}]\n      terminationGracePeriodSeconds: 20\n"
    );
    let set = statefulset_doc(
        "web",
        &components().misbehave.display().to_string(),
        replicas,
        &pod,
        "",
    );
    set + r#"---
apiVersion: wasmpod.dev/v1
kind: Service
metadata: {name: web-2}
spec: {selector: {statefulset.kubernetes.io/pod-name: web-2}}
---
apiVersion: wasmpod.dev/v1
kind: Ingress
metadata: {name: web-2}
spec:
  rules:
  - http: {paths: [{path: /, backend: {service: web-2}}]}
"#
}

/// One look at the set's pods, by name: (name, template hash, terminating, ready).
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: String,
    hash: String,
    terminating: bool,
    ready: bool,
}

fn snapshot(cluster: &Cluster) -> Vec<Seen> {
    let mut pods: Vec<Seen> = pods_of(&cluster.items("pods"), "web")
        .iter()
        .map(|p| Seen {
            name: wasmpod_tests::name_of(p),
            hash: p["metadata"]["labels"]["pod-template-hash"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            terminating: !p["metadata"]["deletionTimestamp"].is_null(),
            ready: p["status"]["ready"] == true,
        })
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    pods
}

fn names(seen: &[Seen]) -> Vec<&str> {
    seen.iter().map(|s| s.name.as_str()).collect()
}

/// Brings up `replicas` pods of `version`, all ready, and web-2 answering through the ingress.
fn up(cluster: &Cluster, replicas: u32, version: &str) {
    cluster.apply_ok("web.yaml", &set_manifest(replicas, version));
    wait_until("every pod ready", WAIT, || {
        let s = snapshot(cluster);
        (s.len() == replicas as usize && s.iter().all(|p| p.ready && !p.terminating)).then_some(())
    });
    wait_until("web-2 served", WAIT, || {
        (cluster.get("/env/VERSION") == (200, version.to_string())).then_some(())
    });
}

/// A 3 s request to web-2, started and given 500 ms to reach it.
fn slow_request(cluster: &Cluster) -> std::thread::JoinHandle<(u16, String)> {
    let url = format!("{}/count?hold_ms=3000", cluster.ingress);
    let slow = std::thread::spawn(move || wasmpod_tests::http_get(&url));
    std::thread::sleep(Duration::from_millis(500));
    slow
}

/// Polls the set's pods every 20 ms until `done` holds for a look, returning every look.
fn watch(cluster: &Cluster, what: &str, done: impl Fn(&[Seen]) -> bool) -> Vec<Vec<Seen>> {
    looks_until(what, WAIT, || snapshot(cluster), |now| done(now))
}

#[test]
fn a_statefulset_scale_down_drains_the_highest_ordinal_first_one_pod_at_a_time() {
    let cluster = Cluster::up(&[]);
    up(&cluster, 3, "v1");
    let slow = slow_request(&cluster);
    cluster.cli_ok(&["scale", "statefulset/web", "--replicas", "1"]);
    let seen = watch(&cluster, "the scale-down", |s| names(s) == ["web-0"]);
    let (status, body) = slow.join().expect("slow request");
    assert_eq!(
        status, 200,
        "the request in flight on web-2 finished: {body}"
    );

    // Highest first, one at a time: web-1 is not touched while web-2 exists, and never two
    // pods go at once.
    for s in &seen {
        let going: Vec<&str> = s
            .iter()
            .filter(|p| p.terminating)
            .map(|p| p.name.as_str())
            .collect();
        assert!(going.len() <= 1, "two pods going at once: {s:?}");
        if names(s).contains(&"web-2") {
            assert!(
                s.iter().any(|p| p.name == "web-1" && !p.terminating),
                "web-1 taken before web-2 was gone: {s:?}"
            );
        }
        assert!(
            s.iter().any(|p| p.name == "web-0" && !p.terminating),
            "{s:?}"
        );
    }
    // Both drained (marked terminating, then gone), not deleted at once; web-2 for as long as
    // its request ran.
    let first_look = |name: &str| {
        seen.iter()
            .position(|s| s.iter().any(|p| p.name == name && p.terminating))
            .unwrap_or_else(|| panic!("{name} never seen terminating: {seen:?}"))
    };
    let gone = |name: &str| {
        seen.iter()
            .position(|s| !names(s).contains(&name))
            .unwrap_or_else(|| panic!("{name} never gone"))
    };
    assert!(gone("web-2") <= first_look("web-1"), "{seen:?}");
    assert!(first_look("web-2") < gone("web-2"));
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(
        events.contains("pod web-2 is terminating") && events.contains("pod web-1 is terminating"),
        "{events}"
    );
}

#[test]
fn a_statefulset_rolling_update_replaces_the_highest_first_and_keeps_the_others_serving() {
    let cluster = Cluster::up(&[]);
    up(&cluster, 3, "v1");
    let old = snapshot(&cluster)[0].hash.clone();
    let slow = slow_request(&cluster);
    cluster.apply_ok("web.yaml", &set_manifest(3, "v2"));
    let seen = watch(&cluster, "the rolling update", |s| {
        s.len() == 3 && s.iter().all(|p| p.hash != old && p.ready && !p.terminating)
    });
    let (status, body) = slow.join().expect("slow request");
    assert_eq!(
        status, 200,
        "the request in flight on web-2 finished: {body}"
    );
    // At least replicas - 1 serve all along, and never two pods are replaced at once.
    for s in &seen {
        let serving = s.iter().filter(|p| p.ready && !p.terminating).count();
        assert!(serving >= 2, "fewer than 2 pods serve: {s:?}");
        let replaced = 3 - s.iter().filter(|p| !p.terminating).count();
        assert!(replaced <= 1, "{s:?}");
    }
    // Highest first: each pod turns to the new template after the one above it, and each old
    // pod was drained (seen terminating) before its replacement came.
    let updated_at = |name: &str| {
        seen.iter()
            .position(|s| s.iter().any(|p| p.name == name && p.hash != old))
            .unwrap_or_else(|| panic!("{name} never updated"))
    };
    assert!(updated_at("web-2") < updated_at("web-1"), "{seen:?}");
    assert!(updated_at("web-1") < updated_at("web-0"), "{seen:?}");
    for name in ["web-2", "web-1", "web-0"] {
        assert!(
            seen.iter().any(|s| s
                .iter()
                .any(|p| p.name == name && p.hash == old && p.terminating)),
            "{name} was not drained: {seen:?}"
        );
    }
    wait_until("web-2 serves v2", WAIT, || {
        (cluster.get("/env/VERSION") == (200, "v2".to_string())).then_some(())
    });
    let set = cluster.items("statefulsets").remove(0);
    assert_eq!(set["status"]["updatedReplicas"], 3, "{set}");
}

#[test]
fn an_unknown_pod_management_policy_is_refused_naming_the_field() {
    let cluster = Cluster::up(&[]);
    let manifest = set_manifest(1, "v1").replace(
        "  serviceName: web\n",
        "  serviceName: web\n  podManagementPolicy: Ordered\n",
    );
    let out = cluster.apply("web.yaml", &manifest);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spec.podManagementPolicy")
            && stderr.contains("OrderedReady")
            && stderr.contains("Parallel"),
        "{stderr}"
    );
    assert!(cluster.items("statefulsets").is_empty());
}

/// A Deployment `app` of 3 replicas rolling one pod at a time (`VERSION` = `version`).
fn deployment(version: &str, paused: bool) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: app}}
spec:
  replicas: 3
  paused: {paused}
  minReadySeconds: 2
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      component: {}
      env: [{{name: VERSION, value: {version}}}]
---
"#,
        components().misbehave.display()
    ) + &service_and_ingress("app", "/")
}

/// The live pods of `app` by template hash: (name, hash).
fn app_pods(cluster: &Cluster) -> Vec<(String, String)> {
    pods_of(&cluster.items("pods"), "app")
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            (
                wasmpod_tests::name_of(p),
                p["metadata"]["labels"]["pod-template-hash"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn a_pod_that_fails_while_paused_comes_back_with_its_own_revisions_template() {
    let cluster = Cluster::up(&[]);
    cluster.apply_ok("web.yaml", &deployment("v1", false));
    cluster.cli_ok(&["rollout", "status", "deployment/app", "--timeout", "60s"]);
    let v1 = app_pods(&cluster)[0].1.clone();
    cluster.apply_ok("web.yaml", &deployment("v2", false));
    wait_until("the rollout under way", WAIT, || {
        app_pods(&cluster)
            .iter()
            .any(|(_, h)| *h != v1)
            .then_some(())
    });
    cluster.cli_ok(&["rollout", "pause", "deployment/app"]);
    std::thread::sleep(Duration::from_secs(1));
    let before = app_pods(&cluster);
    let old_count = before.iter().filter(|(_, h)| *h == v1).count();
    assert!(old_count > 0, "the rollout ended before the pause");

    // An old pod fails (its node reports it Failed).
    let (failed, _) = before.iter().find(|(_, h)| *h == v1).cloned().unwrap();
    let pod = cluster.api_json(&format!("/api/v1/pods/{failed}?namespace=default"));
    let mut status = pod["status"].clone();
    status["phase"] = "Failed".into();
    status["ready"] = false.into();
    status["reason"] = "Error".into();
    let reply = wasmpod_tests::http_call(
        "PUT",
        &format!(
            "{}/api/v1/pods/{failed}/status?namespace=default",
            cluster.api
        ),
        &[("content-type", "application/json")],
        Some(&status.to_string()),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let after = wait_until("the failed pod replaced", WAIT, || {
        let now = app_pods(&cluster);
        (!now.iter().any(|(n, _)| *n == failed) && now.len() == before.len()).then_some(now)
    });
    let count = |pods: &[(String, String)], old: bool| {
        pods.iter().filter(|(_, h)| (*h == v1) == old).count()
    };
    assert_eq!(
        (count(&after, true), count(&after, false)),
        (count(&before, true), count(&before, false)),
        "replaced with its own revision (v1), not the new one: before {before:?}, after {after:?}"
    );
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(events.contains("of revision 1 in place of"), "{events}");
}

/// The pods in namespace `shop`: (terminating, ready) of each.
fn in_shop(cluster: &Cluster) -> Vec<(bool, bool)> {
    let list = cluster.api_json("/api/v1/pods?namespace=shop");
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            (
                !p["metadata"]["deletionTimestamp"].is_null(),
                p["status"]["ready"] == true,
            )
        })
        .collect()
}

#[test]
fn a_namespace_whose_pods_drain_stays_terminating_and_cannot_be_created_again() {
    let cluster = Cluster::up(&[]);
    cluster.cli_ok(&["create", "namespace", "shop"]);
    // The Deployment, its Service and its Ingress, all in shop.
    let shop = deployment("v1", false)
        .replace(
            "metadata: {name: app}",
            "metadata: {name: app, namespace: shop}",
        )
        .replace(
            "      env: [{name: VERSION, value: v1}]",
            "      env: [{name: VERSION, value: v1}]\n      terminationGracePeriodSeconds: 20",
        );
    cluster.apply_ok("web.yaml", &shop);
    wait_until("the pods in shop ready", WAIT, || {
        let pods = in_shop(&cluster);
        (pods.len() == 3 && pods.iter().all(|(t, r)| !t && *r)).then_some(())
    });
    wait_until("shop served", WAIT, || {
        (cluster.get("/env/VERSION") == (200, "v1".to_string())).then_some(())
    });
    // A 6 s request keeps one pod draining while the namespace is looked at.
    let url = format!("{}/count?hold_ms=6000", cluster.ingress);
    let slow = std::thread::spawn(move || wasmpod_tests::http_get(&url));
    std::thread::sleep(Duration::from_millis(500));
    let out = cluster.cli_ok(&["delete", "namespace", "shop", "--wait=false"]);
    assert!(out.contains("terminating"), "{out}");

    // Still listed, Terminating; creating it again, or anything in it, is refused.
    let namespaces = cluster.cli_ok(&["get", "namespaces"]);
    assert!(
        namespaces
            .lines()
            .any(|l| l.starts_with("shop") && l.contains("Terminating")),
        "{namespaces}"
    );
    let out = cluster.cli(&["create", "namespace", "shop"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "created again while its pods drain");
    assert!(stderr.contains("is being deleted"), "{stderr}");
    let reply = wasmpod_tests::http_call(
        "POST",
        &format!("{}/api/v1/apply?create=true", cluster.api),
        &[("content-type", "application/json")],
        Some(
            r#"{"objects": [{"apiVersion": "wasmpod.dev/v1", "kind": "Namespace", "metadata": {"name": "shop"}}]}"#,
        ),
    );
    assert_eq!(reply.status, 409, "{}", reply.body);
    let out = cluster.apply("shop.yaml", &shop);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "applied into a terminating namespace"
    );
    assert!(stderr.contains("is being deleted"), "{stderr}");
    let draining = in_shop(&cluster);
    assert!(
        !draining.is_empty() && draining.iter().all(|(t, _)| *t),
        "{draining:?}"
    );

    let (status, body) = slow.join().expect("slow request");
    assert_eq!(status, 200, "the in-flight request finished: {body}");
    wait_until("the namespace gone", WAIT, || {
        let list = cluster.api_json("/api/v1/namespaces");
        let names: Vec<String> = list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(wasmpod_tests::name_of)
            .collect();
        (!names.contains(&"shop".to_string())).then_some(())
    });
    // Created again, it is a new namespace: nothing of the old one shows in it.
    cluster.cli_ok(&["create", "namespace", "shop"]);
    assert!(in_shop(&cluster).is_empty());
    let events = cluster.api_json("/api/v1/events?namespace=shop");
    assert_eq!(
        events["items"].as_array().map(Vec::len),
        Some(0),
        "{events}"
    );
}
