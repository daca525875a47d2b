//! The activator's unit tests: a burst shares one activation, the queue bounds (the node's
//! own before the answer, the autoscaler's after it), the hold's timeout, re-asking, and the
//! services that are not held.

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
async fn the_queue_is_bounded_by_the_autoscalers_limit_and_the_hold_times_out_with_a_clear_503() {
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
