//! How requests travel: a client's `traceparent` kept and returned (and continued on the guest's
//! service calls), round robin across replicas, a ready pod turning unready losing its traffic,
//! `instanceReuse` from a manifest, and a same-node service call served in process.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use wasmpod_tests::{
    components, http_call, name_of, pods_of, wait_until, Cluster, MultiNode, Reply,
};

const WAIT: Duration = Duration::from_secs(40);

/// A Deployment of the misbehave component answering `/env/WHO` with its name: `labels` and
/// `spec` are YAML flow-map entries, each starting with `, `.
fn deployment(name: &str, replicas: u32, labels: &str, spec: &str) -> String {
    let who = format!(", env: [{{name: WHO, value: {name}}}]{spec}");
    wasmpod_tests::deployment_yaml(name, &components().misbehave, replicas, labels, &who)
}

/// A Service selecting `selector` and an Ingress sending host `<name>.test` to it.
fn exposed(name: &str, selector: &str) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Service
metadata: {{name: {name}}}
spec: {{selector: {{{selector}}}}}
---
apiVersion: wasmpod.dev/v1
kind: Ingress
metadata: {{name: {name}}}
spec:
  rules:
  - host: {name}.test
    http: {{paths: [{{path: /, backend: {{service: {name}}}}}]}}
---
"#
    )
}

fn call(
    cluster: &Cluster,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut all = vec![("host", host)];
    all.extend_from_slice(headers);
    http_call(method, &format!("{}{path}", cluster.ingress), &all, None)
}

fn get(cluster: &Cluster, host: &str, path: &str) -> (u16, String) {
    let r = call(cluster, "GET", host, path, &[]);
    (r.status, r.body)
}

/// `(instance id, requests it served)` from a `/count` answer.
fn count(cluster: &Cluster, path: &str) -> (String, u32) {
    let (status, body) = get(cluster, "reuse.test", path);
    assert_eq!(status, 200, "{path}: {body}");
    let (id, n) = body.split_once(' ').expect("`<id> <n>`");
    (id.to_string(), n.parse().expect("count"))
}

