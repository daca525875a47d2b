//! Holding requests for a service with no endpoint while its deployment comes back from zero
//! (Knative's activator, in the gateway), for ingress and for calls between services alike. The first held request asks the control plane to
//! activate the service (one call for a burst: later requests share it); every held request
//! waits for the routing table to show an endpoint (woken by each rebuild of the table, no
//! polling), local or on another node, and is then dispatched as usual. The wait is bounded:
//! at most the autoscaler's `activationQueueLimit` requests per service (the control plane's
//! answer says it; the first ones, held before that answer, are bounded by [`Limits::queue`] and
//! then cut to the limit, oldest kept), each for the autoscaler's `activationTimeoutSeconds`;
//! past either, and for a service no autoscaler scales, a 503 that says why.

use super::service_id::ServiceId;
use super::table::{Endpoints, RoutingTable};
use arc_swap::ArcSwap;
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wasmpod_runtime::{unavailable_response, BoxBody};

/// What the control plane said to an activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// A deployment scales the service's pods (brought back from zero if it was there): hold
    /// at most `queue_limit` requests, each this long, for an endpoint.
    Activated { hold: Duration, queue_limit: usize },
    /// No HorizontalPodAutoscaler scales the service's pods: nothing will come.
    NoAutoscaler,
    /// The control plane could not be asked.
    Failed(String),
}

/// Asks the control plane to activate a service.
pub trait Activate: Send + Sync + 'static {
    fn activate(&self, service: &ServiceId) -> BoxFuture<'static, Activation>;
}

/// The bounds on holding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests held per service at once before the control plane has answered with the
    /// autoscaler's own limit (then the requests past that limit get a 503 too).
    pub queue: usize,
    /// How long an activation answer is reused for further requests of the same service.
    pub reuse: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            queue: wasmpod_api::MAX_ACTIVATION_QUEUE_LIMIT as usize,
            reuse: Duration::from_secs(1),
        }
    }
}

type SharedActivation = Shared<BoxFuture<'static, Activation>>;

#[derive(Default)]
struct ServiceState {
    /// The tickets of the requests held, in arrival order.
    held: BTreeSet<u64>,
    next_ticket: u64,
    /// The autoscaler's `activationQueueLimit`, once the control plane has said it.
    queue_limit: Option<usize>,
    activation: Option<(Instant, SharedActivation)>,
}

pub struct Activator {
    activate: Arc<dyn Activate>,
    table: Arc<ArcSwap<RoutingTable>>,
    changes: watch::Sender<u64>,
    services: Mutex<HashMap<ServiceId, ServiceState>>,
    limits: Limits,
}

/// One held request's place in its service's queue; leaving frees it.
struct Slot<'a> {
    activator: &'a Activator,
    service: ServiceId,
    ticket: u64,
}

impl Slot<'_> {
    /// Learns the service's queue limit; false when `limit` requests that came earlier are
    /// held (this one is past the limit and must leave). O(1) while the queue is within its
    /// limit, O(limit) past it.
    fn within(&self, limit: usize) -> bool {
        let mut services = self.activator.lock();
        let Some(state) = services.get_mut(&self.service) else {
            return true;
        };
        state.queue_limit = Some(limit);
        if state.held.len() <= limit {
            return true;
        }
        // The last ticket within the limit: this one stays if it is not later.
        let last_kept = limit.checked_sub(1).and_then(|i| state.held.iter().nth(i));
        last_kept.is_some_and(|&last| self.ticket <= last)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut services = self.activator.lock();
        if let Some(state) = services.get_mut(&self.service) {
            state.held.remove(&self.ticket);
            if state.held.is_empty() {
                services.remove(&self.service);
            }
        }
    }
}

fn has_endpoints(endpoints: &Endpoints) -> bool {
    !endpoints.local.is_empty() || !endpoints.remote.is_empty()
}

impl Activator {
    pub fn new(
        activate: Arc<dyn Activate>,
        table: Arc<ArcSwap<RoutingTable>>,
        limits: Limits,
    ) -> Activator {
        Activator {
            activate,
            table,
            changes: watch::Sender::new(0),
            services: Mutex::default(),
            limits,
        }
    }

