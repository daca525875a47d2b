//! Ingress over TLS and HTTP/2: the gateway's TLS listener serves the certificate of the
//! Ingress's `spec.tls` Secret picked by SNI, speaks HTTP/2 (ALPN) and HTTP/1.1, passes a guest's
//! trailers to an HTTP/2 client, and serves a renewed certificate without a restart; the plain
//! port speaks HTTP/2 with prior knowledge (h2c).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use wasmpod_tests::{components, deployment_yaml, wait_until, Cluster};

const WAIT: Duration = Duration::from_secs(60);
const HOST: &str = "secure.example.test";

/// A self-signed certificate for `hosts`: (certificate PEM, private key PEM).
fn certificate(hosts: &[&str]) -> (String, String) {
    let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names).expect("a certificate");
    (made.cert.pem(), made.signing_key.serialize_pem())
}

fn tls_manifest(component: &Path, cert: &str, key: &str) -> String {
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        r#"{deployment}apiVersion: wasmpod.dev/v1
kind: Service
metadata: {{name: secure}}
spec: {{selector: {{app: secure}}}}
---
apiVersion: wasmpod.dev/v1
kind: Secret
metadata: {{name: secure-cert}}
type: kubernetes.io/tls
stringData:
  tls.crt: |
{cert}
  tls.key: |
{key}
---
apiVersion: wasmpod.dev/v1
kind: Ingress
metadata: {{name: secure}}
spec:
  tls: [{{hosts: [{HOST}], secretName: secure-cert}}]
  rules:
  - host: {HOST}
    http: {{paths: [{{path: /, backend: {{service: secure}}}}]}}
"#,
        deployment = deployment_yaml("secure", component, 1, "", ""),
        cert = indent(cert),
        key = indent(key),
    )
}

/// `curl` over TLS to `HOST` on the TLS listener, trusting `ca`; `extra` are more curl flags.
fn curl_tls(tls_port: u16, ca: &Path, path: &str, extra: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{HOST}:{tls_port}:127.0.0.1")])
        .args(extra)
        .arg(format!("https://{HOST}:{tls_port}{path}"))
        .output()
        .expect("curl runs")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

#[test]
fn ingress_serves_tls_and_http2_with_certificates_from_secrets() {
    let cluster = Cluster::up(&["--ingress-tls-addr", "127.0.0.1:0"]);
    let tls_url = cluster.wait_line("ingress TLS: ");
    let tls_port: u16 = tls_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {tls_url:?}"));
    let work = cluster.work.path();
    let (cert, key) = certificate(&[HOST]);
    let ca = write(work, "ca.pem", &cert);
    let misbehave = &components().misbehave;
    let out = cluster.apply("secure", &tls_manifest(misbehave, &cert, &key));
    assert!(out.status.success(), "{out:?}");

    // HTTP/2 over TLS (ALPN), with the certificate the Secret holds.
    let version = ["-o", "/dev/null", "-w", "%{http_code} %{http_version}"];
    let out = wait_until("the TLS listener serves the ingress", WAIT, || {
        let out = curl_tls(tls_port, &ca, "/ok", &[&["--http2"], &version[..]].concat());
        (text(&out) == "200 2").then_some(out)
    });
    assert!(out.status.success(), "{out:?}");
    // HTTP/1.1 over TLS.
    let out = curl_tls(
        tls_port,
        &ca,
        "/ok",
        &[&["--http1.1"], &version[..]].concat(),
    );
    assert_eq!(text(&out), "200 1.1", "{out:?}");
    // The guest's trailers reach the HTTP/2 client (curl writes them with the headers).
    let out = curl_tls(tls_port, &ca, "/trailers", &["--http2", "-D", "-"]);
    let reply = text(&out);
    assert!(reply.contains("body before trailers"), "{reply}");
    assert!(reply.contains("x-checksum: 42"), "{reply}");
    assert!(reply.contains("x-served-by: misbehave"), "{reply}");
    // A host no Ingress has a certificate for: the handshake fails.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-k", "--resolve"])
        .arg(format!("other.example.test:{tls_port}:127.0.0.1"))
        .arg(format!("https://other.example.test:{tls_port}/ok"))
        .output()
        .expect("curl runs");
    assert!(!out.status.success(), "{out:?}");

    // h2c: HTTP/2 with prior knowledge on the plain port.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge", "-H"])
        .arg(format!("host: {HOST}"))
        .args(version)
        .arg(format!("{}/ok", cluster.ingress))
        .output()
        .expect("curl runs");
    assert_eq!(text(&out), "200 2", "{out:?}");

    // A renewed certificate (new key) in the same Secret is served without a restart.
    let (renewed, renewed_key) = certificate(&[HOST]);
    let renewed_ca = write(work, "renewed-ca.pem", &renewed);
    let out = cluster.apply("secure", &tls_manifest(misbehave, &renewed, &renewed_key));
    assert!(out.status.success(), "{out:?}");
    wait_until("the renewed certificate is served", WAIT, || {
        let out = curl_tls(tls_port, &renewed_ca, "/ok", &version);
        (text(&out) == "200 1.1" || text(&out) == "200 2").then_some(())
    });
    let out = curl_tls(tls_port, &ca, "/ok", &version);
    assert!(
        !out.status.success(),
        "the old certificate is gone: {out:?}"
    );
}
