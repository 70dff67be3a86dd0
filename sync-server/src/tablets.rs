//! The HTTP routes of staff tablets (R-STAFF-1…3), an extension of the contract described
//! in docs/protocol.md ("Tablets"): pairing a tablet to a unit, its device credential,
//! revoking it, and the staff's personal PINs. The rules are in `rules/devices.rs` and
//! `rules/pins.rs`; push, pull and events take device credentials in `routes.rs`/`sse.rs`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::pairing::PairingCode;
use domain::pin::{self, PinVerifier};
use domain::wire::{
    CreatePairingRequest, DeviceMeResponse, DevicesResponse, PairRequest, PairResponse, PairingInfo,
    PasswordUnlockRequest, PasswordUnlockResponse, SetPinRequest,
};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, AuthDevice, AuthUser};
use crate::rules::{committed, devices, pins};
use crate::routes::{check_credentials_length, invalid_credentials, user_info};
use crate::{auth, AppState};

/// A rule's answer from a write job as an HTTP answer.
fn answer<T>(r: Result<T, domain::RuleError>) -> Result<T, ApiError> {
    r.map_err(ApiError::from)
}

#[utoipa::path(post, path = "/v1/devices/pairings", tag = "tablets", request_body = CreatePairingRequest,
    responses((status = 201, body = PairingInfo, description = "the pairing, with its one-time `code`"),
              (status = 403, description = "not_permitted: not staff of the unit", body = domain::wire::ErrorBody),
              (status = 404, description = "not_found: no such unit", body = domain::wire::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_pairing(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreatePairingRequest>,
) -> Result<(StatusCode, Json<PairingInfo>), ApiError> {
    let now = state.now();
    let user = auth.user;
    let info = state
        .store
        .write(move |tx| committed(devices::create_pairing(tx, &user, req.unit_id, now)))
        .await?;
    Ok((StatusCode::CREATED, Json(answer(info)?)))
}

#[utoipa::path(post, path = "/v1/devices/pair", tag = "tablets", request_body = PairRequest,
    responses((status = 200, body = PairResponse, description = "the device credential, shown once"),
              (status = 401, description = "pairing_invalid: malformed, unknown, used, expired or too often wrong code", body = domain::wire::ErrorBody)))]
pub async fn pair(State(state): State<AppState>, ApiJson(req): ApiJson<PairRequest>) -> Result<Json<PairResponse>, ApiError> {
    let code = PairingCode::parse(&req.code)?;
    let name = devices::check_name(req.name.as_deref())?;
    let token = auth::new_device_token();
    let token_hash = auth::hash_token(&token);
    let now = state.now();
    // A wrong code is counted in the same commit that answers it.
    let device = state
        .store
        .write(move |tx| committed(devices::pair(tx, &code, name, &token_hash, now)))
        .await?;
    let device = answer(device)?;
    tracing::info!(device = %device.id, unit = %device.unit.id, "tablet paired");
    Ok(Json(PairResponse { token, device }))
}

