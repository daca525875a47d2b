//! Every route with every kind of credential, over a real socket with the exact request line
//! (percent-encoded and double-slash forms too), against the real router.

use super::auth::{action, authorize, ClusterFacts, Identity, PodBinding, Refusal, Verb};
use super::{router, AppState, Auth};
use crate::blobs::BlobStore;
use crate::node_credentials::{NodeCredentials, Replace};
use crate::registry::{tests::registry, Write};
use crate::user_tokens::{Created, UserTokens};
use axum::http::Method;
use serde_json::json;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use wasmpod_api::tokens::Role;
use wasmpod_api::{AnyObject, Kind};

/// The credentials a request can carry, in the order of a row's expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    None,
    Wrong,
    Admin,
    Join,
    NodeA,
    NodeB,
}

const CREDS: [Cred; 6] = [
    Cred::None,
    Cred::Wrong,
    Cred::Admin,
    Cred::Join,
    Cred::NodeA,
    Cred::NodeB,
];

/// What a request must get: an exact status, or "authorized" (the handler answered: not 401/403).
#[derive(Debug, Clone, Copy)]
enum Want {
    Is(u16),
    Passes,
}
use Want::{Is, Passes};

struct Server {
    addr: std::net::SocketAddr,
    tokens: [Option<String>; 6],
    /// API tokens: view (every namespace), edit (namespace dev), admin.
    roles: [String; 3],
    _dirs: Vec<tempfile::TempDir>,
    shutdown: CancellationToken,
}

fn pod(name: &str, node: &str) -> AnyObject {
    AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "nodeName": node}}))
}

async fn serve() -> Server {
    let (registry_dir, registry) = registry();
    let dir = tempfile::tempdir().expect("tempdir");
    registry
        .commit(vec![
            Write::Put(pod("pa", "node-a")),
            Write::Put(pod("pb", "node-b")),
            Write::Put(AnyObject(
                json!({"apiVersion": "wasmpod.dev/v1", "kind": "Secret",
                "metadata": {"name": "s", "namespace": "default"}, "data": {"k": "c2VjcmV0"}}),
            )),
            Write::Put(AnyObject(
                json!({"apiVersion": "wasmpod.dev/v1", "kind": "Node",
                "metadata": {"name": "node-a"}, "spec": {}}),
            )),
            Write::Put(AnyObject(
                json!({"apiVersion": "wasmpod.dev/v1", "kind": "Namespace",
                "metadata": {"name": "dev"}, "spec": {}}),
            )),
            Write::Put(AnyObject(
                json!({"apiVersion": "wasmpod.dev/v1", "kind": "Secret",
                "metadata": {"name": "s", "namespace": "dev"}, "data": {"k": "c2VjcmV0"}}),
            )),
            Write::Put(AnyObject(
                json!({"apiVersion": "wasmpod.dev/v1", "kind": "Node",
                "metadata": {"name": "node-b"}, "spec": {}}),
            )),
        ])
        .expect("seed");
    let credentials = NodeCredentials::open(registry.store(), &[1; 32], None).expect("open");
    let a = credentials
        .issue("node-a", Replace::Refused)
        .expect("issue")
        .expect("a");
    let b = credentials
        .issue("node-b", Replace::Refused)
        .expect("issue")
        .expect("b");
    let tokens = UserTokens::open(registry.store()).expect("tokens");
    let role_token = |name: &str, role: Role, namespace: Option<&str>| match tokens
        .create(name, role, namespace)
        .expect("create")
    {
        Created::Issued(issued) => issued.token,
        Created::NameTaken => panic!("a new name"),
    };
    let roles = [
        role_token("viewer", Role::View, None),
        role_token("ci", Role::Edit, Some("dev")),
        role_token("root", Role::Admin, None),
    ];
    let shutdown = CancellationToken::new();
    let state = AppState {
        tokens: Arc::new(tokens),
        leadership: crate::leader::Leadership::always(crate::leader::ServerIdentity {
            name: "test".into(),
            url: "http://127.0.0.1:1".into(),
        }),
        registry: Arc::new(registry),
        credentials: Arc::new(credentials),
        blobs: Arc::new(BlobStore::open(&dir.path().join("blobs")).expect("blobs")),
        auth: Arc::new(Auth {
            admin_token: Some("admin-token".into()),
            join_token: Some("join-token".into()),
        }),
        peer_token: crate::peer::PeerToken::derive(&[1; 32]),
        http: reqwest::Client::new(),
        authority: None,
        agents: Arc::new(
            crate::node_agent::NodeAgents::new(reqwest::Client::new(), None).expect("agents"),
        ),
        oci: wasmpod_api::oci::RegistryClient::new(&[]),
        oci_layers: Arc::default(),
        shutdown: shutdown.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router(state))
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    Server {
        addr,
        tokens: [
            None,
            Some("wrong-token".into()),
            Some("admin-token".into()),
            Some("join-token".into()),
            Some(a.token),
            Some(b.token),
        ],
        roles,
        _dirs: vec![registry_dir, dir],
        shutdown,
    }
}

