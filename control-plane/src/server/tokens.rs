//! `POST /api/v1/tokens` (create: the secret is answered once), `GET /api/v1/tokens` (names,
//! roles, namespaces; never a secret), `DELETE /api/v1/tokens/{name}`. Admin only (see
//! [`super::auth`]); what a token may do is decided there too.

use super::objects::body;
use super::{ApiError, AppState, Identity};
use crate::user_tokens::{Created, TokenError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use wasmpod_api::tokens::{IssuedToken, TokenInfo, TokenRequest};
use wasmpod_api::Name;

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, TokenError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    payload: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Json<IssuedToken>, ApiError> {
    let request = body(payload)?;
    if request.role == wasmpod_api::tokens::Role::Admin && request.namespace.is_some() {
        return Err(ApiError::invalid(
            "an admin token is not namespaced: give --namespace only with the edit or view role",
        ));
    }
    let tokens = state.tokens.clone();
    let name = request.name.to_string();
    let namespace = request.namespace.as_ref().map(|n| n.to_string());
    let created =
        blocking(move || tokens.create(&name, request.role, namespace.as_deref())).await?;
    match created {
        Created::Issued(issued) => {
            tracing::info!(token = %issued.info.name, role = %issued.info.role,
                namespace = ?issued.info.namespace, by = %identity, "API token created");
            Ok(Json(issued))
        }
        Created::NameTaken => Err(ApiError::conflict(format!(
            "token {:?} exists; delete it first with `wasmpod delete token {}`",
            request.name.as_str(),
            request.name
        ))),
    }
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    let tokens = state.tokens.clone();
    Ok(Json(blocking(move || tokens.list()).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = Name::try_from(name).map_err(ApiError::invalid)?;
    let tokens = state.tokens.clone();
    let target = name.to_string();
    if !blocking(move || tokens.delete(&target)).await? {
        return Err(ApiError::not_found(format!(
            "token {:?} not found",
            name.as_str()
        )));
    }
    tracing::info!(token = %name, by = %identity, "API token deleted");
    Ok(Json(
        serde_json::json!({"message": format!("token {name:?} deleted")}),
    ))
}
