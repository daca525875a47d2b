//! Service calls from guests: `http://NAME/...` (also `NAME.NAMESPACE`, `NAME.svc`,
//! `NAME.NAMESPACE.svc`) resolves to the service's endpoints through the same table as ingress;
//! a replica on this node is called in process, without a socket.

use super::table::RoutingTable;
use super::{hops, proxy};
use arc_swap::ArcSwap;
use std::sync::Arc;
use wasmpod_runtime::{BoxBody, OutboundRouter, RoutedFuture};

pub struct ServiceRouter {
    pub table: Arc<ArcSwap<RoutingTable>>,
    pub namespace: String,
    /// The pod whose calls this routes (for events).
    pub pod: String,
    pub client: wasmpod_api::Client,
    pub node: String,
}

/// The `namespace/name` a host names, if it has a service form.
fn service_id(host: &str, namespace: &str) -> Option<String> {
    let host = host.trim_end_matches(".cluster.local");
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        [name] | [name, "svc"] => Some(format!("{namespace}/{name}")),
        [name, ns] | [name, ns, "svc"] => Some(format!("{ns}/{name}")),
        _ => None,
    }
}

impl OutboundRouter for ServiceRouter {
    fn route(
        &self,
        request: http::Request<BoxBody>,
    ) -> Result<RoutedFuture, http::Request<BoxBody>> {
        let uri = request.uri();
        if uri.scheme_str() != Some("http") || uri.port_u16().is_some_and(|p| p != 80) {
            return Err(request);
        }
        let Some(id) = uri.host().and_then(|h| service_id(h, &self.namespace)) else {
            return Err(request);
        };
        let table = self.table.load();
        if !table.synced() {
            // Whether NAME is a service is not known yet: not a denial, a retry later.
            return Ok(Box::pin(async { Ok(proxy::not_synced()) }));
        }
        let Some(endpoints) = table.service(&id).cloned() else {
            return Err(request);
        };
        if let Some(refused) = hops::check(&endpoints.service, request.headers()) {
            return Ok(Box::pin(async move { Ok(refused) }));
        }
        Ok(Box::pin(async move {
            Ok(proxy::dispatch(endpoints, request, true).await)
        }))
    }

    fn denied(&self, target: &str) {
        let report = wasmpod_api::client::EventReport {
            involved_object: wasmpod_api::ObjectReference {
                kind: "Pod".into(),
                namespace: self.namespace.clone(),
                name: self.pod.clone(),
            },
            event_type: wasmpod_api::EventType::Warning,
            reason: "EgressDenied".into(),
            message: format!("outbound request to {target} denied: not a service and not in allowedOutboundHosts"),
            source: format!("node/{}", self.node),
        };
        let client = self.client.clone();
        tokio::spawn(async move {
            let _ = client.report_event(&report).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_resolve_in_every_form() {
        assert_eq!(
            service_id("backend", "default").as_deref(),
            Some("default/backend")
        );
        assert_eq!(
            service_id("backend.svc", "default").as_deref(),
            Some("default/backend")
        );
        assert_eq!(
            service_id("backend.shop", "default").as_deref(),
            Some("shop/backend")
        );
        assert_eq!(
            service_id("backend.shop.svc.cluster.local", "default").as_deref(),
            Some("shop/backend")
        );
        assert_eq!(service_id("api.example.com", "default"), None);
    }
}
