//! Revoking the cluster CA's certificates: a scraper's client certificate revoked with `wasmpod
//! delete client-certificate` is refused by a node's agent within seconds, on a new connection
//! (the handshake) and on the connection it already had open (each request), and `get
//! client-certificates` shows it revoked; a deleted node's certificate is refused at the other
//! nodes' peer listeners and agents.

use super::node_tls::{
    cluster_ca, cluster_certificate, host_port, node_status, tls_get, ClientCert,
};
use std::path::Path;
use std::time::{Duration, Instant};
use wasmpod_tests::{trusting_client, wait_until, MultiNode};

/// How long a revocation may take to reach every node: nodes read the revoked serials every
/// second, the control plane's copy is at most a second old; this leaves room for a busy machine.
pub(crate) const REVOKED_WITHIN: Duration = Duration::from_secs(15);

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A client of a node's agent trusting the cluster CA `ca_pem`, presenting `identity` (PEM of a
/// certificate and its key). It keeps its connections open between requests.
pub(crate) fn agent_client(ca_pem: &str, identity: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA"))
        .identity(reqwest::Identity::from_pem(identity.as_bytes()).expect("identity"))
        .build()
        .expect("client")
}

/// The status and body of `GET url`, or the transport error (a refused handshake).
pub(crate) fn get(client: &reqwest::blocking::Client, url: &str) -> Result<(u16, String), String> {
    let response = client.get(url).send().map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().unwrap_or_default()))
}

/// Asks `url` over `client`'s kept-alive connection every 200 ms until it is refused as revoked
/// (403), within `REVOKED_WITHIN`.
pub(crate) fn refused_on_open_connection(
    what: &str,
    client: &reqwest::blocking::Client,
    url: &str,
) {
    let (status, body) = wait_until(what, REVOKED_WITHIN, || match get(client, url) {
        Ok((200, _)) => {
            std::thread::sleep(Duration::from_millis(200));
            None
        }
        other => Some(other.unwrap_or_else(|e| (0, e))),
    });
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("revoked"), "{body}");
}

