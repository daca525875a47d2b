//! `apply`: validate every object, then store them all in one atomic batch — or none.

use super::objects::body;
use super::{ApiError, AppState};
use crate::registry::Write;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde_json::Value;
use std::collections::HashSet;
use wasmpod_api::client::{ApplyRequest, ApplyResponse, ApplyResult};
use wasmpod_api::manifest::UserObject;
use wasmpod_api::{AnyObject, ObjectKey, PodSpec};

pub async fn apply(
    State(state): State<AppState>,
    payload: Result<Json<ApplyRequest>, JsonRejection>,
) -> Result<Json<ApplyResponse>, ApiError> {
    let request = body(payload)?;
    if request.objects.is_empty() {
        return Err(ApiError::invalid(
            "nothing to apply: the request holds no objects",
        ));
    }
    let mut seen = HashSet::new();
    let mut writes = Vec::new();
    let mut keys = Vec::new();
    for (i, any) in request.objects.iter().enumerate() {
        let at = format!(
            "objects[{i}] ({} {:?})",
            any.0.get("kind").and_then(|k| k.as_str()).unwrap_or("?"),
            any.name()
        );
        let mut object =
            UserObject::from_any(any).map_err(|e| ApiError::invalid(format!("{at}: {e}")))?;
        if let UserObject::Secret(secret) = &mut object {
            secret.normalise();
        }
        let key = ObjectKey::new(object.kind(), object.namespace(), object.name());
        if !seen.insert(key.clone()) {
            return Err(ApiError::invalid(format!(
                "{at}: metadata.name: {} {:?} appears twice in this apply",
                key.kind, key.name
            )));
        }
        let template = match &object {
            UserObject::Deployment(d) => Some(&d.spec.template.spec),
            UserObject::StatefulSet(s) => Some(&s.spec.template.spec),
            _ => None,
        };
        if let Some(spec) = template {
            if spec.component_digest().is_some() {
                // Uploaded through another server: fetch it from there (checked by digest).
                super::blobs::ensure_local(&state, &spec.component).await?;
            }
            check_component(&state, spec).map_err(|m| {
                ApiError::invalid(format!("{at}: spec.template.spec.component: {m}"))
            })?;
        }
        let mut value = object.to_any().0;
        value["metadata"]["namespace"] = Value::from(key.namespace.clone());
        // Status belongs to the controllers: keep what is stored, whatever the manifest says.
        let existing_status = state
            .registry
            .get(&key)?
            .and_then(|e| e.0.get("status").cloned())
            .filter(|s| !s.is_null());
        if let Some(map) = value.as_object_mut() {
            match existing_status {
                Some(status) => map.insert("status".to_string(), status),
                None => map.remove("status"),
            };
        }
        writes.push(Write::Put(AnyObject(value)));
        keys.push(key);
    }
    let changes = state.registry.commit(writes)?;
    let results = keys
        .into_iter()
        .map(|key| {
            let action = match changes.iter().find(|c| c.key == key) {
                Some(c) if c.change == crate::watch_hub::ChangeType::Added => "created",
                Some(_) => "configured",
                None => "unchanged",
            };
            tracing::info!(object = %key, action, "applied");
            ApplyResult {
                kind: key.kind.to_string(),
                namespace: key.namespace,
                name: key.name,
                action: action.to_string(),
            }
        })
        .collect();
    Ok(Json(ApplyResponse { results }))
}

/// The stored spec pins a component by digest: it must be uploaded and runnable.
fn check_component(state: &AppState, spec: &PodSpec) -> Result<(), String> {
    if spec.component_digest().is_none() {
        return Err(format!(
            "{:?} is not a digest; upload the component first (`wasmpod apply -f` does this for paths)",
            spec.component
        ));
    }
    match state.blobs.read(&spec.component) {
        Ok(Some(bytes)) => wasmpod_runtime::inspect_component(&bytes)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(None) => Err(format!("component {} was not uploaded", spec.component)),
        Err(e) => Err(e.to_string()),
    }
}
