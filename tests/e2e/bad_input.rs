//! Each bad input gets a clear error naming what is wrong and where, a non-zero exit, and
//! leaves the stored state untouched.

use wasmpod_tests::{components, deployment_yaml, http_app, Cluster};

fn refused(cluster: &Cluster, name: &str, yaml: &str, needles: &[&str]) {
    let out = cluster.apply(name, yaml);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{name} was accepted");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{name}: expected {needle:?} in:\n{stderr}"
        );
    }
}

#[test]
fn bad_manifests_are_refused_and_nothing_is_stored() {
    let cluster = Cluster::up(&[]);
    let c = components();
    let good = http_app("hello", &c.hello, 1, "/hello");
    let dir = cluster.work.path();

    refused(
        &cluster,
        "yaml.yaml",
        "kind: [unclosed",
        &["yaml.yaml: document 1", "not valid YAML"],
    );
    refused(
        &cluster,
        "field.yaml",
        &good.replace("replicas: 1", "replicas: 1\n  replica: 2"),
        &["document 1 (Deployment hello)", "unknown field `replica`"],
    );
    refused(
        &cluster,
        "kind.yaml",
        &good.replace("kind: Service", "kind: Servise"),
        &["document 2", "Servise"],
    );
    refused(
        &cluster,
        "selector.yaml",
        &good.replace("spec: {selector: {app: hello}}", "spec: {selector: {}}"),
        &["document 2 (Service hello)", "spec.selector"],
    );
    refused(
        &cluster,
        "dup.yaml",
        &format!(
            "{good}---\n{}",
            http_app("hello", &c.hello, 1, "/x")
                .split("---")
                .next()
                .unwrap_or_default()
        ),
        &["document 4", "twice"],
    );
    refused(
        &cluster,
        "missing.yaml",
        &good.replace(&c.hello.display().to_string(), "./nope.wasm"),
        &["spec.template.spec.component", "nope.wasm"],
    );

    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"this is not wasm").expect("write");
    refused(
        &cluster,
        "garbage.yaml",
        &good.replace(
            &c.hello.display().to_string(),
            &garbage.display().to_string(),
        ),
        &["spec.template.spec.component", "not a WebAssembly"],
    );

    let core = dir.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    refused(
        &cluster,
        "core.yaml",
        &good.replace(&c.hello.display().to_string(), &core.display().to_string()),
        &["spec.template.spec.component", "core WebAssembly module"],
    );

    let empty_component = dir.join("empty.wasm");
    std::fs::write(&empty_component, b"\0asm\x0d\0\x01\0").expect("write");
    refused(
        &cluster,
        "world.yaml",
        &good.replace(
            &c.hello.display().to_string(),
            &empty_component.display().to_string(),
        ),
        &["spec.template.spec.component", "wasi:http/incoming-handler"],
    );

    // An origin the runtime could not parse is refused at apply, naming the field (it used to
    // be accepted and leave the pod looping on ComponentError).
    refused(
        &cluster,
        "origin.yaml",
        &deployment_yaml(
            "egress",
            &c.hello,
            1,
            "",
            r#", allowedOutboundHosts: ["https://api.example.com", "api.example.com/v1"]"#,
        ),
        &[
            "spec.template.spec.allowedOutboundHosts[1]",
            "api.example.com/v1",
        ],
    );
    // A StatefulSet keeps its replicas running, as a Deployment does: Always only.
    refused(
        &cluster,
        "never.yaml",
        &format!(
            "apiVersion: wasmpod.dev/v1\nkind: StatefulSet\nmetadata: {{name: db}}\n\
             spec:\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    \
             metadata: {{labels: {{app: db}}}}\n    \
             spec: {{component: {}, restartPolicy: Never}}\n",
            c.crasher.display()
        ),
        &[
            "document 1 (StatefulSet db)",
            "spec.template.spec.restartPolicy",
            "Never",
        ],
    );

    for kind in [
        "deployments",
        "services",
        "ingresses",
        "pods",
        "statefulsets",
    ] {
        assert!(
            cluster.items(kind).is_empty(),
            "{kind} were stored by a refused apply"
        );
    }
}

#[test]
fn api_refuses_malformed_bodies_with_json_errors() {
    let cluster = Cluster::up(&[]);
    let client = reqwest::blocking::Client::new();
    let response = client
        .post(format!("{}/api/v1/apply", cluster.api))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .expect("API answers");
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().expect("JSON error body");
    assert_eq!(body["error"]["reason"], "BadRequest");

    let unknown = client
        .post(format!("{}/api/v1/apply", cluster.api))
        .json(
            &serde_json::json!({"objects": [{"apiVersion": "wasmpod.dev/v1", "kind": "Service",
            "metadata": {"name": "s"}, "spec": {"selector": {"a": "b"}, "bogus": 1}}]}),
        )
        .send()
        .expect("API answers");
    assert_eq!(unknown.status().as_u16(), 422);
    let body: serde_json::Value = unknown.json().expect("JSON error body");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("bogus"),
        "{body}"
    );
    assert!(cluster.items("services").is_empty());

    let upload = client
        .post(format!("{}/api/v1/blobs", cluster.api))
        .body("garbage")
        .send()
        .expect("API answers");
    assert_eq!(upload.status().as_u16(), 422);
}
