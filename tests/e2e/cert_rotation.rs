//! Node certificate rotation: on a TLS cluster whose node certificates live 20 seconds
//! (`--node-certificate-validity 20s`), each node renews its certificate before it expires and
//! serves and connects with the new one without a restart, so a frontend on one node keeps
//! calling its backend on another across several rotations and past the first certificates'
//! ends; the control plane keeps a bounded record of them; a node restarting reuses its stored
//! certificate instead of asking for another; and the flag is validated.

use crate::node_tls::{cluster_ca, cluster_certificate, node_status, ClientCert};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmpod_api::tls::ClusterCa;
use wasmpod_tests::{
    frontend_backend_across_nodes, http_get, wait_until, wasmpod_bin, MultiNode, Process,
};

const WAIT: Duration = Duration::from_secs(40);

/// A node's certificate as the control plane recorded it.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    serial: String,
    not_after: DateTime<Utc>,
    revoked: bool,
}

/// The unexpired certificates the control plane recorded for `node`.
fn recorded(cluster: &MultiNode, node: &str) -> Vec<Recorded> {
    let list = wasmpod_tests::api_json(
        &cluster.api,
        "/api/v1/nodecertificates",
        Some(&cluster.admin_token),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    list.as_array()
        .expect("a list of certificates")
        .iter()
        .filter(|c| c["name"] == node)
        .map(|c| Recorded {
            serial: c["serial"].as_str().expect("serial").to_string(),
            not_after: c["notAfter"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("notAfter"),
            revoked: c["revoked"].is_string(),
        })
        .collect()
}

/// The certificate `node` presents now: its newest unrevoked one.
fn current(cluster: &MultiNode, node: &str) -> Recorded {
    recorded(cluster, node)
        .into_iter()
        .filter(|c| !c.revoked)
        .max_by_key(|c| c.not_after)
        .unwrap_or_else(|| panic!("node {node} has a certificate"))
}

/// Frontends on node `front`, backends on node `back`: every frontend answer crosses nodes.
fn frontend_here_backend_there(cluster: &mut MultiNode) -> String {
    let gateway = cluster.add_worker("front", &["--label", "role=front"]);
    cluster.add_worker("back", &["--label", "role=back"]);
    let yaml = frontend_backend_across_nodes();
    cluster.apply("fb.yaml", &yaml);
    wait_until(
        "frontend on node front answers from node back",
        WAIT,
        || {
            let backends = cluster.ready_pods("backend");
            let there = !backends.is_empty() && backends.iter().all(|(_, n)| n == "back");
            let (code, body) = http_get(&format!("{gateway}/frontend"));
            (there && code == 200 && body.contains("apple")).then_some(())
        },
    );
    gateway
}

/// The frontend answers through node `front`, its backend call crossing to node `back`.
fn cross_node_call(cluster: &MultiNode, gateway: &str, when: &str) {
    let (code, body) = http_get(&format!("{gateway}/frontend"));
    assert!(
        code == 200 && body.contains("apple"),
        "{when}: the cross-node call answered {code}: {body}\n{}",
        cluster
            .workers
            .iter()
            .map(|(name, p, _)| format!("--- {name}\n{}", p.stderr_tail()))
            .collect::<String>()
    );
}

/// The serial of the certificate node `node` presents at `url` (`https://HOST:PORT`, its peer
/// listener or its agent) to a client presenting `client`.
fn presented_serial(url: &str, node: &str, ca: &ClusterCa, client: &ClientCert) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(client.0.clone(), client.1.clone_key())
    .expect("client certificate");
    let name = rustls::pki_types::ServerName::try_from(wasmpod_api::node_tls::node_dns_name(node))
        .expect("server name");
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).expect("connection");
    let addr = url.trim_start_matches("https://");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)
            .unwrap_or_else(|e| panic!("handshake with node {node} at {url}: {e}"));
    }
    let leaf = &tls.peer_certificates().expect("a server certificate")[0];
    wasmpod_api::revocation::serial_hex(leaf).expect("a serial")
}

