//! Node identity and authorization over the wire (issue 11, findings 1 and 2): the join token only
//! bootstraps, each node acts only for itself, authorization follows the route the router serves
//! (percent-encoded and double-slash paths included), and gateways and node agents authenticate
//! the calling node by its own key.

use std::io::{Read, Write};
use std::time::Duration;
use wasmpod_tests::{components, http_app, http_get_with, wait_until, MultiNode};

const WAIT: Duration = Duration::from_secs(40);

/// One HTTP/1.1 request with exactly this request target (no client-side normalisation).
fn raw(api: &str, method: &str, target: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let addr = api.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("authorization: Bearer {token}\r\n"));
    }
    request.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A node's stored credential: (token, agent key), checking the file is private.
fn credential(cluster: &MultiNode, node: &str) -> (String, String) {
    let path = cluster.node_dir(node).join("node-credential.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("credential file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{} is private", path.display());
    }
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let field = |f: &str| value[f].as_str().expect("credential field").to_string();
    assert_eq!(field("node"), node);
    (field("token"), field("agentKey"))
}

const PINNED: &str = "spec: {nodeSelector: {zone: ZONE}, component:";

/// `hello` behind an ingress, with one replica pinned to zone `zone`.
fn pinned_app(name: &str, zone: &str, path: &str) -> String {
    http_app(name, &components().hello, 1, path)
        .replace("spec: {component:", &PINNED.replace("ZONE", zone))
}

/// Two nodes (zones a and b); `on-a` and `on-b` each run one pod on their node.
fn two_nodes() -> (MultiNode, String, String) {
    let mut cluster = MultiNode::start();
    let gateway_a = cluster.add_worker("node-a", &["--label", "zone=a"]);
    let gateway_b = cluster.add_worker("node-b", &["--label", "zone=b"]);
    cluster.apply("on-a.yaml", &pinned_app("on-a", "a", "/a"));
    cluster.apply("on-b.yaml", &pinned_app("on-b", "b", "/b"));
    wait_until("a ready pod on each node", WAIT, || {
        (cluster.ready_pods("on-a").len() == 1 && cluster.ready_pods("on-b").len() == 1)
            .then_some(())
    });
    // Ready in the API is not yet routed by every gateway: each learns of the pods by its watch.
    wait_until("both gateways route to both apps", WAIT, || {
        [&gateway_a, &gateway_b]
            .iter()
            .all(|g| {
                ["/a", "/b"]
                    .iter()
                    .all(|p| http_get_with(&format!("{g}{p}"), &[]).0 == 200)
            })
            .then_some(())
    });
    (cluster, gateway_a, gateway_b)
}

fn pod_on(cluster: &MultiNode, app: &str) -> String {
    cluster.ready_pods(app).remove(0).0
}

