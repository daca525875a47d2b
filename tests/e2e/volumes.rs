//! Config and volumes as the README promises them: `envFrom` a ConfigMap, `configFrom` a Secret,
//! a changed Secret reaching a serving pod, a missing Secret or key holding a pod in
//! `CreateContainerConfigError` until it appears, `emptyDir` living and dying with its pod, a
//! claim's data kept on the node after the claim is deleted, and a relative `mountPath` refused.

use std::path::PathBuf;
use std::time::Duration;
use wasmpod_api::{PersistentVolumeClaim, Pod};
use wasmpod_tests::{
    components, deployment_doc, find_paths, http_call, wait_until, Cluster, ClusterApi,
    PodSpecExtra,
};

const WAIT: Duration = Duration::from_secs(40);

fn secret(token: &str, extra: &str) -> String {
    format!(
        "apiVersion: wasmpod.dev/v1\nkind: Secret\nmetadata: {{name: creds}}\n\
         stringData: {{token: {token}, api: k1{extra}}}\n---\n"
    )
}

fn deployment(name: &str, spec: &str) -> String {
    deployment_doc(
        name,
        &components().misbehave,
        1,
        "",
        PodSpecExtra::Lines(spec),
    )
}

fn app_spec(mount_path: &str) -> String {
    format!(
        r#"      env: [{{name: TOKEN, valueFrom: {{secretKeyRef: {{name: creds, key: token}}}}}}]
      envFrom: [{{configMapRef: {{name: settings}}}}]
      configFrom: [{{secretRef: {{name: creds}}}}]
      volumes:
      - {{name: scratch, emptyDir: {{}}}}
      - {{name: data, persistentVolumeClaim: {{claimName: keep}}}}
      volumeMounts:
      - {{name: scratch, mountPath: {mount_path}}}
      - {{name: data, mountPath: /data}}"#
    )
}

const OBJECTS: &str = r#"apiVersion: wasmpod.dev/v1
kind: ConfigMap
metadata: {name: settings}
data: {GREETING: hi, color: blue}
---
apiVersion: wasmpod.dev/v1
kind: PersistentVolumeClaim
metadata: {name: keep}
spec: {resources: {requests: {storage: 1Mi}}}
---
apiVersion: wasmpod.dev/v1
kind: Service
metadata: {name: app}
spec: {selector: {app: app}}
---
apiVersion: wasmpod.dev/v1
kind: Ingress
metadata: {name: app}
spec:
  rules:
  - http: {paths: [{path: /, backend: {service: app}}]}
"#;

/// The reason and message of the one pod of `app`, once it has a reason.
fn waiting_reason(cluster: &Cluster, app: &str) -> (String, String) {
    wait_until(&format!("a reason on {app}"), WAIT, || {
        let pod = cluster.pods_of_app(app).pop()?;
        Some((pod.status.reason?, pod.status.message?))
    })
}

fn ready(cluster: &Cluster, app: &str) -> Option<Pod> {
    cluster
        .pods_of_app(app)
        .into_iter()
        .find(|p| p.status.ready)
}