#[test]
fn a_revoked_scraper_certificate_is_refused_by_the_nodes_within_seconds() {
    let mut cluster = MultiNode::start_tls(&[]);
    cluster.add_worker("node-a", &[]);
    let out_dir = cluster.work.path().join("prometheus-tls");
    let out = out_dir.to_str().expect("utf-8");
    cluster.cli_ok(&["create", "client-certificate", "prometheus", "--out", out]);
    cluster.cli_ok(&["create", "client-certificate", "grafana", "--out", out]);
    let ca_pem = read(&out_dir.join("ca.crt"));
    let identity = |name: &str| {
        format!(
            "{}{}",
            read(&out_dir.join(format!("{name}.crt"))),
            read(&out_dir.join(format!("{name}.key")))
        )
    };
    let metrics = format!("{}/metrics", node_status(&cluster, "node-a", "agent"));
    let scraper = agent_client(&ca_pem, &identity("prometheus"));
    let (status, body) = get(&scraper, &metrics).expect("a scrape");
    assert_eq!(status, 200, "{body}");

    // Listed, not revoked; only the admin lists or revokes.
    let listed = cluster.cli_ok(&["get", "client-certificates"]);
    let line = listed
        .lines()
        .find(|l| l.starts_with("prometheus "))
        .unwrap_or_else(|| panic!("prometheus is listed: {listed}"));
    assert!(line.trim_end().ends_with("no"), "{listed}");
    let view = cluster
        .cli_ok(&["create", "token", "viewer", "--role", "view"])
        .trim()
        .to_string();
    let api = trusting_client(&cluster.api).build().expect("client");
    let url = format!("{}/api/v1/clientcertificates", cluster.api);
    let listed_by_view = api.get(&url).bearer_auth(&view).send().expect("answer");
    assert_eq!(listed_by_view.status().as_u16(), 403);
    let revoked_by_view = api
        .delete(format!("{url}/prometheus"))
        .bearer_auth(&view)
        .send()
        .expect("answer");
    assert_eq!(revoked_by_view.status().as_u16(), 403);

    // The admin revokes it with the CLI.
    let printed = cluster.cli_ok(&["delete", "client-certificate", "prometheus"]);
    assert!(printed.contains("revoked"), "{printed}");
    let revoked_at = Instant::now();
    // The connection the scraper keeps open (a request every 200 ms, well within the agent's idle
    // timeout): its next request is refused...
    refused_on_open_connection(
        "the open connection's requests are refused",
        &scraper,
        &metrics,
    );
    // ...and a new connection fails its handshake.
    let fresh = get(&agent_client(&ca_pem, &identity("prometheus")), &metrics);
    assert!(fresh.is_err(), "a new connection passed: {fresh:?}");
    assert!(revoked_at.elapsed() < REVOKED_WITHIN);
    // The other tool's certificate still reads the metrics.
    let (status, body) =
        get(&agent_client(&ca_pem, &identity("grafana")), &metrics).expect("grafana scrapes");
    assert_eq!(status, 200, "{body}");

    let listed = cluster.cli_ok(&["get", "client-certificates"]);
    let line = listed
        .lines()
        .find(|l| l.starts_with("prometheus "))
        .unwrap_or_else(|| panic!("prometheus is still listed: {listed}"));
    assert!(line.contains("yes ("), "listed as revoked: {listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("grafana ") && l.trim_end().ends_with("no")),
        "{listed}"
    );
    // Nothing left to revoke under that name.
    let again = cluster.cli(&["delete", "client-certificate", "prometheus"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// A copy of a chain and its key.
fn copy(certificate: &ClientCert) -> ClientCert {
    (certificate.0.clone(), certificate.1.clone_key())
}

#[test]
fn a_deleted_nodes_certificate_is_refused_at_the_other_nodes() {
    let mut cluster = MultiNode::start_tls(&[]);
    cluster.add_worker("node-a", &[]);
    cluster.add_worker("node-b", &[]);
    let ca = cluster_ca(&cluster);
    let peer_b = host_port(&node_status(&cluster, "node-b", "gateway"));
    let agent_b = host_port(&node_status(&cluster, "node-b", "agent"));
    let server_b = "node-b.nodes.wasmpod";
    // A certificate of node-a (the admin may ask for one) passes at node-b's peer listener and
    // agent.
    let node_a = cluster_certificate(&cluster, "node-a");
    for (what, addr, path) in [
        ("peer listener", &peer_b, "/"),
        ("agent", &agent_b, "/metrics"),
    ] {
        let answered = tls_get(addr, server_b, &ca, Some(copy(&node_a)), path, &[])
            .unwrap_or_else(|e| panic!("node-a's certificate passes at node-b's {what}: {e}"));
        assert!(answered.starts_with("HTTP/1.1 "), "{answered}");
    }

    cluster.cli_ok(&["delete", "node", "node-a"]);
    let error = wait_until(
        "node-b's peer listener refuses node-a's certificate",
        REVOKED_WITHIN,
        || tls_get(&peer_b, server_b, &ca, Some(copy(&node_a)), "/", &[]).err(),
    );
    assert!(error.to_lowercase().contains("alert"), "{error}");
    let at_agent = tls_get(
        &agent_b,
        server_b,
        &ca,
        Some(copy(&node_a)),
        "/metrics",
        &[],
    );
    assert!(at_agent.is_err(), "node-b's agent let it in: {at_agent:?}");
    // node-b's certificates are not touched.
    let answered = tls_get(
        &peer_b,
        server_b,
        &ca,
        Some(cluster_certificate(&cluster, "node-b")),
        "/",
        &[],
    )
    .expect("another node's certificate passes");
    assert!(answered.starts_with("HTTP/1.1 "), "{answered}");
}
