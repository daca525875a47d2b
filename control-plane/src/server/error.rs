//! API errors: a stable JSON body and an honest status code; a 5xx's detail is logged, not returned.

use crate::blobs::BlobError;
use crate::registry::RegistryError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use wasmpod_api::client::{ApiErrorBody, ApiErrorDetail};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            reason: "BadRequest",
            message: message.into(),
        }
    }

    /// 413: the body is past the route's limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "RequestEntityTooLarge",
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "Invalid",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            reason: "NotFound",
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            reason: "Conflict",
            message: message.into(),
        }
    }

    pub fn gone(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::GONE,
            reason: "Expired",
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            reason: "Unauthorized",
            message:
                "a valid bearer token is required (see ~/.wasmpod/config, --token or WASMPOD_TOKEN)"
                    .into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            reason: "Forbidden",
            message: message.into(),
        }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            reason: "MethodNotAllowed",
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            reason: "ServiceUnavailable",
            message: message.into(),
        }
    }

    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error, "internal error in API request");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            reason: "InternalError",
            message: "internal error; see the control plane's log".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            error: ApiErrorDetail {
                code: self.status.as_u16(),
                reason: self.reason.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        use crate::registry::Conflict;
        match &e {
            RegistryError::Conflict {
                conflict: Conflict::Gone,
                ..
            } => ApiError::not_found(e.to_string()),
            RegistryError::Conflict {
                conflict: Conflict::AlreadyExists,
                ..
            } => ApiError {
                status: StatusCode::CONFLICT,
                reason: "AlreadyExists",
                message: e.to_string(),
            },
            RegistryError::Conflict {
                conflict: Conflict::Modified,
                ..
            } => ApiError::conflict(e.to_string()),
            RegistryError::Invalid { .. } | RegistryError::BadName { .. } => {
                ApiError::invalid(e.to_string())
            }
            RegistryError::Contended { .. } => ApiError::conflict(e.to_string()),
            // The API's handle is never fenced: a fenced write here is a server fault.
            RegistryError::Store(_)
            | RegistryError::Interrupted(_)
            | RegistryError::Fenced { .. } => ApiError::internal(&e),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::BadDigest(_) | BlobError::DigestMismatch { .. } => {
                ApiError::bad_request(e.to_string())
            }
            BlobError::Io { .. } => ApiError::internal(&e),
        }
    }
}
