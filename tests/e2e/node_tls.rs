//! Node-to-node TLS: on a cluster served over TLS, a gateway forwards to another node's peer
//! listener, and the control plane reads a node agent's logs, over mutual TLS with the cluster
//! CA; neither listener lets in a client without a cluster-CA certificate, and a node's
//! certificate does not pass for another node or for the control plane.

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use wasmpod_api::gateway_key::forward_key;
use wasmpod_api::node_tls::chain_from_pem;
use wasmpod_api::tls::ClusterCa;
use wasmpod_tests::{components, http_app, http_get, http_get_with, wait_until, MultiNode};

const WAIT: Duration = Duration::from_secs(40);

/// A TLS cluster with node-a and node-b; `misbehave` runs on node-b only and is exposed at
/// `/log` (its `/ok` has no ingress rule: only a forwarded request reaches it).
/// Returns the cluster and node-a's gateway, once node-a's gateway answers for node-b's pod.
fn two_tls_nodes() -> (MultiNode, String) {
    let mut cluster = MultiNode::start_tls(&[]);
    let gateway_a = cluster.add_worker("node-a", &["--label", "zone=a"]);
    cluster.add_worker("node-b", &["--label", "zone=b"]);
    cluster.apply(
        "misbehave.yaml",
        &http_app("misbehave", &components().misbehave, 1, "/log").replace(
            "spec: {component:",
            "spec: {nodeSelector: {zone: b}, component:",
        ),
    );
    wait_until("misbehave ready on node-b", WAIT, || {
        let pods = cluster.ready_pods("misbehave");
        (pods.len() == 1 && pods[0].1 == "node-b").then_some(())
    });
    (cluster, gateway_a)
}

/// `field` of node `node`'s status (`gateway`, `agent`).
pub(crate) fn node_status(cluster: &MultiNode, node: &str, field: &str) -> String {
    cluster
        .items("nodes")
        .iter()
        .find(|n| n["metadata"]["name"] == node)
        .and_then(|n| n["status"][field].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("node {node} has a status.{field}"))
}

pub(crate) fn cluster_ca(cluster: &MultiNode) -> ClusterCa {
    let pem = std::fs::read_to_string(cluster.work.path().join("server").join("ca.crt"))
        .expect("the server's CA file");
    ClusterCa::from_pem(&pem).expect("a CA certificate")
}

/// What a client presents: a chain and its key.
pub(crate) type ClientCert = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A certificate of the cluster CA for `node`, for a key this test makes (the admin may ask).
pub(crate) fn cluster_certificate(cluster: &MultiNode, node: &str) -> ClientCert {
    let key = rcgen::KeyPair::generate().expect("key");
    let body = serde_json::json!({
        "publicKey": base64::engine::general_purpose::STANDARD.encode(key.public_key_raw()),
        "addresses": ["127.0.0.1"],
    });
    let answer: serde_json::Value = wasmpod_tests::trusting_client(&cluster.api)
        .build()
        .expect("client")
        .post(format!("{}/api/v1/nodes/{node}/certificate", cluster.api))
        .bearer_auth(&cluster.admin_token)
        .json(&body)
        .send()
        .and_then(|r| r.error_for_status())
        .expect("the admin gets a node certificate")
        .json()
        .expect("json");
    let chain = chain_from_pem(answer["chainPem"].as_str().expect("chainPem")).expect("PEM");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (chain, key)
}

/// A client certificate for `node`'s name from a CA of this test's own (not the cluster's).
fn foreign_certificate(node: &str) -> ClientCert {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer};
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.clone().self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(vec![wasmpod_api::node_tls::node_dns_name(node)]).expect("params");
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let leaf = params
        .signed_by(&key, &Issuer::new(ca_params, &ca_key))
        .expect("leaf");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (vec![leaf.der().clone(), ca.der().clone()], key)
}

