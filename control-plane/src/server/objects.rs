//! Reading and writing single objects, lists (narrowed by selectors), status and scale.
//! `?dryRun=All` on a delete, scale or update checks everything and stores nothing.

use super::selection::ListFilter;
use super::{watch, ApiError, AppState, Identity};
use crate::controllers::{self, claims};
use crate::events::{self, EventDraft};
use crate::registry::{to_any, Write};
use crate::typed::TypedRegistry;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use wasmpod_api::client::PropagationPolicy;
use wasmpod_api::name::{validate_label, validate_object_key, Namespace};
use wasmpod_api::{
    AnyObject, ClaimPhase, Deployment, Kind, ListResponse, Node, ObjectKey, PersistentVolumeClaim,
    Pod, DEFAULT_NAMESPACE,
};

/// The query of every object route. A namespace that is not a DNS-1123 label is refused with
/// 400 before any handler runs (it is part of every store key, and of paths on nodes).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectQuery {
    pub namespace: Option<Namespace>,
    #[serde(default)]
    pub watch: bool,
    pub revision: Option<u64>,
    /// `app=web,tier in (a,b)`: lists and watches return only the objects whose labels match.
    pub label_selector: Option<String>,
    /// `spec.nodeName=n1,status.phase!=Running`.
    pub field_selector: Option<String>,
    /// `All`: validate and answer as if written, store nothing.
    pub dry_run: Option<DryRun>,
    /// On a delete: `Orphan` leaves a Deployment's or StatefulSet's pods running.
    pub propagation_policy: Option<PropagationPolicy>,
}

/// `?dryRun=All`, as in Kubernetes (the only value it has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DryRun {
    All,
}

/// The `default` namespace as it is listed when no object was stored for it: it always exists.
fn default_namespace() -> AnyObject {
    AnyObject(
        serde_json::json!({"apiVersion": wasmpod_api::API_VERSION, "kind": "Namespace",
        "metadata": {"name": DEFAULT_NAMESPACE}, "spec": {}, "status": {"phase": "Active"}}),
    )
}

pub(super) fn kind_of(plural: &str) -> Result<Kind, ApiError> {
    Kind::from_plural(plural)
        .ok_or_else(|| ApiError::not_found(format!("the server has no resource type {plural:?}")))
}

pub(super) fn key_of(plural: &str, name: &str, query: &ObjectQuery) -> Result<ObjectKey, ApiError> {
    let kind = kind_of(plural)?;
    validate_label(name).map_err(|e| ApiError::bad_request(format!("path: {e}")))?;
    Ok(ObjectKey::new(
        kind,
        query.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
        name,
    ))
}

pub(super) fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the request body is larger than this route takes ({} MiB)",
                super::MAX_JSON_BODY >> 20
            ))
        } else {
            ApiError::bad_request(format!("malformed request body: {}", e.body_text()))
        }
    })
}

pub async fn list_or_watch(
    State(state): State<AppState>,
    Path(plural): Path<String>,
    Query(query): Query<ObjectQuery>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&plural)?;
    let filter = ListFilter::new(
        kind,
        query.namespace.as_deref(),
        query.label_selector.as_deref(),
        query.field_selector.as_deref(),
    )?;
    if query.watch {
        let revision = match query.revision {
            Some(r) => r,
            None => state.registry.revision()?,
        };
        return watch::stream(&state, kind, revision, filter);
    }
    let (mut items, revision) = state.registry.list(kind, query.namespace.as_deref())?;
    if kind == Kind::Namespace && !items.iter().any(|n| n.name() == DEFAULT_NAMESPACE) {
        items.insert(0, default_namespace());
    }
    if filter.selects_by_content() {
        items.retain(|o| filter.matches(&o.0));
    }
    Ok(Json(ListResponse { items, revision }).into_response())
}

/// `GET /api/v1/events`: the same as for every other kind (the route exists for POST).
pub async fn list_events(
    state: State<AppState>,
    query: Query<ObjectQuery>,
) -> Result<Response, ApiError> {
    list_or_watch(state, Path("events".to_string()), query).await
}

