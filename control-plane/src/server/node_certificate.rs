//! `POST /api/v1/nodes/{name}/certificate`: the cluster CA signs a certificate for a node's
//! public key (see [`wasmpod_api::node_tls`]). Only the node itself (its credential) or the admin
//! asks. A node asks when it has no stored certificate that is unexpired and carries its current
//! addresses, and again to renew it before it expires (each time for a new key): the certificate
//! lives `--node-certificate-validity`. Each certificate is recorded (serial, node, end); the
//! renewed one is not revoked (connections made with it may still be open), it expires, and its
//! record is pruned then. Deleting the node revokes them all (see
//! [`super::certificate_revocation`]). A server without TLS has no CA and answers 404.

use super::{ApiError, AppState, Identity};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use base64::Engine as _;
use chrono::Utc;
use wasmpod_api::node_tls::{chain_to_pem, NodeCertificate, NodeCertificateRequest};
use wasmpod_api::revocation::CertificateKind;
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
    // Recorded before it is handed out, so deleting the node revokes it.
    let signed = tokio::task::spawn_blocking(move || {
        let signed = authority
            .sign_node(&node, &public_key, &addresses, Utc::now())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        authority
            .issued()
            .record(
                CertificateKind::Node,
                &node,
                &signed.serial,
                signed.not_after,
                Utc::now(),
            )
            .map_err(|e| ApiError::internal(&e))?;
        Ok::<_, ApiError>(signed)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    tracing::info!(node = %name, by = %identity, serial = %signed.serial,
        not_after = %signed.not_after, addresses = ?request.addresses, "node certificate issued");
    Ok(Json(NodeCertificate {
        chain_pem: chain_to_pem(&signed.chain),
        serial: signed.serial,
        not_before: signed.not_before,
        not_after: signed.not_after,
    }))
}
