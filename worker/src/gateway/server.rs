//! The gateway's listeners: one OS thread per core, each with a `current_thread` tokio runtime
//! and its own `SO_REUSEPORT` socket on the same port, so the kernel spreads connections and a
//! request never crosses threads (the guest's task is spawned on the same runtime).

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

/// Binds `threads` listeners on `addr` (port 0 picks one free port for all of them) and serves
/// until `shutdown`, every connection under `timeouts`. Returns the bound address and the
/// threads.
pub fn start(
    addr: SocketAddr,
    threads: usize,
    table: Arc<ArcSwap<RoutingTable>>,
    timeouts: ConnectionTimeouts,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, Vec<JoinHandle<()>>)> {
    let first = reuseport_listener(addr)?;
    let bound = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads.max(1) {
        listeners.push(reuseport_listener(bound)?);
    }
    let mut handles = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let table = table.clone();
        let shutdown = shutdown.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = std::thread::Builder::new()
            .name(format!("gateway-{i}"))
            .spawn(move || runtime.block_on(serve(listener, table, timeouts, shutdown)))?;
        handles.push(handle);
    }
    Ok((bound, handles))
}

async fn serve(
    listener: std::net::TcpListener,
    table: Arc<ArcSwap<RoutingTable>>,
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
    crate::listener::accept_loop("gateway", listener, timeouts, shutdown, move |activity| {
        let table = table.clone();
        service_fn(move |req| {
            let table = table.load_full();
            let in_flight = activity.enter();
            async move {
                let response = proxy::handle(table, proxy::boxed(req)).await;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Tracked::new(body, in_flight)),
                )
            }
        })
    })
    .await;
}
