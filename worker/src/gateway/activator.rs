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
mod tests {
    use super::*;
    use crate::context::LocalPods;
    use crate::gateway::table::{build, Forwarder, Inputs};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its calls and answers `answer`.
    struct Fake {
        calls: AtomicUsize,
        answer: Activation,
    }

    impl Activate for Fake {
        fn activate(&self, _: &ServiceId) -> BoxFuture<'static, Activation> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = self.answer.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                answer
            }
            .boxed()
        }
    }

    fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Arc<T> {
        Arc::new(serde_json::from_value(value).expect("object"))
    }

    /// The table with service `web`, and a ready pod of it on node n2 when `ready`.
    fn table(ready: bool) -> RoutingTable {
        let services = [object(json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "web"}}
        }))];
        let pods: Vec<Arc<wasmpod_api::Pod>> = if ready {
            vec![object(json!({
                "apiVersion": "wasmpod.dev/v1", "kind": "Pod",
                "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
                "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "nodeName": "n2"},
                "status": {"phase": "Running", "ready": true}
            }))]
        } else {
            Vec::new()
        };
        let nodes = [object(json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Node", "metadata": {"name": "n2"}, "spec": {},
            "status": {"ready": true, "gateway": "http://n2"}
        }))];
        build(&Inputs {
            node: "n1",
            ingresses: &[],
            services: &services,
            pods: &pods,
            nodes: &nodes,
            local: &LocalPods::default(),
            forwarder: &Arc::new(Forwarder::default()),
            metrics: &crate::metrics::NodeMetrics::new("n1", Default::default()),
            synced: true,
        })
    }

    fn setup(answer: Activation, limits: Limits) -> (Arc<Activator>, Arc<Fake>, Arc<Endpoints>) {
        let empty = table(false);
        let endpoints = empty
            .service(&ServiceId::new("default", "web"))
            .expect("service")
            .clone();
        let fake = Arc::new(Fake {
            calls: AtomicUsize::new(0),
            answer,
        });
        let activator = Arc::new(Activator::new(
            fake.clone(),
            Arc::new(ArcSwap::from_pointee(empty)),
            limits,
        ));
        (activator, fake, endpoints)
    }

    async fn body(response: http::Response<BoxBody>) -> String {
        use http_body_util::BodyExt;
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_burst_of_held_requests_makes_one_activation_and_all_go_when_an_endpoint_appears() {
        let hold = Duration::from_secs(5);
        let (activator, fake, endpoints) = setup(
            Activation::Activated {
                hold,
                queue_limit: 1000,
            },
            Limits::default(),
        );
        let waiters: Vec<_> = (0..50)
            .map(|_| {
                let (activator, endpoints) = (activator.clone(), endpoints.clone());
                tokio::spawn(async move { activator.endpoints(endpoints).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(waiters.iter().all(|w| !w.is_finished()), "held");
        activator.table.store(Arc::new(table(true)));
        activator.table_changed();
        for waiter in waiters {
            let released = tokio::time::timeout(Duration::from_secs(1), waiter)
                .await
                .expect("released at once")
                .expect("task");
            let endpoints = released.map_err(|_| "a 503").expect("endpoints");
            assert_eq!(endpoints.remote.len(), 1);
        }
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1, "one activation");
        assert!(activator.lock().is_empty(), "every slot freed");
    }

    #[tokio::test]
    async fn the_queue_is_bounded_by_the_autoscalers_limit_and_the_hold_times_out_with_a_clear_503()
    {
        let hold = Duration::from_millis(300);
        let answer = Activation::Activated {
            hold,
            queue_limit: 2,
        };
        let (activator, _, endpoints) = setup(answer, Limits::default());
        // Three arrive before the answer: the one past the autoscaler's limit of 2 leaves with
        // a 503 when the answer says the limit, the two that came first stay held.
        let early: Vec<_> = (0..3)
            .map(|_| {
                let (activator, endpoints) = (activator.clone(), endpoints.clone());
                tokio::spawn(async move { activator.endpoints(endpoints).await.map(|_| ()) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let finished: Vec<bool> = early.iter().map(|w| w.is_finished()).collect();
        assert_eq!(
            finished,
            [false, false, true],
            "the third, and only it, left"
        );
        let mut early = early.into_iter();
        let (first, second) = (early.next().expect("1"), early.next().expect("2"));
        let third = early.next().expect("3").await.expect("task");
        let third = third.expect_err("past the limit");
        assert_eq!(third.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        let text = body(third).await;
        assert!(
            text.contains("2 requests already wait") && text.contains("activationQueueLimit"),
            "{text}"
        );
        // One more, now that the limit is known: refused at once.
        let started = Instant::now();
        let full = activator
            .endpoints(endpoints.clone())
            .await
            .map(|_| ())
            .expect_err("the queue is full");
        assert!(started.elapsed() < Duration::from_millis(100), "at once");
        assert!(body(full).await.contains("2 requests already wait"));
        for waiter in [first, second] {
            let timed_out = waiter.await.expect("task").expect_err("timed out");
            assert_eq!(timed_out.status(), http::StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                body(timed_out).await.contains("after waiting 0s"),
                "names the wait"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(2), "bounded");
        assert!(activator.lock().is_empty());
    }

    #[tokio::test]
    async fn before_the_answer_the_queue_has_the_nodes_own_bound() {
        let answer = Activation::Activated {
            hold: Duration::from_millis(200),
            queue_limit: 1000,
        };
        let limits = Limits {
            queue: 2,
            ..Limits::default()
        };
        let (activator, _, endpoints) = setup(answer, limits);
        let held: Vec<_> = (0..2)
            .map(|_| {
                let (activator, endpoints) = (activator.clone(), endpoints.clone());
                tokio::spawn(async move { activator.endpoints(endpoints).await.map(|_| ()) })
            })
            .collect();
        tokio::task::yield_now().await;
        let full = activator
            .endpoints(endpoints)
            .await
            .map(|_| ())
            .expect_err("the queue is full");
        assert!(body(full).await.contains("2 requests already wait"));
        for waiter in held {
            waiter.await.expect("task").expect_err("timed out");
        }
    }

    #[tokio::test]
    async fn a_held_request_asks_again_in_case_its_deployment_went_back_to_zero() {
        let limits = Limits {
            reuse: Duration::from_millis(100),
            ..Limits::default()
        };
        let hold = Duration::from_millis(700);
        let (activator, fake, endpoints) = setup(
            Activation::Activated {
                hold,
                queue_limit: 1000,
            },
            limits,
        );
        let waiter = {
            let activator = activator.clone();
            tokio::spawn(async move { activator.endpoints(endpoints).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert!(
            fake.calls.load(Ordering::SeqCst) >= 3,
            "asked again while held"
        );
        activator.table.store(Arc::new(table(true)));
        activator.table_changed();
        waiter
            .await
            .expect("task")
            .map_err(|_| "a 503")
            .expect("served");
    }

    #[tokio::test]
    async fn a_service_no_autoscaler_scales_gets_its_503_at_once() {
        let (activator, _, endpoints) = setup(Activation::NoAutoscaler, Limits::default());
        let started = Instant::now();
        let refused = activator
            .endpoints(endpoints)
            .await
            .map(|_| ())
            .expect_err("503");
        assert!(started.elapsed() < Duration::from_secs(1));
        let text = body(refused).await;
        assert!(
            text.contains("default/web has no ready endpoints"),
            "{text}"
        );
        assert!(text.contains("no HorizontalPodAutoscaler"), "{text}");
    }

    #[tokio::test]
    async fn a_service_with_endpoints_is_not_held() {
        let (activator, fake, _) = setup(Activation::NoAutoscaler, Limits::default());
        let ready = table(true)
            .service(&ServiceId::new("default", "web"))
            .expect("service")
            .clone();
        assert!(activator.endpoints(ready).await.is_ok());
        assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
    }
}
