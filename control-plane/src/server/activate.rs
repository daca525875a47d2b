//! `POST /api/v1/services/NAME/activate?namespace=NS`: called by a node's gateway holding
//! requests for a service with no endpoint (the activator's call in Knative). Finds the
//! HorizontalPodAutoscalers whose target Deployment makes pods the service selects and brings
//! each one at zero back to `max(1, minReplicas)`, with a conditional read-modify-write: many
//! gateways (on any API server) asking at once make one change. Any server answers it; the
//! autoscaler on the leader takes over from there.

use super::objects::{key_of, ObjectQuery};
use super::{ApiError, AppState, Identity};
use crate::controllers::autoscaler;
use crate::events::{EventDraft, Recorder};
use crate::registry::Registry;
use crate::typed::TypedRegistry;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use wasmpod_api::client::{ActivateResponse, ActivatedTarget};
use wasmpod_api::labels::matches;
use wasmpod_api::Resource as _;
use wasmpod_api::{Deployment, HorizontalPodAutoscaler, Kind, ObjectKey, Service};

pub async fn activate(
    State(state): State<AppState>,
    identity: Option<Extension<Identity>>,
    Path((plural, name)): Path<(String, String)>,
    Query(query): Query<ObjectQuery>,
) -> Result<Json<ActivateResponse>, ApiError> {
    let key = key_of(&plural, &name, &query)?;
    if key.kind != Kind::Service {
        return Err(ApiError::method_not_allowed(format!(
            "only services are activated, not {}",
            key.kind.plural()
        )));
    }
    let who = identity.map_or_else(|| "a client".to_string(), |Extension(i)| i.to_string());
    let response = state
        .registry
        .off_thread(move |registry| activate_stored(registry, &key, &who))
        .await?;
    Ok(Json(response))
}

fn activate_stored(
    registry: &Registry,
    key: &ObjectKey,
    who: &str,
) -> Result<ActivateResponse, ApiError> {
    let service = registry
        .fetch::<Service>(&key.namespace, &key.name)?
        .ok_or_else(|| {
            ApiError::not_found(format!("service {}/{} not found", key.namespace, key.name))
        })?;
    let mut targets = Vec::new();
    let mut hold_seconds = 0;
    let mut queue_limit = 0;
    for hpa in registry.all::<HorizontalPodAutoscaler>(Some(&key.namespace))? {
        let target = &hpa.spec.scale_target_ref.name;
        let Some(deployment) = registry.fetch::<Deployment>(&key.namespace, target)? else {
            continue;
        };
        if !matches(
            &service.spec.selector,
            &deployment.spec.template.metadata.labels,
        ) {
            continue;
        }
        hold_seconds = hold_seconds.max(hpa.spec.activation_timeout_seconds);
        queue_limit = queue_limit.max(hpa.spec.activation_queue_limit);
        let wake_to = hpa.spec.min_replicas.max(1);
        let mut from = None;
        let written = registry.modify::<Deployment, _>(&deployment.key(), |d| {
            from = Some(d.spec.replicas);
            if d.spec.replicas > 0 {
                return false;
            }
            d.spec.replicas = wake_to;
            true
        })?;
        let Some(written) = written else { continue };
        let from = from.unwrap_or(written.spec.replicas);
        if from == 0 {
            record(registry, &hpa, &service, target, wake_to, who)?;
        }
        targets.push(ActivatedTarget {
            deployment: target.clone(),
            from,
            replicas: written.spec.replicas,
        });
    }
    if targets.is_empty() {
        return Err(ApiError::not_found(format!(
            "no HorizontalPodAutoscaler scales the pods of service {}/{}",
            key.namespace, key.name
        )));
    }
    Ok(ActivateResponse {
        targets,
        hold_seconds,
        queue_limit,
    })
}