    /// The routing table was rebuilt: held requests look again.
    pub fn table_changed(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ServiceId, ServiceState>> {
        self.services.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `endpoints` when it has one; else holds the request until the service has one, or
    /// answers the 503 to send.
    pub async fn endpoints(
        &self,
        endpoints: Arc<Endpoints>,
    ) -> Result<Arc<Endpoints>, http::Response<BoxBody>> {
        if has_endpoints(&endpoints) {
            return Ok(endpoints);
        }
        // Boxed: the hold's state (a watch, a select, the activation) would otherwise be part
        // of every request's future, which is moved and zeroed per request.
        Box::pin(self.hold(endpoints)).await
    }

    async fn hold(
        &self,
        endpoints: Arc<Endpoints>,
    ) -> Result<Arc<Endpoints>, http::Response<BoxBody>> {
        let service = endpoints.service.clone();
        let mut changes = self.changes.subscribe();
        let (slot, activation) = self
            .enter(&service)
            .map_err(|limit| queue_full(&service, limit))?;
        let started = Instant::now();
        tracing::debug!(%service, "holding a request while the service scales from zero");
        let outcome = tokio::select! {
            ready = self.ready(&service, &mut changes) => return ready.ok_or_else(|| gone(&service)),
            outcome = activation => outcome,
        };
        let hold = match outcome {
            Activation::Activated { hold, queue_limit } => {
                if !slot.within(queue_limit) {
                    return Err(queue_full(&service, queue_limit));
                }
                hold
            }
            Activation::NoAutoscaler => return Err(no_autoscaler(&service)),
            Activation::Failed(error) => {
                return Err(unavailable_response(&format!(
                    "service {service} has no ready endpoints and the control plane could not be asked to scale it from zero: {error}"
                )))
            }
        };
        let deadline = tokio::time::Instant::from_std(started + hold);
        loop {
            // Asked again now and then while held: an autoscaler pass that read the deployment
            // before the activation may have sent it back to zero.
            let ask_again = async {
                tokio::time::sleep(self.limits.reuse).await;
                self.activation(&service).await
            };
            tokio::select! {
                ready = self.ready(&service, &mut changes) => {
                    return match ready {
                        Some(ready) => {
                            tracing::debug!(%service, waited_ms = started.elapsed().as_millis() as u64, "held request released");
                            Ok(ready)
                        }
                        None => Err(gone(&service)),
                    };
                }
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(%service, hold_s = hold.as_secs(), "held request timed out");
                    return Err(unavailable_response(&format!(
                        "service {service} has no ready endpoint after waiting {}s for it to scale from zero",
                        hold.as_secs()
                    )));
                }
                outcome = ask_again => match outcome {
                    Activation::NoAutoscaler => return Err(no_autoscaler(&service)),
                    Activation::Activated { queue_limit, .. } if !slot.within(queue_limit) => {
                        return Err(queue_full(&service, queue_limit));
                    }
                    _ => {}
                }
            }
        }
    }

    /// The activation of `service` to wait for: the one asked less than [`Limits::reuse`] ago,
    /// else a new one.
    fn activation(&self, service: &ServiceId) -> SharedActivation {
        let mut services = self.lock();
        let state = services.entry(service.clone()).or_default();
        self.current_activation(service, state)
    }

    fn current_activation(
        &self,
        service: &ServiceId,
        state: &mut ServiceState,
    ) -> SharedActivation {
        match &state.activation {
            Some((at, activation)) if at.elapsed() < self.limits.reuse => activation.clone(),
            _ => {
                let activation = self.activate.activate(service).shared();
                state.activation = Some((Instant::now(), activation.clone()));
                activation
            }
        }
    }

    /// A place in the service's queue and the activation to wait for (started by the first
    /// request, shared by the others); the queue's limit when it is full.
    fn enter(&self, service: &ServiceId) -> Result<(Slot<'_>, SharedActivation), usize> {
        let mut services = self.lock();
        let state = services.entry(service.clone()).or_default();
        let limit = state.queue_limit.unwrap_or(self.limits.queue);
        if state.held.len() >= limit {
            return Err(limit);
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.held.insert(ticket);
        let activation = self.current_activation(service, state);
        Ok((
            Slot {
                activator: self,
                service: service.clone(),
                ticket,
            },
            activation,
        ))
    }

    /// Waits until the service has an endpoint in the routing table; `None` if the table stops
    /// changing for good (the node shuts down).
    async fn ready(
        &self,
        service: &ServiceId,
        changes: &mut watch::Receiver<u64>,
    ) -> Option<Arc<Endpoints>> {
        loop {
            changes.borrow_and_update();
            if let Some(endpoints) = self
                .table
                .load()
                .service(service)
                .filter(|e| has_endpoints(e))
            {
                return Some(endpoints.clone());
            }
            changes.changed().await.ok()?;
        }
    }
}

fn queue_full(service: &ServiceId, limit: usize) -> http::Response<BoxBody> {
    tracing::warn!(%service, limit, "activation queue full");
    unavailable_response(&format!(
        "service {service} is scaling from zero and {limit} requests already wait for it \
         (its HorizontalPodAutoscaler's spec.activationQueueLimit); try again"
    ))
}

fn no_autoscaler(service: &ServiceId) -> http::Response<BoxBody> {
    unavailable_response(&format!(
        "service {service} has no ready endpoints (and no HorizontalPodAutoscaler scales it from zero)"
    ))
}

fn gone(service: &ServiceId) -> http::Response<BoxBody> {
    unavailable_response(&format!(
        "service {service} has no ready endpoints: this node's gateway is stopping"
    ))
}

/// Activation through the API (the node's credential), on the node's main runtime: the gateway
/// threads' runtimes only serve connections.
pub struct ApiActivate {
    pub client: wasmpod_api::Client,
    pub runtime: tokio::runtime::Handle,
}

impl Activate for ApiActivate {
    fn activate(&self, service: &ServiceId) -> BoxFuture<'static, Activation> {
        let client = self.client.clone();
        let service = service.clone();
        let task = self.runtime.spawn(async move {
            match client.activate(&service.namespace, &service.name).await {
                Ok(response) => {
                    tracing::info!(%service, targets = ?response.targets, "activation asked");
                    Activation::Activated {
                        hold: Duration::from_secs(response.hold_seconds.into()),
                        queue_limit: response.queue_limit.max(1) as usize,
                    }
                }
                Err(error) if error.is_not_found() => Activation::NoAutoscaler,
                Err(error) => {
                    tracing::warn!(%service, %error, "activation failed");
                    Activation::Failed(error.to_string())
                }
            }
        });
        async move {
            task.await
                .unwrap_or_else(|e| Activation::Failed(format!("the activation task ended: {e}")))
        }
        .boxed()
    }
}

#[cfg(test)]
#[path = "activator_tests.rs"]
mod tests;
