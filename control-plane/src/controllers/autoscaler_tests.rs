//! The autoscaler's passes on a real registry (sled in a temporary directory) with synthetic
//! figures: what it writes to the Deployment, the events and the status.

use super::autoscaler::{pass, SOURCE};
use super::autoscaler_load::{ClusterLoads, LoadError, LoadFuture, LoadSource, PodLoad, PodLoads};
use crate::registry::tests::registry;
use crate::registry::{to_any, Registry, Write};
use crate::typed::TypedRegistry;
use serde_json::json;
use std::sync::{Arc, Mutex};
use wasmpod_api::{Deployment, Event, HorizontalPodAutoscaler};

/// Figures set by the test.
#[derive(Default)]
struct Synthetic(Mutex<Option<PodLoads>>);

impl LoadSource for Synthetic {
    fn pod_loads(&self) -> LoadFuture<'_> {
        let loads = self.0.lock().expect("lock").clone();
        Box::pin(async move {
            loads
                .map(|pods| ClusterLoads::from([("default".to_string(), pods)]))
                .ok_or_else(|| LoadError {
                    message: "no node answered".into(),
                })
        })
    }
}

fn put(registry: &Registry, value: serde_json::Value) {
    let any = wasmpod_api::AnyObject(value);
    let key = any.key().expect("key");
    registry
        .commit(vec![Write::Put(to_any(&key, &any).expect("any"))])
        .expect("commit");
}

fn setup(registry: &Registry, replicas: u32, hpa: serde_json::Value) {
    put(
        registry,
        json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "d1"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000"}}}
        }),
    );
    let mut object = json!({
        "apiVersion": "wasmpod.dev/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "Concurrency", "target": 10}]}
    });
    for (k, v) in hpa.as_object().expect("object") {
        object["spec"][k] = v.clone();
    }
    put(registry, object);
    for i in 0..replicas {
        pod(registry, &format!("web-{i}"));
    }
}

fn pod(registry: &Registry, name: &str) {
    put(
        registry,
        json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d1"}]},
            "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "nodeName": "n1"},
            "status": {"phase": "Running", "ready": true}
        }),
    );
}

fn figures(in_flight: &[f64], last_request_secs_ago: i64) -> PodLoads {
    in_flight
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                format!("web-{i}"),
                PodLoad {
                    in_flight: *f,
                    requests_per_second: 0.0,
                    last_request: Some(
                        chrono::Utc::now() - chrono::Duration::seconds(last_request_secs_ago),
                    ),
                },
            )
        })
        .collect()
}

fn replicas(registry: &Registry) -> u32 {
    registry
        .fetch::<Deployment>("default", "web")
        .expect("read")
        .expect("deployment")
        .spec
        .replicas
}

fn hpa(registry: &Registry) -> HorizontalPodAutoscaler {
    registry
        .fetch::<HorizontalPodAutoscaler>("default", "web")
        .expect("read")
        .expect("hpa")
}

fn events(registry: &Registry) -> Vec<Event> {
    registry.all_owned::<Event>(None).expect("events")
}

#[tokio::test]
async fn a_load_step_scales_up_at_once_with_an_event_and_a_decision() {
    let (_dir, registry) = registry();
    let registry = Arc::new(registry);
    setup(&registry, 1, json!({}));
    let source = Synthetic::default();
    let memories = Default::default();
    *source.0.lock().expect("lock") = Some(figures(&[45.0], 0));
    pass(&registry, &source, &memories).await.expect("pass");
    assert_eq!(replicas(&registry), 5, "ceil(45 / 10)");
    let status = hpa(&registry).status;
    assert_eq!((status.current_replicas, status.desired_replicas), (5, 5));
    let decision = status.last_decisions.last().expect("a decision");
    assert_eq!((decision.from, decision.to), (1, 5));
    assert!(decision.reason.contains("Concurrency 45"), "{decision:?}");
    assert_eq!(status.current_metrics[0].current, 45.0);
    let events = events(&registry);
    let rescale = events
        .iter()
        .find(|e| e.spec.reason == "SuccessfulRescale")
        .expect("an event");
    assert_eq!(rescale.spec.source, SOURCE);
    assert_eq!(rescale.spec.involved_object.kind, "HorizontalPodAutoscaler");
    assert!(
        rescale.spec.message.contains("1 -> 5"),
        "{}",
        rescale.spec.message
    );
}

#[tokio::test]
async fn scale_down_waits_for_its_window_and_zero_for_the_idle_time() {
    let (_dir, registry) = registry();
    let registry = Arc::new(registry);
    setup(
        &registry,
        4,
        json!({"minReplicas": 0, "scaleToZeroAfterSeconds": 1,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 1}}}),
    );
    let source = Synthetic::default();
    let memories = Default::default();
    *source.0.lock().expect("lock") = Some(figures(&[10.0, 10.0, 10.0, 10.0], 0));
    pass(&registry, &source, &memories).await.expect("pass");
    assert_eq!(replicas(&registry), 4, "at its target");
    *source.0.lock().expect("lock") = Some(figures(&[5.0, 0.0, 0.0, 0.0], 0));
    pass(&registry, &source, &memories).await.expect("pass");
    assert_eq!(replicas(&registry), 4, "the window remembers 4");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    pass(&registry, &source, &memories).await.expect("pass");
    assert_eq!(replicas(&registry), 1, "after the window");
    // A request in flight, or one a moment ago: not idle. (No deployment controller runs here:
    // the four pods stay, each reporting.)
    *source.0.lock().expect("lock") = Some(figures(&[1.0, 0.0, 0.0, 0.0], 5));
    pass(&registry, &source, &memories).await.expect("pass");
    assert_eq!(replicas(&registry), 1);
    *source.0.lock().expect("lock") = Some(figures(&[0.0; 4], 0));
    pass(&registry, &source, &memories).await.expect("pass");
    assert_eq!(replicas(&registry), 1);
    // Nothing for the idle time (the pods themselves were made over a second ago).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    *source.0.lock().expect("lock") = Some(figures(&[0.0; 4], 5));
    pass(&registry, &source, &memories).await.expect("pass");
    assert_eq!(replicas(&registry), 0, "idle for scaleToZeroAfterSeconds");
    let status = hpa(&registry).status;
    let last = status.last_decisions.last().expect("decision");
    assert!(last.reason.contains("no request for 1s"), "{last:?}");
}

#[tokio::test]
async fn no_figures_change_nothing_and_say_why() {
    let (_dir, registry) = registry();
    let registry = Arc::new(registry);
    setup(&registry, 3, json!({"minReplicas": 0}));
    let source = Synthetic::default();
    let memories = Default::default();
    pass(&registry, &source, &memories).await.expect("pass");
    assert_eq!(
        replicas(&registry),
        3,
        "no scale to zero on missing figures"
    );
    let status = hpa(&registry).status;
    let active = status
        .conditions
        .iter()
        .find(|c| c.condition == wasmpod_api::HpaConditionType::ScalingActive)
        .expect("condition");
    assert!(!active.status);
    assert!(active.message.contains("no node answered"), "{active:?}");
}
