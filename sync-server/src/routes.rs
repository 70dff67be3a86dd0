//! The HTTP routes of the sync contract.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::Duration;
use domain::wire::{
    ChildInfo, DevClockRequest, LoginRequest, LoginResponse, MeResponse, PullRequest, PullResponse,
    PushRequest, PushResponse, Role, UnitRef, UserInfo,
};
use domain::time::Clock;
use domain::wire::entity::{Child, Unit, CHILD_TYPE, UNIT_TYPE};
use domain::wire::Locale;
use utoipa::OpenApi;

use crate::error::ApiError;
use crate::extract::{self, note_seen, ApiJson, AuthUser, BearerToken, Caller, Found};
use crate::rules::pull::{Changes, PullOutcome, PullPage, DEFAULT_LIMIT};
use crate::rules::push::Pusher;
use crate::rules::{entities, pins, pull, push, scope};
use crate::store::{StoreResult, Tx, UserRow};
use crate::{auth, tablets, AppState};

/// Request bodies above this are refused with `payload_too_large`.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    // Full paths rather than `nest("/v1", …)`. Performance: a nested router strips the
    // prefix and clones its boxed services on every request.
    let mut app = Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/me", get(me))
        .route("/v1/sync/push", post(push_handler))
        .route("/v1/sync/pull", post(pull_handler))
        .route("/v1/sync/events", get(crate::sse::events))
        // Staff tablets (R-STAFF-1…3), docs/protocol.md "Tablets".
        .route("/v1/devices", get(tablets::list_devices))
        .route("/v1/devices/pairings", post(tablets::create_pairing))
        .route("/v1/devices/pairings/{id}", delete(tablets::cancel_pairing))
        .route("/v1/devices/pair", post(tablets::pair))
        .route("/v1/devices/{id}", delete(tablets::revoke_device))
        .route("/v1/device", get(tablets::device_me).delete(tablets::unpair_self))
        .route("/v1/device/password-unlock", post(tablets::password_unlock))
        .route("/v1/me/pin", put(tablets::set_pin).delete(tablets::remove_pin));
    if state.dev_clock {
        app = app.route("/v1/dev/clock", post(dev_clock_set).delete(dev_clock_release));
    }
    app
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal("the server hit a bug; it was logged").into_response()
        }))
        .with_state(state)
}

async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // A clone of the matched path is a reference count, not a copy of the string.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let mut res = next.run(req).await;
    let took = started.elapsed();
    state.metrics.observe(route.as_ref().map_or("unmatched", |p| p.as_str()), res.status().as_u16(), took);
    // The time spent answering (handler and serialising the body, not the network), so a
    // client or the load generator can tell server time from transfer time.
    if let Ok(v) = header::HeaderValue::from_str(&format!("app;dur={:.3}", took.as_secs_f64() * 1000.0)) {
        res.headers_mut().insert("server-timing", v);
    }
    res
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}

#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "ok")))]
async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    // Answering means the store answers too.
    state.store.read(|tx| tx.max_seq()).await?;
    Ok(Json(serde_json::json!({ "status": "ok" })))
}

#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = state.metrics.render();
    if let Some(w) = state.store.write_stats() {
        body.push_str(&crate::metrics::render_write_stats(&w));
    }
    if let Some(n) = state.store.pulls_read_ahead() {
        body.push_str(&format!(
            "# HELP hub_store_pulls_read_ahead_total Pulls whose changes were read with their person, in one statement.\n\
             # TYPE hub_store_pulls_read_ahead_total counter\nhub_store_pulls_read_ahead_total {n}\n"
        ));
    }
    if let Some(n) = state.store.pull_ranges_skipped() {
        body.push_str(&format!(
            "# HELP hub_store_pull_ranges_skipped_total Scopes of pulls not read, nothing being written in them after the cursor.\n\
             # TYPE hub_store_pull_ranges_skipped_total counter\nhub_store_pull_ranges_skipped_total {n}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::ApiDoc::openapi())
}

pub(crate) fn user_info(u: &UserRow) -> UserInfo {
    UserInfo {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.role,
        locale: Locale::parse(&u.locale).unwrap_or_default(),
    }
}

#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse),
              (status = 401, description = "invalid_credentials", body = domain::wire::ErrorBody)))]
