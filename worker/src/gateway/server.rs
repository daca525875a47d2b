//! The gateway's listeners: one OS thread per core, each with a `current_thread` tokio runtime
//! and its own `SO_REUSEPORT` socket on the same port, so the kernel spreads connections and a
//! request never crosses threads (the guest's task is spawned on the same runtime).

use super::activator::Activator;
use super::certificates::Certificates;
use super::proxy;
use super::table::RoutingTable;
use crate::listener::{ConnectionTimeouts, Tracked};
use arc_swap::ArcSwap;
use hyper::service::service_fn;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use wasmpod_api::revocation::RevokedSerials;

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Where the gateway listens: plain HTTP (HTTP/1.1 and h2c) and, optionally, TLS (HTTP/1.1 and
/// HTTP/2 through ALPN) with certificates picked by SNI.
pub struct GatewayListeners {
    pub plain: SocketAddr,
    pub tls: Option<TlsIngress>,
    /// On a TLS cluster, the listener other nodes forward to: mutual TLS with the cluster CA
    /// (see [`super::peer_tls`]).
    pub peer: Option<PeerListener>,
}

/// The node-to-node TLS listener of the gateway.
pub struct PeerListener {
    pub addr: SocketAddr,
    pub config: Arc<rustls::ServerConfig>,
    /// The revoked certificates it refuses on each request (its config's verifier refuses them
    /// in the handshake).
    pub revoked: RevokedSerials,
}

/// The TLS listener of the gateway.
pub struct TlsIngress {
    pub addr: SocketAddr,
    pub certificates: Arc<Certificates>,
}

/// The addresses the gateway bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub plain: SocketAddr,
    pub tls: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
}

/// Binds `threads` listeners on each address (port 0 picks one free port for all of them) and
/// serves until `shutdown`, every connection under `timeouts`. Returns the bound addresses and
/// the threads.
pub fn start(
    listen: GatewayListeners,
    threads: usize,
    table: Arc<ArcSwap<RoutingTable>>,
    activator: Arc<Activator>,
    timeouts: ConnectionTimeouts,
    shutdown: CancellationToken,
) -> std::io::Result<(Bound, Vec<JoinHandle<()>>)> {
    // Per thread: its listener on each address, with how that address accepts.
    type Listening = (std::net::TcpListener, Accepting, &'static str);
    let mut per_thread: Vec<Vec<Listening>> = (0..threads.max(1)).map(|_| Vec::new()).collect();
    let mut add = |addr: SocketAddr,
                   acceptor: Option<TlsAcceptor>,
                   revoked: Option<RevokedSerials>,
                   what: &'static str|
     -> std::io::Result<SocketAddr> {
        let listeners = bind_all(addr, threads)?;
        let bound = listeners[0].local_addr()?;
        for (thread, listener) in per_thread.iter_mut().zip(listeners) {
            let accepting = Accepting {
                tls: acceptor.clone(),
                revoked: revoked.clone(),
            };
            thread.push((listener, accepting, what));
        }
        Ok(bound)
    };
    let bound_plain = add(listen.plain, None, None, "gateway")?;
    let bound_tls = match &listen.tls {
        Some(ingress) => {
            let acceptor = tls_acceptor(ingress.certificates.clone())
                .map_err(|e| std::io::Error::other(format!("TLS configuration: {e}")))?;
            Some(add(ingress.addr, Some(acceptor), None, "gateway (TLS)")?)
        }
        None => None,
    };
    let bound_peer = match &listen.peer {
        Some(peer) => Some(add(
            peer.addr,
            Some(TlsAcceptor::from(peer.config.clone())),
            Some(peer.revoked.clone()),
            "gateway (peers)",
        )?),
        None => None,
    };
    let mut handles = Vec::new();
    for (i, listeners) in per_thread.into_iter().enumerate() {
        let table = table.clone();
        let activator = activator.clone();
        let shutdown = shutdown.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = std::thread::Builder::new()
            .name(format!("gateway-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let served = listeners.into_iter().map(|(listener, accepting, what)| {
                        serve(
                            what,
                            listener,
                            accepting,
                            table.clone(),
                            activator.clone(),
                            timeouts,
                            shutdown.clone(),
                        )
                    });
                    futures::future::join_all(served).await;
                })
            })?;
        handles.push(handle);
    }
    Ok((
        Bound {
            plain: bound_plain,
            tls: bound_tls,
            peer: bound_peer,
        },
        handles,
    ))
}

/// `threads` SO_REUSEPORT listeners on `addr` (the first picks the port when it is 0).
fn bind_all(addr: SocketAddr, threads: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = reuseport_listener(addr)?;
    let bound = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads.max(1) {
        listeners.push(reuseport_listener(bound)?);
    }
    Ok(listeners)
}

/// TLS 1.2 and 1.3 with the certificate SNI picks, offering HTTP/2 before HTTP/1.1 by ALPN.
fn tls_acceptor(certificates: Arc<Certificates>) -> Result<TlsAcceptor, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How one address of the gateway accepts connections: over TLS (the ingress TLS port, the peer
/// listener) or not, and the revoked client certificates it refuses on each request (the peer
/// listener).
struct Accepting {
    tls: Option<TlsAcceptor>,
    revoked: Option<RevokedSerials>,
}

async fn serve(
    what: &'static str,
    listener: std::net::TcpListener,
    Accepting { tls, revoked }: Accepting,
    table: Arc<ArcSwap<RoutingTable>>,
    activator: Arc<Activator>,
    timeouts: ConnectionTimeouts,
    shutdown: CancellationToken,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(%error, "gateway listener failed");
            return;
        }
    };
    crate::listener::accept_loop(what, listener, tls, timeouts, shutdown, move |activity| {
        let table = table.clone();
        let activator = activator.clone();
        let revoked = revoked.clone();
        service_fn(move |req| {
            let table = table.load_full();
            let activator = activator.clone();
            let in_flight = activity.enter();
            // A connection opened (or a TLS session resumed) before its certificate was revoked.
            let refused = super::peer_tls::refuse_revoked(revoked.as_ref(), req.extensions().get());
            async move {
                let response = match refused {
                    Some(refused) => refused,
                    None => proxy::handle(table, Some(&activator), proxy::boxed(req)).await,
                };
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Tracked::new(body, in_flight)),
                )
            }
        })
    })
    .await;
}
