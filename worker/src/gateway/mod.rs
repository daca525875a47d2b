//! The node's gateway: ingress for outside traffic, the hop target for other nodes, and the
//! router for service calls made by this node's pods.

pub mod activator;
pub mod certificates;
#[cfg(test)]
mod dispatch_tests;
pub mod hops;
mod outbound;
pub mod peer_tls;
#[cfg(test)]
mod peer_tls_tests;
pub mod proxy;
mod server;
pub mod service_id;
mod spans;
pub mod table;

pub use outbound::ServiceRouter;
pub use server::{start, Bound, GatewayListeners, PeerListener, TlsIngress};

use crate::context::NodeContext;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;
use table::RoutingTable;
use tokio_util::sync::CancellationToken;
use wasmpod_api::cache::Store;
use wasmpod_api::{Client, Ingress, Node, Pod, Service};

/// The caches the routing table is built from.
pub struct Sources {
    pub ingresses: Store<Ingress>,
    pub services: Store<Service>,
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
}

impl Sources {
    /// Starts the four caches: their read handles, and the tasks that fill them.
    pub fn follow(
        client: &Client,
        shutdown: &CancellationToken,
    ) -> (Sources, Vec<tokio::task::JoinHandle<()>>) {
        let (ingresses, a) = crate::reflector::follow(client, shutdown);
        let (services, b) = crate::reflector::follow(client, shutdown);
        let (pods, c) = crate::reflector::follow(client, shutdown);
        let (nodes, d) = crate::reflector::follow(client, shutdown);
        let sources = Sources {
            ingresses,
            services,
            pods,
            nodes,
        };
        (sources, vec![a, b, c, d])
    }

    /// Whether every cache has had its first complete list.
    fn ready(&self) -> bool {
        self.ingresses.is_ready()
            && self.services.is_ready()
            && self.pods.is_ready()
            && self.nodes.is_ready()
    }
}

/// Rebuilds the routing table whenever an input changes (changes landing together are coalesced).
/// The table counts as synced once every input has had its first complete list; until then the
/// gateway answers 503 with `Retry-After` (never a 404 for a route it has not heard of yet).
pub async fn follow(
    ctx: Arc<NodeContext>,
    sources: Sources,
    table: Arc<ArcSwap<RoutingTable>>,
    forwarder: Arc<table::Forwarder>,
    activator: Arc<activator::Activator>,
    shutdown: CancellationToken,
) {
    // Until every cache has its first list the default table answers 503: a route it has not
    // heard of yet may well exist.
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = async {
            sources.ingresses.ready().await;
            sources.services.ready().await;
            sources.pods.ready().await;
            sources.nodes.ready().await;
        } => {}
    }
    let mut watches = [
        sources.ingresses.subscribe(),
        sources.services.subscribe(),
        sources.pods.subscribe(),
        sources.nodes.subscribe(),
        ctx.local.subscribe(),
    ];
    loop {
        let ingresses = sources.ingresses.list();
        let services = sources.services.list();
        let pods = sources.pods.list();
        let nodes = sources.nodes.list();
        let built = table::build(&table::Inputs {
            node: &ctx.node,
            ingresses: &ingresses,
            services: &services,
            pods: &pods,
            nodes: &nodes,
            local: &ctx.local,
            metrics: &ctx.metrics,
            forwarder: &forwarder,
            synced: sources.ready(),
        });
        table.store(Arc::new(built));
        activator.table_changed();
        let [a, b, c, d, e] = &mut watches;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = a.changed() => {}
            _ = b.changed() => {}
            _ = c.changed() => {}
            _ = d.changed() => {}
            _ = e.changed() => {}
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        for w in watches.iter_mut() {
            w.borrow_and_update();
        }
    }
}
