//! Service calls from guests: `http://NAME/...` (also `NAME.NAMESPACE`, `NAME.svc`,
//! `NAME.NAMESPACE.svc`) resolves to the service's endpoints through the same table as ingress;
//! a replica on this node is called in process, without a socket.

use super::service_id::ServiceId;
use super::table::RoutingTable;
use super::{hops, proxy};
use arc_swap::ArcSwap;
use std::sync::Arc;
use wasmpod_runtime::{BoxBody, OutboundRouter, RouteOutcome};

pub struct ServiceRouter {
    pub table: Arc<ArcSwap<RoutingTable>>,
    pub namespace: String,
    /// The pod whose calls this routes (for events).
    pub pod: String,
    pub client: wasmpod_api::Client,
    pub node: String,
    /// Holds a call to a service at zero replicas while it comes back, as for ingress.
    pub activator: Arc<super::activator::Activator>,
    /// `wasmpod_egress_denied_total` of this pod.
    pub denied: wasmpod_api::metrics::Counter,
}

impl OutboundRouter for ServiceRouter {
    fn route(&self, request: http::Request<BoxBody>) -> RouteOutcome {
        let uri = request.uri();
        if uri.scheme_str() != Some("http") || uri.port_u16().is_some_and(|p| p != 80) {
            return RouteOutcome::NotMine(request);
        }
        let Some(id) = uri
            .host()
            .and_then(|h| ServiceId::from_host(h, &self.namespace))
        else {
            return RouteOutcome::NotMine(request);
        };
        let table = self.table.load();
        if !table.synced() {
            // Whether NAME is a service is not known yet: not a denial, a retry later.
            return RouteOutcome::Routed(Box::pin(async { Ok(proxy::not_synced()) }));
        }
        let Some(endpoints) = table.service(&id).cloned() else {
            return RouteOutcome::NotMine(request);
        };
        if let Some(refused) = hops::check(&endpoints.service, request.headers()) {
            return RouteOutcome::Routed(Box::pin(async move { Ok(refused) }));
        }
        let activator = self.activator.clone();
        RouteOutcome::Routed(Box::pin(async move {
            match activator.endpoints(endpoints).await {
                Ok(endpoints) => Ok(proxy::dispatch(endpoints, request, true).await),
                Err(unavailable) => Ok(unavailable),
            }
        }))
    }

    fn denied(&self, target: &str) {
        self.denied.inc();
        crate::pod_events::report(
            &self.client,
            &self.node,
            &self.namespace,
            &self.pod,
            wasmpod_api::EventType::Warning,
            "EgressDenied",
            format!("outbound request to {target} denied: not a service and not in allowedOutboundHosts"),
        );
    }
}
