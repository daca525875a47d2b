//! Transport security: the API over TLS with the cluster CA, workers that join with the CA's
//! pin, a CLI that verifies the API against the CA in its config.

use std::process::Command;
use std::time::Duration;
use wasmpod_tests::{
    components, http_app, http_get, wait_until, wasmpod_bin, Cluster, MultiNode, Process,
};

const WAIT: Duration = Duration::from_secs(40);

/// The cluster CA file the server wrote (`<data dir>/ca.crt`).
fn ca_file(cluster: &MultiNode) -> std::path::PathBuf {
    cluster.work.path().join("server").join("ca.crt")
}

/// `wasmpod worker` as the harness starts it, without the harness's CA pin.
fn worker_without_pin(cluster: &MultiNode, name: &str) -> Command {
    let command = cluster.worker_command(name, &cluster.join_token, &[]);
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let pin_at = args
        .iter()
        .position(|a| a == "--ca-cert-hash")
        .expect("the harness pins the CA");
    let mut bare = Command::new(wasmpod_bin());
    bare.args(args[..pin_at].iter().chain(args[pin_at + 2..].iter()));
    bare
}

#[test]
fn a_worker_refuses_a_server_whose_ca_does_not_match_its_pin() {
    let cluster = MultiNode::start_tls(&[]);
    let good = cluster
        .ca_pin
        .clone()
        .expect("the server printed its CA pin");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let mut command = worker_without_pin(&cluster, "node-a");
    command.args(["--ca-cert-hash", &wrong]);
    let mut worker = Process::spawn_command(command);
    let status = worker
        .wait_exit(Duration::from_secs(20))
        .expect("the worker gives up instead of joining");
    assert!(!status.success());
    let stderr = worker.stderr_tail();
    assert!(
        stderr.contains("does not match") && stderr.contains(&wrong) && stderr.contains(&good),
        "the error names the pinned and the presented CA: {stderr}"
    );
    assert!(
        !cluster.node_dir("node-a").join("ca.crt").exists(),
        "a CA that does not match the pin is not kept"
    );
    assert!(
        cluster.items("nodes").is_empty(),
        "the refused worker did not register"
    );
}

