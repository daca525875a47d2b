//! Bearer tokens. The admin token may do everything; a node's join token may only read, register
//! a node and report status. With no tokens configured (a loopback-only `wasmpod up`) the API is open.

use super::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub admin_token: Option<String>,
    pub join_token: Option<String>,
}

enum Role {
    Admin,
    Node,
}

impl Auth {
    fn role(&self, token: Option<&str>) -> Option<Role> {
        if self.admin_token.is_none() && self.join_token.is_none() {
            return Some(Role::Admin);
        }
        let token = token?;
        if self
            .admin_token
            .as_deref()
            .is_some_and(|t| constant_time_eq(t, token))
        {
            return Some(Role::Admin);
        }
        if self
            .join_token
            .as_deref()
            .is_some_and(|t| constant_time_eq(t, token))
        {
            return Some(Role::Node);
        }
        None
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    wasmpod_api::gateway_key::constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// What a node may do: read, register itself, and report status.
fn node_may(method: &Method, path: &str) -> bool {
    if path.starts_with("/api/v1/secrets") {
        // Nodes get the secrets of their pods resolved, never the store's secrets.
        return false;
    }
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    if method == Method::POST && path == "/api/v1/events" {
        return true;
    }
    if method != Method::PUT {
        return false;
    }
    let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    matches!(
        parts.as_slice(),
        ["nodes", _] | ["nodes", _, "status"] | ["pods", _, "status"]
    )
}

pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match state.auth.role(token) {
        Some(Role::Admin) => next.run(request).await,
        Some(Role::Node) if node_may(request.method(), request.uri().path()) => {
            next.run(request).await
        }
        Some(Role::Node) => {
            ApiError::forbidden("a node token may only register its node and report status")
                .into_response()
        }
        None => ApiError::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_token_is_limited() {
        assert!(node_may(&Method::GET, "/api/v1/pods"));
        assert!(node_may(&Method::PUT, "/api/v1/pods/p/status"));
        assert!(node_may(&Method::PUT, "/api/v1/nodes/n"));
        assert!(!node_may(&Method::DELETE, "/api/v1/pods/p"));
        assert!(!node_may(&Method::POST, "/api/v1/apply"));
        assert!(!node_may(&Method::GET, "/api/v1/secrets"));
        assert!(!node_may(&Method::GET, "/api/v1/secrets/token"));
        assert!(node_may(&Method::GET, "/api/v1/pods/p/config"));
        let auth = Auth {
            admin_token: Some("a".into()),
            join_token: Some("j".into()),
        };
        assert!(matches!(auth.role(Some("a")), Some(Role::Admin)));
        assert!(matches!(auth.role(Some("j")), Some(Role::Node)));
        assert!(auth.role(Some("x")).is_none());
        assert!(auth.role(None).is_none());
        assert!(matches!(Auth::default().role(None), Some(Role::Admin)));
    }
}