/// The activation as an event and a decision of the autoscaler.
fn record(
    registry: &Registry,
    hpa: &HorizontalPodAutoscaler,
    service: &Service,
    deployment: &str,
    replicas: u32,
    who: &str,
) -> Result<(), ApiError> {
    let reason = format!(
        "a request for service {} arrived at {who} with no replica",
        service.name()
    );
    tracing::info!(hpa = %hpa.key(), deployment, replicas, %reason, "activated from zero");
    Recorder::new(registry, autoscaler::SOURCE).record(&[EventDraft::normal(
        hpa.key(),
        "Activated",
        format!("Deployment {deployment} scaled 0 -> {replicas}: {reason}"),
    )]);
    let now = chrono::Utc::now();
    registry.modify::<HorizontalPodAutoscaler, _>(&hpa.key(), |stored| {
        autoscaler::record(&mut stored.status, 0, replicas, reason.clone(), now);
        stored.status.current_replicas = replicas;
        stored.status.desired_replicas = replicas;
        true
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::registry;
    use crate::registry::{to_any, Write};
    use serde_json::json;

    fn put(registry: &Registry, value: serde_json::Value) {
        let any = wasmpod_api::AnyObject(value);
        let key = any.key().expect("key");
        registry
            .commit(vec![Write::Put(to_any(&key, &any).expect("any"))])
            .expect("commit");
    }

    fn deployment(registry: &Registry, name: &str, replicas: u32) {
        put(
            registry,
            json!({
                "apiVersion": "wasmpod.dev/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name, "tier": "web"}},
                        "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000"}}}
            }),
        );
    }

    fn service(registry: &Registry, name: &str, selector: serde_json::Value) {
        put(
            registry,
            json!({"apiVersion": "wasmpod.dev/v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"}, "spec": {"selector": selector}}),
        );
    }

    fn hpa(registry: &Registry, target: &str, min: u32) {
        put(
            registry,
            json!({"apiVersion": "wasmpod.dev/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": target, "namespace": "default"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": target}, "minReplicas": min,
                    "maxReplicas": 5, "metrics": [{"type": "Concurrency", "target": 10}],
                    "activationTimeoutSeconds": 7, "activationQueueLimit": 3}}),
        );
    }

    fn replicas(registry: &Registry, name: &str) -> u32 {
        registry
            .fetch::<Deployment>("default", name)
            .expect("read")
            .expect("deployment")
            .spec
            .replicas
    }

    #[test]
    fn a_deployment_at_zero_behind_the_service_comes_back_once() {
        let (_dir, registry) = registry();
        deployment(&registry, "web", 0);
        deployment(&registry, "other", 0);
        hpa(&registry, "web", 0);
        hpa(&registry, "other", 0);
        service(&registry, "web", json!({"app": "web"}));
        let key = ObjectKey::new(Kind::Service, "default", "web");
        let answer = activate_stored(&registry, &key, "node \"n1\"").expect("activated");
        assert_eq!(answer.hold_seconds, 7);
        assert_eq!(answer.queue_limit, 3);
        assert_eq!(
            answer.targets,
            [ActivatedTarget {
                deployment: "web".into(),
                from: 0,
                replicas: 1
            }]
        );
        assert_eq!(replicas(&registry, "web"), 1);
        assert_eq!(replicas(&registry, "other"), 0, "not behind this service");
        // A second gateway asking changes nothing and records nothing more.
        let again = activate_stored(&registry, &key, "node \"n2\"").expect("answered");
        assert_eq!(again.targets[0].from, 1);
        let hpa = registry
            .fetch::<HorizontalPodAutoscaler>("default", "web")
            .expect("read")
            .expect("hpa");
        assert_eq!(hpa.status.last_decisions.len(), 1);
        assert!(hpa.status.last_decisions[0].reason.contains("node \"n1\""));
    }

    #[test]
    fn min_replicas_is_where_it_wakes_and_no_autoscaler_is_a_404() {
        let (_dir, registry) = registry();
        deployment(&registry, "web", 0);
        hpa(&registry, "web", 3);
        service(&registry, "web", json!({"tier": "web"}));
        service(&registry, "plain", json!({"app": "nothing"}));
        let key = ObjectKey::new(Kind::Service, "default", "web");
        activate_stored(&registry, &key, "a client").expect("activated");
        assert_eq!(replicas(&registry, "web"), 3);
        let key = ObjectKey::new(Kind::Service, "default", "plain");
        let error = activate_stored(&registry, &key, "a client").expect_err("404");
        assert_eq!(error.status, axum::http::StatusCode::NOT_FOUND);
        assert!(
            error.message.contains("no HorizontalPodAutoscaler"),
            "{error:?}"
        );
        let key = ObjectKey::new(Kind::Service, "default", "missing");
        let error = activate_stored(&registry, &key, "a client").expect_err("404");
        assert!(error.message.contains("not found"), "{error:?}");
    }
}