/// Nodes report what happens to their pods (started, crashed, probe failures, denied egress).
pub async fn report_event(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    payload: Result<Json<wasmpod_api::client::EventReport>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let report = body(payload)?;
    let o = &report.involved_object;
    let kind = Kind::from_kind(&o.kind).ok_or_else(|| {
        ApiError::invalid(format!("involvedObject.kind: unknown kind {:?}", o.kind))
    })?;
    let key = ObjectKey::new(kind, &o.namespace, &o.name);
    validate_object_key(&key).map_err(|e| ApiError::invalid(format!("involvedObject: {e}")))?;
    if let Identity::Node(node) = &identity {
        // A node reports about itself and the pods bound to it, nothing else.
        let own = match kind {
            Kind::Node => o.name == *node,
            Kind::Pod => state
                .registry
                .get_typed::<Pod>(&key)?
                .is_some_and(|p| p.spec.node_name.as_deref() == Some(node.as_str())),
            _ => false,
        };
        if !own {
            return Err(ApiError::forbidden(format!(
                "{identity} may not report events about {} {}, which is not itself nor bound to it",
                kind.plural(),
                key
            )));
        }
    }
    let draft = EventDraft {
        involved: key.clone(),
        event_type: report.event_type,
        reason: report.reason,
        message: report.message,
    };
    events::record_off_thread(&state.registry, &report.source, vec![draft]).await;
    Ok(Json(serde_json::json!({"recorded": key.to_string()})))
}

pub async fn get_object(
    State(state): State<AppState>,
    Path((plural, name)): Path<(String, String)>,
    Query(query): Query<ObjectQuery>,
) -> Result<Json<AnyObject>, ApiError> {
    let key = key_of(&plural, &name, &query)?;
    match state.registry.get(&key)? {
        Some(object) => Ok(Json(object)),
        None if key.kind == Kind::Namespace && key.name == DEFAULT_NAMESPACE => {
            Ok(Json(default_namespace()))
        }
        None => Err(ApiError::not_found(format!(
            "{} {:?} not found",
            key.kind.plural(),
            key.name
        ))),
    }
}

pub async fn delete_object(
    State(state): State<AppState>,
    Path((plural, name)): Path<(String, String)>,
    Query(query): Query<ObjectQuery>,
) -> Result<Json<Value>, ApiError> {
    let key = key_of(&plural, &name, &query)?;
    if key.kind == Kind::Namespace && key.name == DEFAULT_NAMESPACE {
        return Err(ApiError::forbidden(
            "the namespace \"default\" always exists and cannot be deleted",
        ));
    }
    let orphan = query.propagation_policy == Some(PropagationPolicy::Orphan);
    if orphan && key.kind == Kind::Namespace {
        return Err(ApiError::bad_request(
            "propagationPolicy=Orphan: a namespace's objects always go with it",
        ));
    }
    if query.dry_run == Some(DryRun::All) {
        return match state.registry.get(&key)? {
            Some(_) => Ok(Json(
                serde_json::json!({"deleted": key.to_string(), "dryRun": true}),
            )),
            None => Err(ApiError::not_found(format!(
                "{} {:?} not found",
                key.kind.plural(),
                key.name
            ))),
        };
    }
    let revoked = key.kind == Kind::Node && revoke_credential(&state, &key.name).await?;
    if state.registry.get(&key)?.is_none() {
        if revoked {
            return Ok(Json(serde_json::json!({"deleted": key.to_string()})));
        }
        return Err(ApiError::not_found(format!(
            "{} {:?} not found",
            key.kind.plural(),
            key.name
        )));
    }
    if orphan && matches!(key.kind, Kind::Deployment | Kind::StatefulSet) {
        let owner = key.clone();
        let freed = state
            .registry
            .off_thread(move |registry| super::orphan::delete_orphaning(registry, &owner))
            .await?;
        tracing::info!(object = %key, orphaned_pods = freed, "deleted; its pods orphaned");
        let mut answer = serde_json::json!({"deleted": key.to_string(), "orphaned": freed});
        if freed > 0 {
            answer["message"] = serde_json::json!(format!(
                "deleted; its {freed} pod(s) keep running, without an owner"
            ));
        }
        return Ok(Json(answer));
    }
    if key.kind == Kind::Namespace {
        return delete_namespace(&state, key).await;
    }
    let writes = vec![Write::Delete(key.clone())];
    // Pods that go with their owner: after the commit, gracefully (they drain).
    let mut cascaded = Vec::new();
    if matches!(key.kind, Kind::Deployment | Kind::StatefulSet) {
        // Background cascading deletion: the owner goes now, its pods drain, then go (the
        // controllers also collect orphans). A StatefulSet's claims stay: they outlive the set.
        let pods = state.registry.all::<Pod>(Some(&key.namespace))?;
        let owned = controllers::pods_by_owner_kind(&pods, key.kind);
        let id = (key.namespace.clone(), key.name.clone());
        cascaded.extend(
            owned
                .get(&id)
                .into_iter()
                .flatten()
                .map(|p| controllers::pod_key(p)),
        );
    }
    if key.kind == Kind::Pod {
        // Graceful: a running pod leaves its endpoints and drains before it goes.
        let pod = key.clone();
        let marked = state
            .registry
            .off_thread(move |registry| {
                controllers::termination::mark_on_delete(registry, &pod, chrono::Utc::now())
            })
            .await?;
        if marked {
            tracing::info!(object = %key, "pod marked terminating");
            let message = format!(
                "pod {:?} is terminating: it drains its in-flight requests, then goes (delete it again to delete it at once)",
                key.name
            );
            return Ok(Json(
                serde_json::json!({"terminating": key.to_string(), "message": message}),
            ));
        }
    }
    if key.kind == Kind::PersistentVolumeClaim {
        // Protection: a claim in use is only marked Terminating; the claim controller deletes
        // it once its pods are gone, and no new pod may bind it meanwhile.
        let pods: Vec<Pod> = state.registry.list_typed(Kind::Pod, Some(&key.namespace))?;
        let users = claims::users(&pods, &key.namespace, &key.name);
        if !users.is_empty() {
            let message = format!(
                "persistentvolumeclaim {:?} is in use by pod(s) {}; it is Terminating and will be deleted once they are gone",
                key.name,
                users.join(", ")
            );
            let claim = key.clone();
            state
                .registry
                .off_thread(move |registry| {
                    registry.modify::<PersistentVolumeClaim, _>(&claim, |c| {
                        let changed = c.status.phase != ClaimPhase::Terminating;
                        c.status.phase = ClaimPhase::Terminating;
                        changed
                    })
                })
                .await?;
            let draft = EventDraft::normal(key.clone(), "WaitingForPods", message.clone());
            events::record_off_thread(&state.registry, "claim-protection", vec![draft]).await;
            tracing::info!(object = %key, pods = %users.join(","), "claim in use; marked Terminating");
            return Ok(Json(
                serde_json::json!({"terminating": key.to_string(), "waitingFor": users, "message": message}),
            ));
        }
    }
    let cascade = state
        .registry
        .off_thread(move |registry| {
            registry.commit(writes)?;
            controllers::termination::cascade(registry, &cascaded, chrono::Utc::now())
        })
        .await?;
    tracing::info!(object = %key, draining = cascade.draining, deleted_pods = cascade.deleted, "deleted");
    let mut answer = serde_json::json!({"deleted": key.to_string()});
    if cascade.draining > 0 {
        answer["message"] = serde_json::json!(format!(
            "deleted; its {} running pod(s) drain their in-flight requests, then go",
            cascade.draining
        ));
    }
    Ok(Json(answer))
}

