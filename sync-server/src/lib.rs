//! Hub's sync server: the axum app, its storage and its rules. `main.rs` is a thin edge;
//! tests start the same server in process with [`start`].

pub mod auth;
pub mod benchdata;
pub mod clock;
pub mod config;
pub mod day_ids;
pub mod demo;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod open_files;
pub mod openapi;
pub mod poke_fanout;
pub mod pull_cache;
pub mod session_cache;
pub mod routes;
pub mod rules;
pub mod sse;
pub mod store;
pub mod tablets;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use domain::time::Clock;
use tokio::sync::{broadcast, watch};

use crate::clock::ServerClock;
use crate::config::{Config, DbUrl};
use crate::metrics::Metrics;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, TouchedScopes};

/// What every handler shares. Performance: cloned for each request by every extractor and
/// middleware that takes `State`, so it is one reference count (it was nine: one per field).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub clock: Arc<ServerClock>,
    pub dev_clock: bool,
    pub pokes: broadcast::Sender<Arc<TouchedScopes>>,
    /// The open event streams by the scopes they watch, fed from `pokes`.
    pub streams: Arc<poke_fanout::PokeFanout>,
    pub metrics: Arc<Metrics>,
    pub pull_cache: Arc<pull_cache::PullCache>,
    pub sessions: Arc<session_cache::SessionCache>,
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// A server running in this process.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, ends event streams, lets requests in flight finish.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await.context("server task")?.context("server")?;
        Ok(())
    }

    /// A future that resolves when the shutdown signal has been sent.
    pub fn trigger(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task")?.context("server")?;
        Ok(())
    }
}

pub fn open_store(db: &str, pokes: broadcast::Sender<Arc<TouchedScopes>>) -> anyhow::Result<Arc<dyn Store>> {
    match DbUrl::parse(db).map_err(anyhow::Error::msg)? {
        DbUrl::Sqlite(path) => {
            let store = SqliteStore::open(&path, pokes).with_context(|| format!("opening SQLite database {path}"))?;
            Ok(Arc::new(store))
        }
        DbUrl::Postgres(url) => {
            let store = PostgresStore::open(&url, pokes).with_context(|| format!("opening PostgreSQL database {}", redact(&url)))?;
            Ok(Arc::new(store))
        }
    }
}

/// A database URL for messages: without the password.
fn redact(url: &str) -> String {
    let Some(scheme) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let rest = &url[scheme..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{}{}:***{}", &url[..scheme], &rest[..colon], &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Opens the store, seeds the demo if asked, binds and serves until shut down.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    let (pokes, _) = broadcast::channel(1024);
    // Opening connects and migrates: blocking work, kept off the async worker threads.
    let db = config.db.clone();
    let store_pokes = pokes.clone();
    let store = tokio::task::spawn_blocking(move || open_store(&db, store_pokes)).await??;
    let clock = Arc::new(ServerClock::default());
    if let Some(at) = config.dev_clock_at {
        clock.fix(at);
    }
    if config.demo {
        let now = clock.now();
        let hashes = tokio::task::spawn_blocking(|| {
            (0..7).map(|_| auth::hash_password(demo::PASSWORD)).collect::<Result<Vec<_>, _>>()
        })
        .await?
        .map_err(anyhow::Error::msg)?;
        let seeded = store.write(move |tx| demo::seed(tx, now, &hashes)).await.context("seeding demo data")?;
        if seeded {
            tracing::info!("seeded the demo data; every demo password is {}", demo::PASSWORD);
        } else {
            tracing::info!("database not empty: demo data not seeded again");
        }
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let dev_clock = config.dev_clock || config.dev_clock_at.is_some();
    let streams = Arc::new(poke_fanout::PokeFanout::default());
    tokio::spawn(poke_fanout::run(streams.clone(), pokes.subscribe(), shutdown_rx.clone()));
    let state = AppState(Arc::new(Shared {
        store,
        clock,
        dev_clock,
        pokes,
        streams,
        metrics: Arc::new(Metrics::default()),
        pull_cache: Arc::default(),
        sessions: Arc::default(),
        shutdown: shutdown_rx.clone(),
    }));
    if dev_clock {
        tracing::warn!("dev clock enabled: POST /v1/dev/clock can move the server's time");
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let app = routes::router(state.clone());
    let mut rx = shutdown_rx;
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    tracing::info!(%addr, "listening");
    Ok(RunningServer { addr, state, shutdown: shutdown_tx, task })
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls_lose_their_password_in_messages() {
        assert_eq!(super::redact("postgres://hub:s3cret@db:5432/hub"), "postgres://hub:***@db:5432/hub");
        assert_eq!(super::redact("postgres://hub@db/hub"), "postgres://hub@db/hub");
        assert_eq!(super::redact("postgres://db/hub"), "postgres://db/hub");
    }
}
