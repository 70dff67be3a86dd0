//! HTTP errors in the contract's shape: `{"error": {"code", "message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::wire::{ErrorBody, ErrorDetail};
use domain::{RejectCode, RuleError};

use crate::rules::ApplyError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.to_string(), message: message.into() }
    }
    pub fn unauthorized() -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in again: missing, expired or revoked token")
    }
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, RejectCode::InvalidInput.as_str(), message)
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        let status = match e.code {
            RejectCode::InvalidInput => StatusCode::BAD_REQUEST,
            RejectCode::NotFound => StatusCode::NOT_FOUND,
            RejectCode::NotPermitted => StatusCode::FORBIDDEN,
            RejectCode::CursorExpired => StatusCode::GONE,
            RejectCode::PairingInvalid => StatusCode::UNAUTHORIZED,
            RejectCode::PinLocked => StatusCode::LOCKED,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code.as_str(), e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        match e {
            StoreError::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "shutting down"),
            _ => ApiError::internal("storage failure; try again"),
        }
    }
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Rule(r) => r.into(),
            ApplyError::Store(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        (self.status, Json(body)).into_response()
    }
}
