//! Instance reuse: one instance serves several requests, a failure drops it, idle ones expire.

use crate::reuse::IDLE_TIMEOUT;
use crate::test_components::{component, runtime};
use crate::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use std::time::{Duration, Instant};

fn reusing_pod(name: &str, max_requests: u32) -> HttpPod {
    let mut spec = PodRuntimeSpec::new(name);
    spec.max_requests_per_instance = max_requests;
    runtime()
        .http_pod(&component("misbehave"), spec, PodLogs::new(64 * 1024))
        .expect("http pod")
}

async fn call(pod: &HttpPod, path: &str) -> (u16, String) {
    let req = http::Request::get(format!("http://pod.test{path}"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = pod.handle(req).await;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The response goes out before the guest's task hands its instance back: wait for that.
async fn until_idle(pod: &HttpPod, idle: usize) {
    let started = Instant::now();
    while pod.idle_instances() != idle {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{} idle instances, expected {idle}",
            pod.idle_instances()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The idle count once a guest's task has had time to hand its instance back: a check for "not
/// kept" must not read the count before the hand-back could have happened.
async fn idle_after_hand_back(pod: &HttpPod) -> usize {
    tokio::time::sleep(Duration::from_millis(100)).await;
    pod.idle_instances()
}

#[tokio::test]
async fn reused_instance_serves_up_to_max_requests() {
    let pod = reusing_pod("reuse-max", 3);
    for _ in 0..2 {
        assert_eq!(call(&pod, "/ok").await, (200, "ok".to_string()));
        until_idle(&pod, 1).await;
    }
    assert_eq!(pod.instances_created(), 1);
    // The third request is the instance's last: it is dropped, not kept.
    assert_eq!(call(&pod, "/ok").await.0, 200);
    assert_eq!(idle_after_hand_back(&pod).await, 0);
    assert_eq!(call(&pod, "/ok").await.0, 200);
    assert_eq!(pod.instances_created(), 2);
}

#[tokio::test]
async fn trap_drops_a_reused_instance_and_the_next_request_gets_a_fresh_one() {
    let pod = reusing_pod("reuse-trap", 100);
    assert_eq!(call(&pod, "/ok").await.0, 200);
    until_idle(&pod, 1).await;
    let (status, body) = call(&pod, "/trap").await;
    assert_eq!(status, 500);
    assert!(body.starts_with("component trapped:"), "{body}");
    assert_eq!(
        pod.instances_created(),
        1,
        "the trap ran in the reused instance"
    );
    assert_eq!(
        idle_after_hand_back(&pod).await,
        0,
        "the trapped instance is gone"
    );
    assert_eq!(call(&pod, "/ok").await.0, 200);
    assert_eq!(pod.instances_created(), 2);
    until_idle(&pod, 1).await;
}

#[tokio::test]
async fn timeout_drops_a_reused_instance() {
    let mut spec = PodRuntimeSpec::new("reuse-loop");
    spec.max_requests_per_instance = 100;
    spec.request_timeout = Duration::from_millis(300);
    let pod = runtime()
        .http_pod(&component("misbehave"), spec, PodLogs::default())
        .expect("http pod");
    assert_eq!(call(&pod, "/ok").await.0, 200);
    until_idle(&pod, 1).await;
    assert_eq!(call(&pod, "/loop").await.0, 500);
    assert_eq!(idle_after_hand_back(&pod).await, 0);
    assert_eq!(call(&pod, "/ok").await.0, 200);
    assert_eq!(pod.instances_created(), 2);
}

#[tokio::test]
async fn fresh_instance_per_request_by_default() {
    let pod = reusing_pod("no-reuse", 1);
    for _ in 0..3 {
        assert_eq!(call(&pod, "/ok").await.0, 200);
    }
    assert_eq!(pod.instances_created(), 3);
    assert_eq!(idle_after_hand_back(&pod).await, 0);
}

#[tokio::test]
async fn idle_instances_expire() {
    let pod = reusing_pod("reuse-idle", 100);
    assert_eq!(call(&pod, "/ok").await.0, 200);
    until_idle(&pod, 1).await;
    tokio::time::sleep(IDLE_TIMEOUT * 2).await;
    assert_eq!(pod.idle_instances(), 0);
    assert_eq!(call(&pod, "/ok").await.0, 200);
    assert_eq!(pod.instances_created(), 2);
}

#[test]
fn zero_max_requests_is_refused() {
    let mut spec = PodRuntimeSpec::new("x");
    spec.max_requests_per_instance = 0;
    let err = runtime()
        .http_pod(&component("misbehave"), spec, PodLogs::default())
        .err();
    assert!(matches!(err, Some(RuntimeError::InvalidSpec(_))), "{err:?}");
}