/// One HTTP/1.1 request with exactly this request target: (status, body).
async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {target} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    request.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers in time")
    .expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

const NODE_STATUS: &str = r#"{"ready": true, "gateway": "http://evil:1"}"#;
const POD_STATUS: &str = r#"{"phase": "Running", "ready": true}"#;
const NODE_A: &str = r#"{"apiVersion": "wasmpod.dev/v1", "kind": "Node", "metadata": {"name": "node-a"}, "spec": {}}"#;
const EVENT_PA: &str = r#"{"involvedObject": {"kind": "Pod", "namespace": "default", "name": "pa"}, "type": "Normal", "reason": "Started", "message": "m", "source": "node/node-a"}"#;

/// (method, request target, body, expectations for none, wrong, admin, join, node A, node B).
type Row = (&'static str, &'static str, Option<&'static str>, [Want; 6]);

/// Nobody without a token, any node or the join token may read a secret, however it is spelled.
const SECRET_READ: [Want; 6] = [Is(401), Is(401), Is(200), Is(403), Is(403), Is(403)];
const ADMIN_ONLY: [Want; 6] = [Is(401), Is(401), Passes, Is(403), Is(403), Is(403)];
const NODE_READ: [Want; 6] = [Is(401), Is(401), Is(200), Is(403), Is(200), Is(200)];
const ONLY_A: [Want; 6] = [Is(401), Is(401), Is(200), Is(403), Is(200), Is(403)];
const UNKNOWN: [Want; 6] = [Is(401), Is(401), Is(404), Is(404), Is(404), Is(404)];
const NO_ROUTE: [Want; 6] = [Is(404); 6];

const ROWS: &[Row] = &[
    ("GET", "/healthz", None, [Is(200); 6]),
    ("GET", "/version", None, [Is(200); 6]),
    ("GET", "/api/v1/pods?labelSelector=app%3Da", None, NODE_READ),
    ("GET", "/api/v1/namespaces", None, ADMIN_ONLY),
    (
        "DELETE",
        "/api/v1/namespaces/default",
        None,
        [Is(401), Is(401), Is(403), Is(403), Is(403), Is(403)],
    ),
    (
        "PUT",
        "/api/v1/configmaps/c",
        Some(r#"{"apiVersion": "wasmpod.dev/v1", "kind": "ConfigMap", "metadata": {"name": "c"}}"#),
        ADMIN_ONLY,
    ),
    (
        "POST",
        "/api/v1/apply?create=true&dryRun=All",
        Some(r#"{"objects": []}"#),
        ADMIN_ONLY,
    ),
    ("GET", "/api/v1/secrets", None, SECRET_READ),
    ("GET", "/api/v1/%73ecrets", None, SECRET_READ),
    ("GET", "/api/v1/%73%65%63%72%65%74%73", None, SECRET_READ),
    (
        "GET",
        "/api/v1/secrets?namespace=default",
        None,
        SECRET_READ,
    ),
    ("GET", "/api/v1/secrets/s", None, SECRET_READ),
    ("GET", "/api/v1/%73ecrets/s", None, SECRET_READ),
    ("GET", "/api/v1/secrets/%73", None, SECRET_READ),
    ("GET", "//api/v1/secrets", None, NO_ROUTE),
    // Matches `/api/v1/{plural}/{name}` with an empty kind: authenticated, then 404.
    ("GET", "/api/v1//secrets", None, UNKNOWN),
    ("GET", "//api/v1/%73ecrets/s", None, NO_ROUTE),
    ("GET", "/api/v1/secrets/s/", None, NO_ROUTE),
    ("PUT", "/api/v1/secrets/s/status", Some("{}"), ADMIN_ONLY),
    ("GET", "/api/v1/gateway-key", None, UNKNOWN),
    ("GET", "/api/v1/nothings", None, UNKNOWN),
    ("GET", "/api/v1/pods", None, NODE_READ),
    ("GET", "/api/v1/%70ods", None, NODE_READ),
    ("GET", "/api/v1/nodes/node-b", None, NODE_READ),
    ("GET", "/api/v1/configmaps", None, NODE_READ),
    ("GET", "/api/v1/services", None, NODE_READ),
    ("GET", "/api/v1/ingresses", None, NODE_READ),
    ("GET", "/api/v1/persistentvolumeclaims", None, NODE_READ),
    ("GET", "/api/v1/deployments", None, ADMIN_ONLY),
    ("GET", "/api/v1/statefulsets", None, ADMIN_ONLY),
    ("GET", "/api/v1/events", None, ADMIN_ONLY),
    ("GET", "/api/v1/pods/pa/config", None, ONLY_A),
    ("GET", "/api/v1/pods/p%61/config", None, ONLY_A),
    ("GET", "/api/v1/%70ods/pa/config", None, ONLY_A),
    (
        "GET",
        "/api/v1/pods/pa/config?namespace=other",
        None,
        [Is(401), Is(401), Is(404), Is(403), Is(404), Is(404)],
    ),
    (
        "PUT",
        "/api/v1/pods/nothing/status",
        Some(POD_STATUS),
        [Is(401), Is(401), Is(404), Is(403), Is(404), Is(404)],
    ),
    ("PUT", "/api/v1/pods/pa/status", Some(POD_STATUS), ONLY_A),
    ("PUT", "/api/v1/pods/p%61/status", Some(POD_STATUS), ONLY_A),
    (
        "PUT",
        "/api/v1/nodes/node-a/status",
        Some(NODE_STATUS),
        ONLY_A,
    ),
    (
        "PUT",
        "/api/v1/nodes/node-%61/status",
        Some(NODE_STATUS),
        ONLY_A,
    ),
    (
        "PUT",
        "/api/v1/nodes/evil/status",
        Some(NODE_STATUS),
        [Is(401), Is(401), Is(404), Is(403), Is(403), Is(403)],
    ),
    // Authorized for the admin and node A; the write itself is then refused (409) for carrying
    // no resourceVersion (e2e: cluster::node_writes_state_the_version_they_read).
    (
        "PUT",
        "/api/v1/nodes/node-a",
        Some(NODE_A),
        [Is(401), Is(401), Passes, Is(403), Passes, Is(403)],
    ),
    (
        "DELETE",
        "/api/v1/pods/nothing",
        None,
        [Is(401), Is(401), Is(404), Is(403), Is(403), Is(403)],
    ),
    (
        "DELETE",
        "/api/v1/nodes/nothing",
        None,
        [Is(401), Is(401), Is(404), Is(403), Is(403), Is(403)],
    ),
    (
        "POST",
        "/api/v1/apply",
        Some(r#"{"objects": []}"#),
        ADMIN_ONLY,
    ),
    (
        "POST",
        "/api/v1/deployments/nothing/scale",
        Some(r#"{"replicas": 1}"#),
        ADMIN_ONLY,
    ),
    ("GET", "/api/v1/pods/pa/log", None, ADMIN_ONLY),
    ("GET", "/api/v1/cluster", None, ADMIN_ONLY),
    ("GET", "/metrics", None, ADMIN_ONLY),
    ("GET", "/api/v1/podmetrics", None, ADMIN_ONLY),
    (
        "GET",
        "/api/v1/namespaces/default/podmetrics",
        None,
        ADMIN_ONLY,
    ),
    ("GET", "/api/v1/%63luster", None, UNKNOWN),
    ("POST", "/api/v1/blobs", Some("not wasm"), ADMIN_ONLY),
    (
        "GET",
        "/api/v1/blobs/sha256:00",
        None,
        [Is(401), Is(401), Passes, Is(403), Passes, Passes],
    ),
    ("POST", "/api/v1/events", Some(EVENT_PA), ONLY_A),
    (
        "POST",
        "/api/v1/nodes/node-c/credential",
        None,
        [Is(401), Is(401), Is(200), Is(409), Is(403), Is(403)],
    ),
    (
        "POST",
        "/api/v1/pods/pa/credential",
        None,
        [Is(401), Is(401), Is(404), Is(403), Is(403), Is(403)],
    ),
    // A tool's client certificate: the admin only, never a node or the join token (this
    // server has no CA: 404).
    (
        "POST",
        "/api/v1/clientcertificates",
        Some(r#"{"name":"prometheus","publicKey":"AAAA"}"#),
        [Is(401), Is(401), Is(404), Is(403), Is(403), Is(403)],
    ),
    // Listing and revoking them: the admin only (no CA: 404); every node reads the revoked
    // serials (no CA: none).
    (
        "GET",
        "/api/v1/clientcertificates",
        None,
        [Is(401), Is(401), Is(404), Is(403), Is(403), Is(403)],
    ),
    (
        "DELETE",
        "/api/v1/clientcertificates/prometheus",
        None,
        [Is(401), Is(401), Is(404), Is(403), Is(403), Is(403)],
    ),
    (
        "GET",
        "/api/v1/revokedcertificates",
        None,
        [Is(401), Is(401), Is(200), Is(403), Is(200), Is(200)],
    ),
    // The nodes' certificates (serials and ends): read as nodes are (no CA: 404).
    (
        "GET",
        "/api/v1/nodecertificates",
        None,
        [Is(401), Is(401), Is(404), Is(403), Is(404), Is(404)],
    ),
];

#[tokio::test]
async fn every_route_with_every_credential() {
    let server = serve().await;
    let mut failures = Vec::new();
    for (method, target, body, wants) in ROWS {
        for (cred, want) in CREDS.iter().zip(wants) {
            let token = server.tokens[*cred as usize].as_deref();
            let (status, text) = send(server.addr, method, target, token, *body).await;
            let ok = match want {
                Is(code) => status == *code,
                Passes => status != 401 && status != 403 && status != 0,
            };
            if !ok {
                failures.push(format!(
                    "{method} {target} with {cred:?}: got {status}, want {want:?}: {text}"
                ));
            }
            if status == 200 && *cred != Cred::Admin && target.contains("ecret") {
                failures.push(format!("{method} {target} with {cred:?} read a secret"));
            }
        }
    }
    server.shutdown.cancel();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_join_token_cannot_take_over_a_registered_node_and_deleting_revokes() {
    let server = serve().await;
    let join = server.tokens[Cred::Join as usize].as_deref();
    let admin = server.tokens[Cred::Admin as usize].as_deref();
    let node_a = server.tokens[Cred::NodeA as usize].as_deref();
    let (status, body) = send(
        server.addr,
        "POST",
        "/api/v1/nodes/node-a/credential",
        join,
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("wasmpod delete node node-a"), "{body}");
    let (status, _) = send(server.addr, "GET", "/api/v1/pods", node_a, None).await;
    assert_eq!(status, 200, "node A's credential still works");
    let (status, _) = send(server.addr, "DELETE", "/api/v1/nodes/node-a", admin, None).await;
    assert_eq!(status, 200);
    let (status, _) = send(server.addr, "GET", "/api/v1/pods", node_a, None).await;
    assert_eq!(status, 401, "a deleted node's credential is revoked");
    let (status, body) = send(
        server.addr,
        "POST",
        "/api/v1/nodes/node-a/credential",
        join,
        None,
    )
    .await;
    assert_eq!(status, 200, "the name is free again: {body}");
    let events = send(server.addr, "GET", "/api/v1/events", admin, None)
        .await
        .1;
    assert!(
        events.contains("NodeRegistered") && events.contains("NodeCredentialRevoked"),
        "{events}"
    );
    server.shutdown.cancel();
}

#[test]
fn actions_come_from_the_route_template_and_decoded_params() {
    let params = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let a = action(
        "/api/v1/{plural}",
        &Method::GET,
        &params(&[("plural", "pods")]),
        None,
        true,
    )
    .expect("action");
    assert_eq!((a.verb, a.kind), (Verb::Watch, Some(Kind::Pod)));
    assert_eq!(a.namespace, "default");
    assert!(matches!(
        action(
            "/api/v1/{plural}",
            &Method::GET,
            &params(&[("plural", "nope")]),
            None,
            false
        ),
        Err(Refusal::NotFound(_))
    ));
    assert!(matches!(
        action("/api/v1/new-route", &Method::GET, &[], None, false),
        Err(Refusal::Forbidden(_))
    ));
    let node = Identity::Node("node-a".into());
    let secrets = action(
        "/api/v1/{plural}/{name}",
        &Method::GET,
        &params(&[("plural", "secrets"), ("name", "s")]),
        None,
        false,
    )
    .expect("action");
    let refused = authorize(&node, &secrets, &Facts { certificate: None }).expect_err("refused");
    assert_eq!(
        refused,
        Refusal::Forbidden("node \"node-a\" may not get secrets default/s".into())
    );
    // The certificate of an ingress: readable by nodes, and only by its name in its namespace.
    let ingress_certificate = Facts {
        certificate: Some(("default", "s")),
    };
    authorize(&node, &secrets, &ingress_certificate).expect("an ingress certificate");
    let other = action(
        "/api/v1/{plural}/{name}",
        &Method::GET,
        &params(&[("plural", "secrets"), ("name", "s")]),
        Some("other".into()),
        false,
    )
    .expect("action");
    authorize(&node, &other, &ingress_certificate).expect_err("another namespace's secret");
    let list = action(
        "/api/v1/{plural}",
        &Method::GET,
        &params(&[("plural", "secrets")]),
        None,
        false,
    )
    .expect("action");
    authorize(&node, &list, &ingress_certificate).expect_err("listing secrets");
}

/// Facts for the authorizer: no pods, and at most one Secret an Ingress names in `spec.tls`.
struct Facts {
    certificate: Option<(&'static str, &'static str)>,
}

impl ClusterFacts for Facts {
    fn pod_binding(&self, _: &str, _: &str) -> PodBinding {
        PodBinding::Missing
    }

    fn is_ingress_certificate(&self, namespace: &str, name: &str) -> bool {
        self.certificate == Some((namespace, name))
    }
}

#[tokio::test]
async fn the_peer_token_reads_and_replicates_blobs_and_nothing_else() {
    let server = serve().await;
    let peer = crate::peer::PeerToken::derive(&[1; 32]);
    let other_key = crate::peer::PeerToken::derive(&[2; 32]);
    let node_a = server.tokens[Cred::NodeA as usize].as_deref();
    let digest = format!("sha256:{}", "0".repeat(64));
    let blob = format!("/api/v1/blobs/{digest}");
    let peer_rows: &[(&str, &str, Option<&str>, u16)] = &[
        // Authorized; the bytes do not have the digest: 400.
        ("PUT", &blob, Some("not these bytes"), 400),
        ("GET", &blob, None, 404),
        ("GET", "/api/v1/pods", None, 403),
        ("GET", "/api/v1/secrets", None, 403),
        ("GET", "/api/v1/cluster", None, 403),
        ("POST", "/api/v1/apply", Some(r#"{"objects": []}"#), 403),
        ("POST", "/api/v1/blobs", Some("not wasm"), 403),
    ];
    let mut failures = Vec::new();
    for (method, target, body, want) in peer_rows {
        let (status, text) = send(server.addr, method, target, Some(peer.as_str()), *body).await;
        if status != *want {
            failures.push(format!(
                "peer {method} {target}: got {status}, want {want}: {text}"
            ));
        }
    }
    // A token derived from another key is nobody; a node may not store replicas.
    let (status, _) = send(server.addr, "GET", &blob, Some(other_key.as_str()), None).await;
    if status != 401 {
        failures.push(format!("a token from another key got {status}"));
    }
    let (status, _) = send(server.addr, "PUT", &blob, node_a, Some("x")).await;
    if status != 403 {
        failures.push(format!("a node storing a replica got {status}"));
    }
    server.shutdown.cancel();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const CM_DEV: &str = r#"{"objects": [{"apiVersion": "wasmpod.dev/v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "dev"}, "data": {"k": "v"}}]}"#;
const CM_DEFAULT: &str = r#"{"objects": [{"apiVersion": "wasmpod.dev/v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}]}"#;
const SECRET_DEV: &str = r#"{"objects": [{"apiVersion": "wasmpod.dev/v1", "kind": "Secret", "metadata": {"name": "t", "namespace": "dev"}, "data": {"k": "dg=="}}]}"#;
const NAMESPACE_X: &str = r#"{"objects": [{"apiVersion": "wasmpod.dev/v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {}}]}"#;
const TOKEN_X: &str = r#"{"name": "x", "role": "view"}"#;

/// (method, request target, body, expectations for view, edit in namespace dev, admin role).
type RoleRow = (&'static str, &'static str, Option<&'static str>, [Want; 3]);

const ROLE_ROWS: &[RoleRow] = &[
    // Reads: view reads every namespace; edit only its own. (A watch follows the list rule; a
    // served watch never ends, so it is not a row here.)
    ("GET", "/api/v1/pods", None, [Is(200), Is(403), Is(200)]),
    ("GET", "/api/v1/pods?namespace=dev", None, [Is(200); 3]),
    // Any role reads the server's metrics; pod figures follow the pod list rule.
    ("GET", "/metrics", None, [Is(200); 3]),
    (
        "GET",
        "/api/v1/podmetrics",
        None,
        [Is(200), Is(403), Is(200)],
    ),
    (
        "GET",
        "/api/v1/podmetrics?namespace=dev",
        None,
        [Is(200); 3],
    ),
    (
        "GET",
        "/api/v1/namespaces/dev/podmetrics",
        None,
        [Is(200); 3],
    ),
    (
        "GET",
        "/api/v1/namespaces/default/podmetrics",
        None,
        [Is(200), Is(403), Is(200)],
    ),
    (
        "GET",
        "/api/v1/pods?namespace=default",
        None,
        [Is(200), Is(403), Is(200)],
    ),
    ("GET", "/api/v1/events?namespace=dev", None, [Is(200); 3]),
    (
        "GET",
        "/api/v1/deployments?namespace=dev",
        None,
        [Is(200); 3],
    ),
    // Secrets: never to view; edit in its namespace only.
    ("GET", "/api/v1/secrets", None, [Is(403), Is(403), Is(200)]),
    (
        "GET",
        "/api/v1/secrets?namespace=dev",
        None,
        [Is(403), Is(200), Is(200)],
    ),
    (
        "GET",
        "/api/v1/secrets/s?namespace=dev",
        None,
        [Is(403), Is(200), Is(200)],
    ),
    (
        "GET",
        "/api/v1/%73ecrets/s?namespace=dev",
        None,
        [Is(403), Is(200), Is(200)],
    ),
    (
        "GET",
        "/api/v1/secrets/s",
        None,
        [Is(403), Is(403), Is(200)],
    ),
    // A pod's resolved config holds secret values.
    (
        "GET",
        "/api/v1/pods/pa/config",
        None,
        [Is(403), Is(403), Is(200)],
    ),
    (
        "GET",
        "/api/v1/pods/pa/config?namespace=dev",
        None,
        [Is(403), Is(404), Is(404)],
    ),
    // Cluster-scoped kinds: read by unscoped tokens; a scoped token reads its own Namespace only.
    ("GET", "/api/v1/nodes", None, [Is(200), Is(403), Is(200)]),
    (
        "GET",
        "/api/v1/namespaces",
        None,
        [Is(200), Is(403), Is(200)],
    ),
    ("GET", "/api/v1/namespaces/dev", None, [Is(200); 3]),
    (
        "GET",
        "/api/v1/namespaces/default",
        None,
        [Is(200), Is(403), Is(200)],
    ),
    (
        "DELETE",
        "/api/v1/nodes/node-b",
        None,
        [Is(403), Is(403), Is(200)],
    ),
    (
        "DELETE",
        "/api/v1/namespaces/nothing",
        None,
        [Is(403), Is(403), Is(404)],
    ),
    // Writes: edit in its namespace, for workload, config and secret kinds.
    (
        "POST",
        "/api/v1/apply?dryRun=All",
        Some(CM_DEV),
        [Is(403), Is(200), Is(200)],
    ),
    (
        "POST",
        "/api/v1/apply?dryRun=All",
        Some(SECRET_DEV),
        [Is(403), Is(200), Is(200)],
    ),
    (
        "POST",
        "/api/v1/apply?dryRun=All",
        Some(CM_DEFAULT),
        [Is(403), Is(403), Is(200)],
    ),
    (
        "POST",
        "/api/v1/apply?dryRun=All",
        Some(NAMESPACE_X),
        [Is(403), Is(403), Is(200)],
    ),
    (
        "DELETE",
        "/api/v1/configmaps/nothing?namespace=dev",
        None,
        [Is(403), Is(404), Is(404)],
    ),
    (
        "DELETE",
        "/api/v1/configmaps/nothing?namespace=default",
        None,
        [Is(403), Is(403), Is(404)],
    ),
    (
        "DELETE",
        "/api/v1/secrets/nothing?namespace=dev",
        None,
        [Is(403), Is(404), Is(404)],
    ),
    (
        "POST",
        "/api/v1/deployments/nothing/scale?namespace=dev",
        Some(r#"{"replicas": 1}"#),
        [Is(403), Is(404), Is(404)],
    ),
    (
        "POST",
        "/api/v1/blobs",
        Some("not wasm"),
        [Is(403), Passes, Passes],
    ),
    (
        "GET",
        "/api/v1/blobs/sha256:00",
        None,
        [Passes, Passes, Passes],
    ),
    // What only nodes, the join token or the admin do.
    (
        "PUT",
        "/api/v1/pods/pa/status",
        Some(POD_STATUS),
        [Is(403), Is(403), Is(200)],
    ),
    (
        "PUT",
        "/api/v1/nodes/node-a/status",
        Some(NODE_STATUS),
        [Is(403), Is(403), Is(200)],
    ),
    (
        "POST",
        "/api/v1/events",
        Some(EVENT_PA),
        [Is(403), Is(403), Is(200)],
    ),
    (
        "POST",
        "/api/v1/nodes/node-c/credential",
        None,
        [Is(403), Is(403), Is(200)],
    ),
    // Tokens: the admin role only.
    ("GET", "/api/v1/tokens", None, [Is(403), Is(403), Is(200)]),
    (
        "POST",
        "/api/v1/tokens",
        Some(TOKEN_X),
        [Is(403), Is(403), Is(200)],
    ),
    (
        "DELETE",
        "/api/v1/tokens/nothing",
        None,
        [Is(403), Is(403), Is(404)],
    ),
    // Client certificates: the admin role only (this server has no CA: 404).
    (
        "POST",
        "/api/v1/clientcertificates",
        Some(r#"{"name":"prometheus","publicKey":"AAAA"}"#),
        [Is(403), Is(403), Is(404)],
    ),
    (
        "GET",
        "/api/v1/clientcertificates",
        None,
        [Is(403), Is(403), Is(404)],
    ),
    (
        "DELETE",
        "/api/v1/clientcertificates/prometheus",
        None,
        [Is(403), Is(403), Is(404)],
    ),
    (
        "GET",
        "/api/v1/revokedcertificates",
        None,
        [Is(403), Is(403), Is(200)],
    ),
    // Nodes are cluster-wide: a namespace-scoped token does not read their certificates.
    (
        "GET",
        "/api/v1/nodecertificates",
        None,
        [Is(404), Is(403), Is(404)],
    ),
];

#[tokio::test]
async fn every_role_and_namespace_scope_on_every_kind_of_route() {
    let server = serve().await;
    let mut failures = Vec::new();
    for (method, target, body, wants) in ROLE_ROWS {
        for (i, want) in wants.iter().enumerate() {
            let who = ["view", "edit in dev", "admin"][i];
            let (status, text) =
                send(server.addr, method, target, Some(&server.roles[i]), *body).await;
            let ok = match want {
                Is(code) => status == *code,
                Passes => status != 401 && status != 403 && status != 0,
            };
            if !ok {
                failures.push(format!(
                    "{method} {target} as {who}: got {status}, want {want:?}: {text}"
                ));
            }
        }
    }
    server.shutdown.cancel();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_refusal_names_the_token_its_role_and_the_verb() {
    let server = serve().await;
    let (status, body) = send(
        server.addr,
        "DELETE",
        "/api/v1/nodes/node-b",
        Some(&server.roles[1]),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(r#"token \"ci\" (role edit, namespace dev) may not delete nodes node-b"#),
        "{body}"
    );
    let (status, body) = send(
        server.addr,
        "GET",
        "/api/v1/secrets/s",
        Some(&server.roles[0]),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(r#"token \"viewer\" (role view) may not get secrets default/s"#)
            && body.contains("the view role reads no Secret"),
        "{body}"
    );
    let (status, body) = send(
        server.addr,
        "GET",
        "/api/v1/pods",
        Some(&server.roles[1]),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("list pods in every namespace: outside the token's namespace"),
        "{body}"
    );
    // An admin token is not namespaced; a deleted token is nobody.
    let admin = Some(server.roles[2].as_str());
    let (status, body) = send(
        server.addr,
        "POST",
        "/api/v1/tokens",
        admin,
        Some(r#"{"name": "x", "role": "admin", "namespace": "dev"}"#),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = send(server.addr, "GET", "/api/v1/tokens", admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""name":"ci""#) && !body.contains("wpt_") && !body.contains("sha256"),
        "{body}"
    );
    let (status, _) = send(server.addr, "DELETE", "/api/v1/tokens/ci", admin, None).await;
    assert_eq!(status, 200);
    let (status, _) = send(
        server.addr,
        "GET",
        "/api/v1/pods?namespace=dev",
        Some(&server.roles[1]),
        None,
    )
    .await;
    assert_eq!(status, 401, "a deleted token is refused");
    server.shutdown.cancel();
}

/// Sends a request with `length` bytes of body (writing while it reads, ignoring a reset once
/// the server has answered) and returns the answer's status: 413 when the route's limit is less.
async fn announce(addr: std::net::SocketAddr, target: &str, length: usize) -> u16 {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST {target} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer admin-token\r\n\
         content-type: application/json\r\nconnection: close\r\ncontent-length: {length}\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        write.write_all(&vec![b' '; length]).await
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        read.read_to_end(&mut answer),
    )
    .await;
    writer.abort();
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn json_routes_take_4_mib_and_only_the_blob_routes_take_more() {
    let server = serve().await;
    let five_mib = 5 << 20;
    for target in [
        "/api/v1/apply",
        "/api/v1/events",
        "/api/v1/tokens",
        "/api/v1/deployments/d/scale",
    ] {
        assert_eq!(
            announce(server.addr, target, five_mib).await,
            413,
            "{target}"
        );
    }
    // The blob upload reads 5 MiB (and then refuses it for not being a component).
    let blob = "x".repeat(five_mib);
    let (status, body) = send(
        server.addr,
        "POST",
        "/api/v1/blobs",
        Some("admin-token"),
        Some(&blob),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // Under the limit, a JSON route reads the body as before.
    let (status, body) = send(
        server.addr,
        "POST",
        "/api/v1/apply",
        Some("admin-token"),
        Some(&format!(
            r#"{{"objects": [], "pad": "{}"}}"#,
            "x".repeat(3 << 20)
        )),
    )
    .await;
    assert_ne!(status, 413, "{body}");
    server.shutdown.cancel();
}

/// JSON-ish bodies: random text, and documents of the API's shapes with random values.
fn random_body() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let value = prop::sample::select(vec![
        "null",
        "-1",
        "1e400",
        "\"\"",
        "\"x\"",
        "[]",
        "{}",
        "true",
        "18446744073709551616",
        r#"{"name": "x"}"#,
        r#"{"kind": "Pod"}"#,
        r#""wasmpod.dev/v1""#,
        r#"[{"a": 1}]"#,
    ]);
    let key = prop::sample::select(vec![
        "objects",
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "status",
        "replicas",
        "name",
        "role",
        "namespace",
        "involvedObject",
        "type",
        "reason",
        "data",
        "phase",
    ]);
    prop_oneof![
        any::<String>(),
        prop::collection::vec((key, value), 0..6).prop_map(|fields| {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            format!("{{{}}}", body.join(", "))
        }),
    ]
}

/// The API's handlers answer any body on any route with a status below 500 (a panic would drop
/// the connection: status 0). Bounded here (64 cases); `just fuzz` runs more.
#[test]
fn handlers_answer_random_bodies_without_panicking() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(serve());
    let routes = prop::sample::select(vec![
        ("POST", "/api/v1/apply"),
        ("POST", "/api/v1/apply?dryRun=All"),
        ("POST", "/api/v1/apply?create=true"),
        ("POST", "/api/v1/events"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/deployments/d/scale"),
        ("PUT", "/api/v1/pods/pa/status"),
        ("PUT", "/api/v1/nodes/node-a/status"),
        ("PUT", "/api/v1/nodes/node-a"),
        ("PUT", "/api/v1/configmaps/c"),
        ("POST", "/api/v1/blobs"),
    ]);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let tokens = [
        Some("admin-token"),
        server.tokens[Cred::NodeA as usize].as_deref(),
    ];
    let result = runner.run(
        &(routes, random_body(), 0..tokens.len()),
        |((method, target), body, who)| {
            let (status, text) =
                runtime.block_on(send(server.addr, method, target, tokens[who], Some(&body)));
            prop_assert!(
                (200..500).contains(&status),
                "{method} {target} {body:?}: {status} {text}"
            );
            Ok(())
        },
    );
    server.shutdown.cancel();
    if let Err(error) = result {
        panic!("{error}");
    }
}