/// One HTTP/1.1 GET over TLS to `addr` (`host:port`), expecting the server `server_name`
/// (verified against `ca`) and presenting `client`: the raw response, or the TLS or I/O error.
pub(crate) fn tls_get(
    addr: &str,
    server_name: &str,
    ca: &ClusterCa,
    client: Option<ClientCert>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let config = match client {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from(server_name.to_string()).expect("server name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("connection");
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            // A server that closes without close_notify after answering still answered.
            Err(_) if !response.is_empty() => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

pub(crate) fn host_port(url: &str) -> String {
    url.trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

#[test]
fn a_tls_cluster_forwards_across_nodes_over_mutual_tls() {
    let (cluster, gateway_a) = two_tls_nodes();
    // node-b takes forwarded requests on its peer listener only, over TLS.
    let peer_b = node_status(&cluster, "node-b", "gateway");
    assert!(peer_b.starts_with("https://"), "{peer_b}");
    // A request at node-a's ingress is served by node-b's pod, through node-b's peer listener.
    let body = wait_until("node-a forwards to node-b", WAIT, || {
        match http_get(&format!("{gateway_a}/log")) {
            (200, body) => Some(body),
            _ => None,
        }
    });
    assert!(!body.is_empty());

    // node-a's forward key, presented on node-b's plain gateway port, no longer makes a
    // request "forwarded": on a TLS cluster that takes node-a's certificate too.
    let credential: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cluster.node_dir("node-a").join("node-credential.json"))
            .expect("node-a's credential"),
    )
    .expect("json");
    let key_a = forward_key(credential["token"].as_str().expect("token"));
    let gateway_b = cluster
        .workers
        .iter()
        .find(|(name, _, _)| name == "node-b")
        .map(|(_, _, gateway)| gateway.clone())
        .expect("node-b");
    let forwarded = [
        ("x-wasmpod-service", "default/misbehave"),
        ("x-wasmpod-node", "node-a"),
        ("x-wasmpod-forward-key", key_a.as_str()),
    ];
    // No ingress rule matches /ok: only a forwarded request reaches the service there.
    let (code, body) = http_get_with(&format!("{gateway_b}/ok"), &forwarded);
    assert_eq!(code, 404, "the plain port took a forwarded request: {body}");
    assert!(body.contains("no ingress rule"), "{body}");
    // The same headers over the peer listener with a cluster-CA certificate of another name
    // (node-c claiming to be node-a) are not forwarded either.
    let ca = cluster_ca(&cluster);
    let impostor = tls_get(
        &host_port(&peer_b),
        "node-b.nodes.wasmpod",
        &ca,
        Some(cluster_certificate(&cluster, "node-c")),
        "/ok",
        &forwarded,
    )
    .expect("node-c's certificate passes the handshake");
    assert!(
        impostor.starts_with("HTTP/1.1 404"),
        "a certificate of another node forwarded in node-a's name: {impostor}"
    );
    // With node-a's certificate (and key) it is.
    let genuine = tls_get(
        &host_port(&peer_b),
        "node-b.nodes.wasmpod",
        &ca,
        Some(cluster_certificate(&cluster, "node-a")),
        "/ok",
        &forwarded,
    )
    .expect("node-a's certificate passes the handshake");
    assert!(genuine.starts_with("HTTP/1.1 200"), "{genuine}");
}

#[test]
fn the_peer_listener_refuses_clients_without_a_cluster_ca_certificate() {
    let (cluster, _) = two_tls_nodes();
    let peer_b = host_port(&node_status(&cluster, "node-b", "gateway"));
    let ca = cluster_ca(&cluster);
    let name = "node-b.nodes.wasmpod";
    // Plain HTTP gets no HTTP answer.
    let (code, error) = http_get(&format!("http://{peer_b}/log"));
    assert_eq!(code, 0, "plain HTTP was answered: {error}");
    // TLS without a client certificate, or with one another CA signed: refused at the handshake.
    for (what, client) in [
        ("no client certificate", None),
        (
            "another CA's certificate",
            Some(foreign_certificate("node-a")),
        ),
    ] {
        let refused = tls_get(&peer_b, name, &ca, client, "/log", &[]);
        let error = refused.expect_err(what);
        assert!(
            error.to_lowercase().contains("alert"),
            "{what}: the server refused with a TLS alert: {error}"
        );
    }
    // The peer listener is node-b's: the client's check of the server name holds.
    let wrong_name = tls_get(
        &peer_b,
        "node-a.nodes.wasmpod",
        &ca,
        Some(cluster_certificate(&cluster, "node-a")),
        "/log",
        &[],
    );
    assert!(
        wrong_name.is_err(),
        "node-b's listener passed for node-a: {wrong_name:?}"
    );
    // A cluster-CA certificate passes (the refusals above are the certificates').
    let answered = tls_get(
        &peer_b,
        name,
        &ca,
        Some(cluster_certificate(&cluster, "node-a")),
        "/log",
        &[],
    )
    .expect("a cluster certificate passes");
    assert!(answered.starts_with("HTTP/1.1 "), "{answered}");
}

#[test]
fn logs_of_a_pod_on_a_worker_come_from_its_agent_over_mutual_tls() {
    let (cluster, gateway_a) = two_tls_nodes();
    let pod = cluster.ready_pods("misbehave").remove(0).0;
    wait_until("a logged request", WAIT, || {
        (http_get(&format!("{gateway_a}/log")).0 == 200).then_some(())
    });
    let logs = wait_until("the pod's logs", WAIT, || {
        let out = cluster.cli(&["logs", &pod]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text.contains("log-stdout")).then_some(text)
    });
    assert!(logs.contains("log-stderr"), "{logs}");

    let agent_b = node_status(&cluster, "node-b", "agent");
    assert!(agent_b.starts_with("https://"), "{agent_b}");
    let agent_b = host_port(&agent_b);
    let path = format!("/logs?namespace=default&pod={pod}");
    // Plain HTTP to the agent port gets no answer at all.
    let (code, body) = http_get(&format!("http://{agent_b}{path}"));
    assert_eq!(code, 0, "the agent answered plain HTTP: {body}");
    // TLS without a cluster certificate is refused at the handshake.
    let ca = cluster_ca(&cluster);
    let name = "node-b.nodes.wasmpod";
    let refused = tls_get(&agent_b, name, &ca, None, &path, &[]);
    assert!(refused.is_err(), "{refused:?}");
    // A node's certificate, even with node-b's agent key, is not the control plane's.
    let credential: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cluster.node_dir("node-b").join("node-credential.json"))
            .expect("node-b's credential"),
    )
    .expect("json");
    let agent_key = credential["agentKey"].as_str().expect("agentKey");
    let as_node = tls_get(
        &agent_b,
        name,
        &ca,
        Some(cluster_certificate(&cluster, "node-a")),
        &path,
        &[("x-wasmpod-agent-key", agent_key)],
    )
    .expect("a node certificate passes the handshake");
    assert!(as_node.starts_with("HTTP/1.1 403"), "{as_node}");
    assert!(!as_node.contains("log-stdout"), "{as_node}");
}
