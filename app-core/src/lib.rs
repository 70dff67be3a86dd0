//! Hub's client engine (ARCHITECTURE.md, "Client engine (app-core)"): an offline SQLite
//! replica of everything the signed-in user may see, an outbox of their changes, reads that
//! overlay the pending changes on server state, and the sync loop. No Tauri in it: the shell
//! wraps each public method of [`AppCore`] as a command; tests and `hub-cli` use it directly.
//!
//! - One replica per (server, account) under `data_dir/replicas/`, migrations from
//!   `migrations/replica/` ([`replica`]).
//! - Writes are pre-checked with the `domain` rules on the corrected clock (R-TIME-1), then
//!   queued in the outbox in one SQLite commit before the call returns; their optimistic
//!   effect is computed at read time ([`overlay`] explains why).
//! - [`AppCore::sync_now`] pushes the outbox in order (same ids on every retry), then pulls
//!   until `has_more` is false; [`AppCore::start_background_sync`] runs it on start, on every
//!   local change, on an SSE poke, every 60 s and when the network returns, with exponential
//!   backoff and jitter.
//! - The session token lives in the OS keyring (or an explicit 0600 file, or memory for
//!   tests), never in the replica ([`token`]).
//! - Or the device is a paired staff tablet (R-STAFF-1…3): a device credential instead of a
//!   person's token, staff unlocking it with a PIN (offline too), every queued change
//!   recording which staff member did it, and the room view ([`tablet`], [`room`]).

mod error;
mod inner;
mod net;
mod overlay;
mod reads;
mod replica;
mod room;
mod session;
mod sync;
mod tablet;
pub mod token;
mod views;
mod writes;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use domain::time::Clock;
use domain::view::{NotifyEvent, SyncStatus};
use domain::wire::UserInfo;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch, Notify};
use uuid::Uuid;

pub use crate::error::CoreError;
pub use crate::token::TokenStoreKind;
pub use domain;

use crate::net::Api;
use crate::replica::Replica;
use crate::tablet::Tablet;
use crate::token::TokenStore;

/// The device's real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How to open the engine.
#[derive(Clone)]
pub struct CoreOptions {
    /// Where replicas, the last-session file and (for [`TokenStoreKind::File`]) tokens live.
    pub data_dir: PathBuf,
    pub token_store: TokenStoreKind,
    /// The device clock (injected for tests); corrected by the learned server offset for
    /// every day-based rule (R-TIME-1).
    pub clock: Arc<dyn Clock>,
}

/// What the engine tells its listeners ([`AppCore::subscribe`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum CoreEvent {
    /// Something visible changed (local write, sync outcome, pulled data): re-read views.
    Changed,
    /// The sync status changed.
    Status(SyncStatus),
    /// A system notification to show (R-NOT-3), handed out once. Sent by the background
    /// sync while someone is subscribed; otherwise collect them with
    /// [`AppCore::take_notify_events`].
    Notify(NotifyEvent),
}

/// The signed-in account (or paired tablet): its replica and its token (or device
/// credential).
pub(crate) struct Account {
    pub key: String,
    pub server_url: String,
    pub mode: Mode,
    pub token: String,
    pub replica: Replica,
}

/// Who the engine acts for.
pub(crate) enum Mode {
    /// A person signed in with their password.
    User(UserInfo),
    /// A tablet paired to a unit; staff take turns on it with their PIN.
    Tablet(Tablet),
}

/// What is known about the connection (not persisted).
#[derive(Debug, Default, Clone)]
pub(crate) struct Live {
    pub online: bool,
    pub needs_sign_in: bool,
    pub last_error: Option<String>,
}

pub(crate) struct Inner {
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    tokens: TokenStore,
    pub(crate) api: Api,
    account: Mutex<Option<Account>>,
    live: Mutex<Live>,
    events: broadcast::Sender<CoreEvent>,
    /// One sync (push then pull) at a time, so one push in flight at a time.
    pub(crate) sync_lock: tokio::sync::Mutex<()>,
    /// A local change or an SSE poke: sync soon.
    pub(crate) wake: Arc<Notify>,
    /// The event stream (re)connected: the network is back, sync now even while backing off.
    pub(crate) net_back: Arc<Notify>,
    /// Bumped on sign-in and sign-out, so the event stream reconnects as the new account.
    pub(crate) session_epoch: watch::Sender<u64>,
    background: AtomicBool,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    pub(crate) push_batch: AtomicUsize,
    pub(crate) pull_limit: Mutex<Option<u32>>,
    /// The greatest commit the server named to this session (docs/protocol.md, "Commits").
    pub(crate) seen_commit: sync::SeenCommit,
}

