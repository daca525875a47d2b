//! Persistent volumes: claims bound on first use and protected while in use, the scheduler
//! placing pods on their volume's node, StatefulSets with ordered pods and stable claims, and
//! the counter sample keeping its count across pod loss, re-apply and `kill -9` of its worker.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use wasmpod_tests::{
    components, data_volume_lines, http_app, sample_manifest, statefulset_doc, wait_until, Cluster,
    MultiNode,
};

const WAIT: Duration = Duration::from_secs(40);

/// Bearer token of the counter sample's Secret.
const COUNTER_TOKEN: &str = "s3cret";

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Sends `request`, returning (status, body); a transport error is status 0.
fn send(request: reqwest::blocking::RequestBuilder) -> (u16, String) {
    match request.send() {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// An API request, with the admin token when there is one (a `wasmpod server`).
fn api(
    method: reqwest::Method,
    api: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::blocking::RequestBuilder {
    let request = client().request(method, format!("{api}{path}"));
    match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    }
}

/// Uploads a component and returns `sha256:<digest>`, for manifests of kinds whose components
/// the CLI does not upload by path.
fn upload(api_url: &str, token: Option<&str>, component: &PathBuf) -> String {
    let bytes = std::fs::read(component).expect("component built");
    let (status, body) = send(
        api(reqwest::Method::POST, api_url, "/api/v1/blobs", token)
            .header("content-type", "application/wasm")
            .body(bytes),
    );
    assert_eq!(status, 200, "upload: {body}");
    let value: serde_json::Value = serde_json::from_str(&body).expect("json");
    value["digest"].as_str().expect("digest").to_string()
}

fn find<'a>(items: &'a [serde_json::Value], name: &str) -> Option<&'a serde_json::Value> {
    items.iter().find(|o| o["metadata"]["name"] == name)
}

fn claim_app(name: &str, claim: &str, path: &str) -> String {
    http_app(name, &components().misbehave, 1, path).replace(
        "spec: {component:",
        &format!(
            "spec: {{volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim}}}}}], \
             volumeMounts: [{{name: data, mountPath: /data}}], component:"
        ),
    )
}

fn claim_yaml(name: &str) -> String {
    format!(
        "apiVersion: wasmpod.dev/v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\n\
         spec: {{resources: {{requests: {{storage: 10Mi}}}}}}\n"
    )
}

fn statefulset(component: &str, replicas: u32) -> String {
    let (pod, set) = data_volume_lines("10Mi");
    statefulset_doc("web", component, replicas, &pod, &set)
}