/// Everything in the namespace goes with it; its running pods drain first, and the namespace
/// stays `Terminating` (and cannot be created again) until they are gone.
async fn delete_namespace(state: &AppState, key: ObjectKey) -> Result<Json<Value>, ApiError> {
    use controllers::namespace::Deletion;
    let name = key.name.clone();
    let outcome = state
        .registry
        .off_thread(move |registry| {
            controllers::namespace::delete(registry, &name, chrono::Utc::now())
        })
        .await?;
    let mut answer = serde_json::json!({"deleted": key.to_string()});
    match outcome {
        None => {
            return Err(ApiError::not_found(format!(
                "namespaces {:?} not found",
                key.name
            )))
        }
        Some(Deletion::Deleted) => {}
        Some(Deletion::Terminating { draining }) => {
            answer["message"] = serde_json::json!(format!(
                "terminating: its {draining} running pod(s) drain their in-flight requests, then it goes (it cannot be created again until then)"
            ));
        }
    }
    tracing::info!(object = %key, ?outcome, "namespace deleted");
    Ok(Json(answer))
}

/// Deleting a node revokes its credential: its next request gets 401.
async fn revoke_credential(state: &AppState, node: &str) -> Result<bool, ApiError> {
    let credentials = state.credentials.clone();
    let name = node.to_string();
    let revoked = tokio::task::spawn_blocking(move || credentials.revoke(&name))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    super::certificate_revocation::revoke_node_certificates(state, node).await?;
    if revoked {
        let draft = EventDraft::normal(
            ObjectKey::new(Kind::Node, "", node),
            "NodeCredentialRevoked",
            format!("node {node} was deleted; its credential no longer works"),
        );
        events::record_off_thread(&state.registry, "node-credentials", vec![draft]).await;
        tracing::info!(%node, "node credential revoked");
    }
    Ok(revoked)
}

