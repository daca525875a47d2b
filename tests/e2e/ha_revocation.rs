//! Revocation with several API servers on one etcd: a client certificate revoked through server
//! A is refused by a node whose only API endpoint is server B, within seconds. Each server keeps a
//! copy of the revoked serials for the nodes that ask (read again from the store when it is a
//! second old), so B learns of a revocation A wrote without a restart, and its node, reading B
//! every second, refuses the certificate on a new connection and on the one already open.

use super::revocation::{agent_client, get, read, refused_on_open_connection, REVOKED_WITHIN};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use wasmpod_tests::etcd::Etcd;
use wasmpod_tests::servers::ServerFiles;
use wasmpod_tests::{
    api_json, list_items, trust_ca, wait_until, wasmpod_bin, worker_command, Process,
};

/// How old a server's copy of the revoked serials may be: it reads the store again when its copy
/// is a second old; the rest is room for a busy machine.
const SERVER_COPY_WITHIN: Duration = Duration::from_secs(5);

/// A `wasmpod server` over TLS: its process, API URL and the cluster CA's file and pin.
struct TlsServer {
    _process: Process,
    api: String,
    ca_file: PathBuf,
    pin: String,
}

fn start(files: &ServerFiles, etcd: &Etcd, i: usize) -> TlsServer {
    let process =
        Process::spawn_command(files.tls_server_command(i, "127.0.0.1:0", &etcd.store_url()));
    let api = process.wait_line("API: ");
    let line = process.wait_line("cluster CA: ");
    let (path, pin) = line.split_once(" (").expect("cluster CA: PATH (PIN)");
    let ca_file = PathBuf::from(path);
    trust_ca(&api, &read(&ca_file));
    TlsServer {
        _process: process,
        api,
        ca_file,
        pin: pin.trim_end_matches(')').to_string(),
    }
}

/// `wasmpod ARGS --server SERVER` as the admin, trusting the cluster CA; its stdout.
fn cli_ok(files: &ServerFiles, server: &TlsServer, args: &[&str]) -> String {
    let out = Command::new(wasmpod_bin())
        .args(args)
        .args(["--server", &server.api, "--token", &files.admin])
        .env("WASMPOD_CONFIG", files.work.path().join("no-config"))
        .env("WASMPOD_CA_FILE", &server.ca_file)
        .env_remove("WASMPOD_SERVER")
        .output()
        .expect("wasmpod runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The serials server `api` lists as revoked (what its nodes read).
fn revoked_serials(api: &str, token: &str) -> Vec<String> {
    let list =
        api_json(api, "/api/v1/revokedcertificates", Some(token)).unwrap_or_else(|e| panic!("{e}"));
    list["serials"]
        .as_array()
        .unwrap_or_else(|| panic!("no serials in {list}"))
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The PEM of the certificate and key `create client-certificate NAME --out DIR` wrote.
fn identity(dir: &Path, name: &str) -> String {
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    format!("{}{}", read(&crt), read(&key))
}

#[test]
fn a_certificate_revoked_through_one_server_is_refused_by_a_node_of_another_within_seconds() {
    let files = ServerFiles::new(9);
    let etcd = Etcd::start(1);
    let a = start(&files, &etcd, 0);
    let b = start(&files, &etcd, 1);
    assert_eq!(a.pin, b.pin, "one cluster CA for both servers");

    // node-a knows server B only.
    let mut command = worker_command(
        &b.api,
        &files.work.path().join("join-token"),
        "node-a",
        &files.work.path().join("node-a"),
    );
    command.args(["--ca-cert-hash", &b.pin]);
    let node = Process::spawn_command(command);
    node.wait_line("gateway: ");
    let agent = wait_until("node-a's agent in its status", REVOKED_WITHIN, || {
        list_items(&b.api, "nodes", Some(&files.admin))
            .ok()?
            .iter()
            .find(|n| n["metadata"]["name"] == "node-a")
            .and_then(|n| n["status"]["agent"].as_str().map(str::to_string))
    });
    let metrics = format!("{agent}/metrics");

    // Two scrapers' certificates, minted through A.
    let out = files.work.path().join("scrapers");
    let out_arg = out.to_str().expect("utf-8");
    for name in ["prometheus", "grafana"] {
        cli_ok(
            &files,
            &a,
            &["create", "client-certificate", name, "--out", out_arg],
        );
    }
    let ca_pem = read(&out.join("ca.crt"));
    let scraper = agent_client(&ca_pem, &identity(&out, "prometheus"));
    let (status, body) = get(&scraper, &metrics).expect("a scrape");
    assert_eq!(status, 200, "{body}");
    // B has a copy of the revoked serials (none yet), as its node has been reading them.
    assert_eq!(revoked_serials(&b.api, &files.admin), Vec::<String>::new());

    // Revoked through A: B lists it, and node-a refuses it, within seconds.
    let printed = cli_ok(&files, &a, &["delete", "client-certificate", "prometheus"]);
    assert!(printed.contains("revoked"), "{printed}");
    let revoked_at = Instant::now();
    let on_a = revoked_serials(&a.api, &files.admin);
    assert_eq!(on_a.len(), 1, "{on_a:?}");
    wait_until("B lists the serial A revoked", SERVER_COPY_WITHIN, || {
        (revoked_serials(&b.api, &files.admin) == on_a).then_some(())
    });
    // The connection the scraper keeps open: its next request is refused...
    refused_on_open_connection(
        "node-a refuses the open connection's requests",
        &scraper,
        &metrics,
    );
    // ...and a new connection fails its handshake.
    let fresh = get(
        &agent_client(&ca_pem, &identity(&out, "prometheus")),
        &metrics,
    );
    assert!(fresh.is_err(), "a new connection passed: {fresh:?}");
    let took = revoked_at.elapsed();
    assert!(took < REVOKED_WITHIN, "took {took:?}");
    // The other scraper is not touched.
    let (status, body) =
        get(&agent_client(&ca_pem, &identity(&out, "grafana")), &metrics).expect("grafana");
    assert_eq!(status, 200, "{body}");
}