/// The engine. Cheap to clone (an `Arc` inside); all clones share one state.
#[derive(Clone)]
pub struct AppCore {
    pub(crate) inner: Arc<Inner>,
}

/// A new mutation's id: a UUIDv7, time-ordered by the moment it was queued (the injected
/// clock) with random bits after it. The server keeps every mutation id for idempotency in
/// an index ordered by id: time-ordered ids land at its end, where random ones would dirty
/// a page at a random place of it with every mutation (see docs/benchmarks.md).
pub fn mutation_id(at: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, at.timestamp().max(0) as u64, at.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

impl AppCore {
    pub fn sync_status(&self) -> SyncStatus {
        self.inner.status()
    }

    /// Pushes the outbox in order, then pulls until `has_more` is false. Network errors and
    /// 5xx leave everything queued for a retry with the same ids; 401 sets `needs_sign_in`
    /// and keeps the outbox; `cursor_expired` re-bootstraps from a null cursor.
    pub async fn sync_now(&self) -> Result<SyncStatus, CoreError> {
        sync::sync(&self.inner, true).await
    }

    /// Pulls without pushing (diagnostics and tests; `sync_now` is what apps call).
    pub async fn pull_now(&self) -> Result<SyncStatus, CoreError> {
        sync::sync(&self.inner, false).await
    }

    /// Starts the background sync (idempotent): a tokio task that syncs on start, on every
    /// local change, on an SSE poke, every 60 s and when the network returns, backing off
    /// exponentially with jitter while the server cannot be reached. Runs on the current
    /// tokio runtime, or on a thread of its own when called outside one. Ends when the last
    /// `AppCore` clone is dropped.
    pub fn start_background_sync(&self) {
        sync::start_background(self);
    }

    /// Events: [`CoreEvent::Changed`], [`CoreEvent::Status`], [`CoreEvent::Notify`].
    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        self.inner.events.subscribe()
    }

    /// Tuning for tests and the bench: mutations per push request (default 100) and changes
    /// per pull page (default: the server's).
    pub fn set_batch_sizes(&self, push: usize, pull: Option<u32>) {
        self.inner.push_batch.store(push.max(1), Ordering::Relaxed);
        if let Ok(mut p) = self.inner.pull_limit.lock() {
            *p = pull;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_ids_queued_later_sort_after_earlier_ones_and_never_repeat() {
        let t0: DateTime<Utc> = "2026-11-25T07:00:00Z".parse().unwrap();
        let a = mutation_id(t0);
        let b = mutation_id(t0 + chrono::Duration::milliseconds(1));
        assert_eq!(a.get_version_num(), 7);
        // The server stores ids as their text: the text sorts the same way.
        assert!(a.to_string() < b.to_string());
        assert_ne!(mutation_id(t0), mutation_id(t0), "same instant, different random bits");
    }

    /// The shell runs these as async Tauri commands: their futures must be `Send`, and the
    /// engine shared across threads.
    #[test]
    fn async_api_futures_are_send_and_the_engine_is_shareable() {
        fn is_send<T: Send>(_: &T) {}
        fn is_shareable<T: Send + Sync + Clone + 'static>() {}
        is_shareable::<AppCore>();
        is_shareable::<CoreError>();
        let dir = tempfile::tempdir().unwrap();
        let core = AppCore::open(CoreOptions {
            data_dir: dir.path().to_path_buf(),
            token_store: TokenStoreKind::Memory,
            clock: Arc::new(SystemClock),
        })
        .unwrap();
        is_send(&core.sign_in("http://127.0.0.1:9", "u", "p"));
        is_send(&core.sign_out());
        is_send(&core.sync_now());
        is_send(&core.pull_now());
        is_send(&core.pair_tablet("http://127.0.0.1:9", "ABCD-EFGH", None));
        is_send(&core.unpair_tablet(false));
        is_send(&core.unlock_with_password("u", "p"));
        is_send(&core.create_pairing(Uuid::nil()));
        is_send(&core.devices());
        is_send(&core.revoke_device(Uuid::nil()));
        is_send(&core.set_pin("4826"));
        is_send(&core.clear_pin());
        assert!(core.session().is_none());
        assert!(core.tablet_state().is_none());
        assert_eq!(core.lock_tablet().unwrap_err().code(), "not_signed_in");
        assert_eq!(core.sync_status(), SyncStatus::default());
        assert_eq!(core.outbox().unwrap_err().code(), "not_signed_in");
    }
}
