//! Exporting spans as an OpenTelemetry user sets it up: to an `https://` collector whose
//! certificate a private CA signed (`--otlp-ca-file`), with the headers the collector requires
//! (`--otlp-header`, `OTEL_EXPORTER_OTLP_HEADERS`), the collector named by the OTel SDK's
//! variables too (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`); the span of each run of a
//! command pod, with its exit status; the system's roots by default; a collector that requires a
//! client certificate (`--otlp-client-certificate`/`--otlp-client-key`, mutual TLS); resource
//! attributes (`OTEL_RESOURCE_ATTRIBUTES`); `OTEL_SDK_DISABLED`; an export that takes longer than
//! `OTEL_EXPORTER_OTLP_TIMEOUT` failing (logged) while the node serves on; and a bad setting
//! stopping the process at start, naming the flag or variable.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmpod_tests::otlp::{OtlpReceiver, ReceivedSpan};
use wasmpod_tests::{
    components, deployment_yaml, http_app, http_call, wait_until, wasmpod_bin, MultiNode, Process,
};

const WAIT: Duration = Duration::from_secs(60);
const API_KEY: &str = "s3cret-key";

/// A CA of this test's own and a certificate it signed for 127.0.0.1: (CA PEM, certificate PEM,
/// key PEM).
fn private_ca_and_certificate() -> (String, String, String) {
    let ca = TestCa::new();
    let (cert, key) = ca.issue("127.0.0.1", false);
    (ca.pem.clone(), cert, key)
}

/// A CA of the test's own, which issues server and client certificates.
struct TestCa {
    pem: String,
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let pem = params.clone().self_signed(&key).expect("CA").pem();
        TestCa { pem, params, key }
    }

    /// A certificate for `name` (for client authentication when `client`): (certificate PEM,
    /// key PEM).
    fn issue(&self, name: &str, client: bool) -> (String, String) {
        use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, Issuer, KeyPair};
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
        if client {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let cert = params
            .signed_by(&key, &Issuer::new(self.params.clone(), &self.key))
            .expect("a certificate of the CA");
        (cert.pem(), key.serialize_pem())
    }
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