fn pod(cluster: &Cluster, app: &str) -> Option<serde_json::Value> {
    pods_of(&cluster.items("pods"), app).into_iter().next()
}

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[test]
fn traces_round_robin_readiness_and_instance_reuse() {
    let cluster = Cluster::up(&[]);
    let claim = "apiVersion: wasmpod.dev/v1\nkind: PersistentVolumeClaim\nmetadata: {name: flag}\n\
                 spec: {resources: {requests: {storage: 1Mi}}}\n---\n";
    let flag_mount = ", volumes: [{name: flag, persistentVolumeClaim: {claimName: flag}}], \
                      volumeMounts: [{name: flag, mountPath: /flag}]";
    let probe = ", readinessProbe: {httpGet: {path: /file?path=/flag/ready}, periodSeconds: 1, \
                 failureThreshold: 1}";
    let yaml = [
        deployment("rr", 2, "", ""),
        exposed("rr", "app: rr"),
        deployment("reuse", 1, "", ", instanceReuse: {maxRequests: 3}"),
        exposed("reuse", "app: reuse"),
        deployment("fresh", 1, "", ""),
        exposed("fresh", "app: fresh"),
        claim.to_string(),
        deployment("good", 1, ", tier: mixed", flag_mount),
        deployment("flaky", 1, ", tier: mixed", &format!("{flag_mount}{probe}")),
        exposed("mixed", "tier: mixed"),
    ]
    .concat();
    let out = cluster.apply("all.yaml", &yaml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("every pod but flaky ready", WAIT, || {
        let pods = cluster.items("pods");
        let ready = |app: &str| {
            pods_of(&pods, app)
                .iter()
                .filter(|p| p["status"]["ready"] == true)
                .count()
        };
        (ready("rr") == 2 && ready("reuse") == 1 && ready("fresh") == 1 && ready("good") == 1)
            .then_some(())
    });

    // ---- round robin: argv[0] names the pod that answered ----
    let rr_pods: BTreeSet<String> = pods_of(&cluster.items("pods"), "rr")
        .iter()
        .map(name_of)
        .collect();
    wait_until("both rr replicas routed", WAIT, || {
        let seen: BTreeSet<String> = (0..4)
            .map(|_| get(&cluster, "rr.test", "/args").1)
            .filter_map(|b| b.lines().next().map(str::to_string))
            .collect();
        (seen == rr_pods).then_some(())
    });
    let order: Vec<String> = (0..20)
        .map(|_| {
            let (status, body) = get(&cluster, "rr.test", "/args");
            assert_eq!(status, 200, "{body}");
            body.lines().next().unwrap_or_default().to_string()
        })
        .collect();
    let mut per_pod: HashMap<&str, usize> = HashMap::new();
    for p in &order {
        *per_pod.entry(p).or_default() += 1;
    }
    assert!(
        per_pod.len() == 2 && per_pod.values().all(|n| *n >= 7),
        "both replicas share the requests: {order:?}"
    );
    assert!(
        order.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])),
        "replicas take turns (round robin, not chance): {order:?}"
    );

    // ---- traceparent: kept, returned, continued on the guest's service calls ----
    let sent = format!("00-{CLIENT_TRACE}-00f067aa0ba902b7-01");
    let r = call(&cluster, "GET", "rr.test", "/ok", &[("traceparent", &sent)]);
    assert_eq!((r.status, r.header("traceparent")), (200, sent.as_str()));
    let r = call(&cluster, "GET", "rr.test", "/ok", &[]);
    let made: Vec<&str> = r.header("traceparent").split('-').collect();
    assert!(
        made.len() == 4 && made[1].len() == 32 && made[1] != CLIENT_TRACE,
        "a request without one gets a new trace: {:?}",
        r.header("traceparent")
    );
    // The guest's call to a service on the same node: same trace, served in process.
    let r = call(
        &cluster,
        "GET",
        "rr.test",
        "/fetch?url=http://fresh/headers",
        &[("traceparent", &sent)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.starts_with("200\n") && r.body.contains(&format!("traceparent: 00-{CLIENT_TRACE}-")),
        "the callee is in the client's trace: {}",
        r.body
    );
    assert!(
        !r.body.contains(&sent),
        "the call is a child span (a new span id): {}",
        r.body
    );
    assert_eq!(r.header("traceparent"), sent);

    // ---- a ready pod turning unready loses its traffic ----
    let flaky = pod(&cluster, "flaky").expect("flaky pod");
    assert_eq!(flaky["status"]["ready"], false, "{flaky}");
    for _ in 0..10 {
        assert_eq!(
            get(&cluster, "mixed.test", "/env/WHO"),
            (200, "good".into())
        );
    }
    let put = call(&cluster, "PUT", "mixed.test", "/file?path=/flag/ready", &[]);
    assert_eq!(put.status, 200, "{}", put.body);
    wait_until("flaky ready and serving", WAIT, || {
        (get(&cluster, "mixed.test", "/env/WHO").1 == "flaky").then_some(())
    });
    let removed = call(
        &cluster,
        "DELETE",
        "mixed.test",
        "/file?path=/flag/ready",
        &[],
    );
    assert_eq!(removed.status, 200, "{}", removed.body);
    wait_until("flaky reported unready", WAIT, || {
        (pod(&cluster, "flaky")?["status"]["ready"] == false).then_some(())
    });
    wait_until("traffic gone from flaky", WAIT, || {
        (0..10)
            .all(|_| get(&cluster, "mixed.test", "/env/WHO") == (200, "good".into()))
            .then_some(())
    });

    // ---- instanceReuse: state carries over, at most maxRequests per instance ----
    for _ in 0..4 {
        let (status, body) = get(&cluster, "fresh.test", "/count");
        assert_eq!(status, 200, "{body}");
        assert!(
            body.ends_with(" 1"),
            "without reuse every request is fresh: {body}"
        );
    }
    let mut served: Vec<(String, u32)> = Vec::new();
    wait_until("an instance serving its third request", WAIT, || {
        std::thread::sleep(Duration::from_millis(30));
        served.push(count(&cluster, "/count"));
        (served.last()?.1 == 3).then_some(())
    });
    assert!(
        served.iter().all(|(_, n)| *n <= 3),
        "an instance serves at most maxRequests: {served:?}"
    );

    // A trap drops the instance: the next request gets another one.
    let warm = wait_until("a warm instance", WAIT, || {
        std::thread::sleep(Duration::from_millis(30));
        let (id, n) = count(&cluster, "/count");
        (n == 2).then_some(id)
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(get(&cluster, "reuse.test", "/trap").0, 500);
    let reuse_pod = name_of(&pod(&cluster, "reuse").expect("reuse pod"));
    let trapped = wait_until("the trap in the logs", WAIT, || {
        let logs = cluster.cli_ok(&["logs", &reuse_pod]);
        logs.lines()
            .find_map(|l| l.split("misbehave: instance ").nth(1))
            .and_then(|rest| rest.split(' ').next())
            .map(str::to_string)
    });
    let (next, n) = count(&cluster, "/count");
    assert_ne!(next, trapped, "the trapped instance was used again");
    if trapped == warm {
        assert_eq!(n, 1, "a fresh instance after the trap");
    }

    // Requests at once get instances of their own.
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let url = format!("{}/count?hold_ms=600", cluster.ingress);
            std::thread::spawn(move || http_call("GET", &url, &[("host", "reuse.test")], None))
        })
        .collect();
    let ids: BTreeSet<String> = threads
        .into_iter()
        .map(|t| {
            let r = t.join().expect("request thread");
            assert_eq!(r.status, 200, "{}", r.body);
            r.body.split(' ').next().unwrap_or_default().to_string()
        })
        .collect();
    assert!(
        ids.len() >= 2,
        "concurrent requests shared one instance: {ids:?}"
    );
}

#[test]
fn a_service_call_prefers_the_replica_on_its_own_node() {
    let mut cluster = MultiNode::start();
    let gateway_a = cluster.add_worker("node-a", &["--label", "zone=a"]);
    cluster.add_worker("node-b", &["--label", "zone=b"]);
    let zone = |z: &str| format!(", nodeSelector: {{zone: {z}}}");
    let yaml = [
        deployment("caller", 1, "", &zone("a")),
        exposed("caller", "app: caller"),
        deployment("callee-a", 1, ", tier: callee", &zone("a")),
        deployment("callee-b", 2, ", tier: callee", &zone("b")),
        exposed("callee", "tier: callee"),
    ]
    .concat();
    cluster.apply("all.yaml", &yaml);
    wait_until("every replica ready", WAIT, || {
        (cluster.ready_pods("caller").len() == 1
            && cluster.ready_pods("callee-a").len() == 1
            && cluster.ready_pods("callee-b").len() == 2)
            .then_some(())
    });
    let url = format!("{gateway_a}/fetch?url=http://callee/env/WHO");
    wait_until("the caller reaches the callee", WAIT, || {
        (http_call("GET", &url, &[("host", "caller.test")], None).status == 200).then_some(())
    });
    // Two thirds of the callee's replicas are on node-b; every call stays on node-a, in process
    // (round robin over all three would send most calls to node-b).
    for _ in 0..12 {
        let r = http_call("GET", &url, &[("host", "caller.test")], None);
        assert_eq!((r.status, r.body.as_str()), (200, "200\ncallee-a"));
    }
}
