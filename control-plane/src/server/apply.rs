//! `apply`: validate every object, then store them all in one atomic batch — or none.
//!
//! `?create=true` (`wasmpod create`) refuses a name that is taken (409 AlreadyExists) instead of
//! replacing the object; `?dryRun=All` validates and answers what would happen, storing nothing.

use super::objects::{body, DryRun};
use super::{ApiError, AppState, Identity};
use crate::registry::Write;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use wasmpod_api::client::{ApplyAction, ApplyRequest, ApplyResponse, ApplyResult};
use wasmpod_api::manifest::UserObject;
use wasmpod_api::{AnyObject, Kind, Namespace, ObjectKey, PodSpec, DEFAULT_NAMESPACE};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyQuery {
    /// Create only: an object that exists is a conflict, not a replacement.
    #[serde(default)]
    pub create: bool,
    pub dry_run: Option<DryRun>,
}

pub async fn apply(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Query(query): Query<ApplyQuery>,
    payload: Result<Json<ApplyRequest>, JsonRejection>,
) -> Result<Json<ApplyResponse>, ApiError> {
    let request = body(payload)?;
    if request.objects.is_empty() {
        return Err(ApiError::invalid(
            "nothing to apply: the request holds no objects",
        ));
    }
    let dry_run = query.dry_run == Some(DryRun::All);
    let mut seen = HashSet::new();
    let mut writes = Vec::new();
    let mut keys = Vec::new();
    let mut planned = Vec::new();
    for (i, any) in request.objects.iter().enumerate() {
        let at = format!(
            "objects[{i}] ({} {:?})",
            any.0.get("kind").and_then(|k| k.as_str()).unwrap_or("?"),
            any.name()
        );
        authorize_early(&state, &identity, any)?;
        let any = &super::oci_resolve::pin(&state, &at, any, &request.objects).await?;
        fetch_template_component(&state, any).await?;
        let (key, object) = prepare(&state, &at, any)?;
        super::auth::authorize_apply(&state, &identity, &key).map_err(ApiError::from)?;
        if !seen.insert(key.clone()) {
            return Err(ApiError::invalid(format!(
                "{at}: metadata.name: {} {:?} appears twice in this apply",
                key.kind, key.name
            )));
        }
        if dry_run {
            let existing = state.registry.get(&key)?;
            if query.create && existing.is_some() {
                return Err(ApiError::from(crate::registry::RegistryError::Conflict {
                    key: key.to_string(),
                    conflict: crate::registry::Conflict::AlreadyExists,
                }));
            }
            planned.push(would_do(existing.as_ref(), &object));
        }
        writes.push(if query.create {
            Write::Create(object)
        } else {
            Write::Put(object)
        });
        keys.push(key);
    }
    check_namespaces(&state, &keys)?;
    if dry_run {
        let results = keys
            .into_iter()
            .zip(planned)
            .map(|(key, action)| result(key, action))
            .collect();
        return Ok(Json(ApplyResponse { results }));
    }
    let changes = state
        .registry
        .off_thread(move |registry| registry.commit(writes))
        .await?;
    let results = keys
        .into_iter()
        .map(|key| {
            let action = match changes.iter().find(|c| c.key == key) {
                Some(c) if c.change == crate::watch_hub::ChangeType::Added => ApplyAction::Created,
                Some(_) => ApplyAction::Configured,
                None => ApplyAction::Unchanged,
            };
            tracing::info!(object = %key, %action, "applied");
            result(key, action)
        })
        .collect();
    Ok(Json(ApplyResponse { results }))
}

/// The caller may apply the object it names, checked before anything is resolved for it: an
/// `oci://` tag is asked of its registry, and its layer pulled, only for a caller allowed to apply
/// the object. (The object is checked again once parsed.)
fn authorize_early(state: &AppState, identity: &Identity, any: &AnyObject) -> Result<(), ApiError> {
    let Some(kind) = any.kind() else {
        return Ok(());
    };
    let namespace = if kind.namespaced() {
        any.namespace()
    } else {
        ""
    };
    let key = ObjectKey::new(kind, namespace, any.name());
    super::auth::authorize_apply(state, identity, &key).map_err(ApiError::from)
}

/// A Deployment's or StatefulSet's component uploaded through another API server is fetched
/// from there (checked against its digest) before the template is checked against it.
async fn fetch_template_component(state: &AppState, any: &AnyObject) -> Result<(), ApiError> {
    let template = match any.0.get("kind").and_then(Value::as_str) {
        Some("Deployment" | "StatefulSet") => UserObject::from_any(any).ok(),
        _ => None,
    };
    let component = match &template {
        Some(UserObject::Deployment(d)) => Some(&d.spec.template.spec.component),
        Some(UserObject::StatefulSet(s)) => Some(&s.spec.template.spec.component),
        _ => None,
    };
    if let Some(component) = component.filter(|c| c.digest().is_some()) {
        super::blobs::ensure_local(state, &component.to_string()).await?;
    }
    Ok(())
}