#[test]
fn a_collector_requiring_a_client_certificate_gets_spans_only_from_the_node_that_shows_one() {
    let ca = TestCa::new();
    let (cert, key) = ca.issue("127.0.0.1", false);
    let otlp = OtlpReceiver::start_mutual_tls(&cert, &key, &ca.pem);
    let files = tempfile::tempdir().expect("tempdir");
    let ca_file = write(files.path(), "ca.pem", &ca.pem);
    let ca_file = ca_file.to_str().expect("utf-8 path");
    let (client_cert, client_key) = ca.issue("node-m.otlp-client", true);
    let client_cert = write(files.path(), "client.crt", &client_cert);
    let client_key = write(files.path(), "client.key", &client_key);
    // A certificate of another CA, in the variables: the flags win over them.
    let (other_cert, other_key) = TestCa::new().issue("stranger", true);
    let other_cert = write(files.path(), "other.crt", &other_cert);
    let other_key = write(files.path(), "other.key", &other_key);

    // The server trusts the collector but shows no client certificate.
    let mut cluster =
        MultiNode::start_with(&["--otlp-endpoint", &otlp.url, "--otlp-ca-file", ca_file]);
    let mut worker = cluster.worker_command(
        "node-m",
        &cluster.join_token.clone(),
        &[
            "--otlp-endpoint",
            &otlp.url,
            "--otlp-ca-file",
            ca_file,
            "--otlp-client-certificate",
            client_cert.to_str().expect("utf-8 path"),
            "--otlp-client-key",
            client_key.to_str().expect("utf-8 path"),
        ],
    );
    worker
        .env("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &other_cert)
        .env("OTEL_EXPORTER_OTLP_CLIENT_KEY", &other_key)
        .env(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=staging, team=edge%2Cnodes, service.name=overridden, \
             service.instance.id=shared",
        )
        .env("OTEL_SERVICE_NAME", "edge-nodes");
    let worker = Process::spawn_command(worker);
    let gateway = worker.wait_line("gateway: ");
    cluster.workers.push(("node-m".into(), worker, gateway));

    let crasher = &components().crasher;
    let exits = r#"env: [{name: CRASH_MODE, value: exit}, {name: CRASH_AFTER_MS, value: "20"}]"#;
    cluster.apply(
        "exits.yaml",
        &deployment_yaml("exits", crasher, 1, "", &format!(", {exits}")),
    );

    // The node's spans arrive over mutual TLS, with the resource the variables describe.
    let run = wait_until("a run span from node-m", WAIT, || {
        runs_of(&otlp, "exits-").into_iter().next()
    });
    assert_eq!(run.service, "edge-nodes", "OTEL_SERVICE_NAME wins: {run:?}");
    assert_eq!(run.instance, "node-m", "the node's own id wins: {run:?}");
    assert_eq!(run.resource["deployment.environment"], "staging", "{run:?}");
    assert_eq!(
        run.resource["team"], "edge,nodes",
        "percent-decoded: {run:?}"
    );
    assert_eq!(run.resource["wasmpod.node"], "node-m", "{run:?}");

    // The server's handshakes are refused: the collector asked for a certificate it did not
    // show. It says so in its log, and none of its spans arrive.
    let refused = wait_until(
        "the collector refusing the server's handshake",
        WAIT,
        || {
            cluster.cli_ok(&["get", "nodes"]);
            let failed = otlp.handshakes_failed();
            (!failed.is_empty()).then_some(failed)
        },
    );
    assert!(
        refused
            .iter()
            .any(|e| e.contains("peer sent no certificates")),
        "{refused:?}"
    );
    let said = wait_until("the server logging the failed export", WAIT, || {
        let log = cluster.server.stderr_tail();
        log.contains("exporting spans failed").then_some(log)
    });
    assert!(said.contains(&otlp.url), "{said}");
    let spans = otlp.spans();
    assert!(
        spans.iter().all(|s| s.instance == "node-m"),
        "only node-m's spans arrive: {:?}",
        spans
            .iter()
            .map(|s| (&s.instance, &s.name))
            .collect::<Vec<_>>()
    );
}

#[test]
fn otel_sdk_disabled_exports_nothing_though_a_collector_is_set() {
    let otlp = OtlpReceiver::start();
    let mut cluster = MultiNode::start();
    let mut worker = cluster.worker_command(
        "node-d",
        &cluster.join_token.clone(),
        &["--otlp-endpoint", &otlp.url],
    );
    worker.env("OTEL_SDK_DISABLED", "true");
    let worker = Process::spawn_command(worker);
    let gateway = worker.wait_line("gateway: ");
    cluster
        .workers
        .push(("node-d".into(), worker, gateway.clone()));

    // Requests and command pod runs, each of which makes spans when exporting.
    let c = components();
    let exits = r#"env: [{name: CRASH_MODE, value: exit}, {name: CRASH_AFTER_MS, value: "20"}]"#;
    let manifest = [
        http_app("hello", &c.hello, 1, "/hello"),
        "---\n".to_string(),
        deployment_yaml("exits", &c.crasher, 1, "", &format!(", {exits}")),
    ]
    .concat();
    cluster.apply("apps.yaml", &manifest);
    let url = format!("{gateway}/hello");
    wait_until("hello serving on node-d", WAIT, || {
        (http_call("GET", &url, &[], None).status == 200).then_some(())
    });
    wait_until("a restarted command pod", WAIT, || {
        cluster.items("pods").iter().find(|p| {
            p["metadata"]["labels"]["app"] == "exits"
                && p["status"]["restartCount"].as_u64().unwrap_or(0) >= 1
        })?;
        Some(())
    });
    for _ in 0..10 {
        assert_eq!(http_call("GET", &url, &[], None).status, 200);
    }
    // Spans leave every 500 ms when exporting: 3 s is six batches that never come.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(otlp.exports(), 0, "{:?}", otlp.spans());
    let log = cluster.workers[0].1.stderr_tail();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("OTEL_SDK_DISABLED=true: no spans are exported"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {log}");
    assert!(said[0].contains("--otlp-endpoint"), "{log}");
}

#[test]
fn an_export_slower_than_its_timeout_is_logged_as_failed_and_the_node_serves_on() {
    // A collector that holds every export for a minute: each export gives up after 300 ms.
    let otlp = OtlpReceiver::start_stalling(Duration::from_secs(60));
    let mut cluster = MultiNode::start();
    let mut worker = cluster.worker_command(
        "node-t",
        &cluster.join_token.clone(),
        &["--otlp-endpoint", &otlp.url],
    );
    worker
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "20000")
        .env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "300");
    let worker = Process::spawn_command(worker);
    let gateway = worker.wait_line("gateway: ");
    cluster
        .workers
        .push(("node-t".into(), worker, gateway.clone()));
    cluster.apply(
        "hello.yaml",
        &http_app("hello", &components().hello, 1, "/hello"),
    );
    let url = format!("{gateway}/hello");
    wait_until("hello serving on node-t", WAIT, || {
        (http_call("GET", &url, &[], None).status == 200).then_some(())
    });

    // The first export is held; the node gives up on it after 300 ms (not the default 10 s, nor
    // the generic variable's 20 s) and says so.
    let started = Instant::now();
    let said = wait_until("the node logging the timed-out export", WAIT, || {
        assert_eq!(http_call("GET", &url, &[], None).status, 200);
        let log = cluster.workers[0].1.stderr_tail();
        log.contains("exporting spans failed").then_some(log)
    });
    assert!(
        said.contains("the collector did not answer within 300 ms"),
        "{said}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "logged after {:?}",
        started.elapsed()
    );
    assert!(otlp.exports() >= 1, "the export reached the collector");
    assert!(otlp.spans().is_empty());

    // The node serves on, each request fast, while exports keep timing out.
    for _ in 0..20 {
        let sent = Instant::now();
        let reply = http_call("GET", &url, &[], None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "{:?}",
            sent.elapsed()
        );
    }
    let exports = otlp.exports();
    wait_until("another export attempt", WAIT, || {
        assert_eq!(http_call("GET", &url, &[], None).status, 200);
        (otlp.exports() > exports).then_some(())
    });
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
    let (cert, _) = TestCa::new().issue("client", true);
    let cert = write(files.path(), "client.crt", &cert);
    let cert = cert.to_str().expect("utf-8 path");
    let (_, other_key) = TestCa::new().issue("client", true);
    let other_key = write(files.path(), "other.key", &other_key);
    let other_key = other_key.to_str().expect("utf-8 path");
    let garbage_key = write(
        files.path(),
        "garbage.key",
        "-----BEGIN PRIVATE KEY-----\ns3cret\n-----END PRIVATE KEY-----\n",
    );
    let garbage_key = garbage_key.to_str().expect("utf-8 path");
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
        BadStart {
            args: vec!["--otlp-endpoint", https],
            env: vec![("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "10s")],
            says: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: \"10s\" is not a whole number of \
                   milliseconds"
                .to_string(),
        },
        BadStart {
            args: vec!["--otlp-endpoint", https],
            env: vec![("OTEL_RESOURCE_ATTRIBUTES", "team=a,s3cret")],
            says: "OTEL_RESOURCE_ATTRIBUTES: entry 2 is not key=value".to_string(),
        },
        BadStart {
            args: vec!["--otlp-endpoint", https],
            env: vec![("OTEL_SDK_DISABLED", "yes")],
            says: "OTEL_SDK_DISABLED: \"yes\" is neither true nor false".to_string(),
        },
        BadStart {
            args: vec!["--otlp-endpoint", https, "--otlp-client-certificate", cert],
            env: vec![],
            says: "--otlp-client-certificate is set but its pair is not".to_string(),
        },
        BadStart {
            args: vec![
                "--otlp-endpoint",
                https,
                "--otlp-client-certificate",
                cert,
                "--otlp-client-key",
                garbage_key,
            ],
            env: vec![],
            says: format!("--otlp-client-key {garbage_key}: "),
        },
        BadStart {
            args: vec!["--otlp-endpoint", https],
            env: vec![
                ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", other_key),
            ],
            says: format!(
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE {cert} and OTEL_EXPORTER_OTLP_CLIENT_KEY \
                 {other_key}: the key cannot be used with the certificate (they do not match)"
            ),
        },
    ];
    for BadStart { args, env, says } in cases {
        let (status, stderr) = refused_start(&args, &env);
        assert!(!status.success(), "{args:?} {env:?} started");
        assert!(stderr.contains(&says), "{args:?} {env:?}: {stderr}");
        assert!(
            !stderr.contains("s3cret") && !stderr.contains("PRIVATE KEY"),
            "a header's value or a key printed: {stderr}"
        );
    }
}

/// A start that must fail: its flags, its environment, and what its error says.
struct BadStart<'a> {
    args: Vec<&'a str>,
    env: Vec<(&'a str, &'a str)>,
    says: String,
}