#[test]
fn node_certificates_rotate_before_they_expire_and_cross_node_calls_keep_working() {
    let mut cluster = MultiNode::start_tls(&["--node-certificate-validity", "20s"]);
    let gateway = frontend_here_backend_there(&mut cluster);
    let first = current(&cluster, "back");
    let first_front = current(&cluster, "front");
    let lifetime = first.not_after - Utc::now();
    assert!(
        lifetime <= chrono::Duration::seconds(20),
        "the certificate lives {lifetime} more, not at most 20 s"
    );
    // Until two renewals of node back have happened and the first certificates of both nodes
    // have expired, the frontend keeps answering across nodes; the record stays small.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut serials = vec![first.serial.clone()];
    let mut renewed_before_expiry = false;
    let mut most = 0;
    let over = |c: &Recorded| Utc::now() > c.not_after + chrono::Duration::seconds(2);
    while serials.len() < 3 || !over(&first) || !over(&first_front) {
        assert!(
            Instant::now() < deadline,
            "node back renewed {} time(s) in 60 s: {serials:?}",
            serials.len() - 1
        );
        cross_node_call(&cluster, &gateway, "during rotation");
        let now = current(&cluster, "back");
        if serials.last() != Some(&now.serial) {
            if serials.len() == 1 {
                renewed_before_expiry = Utc::now() < first.not_after;
            }
            serials.push(now.serial.clone());
        }
        most = most.max(recorded(&cluster, "back").len());
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        renewed_before_expiry,
        "node back's certificate {} was not renewed before it expired at {}",
        first.serial, first.not_after
    );
    // Node front renewed too, and its first certificate is over.
    assert_ne!(current(&cluster, "front").serial, first_front.serial);
    assert!(Utc::now() > first_front.not_after);
    // Past both first certificates' ends, calls keep crossing nodes...
    for _ in 0..10 {
        cross_node_call(&cluster, &gateway, "after the first certificates expired");
    }
    // ...and a new connection to node back's peer listener or agent gets its current
    // certificate, not the one it started with.
    let ca = cluster_ca(&cluster);
    let probe = cluster_certificate(&cluster, "probe");
    let serial = current(&cluster, "back").serial;
    for field in ["gateway", "agent"] {
        let url = node_status(&cluster, "back", field);
        let presented = presented_serial(&url, "back", &ca, &probe);
        let now = current(&cluster, "back").serial;
        assert!(
            presented == serial || presented == now,
            "node back's {field} ({url}) presents {presented}, not its current certificate {now}"
        );
    }
    // The renewed certificates were not revoked, and expired ones are not kept: at most the
    // current one and the one it replaced (valid a little longer) at any time.
    assert!(
        most <= 2,
        "node back had {most} unexpired certificates at once"
    );
    assert!(recorded(&cluster, "back").iter().all(|c| !c.revoked));
    // An operator sees it: `get nodes -o wide` shows each node's current serial and expiry.
    let wide = cluster.cli_ok(&["get", "nodes", "-o", "wide"]);
    let serial = current(&cluster, "back").serial;
    assert!(
        wide.contains("CERTIFICATE EXPIRES") && wide.contains(&serial),
        "get nodes -o wide does not show node back's certificate {serial}:\n{wide}"
    );
    let described = cluster.cli_ok(&["describe", "node", "back"]);
    let serial = current(&cluster, "back").serial;
    assert!(
        described.contains(&format!("Serial:  {serial}")) && described.contains("Expires: "),
        "describe node back does not show its certificate {serial}:\n{described}"
    );
}

#[test]
fn a_restarted_node_reuses_its_stored_certificate() {
    let mut cluster = MultiNode::start_tls(&["--node-certificate-validity", "1h"]);
    cluster.add_worker("node-a", &[]);
    let first = current(&cluster, "node-a");
    let ends_in = first.not_after - Utc::now();
    assert!(
        ends_in > chrono::Duration::minutes(59) && ends_in <= chrono::Duration::hours(1),
        "a 1h certificate ends in {ends_in}"
    );
    let stored = cluster.node_dir("node-a").join("node-certificate.json");
    for restart in 0..3 {
        cluster.worker("node-a").terminate();
        let process = Process::spawn_command(cluster.worker_command(
            "node-a",
            &cluster.join_token.clone(),
            &[],
        ));
        process.wait_line("gateway: ");
        cluster.workers.retain(|(name, _, _)| name != "node-a");
        cluster
            .workers
            .push(("node-a".to_string(), process, String::new()));
        let certificates = recorded(&cluster, "node-a");
        assert_eq!(
            certificates,
            vec![first.clone()],
            "restart {restart} asked for another certificate"
        );
    }
    // The key is private to the node's user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&stored)
            .expect("the stored certificate")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A deleted node's certificate is revoked: joining again, it does not reuse it.
    cluster.worker("node-a").terminate();
    cluster.cli_ok(&["delete", "node", "node-a"]);
    let process =
        Process::spawn_command(cluster.worker_command("node-a", &cluster.join_token.clone(), &[]));
    process.wait_line("gateway: ");
    cluster.workers.retain(|(name, _, _)| name != "node-a");
    cluster
        .workers
        .push(("node-a".to_string(), process, String::new()));
    let now = current(&cluster, "node-a");
    assert_ne!(
        now.serial, first.serial,
        "the revoked certificate was reused"
    );
}

#[test]
fn node_certificate_validity_is_checked_before_the_server_starts() {
    let work = tempfile::tempdir().expect("tempdir");
    for (value, says) in [
        ("5s", "too short"),
        ("3651d", "too long"),
        ("30", "needs a unit"),
        ("1y", "units are"),
    ] {
        let output = std::process::Command::new(wasmpod_bin())
            .args(["server", "--api-addr", "127.0.0.1:0", "--data-dir"])
            .arg(work.path().join("server"))
            .args(["--node-certificate-validity", value])
            .env("WASMPOD_CONFIG", work.path().join("config"))
            .output()
            .expect("wasmpod runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{value} was accepted");
        assert!(
            stderr.contains("--node-certificate-validity") && stderr.contains(says),
            "{value}: {stderr}"
        );
    }
    assert!(
        !work.path().join("server").exists(),
        "the server made its data directory before refusing the flag"
    );
    let output = std::process::Command::new(wasmpod_bin())
        .args(["up", "--api-addr", "127.0.0.1:0", "--data-dir"])
        .arg(work.path().join("up"))
        .args(["--node-certificate-validity", "1h"])
        .env("WASMPOD_CONFIG", work.path().join("config"))
        .output()
        .expect("wasmpod runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("needs --tls"),
        "{stderr}"
    );
}
