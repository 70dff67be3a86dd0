//! Extractors whose failures answer in the contract's error shape, never as plain text.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::store::UserRow;
use crate::AppState;

/// JSON body; malformed or oversized bodies become `invalid_input` / `payload_too_large`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    let status = rej.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "payload_too_large", "the request body is larger than 1 MiB");
    }
    let status = if status.is_client_error() { status } else { StatusCode::BAD_REQUEST };
    ApiError::new(status, "invalid_input", rej.body_text())
}

/// The signed-in user, from `Authorization: Bearer <token>`.
pub struct AuthUser {
    pub user: UserRow,
    pub token_hash: String,
}

/// A well-formed `Authorization: Bearer <token>` header, not yet looked up: for handlers
/// that look the token up inside their own store job (one job instead of two per request).
/// A missing or malformed header is `unauthorized` at once, as with [`AuthUser`].
pub struct BearerToken {
    pub token_hash: String,
}

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        Ok(BearerToken { token_hash: crate::auth::hash_token(token) })
    }
}

impl BearerToken {
    /// Looks the token up: the user, or `unauthorized`.
    pub async fn user(self, state: &AppState) -> Result<AuthUser, ApiError> {
        let now = state.now();
        let h = self.token_hash.clone();
        let user = state.store.read(move |tx| tx.user_for_token(&h, now)).await?;
        match user {
            Some(user) => Ok(AuthUser { user, token_hash: self.token_hash }),
            None => Err(ApiError::unauthorized()),
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        BearerToken::from_request_parts(parts, state).await?.user(state).await
    }
}
