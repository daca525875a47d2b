//! ConfigMaps and Secrets reach pods as env vars, files and `wasi:config`; changes reach running
//! pods; secrets stay encrypted at rest and hidden from `get`.

use std::path::Path;
use std::time::Duration;
use wasmpod_tests::{components, wait_until, Cluster};

const WAIT: Duration = Duration::from_secs(40);
const SECRET: &str = "s3cret-value-7c1f2a";

fn manifest(greeting: &str) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: ConfigMap
metadata: {{name: app-config}}
data: {{GREETING: "{greeting}", color: blue}}
---
apiVersion: wasmpod.dev/v1
kind: Secret
metadata: {{name: app-secret}}
stringData: {{token: {SECRET}}}
---
apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: cfg}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: cfg}}}}
  template:
    metadata: {{labels: {{app: cfg}}}}
    spec:
      component: {component}
      env:
      - name: GREETING
        valueFrom: {{configMapKeyRef: {{name: app-config, key: GREETING}}}}
      envFrom: [{{secretRef: {{name: app-secret}}}}]
      configFrom: [{{configMapRef: {{name: app-config}}}}]
      volumes:
      - {{name: settings, configMap: {{name: app-config}}}}
      - {{name: creds, secret: {{secretName: app-secret}}}}
      - {{name: scratch, emptyDir: {{}}}}
      volumeMounts:
      - {{name: settings, mountPath: /etc/app}}
      - {{name: creds, mountPath: /etc/secret}}
      - {{name: scratch, mountPath: /tmp}}
---
apiVersion: wasmpod.dev/v1
kind: Service
metadata: {{name: cfg}}
spec: {{selector: {{app: cfg}}}}
---
apiVersion: wasmpod.dev/v1
kind: Ingress
metadata: {{name: cfg}}
spec:
  rules:
  - http: {{paths: [{{path: /, backend: {{service: cfg}}}}]}}
"#,
        component = components().misbehave.display()
    )
}

fn files_containing(dir: &Path, needle: &[u8], found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_containing(&path, needle, found);
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
}

#[test]
fn config_and_secrets_reach_pods_as_env_files_and_wasi_config() {
    let cluster = Cluster::up(&[]);
    let out = cluster.apply("cfg.yaml", &manifest("hello there"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        cluster.wait_for_status("/env/GREETING", 200, WAIT),
        "hello there"
    );
    assert_eq!(cluster.get("/env/token"), (200, SECRET.to_string()));
    assert_eq!(cluster.get("/config/color"), (200, "blue".to_string()));
    assert_eq!(
        cluster.get("/file?path=/etc/app/color"),
        (200, "blue".to_string())
    );
    assert_eq!(
        cluster.get("/file?path=/etc/secret/token"),
        (200, SECRET.to_string())
    );

    // A changed ConfigMap reaches the running pod.
    cluster.apply("cfg.yaml", &manifest("changed greeting"));
    wait_until("the new greeting", WAIT, || {
        (cluster.get("/env/GREETING").1 == "changed greeting").then_some(())
    });
    assert_eq!(
        cluster.get("/file?path=/etc/app/GREETING").1,
        "changed greeting"
    );

    // The secret is nowhere on disk in plain text (nor base64), and `get` hides it.
    let mut found = Vec::new();
    files_containing(&cluster.data_dir, SECRET.as_bytes(), &mut found);
    files_containing(&cluster.data_dir, b"czNjcmV0LXZhbHVlLTdjMWYyYQ", &mut found);
    assert!(found.is_empty(), "secret in plain text in {found:?}");
    let table = cluster.cli_ok(&["get", "secrets"]);
    assert!(
        table.contains("token (19 bytes)") && !table.contains(SECRET),
        "{table}"
    );
    let yaml = cluster.cli_ok(&["get", "secret", "app-secret", "-o", "yaml"]);
    assert!(
        yaml.contains("hidden") && !yaml.contains("czNjcmV0"),
        "{yaml}"
    );
    let shown = cluster.cli_ok(&[
        "get",
        "secret",
        "app-secret",
        "-o",
        "yaml",
        "--show-secrets",
    ]);
    assert!(shown.contains("czNjcmV0LXZhbHVlLTdjMWYyYQ=="), "{shown}");
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(!events.contains(SECRET), "{events}");
}

#[test]
fn missing_reference_keeps_the_pod_pending_until_it_exists() {
    let cluster = Cluster::up(&[]);
    let yaml = manifest("x");
    let without_config: String = yaml
        .split("---\n")
        .skip(1)
        .collect::<Vec<_>>()
        .join("---\n");
    cluster.apply("cfg.yaml", &without_config);
    let message = wait_until("CreateContainerConfigError", WAIT, || {
        cluster.items("pods").iter().find_map(|p| {
            (p["status"]["reason"] == "CreateContainerConfigError").then(|| {
                p["status"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        })
    });
    assert!(
        message.contains("configmap \"app-config\" not found"),
        "{message}"
    );
    cluster.cli_ok(&[
        "create",
        "configmap",
        "app-config",
        "--from-literal",
        "GREETING=late",
        "--from-literal",
        "color=red",
    ]);
    assert_eq!(cluster.wait_for_status("/env/GREETING", 200, WAIT), "late");
}

#[test]
fn create_secret_from_literals_and_files() {
    let cluster = Cluster::up(&[]);
    let file = cluster.work.path().join("cert.pem");
    std::fs::write(&file, "-----BEGIN-----").expect("write");
    let out = cluster.cli_ok(&[
        "create",
        "secret",
        "generic",
        "tls",
        "--from-literal",
        "user=admin",
        "--from-file",
        file.to_str().unwrap_or_default(),
    ]);
    assert!(out.contains("secret/tls created"), "{out}");
    let table = cluster.cli_ok(&["get", "secrets"]);
    assert!(
        table.contains("cert.pem (15 bytes)") && table.contains("user (5 bytes)"),
        "{table}"
    );
}

#[test]
fn mount_path_outside_the_guest_root_is_refused() {
    let cluster = Cluster::up(&[]);
    let out = cluster.apply(
        "bad.yaml",
        &manifest("x").replace("mountPath: /etc/app", "mountPath: /../etc"),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("volumeMounts[0].mountPath") && stderr.contains("guest's root"),
        "{stderr}"
    );
    assert!(cluster.items("deployments").is_empty() && cluster.items("configmaps").is_empty());
}
