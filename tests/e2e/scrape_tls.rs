//! Scraping the nodes of a TLS cluster: a node's agent port speaks mutual TLS only, so the admin
//! mints a client certificate for Prometheus with `wasmpod create client-certificate` (the key is
//! made by the CLI, only the public key is sent), and a real Prometheus scrapes the node's
//! `/metrics` with it. That certificate opens `/metrics` and nothing else; only the admin mints
//! one, and only for a DNS label. `wasmpod up` prints where its dashboard is.

use std::path::Path;
use std::time::Duration;
use wasmpod_tests::prometheus::{Prometheus, ScrapeJob, ScrapeTls};
use wasmpod_tests::{
    components, http_app, http_get, trusting_client, wait_until, Cluster, MultiNode,
};

const WAIT: Duration = Duration::from_secs(60);

/// `field` of node `node`'s status (`agent`, `gateway`).
fn node_status(cluster: &MultiNode, node: &str, field: &str) -> String {
    cluster
        .items("nodes")
        .iter()
        .find(|n| n["metadata"]["name"] == node)
        .and_then(|n| n["status"][field].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("node {node} has a status.{field}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A client of a node's agent that trusts the cluster CA `ca_pem` and presents `identity` (the
/// PEM of a certificate and its key), if any.
fn agent_client(ca_pem: &str, identity: Option<&str>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA"));
    if let Some(pem) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    builder.build().expect("client")
}

/// The status and body of `GET url` with `client` (with `headers`), or the error.
fn get(
    client: &reqwest::blocking::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().unwrap_or_default()))
}

#[test]
fn prometheus_scrapes_a_tls_clusters_node_with_a_client_certificate_from_the_cli() {
    let mut cluster = MultiNode::start_tls(&[]);
    let gateway = cluster.add_worker("node-a", &[]);
    cluster.apply("app.yaml", &http_app("hello", &components().hello, 1, "/"));
    wait_until("hello serves", WAIT, || {
        (http_get(&format!("{gateway}/")).0 == 200).then_some(())
    });

    // The admin mints the scraper's certificate with the CLI.
    let out_dir = cluster.work.path().join("prometheus-tls");
    let printed = cluster.cli_ok(&[
        "create",
        "client-certificate",
        "prometheus",
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    let key_file = out_dir.join("prometheus.key");
    let cert_file = out_dir.join("prometheus.crt");
    let ca_file = out_dir.join("ca.crt");
    assert!(
        printed.contains(key_file.to_str().expect("utf-8")),
        "{printed}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("the key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");
    }
    let key_pem = read(&key_file);
    assert!(key_pem.contains("PRIVATE KEY"), "{key_pem}");
    let cert_pem = read(&cert_file);
    assert!(
        cert_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{cert_pem}"
    );
    let ca_pem = read(&ca_file);
    assert_eq!(
        ca_pem,
        read(&cluster.work.path().join("server").join("ca.crt")),
        "ca.crt is the cluster CA"
    );

    let agent = node_status(&cluster, "node-a", "agent");
    assert!(agent.starts_with("https://"), "{agent}");
    let scraper = agent_client(&ca_pem, Some(&format!("{cert_pem}{key_pem}")));
    // The certificate reads the node's metrics...
    let (status, text) = get(&scraper, &format!("{agent}/metrics"), &[]).expect("a scrape");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("wasmpod_requests_total"), "{text}");
    // ...but not a pod's log or the pods' figures, even with the node's agent key.
    let credential: serde_json::Value = serde_json::from_str(&read(
        &cluster.node_dir("node-a").join("node-credential.json"),
    ))
    .expect("json");
    let agent_key = credential["agentKey"].as_str().expect("agentKey");
    let pod = cluster.ready_pods("hello").remove(0).0;
    for path in [
        format!("/logs?namespace=default&pod={pod}"),
        "/podmetrics".to_string(),
    ] {
        let (status, body) = get(
            &scraper,
            &format!("{agent}{path}"),
            &[("x-wasmpod-agent-key", agent_key)],
        )
        .expect("an answer");
        assert_eq!(status, 403, "{path} with the scraper's certificate: {body}");
        assert!(body.contains("/metrics and nothing else"), "{body}");
    }
    // Without a client certificate the agent does not answer at all (the handshake fails).
    let refused = get(
        &agent_client(&ca_pem, None),
        &format!("{agent}/metrics"),
        &[],
    );
    assert!(
        refused.is_err(),
        "the agent answered a client without a certificate: {refused:?}"
    );

    // A real Prometheus scrapes the node over mutual TLS with these files.
    let requests = 5;
    for _ in 0..requests {
        assert_eq!(http_get(&format!("{gateway}/")).0, 200);
    }
    let prometheus = Prometheus::start(&[ScrapeJob {
        name: "wasmpod-nodes".into(),
        targets: vec![agent
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string()],
        credentials_file: None,
        tls: Some(ScrapeTls {
            ca_file,
            cert_file,
            key_file,
        }),
    }]);
    prometheus.wait_for(
        "the node's target is up",
        r#"up{job="wasmpod-nodes"}"#,
        WAIT,
        |series| (series.len() == 1 && series[0].1 == 1.0).then_some(()),
    );
    prometheus.wait_for(
        "the node's request counter, scraped over mutual TLS",
        r#"sum(wasmpod_requests_total{job="wasmpod-nodes",service="hello",code="2xx"})"#,
        WAIT,
        |series| {
            series
                .first()
                .is_some_and(|(_, v)| *v >= requests as f64)
                .then_some(())
        },
    );
}

#[test]
fn only_the_admin_mints_client_certificates_and_only_for_dns_labels() {
    let mut cluster = MultiNode::start_tls(&[]);
    cluster.add_worker("node-a", &[]);
    let url = format!("{}/api/v1/clientcertificates", cluster.api);
    let key = rcgen::KeyPair::generate().expect("key");
    let public_key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(key.public_key_raw())
    };
    let client = trusting_client(&cluster.api).build().expect("client");
    let mint = |token: &str, name: &str| -> (u16, String) {
        let response = client
            .post(&url)
            .bearer_auth(token)
            .json(&serde_json::json!({"name": name, "publicKey": public_key}))
            .send()
            .expect("an answer");
        let status = response.status().as_u16();
        (status, response.text().unwrap_or_default())
    };
    // The admin gets one, naming the tool under clients.wasmpod.
    let (status, body) = mint(&cluster.admin_token, "prometheus");
    assert_eq!(status, 200, "{body}");
    let issued: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(issued["dnsName"], "prometheus.clients.wasmpod", "{body}");
    // Tokens of the other roles, and a node's credential, get 403.
    for role in ["view", "edit"] {
        let token = cluster
            .cli_ok(&["create", "token", &format!("t-{role}"), "--role", role])
            .trim()
            .to_string();
        let (status, body) = mint(&token, "prometheus");
        assert_eq!(status, 403, "a {role} token: {body}");
        assert!(
            body.contains("may not create client certificates"),
            "{body}"
        );
    }
    let credential: serde_json::Value = serde_json::from_str(&read(
        &cluster.node_dir("node-a").join("node-credential.json"),
    ))
    .expect("json");
    let (status, body) = mint(credential["token"].as_str().expect("token"), "node-a");
    assert_eq!(status, 403, "a node's credential: {body}");
    // A name that is not a DNS label is 422, whoever asks.
    for name in [
        "Prometheus",
        "a.b",
        "",
        "-x",
        "a_b",
        "../x",
        &"x".repeat(64),
    ] {
        let (status, body) = mint(&cluster.admin_token, name);
        assert_eq!(status, 422, "name {name:?}: {body}");
        assert!(body.contains("client certificate name"), "{body}");
    }
    // The CLI says so too, and writes nothing.
    let out_dir = cluster.work.path().join("refused");
    let out = cluster.cli(&[
        "create",
        "client-certificate",
        "Not_A_Label",
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("Not_A_Label"), "{stderr}");
    assert!(!out_dir.join("Not_A_Label.key").exists());
}

#[test]
fn up_prints_the_dashboard_url() {
    let cluster = Cluster::up(&[]);
    let dashboard = cluster
        .up_output()
        .iter()
        .find_map(|line| line.strip_prefix("dashboard: "))
        .unwrap_or_else(|| panic!("no dashboard line in {:?}", cluster.up_output()));
    let url = format!("{}/ui/", cluster.api);
    assert!(
        dashboard.starts_with(&format!("{url} ")),
        "{dashboard:?} is not {url}"
    );
    assert!(dashboard.contains("any token signs in"), "{dashboard}");
    let (status, page) = http_get(&url);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );
}
