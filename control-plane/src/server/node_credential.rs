//! `POST /api/v1/nodes/{name}/credential`: a node's identity. The join token gets one only for a
//! name that has none (so it cannot take over a node); the admin may re-issue one. The answer is
//! given once; registering is recorded as a `NodeRegistered` event on the node.

use super::{ApiError, AppState, Identity};
use crate::events::{self, EventDraft};
use crate::node_credentials::{CredentialError, Replace};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use wasmpod_api::client::NodeCredential;
use wasmpod_api::{Kind, Name, ObjectKey};

pub async fn issue(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path((plural, name)): Path<(String, String)>,
) -> Result<Json<NodeCredential>, ApiError> {
    if plural != Kind::Node.plural() {
        return Err(ApiError::not_found("only nodes have credentials"));
    }
    let name = Name::try_from(name).map_err(ApiError::invalid)?;
    let replace = match identity {
        Identity::Admin => Replace::Allowed,
        _ => Replace::Refused,
    };
    let credentials = state.credentials.clone();
    let node = name.to_string();
    let issued = tokio::task::spawn_blocking(move || credentials.issue(&node, replace))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e: CredentialError| ApiError::internal(&e))?;
    let Some(credential) = issued else {
        return Err(ApiError::conflict(format!(
            "node {name:?} already has a credential; to register it again, revoke it first with \
             `wasmpod delete node {name}`"
        )));
    };
    let draft = EventDraft::normal(
        ObjectKey::new(Kind::Node, "", name.as_str()),
        "NodeRegistered",
        format!("node {name} was issued a credential by {identity}"),
    );
    events::record_off_thread(&state.registry, "node-credentials", vec![draft]).await;
    tracing::info!(node = %name, by = %identity, "node credential issued");
    Ok(Json(credential))
}
