//! Exporting spans as an OpenTelemetry user sets it up: to an `https://` collector whose
//! certificate a private CA signed (`--otlp-ca-file`), with the headers the collector requires
//! (`--otlp-header`, `OTEL_EXPORTER_OTLP_HEADERS`), the collector named by the OTel SDK's
//! variables too (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`); the span of each run of a
//! command pod, with its exit status; the system's roots by default; and a bad setting stopping
//! the process at start, naming the flag or variable.

use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmpod_tests::otlp::{OtlpReceiver, ReceivedSpan};
use wasmpod_tests::{components, deployment_yaml, wait_until, wasmpod_bin, MultiNode, Process};

const WAIT: Duration = Duration::from_secs(60);
const API_KEY: &str = "s3cret-key";

/// A CA of this test's own and a certificate it signed for 127.0.0.1: (CA PEM, certificate PEM,
/// key PEM).
fn private_ca_and_certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.clone().self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params
        .signed_by(&key, &Issuer::new(ca_params, &ca_key))
        .expect("a certificate of the CA");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}

/// The `run` spans of command pods whose name starts with `pod`.
fn runs_of(otlp: &OtlpReceiver, pod: &str) -> Vec<ReceivedSpan> {
    otlp.spans()
        .into_iter()
        .filter(|s| s.name == "run" && s.attribute("wasmpod.pod").starts_with(pod))
        .collect()
}

#[test]
fn spans_reach_an_https_collector_of_a_private_ca_with_the_headers_it_requires() {
    let (ca, cert, key) = private_ca_and_certificate();
    let otlp = OtlpReceiver::start_tls(
        &cert,
        &key,
        &[("x-api-key", API_KEY), ("x-tenant", "team a")],
    );
    assert!(otlp.url.starts_with("https://"));
    let files = tempfile::tempdir().expect("tempdir");
    let ca_file = write(files.path(), "collector-ca.pem", &ca);
    let ca_file = ca_file.to_str().expect("utf-8 path");
    let api_key = format!("x-api-key={API_KEY}");

    // The server: everything by flags.
    let mut cluster = MultiNode::start_with(&[
        "--otlp-endpoint",
        &otlp.url,
        "--otlp-ca-file",
        ca_file,
        "--otlp-header",
        &api_key,
        "--otlp-header",
        "x-tenant=team a",
    ]);
    // The node: the collector and a service name by the OTel SDK's variables (the generic
    // endpoint gets /v1/traces, the only path the receiver serves), the tenant header by the
    // variable (percent-encoded), and the API key by the flag, which wins over the variable's.
    let mut worker = cluster.worker_command(
        "node-e",
        &cluster.join_token.clone(),
        &["--otlp-ca-file", ca_file, "--otlp-header", &api_key],
    );
    worker
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp.url)
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=wrong, x-tenant=team%20a",
        )
        .env("OTEL_SERVICE_NAME", "edge-nodes");
    let worker = Process::spawn_command(worker);
    let gateway = worker.wait_line("gateway: ");
    cluster.workers.push(("node-e".into(), worker, gateway));

    // A command pod that exits with code 3 20 ms after each start, and one that traps.
    let crasher = &components().crasher;
    let exits = r#"env: [{name: CRASH_MODE, value: exit}, {name: CRASH_AFTER_MS, value: "20"}]"#;
    let traps = r#"env: [{name: CRASH_MODE, value: trap}, {name: CRASH_AFTER_MS, value: "20"}]"#;
    let manifest = [
        deployment_yaml("exits", crasher, 1, "", &format!(", {exits}")),
        deployment_yaml("traps", crasher, 1, "", &format!(", {traps}")),
    ]
    .concat();
    cluster.apply("crashers.yaml", &manifest);

    // One span per run: the first run, then the run after its first restart.
    let runs = wait_until("two runs of the exiting pod", WAIT, || {
        let runs = runs_of(&otlp, "exits-");
        let restarts: Vec<&str> = runs
            .iter()
            .map(|s| s.attribute("wasmpod.restart_count"))
            .collect();
        (restarts.contains(&"0") && restarts.contains(&"1")).then_some(runs)
    });
    for run in &runs {
        assert_eq!(run.attribute("wasmpod.namespace"), "default", "{run:?}");
        assert_eq!(run.attribute("process.exit.code"), "3", "{run:?}");
        assert_eq!(run.attribute("wasmpod.reason"), "Error", "{run:?}");
        assert_eq!(run.status, "ERROR", "{run:?}");
        assert_eq!(
            run.parent_span_id, "",
            "a run is a trace of its own: {run:?}"
        );
        assert_eq!(run.service, "edge-nodes", "{run:?}");
        assert_eq!(run.instance, "node-e", "{run:?}");
    }
    let trapped = wait_until("a run of the trapping pod", WAIT, || {
        runs_of(&otlp, "traps-").into_iter().next()
    });
    assert_eq!(
        trapped.attribute("wasmpod.reason"),
        "StartTrap",
        "{trapped:?}"
    );
    assert_eq!(trapped.attribute("process.exit.code"), "", "{trapped:?}");
    assert!(
        trapped.attribute("error.message").contains("unreachable"),
        "{trapped:?}"
    );
    assert_eq!(trapped.status, "ERROR", "{trapped:?}");

    // The server's spans came the same way, under its own service name.
    let apply = wait_until("the server's span of the apply", WAIT, || {
        otlp.spans().into_iter().find(|s| {
            s.service == "wasmpod-server"
                && s.name == "api"
                && s.attribute("http.route") == "/api/v1/apply"
        })
    });
    assert_eq!(apply.attribute("http.response.status_code"), "200");
    // No export lacked a header, and every handshake passed.
    assert_eq!(otlp.refused(), Vec::<String>::new());
    assert_eq!(otlp.handshakes_failed(), Vec::<String>::new());
}