#[utoipa::path(get, path = "/v1/devices", tag = "tablets",
    responses((status = 200, body = DevicesResponse),
              (status = 403, description = "not_permitted: guardians and students", body = domain::wire::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_devices(State(state): State<AppState>, auth: AuthUser) -> Result<Json<DevicesResponse>, ApiError> {
    let now = state.now();
    let user = auth.user;
    let list = state.store.read(move |tx| committed(devices::list(tx, &user, now))).await?;
    Ok(Json(answer(list)?))
}

#[utoipa::path(delete, path = "/v1/devices/{id}", tag = "tablets",
    params(("id" = Uuid, Path, description = "the device")),
    responses((status = 204, description = "revoked (or already revoked)"),
              (status = 403, description = "not_permitted: not staff of the device's unit", body = domain::wire::ErrorBody),
              (status = 404, description = "not_found", body = domain::wire::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_device(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let now = state.now();
    let user = auth.user;
    let done = state.store.write(move |tx| committed(devices::revoke(tx, &user, id, now))).await?;
    answer(done)?;
    tracing::info!(device = %id, "tablet revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/devices/pairings/{id}", tag = "tablets",
    params(("id" = Uuid, Path, description = "the pairing")),
    responses((status = 204, description = "cancelled"),
              (status = 403, description = "not_permitted: not staff of the pairing's unit", body = domain::wire::ErrorBody),
              (status = 404, description = "not_found: unknown or already used", body = domain::wire::ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_pairing(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let user = auth.user;
    let done = state.store.write(move |tx| committed(devices::cancel_pairing(tx, &user, id))).await?;
    answer(done)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/device", tag = "tablets",
    responses((status = 200, body = DeviceMeResponse),
              (status = 401, description = "unauthorized: unknown or revoked device credential", body = domain::wire::ErrorBody)),
    security(("bearer" = [])))]
pub async fn device_me(State(state): State<AppState>, auth: AuthDevice) -> Result<Json<DeviceMeResponse>, ApiError> {
    let d = auth.device;
    let device = state.store.read(move |tx| committed(devices::device_info(tx, &d))).await?;
    Ok(Json(DeviceMeResponse { device: answer(device)? }))
}

#[utoipa::path(delete, path = "/v1/device", tag = "tablets",
    responses((status = 204, description = "the credential is revoked")),
    security(("bearer" = [])))]
pub async fn unpair_self(State(state): State<AppState>, auth: AuthDevice) -> Result<StatusCode, ApiError> {
    let (id, now) = (auth.device.id, state.now());
    state.store.write(move |tx| devices::unpair_self(tx, id, now)).await?;
    tracing::info!(device = %id, "tablet unpaired itself");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/device/password-unlock", tag = "tablets", request_body = PasswordUnlockRequest,
    responses((status = 200, body = PasswordUnlockResponse),
              (status = 401, description = "invalid_credentials: wrong password, or not staff of the tablet's unit", body = domain::wire::ErrorBody)),
    security(("bearer" = [])))]
pub async fn password_unlock(
    State(state): State<AppState>,
    auth: AuthDevice,
    ApiJson(req): ApiJson<PasswordUnlockRequest>,
) -> Result<Json<PasswordUnlockResponse>, ApiError> {
    check_credentials_length(&req.username, &req.password)?;
    let (username, unit_id) = (req.username.clone(), auth.device.unit_id);
    let found = state
        .store
        .read(move |tx| {
            let Some(user) = tx.user_by_username(&username)? else { return Ok(None) };
            let member = tx.staff_units(user.id)?.contains(&unit_id);
            Ok(Some((user, member)))
        })
        .await?;
    let stored = found.as_ref().map(|(u, _)| u.password_hash.clone());
    let password = req.password;
    // As at login: the same slow check whether or not the user exists or belongs here.
    let ok = tokio::task::spawn_blocking(move || {
        let hash = stored.unwrap_or_else(|| auth::dummy_hash().to_string());
        auth::verify_password(&password, &hash)
    })
    .await
    .map_err(|_| ApiError::internal("password check failed"))?;
    let Some((user, _)) = found.filter(|(_, member)| ok && *member) else {
        return Err(invalid_credentials());
    };
    let (uid, now) = (user.id, state.now());
    state.store.write(move |tx| pins::after_password_sign_in(tx, uid, now)).await?;
    Ok(Json(PasswordUnlockResponse { user: user_info(&user) }))
}

fn pin_owner(auth: &AuthUser) -> Result<(), ApiError> {
    if pins::may_have_pin(auth.user.role) {
        Ok(())
    } else {
        Err(ApiError::from(crate::rules::access::not_permitted("only staff have a PIN for the unit's tablets")))
    }
}

#[utoipa::path(put, path = "/v1/me/pin", tag = "tablets", request_body = SetPinRequest,
    responses((status = 204, description = "set; the unit's tablets get it with their next pull"),
              (status = 400, description = "invalid_input: not four digits", body = domain::wire::ErrorBody),
              (status = 403, description = "not_permitted: guardians and students", body = domain::wire::ErrorBody),
              (status = 422, description = "pin_trivial", body = domain::wire::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_pin(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<SetPinRequest>,
) -> Result<StatusCode, ApiError> {
    pin_owner(&auth)?;
    pin::check_new_pin(&req.pin)?;
    // PBKDF2 takes milliseconds: off the async threads.
    let verifier = tokio::task::spawn_blocking(move || PinVerifier::new(&req.pin, &auth::new_pin_salt()))
        .await
        .map_err(|_| ApiError::internal("could not derive the PIN verifier"))?;
    let uid = auth.user.id;
    let now = state.now();
    state.store.write(move |tx| pins::set_pin(tx, uid, verifier, Some(now))).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/me/pin", tag = "tablets",
    responses((status = 204, description = "removed"),
              (status = 403, description = "not_permitted: guardians and students", body = domain::wire::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_pin(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode, ApiError> {
    pin_owner(&auth)?;
    let uid = auth.user.id;
    state.store.write(move |tx| pins::remove_pin(tx, uid)).await?;
    Ok(StatusCode::NO_CONTENT)
}
