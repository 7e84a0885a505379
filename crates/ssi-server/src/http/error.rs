//! Errors that leave the process: an external code and message for the
//! caller, and an internal message for the log only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use ssi_proto::{ProtoError, ValidationError};

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `INVALID_REQUEST`.
    pub code: &'static str,
    /// What the caller sees: never secrets, never internals.
    pub message: String,
    /// What the log sees.
    pub internal: Option<String>,
}

/// The body of every JSON API error (the OAuth endpoints answer RFC 6749's
/// `{error, error_description}` instead).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(
    as = Error,
    example = json!({"error": "INVALID_REQUEST", "message": "identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got 0 characters)"})
)]
pub(crate) struct ErrorBody<'a> {
    /// Stable machine-readable code: `INVALID_REQUEST` (400), `UNAUTHORIZED`
    /// (401), `FORBIDDEN` (403), `NOT_FOUND` (404), `NO_ROUTE` (404, no such
    /// route), `METHOD_NOT_ALLOWED` (405), `CONFLICT` (409), `TOO_LARGE` (413),
    /// `UNSUPPORTED_MEDIA_TYPE` (415), `RATE_LIMITED` (429), `INTERNAL` (500),
    /// `UNAVAILABLE` (503, retry), `NOT_READY` (503, `/readyz`).
    #[schema(example = "NOT_FOUND")]
    error: &'a str,
    /// For people: names the field and the limit on validation errors; never
    /// a secret or an internal detail (those go to the log, with the request
    /// id).
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            internal: None,
        }
    }

    pub fn with_internal(mut self, internal: impl Into<String>) -> Self {
        self.internal = Some(internal.into());
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "missing or invalid credentials",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many attempts; try again later",
        )
    }

    pub fn internal(internal: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; see the server log for the request id",
        )
        .with_internal(internal)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the service is busy; retry",
            )
            .with_internal(e.to_string());
        }
        Self::internal(e.to_string())
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<ProtoError> for ApiError {
    fn from(e: ProtoError) -> Self {
        match e {
            ProtoError::TooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "TOO_LARGE", e.to_string())
            }
            other => Self::invalid(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(internal) = &self.internal {
            if self.status.is_server_error() {
                tracing::error!(code = self.code, internal = %internal, "request failed");
            } else {
                tracing::info!(code = self.code, internal = %internal, "request refused");
            }
        }
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}
