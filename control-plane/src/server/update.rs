//! `PUT` of a user object (`edit`, `patch`, `label`, `annotate`, `set image`): a conditional
//! replacement with the resourceVersion read, validated like `apply`; `?dryRun=All` writes nothing.

use super::objects::DryRun;
use super::{ApiError, AppState};
use crate::registry::Write;
use axum::Json;
use wasmpod_api::{AnyObject, ObjectKey};

/// `edit`, `patch`, `label`, `set image`: replaces a user object as it was read. The body must
/// carry the `metadata.resourceVersion` it was read at; a change in between gets 409, so a
/// concurrent write is refused, never overwritten. Validated like `apply`.
pub(super) async fn update_user_object(
    state: &AppState,
    key: &ObjectKey,
    object: AnyObject,
    dry_run: Option<DryRun>,
) -> Result<Json<AnyObject>, ApiError> {
    if object.name() != key.name || object.kind() != Some(key.kind) {
        return Err(ApiError::bad_request(format!(
            "the body is {} {:?}, the path names {} {:?}",
            object.0.get("kind").and_then(|k| k.as_str()).unwrap_or("?"),
            object.name(),
            key.kind,
            key.name
        )));
    }
    let at = format!("{} {:?}", key.kind, key.name);
    // A tag without its digest (`rollout restart` drops it) is resolved again, as at apply.
    let object = super::oci_resolve::pin(state, &at, &object, &[]).await?;
    let (checked_key, value) = super::apply::prepare(state, &at, &object)?;
    if checked_key != *key {
        return Err(ApiError::bad_request(format!(
            "metadata.namespace {:?} does not match the query's {:?}",
            checked_key.namespace, key.namespace
        )));
    }
    if value.resource_version() == 0 {
        return Err(ApiError::conflict(format!(
            "{at}: an update must carry the metadata.resourceVersion it was read at"
        )));
    }
    let stored = state
        .registry
        .get(key)?
        .ok_or_else(|| ApiError::not_found(format!("{at} not found")))?;
    if dry_run == Some(DryRun::All) {
        if stored.resource_version() != value.resource_version() {
            return Err(ApiError::conflict(format!(
                "{key}: the object has been modified; read it again"
            )));
        }
        return Ok(Json(value));
    }
    state
        .registry
        .off_thread(move |registry| registry.commit(vec![Write::Update(value)]))
        .await?;
    tracing::info!(object = %key, "updated");
    state
        .registry
        .get(key)?
        .map(Json)
        .ok_or_else(|| ApiError::conflict(format!("{at} was deleted concurrently")))
}
