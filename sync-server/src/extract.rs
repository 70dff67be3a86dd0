//! Extractors whose failures answer in the contract's error shape, never as plain text.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::RejectCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::rules::devices;
use crate::store::{DeviceRow, StoreResult, Tx, UserRow};
use crate::AppState;

/// JSON body; malformed or oversized bodies become `invalid_input` / `payload_too_large`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Performance: a body sent as plain `application/json` (what the app and the load
        // generator send) is read without `serde_path_to_error`, which axum's extractor
        // wraps around every value and which keeps each map key as a `String` for the
        // error's path: a third of the runtime's time on a tablet's push of forty marks.
        // Only a body that fails is read again the axum way, for the same answer.
        let plain = req.headers().get(axum::http::header::CONTENT_TYPE).is_some_and(|v| v == "application/json");
        if !plain {
            return match axum::Json::<T>::from_request(req, state).await {
                Ok(axum::Json(v)) => Ok(ApiJson(v)),
                Err(rej) => Err(json_rejection(rej)),
            };
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| json_rejection(e.into()))?;
        if let Ok(v) = serde_json::from_slice(&bytes) {
            return Ok(ApiJson(v));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
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

/// A path parameter; a malformed one (not a uuid) is `invalid_input`, not plain text.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(rej) => Err(ApiError::invalid(rej.body_text())),
        }
    }
}

/// The signed-in user, from `Authorization: Bearer <token>`. A paired tablet's credential
/// on a route for people is `not_permitted` (403).
pub struct AuthUser {
    pub user: UserRow,
    pub token_hash: String,
}

/// A paired tablet, from `Authorization: Bearer <device credential>` (R-STAFF-3). Revoked:
/// `unauthorized`; a person's token on a route for tablets: `not_permitted`.
pub struct AuthDevice {
    pub device: DeviceRow,
    pub token_hash: String,
}

/// Either, for the routes both use (push, pull, events).
pub enum Caller {
    User(AuthUser),
    Device(AuthDevice),
}

/// A well-formed `Authorization: Bearer <token>` header, not yet looked up: for handlers
/// that look the token up inside their own store job (one job instead of two per request).
/// A missing or malformed header is `unauthorized` at once, as with [`AuthUser`].
pub struct BearerToken {
    pub token_hash: String,
    /// A device credential by its form ([`crate::auth::is_device_token`]): looked up among
    /// devices, not sessions.
    pub device: bool,
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
        Ok(BearerToken { token_hash: crate::auth::hash_token(token), device: crate::auth::is_device_token(token) })
    }
}

fn wrong_kind(what: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, RejectCode::NotPermitted.as_str(), what)
}

impl BearerToken {
    /// Looks the token up: the user, or `unauthorized`.
    pub async fn user(self, state: &AppState) -> Result<AuthUser, ApiError> {
        match self.caller(state).await? {
            Caller::User(u) => Ok(u),
            Caller::Device(_) => Err(wrong_kind("a paired tablet cannot use this route: sign in personally")),
        }
    }

    /// Looks the credential up: the live device, or `unauthorized`.
    pub async fn device(self, state: &AppState) -> Result<AuthDevice, ApiError> {
        match self.caller(state).await? {
            Caller::Device(d) => Ok(d),
            Caller::User(_) => Err(wrong_kind("only a paired tablet uses this route")),
        }
    }

    /// Looks the token up among sessions or devices, by its form.
    pub async fn caller(self, state: &AppState) -> Result<Caller, ApiError> {
        let now = state.now();
        // Read before the snapshot (see `session_cache`).
        let generation = state.store.session_generation();
        if let Some(caller) = self.from_memory(state, generation, now) {
            return Ok(caller);
        }
        let (h, device, remember) = (self.token_hash.clone(), self.device, generation.is_some());
        let found = state.store.read(move |tx| look_up(tx, &h, device, now, remember)).await?;
        self.found(state, generation, found)
    }

    /// The caller without a store trip where that is exact: a person's session unchanged
    /// since it was last looked up (`session_cache`), `generation` being
    /// [`crate::store::Store::session_generation`] read before.
    pub fn from_memory(&self, state: &AppState, generation: Option<u64>, now: DateTime<Utc>) -> Option<Caller> {
        if self.device {
            return None;
        }
        let user = state.sessions.user(&self.token_hash, generation?, now)?;
        state.metrics.sessions_from_memory.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(Caller::User(AuthUser { user, token_hash: self.token_hash.clone() }))
    }

    /// What [`look_up`] found, as the caller: remembers a session (read at `generation`)
    /// and notes when a device was seen; nothing found is `unauthorized`.
    pub fn found(self, state: &AppState, generation: Option<u64>, found: Option<Found>) -> Result<Caller, ApiError> {
        match found {
            None => Err(ApiError::unauthorized()),
            Some(Found::Device(mut device)) => {
                note_seen(state, &mut device);
                Ok(Caller::Device(AuthDevice { device, token_hash: self.token_hash }))
            }
            Some(Found::User(user, expires)) => {
                if let (Some(g), Some(exp)) = (generation, expires) {
                    state.sessions.remember(&self.token_hash, g, &user, exp);
                }
                Ok(Caller::User(AuthUser { user, token_hash: self.token_hash }))
            }
        }
    }
}

/// A token looked up in a store job ([`look_up`]): the person, with the token's expiry when
/// asked for (to remember the session), or the live device.
pub enum Found {
    User(UserRow, Option<DateTime<Utc>>),
    Device(DeviceRow),
}

/// Looks `token_hash` up among devices or sessions (`device`: by the credential's form) in
/// the job's `tx`; `None`: unauthorized. Run by [`BearerToken::caller`]'s read job, and by
/// a push's write job, where PostgreSQL finds a whole group's callers in one query.
pub fn look_up(
    tx: &mut dyn Tx,
    token_hash: &str,
    device: bool,
    now: DateTime<Utc>,
    with_expiry: bool,
) -> StoreResult<Option<Found>> {
    if device {
        return Ok(tx.device_for_token(token_hash)?.map(Found::Device));
    }
    let Some(user) = tx.user_for_token(token_hash, now)? else { return Ok(None) };
    let expires = if with_expiry { tx.token_expires_at(token_hash)? } else { None };
    Ok(Some(Found::User(user, expires)))
}

/// Keeps a device's `last_seen_at` roughly current: written at most once a minute, in the
/// background (the request does not wait for a commit); `device` shows the new value.
pub fn note_seen(state: &AppState, device: &mut DeviceRow) {
    let now = state.now();
    if !devices::seen_is_stale(device.last_seen_at, now) {
        return;
    }
    device.last_seen_at = Some(now);
    let (store, id) = (state.store.clone(), device.id);
    tokio::spawn(async move {
        if let Err(e) = store.write(move |tx| devices::touch(tx, id, now)).await {
            tracing::debug!(error = %e, "could not note when a device was last seen");
        }
    });
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        BearerToken::from_request_parts(parts, state).await?.user(state).await
    }
}

impl FromRequestParts<AppState> for AuthDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        BearerToken::from_request_parts(parts, state).await?.device(state).await
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        BearerToken::from_request_parts(parts, state).await?.caller(state).await
    }
}