#[test]
fn statefulset_starts_pods_in_order_and_keeps_their_claims() {
    let cluster = Cluster::up(&[]);
    let digest = upload(&cluster.api, None, &components().misbehave);
    let out = cluster.apply("web.yaml", &statefulset(&digest, 2));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Ordering: web-1 never exists before web-0 is Running and ready.
    let ready =
        |p: &serde_json::Value| p["status"]["phase"] == "Running" && p["status"]["ready"] == true;
    wait_until("web-0 and web-1 ready, in order", WAIT, || {
        let pods = cluster.items("pods");
        if find(&pods, "web-1").is_some() {
            let web0 = find(&pods, "web-0").expect("web-0 exists while web-1 does");
            assert!(
                ready(web0),
                "web-1 was created before web-0 was ready: {web0}"
            );
        }
        (["web-0", "web-1"]
            .iter()
            .all(|n| find(&pods, n).is_some_and(ready)))
        .then_some(())
    });
    let pods = cluster.items("pods");
    let web1 = find(&pods, "web-1").expect("web-1");
    assert_eq!(
        web1["metadata"]["ownerReferences"][0]["kind"],
        "StatefulSet"
    );
    assert_eq!(
        web1["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "data-web-1"
    );
    let claims = cluster.items("persistentvolumeclaims");
    let claim1 = find(&claims, "data-web-1")
        .expect("claim data-web-1")
        .clone();
    assert_eq!(claim1["status"]["phase"], "Bound");
    assert_eq!(claim1["status"]["nodeName"], web1["spec"]["nodeName"]);
    assert!(find(&claims, "data-web-0").is_some());
    wait_until("the set's status counts 2 ready", WAIT, || {
        (cluster.items("statefulsets").first()?["status"]["readyReplicas"] == 2).then_some(())
    });

    // Stable identity: a deleted pod comes back under its name, with the same claim.
    let old_uid = web1["metadata"]["uid"].clone();
    cluster.cli_ok(&["delete", "pod", "web-1"]);
    let again = wait_until("web-1 recreated and ready", WAIT, || {
        let pods = cluster.items("pods");
        find(&pods, "web-1")
            .filter(|p| p["metadata"]["uid"] != old_uid && ready(p))
            .cloned()
    });
    assert_eq!(
        again["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "data-web-1"
    );
    assert_eq!(again["spec"]["nodeName"], claim1["status"]["nodeName"]);
    let claims = cluster.items("persistentvolumeclaims");
    assert_eq!(
        find(&claims, "data-web-1").expect("claim kept")["metadata"]["uid"],
        claim1["metadata"]["uid"],
        "the same claim"
    );
    assert_eq!(claims.len(), 2, "no new claims: {claims:?}");

    // Scale down removes web-1 and keeps its claim; deleting the set keeps every claim.
    cluster.apply("web.yaml", &statefulset(&digest, 1));
    wait_until("web-1 gone", WAIT, || {
        find(&cluster.items("pods"), "web-1")
            .is_none()
            .then_some(())
    });
    cluster.cli_ok(&["delete", "statefulset", "web"]);
    wait_until("pods of the set gone", WAIT, || {
        cluster.items("pods").is_empty().then_some(())
    });
    assert_eq!(
        cluster.items("persistentvolumeclaims").len(),
        2,
        "claims outlive the set"
    );
}

#[test]
fn pod_waits_for_a_missing_claim_with_the_reason() {
    let cluster = Cluster::up(&[]);
    let out = cluster.apply("app.yaml", &claim_app("files", "later", "/"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let message = wait_until("ClaimNotFound", WAIT, || {
        cluster.items("pods").iter().find_map(|p| {
            (p["status"]["reason"] == "ClaimNotFound").then(|| {
                p["status"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        })
    });
    assert_eq!(message, r#"persistentvolumeclaim "later" not found"#);
    assert!(cluster
        .items("pods")
        .iter()
        .all(|p| p["spec"]["nodeName"].is_null()));

    cluster.apply("claim.yaml", &claim_yaml("later"));
    let node = wait_until("the pod scheduled once its claim exists", WAIT, || {
        cluster
            .items("pods")
            .iter()
            .find_map(|p| p["spec"]["nodeName"].as_str().map(str::to_string))
    });
    let claims = cluster.items("persistentvolumeclaims");
    assert_eq!(claims[0]["status"]["phase"], "Bound");
    assert_eq!(claims[0]["status"]["nodeName"], node.as_str());
}

#[test]
fn claim_in_use_is_deleted_only_after_its_pod_is_gone() {
    let cluster = Cluster::up(&[]);
    let yaml = format!(
        "{}---\n{}",
        claim_yaml("data"),
        claim_app("user", "data", "/")
    );
    let out = cluster.apply("app.yaml", &yaml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pod = wait_until("the user pod bound", WAIT, || {
        cluster
            .items("pods")
            .iter()
            .find(|p| p["spec"]["nodeName"].is_string())
            .map(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
    });

    let (status, body) = send(api(
        reqwest::Method::DELETE,
        &cluster.api,
        "/api/v1/persistentvolumeclaims/data",
        None,
    ));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Terminating") && body.contains(&pod),
        "{body}"
    );
    let claims = cluster.items("persistentvolumeclaims");
    assert_eq!(
        find(&claims, "data").expect("still there")["status"]["phase"],
        "Terminating"
    );

    // A new pod cannot bind a Terminating claim.
    cluster.apply("late.yaml", &claim_app("late", "data", "/late"));
    wait_until("the late pod held back", WAIT, || {
        cluster
            .items("pods")
            .iter()
            .any(|p| {
                p["metadata"]["labels"]["app"] == "late"
                    && p["status"]["reason"] == "ClaimTerminating"
            })
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        find(&cluster.items("persistentvolumeclaims"), "data").is_some(),
        "kept while {pod} uses it"
    );

    cluster.cli_ok(&["delete", "deployment", "user"]);
    wait_until("the claim deleted once unused", WAIT, || {
        find(&cluster.items("persistentvolumeclaims"), "data")
            .is_none()
            .then_some(())
    });
    wait_until("the late pod now misses the claim", WAIT, || {
        cluster
            .items("pods")
            .iter()
            .any(|p| {
                p["metadata"]["labels"]["app"] == "late" && p["status"]["reason"] == "ClaimNotFound"
            })
            .then_some(())
    });
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(
        events.contains("WaitingForPods") && events.contains("ClaimDeleted"),
        "{events}"
    );

    // An unused claim goes at once.
    cluster.apply("claim.yaml", &claim_yaml("spare"));
    let (status, body) = send(api(
        reqwest::Method::DELETE,
        &cluster.api,
        "/api/v1/persistentvolumeclaims/spare",
        None,
    ));
    assert_eq!(status, 200, "{body}");
    assert!(find(&cluster.items("persistentvolumeclaims"), "spare").is_none());
}

#[test]
fn scheduler_puts_the_pod_on_its_volumes_node() {
    let mut cluster = MultiNode::start();
    let gateway_a = cluster.add_worker("node-a", &["--label", "zone=a"]);
    let yaml = format!(
        "{}---\n{}",
        claim_yaml("data"),
        claim_app("files", "data", "/")
    );
    cluster.apply("files.yaml", &yaml);
    let (first, node) = wait_until("files ready", WAIT, || cluster.ready_pods("files").pop());
    assert_eq!(node, "node-a");
    // The route to a just-ready pod may take a moment to reach the gateway; the write is idempotent.
    wait_until("the data written through node-a's ingress", WAIT, || {
        let (status, _) = send(
            client()
                .put(format!("{gateway_a}/file?path=/data/x"))
                .body("kept on node-a"),
        );
        (status == 200).then_some(())
    });

    // Now node-b is empty and node-a busy: only the volume keeps the replacement on node-a.
    let gateway_b = cluster.add_worker("node-b", &[]);
    let filler = http_app("filler", &components().hello, 3, "/filler").replace(
        "spec: {component:",
        "spec: {nodeSelector: {zone: a}, resources: {requests: {memory: 256Mi}}, component:",
    );
    cluster.apply("filler.yaml", &filler);
    wait_until("filler ready on node-a", WAIT, || {
        (cluster.ready_pods("filler").len() == 3).then_some(())
    });
    cluster.cli_ok(&["delete", "pod", &first]);
    let (second, node) = wait_until("the replacement ready", WAIT, || {
        cluster
            .ready_pods("files")
            .into_iter()
            .find(|(n, _)| *n != first)
    });
    assert_eq!(node, "node-a", "{second} follows its volume");
    let body = wait_until("the data read back through node-b's ingress", WAIT, || {
        let (status, body) = send(client().get(format!("{gateway_b}/file?path=/data/x")));
        (status == 200).then_some(body)
    });
    assert_eq!(body, "kept on node-a");
}

// ---- the counter sample ----

/// GET /counter with the token until it answers 200; returns the body.
fn visit(gateway: &str) -> String {
    wait_until("the counter answers", WAIT, || {
        let (status, body) = send(
            client()
                .get(format!("{gateway}/counter"))
                .bearer_auth(COUNTER_TOKEN),
        );
        (status == 200).then_some(body)
    })
}

fn expect_visit(gateway: &str, n: u32) {
    assert_eq!(
        visit(gateway),
        format!("Hello from the counter visit #{n}\n")
    );
}

fn counter_pod(items: Vec<serde_json::Value>) -> Option<String> {
    items
        .iter()
        .find(|p| p["metadata"]["labels"]["app"] == "counter" && p["status"]["ready"] == true)
        .and_then(|p| p["metadata"]["name"].as_str().map(str::to_string))
}

#[test]
fn counter_keeps_counting_across_pod_loss_reapply_and_restart() {
    let mut cluster = Cluster::up(&[]);
    let manifest = sample_manifest("counter");
    let out = cluster.apply("counter.yaml", &manifest);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ingress = cluster.ingress.clone();
    let unauthorized = cluster.wait_for_status("/counter", 401, WAIT);
    assert!(unauthorized.contains("unauthorized"), "{unauthorized}");
    expect_visit(&ingress, 1);
    expect_visit(&ingress, 2);

    // The pod goes away; its replacement finds the count.
    let pod = wait_until("the counter pod", WAIT, || {
        counter_pod(cluster.items("pods"))
    });
    cluster.cli_ok(&["delete", "pod", &pod]);
    let deadline = Instant::now() + WAIT;
    while counter_pod(cluster.items("pods"))
        .filter(|p| *p != pod)
        .is_none()
    {
        // On a timeout, show what the cluster was doing.
        assert!(
            Instant::now() < deadline,
            "no new counter pod; pods: {:#?}\nevents:\n{}",
            cluster.items("pods"),
            cluster.cli_ok(&["get", "events"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    expect_visit(&ingress, 3);

    // Delete the deployment and apply the manifest again: same claim, same data.
    cluster.cli_ok(&["delete", "deployment", "counter"]);
    wait_until("no counter pod", WAIT, || {
        cluster
            .items("pods")
            .iter()
            .all(|p| p["metadata"]["labels"]["app"] != "counter")
            .then_some(())
    });
    let out = cluster.apply("counter.yaml", &manifest);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expect_visit(&ingress, 4);

    // The whole node stops and starts again on its data directory.
    cluster.stop();
    let data_dir = cluster.data_dir.clone();
    let restarted = Cluster::up_in(&data_dir, &[]);
    expect_visit(&restarted.ingress, 5);
}

#[test]
fn counter_survives_kill9_of_its_worker() {
    let mut cluster = MultiNode::start();
    let gateway = cluster.add_worker("node-a", &[]);
    cluster.apply("counter.yaml", &sample_manifest("counter"));
    expect_visit(&gateway, 1);
    expect_visit(&gateway, 2);
    expect_visit(&gateway, 3);

    cluster.worker("node-a").kill9();
    cluster.workers.clear();
    // The node turns NotReady; with no other node to go to, its pod is not evicted but waits,
    // still bound to the node that holds its volume.
    wait_until("node-a NotReady", WAIT, || {
        cluster
            .items("nodes")
            .iter()
            .any(|n| n["metadata"]["name"] == "node-a" && n["status"]["ready"] == false)
            .then_some(())
    });
    let pods = cluster.items("pods");
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(pods[0]["spec"]["nodeName"], "node-a");
    let gateway = cluster.add_worker("node-a", &[]);
    expect_visit(&gateway, 4);
}
