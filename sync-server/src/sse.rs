//! `GET /v1/sync/events`: a `poke` whenever something in the caller's scope changed, so the
//! app pulls at once. Each committed write announces the scopes it touched; a stream pokes
//! when one of them is its user's (a change of the user's own scope touches `user:<id>`).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::rules::scope;
use crate::AppState;

struct Conn {
    state: AppState,
    user: crate::store::UserRow,
    scopes: BTreeSet<String>,
    rx: tokio::sync::broadcast::Receiver<Arc<crate::store::TouchedScopes>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    first: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.state.metrics.sse_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn load_scopes(state: &AppState, user: &crate::store::UserRow) -> Result<BTreeSet<String>, ApiError> {
    let u = user.clone();
    let v = state.store.read(move |tx| scope::scopes_for(tx, &u)).await?;
    Ok(v.into_iter().collect())
}

#[utoipa::path(get, path = "/v1/sync/events", tag = "sync",
    responses((status = 200, description = "text/event-stream of `poke` events")),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let rx = state.pokes.subscribe();
    let scopes = load_scopes(&state, &auth.user).await?;
    state.metrics.sse_connections.fetch_add(1, Ordering::Relaxed);
    let conn = Conn {
        shutdown: state.shutdown.clone(),
        state,
        user: auth.user,
        scopes,
        rx,
        first: true,
    };
    let stream = futures_util::stream::unfold(conn, |mut c| async move {
        if c.first {
            // Tells the client the stream is live; it may have missed changes while connecting.
            c.first = false;
            return Some((Ok(Event::default().event("ready").data("{}")), c));
        }
        loop {
            let touched = tokio::select! {
                r = c.rx.recv() => r,
                _ = c.shutdown.changed() => return None,
            };
            let me = scope::user(c.user.id);
            let poke = match touched {
                Ok(t) => {
                    // `*`: a change too wide to list (or possibly missed): everyone pulls.
                    if t.contains(&me) || t.contains(crate::store::POKE_EVERYONE) {
                        if let Ok(s) = load_scopes(&c.state, &c.user).await {
                            c.scopes = s;
                        }
                        true
                    } else {
                        t.iter().any(|s| c.scopes.contains(s))
                    }
                }
                // Missed some announcements: poke to be safe.
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return None,
            };
            if poke {
                c.state.metrics.pokes_sent.fetch_add(1, Ordering::Relaxed);
                return Some((Ok(Event::default().event("poke").data("{}")), c));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
