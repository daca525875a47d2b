//! `POST /api/v1/nodes/{name}/certificate`: the cluster CA signs a certificate for a node's
//! public key (see [`wasmpod_api::node_tls`]). Only the node itself (its credential) or the admin
//! asks; a node asks on every start, so its certificate carries its current addresses. A server
//! without TLS has no CA and answers 404.

use super::{ApiError, AppState, Identity};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use base64::Engine as _;
use wasmpod_api::node_tls::{chain_to_pem, NodeCertificate, NodeCertificateRequest};
use wasmpod_api::{Kind, Name};

pub async fn issue(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path((plural, name)): Path<(String, String)>,
    Json(request): Json<NodeCertificateRequest>,
) -> Result<Json<NodeCertificate>, ApiError> {
    if plural != Kind::Node.plural() {
        return Err(ApiError::not_found("only nodes have certificates"));
    }
    let name = Name::try_from(name).map_err(ApiError::invalid)?;
    let Some(authority) = state.authority.clone() else {
        return Err(ApiError::not_found(
            "this server has no cluster CA (it serves plain HTTP): nodes talk plain HTTP too",
        ));
    };
    let public_key = base64::engine::general_purpose::STANDARD
        .decode(&request.public_key)
        .map_err(|e| ApiError::bad_request(format!("publicKey is not base64: {e}")))?;
    let node = name.to_string();
    let addresses = request.addresses.clone();
    let chain =
        tokio::task::spawn_blocking(move || authority.sign_node(&node, &public_key, &addresses))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    tracing::info!(node = %name, by = %identity, addresses = ?request.addresses, "node certificate issued");
    Ok(Json(NodeCertificate {
        chain_pem: chain_to_pem(&chain),
    }))
}
