//! Components from an OCI registry (a real `docker-registry` on loopback): `wasmpod push`
//! writes the CNCF Wasm layout; `component: oci://...` is pinned to its manifest digest at
//! apply; nodes pull by digest once, check every digest, and report pull failures as
//! ErrImagePull / ImagePullBackOff with the reference.

use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::time::Duration;
use wasmpod_tests::registry::{Registry, User};
use wasmpod_tests::{
    components, deployment_doc, http_get, service_and_ingress, wait_until, Cluster, ClusterApi,
    PodSpecExtra,
};

pub(crate) const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex_lower(&Sha256::digest(bytes)))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn push(cluster: &Cluster, file: &Path, reference: &str) -> String {
    let out = cluster.cli_ok(&[
        "push",
        file.to_str().expect("utf-8 path"),
        reference,
        "--insecure",
    ]);
    let digest = out.trim().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{out}");
    digest
}

/// A Deployment of `component` (an `oci://` reference) with a Service and an Ingress at `/NAME`.
pub(crate) fn app(name: &str, component: &str, replicas: u32, pod_extra: &str) -> String {
    deployment_doc(
        name,
        Path::new(component),
        replicas,
        "",
        PodSpecExtra::Lines(pod_extra),
    ) + &service_and_ingress(name, &format!("/{name}"))
}

fn stored_component(cluster: &Cluster, deployment: &str) -> String {
    cluster
        .items("deployments")
        .iter()
        .find(|d| d["metadata"]["name"] == deployment)
        .and_then(|d| d["spec"]["template"]["spec"]["component"].as_str())
        .unwrap_or_else(|| panic!("deployment {deployment} is stored"))
        .to_string()
}