/// Every namespaced object goes to a namespace that exists: `default`, a stored Namespace, or
/// one created by this same apply (as with kubectl, a namespace and what it holds may come in
/// one file). Anything else is refused (404), nothing stored. A namespace that is terminating
/// (deleted, its pods still draining) takes nothing new and cannot be applied again until it is
/// gone (409), as in Kubernetes.
fn check_namespaces(state: &AppState, keys: &[ObjectKey]) -> Result<(), ApiError> {
    let created: HashSet<&str> = keys
        .iter()
        .filter(|k| k.kind == Kind::Namespace)
        .map(|k| k.name.as_str())
        .collect();
    for ns in &created {
        if let Some(pods) = terminating(state, ns)? {
            return Err(ApiError::conflict(format!(
                "namespace {ns:?} is being deleted: {pods} pod(s) of it still drain; it can be created again once it is gone"
            )));
        }
    }
    let mut checked = HashSet::new();
    for key in keys.iter().filter(|k| k.kind.namespaced()) {
        let ns = key.namespace.as_str();
        if ns == DEFAULT_NAMESPACE || created.contains(ns) || !checked.insert(ns) {
            continue;
        }
        let stored =
            state
                .registry
                .get_typed::<Namespace>(&ObjectKey::new(Kind::Namespace, "", ns))?;
        match stored {
            None => {
                return Err(ApiError::not_found(format!(
                    "{} {:?}: namespace {ns:?} not found; create it first (`wasmpod create namespace {ns}`)",
                    key.kind, key.name
                )))
            }
            Some(namespace) if namespace.is_terminating() => {
                return Err(ApiError::conflict(format!(
                    "{} {:?}: namespace {ns:?} is being deleted (its pods still drain) and takes nothing new",
                    key.kind, key.name
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The number of pods still in namespace `name` when it is terminating.
fn terminating(state: &AppState, name: &str) -> Result<Option<usize>, ApiError> {
    let stored =
        state
            .registry
            .get_typed::<Namespace>(&ObjectKey::new(Kind::Namespace, "", name))?;
    if !stored.is_some_and(|n| n.is_terminating()) {
        return Ok(None);
    }
    let (pods, _) = state.registry.list(Kind::Pod, Some(name))?;
    Ok(Some(pods.len()))
}

fn result(key: ObjectKey, action: ApplyAction) -> ApplyResult {
    ApplyResult {
        kind: key.kind.to_string(),
        namespace: key.namespace,
        name: key.name,
        action,
    }
}

/// Parses and validates one object as a user wrote it and returns what would be stored: the
/// namespace filled in, the stored status kept (status belongs to the controllers).
pub(super) fn prepare(
    state: &AppState,
    at: &str,
    any: &AnyObject,
) -> Result<(ObjectKey, AnyObject), ApiError> {
    let mut object =
        UserObject::from_any(any).map_err(|e| ApiError::invalid(format!("{at}: {e}")))?;
    if let UserObject::Secret(secret) = &mut object {
        secret.normalise();
    }
    let key = ObjectKey::new(object.kind(), object.namespace(), object.name());
    let template = match &object {
        UserObject::Deployment(d) => Some(&d.spec.template.spec),
        UserObject::StatefulSet(s) => Some(&s.spec.template.spec),
        _ => None,
    };
    if let Some(spec) = template {
        check_component(state, spec)
            .map_err(|m| ApiError::invalid(format!("{at}: spec.template.spec.component: {m}")))?;
    }
    let mut value = object.to_any().0;
    if key.kind.namespaced() {
        value["metadata"]["namespace"] = Value::from(key.namespace.clone());
    } else if let Some(meta) = value["metadata"].as_object_mut() {
        meta.remove("namespace");
    }
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
    Ok((key, AnyObject(value)))
}

/// What a write of `object` would do to `existing`: the metadata the system owns is taken
/// from the stored object before comparing, as the registry does when it writes.
fn would_do(existing: Option<&AnyObject>, object: &AnyObject) -> ApplyAction {
    let Some(existing) = existing else {
        return ApplyAction::Created;
    };
    let mut candidate = object.0.clone();
    for field in ["uid", "creationTimestamp", "resourceVersion", "generation"] {
        let stored = existing.0.pointer(&format!("/metadata/{field}")).cloned();
        if let Some(meta) = candidate["metadata"].as_object_mut() {
            match stored {
                Some(v) => meta.insert(field.to_string(), v),
                None => meta.remove(field),
            };
        }
    }
    if candidate == existing.0 {
        ApplyAction::Unchanged
    } else {
        ApplyAction::Configured
    }
}

/// The stored spec pins a component by digest: it must be uploaded and runnable, or be an OCI
/// reference pinned to its manifest digest (apply pins tags; the nodes pull and check it).
fn check_component(state: &AppState, spec: &PodSpec) -> Result<(), String> {
    if let Some(reference) = spec.component.oci() {
        return match reference.digest {
            Some(_) => Ok(()),
            None => Err(format!(
                "{} is not pinned to a digest; `wasmpod apply` resolves tags",
                spec.component
            )),
        };
    }
    if spec.component_digest().is_none() {
        return Err(format!(
            "{:?} is not a digest; upload the component first (`wasmpod apply -f` does this for paths)",
            spec.component.to_string()
        ));
    }
    match state.blobs.read(&spec.component.to_string()) {
        Ok(Some(bytes)) => wasmpod_inspect::inspect_component(&bytes)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(None) => Err(format!("component {} was not uploaded", spec.component)),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dry_run_tells_created_configured_and_unchanged() {
        let stored = AnyObject(json!({"kind": "ConfigMap", "metadata": {"name": "c",
            "namespace": "default", "uid": "u", "resourceVersion": 4, "generation": 1},
            "data": {"a": "1"}}));
        let same = AnyObject(json!({"kind": "ConfigMap", "metadata": {"name": "c",
            "namespace": "default"}, "data": {"a": "1"}}));
        let changed = AnyObject(json!({"kind": "ConfigMap", "metadata": {"name": "c",
            "namespace": "default"}, "data": {"a": "2"}}));
        assert_eq!(would_do(None, &same), ApplyAction::Created);
        assert_eq!(would_do(Some(&stored), &same), ApplyAction::Unchanged);
        assert_eq!(would_do(Some(&stored), &changed), ApplyAction::Configured);
    }
}
