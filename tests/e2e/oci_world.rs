//! A component pulled from a registry is checked at apply as an upload is: a reference, by tag
//! or pinned by digest, whose Wasm layer is no component wasmpod can run (no
//! `wasi:http/incoming-handler`, no `wasi:cli/run`) fails the apply with a 422 naming the field
//! and what the component exports, nothing stored (a stored object keeps its component), instead
//! of a `WrongWorld` pod later; the verdict is kept by layer digest, so a second apply of the same
//! component does not pull it again, whichever way it is named. A layer that does not match its
//! digest is refused at apply when the tag is resolved, and by the node when the reference is
//! pinned (a pinned reference needs nothing of the registry to be stored). A caller that may not
//! apply the object gets its 403 before the registry is asked anything.

use super::oci::{app, push, sha256, wait_pull_failure};
use wasmpod_tests::registry::Registry;
use wasmpod_tests::{Cluster, ClusterApi};

/// A component that exports a function `greet`, and no interface a pod runs.
const EXPORTS_GREET: &str = r#"(component
  (core module $m (func (export "greet")))
  (core instance $i (instantiate $m))
  (func $greet (canon lift (core func $i "greet")))
  (export "greet" (func $greet)))"#;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_tag_of_a_component_of_no_runnable_world_is_refused_at_apply_naming_what_it_exports() {
    let registry = Registry::open();
    let cluster = Cluster::up(&["--insecure-registry", &registry.host]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("greet.wasm");
    let bytes = wat::parse_str(EXPORTS_GREET).expect("the component's text");
    std::fs::write(&path, &bytes).expect("write the component");
    let reference = format!("{}/apps/greet:v1", registry.host);
    let digest = push(&cluster, &path, &reference);
    let layer = sha256(&bytes);
    let blob_path = format!("/v2/apps/greet/blobs/{layer}");

    let yaml = app("greet", &format!("oci://{reference}"), 1, "");
    for attempt in 1..=2 {
        let out = cluster.apply("greet.yaml", &yaml);
        let stderr = stderr(&out);
        assert!(!out.status.success(), "attempt {attempt} was accepted");
        assert_eq!(
            stderr,
            format!(
                "applying 3 object(s)... refused\n\
                 error: objects[0] (Deployment \"greet\"): spec.template.spec.component: \
                 oci://{reference} ({layer}) cannot run as a pod: component exports neither \
                 wasi:http/incoming-handler@0.2.x nor wasi:cli/run@0.2.x; it exports: greet \
                 (HTTP 422)\n"
            ),
            "attempt {attempt}"
        );
        assert!(cluster.items("deployments").is_empty(), "nothing stored");
        assert!(cluster.items("services").is_empty(), "nothing stored");
        assert_eq!(
            registry.requests("GET", &blob_path),
            1,
            "the layer is pulled once, its verdict kept (attempt {attempt}):\n{}",
            registry.log()
        );
    }

    // Pinned by digest: refused the same way, from the verdict kept (the layer is not pulled
    // again), before any pod says WrongWorld.
    let pinned = format!("{}/apps/greet@{digest}", registry.host);
    let out = cluster.apply(
        "pinned.yaml",
        &app("greet", &format!("oci://{pinned}"), 1, ""),
    );
    assert!(!out.status.success(), "the pinned reference was accepted");
    assert_eq!(
        stderr(&out),
        format!(
            "applying 3 object(s)... refused\n\
             error: objects[0] (Deployment \"greet\"): spec.template.spec.component: \
             oci://{pinned} ({layer}) cannot run as a pod: component exports neither \
             wasi:http/incoming-handler@0.2.x nor wasi:cli/run@0.2.x; it exports: greet \
             (HTTP 422)\n"
        )
    );
    assert!(cluster.items("deployments").is_empty(), "nothing stored");
    assert!(cluster.items("pods").is_empty(), "no pod");
    assert_eq!(
        registry.requests("GET", &blob_path),
        1,
        "the verdict is kept by layer digest:\n{}",
        registry.log()
    );
}