/// Creates or replaces a Node (workers register this way; `cordon` edits `spec`). Its status is
/// kept, and so is its `spec` when the node itself writes (only an admin cordons).
pub async fn put_object(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path((plural, name)): Path<(String, String)>,
    Query(query): Query<ObjectQuery>,
    payload: Result<Json<AnyObject>, JsonRejection>,
) -> Result<Json<AnyObject>, ApiError> {
    let key = key_of(&plural, &name, &query)?;
    if key.kind.user_creatable() {
        return super::update::update_user_object(&state, &key, body(payload)?, query.dry_run)
            .await;
    }
    if key.kind != Kind::Node {
        return Err(ApiError::method_not_allowed(format!(
            "{} objects are made by the system; they are not written with PUT",
            key.kind
        )));
    }
    let mut node: Node = body(payload)?
        .to_typed()
        .map_err(|e| ApiError::bad_request(format!("not a Node: {e}")))?;
    if node.name() != name {
        return Err(ApiError::bad_request(format!(
            "metadata.name {:?} does not match the path {name:?}",
            node.name()
        )));
    }
    // A write of an existing Node states the version it was read at (409 when stale), so a
    // worker's re-register and an admin's `cordon` cannot undo each other's change.
    let write = match state.registry.get_typed::<Node>(&key)? {
        Some(existing) => {
            if node.metadata.resource_version.is_none() {
                return Err(ApiError::conflict(format!(
                    "node {name:?} exists: a PUT must carry the metadata.resourceVersion it was read at"
                )));
            }
            node.status = existing.status;
            if matches!(identity, Identity::Node(_)) {
                // The admin's part stays: the spec (cordon), and labels and annotations the node
                // does not set itself (as the kubelet's --node-labels only add on re-register).
                node.spec = existing.spec;
                let mut labels = existing.metadata.labels;
                labels.append(&mut node.metadata.labels);
                node.metadata.labels = labels;
                let mut annotations = existing.metadata.annotations;
                annotations.append(&mut node.metadata.annotations);
                node.metadata.annotations = annotations;
            }
            Write::Update
        }
        None => Write::Create,
    };
    let any = to_any(&key, &node)?;
    if query.dry_run == Some(DryRun::All) {
        let stale = state
            .registry
            .get(&key)?
            .is_some_and(|stored| stored.resource_version() != any.resource_version());
        if stale {
            return Err(ApiError::conflict(format!(
                "{key}: the object has been modified; read it again"
            )));
        }
        return Ok(Json(any));
    }
    state
        .registry
        .off_thread(move |registry| registry.commit(vec![write(any)]))
        .await?;
    state
        .registry
        .get(&key)?
        .map(Json)
        .ok_or_else(|| ApiError::conflict("node deleted concurrently"))
}

pub async fn put_status(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path((plural, name)): Path<(String, String)>,
    Query(query): Query<ObjectQuery>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let key = key_of(&plural, &name, &query)?;
    let mut status = body(payload)?;
    if key.kind == Kind::Node && status.is_object() {
        // The hash other gateways check forwarded requests against is the one of the key derived
        // from this node's credential, whatever the writer sent.
        status["forwardKeyHash"] = Value::String(state.credentials.forward_key_hash(&key.name));
    }
    // The read-modify-write commits: on the blocking pool, not on this handler's thread.
    let writer = identity.clone();
    let target = key.clone();
    let (updated, invalid, foreign) = state
        .registry
        .off_thread(move |registry| {
            let (identity, key) = (writer, target);
            let mut invalid = None;
            let mut foreign = false;
            let updated = registry.modify::<Value, _>(&key, |object| {
                if let (Identity::Node(node), Kind::Pod) = (&identity, key.kind) {
                    // Checked by the authorizer too; this is the object actually written.
                    if object["spec"]["nodeName"].as_str() != Some(node.as_str()) {
                        foreign = true;
                        return false;
                    }
                }
                let mut candidate = object.clone();
                candidate["status"] = status.clone();
                // Leases run on the control plane's clock, not the node's. A status that is no
                // object is left for the check below to refuse (indexing it would panic).
                if let (Kind::Node, Some(fields)) = (key.kind, candidate["status"].as_object_mut())
                {
                    fields.insert(
                        "lastHeartbeat".to_string(),
                        serde_json::to_value(chrono::Utc::now()).unwrap_or_default(),
                    );
                }
                let check = match key.kind {
                    Kind::Pod => serde_json::from_value::<Pod>(candidate.clone()).map(|_| ()),
                    Kind::Node => serde_json::from_value::<Node>(candidate.clone()).map(|_| ()),
                    Kind::Deployment => {
                        serde_json::from_value::<Deployment>(candidate.clone()).map(|_| ())
                    }
                    _ => Ok(()),
                };
                match check {
                    Ok(()) => {
                        *object = candidate;
                        true
                    }
                    Err(e) => {
                        invalid = Some(e.to_string());
                        false
                    }
                }
            })?;
            Ok::<_, ApiError>((updated, invalid, foreign))
        })
        .await?;
    if foreign {
        return Err(ApiError::forbidden(format!(
            "{identity} may not update the status of pods {key}: it is not bound to it"
        )));
    }
    if let Some(message) = invalid {
        return Err(ApiError::bad_request(format!("invalid status: {message}")));
    }
    updated
        .map(|_| Json(serde_json::json!({"updated": key.to_string()})))
        .ok_or_else(|| {
            ApiError::not_found(format!("{} {:?} not found", key.kind.plural(), key.name))
        })
}