#[test]
fn config_secrets_and_volumes_behave_as_documented() {
    let cluster = Cluster::up(&[]);

    // A relative mount path is refused at apply, naming the field; nothing is stored.
    let refused = cluster.apply(
        "relative.yaml",
        &format!(
            "{}{}",
            secret("t1", ""),
            deployment("app", &app_spec("scratch"))
        ),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("volumeMounts[0].mountPath") && stderr.contains("absolute"),
        "{stderr}"
    );
    assert!(cluster.items("deployments").is_empty() && cluster.items("secrets").is_empty());

    let yaml = format!(
        "{}{}{}{}{OBJECTS}",
        secret("t1", ""),
        deployment("app", &app_spec("/scratch")),
        deployment(
            "late-secret",
            "      env: [{name: X, valueFrom: {secretKeyRef: {name: later, key: k}}}]"
        ),
        deployment(
            "late-key",
            "      env: [{name: X, valueFrom: {secretKeyRef: {name: creds, key: missing}}}]"
        ),
    );
    let out = cluster.apply("app.yaml", &yaml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // envFrom a ConfigMap: every key an env var; configFrom a Secret: every key in wasi:config.
    assert_eq!(cluster.wait_for_status("/env/GREETING", 200, WAIT), "hi");
    assert_eq!(cluster.get("/env/color"), (200, "blue".into()));
    assert_eq!(cluster.get("/env/TOKEN"), (200, "t1".into()));
    assert_eq!(cluster.get("/config/token"), (200, "t1".into()));
    assert_eq!(cluster.get("/config/api"), (200, "k1".into()));
    assert_eq!(
        cluster.get("/config/GREETING").0,
        404,
        "only the Secret's keys"
    );

    // A missing Secret, and a missing key of an existing one: Pending with the reason.
    let (reason, message) = waiting_reason(&cluster, "late-secret");
    assert_eq!(reason, "CreateContainerConfigError", "{message}");
    assert!(message.contains(r#"secret "later" not found"#), "{message}");
    let (reason, message) = waiting_reason(&cluster, "late-key");
    assert_eq!(reason, "CreateContainerConfigError", "{message}");
    assert!(
        message.contains(r#"secret "creds" has no key "missing""#),
        "{message}"
    );

    // emptyDir: written and read back within the pod's life.
    let ingress = cluster.ingress.clone();
    let put = |path: &str, body: &str| {
        http_call(
            "PUT",
            &format!("{ingress}/file?path={path}"),
            &[],
            Some(body),
        )
    };
    let pod = ready(&cluster, "app").expect("app ready");
    assert_eq!(put("/scratch/note", "scribble").status, 200);
    assert_eq!(
        cluster.get("/file?path=/scratch/note"),
        (200, "scribble".into())
    );
    assert_eq!(put("/data/kept", "for later").status, 200);
    let uid = pod.metadata.uid.clone().expect("uid");
    let pod_dirs: Vec<PathBuf> = find_paths(&cluster.data_dir, &uid)
        .into_iter()
        .filter(|p| p.join("empty-scratch/note").is_file())
        .collect();
    assert_eq!(pod_dirs.len(), 1, "the emptyDir on the node");

    // The Secret changes (and gains the missing key): the serving pod serves the new value, the
    // waiting pods start.
    cluster.cli_ok(&[
        "create",
        "secret",
        "generic",
        "later",
        "--from-literal",
        "k=v",
    ]);
    let out = cluster.apply("creds.yaml", &secret("t2", ", missing: here"));
    assert!(out.status.success());
    wait_until("the new token served", WAIT, || {
        (cluster.get("/env/TOKEN").1 == "t2" && cluster.get("/config/token").1 == "t2")
            .then_some(())
    });
    let events = cluster.cli_ok(&["describe", "pod", pod.metadata.name.as_str()]);
    assert!(events.contains("ConfigChanged"), "{events}");
    wait_until("the pods that waited for their secret", WAIT, || {
        (ready(&cluster, "late-secret").is_some() && ready(&cluster, "late-key").is_some())
            .then_some(())
    });

    // The pod goes: its emptyDir goes with it; the replacement starts empty.
    cluster.cli_ok(&["delete", "pod", pod.metadata.name.as_str()]);
    wait_until("the replacement ready", WAIT, || {
        ready(&cluster, "app").filter(|p| p.metadata.name != pod.metadata.name)
    });
    wait_until("the old emptyDir removed", WAIT, || {
        pod_dirs.iter().all(|d| !d.exists()).then_some(())
    });
    assert_eq!(
        wait_until("the replacement routed", WAIT, || {
            let r = cluster.get("/file?path=/scratch/note");
            (r.0 != 503).then_some(r.0)
        }),
        404,
        "a new pod gets a new emptyDir"
    );
    assert_eq!(
        cluster.get("/file?path=/data/kept"),
        (200, "for later".into())
    );

    // The claim is deleted once unused; its data stays on the node (reclaim policy Retain).
    let claim_uid = cluster.objects::<PersistentVolumeClaim>()[0]
        .metadata
        .uid
        .clone()
        .expect("claim uid");
    cluster.cli_ok(&["delete", "deployment", "app"]);
    cluster.cli_ok(&["delete", "persistentvolumeclaim", "keep"]);
    wait_until("the claim gone", WAIT, || {
        cluster
            .items("persistentvolumeclaims")
            .is_empty()
            .then_some(())
    });
    let kept = find_paths(&cluster.data_dir, &format!("keep-{claim_uid}"));
    assert_eq!(kept.len(), 1, "the claim's directory on the node: {kept:?}");
    assert_eq!(
        std::fs::read_to_string(kept[0].join("kept")).expect("kept data"),
        "for later"
    );
}
