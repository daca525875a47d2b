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
use tokio_util::sync::CancellationToken;

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
    let plain = bind_all(listen.plain, threads)?;
    let bound_plain = plain[0].local_addr()?;
    let (tls, bound_tls, acceptor) = match &listen.tls {
        Some(ingress) => {
            let listeners = bind_all(ingress.addr, threads)?;
            let addr = listeners[0].local_addr()?;
            let acceptor = tls_acceptor(ingress.certificates.clone())
                .map_err(|e| std::io::Error::other(format!("TLS configuration: {e}")))?;
            (
                listeners.into_iter().map(Some).collect(),
                Some(addr),
                Some(acceptor),
            )
        }
        None => (plain.iter().map(|_| None).collect::<Vec<_>>(), None, None),
    };
    let mut handles = Vec::new();
    for (i, (listener, tls_listener)) in plain.into_iter().zip(tls).enumerate() {
        let table = table.clone();
        let activator = activator.clone();
        let shutdown = shutdown.clone();
        let acceptor = acceptor.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = std::thread::Builder::new()
            .name(format!("gateway-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let tls = tls_listener.zip(acceptor).map(|(listener, acceptor)| {
                        serve(
                            listener,
                            Some(acceptor),
                            table.clone(),
                            activator.clone(),
                            timeouts,
                            shutdown.clone(),
                        )
                    });
                    let plain = serve(listener, None, table, activator, timeouts, shutdown);
                    match tls {
                        Some(tls) => {
                            tokio::join!(plain, tls);
                        }
                        None => plain.await,
                    }
                })
            })?;
        handles.push(handle);
    }
    Ok((
        Bound {
            plain: bound_plain,
            tls: bound_tls,
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
fn tls_acceptor(
    certificates: Arc<Certificates>,
) -> Result<tokio_rustls::TlsAcceptor, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn serve(
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
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
    let what = if tls.is_some() {
        "gateway (TLS)"
    } else {
        "gateway"
    };
    crate::listener::accept_loop(what, listener, tls, timeouts, shutdown, move |activity| {
        let table = table.clone();
        let activator = activator.clone();
        service_fn(move |req| {
            let table = table.load_full();
            let activator = activator.clone();
            let in_flight = activity.enter();
            async move {
                let response = proxy::handle(table, Some(&activator), proxy::boxed(req)).await;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Tracked::new(body, in_flight)),
                )
            }
        })
    })
    .await;
}