#[test]
fn a_digest_pinned_reference_of_no_runnable_world_is_refused_at_apply_and_the_stored_one_kept() {
    let registry = Registry::open();
    let cluster = Cluster::up(&["--insecure-registry", &registry.host]);
    let c = wasmpod_tests::components();
    let good = push(
        &cluster,
        &c.hello,
        &format!("{}/apps/web:v1", registry.host),
    );
    let good = format!("oci://{}/apps/web@{good}", registry.host);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("greet.wasm");
    let bytes = wat::parse_str(EXPORTS_GREET).expect("the component's text");
    std::fs::write(&path, &bytes).expect("write the component");
    let bad = push(&cluster, &path, &format!("{}/apps/greet:v1", registry.host));
    let bad = format!("{}/apps/greet@{bad}", registry.host);
    let layer = sha256(&bytes);

    // A good pinned reference applies, stored as written, and serves.
    cluster.apply_ok("web.yaml", &app("web", &good, 1, ""));
    assert_eq!(
        cluster.wait_for_status("/web", 200, super::oci::WAIT),
        "Hello from wasmpod!\n"
    );
    let stored = the_deployment(&cluster, "web")["spec"].clone();
    assert_eq!(stored["template"]["spec"]["component"], good.as_str());

    // The same deployment moved to a component of no runnable world: 422, and the stored
    // deployment is untouched (same component, same resourceVersion), still serving.
    for attempt in 1..=2 {
        let out = cluster.apply("web.yaml", &app("web", &format!("oci://{bad}"), 1, ""));
        assert!(!out.status.success(), "attempt {attempt} was accepted");
        let stderr = stderr(&out);
        assert!(
            stderr.contains(&format!(
                "error: objects[0] (Deployment \"web\"): spec.template.spec.component: \
                 oci://{bad} ({layer}) cannot run as a pod: component exports neither \
                 wasi:http/incoming-handler@0.2.x nor wasi:cli/run@0.2.x; it exports: greet \
                 (HTTP 422)\n"
            )),
            "attempt {attempt}: {stderr}"
        );
        assert_eq!(
            the_deployment(&cluster, "web")["spec"],
            stored,
            "attempt {attempt}"
        );
        assert_eq!(
            registry.requests("GET", &format!("/v2/apps/greet/blobs/{layer}")),
            1,
            "the layer is pulled once, its verdict kept (attempt {attempt}):\n{}",
            registry.log()
        );
    }
    assert_eq!(cluster.get("/web").0, 200);

    // A pinned reference the stored object already has is not checked again: a scale asks the
    // registry nothing.
    let manifest_path = format!(
        "/v2/apps/web/manifests/{}",
        good.rsplit_once('@').expect("pinned").1
    );
    let asked = registry.requests("GET", &manifest_path);
    cluster.cli_ok(&["scale", "deployment", "web", "--replicas", "2"]);
    assert_eq!(
        the_deployment(&cluster, "web")["spec"]["replicas"],
        2,
        "scaled"
    );
    assert_eq!(
        registry.requests("GET", &manifest_path),
        asked,
        "{}",
        registry.log()
    );
}

/// The stored Deployment `name`.
fn the_deployment(cluster: &Cluster, name: &str) -> serde_json::Value {
    cluster
        .items("deployments")
        .into_iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("deployment {name} is stored"))
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_refused_at_apply_and_by_the_node_when_pinned() {
    let registry = Registry::open();
    let cluster = Cluster::up(&["--insecure-registry", &registry.host]);
    let c = wasmpod_tests::components();
    let reference = format!("{}/apps/bad:v1", registry.host);
    let digest = push(&cluster, &c.hello, &reference);
    let layer = sha256(&std::fs::read(&c.hello).expect("hello.wasm"));
    // Same length, other bytes: the registry serves them under the layer's digest.
    let path = registry.blob_path(&layer);
    let mut bytes = std::fs::read(&path).expect("stored blob");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).expect("corrupt the blob");

    // By tag: the API server pulls the layer to check it, and refuses it.
    let out = cluster.apply(
        "bad.yaml",
        &app("bad", &format!("oci://{reference}"), 1, ""),
    );
    let stderr = stderr(&out);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("spec.template.spec.component")
            && stderr.contains(&reference)
            && stderr.contains(&format!("does not match digest {layer}"))
            && stderr.trim_end().ends_with("(HTTP 422)"),
        "{stderr}"
    );
    assert!(cluster.items("deployments").is_empty());

    // Pinned by digest: not pulled at apply; the node's pull checks the digest.
    let pinned = format!("{}/apps/bad@{digest}", registry.host);
    cluster.apply_ok("bad.yaml", &app("bad", &format!("oci://{pinned}"), 1, ""));
    let (_, message) = wait_pull_failure(&cluster, "bad");
    assert!(message.contains(&pinned), "{message}");
    assert!(
        message.contains(&format!("does not match digest {layer}")),
        "{message}"
    );
    assert_ne!(cluster.get("/bad").0, 200);
}

#[test]
fn a_token_that_may_not_apply_the_object_makes_the_server_ask_the_registry_nothing() {
    let registry = Registry::open();
    let cluster = wasmpod_tests::MultiNode::start_with(&["--insecure-registry", &registry.host]);
    // May apply in namespace dev only (the API's route lets it apply; the object is refused).
    cluster.cli_ok(&["create", "namespace", "dev"]);
    let token = cluster
        .cli_ok(&[
            "create",
            "token",
            "ci",
            "--role",
            "edit",
            "--namespace",
            "dev",
        ])
        .trim()
        .to_string();
    let path = cluster.work.path().join("greet.yaml");
    let reference = format!("{}/apps/greet:v1", registry.host);
    std::fs::write(&path, app("greet", &format!("oci://{reference}"), 1, "")).expect("write");
    let out = cluster.cli(&[
        "--token",
        &token,
        "apply",
        "-f",
        path.to_str().expect("utf-8"),
    ]);
    let stderr = stderr(&out);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("(HTTP 403)"), "{stderr}");
    assert_eq!(
        registry.requests("GET", "/v2/apps/greet/manifests/v1"),
        0,
        "refused before the tag is resolved:\n{}",
        registry.log()
    );

    // Pinned by digest, the same: the 403 comes before the manifest is asked for.
    let digest = sha256(b"a component");
    let pinned = format!("oci://{}/apps/greet@{digest}", registry.host);
    std::fs::write(&path, app("greet", &pinned, 1, "")).expect("write");
    let out = cluster.cli(&[
        "--token",
        &token,
        "apply",
        "-f",
        path.to_str().expect("utf-8"),
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("(HTTP 403)"), "{said}");
    assert_eq!(
        registry.requests("GET", &format!("/v2/apps/greet/manifests/{digest}")),
        0,
        "refused before the manifest is read:\n{}",
        registry.log()
    );
}
