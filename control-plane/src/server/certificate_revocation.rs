//! Listing and revoking the cluster CA's certificates (see [`wasmpod_api::revocation`] and
//! [`crate::issued_certificates`]):
//!
//! - `GET /api/v1/clientcertificates` (admin): the tools' client certificates, revoked or not;
//! - `DELETE /api/v1/clientcertificates/{name}` (admin): revokes every certificate of tool
//!   `name` (404 when there is none left to revoke);
//! - `GET /api/v1/revokedcertificates` (nodes, admin): the revoked serials every node refuses;
//! - `GET /api/v1/nodecertificates` (whoever reads nodes): the nodes' unexpired certificates,
//!   revoked or not (`get nodes -o wide` shows when each node's ends);
//! - deleting a node revokes the node's certificates ([`revoke_node_certificates`]).
//!
//! A server without TLS has no CA: the first two answer 404, the third an empty list.

use super::{ApiError, AppState, Identity};
use crate::cluster_ca::ClusterAuthority;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::Utc;
use std::sync::Arc;
use wasmpod_api::revocation::{CertificateKind, IssuedCertificate, Revoked, RevokedCertificates};
use wasmpod_api::Name;

fn authority(state: &AppState) -> Result<Arc<ClusterAuthority>, ApiError> {
    state.authority.clone().ok_or_else(|| {
        ApiError::not_found(
            "this server has no cluster CA (it serves plain HTTP): it issues no certificates",
        )
    })
}

/// The unexpired certificates of `kind`.
async fn list_of(
    state: &AppState,
    kind: CertificateKind,
) -> Result<Json<Vec<IssuedCertificate>>, ApiError> {
    let authority = authority(state)?;
    let list = tokio::task::spawn_blocking(move || authority.issued().list(kind, Utc::now()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(list))
}

/// `GET /api/v1/clientcertificates`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<IssuedCertificate>>, ApiError> {
    list_of(&state, CertificateKind::Client).await
}

/// `GET /api/v1/nodecertificates`.
pub async fn list_nodes(
    State(state): State<AppState>,
) -> Result<Json<Vec<IssuedCertificate>>, ApiError> {
    list_of(&state, CertificateKind::Node).await
}

/// `DELETE /api/v1/clientcertificates/{name}`.
pub async fn revoke(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(name): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let name = Name::try_from(name).map_err(ApiError::invalid)?;
    let authority = authority(&state)?;
    let tool = name.to_string();
    let serials = tokio::task::spawn_blocking(move || {
        authority
            .issued()
            .revoke(CertificateKind::Client, &tool, Utc::now())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    if serials.is_empty() {
        return Err(ApiError::not_found(format!(
            "client certificate {name:?} not found (none issued, or every one is revoked or \
             expired)"
        )));
    }
    tracing::info!(client = %name, serials = ?serials, by = %identity, "client certificates revoked");
    Ok(Json(Revoked {
        name: name.to_string(),
        serials,
    }))
}

/// `GET /api/v1/revokedcertificates`.
pub async fn revoked(State(state): State<AppState>) -> Json<RevokedCertificates> {
    let serials = match &state.authority {
        Some(authority) => authority.issued().revoked_serials(Utc::now()).to_vec(),
        None => Vec::new(),
    };
    Json(RevokedCertificates { serials })
}

/// Revokes the certificates of node `node` (it was deleted): the other nodes refuse them at their
/// peer listeners and agents within seconds.
pub async fn revoke_node_certificates(state: &AppState, node: &str) -> Result<(), ApiError> {
    let Some(authority) = state.authority.clone() else {
        return Ok(());
    };
    let name = node.to_string();
    let serials = tokio::task::spawn_blocking(move || {
        authority
            .issued()
            .revoke(CertificateKind::Node, &name, Utc::now())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    if !serials.is_empty() {
        tracing::info!(%node, serials = ?serials, "node certificates revoked");
    }
    Ok(())
}