#[test]
fn an_https_collector_is_verified_against_the_system_roots_by_default() {
    // The collector's certificate comes from a CA that no system trusts: without
    // --otlp-ca-file, the exporter refuses it at the handshake and sends no span.
    let (_ca, cert, key) = private_ca_and_certificate();
    let otlp = OtlpReceiver::start_tls(&cert, &key, &[]);
    let cluster = MultiNode::start_with(&["--otlp-endpoint", &otlp.url]);
    let failed = wait_until(
        "the exporter refusing the collector's certificate",
        WAIT,
        || {
            // Each API request makes a span, and each export tries again.
            cluster.cli_ok(&["get", "nodes"]);
            let failed = otlp.handshakes_failed();
            (!failed.is_empty()).then_some(failed)
        },
    );
    assert!(
        failed
            .iter()
            .any(|e| e.contains("UnknownCA") || e.contains("BadCertificate")),
        "{failed:?}"
    );
    assert!(otlp.spans().is_empty());
    // The server says why its spans do not arrive.
    let said = wait_until("the server logging the failed export", WAIT, || {
        let log = cluster.server.stderr_tail();
        log.contains("exporting spans failed").then_some(log)
    });
    assert!(
        said.contains(&otlp.url) && said.contains("UnknownIssuer"),
        "{said}"
    );
}

/// Starts `wasmpod server` with `args` and `env`, expecting it to exit at once: its exit status
/// and its stderr.
fn refused_start(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let data = tempfile::tempdir().expect("tempdir");
    let mut command = std::process::Command::new(wasmpod_bin());
    command
        .args([
            "server",
            "--insecure-http",
            "--api-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.path().join("server"))
        .args(args)
        .envs(env.iter().copied())
        .env("WASMPOD_CONFIG", data.path().join("config"));
    let mut process = Process::spawn_command(command);
    let status = process
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("wasmpod server {args:?} {env:?} kept running"));
    (status, process.stderr_tail())
}

#[test]
fn a_bad_export_setting_stops_the_process_at_start_naming_it() {
    let files = tempfile::tempdir().expect("tempdir");
    let missing = files.path().join("no-such-ca.pem");
    let missing = missing.to_str().expect("utf-8 path");
    let garbage = write(files.path(), "garbage.pem", "not a certificate\n");
    let garbage = garbage.to_str().expect("utf-8 path");
    let https = "https://127.0.0.1:9";
    let cases = [
        BadStart {
            args: vec!["--otlp-endpoint", https, "--otlp-ca-file", missing],
            env: vec![],
            says: format!("--otlp-ca-file {missing}: cannot read the CA file"),
        },
        BadStart {
            args: vec!["--otlp-endpoint", https, "--otlp-ca-file", garbage],
            env: vec![],
            says: format!("--otlp-ca-file {garbage}: no PEM CERTIFICATE block"),
        },
        BadStart {
            args: vec!["--otlp-endpoint", https, "--otlp-header", "x-api-key"],
            env: vec![],
            says: "--otlp-header: expected KEY=VALUE".to_string(),
        },
        BadStart {
            args: vec!["--otlp-endpoint", https],
            env: vec![("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=a,x-api-key:s3cret")],
            says: "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value".to_string(),
        },
        BadStart {
            args: vec![],
            env: vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector")],
            says: "OTEL_EXPORTER_OTLP_ENDPOINT: \"ftp://collector\": the collector's URL must \
                   start with http:// or https://"
                .to_string(),
        },
    ];
    for BadStart { args, env, says } in cases {
        let (status, stderr) = refused_start(&args, &env);
        assert!(!status.success(), "{args:?} {env:?} started");
        assert!(stderr.contains(&says), "{args:?} {env:?}: {stderr}");
        assert!(
            !stderr.contains("s3cret"),
            "a header's value printed: {stderr}"
        );
    }
}

/// A start that must fail: its flags, its environment, and what its error says.
struct BadStart<'a> {
    args: Vec<&'a str>,
    env: Vec<(&'a str, &'a str)>,
    says: String,
}