#[test]
fn the_cli_verifies_the_api_against_the_ca_in_its_config() {
    let cluster = MultiNode::start_tls(&[]);
    let config = std::fs::read_to_string(cluster.work.path().join("config")).expect("config");
    assert!(config.contains("certificate-authority-data:"), "{config}");
    assert!(cluster.api.starts_with("https://"), "{}", cluster.api);
    cluster.cli_ok(&["get", "nodes"]);

    // The same server and token without the CA: the certificate does not verify.
    let stripped = cluster.work.path().join("config-without-ca");
    let without: String = config
        .lines()
        .filter(|l| !l.starts_with("certificate-authority-data"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&stripped, without).expect("write");
    let run = |extra_env: Option<&std::path::Path>| {
        let mut command = Command::new(wasmpod_bin());
        command
            .args(["get", "nodes"])
            .env("WASMPOD_CONFIG", &stripped)
            .env_remove("WASMPOD_SERVER")
            .env_remove("WASMPOD_TOKEN")
            .env_remove("WASMPOD_CA_FILE");
        if let Some(path) = extra_env {
            command.env("WASMPOD_CA_FILE", path);
        }
        command.output().expect("wasmpod runs")
    };
    let refused = run(None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "no CA, no trust: {stderr}");
    assert!(
        stderr.to_lowercase().contains("certificate"),
        "the error says the certificate did not verify: {stderr}"
    );
    // The CA given as a file is enough.
    let trusted = run(Some(&ca_file(&cluster)));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
}

#[test]
fn plain_http_to_the_tls_api_gets_no_answer() {
    let cluster = MultiNode::start_tls(&[]);
    let plain = cluster.api.replace("https://", "http://");
    let (status, error) = http_get(&format!("{plain}/api/v1/nodes"));
    assert_eq!(status, 0, "a plain HTTP client got an answer: {error}");
    // The TLS port still serves TLS clients afterwards.
    assert!(cluster.items("nodes").is_empty());
}

#[test]
fn the_api_over_tls_serves_join_apply_and_ingress_across_nodes() {
    let mut cluster = MultiNode::start_tls(&[]);
    let gateway_a = cluster.add_worker("node-a", &[]);
    cluster.add_worker("node-b", &["--label", "tier=app"]);
    let server_ca = std::fs::read_to_string(ca_file(&cluster)).expect("server CA");
    let kept = std::fs::read_to_string(cluster.node_dir("node-a").join("ca.crt"))
        .expect("the joined node keeps the CA");
    assert_eq!(kept, server_ca);
    // Every replica on node-b: node-a's gateway forwards each request.
    cluster.apply(
        "hello.yaml",
        &http_app("hello", &components().hello, 2, "/hello").replace(
            "spec: {component:",
            "spec: {nodeSelector: {tier: app}, component:",
        ),
    );
    wait_until("2 ready replicas on node-b", WAIT, || {
        let pods = cluster.ready_pods("hello");
        (pods.len() == 2 && pods.iter().all(|(_, n)| n == "node-b")).then_some(())
    });
    let body = wait_until("ingress answers through node-a", WAIT, || {
        match http_get(&format!("{gateway_a}/hello")) {
            (200, body) => Some(body),
            _ => None,
        }
    });
    assert!(!body.is_empty());

    // A restarted node joins again with the CA it kept, without the pin.
    cluster.worker("node-a").terminate();
    let again = worker_without_pin(&cluster, "node-a");
    let restarted = Process::spawn_command(again);
    restarted.wait_line("gateway: ");
}

#[test]
fn up_serves_plain_http_on_loopback_and_tls_with_the_tls_flag() {
    let plain = Cluster::up(&[]);
    assert!(plain.api.starts_with("http://"), "{}", plain.api);
    drop(plain);

    let cluster = Cluster::up(&["--tls"]);
    assert!(cluster.api.starts_with("https://"), "{}", cluster.api);
    let ca = cluster.data_dir.join("ca.crt");
    let without = cluster.cli(&["get", "nodes"]);
    assert!(
        !without.status.success(),
        "a CLI without the CA does not trust the API"
    );
    let yaml = cluster.manifest(
        "hello.yaml",
        &http_app("hello", &components().hello, 1, "/hello"),
    );
    let applied = cluster
        .cli_command(&["apply", "-f", yaml.to_str().expect("utf-8")])
        .env("WASMPOD_CA_FILE", &ca)
        .output()
        .expect("wasmpod runs");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_until("ingress answers", WAIT, || {
        (http_get(&format!("{}/hello", cluster.ingress)).0 == 200).then_some(())
    });
}

/// `wasmpod server` number `i` over TLS on the shared etcd, with the shared tokens and key.
fn tls_server(work: &std::path::Path, etcd: &wasmpod_tests::etcd::Etcd, i: usize) -> Process {
    let dir = work.join(format!("server-{i}"));
    std::fs::create_dir_all(&dir).expect("data dir");
    std::fs::copy(work.join("tokens.yaml"), dir.join("tokens.yaml")).expect("tokens");
    let mut command = Command::new(wasmpod_bin());
    command
        .args(["server", "--api-addr", "127.0.0.1:0", "--no-client-config"])
        .arg("--data-dir")
        .arg(&dir)
        .arg("--encryption-key")
        .arg(work.join("secrets.key"))
        .args(["--store", &etcd.store_url()])
        .args(["--name", &format!("server-{i}")]);
    Process::spawn_command(command)
}

#[test]
fn servers_on_one_etcd_share_the_cluster_ca_and_a_node_joins_either() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        work.path().join("tokens.yaml"),
        format!("admin: {}\njoin: {}\n", "a".repeat(48), "j".repeat(48)),
    )
    .expect("tokens");
    std::fs::write(work.path().join("join-token"), "j".repeat(48)).expect("join token");
    std::fs::write(work.path().join("secrets.key"), [7u8; 32]).expect("key");
    let etcd = wasmpod_tests::etcd::Etcd::start(1);
    let mut first = tls_server(work.path(), &etcd, 1);
    let api_1 = first.wait_line("API: ");
    let pin_1 = first.wait_line("cluster CA: ");
    let second = tls_server(work.path(), &etcd, 2);
    let api_2 = second.wait_line("API: ");
    let pin_2 = second.wait_line("cluster CA: ");
    let pin = |line: &str| {
        line.split_once(" (")
            .expect("PATH (PIN)")
            .1
            .trim_end_matches(')')
            .to_string()
    };
    assert_eq!(
        pin(&pin_1),
        pin(&pin_2),
        "one CA for the whole control plane"
    );
    // The node pins the CA once and may reach either server; with the first gone it joins
    // through the second, whose certificate the same CA signed.
    first.kill9();
    let node_dir = work.path().join("node-a");
    let mut command = Command::new(wasmpod_bin());
    command
        .args([
            "worker",
            "--join",
            &format!("{api_1},{api_2}"),
            "--token-file",
        ])
        .arg(work.path().join("join-token"))
        .args([
            "--name",
            "node-a",
            "--gateway-addr",
            "127.0.0.1:0",
            "--ca-cert-hash",
            &pin(&pin_1),
        ])
        .arg("--data-dir")
        .arg(&node_dir);
    let worker = Process::spawn_command(command);
    worker.wait_line("gateway: ");
    assert!(node_dir.join("ca.crt").exists());
}