/// The (reason, message) of the first pod of `app` whose reason is a pull failure.
pub(crate) fn wait_pull_failure(cluster: &Cluster, app: &str) -> (String, String) {
    wait_until("a pod with ErrImagePull or ImagePullBackOff", WAIT, || {
        cluster.items("pods").iter().find_map(|p| {
            let reason = p["status"]["reason"].as_str().unwrap_or_default();
            (p["metadata"]["labels"]["app"] == app
                && matches!(reason, "ErrImagePull" | "ImagePullBackOff"))
            .then(|| {
                assert_eq!(p["status"]["phase"], "Pending", "{p}");
                (
                    reason.to_string(),
                    p["status"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
        })
    })
}

fn pull_events(cluster: &Cluster) -> String {
    cluster.cli_ok(&["get", "events"])
}

#[test]
fn a_pushed_component_deploys_by_tag_pinned_to_its_digest_until_reapplied() {
    let registry = Registry::open();
    let cluster = Cluster::up(&["--insecure-registry", &registry.host]);
    let c = components();
    let reference = format!("{}/apps/hello:v1", registry.host);
    let digest = push(&cluster, &c.hello, &reference);

    // The artifact is in the CNCF Wasm layout, read over the plain distribution API.
    let http = reqwest::blocking::Client::new();
    let manifest: serde_json::Value = http
        .get(format!(
            "http://{}/v2/apps/hello/manifests/v1",
            registry.host
        ))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .and_then(|r| r.json())
        .expect("manifest");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    let hello = std::fs::read(&c.hello).expect("hello.wasm");
    let layer = sha256(&hello);
    assert_eq!(layers[0]["digest"], layer.as_str());
    let config: serde_json::Value = http
        .get(format!(
            "http://{}/v2/apps/hello/blobs/{}",
            registry.host,
            manifest["config"]["digest"]
                .as_str()
                .expect("config digest")
        ))
        .send()
        .and_then(|r| r.json())
        .expect("config");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"], serde_json::json!([layer]));
    assert!(config["created"].is_string(), "{config}");

    // Deploy by tag: two pods on the one node, one pull.
    let yaml = app("hello", &format!("oci://{reference}"), 2, "");
    cluster.apply_ok("hello.yaml", &yaml);
    let body = cluster.wait_for_status("/hello", 200, WAIT);
    assert_eq!(body, "Hello from wasmpod!\n");
    let pinned = format!("oci://{reference}@{digest}");
    assert_eq!(stored_component(&cluster, "hello"), pinned);
    wait_until("two running pods", WAIT, || {
        let pods = cluster.items("pods");
        (pods
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count()
            == 2)
            .then_some(())
    });
    for pod in cluster.items("pods") {
        assert_eq!(pod["spec"]["component"], pinned.as_str(), "{pod}");
    }
    let blob_path = format!("/v2/apps/hello/blobs/{layer}");
    assert_eq!(
        registry.requests("GET", &blob_path),
        2,
        "one pull by the API server to check the component at apply, one per node:\n{}",
        registry.log()
    );

    // The tag moves to other bytes: the running pods and the stored spec stay pinned.
    let moved = push(&cluster, &c.backend, &reference);
    assert_ne!(moved, digest);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stored_component(&cluster, "hello"), pinned);
    assert_eq!(
        http_get(&format!("{}/hello", cluster.ingress)).1,
        "Hello from wasmpod!\n"
    );

    // Re-applying the same manifest resolves the tag again: the new digest rolls out.
    cluster.apply_ok("hello.yaml", &yaml);
    assert_eq!(
        stored_component(&cluster, "hello"),
        format!("oci://{reference}@{moved}")
    );
    wait_until("the moved tag's component serves", WAIT, || {
        let (code, body) = http_get(&format!("{}/hello", cluster.ingress));
        (code == 200 && body.contains("\"items\"")).then_some(())
    });

    // `rollout restart` resolves the tag again too: it moved back to hello (a new manifest: its
    // config carries the push's time).
    let back = push(&cluster, &c.hello, &reference);
    assert_ne!(back, moved);
    cluster.cli_ok(&["rollout", "restart", "deployment/hello"]);
    assert_eq!(
        stored_component(&cluster, "hello"),
        format!("oci://{reference}@{back}")
    );
    wait_until(
        "the restarted deployment serves the tag's new target",
        WAIT,
        || {
            let (code, body) = http_get(&format!("{}/hello", cluster.ingress));
            (code == 200 && body == "Hello from wasmpod!\n").then_some(())
        },
    );
    // Its layer was checked at the first apply: neither the API server nor the node pulled
    // it again for the new manifest.
    assert_eq!(
        registry.requests("GET", &blob_path),
        2,
        "{}",
        registry.log()
    );
}

#[test]
fn an_unknown_tag_fails_the_apply_and_stores_nothing() {
    let registry = Registry::open();
    let cluster = Cluster::up(&["--insecure-registry", &registry.host]);
    let reference = format!("{}/apps/nothing:v9", registry.host);
    let out = cluster.apply(
        "nothing.yaml",
        &app("nothing", &format!("oci://{reference}"), 1, ""),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&reference), "{stderr}");
    assert!(stderr.contains("not found"), "{stderr}");
    assert!(
        stderr.contains("MANIFEST_UNKNOWN") || stderr.contains("NAME_UNKNOWN"),
        "{stderr}"
    );
    assert!(cluster.items("deployments").is_empty());
    assert!(
        cluster.items("services").is_empty(),
        "nothing of the apply is stored"
    );

    // A tag without --insecure-registry is HTTPS: the plain-HTTP registry does not answer it.
    let strict = Cluster::up(&[]);
    let push = strict.cli(&[
        "push",
        components().hello.to_str().expect("path"),
        &reference,
    ]);
    assert!(!push.status.success());
    let out = strict.apply(
        "n.yaml",
        &app("nothing", &format!("oci://{reference}"), 1, ""),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot reach registry"), "{stderr}");
    assert!(strict.items("deployments").is_empty());
}

#[test]
fn a_pull_secret_authenticates_and_without_it_the_pod_is_err_image_pull() {
    let registry = Registry::with_user(User {
        name: "ci",
        password: "s3cret-pw",
    });
    let cluster = Cluster::up(&["--insecure-registry", &registry.host]);
    let c = components();
    let reference = format!("{}/team/hello:v1", registry.host);
    let refused = cluster.cli(&[
        "push",
        c.hello.to_str().expect("path"),
        &reference,
        "--insecure",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("refused the credentials"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let pushed = cluster.cli_with(
        &[
            "push",
            c.hello.to_str().expect("path"),
            &reference,
            "--insecure",
            "--username",
            "ci",
            "--password-stdin",
        ],
        &[],
        "s3cret-pw\n",
    );
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let digest = String::from_utf8_lossy(&pushed.stdout).trim().to_string();

    // Pinned by digest, nothing is asked of the registry at apply: the node's pull is refused.
    let pinned = format!("oci://{}/team/hello@{digest}", registry.host);
    cluster.apply_ok("locked.yaml", &app("locked", &pinned, 1, ""));
    let (_, message) = wait_pull_failure(&cluster, "locked");
    assert!(message.contains(&pinned), "{message}");
    assert!(message.contains("refused the credentials"), "{message}");
    let events = pull_events(&cluster);
    assert!(events.contains("ErrImagePull"), "{events}");
    wait_until("ImagePullBackOff", WAIT, || {
        let (reason, _) = wait_pull_failure(&cluster, "locked");
        (reason == "ImagePullBackOff").then_some(())
    });

    // By tag, with the pull secret (created in the same apply): resolved, pulled, serving.
    let auth = "Y2k6czNjcmV0LXB3"; // base64("ci:s3cret-pw")
    let secret = format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Secret
metadata: {{name: regcred}}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}'
---
"#,
        registry.host
    );
    let yaml = format!(
        "{secret}{}",
        app(
            "locked",
            &format!("oci://{reference}"),
            1,
            "      imagePullSecrets: [{name: regcred}]\n"
        )
    );
    cluster.apply_ok("with-secret.yaml", &yaml);
    assert_eq!(
        stored_component(&cluster, "locked"),
        format!("oci://{reference}@{digest}")
    );
    assert_eq!(
        cluster.wait_for_status("/locked", 200, WAIT),
        "Hello from wasmpod!\n"
    );
}

/// Uploads `bytes` as a blob of `repo` through the plain distribution API; returns its digest.
fn upload_blob(http: &reqwest::blocking::Client, host: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let start = http
        .post(format!("http://{host}/v2/{repo}/blobs/uploads/"))
        .send()
        .expect("start upload");
    assert_eq!(start.status().as_u16(), 202);
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let location = if location.starts_with('/') {
        format!("http://{host}{location}")
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = http
        .put(format!("{location}{sep}digest={digest}"))
        .body(bytes.to_vec())
        .send()
        .expect("finish upload");
    assert_eq!(put.status().as_u16(), 201, "{:?}", put.text());
    digest
}

#[test]
fn a_manifest_that_is_no_wasm_component_and_an_unreachable_registry_are_err_image_pull() {
    let registry = Registry::open();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .to_string();
    let cluster = Cluster::up(&[
        "--insecure-registry",
        &registry.host,
        "--insecure-registry",
        &closed,
    ]);
    // A container image's manifest: an OCI image config and a tar layer.
    let http = reqwest::blocking::Client::new();
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = b"not a tarball, not wasm";
    let config_digest = upload_blob(&http, &registry.host, "apps/image", config);
    let layer_digest = upload_blob(&http, &registry.host, "apps/image", layer);
    let manifest = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": layer.len()}]});
    let manifest = serde_json::to_vec(&manifest).expect("json");
    let put = http
        .put(format!(
            "http://{}/v2/apps/image/manifests/v1",
            registry.host
        ))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .expect("put manifest");
    assert_eq!(put.status().as_u16(), 201);

    // By tag: refused at apply, nothing stored.
    let tagged = format!("{}/apps/image:v1", registry.host);
    let out = cluster.apply(
        "image.yaml",
        &app("image", &format!("oci://{tagged}"), 1, ""),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("tar+gzip") && stderr.contains("exactly one is needed"),
        "{stderr}"
    );
    assert!(cluster.items("deployments").is_empty());

    // By digest: stored as written; the node refuses the manifest.
    let pinned = format!("oci://{}/apps/image@{}", registry.host, sha256(&manifest));
    cluster.apply_ok("image.yaml", &app("image", &pinned, 1, ""));
    let (_, message) = wait_pull_failure(&cluster, "image");
    assert!(message.contains(&pinned), "{message}");
    assert!(message.contains("exactly one is needed"), "{message}");

    // A registry nobody answers on.
    let gone = format!("oci://{closed}/apps/hello@{}", sha256(b"anything"));
    cluster.apply_ok("gone.yaml", &app("gone", &gone, 1, ""));
    let (_, message) = wait_pull_failure(&cluster, "gone");
    assert!(message.contains(&gone), "{message}");
    assert!(message.contains("cannot reach registry"), "{message}");
}