async fn login(State(state): State<AppState>, ApiJson(req): ApiJson<LoginRequest>) -> Result<Json<LoginResponse>, ApiError> {
    check_credentials_length(&req.username, &req.password)?;
    let username = req.username.clone();
    let user = state.store.read(move |tx| tx.user_by_username(&username)).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = req.password.clone();
    // Both hashing the dummy (first unknown user) and verifying are slow: off the async threads.
    let ok = tokio::task::spawn_blocking(move || {
        let hash = stored.unwrap_or_else(|| auth::dummy_hash().to_string());
        auth::verify_password(&password, &hash)
    })
        .await
        .map_err(|_| ApiError::internal("password check failed"))?;
    let Some(user) = user.filter(|_| ok) else { return Err(invalid_credentials()) };
    let token = auth::new_token();
    let token_hash = auth::hash_token(&token);
    let now = state.now();
    let expires_at = now + Duration::days(auth::TOKEN_DAYS);
    let (uid, device, has_pin) = (user.id, req.device_id.clone(), pins::may_have_pin(user.role));
    state
        .store
        .write(move |tx| {
            tx.insert_token(&token_hash, uid, device.as_deref(), now, expires_at)?;
            // R-STAFF-3: a sign-in with password unlocks a locked PIN.
            if has_pin {
                pins::after_password_sign_in(tx, uid, now)?;
            }
            Ok(())
        })
        .await?;
    Ok(Json(LoginResponse { token, expires_at, user: user_info(&user) }))
}

/// Login and a tablet's password unlock refuse over-long input the same way.
pub(crate) fn check_credentials_length(username: &str, password: &str) -> Result<(), ApiError> {
    if username.len() > 200 || password.len() > 1000 {
        return Err(ApiError::invalid("username or password too long"));
    }
    Ok(())
}

pub(crate) fn invalid_credentials() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong username or password")
}

#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", responses((status = 204)), security(("bearer" = [])))]
async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode, ApiError> {
    let h = auth.token_hash;
    state.store.write(move |tx| tx.revoke_token(&h)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn children_of(tx: &mut dyn Tx, u: &UserRow) -> StoreResult<Vec<ChildInfo>> {
    let ids = match u.role {
        Role::Guardian => tx.children_of_guardian(u.id)?,
        Role::Student => tx.child_of_student(u.id)?.into_iter().collect(),
        Role::Staff | Role::Admin => Vec::new(),
    };
    let mut out = Vec::new();
    for id in ids {
        let Some(c) = entities::load::<Child>(tx, CHILD_TYPE, id)? else { continue };
        let Some(unit) = entities::load::<Unit>(tx, UNIT_TYPE, c.unit_id)? else { continue };
        out.push(ChildInfo {
            id: c.id,
            first_name: c.first_name,
            last_name: c.last_name,
            unit: UnitRef { id: unit.id, name: unit.name, kind: unit.kind },
        });
    }
    Ok(out)
}

#[utoipa::path(get, path = "/v1/me", tag = "auth", responses((status = 200, body = MeResponse)), security(("bearer" = [])))]
async fn me(State(state): State<AppState>, auth: AuthUser) -> Result<Json<MeResponse>, ApiError> {
    let u = auth.user.clone();
    let children = state.store.read(move |tx| children_of(tx, &u)).await?;
    Ok(Json(MeResponse { user: user_info(&auth.user), children }))
}

#[utoipa::path(post, path = "/v1/sync/push", tag = "sync", request_body = PushRequest,
    responses((status = 200, body = PushResponse)), security(("bearer" = [])))]
