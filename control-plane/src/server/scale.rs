//! `POST .../scale`: the replicas of a Deployment or StatefulSet; `?dryRun=All` checks the same
//! things and writes nothing.

use super::objects::{body, key_of, DryRun, ObjectQuery};
use super::{ApiError, AppState};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::Value;
use wasmpod_api::client::ScaleRequest;
use wasmpod_api::{Deployment, Kind, ObjectKey};

pub async fn scale(
    State(state): State<AppState>,
    Path((plural, name)): Path<(String, String)>,
    Query(query): Query<ObjectQuery>,
    payload: Result<Json<ScaleRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let key = key_of(&plural, &name, &query)?;
    let request = body(payload)?;
    if request.replicas > wasmpod_api::MAX_REPLICAS {
        return Err(ApiError::invalid(format!(
            "replicas: {} is more than {}",
            request.replicas,
            wasmpod_api::MAX_REPLICAS
        )));
    }
    if query.dry_run == Some(DryRun::All) {
        return scale_dry_run(&state, &key, request.replicas);
    }
    let replicas = request.replicas;
    let target = key.clone();
    // The read-modify-write commits: on the blocking pool, not on this handler's thread.
    let (found, invalid) = state
        .registry
        .off_thread(move |registry| scale_stored(registry, &target, replicas))
        .await?;
    if let Some(message) = invalid {
        return Err(ApiError::invalid(message));
    }
    if !found {
        return Err(ApiError::not_found(format!(
            "{} {name:?} not found",
            key.kind.plural()
        )));
    }
    Ok(Json(
        serde_json::json!({"scaled": key.to_string(), "replicas": request.replicas}),
    ))
}

/// Sets the replicas of the stored object: whether it exists, and why the count is invalid.
fn scale_stored(
    registry: &crate::registry::Registry,
    key: &ObjectKey,
    replicas: u32,
) -> Result<(bool, Option<String>), ApiError> {
    match key.kind {
        Kind::Deployment => {
            let found = registry
                .modify::<Deployment, _>(key, |d| {
                    let changed = d.spec.replicas != replicas;
                    d.spec.replicas = replicas;
                    changed
                })?
                .is_some();
            Ok((found, None))
        }
        Kind::StatefulSet => {
            let mut invalid = None;
            let found = registry
                .modify::<wasmpod_api::StatefulSet, _>(key, |s| {
                    let before = s.spec.replicas;
                    s.spec.replicas = replicas;
                    if let Err(e) = s.spec.validate() {
                        invalid = Some(e.to_string());
                        s.spec.replicas = before;
                        return false;
                    }
                    before != replicas
                })?
                .is_some();
            Ok((found, invalid))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{} cannot be scaled",
            key.kind
        ))),
    }
}

/// `scale --dry-run=server`: the same checks as a scale, nothing written.
fn scale_dry_run(
    state: &AppState,
    key: &ObjectKey,
    replicas: u32,
) -> Result<Json<Value>, ApiError> {
    let missing = || ApiError::not_found(format!("{} {:?} not found", key.kind.plural(), key.name));
    match key.kind {
        Kind::Deployment => {
            state
                .registry
                .get_typed::<Deployment>(key)?
                .ok_or_else(missing)?;
        }
        Kind::StatefulSet => {
            let mut set = state
                .registry
                .get_typed::<wasmpod_api::StatefulSet>(key)?
                .ok_or_else(missing)?;
            set.spec.replicas = replicas;
            set.spec
                .validate()
                .map_err(|e| ApiError::invalid(e.to_string()))?;
        }
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "{} cannot be scaled",
                key.kind
            )))
        }
    }
    Ok(Json(
        serde_json::json!({"scaled": key.to_string(), "replicas": replicas, "dryRun": true}),
    ))
}