#[test]
fn the_join_token_only_bootstraps_a_node_credential() {
    let (cluster, _, _) = two_nodes();
    let api = &cluster.api;
    let join = Some(cluster.join_token.as_str());
    cluster.apply(
        "secret.yaml",
        "apiVersion: wasmpod.dev/v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2}\n",
    );
    let pod_b = pod_on(&cluster, "on-b");
    let status =
        r#"{"ready": true, "gateway": "http://127.0.0.1:9", "agent": "http://127.0.0.1:9"}"#;
    for (method, target, body) in [
        ("PUT", "/api/v1/nodes/evil/status".to_string(), status),
        ("PUT", "/api/v1/nodes/node-b/status".to_string(), status),
        ("GET", "/api/v1/secrets".to_string(), ""),
        ("GET", "/api/v1/%73ecrets".to_string(), ""),
        ("GET", "/api/v1/%73ecrets/db".to_string(), ""),
        ("GET", format!("/api/v1/pods/{pod_b}/config"), ""),
        ("GET", "/api/v1/pods".to_string(), ""),
        ("POST", "/api/v1/apply".to_string(), r#"{"objects": []}"#),
    ] {
        let (code, text) = raw(api, method, &target, join, body);
        assert_eq!(code, 403, "join token: {method} {target}: {text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("join token may not"), "{text}");
    }
    let (code, text) = raw(api, "GET", "/api/v1/gateway-key", join, "");
    assert_eq!(code, 404, "the cluster-wide gateway key is gone: {text}");
    let admin = Some(cluster.admin_token.as_str());
    assert_eq!(raw(api, "GET", "/api/v1/gateway-key", admin, "").0, 404);
    assert!(
        !cluster
            .items("nodes")
            .iter()
            .any(|n| n["metadata"]["name"] == "evil"),
        "no node registered by a status write"
    );
    // A registered name cannot be taken over with the join token.
    let (code, text) = raw(api, "POST", "/api/v1/nodes/node-b/credential", join, "");
    assert_eq!(code, 409, "{text}");
    assert!(text.contains("wasmpod delete node node-b"), "{text}");
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(events.contains("NodeRegistered"), "{events}");
    // Nothing that a command line shows holds the token.
    let command = format!(
        "{:?}",
        cluster.worker_command("x", &cluster.join_token, &[])
    );
    assert!(!command.contains(&cluster.join_token), "{command}");
    let token_file = cluster.work.path().join("server/join-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file)
            .expect("join-token")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_node_acts_only_for_itself_and_its_pods() {
    let (cluster, _, _) = two_nodes();
    let api = &cluster.api;
    cluster.apply(
        "secret.yaml",
        "apiVersion: wasmpod.dev/v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2}\n",
    );
    let (token_a, _) = credential(&cluster, "node-a");
    let (token_b, _) = credential(&cluster, "node-b");
    assert_ne!(token_a, token_b);
    let a = Some(token_a.as_str());
    let (pod_a, pod_b) = (pod_on(&cluster, "on-a"), pod_on(&cluster, "on-b"));
    let node_b = serde_json::json!({"apiVersion": "wasmpod.dev/v1", "kind": "Node",
        "metadata": {"name": "node-b"}, "spec": {"unschedulable": true}})
    .to_string();
    let running = r#"{"phase": "Failed", "ready": false}"#;
    let status =
        r#"{"ready": true, "gateway": "http://127.0.0.1:9", "agent": "http://127.0.0.1:9"}"#;
    for (method, target, body) in [
        ("PUT", "/api/v1/nodes/node-b".to_string(), node_b.as_str()),
        ("PUT", "/api/v1/nodes/node-b/status".to_string(), status),
        ("PUT", "/api/v1/nodes/evil/status".to_string(), status),
        ("PUT", format!("/api/v1/pods/{pod_b}/status"), running),
        ("GET", format!("/api/v1/pods/{pod_b}/config"), ""),
        ("GET", "/api/v1/secrets".to_string(), ""),
        ("GET", "/api/v1/%73ecrets".to_string(), ""),
        ("GET", "/api/v1/%73ecrets/db".to_string(), ""),
        ("GET", "/api/v1/secrets/db".to_string(), ""),
        ("GET", "/api/v1/deployments".to_string(), ""),
        ("DELETE", format!("/api/v1/pods/{pod_b}"), ""),
        ("POST", "/api/v1/apply".to_string(), r#"{"objects": []}"#),
        ("POST", "/api/v1/nodes/node-z/credential".to_string(), ""),
        ("GET", format!("/api/v1/pods/{pod_a}/log"), ""),
    ] {
        let (code, text) = raw(api, method, &target, a, body);
        assert_eq!(code, 403, "node-a: {method} {target}: {text}");
        assert!(
            text.contains("node \\\"node-a\\\" may not"),
            "the refusal names the identity and verb: {text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
    // Double slashes reach no route at all.
    for target in [
        "//api/v1/secrets",
        "/api/v1//secrets",
        "//api/v1/%73ecrets/db",
    ] {
        let (code, text) = raw(api, "GET", target, a, "");
        assert_eq!(code, 404, "{target}: {text}");
    }
    // What a node needs still works: its own pods' config, reads of what it runs.
    let (code, text) = raw(api, "GET", &format!("/api/v1/pods/{pod_a}/config"), a, "");
    assert_eq!(code, 200, "{text}");
    assert_eq!(raw(api, "GET", "/api/v1/pods", a, "").0, 200);
    // node-b and its pod are untouched.
    let nodes = cluster.items("nodes");
    let b = nodes
        .iter()
        .find(|n| n["metadata"]["name"] == "node-b")
        .expect("node-b");
    assert_ne!(b["spec"]["unschedulable"], true);
    assert_ne!(b["status"]["gateway"], "http://127.0.0.1:9");
    assert_eq!(cluster.ready_pods("on-b").len(), 1);

    // Deleting a node revokes its credential.
    cluster.cli_ok(&["delete", "node", "node-a"]);
    let (code, text) = raw(api, "GET", "/api/v1/pods", a, "");
    assert_eq!(code, 401, "{text}");
}

/// The forward key of the node holding `token` (see `wasmpod_api::gateway_key`).
fn forward_key(token: &str) -> String {
    wasmpod_api::gateway_key::forward_key(token)
}

#[test]
fn gateways_accept_forwarding_only_with_the_key_of_a_present_node() {
    let (cluster, gateway_a, gateway_b) = two_nodes();
    // Real forwarding: node-a has no replica of on-b and forwards to node-b with its own key.
    let (code, body) = http_get_with(&format!("{gateway_a}/b"), &[]);
    assert_eq!((code, body.as_str()), (200, "Hello from wasmpod!\n"));
    let (code, body) = http_get_with(&format!("{gateway_b}/a"), &[]);
    assert_eq!((code, body.as_str()), (200, "Hello from wasmpod!\n"));

    // `hidden` has no ingress rule; only a peer gateway may name it.
    cluster.apply(
        "hidden.yaml",
        &pinned_app("hidden", "b", "/unused")
            .split("---")
            .take(2)
            .collect::<Vec<_>>()
            .join("---"),
    );
    wait_until("hidden ready", WAIT, || {
        (cluster.ready_pods("hidden").len() == 1).then_some(())
    });
    let (token_a, _) = credential(&cluster, "node-a");
    let (token_b, _) = credential(&cluster, "node-b");
    let url = format!("{gateway_b}/anything");
    let service = ("x-wasmpod-service", "default/hidden");
    let key_a = forward_key(&token_a);
    let key_b = forward_key(&token_b);
    for (what, headers) in [
        ("no key", vec![service]),
        (
            "no node",
            vec![service, ("x-wasmpod-forward-key", key_a.as_str())],
        ),
        (
            "a wrong key",
            vec![
                service,
                ("x-wasmpod-node", "node-a"),
                ("x-wasmpod-forward-key", "guessed"),
            ],
        ),
        (
            "another node's key",
            vec![
                service,
                ("x-wasmpod-node", "node-a"),
                ("x-wasmpod-forward-key", key_b.as_str()),
            ],
        ),
        (
            "the credential itself",
            vec![
                service,
                ("x-wasmpod-node", "node-a"),
                ("x-wasmpod-forward-key", token_a.as_str()),
            ],
        ),
        (
            "an unknown node",
            vec![
                service,
                ("x-wasmpod-node", "evil"),
                ("x-wasmpod-forward-key", key_a.as_str()),
            ],
        ),
        (
            "the old shared header",
            vec![service, ("x-wasmpod-gateway-key", key_a.as_str())],
        ),
    ] {
        let (code, body) = http_get_with(&url, &headers);
        assert_eq!(code, 404, "{what} reached the hidden service: {body}");
        assert!(body.contains("no ingress rule"), "{body}");
    }
    let with_a = [
        service,
        ("x-wasmpod-node", "node-a"),
        ("x-wasmpod-forward-key", key_a.as_str()),
    ];
    let (code, body) = http_get_with(&url, &with_a);
    assert_eq!(
        (code, body.as_str()),
        (200, "Hello from wasmpod!\n"),
        "node-a's own key"
    );

    // A deleted node's key opens nothing.
    cluster.cli_ok(&["delete", "node", "node-a"]);
    wait_until("node-a's key refused once it is deleted", WAIT, || {
        (http_get_with(&url, &with_a).0 == 404).then_some(())
    });
}

#[test]
fn a_node_agent_answers_only_its_own_agent_key() {
    let (cluster, _, _) = two_nodes();
    let pod_a = pod_on(&cluster, "on-a");
    // The control plane's log proxy presents node-a's agent key.
    cluster.cli_ok(&["logs", &pod_a]);
    let agent_a = cluster
        .items("nodes")
        .iter()
        .find(|n| n["metadata"]["name"] == "node-a")
        .and_then(|n| n["status"]["agent"].as_str().map(str::to_string))
        .expect("node-a's agent");
    let (_, agent_key_a) = credential(&cluster, "node-a");
    let (_, agent_key_b) = credential(&cluster, "node-b");
    assert_ne!(agent_key_a, agent_key_b);
    let url = format!("{agent_a}/logs?namespace=default&pod={pod_a}");
    for key in ["", "guessed", agent_key_b.as_str()] {
        let (code, body) = http_get_with(&url, &[("x-wasmpod-agent-key", key)]);
        assert_eq!(code, 401, "key {key:?}: {body}");
    }
    let (code, body) = http_get_with(&url, &[("x-wasmpod-agent-key", &agent_key_a)]);
    assert_eq!(code, 200, "{body}");
}