async fn push_handler(
    State(state): State<AppState>,
    token: BearerToken,
    body: Result<ApiJson<PushRequest>, ApiError>,
) -> Result<Json<PushResponse>, ApiError> {
    // The answers stay those of `Caller` first, then the body: a bad body with a bad token
    // is still `unauthorized`.
    let req = match body {
        Ok(ApiJson(req)) => req,
        Err(bad_body) => {
            token.caller(&state).await?;
            return Err(bad_body);
        }
    };
    // R-TIME-1: the rules use the server's clock when the mutation arrives.
    let now = state.now();
    // Performance: the caller is known from memory (a session, see `session_cache`) or
    // looked up in the push's own write job, where PostgreSQL finds a whole group's callers
    // in one query (a read job before each push cost a reader thread about 40 µs and a
    // round trip). A push whose token names no one writes nothing.
    let generation = state.store.session_generation();
    let known = token.from_memory(&state, generation, now).map(|c| match c {
        Caller::User(u) => Pusher::User(u.user),
        Caller::Device(d) => Pusher::Device(d.device),
    });
    let parsed = push::parse_all(&req.mutations);
    let mut hint = push::read_hint(&req.mutations, &parsed);
    if known.is_none() {
        let tokens = if token.device { &mut hint.device_tokens } else { &mut hint.session_tokens };
        tokens.push(token.token_hash.clone());
    }
    // Performance: the push is shared with the writer's job rather than moved into it, so
    // that it is freed here and not on the single writer thread (a fortieth of its time
    // in the tablet rush went to freeing the mutations' arguments).
    let input = Arc::new((req, parsed, known));
    let job_input = input.clone();
    let (h, device, remember) = (token.token_hash.clone(), token.device, generation.is_some());
    let out = state
        .store
        .write_hinted(hint, move |tx| {
            let (req, parsed, known) = &*job_input;
            let mut found = None;
            let looked_up;
            let pusher = match known {
                Some(p) => p,
                None => {
                    let Some(f) = extract::look_up(tx, &h, device, now, remember)? else { return Ok(None) };
                    looked_up = match &f {
                        Found::User(u, _) => Pusher::User(u.clone()),
                        Found::Device(d) => Pusher::Device(d.clone()),
                    };
                    found = Some(f);
                    &looked_up
                }
            };
            let out = push::push(tx, pusher, now, req.client_id, &req.mutations, parsed)?;
            Ok(Some((out, found)))
        })
        .await?;
    drop(input);
    let Some(((results, stats), found)) = out else { return Err(ApiError::unauthorized()) };
    if found.is_some() {
        token.found(&state, generation, found)?;
    }
    state.metrics.mutations_applied.fetch_add(stats.applied, Ordering::Relaxed);
    state.metrics.mutations_rejected.fetch_add(stats.rejected, Ordering::Relaxed);
    state.metrics.mutations_replayed.fetch_add(stats.replayed, Ordering::Relaxed);
    // Read after the write's commit: at or after it (see `Store::last_commit`).
    Ok(Json(PushResponse { server_time: state.now(), results, commit: state.store.last_commit() }))
}

/// A pull page as its JSON (see [`PullPage::to_json`]).
impl IntoResponse for PullPage {
    fn into_response(self) -> Response {
        match self.to_json() {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "cannot write a pull page");
                ApiError::internal("cannot write the answer; try again").into_response()
            }
        }
    }
}

#[utoipa::path(post, path = "/v1/sync/pull", tag = "sync", request_body = PullRequest,
    responses((status = 200, body = PullResponse),
              (status = 410, description = "cursor_expired: pull again with a null cursor", body = domain::wire::ErrorBody)),
    security(("bearer" = [])))]
