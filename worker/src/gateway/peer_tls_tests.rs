//! The forwarding client of node-to-node TLS against a real mutual-TLS listener: it reaches the
//! node its URL names and no other, and a second gateway thread's client resumes the session the
//! first one made (one shared session cache).

use super::peer_tls;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::HandshakeKind;
use std::sync::{Arc, Mutex};
use wasmpod_api::node_tls::{mutual_client_config, mutual_server_config, node_dns_name, Identity};
use wasmpod_api::revocation::RevokedSerials;
use wasmpod_api::tls::ClusterCa;

struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    ca: ClusterCa,
}

impl TestCa {
    fn new() -> TestCa {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let certificate = params.clone().self_signed(&key).expect("CA");
        let ca = ClusterCa::from_der(certificate.der().clone()).expect("CA");
        TestCa { params, key, ca }
    }

    fn node(&self, node: &str) -> Identity {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec![node_dns_name(node)]).expect("params");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let leaf = params
            .signed_by(&key, &Issuer::new(self.params.clone(), &self.key))
            .expect("leaf");
        Identity {
            chain: vec![leaf.der().clone(), self.ca.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

/// A mutual-TLS HTTP/1.1 server answering `ok`, recording each handshake's kind.
async fn server(
    ca: &ClusterCa,
    identity: &Identity,
    revoked: &RevokedSerials,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<HandshakeKind>>>) {
    let config =
        mutual_server_config(ca, identity, &[b"http/1.1"], revoked).expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let seen = kinds.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Some(kind) = tls.get_ref().1.handshake_kind() {
                    seen.lock().expect("lock").push(kind);
                }
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(Bytes::from_static(b"ok")),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, kinds)
}

/// What the listener keeps of a connection presenting `identity`.
fn peer(identity: &Identity) -> crate::listener::PeerCertificate {
    crate::listener::PeerCertificate::read(identity.chain[0].clone()).expect("a certificate")
}

fn get(url: &str) -> http::Request<wasmpod_runtime::BoxBody> {
    http::Request::get(url)
        .body(
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("request")
}

#[tokio::test]
async fn the_forwarding_client_reaches_only_the_named_node_and_resumes_sessions() {
    let ca = TestCa::new();
    let (addr, kinds) = server(&ca.ca, &ca.node("node-b"), &RevokedSerials::default()).await;
    let client_config =
        Arc::new(mutual_client_config(&ca.ca, &ca.node("node-a")).expect("client config"));
    let gateway = peer_tls::peer_url("127.0.0.1", addr.port());

    // Two clients, as two gateway threads have, sharing one config.
    let first = peer_tls::client(&client_config);
    let second = std::thread::scope(|s| {
        s.spawn(|| peer_tls::client(&client_config))
            .join()
            .expect("thread")
    });
    let url = format!("{}/", peer_tls::remote_url("node-b", &gateway));
    for client in [&first, &second] {
        let response = client.request(get(&url)).await.expect("node-b answers");
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.expect("body");
        assert_eq!(body.to_bytes(), Bytes::from_static(b"ok"));
    }
    assert_eq!(
        *kinds.lock().expect("lock"),
        vec![HandshakeKind::Full, HandshakeKind::Resumed],
        "the second connection resumed the first one's session"
    );

    // The same address under another node's name: node-b's certificate does not pass for it.
    let wrong = format!("{}/", peer_tls::remote_url("node-c", &gateway));
    assert!(first.request(get(&wrong)).await.is_err());
    // Without a node name there is no server name to expect: refused before connecting.
    assert!(first.request(get(&format!("{gateway}/"))).await.is_err());
}

#[test]
fn forwarded_requests_count_only_with_the_named_nodes_certificate_on_a_tls_cluster() {
    let ca = TestCa::new();
    let a = peer(&ca.node("node-a"));
    assert!(peer_tls::certified(false, b"node-a", None), "plain cluster");
    assert!(peer_tls::certified(true, b"node-a", Some(&a)));
    assert!(!peer_tls::certified(true, b"node-b", Some(&a)));
    assert!(!peer_tls::certified(true, b"node-a", None));
    assert!(!peer_tls::certified(true, b"\xff", Some(&a)));
    assert!(
        peer_tls::certified(true, b"node-a", Some(&a)),
        "asked again"
    );
    // The connection's first claim is remembered, whichever way it went; another is checked.
    let other_connection = peer(&ca.node("node-a"));
    assert!(!peer_tls::certified(
        true,
        b"node-b",
        Some(&other_connection)
    ));
    assert!(!peer_tls::certified(
        true,
        b"node-b",
        Some(&other_connection)
    ));
    assert!(peer_tls::certified(
        true,
        b"node-a",
        Some(&other_connection)
    ));
}

#[tokio::test]
async fn a_revoked_node_certificate_fails_the_handshake_and_its_open_connections_requests() {
    let ca = TestCa::new();
    let revoked = RevokedSerials::default();
    let (addr, _) = server(&ca.ca, &ca.node("node-b"), &revoked).await;
    let url = format!(
        "{}/",
        peer_tls::remote_url("node-b", &peer_tls::peer_url("127.0.0.1", addr.port()))
    );
    let (a, c) = (ca.node("node-a"), ca.node("node-c"));
    // Each its own config (no session to resume), all kept alive: the per-thread clients are
    // keyed by the config's address.
    let configs: Vec<Arc<rustls::ClientConfig>> = [&a, &a, &c]
        .into_iter()
        .map(|identity| Arc::new(mutual_client_config(&ca.ca, identity).expect("client config")))
        .collect();
    let status = |config: &Arc<rustls::ClientConfig>| {
        let request = peer_tls::client(config).request(get(&url));
        async move { request.await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(status(&configs[0]).await.expect("node-a passes"), 200);
    let (peer_a, peer_c) = (peer(&a), peer(&c));
    revoked.replace([peer_a.serial().clone()]);
    assert!(
        status(&configs[1]).await.is_err(),
        "a revoked certificate passed the handshake"
    );
    assert_eq!(status(&configs[2]).await.expect("node-c passes"), 200);

    // A request on a connection made before the revocation is refused by the listener's service.
    let refused = peer_tls::refuse_revoked(Some(&revoked), Some(&peer_a)).expect("refused");
    assert_eq!(refused.status(), 403);
    assert!(peer_tls::refuse_revoked(Some(&revoked), Some(&peer_c)).is_none());
    assert!(
        peer_tls::refuse_revoked(None, Some(&peer_a)).is_none(),
        "plain listener"
    );
    assert!(peer_tls::refuse_revoked(Some(&revoked), None).is_none());
}
