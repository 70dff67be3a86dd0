//! `GET /v1/sync/events`: a `poke` whenever something in the caller's scope changed, so the
//! app pulls at once. Each committed write announces the scopes it touched; a stream pokes
//! when one of them is its user's (a change of the user's own scope touches `user:<id>`).
//! A paired tablet's stream watches its unit's scopes and ends when the device is revoked
//! (a revocation touches `device:<id>`). Which streams a commit concerns is looked up by
//! scope in [`crate::poke_fanout`], which wakes only those.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::poke_fanout::Subscription;
use crate::rules::scope;
use crate::store::{DeviceRow, UserRow};
use crate::AppState;

/// Whose stream it is.
enum Viewer {
    User(UserRow),
    Device { device: DeviceRow, token_hash: String },
}

impl Viewer {
    /// The touched scope after which the stream looks its scopes up again.
    fn own_scope(&self) -> String {
        match self {
            Viewer::User(u) => scope::user(u.id),
            Viewer::Device { device, .. } => scope::device(device.id),
        }
    }
}

struct Conn {
    state: AppState,
    viewer: Viewer,
    /// Where the commits that concern this stream wake it (crate::poke_fanout).
    sub: Subscription,
    shutdown: tokio::sync::watch::Receiver<bool>,
    first: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.state.metrics.sse_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The viewer's scopes now; `None` when the viewer is a device that was revoked since.
async fn load_scopes(state: &AppState, viewer: &Viewer) -> Result<Option<Vec<String>>, ApiError> {
    let v = match viewer {
        Viewer::User(u) => {
            let u = u.clone();
            Some(state.store.read(move |tx| scope::scopes_for(tx, &u)).await?)
        }
        Viewer::Device { token_hash, .. } => {
            let h = token_hash.clone();
            state
                .store
                .read(move |tx| match tx.device_for_token(&h)? {
                    Some(d) => scope::scopes_for_device(tx, d.unit_id).map(Some),
                    None => Ok(None),
                })
                .await?
        }
    };
    Ok(v)
}

/// An event's data: the commit this instance knows, which is the poked commit or a later
/// one (the listener notes a commit before it forwards its pokes), so that the pull the
/// poke causes names it (docs/protocol.md, "Commits"); `{}` without one.
fn poke_data(state: &AppState) -> String {
    let data = domain::wire::PokeData { commit: state.store.known_commit() };
    serde_json::to_string(&data).unwrap_or_else(|_| "{}".into())
}

#[utoipa::path(get, path = "/v1/sync/events", tag = "sync",
    responses((status = 200, description = "text/event-stream of `poke` events")),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let viewer = match caller {
        Caller::User(u) => Viewer::User(u.user),
        Caller::Device(d) => Viewer::Device { device: d.device, token_hash: d.token_hash },
    };
    // Registered before its scopes are read: a change of them meanwhile asks for a reload.
    let sub = state.streams.subscribe(viewer.own_scope(), Vec::new());
    let scopes = load_scopes(&state, &viewer).await?.ok_or_else(ApiError::unauthorized)?;
    sub.set_scopes(scopes);
    state.metrics.sse_connections.fetch_add(1, Ordering::Relaxed);
    let conn = Conn { shutdown: state.shutdown.clone(), state, viewer, sub, first: true };
    let stream = futures_util::stream::unfold(conn, |mut c| async move {
        if c.first {
            // Tells the client the stream is live; it may have missed changes while connecting.
            c.first = false;
            return Some((Ok(Event::default().event("ready").data(poke_data(&c.state))), c));
        }
        let wake = tokio::select! {
            w = c.sub.woken() => w,
            _ = c.shutdown.changed() => return None,
        };
        if wake.reload {
            match load_scopes(&c.state, &c.viewer).await {
                Ok(Some(s)) => c.sub.set_scopes(s),
                // A revoked device: its stream ends.
                Ok(None) => return None,
                Err(_) => {}
            }
        }
        c.state.metrics.pokes_sent.fetch_add(1, Ordering::Relaxed);
        Some((Ok(Event::default().event("poke").data(poke_data(&c.state))), c))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