async fn pull_handler(
    State(state): State<AppState>,
    token: BearerToken,
    body: Result<ApiJson<PullRequest>, ApiError>,
) -> Result<PullPage, ApiError> {
    // Performance: the token is looked up in the same read job as the pull (one trip to a
    // store thread per request instead of two). The answers stay those of `AuthUser` first,
    // then the body: a bad body with a bad token is still `unauthorized`.
    let req = match body {
        Ok(ApiJson(req)) => req,
        Err(bad_body) => {
            token.caller(&state).await?;
            return Err(bad_body);
        }
    };
    let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
    // Performance: a person pulling again at the head while nothing was committed gets the
    // same answer from memory (see `pull_cache`); tablets always go to the store, which
    // also notes when they were last seen.
    let cacheable = !token.device;
    let unchanged = |c: &str, commit: Option<u64>| PullPage {
        cursor: c.to_string(),
        has_more: false,
        server_time: state.now(),
        changes: Changes::default(),
        commit,
    };
    // An answer read at generation `g` holds every commit up to it; it names it where the
    // store has commit numbers to name (docs/protocol.md, "Commits").
    let named = |g: Option<u64>| g.filter(|_| state.store.last_commit().is_some());
    // A pull that names the commit it must see (`min_commit`, docs/protocol.md "Commits"),
    // on an instance that already knows of it and of nothing since its remembered answer,
    // is answered without a read: the answer holds every commit up to the known one.
    let known = if cacheable { state.store.known_commit() } else { None };
    if let (Some(k), Some(min), Some(c)) = (known, req.min_commit, req.cursor.as_deref()) {
        if min <= k && state.pull_cache.is_unchanged(&token.token_hash, c, k, state.now()) {
            state.metrics.pulls_from_memory.fetch_add(1, Ordering::Relaxed);
            state.metrics.pulls_from_known_commit.fetch_add(1, Ordering::Relaxed);
            return Ok(unchanged(c, Some(k)));
        }
    }
    // Read before the snapshot: a commit after this moves it (pull_cache's invariant), and
    // every commit made before the pull arrived is in what it answers. A first pull (no
    // cursor) is never answered from memory: a commit this instance knows of is in its
    // snapshot, so it names it and is remembered at it without a read of the generation
    // (performance: a round trip before every first sync's page on PostgreSQL).
    let first = req.cursor.is_none();
    let generation_now = || async {
        match state.store.known_commit() {
            Some(k) if first => Some(k),
            _ => state.store.generation().await,
        }
    };
    let mut generation = if cacheable { generation_now().await } else { None };
    if let (Some(g), Some(c)) = (generation, req.cursor.as_deref()) {
        if state.pull_cache.is_unchanged(&token.token_hash, c, g, state.now()) {
            state.metrics.pulls_from_memory.fetch_add(1, Ordering::Relaxed);
            return Ok(unchanged(c, named(Some(g))));
        }
    }
    for attempt in 0..3 {
        if attempt > 0 && cacheable {
            // The scope set written since is a commit: read it again before the new snapshot.
            generation = generation_now().await;
        }
        let (h, now, cursor, is_device) = (token.token_hash.clone(), state.now(), req.cursor.clone(), token.device);
        // A paired tablet pulls its unit (R-STAFF-1), a person their own scope (R-ACC-7).
        let outcome = state
            .store
            .read(move |tx| {
                if is_device {
                    let Some(d) = tx.device_for_token(&h)? else { return Ok(None) };
                    let scopes = scope::scopes_for_device(tx, d.unit_id)?;
                    return pull::pull(tx, scopes, cursor.as_deref(), limit).map(|o| Some((o, Some(d), None)));
                }
                if let Some((after, changes_limit)) = pull::expected_changes(cursor.as_deref(), limit) {
                    tx.expect_changes(after, changes_limit);
                }
                let Some(u) = tx.user_for_pull(&h, now)? else { return Ok(None) };
                let scopes = scope::scopes_for(tx, &u)?;
                let outcome = pull::pull(tx, scopes, cursor.as_deref(), limit)?;
                let at_head = matches!(outcome, PullOutcome::Page { has_more: false, .. });
                let expires = if at_head && generation.is_some() { tx.token_expires_at(&h)? } else { None };
                Ok(Some((outcome, None, expires)))
            })
            .await?;
        let Some((outcome, device, expires)) = outcome else { return Err(ApiError::unauthorized()) };
        if let Some(mut d) = device {
            note_seen(&state, &mut d);
        }
        match outcome {
            PullOutcome::Page { cursor, has_more, changes } => {
                if let (Some(g), Some(exp)) = (generation, expires) {
                    state.pull_cache.remember(&token.token_hash, &cursor, g, exp);
                }
                state.metrics.changes_sent.fetch_add(changes.len() as u64, Ordering::Relaxed);
                // The snapshot holds every commit up to the generation read before it.
                return Ok(PullPage { cursor, has_more, server_time: state.now(), changes, commit: named(generation) });
            }
            PullOutcome::Expired => {
                return Err(ApiError::new(
                    StatusCode::GONE,
                    "cursor_expired",
                    "the cursor is unknown or too old: pull again with a null cursor",
                ))
            }
            PullOutcome::NeedScopeSet { hash, scopes } => {
                state.store.write(move |tx| tx.put_scope_set(&hash, &scopes)).await?;
            }
        }
    }
    Err(ApiError::internal("the caller's scope kept changing; try again"))
}

#[utoipa::path(post, path = "/v1/dev/clock", tag = "dev", request_body = DevClockRequest,
    responses((status = 200, description = "the fixed time")))]
async fn dev_clock_set(State(state): State<AppState>, ApiJson(req): ApiJson<DevClockRequest>) -> Json<serde_json::Value> {
    state.clock.fix(req.now);
    tracing::warn!(now = %req.now, "dev clock fixed");
    Json(serde_json::json!({ "now": state.clock.now() }))
}

#[utoipa::path(delete, path = "/v1/dev/clock", tag = "dev", responses((status = 200, description = "the real time again")))]
async fn dev_clock_release(State(state): State<AppState>) -> Json<serde_json::Value> {
    state.clock.release();
    Json(serde_json::json!({ "now": state.clock.now() }))
}

pub(crate) mod paths {
    pub use super::{
        __path_dev_clock_release, __path_dev_clock_set, __path_healthz, __path_login, __path_logout, __path_me,
        __path_metrics, __path_pull_handler, __path_push_handler,
    };
}
