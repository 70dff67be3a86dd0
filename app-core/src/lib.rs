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
mod net;
mod overlay;
mod replica;
mod room;
mod sync;
mod tablet;
pub mod token;
mod views;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};
use domain::interval::Interval;
use domain::repeat::{DayTemplate, Repeat};
use domain::time::{Clock, ServerOffset};
use domain::view::{
    AbsenceView, AttentionItem, CareWeekView, InfoView, NotifyEvent, OutboxItem, Session, Settings,
    StartPage, SyncStatus, TalksView,
};
use domain::wire::entity::Notification;
use domain::wire::{self as w, ChildInfo, LoginRequest, Mutation, Role, UserInfo};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, watch, Notify};
use uuid::Uuid;

pub use crate::error::CoreError;
pub use crate::token::TokenStoreKind;
pub use domain;

use crate::net::Api;
use crate::overlay::Me;
use crate::replica::{keys, Replica};
use crate::tablet::Tablet;
use crate::token::TokenStore;
use crate::views::{Ctx, TabletCtx};

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

/// The last session, so [`AppCore::open`] can restore it (no token in it). A paired tablet's
/// names the device (`user_id`, `username`) and sets `tablet`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionFile {
    server_url: String,
    user_id: Uuid,
    username: String,
    account: String,
    #[serde(default)]
    tablet: bool,
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

impl Inner {
    /// A sign-in or sign-out: the event stream reconnects as the new account, and commits
    /// named by the old one's server are forgotten.
    pub(crate) fn new_session(&self) {
        self.seen_commit.forget();
        self.session_epoch.send_modify(|e| *e += 1);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}

/// The engine. Cheap to clone (an `Arc` inside); all clones share one state.
#[derive(Clone)]
pub struct AppCore {
    pub(crate) inner: Arc<Inner>,
}

fn account_key(server_url: &str, user_id: Uuid) -> String {
    let mut h = Sha256::new();
    h.update(server_url.as_bytes());
    h.update([0]);
    h.update(user_id.as_bytes());
    hex::encode(&h.finalize()[..12])
}

fn normalize_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

fn replica_path(data_dir: &Path, key: &str) -> PathBuf {
    data_dir.join("replicas").join(format!("{key}.sqlite3"))
}

/// A new mutation's id: a UUIDv7, time-ordered by the moment it was queued (the injected
/// clock) with random bits after it. The server keeps every mutation id for idempotency in
/// an index ordered by id: time-ordered ids land at its end, where random ones would dirty
/// a page at a random place of it with every mutation (see docs/benchmarks.md).
pub fn mutation_id(at: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, at.timestamp().max(0) as u64, at.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

fn device_id(data_dir: &Path) -> Result<String, CoreError> {
    let p = data_dir.join("device_id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let id = Uuid::new_v4().to_string();
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&p, &id)?;
    Ok(id)
}

impl AppCore {
    /// Opens the engine on `data_dir`, restoring the last session (its token from the token
    /// store) if any. A session whose token is gone (signed out elsewhere, keyring reset, or
    /// a keyring that cannot be reached) is not restored; the error is logged.
    pub fn open(opts: CoreOptions) -> Result<AppCore, CoreError> {
        std::fs::create_dir_all(&opts.data_dir)?;
        let (events, _) = broadcast::channel(256);
        let (session_epoch, _) = watch::channel(0);
        let inner = Inner {
            tokens: TokenStore::new(opts.token_store, &opts.data_dir),
            data_dir: opts.data_dir,
            clock: opts.clock,
            api: Api::new()?,
            account: Mutex::new(None),
            live: Mutex::new(Live::default()),
            events,
            sync_lock: tokio::sync::Mutex::new(()),
            wake: Arc::new(Notify::new()),
            net_back: Arc::new(Notify::new()),
            session_epoch,
            background: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            push_batch: AtomicUsize::new(sync::DEFAULT_PUSH_BATCH),
            pull_limit: Mutex::new(None),
            seen_commit: sync::SeenCommit::default(),
        };
        let core = AppCore {
            inner: Arc::new(inner),
        };
        core.restore()?;
        Ok(core)
    }

    fn restore(&self) -> Result<(), CoreError> {
        let path = self.inner.data_dir.join("session.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let Ok(sf) = serde_json::from_str::<SessionFile>(&text) else {
            tracing::warn!("session.json unreadable; not restoring a session");
            return Ok(());
        };
        let token = match self.inner.tokens.get(&sf.account) {
            Ok(Some(t)) => t,
            Ok(None) => {
                tracing::info!(account = %sf.account, "no token for the last session; sign in again");
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the session token; sign in again");
                return Ok(());
            }
        };
        let replica = Replica::open(&replica_path(&self.inner.data_dir, &sf.account))?;
        let mode = if sf.tablet {
            let Some(t) = Tablet::restore(&replica)? else {
                tracing::warn!("the paired tablet's replica has no device; pair again");
                return Ok(());
            };
            Mode::Tablet(t)
        } else {
            let Some(user) = replica.meta_get::<UserInfo>(keys::USER)? else {
                tracing::warn!("the last session's replica has no user; sign in again");
                return Ok(());
            };
            Mode::User(user)
        };
        *self.inner.lock_account()? = Some(Account {
            key: sf.account,
            server_url: sf.server_url,
            mode,
            token,
            replica,
        });
        Ok(())
    }

    fn write_session_file(&self, sf: &SessionFile) -> Result<(), CoreError> {
        let text = serde_json::to_string_pretty(sf).map_err(CoreError::storage)?;
        token::write_private_file(&self.inner.data_dir.join("session.json"), &text)?;
        Ok(())
    }

    fn remove_session_file(&self) -> Result<(), CoreError> {
        match std::fs::remove_file(self.inner.data_dir.join("session.json")) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Leaves an account for another one on this device (another person signs in, or the
    /// device is paired as a tablet, or the other way round): its credential is revoked on
    /// the server (best effort) and removed from the token store. Its replica stays on disk
    /// with its outbox, sent when the same account (or tablet unit) comes back.
    async fn leave(&self, prev: Account) {
        let revoked = match prev.mode {
            Mode::User(_) => self.inner.api.logout(&prev.server_url, &prev.token).await,
            Mode::Tablet(_) => {
                self.inner
                    .api
                    .unpair_self(&prev.server_url, &prev.token)
                    .await
            }
        };
        if let Err(e) = revoked {
            tracing::info!(error = ?e, "could not revoke the previous credential on the server");
        }
        if let Err(e) = self.inner.tokens.delete(&prev.key) {
            tracing::warn!(error = %e, "could not remove the previous credential");
        }
    }

    // ------------------------------------------------------------ session

    /// Signs in (R-ACC-1): logs in, reads `/v1/me`, stores the token in the token store,
    /// opens this account's replica (keeping any outbox it had), and makes a first sync
    /// attempt (its failure is reported in [`AppCore::sync_status`], not here).
    pub async fn sign_in(
        &self,
        server_url: &str,
        username: &str,
        password: &str,
    ) -> Result<Session, CoreError> {
        let base = normalize_url(server_url);
        if base.is_empty() {
            return Err(CoreError::invalid("a server address is needed"));
        }
        {
            let _busy = self.inner.sync_lock.lock().await;
            let device = device_id(&self.inner.data_dir)?;
            let req = LoginRequest {
                username: username.to_string(),
                password: password.to_string(),
                device_id: Some(device),
            };
            let login = match self.inner.api.login(&base, &req).await {
                Ok(l) => l,
                Err(e) => {
                    let mut err = CoreError::from(e);
                    // R-ACC-2: a copied password may carry a trailing space.
                    if let CoreError::InvalidCredentials(m) = &mut err {
                        if password.ends_with(char::is_whitespace) {
                            m.push_str(" (the password ends in white space: a copied password may carry a trailing space)");
                        }
                    }
                    return Err(err);
                }
            };
            let me = self
                .inner
                .api
                .me(&base, &login.token)
                .await
                .map_err(CoreError::from)?;
            let key = account_key(&base, me.user.id);
            // Another account signed in before on this device, or the device was a paired
            // tablet: that ends (its replica and outbox stay on disk for when it comes back).
            let previous = self.inner.lock_account()?.take_if(|a| a.key != key);
            if let Some(prev) = previous {
                self.leave(prev).await;
            }
            let mut replica = Replica::open(&replica_path(&self.inner.data_dir, &key))?;
            replica.meta_set(keys::USER, &me.user)?;
            replica.meta_set(keys::ME_CHILDREN, &me.children)?;
            replica.meta_set(keys::SERVER_URL, &base)?;
            self.inner.tokens.set(&key, &login.token)?;
            self.write_session_file(&SessionFile {
                server_url: base.clone(),
                user_id: me.user.id,
                username: me.user.username.clone(),
                account: key.clone(),
                tablet: false,
            })?;
            *self.inner.lock_account()? = Some(Account {
                key,
                server_url: base,
                mode: Mode::User(me.user),
                token: login.token,
                replica,
            });
            {
                let mut live = self.inner.lock_live()?;
                live.needs_sign_in = false;
                live.online = true;
                live.last_error = None;
            }
            self.inner.new_session();
        }
        self.inner.emit(CoreEvent::Changed);
        self.inner.emit_status();
        if let Err(e) = self.sync_now().await {
            tracing::info!(error = %e, "first sync after sign-in failed; it will be retried");
        }
        self.inner.wake.notify_one();
        self.session()
            .ok_or_else(|| CoreError::NotSignedIn("signed out meanwhile".into()))
    }

    /// Signs out: revokes the token on the server (best effort, offline too), removes it
    /// from the token store and forgets the session. The account's replica stays on disk
    /// with its outbox, so changes made offline are sent when the same account signs in
    /// again on this device. On a paired tablet it ends the PIN session only (the staff
    /// member signs out; the tablet stays paired: [`AppCore::unpair_tablet`] undoes that).
    pub async fn sign_out(&self) -> Result<(), CoreError> {
        if self.tablet_state().is_some() {
            return self.lock_tablet();
        }
        let _busy = self.inner.sync_lock.lock().await;
        let acct = self
            .inner
            .lock_account()?
            .take_if(|a| matches!(a.mode, Mode::User(_)));
        if let Some(a) = acct {
            if let Err(e) = self.inner.api.logout(&a.server_url, &a.token).await {
                tracing::info!(error = ?e, "logout could not reach the server; the token is dropped locally");
            }
            self.inner.tokens.delete(&a.key)?;
        }
        self.remove_session_file()?;
        *self.inner.lock_live()? = Live::default();
        self.inner.new_session();
        self.inner.emit(CoreEvent::Changed);
        self.inner.emit_status();
        Ok(())
    }

    /// The signed-in account and its children (for guardians and students, the children in
    /// the replica once synced; `/v1/me`'s list before the first sync). None on a paired
    /// tablet ([`AppCore::tablet_state`]).
    pub fn session(&self) -> Option<Session> {
        let guard = self.inner.lock_account().ok()?;
        let a = guard.as_ref()?;
        let Mode::User(user) = &a.mode else {
            return None;
        };
        let children = self.children_of(a, user).unwrap_or_default();
        Some(Session {
            server_url: a.server_url.clone(),
            user: user.clone(),
            children,
        })
    }

    fn children_of(&self, a: &Account, user: &UserInfo) -> Result<Vec<ChildInfo>, CoreError> {
        match user.role {
            Role::Staff | Role::Admin => Ok(Vec::new()),
            Role::Guardian | Role::Student => {
                let synced: bool = a.replica.meta_get(keys::BASELINE_DONE)?.unwrap_or(false);
                if synced {
                    views::replica_children(&a.replica)
                } else {
                    Ok(a.replica.meta_get(keys::ME_CHILDREN)?.unwrap_or_default())
                }
            }
        }
    }

    // ------------------------------------------------------------ sync

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

    // ------------------------------------------------------------ reads

    pub fn start_page(&self, child_id: Uuid) -> Result<StartPage, CoreError> {
        self.inner
            .read(|r, ctx| views::start_page(r, ctx, child_id))
    }

    pub fn absences(&self, child_id: Uuid) -> Result<AbsenceView, CoreError> {
        self.inner.read(|r, ctx| views::absences(r, ctx, child_id))
    }

    /// The week containing `week_start` (any day of it; the view starts on its Monday).
    pub fn care_week(
        &self,
        child_id: Uuid,
        week_start: NaiveDate,
    ) -> Result<CareWeekView, CoreError> {
        self.inner
            .read(|r, ctx| views::care_week(r, ctx, child_id, week_start))
    }

    pub fn talks(&self, child_id: Uuid) -> Result<TalksView, CoreError> {
        self.inner.read(|r, ctx| views::talks(r, ctx, child_id))
    }

    pub fn info(&self, child_id: Uuid) -> Result<InfoView, CoreError> {
        self.inner.read(|r, _| views::info(r, child_id))
    }

    /// Mutations waiting for the server, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, CoreError> {
        self.inner.read(|r, _| {
            Ok(r.outbox(None)?
                .into_iter()
                .map(|p| OutboxItem {
                    id: p.id,
                    name: p.name,
                    args: p.args,
                    created_at: p.created_at,
                    attempts: p.attempts,
                })
                .collect())
        })
    }

    /// The needs-attention journal: rejected mutations, in the order they were queued.
    pub fn needs_attention(&self) -> Result<Vec<AttentionItem>, CoreError> {
        self.inner.read(|r, _| r.attention())
    }

    pub fn dismiss_attention(&self, id: Uuid) -> Result<(), CoreError> {
        self.inner.write(|r, _| {
            r.dismiss_attention(id)?;
            Ok(())
        })?;
        self.inner.emit(CoreEvent::Changed);
        self.inner.emit_status();
        Ok(())
    }

    /// Notifications, newest first; only those of `child_id` when given.
    pub fn notifications(&self, child_id: Option<Uuid>) -> Result<Vec<Notification>, CoreError> {
        self.inner
            .read(|r, ctx| views::notifications(r, &ctx.me, child_id))
    }

    /// R-MSG-2: unread messages (the envelope).
    pub fn unread_messages(&self) -> Result<u32, CoreError> {
        self.inner.read(|r, ctx| views::unread_messages(r, &ctx.me))
    }

    /// This device's settings: language (R-ACC-6) and push per category (R-NOT-2).
    pub fn settings(&self) -> Result<Settings, CoreError> {
        self.inner.read(|r, ctx| settings_of(r, &ctx.me))
    }

    pub fn set_settings(&self, s: Settings) -> Result<(), CoreError> {
        self.inner.write(|r, _| r.meta_set(keys::SETTINGS, &s))?;
        self.inner.emit(CoreEvent::Changed);
        Ok(())
    }

    /// Each new notification exactly once (R-NOT-3), also those that arrived while the app
    /// was closed, and only those whose category's push is on (R-NOT-2; the others are
    /// dropped from the queue, the bell still counts them).
    pub fn take_notify_events(&self) -> Result<Vec<NotifyEvent>, CoreError> {
        let now = self.inner.clock.now();
        self.inner.write(|r, ctx| {
            let settings = settings_of(r, &ctx.me)?;
            let visible = views::notification_visible(r, &ctx.me)?;
            let show = |n: &Notification| {
                visible(n) && settings.push.get(&n.category).copied().unwrap_or(true)
            };
            let taken = r.take_notifications(&show, now)?;
            let kids = views::replica_children(r)?;
            Ok(taken
                .into_iter()
                .map(|n| {
                    let child_name = n
                        .child_id
                        .and_then(|c| kids.iter().find(|k| k.id == c))
                        .map(|k| k.first_name.clone());
                    NotifyEvent {
                        notification: n,
                        child_name,
                    }
                })
                .collect())
        })
    }

    /// Every entity in the replica, sorted by type and id (diagnostics; tests compare it
    /// with the server's snapshot).
    pub fn replica_entities(&self) -> Result<Vec<(String, Uuid, serde_json::Value)>, CoreError> {
        self.inner.read(|r, _| r.dump())
    }

    /// The device clock corrected by the learned server offset (R-TIME-1): what locks and
    /// the absence window are computed with.
    pub fn server_now(&self) -> DateTime<Utc> {
        self.inner.server_now()
    }

    // ------------------------------------------------------------ writes

    /// R-ABS-1…3: reports absence (whole day, or lessons of that day); returns the mutation id.
    pub fn report_absence(
        &self,
        child_id: Uuid,
        date: NaiveDate,
        lessons: Option<Vec<Uuid>>,
        comment: Option<String>,
    ) -> Result<Uuid, CoreError> {
        self.submit(Mutation::AbsenceReport(w::AbsenceReport {
            child_id,
            date,
            lessons,
            comment,
        }))
    }

    /// R-CARE-1…3: sets a day's care intervals and comment.
    pub fn set_care_day(
        &self,
        child_id: Uuid,
        date: NaiveDate,
        intervals: Vec<Interval>,
        comment: Option<String>,
    ) -> Result<Uuid, CoreError> {
        self.submit(Mutation::CareSetDay(w::CareSetDay {
            child_id,
            date,
            intervals,
            comment,
        }))
    }

    pub fn clear_care_day(&self, child_id: Uuid, date: NaiveDate) -> Result<Uuid, CoreError> {
        self.submit(Mutation::CareClearDay(w::CareClearDay { child_id, date }))
    }

    /// R-CARE-4, R-CARE-5: a whole week, optionally repeated.
    pub fn set_care_week(
        &self,
        child_id: Uuid,
        week_start: NaiveDate,
        days: Vec<DayTemplate>,
        repeat: Option<Repeat>,
    ) -> Result<Uuid, CoreError> {
        self.submit(Mutation::CareSetWeek(w::CareSetWeek {
            child_id,
            week_start,
            days,
            repeat,
        }))
    }

    /// R-CARE-6: a comment on a child's day.
    pub fn comment_care_day(
        &self,
        child_id: Uuid,
        date: NaiveDate,
        text: String,
    ) -> Result<Uuid, CoreError> {
        self.submit(Mutation::CareComment(w::CareComment {
            child_id,
            date,
            text,
        }))
    }

    /// R-TALK-2.
    pub fn book_talk(
        &self,
        slot_id: Uuid,
        child_id: Uuid,
        message: Option<String>,
    ) -> Result<Uuid, CoreError> {
        self.submit(Mutation::TalkBook(w::TalkBook {
            slot_id,
            child_id,
            message,
        }))
    }

    /// R-TALK-3.
    pub fn cancel_talk(&self, booking_id: Uuid) -> Result<Uuid, CoreError> {
        self.submit(Mutation::TalkCancel(w::TalkCancel { booking_id }))
    }

    pub fn mark_notifications_read(&self, ids: Vec<Uuid>) -> Result<Uuid, CoreError> {
        self.submit(Mutation::NotificationRead(w::NotificationRead { ids }))
    }

    /// Any mutation of the contract (staff actions such as `absence.confirm` and
    /// `attendance.mark`, messages): pre-checked with the `domain` rules, then queued in the
    /// outbox in one SQLite commit before this returns. Returns the mutation id. On a paired
    /// tablet it needs a PIN session (`tablet_locked` otherwise), extends it, and records
    /// its staff member as the mutation's actor; only staff actions are allowed there.
    pub fn submit(&self, m: Mutation) -> Result<Uuid, CoreError> {
        let at = self.inner.clock.now();
        let id = mutation_id(at);
        self.inner.act(|r, ctx, actor| {
            if ctx.tablet.is_some() && !tablet::allowed_on_tablet(&m) {
                return Err(CoreError::rule(
                    domain::RejectCode::NotPermitted,
                    format!("not permitted on a shared tablet: {}", m.name()),
                ));
            }
            views::precheck(r, ctx, &m)?;
            r.enqueue(id, m.name(), &m.args(), at, actor)
        })?;
        self.inner.emit(CoreEvent::Changed);
        self.inner.emit_status();
        self.inner.wake.notify_one();
        Ok(id)
    }
}

fn settings_of(r: &Replica, me: &Me) -> Result<Settings, CoreError> {
    if let Some(s) = r.meta_get::<Settings>(keys::SETTINGS)? {
        return Ok(s);
    }
    let user: Option<UserInfo> = r.meta_get(keys::USER)?;
    let mut s = Settings::default();
    if let Some(u) = user.filter(|u| u.id == me.id) {
        s.locale = u.locale;
    }
    Ok(s)
}

impl Inner {
    pub(crate) fn lock_account(&self) -> Result<MutexGuard<'_, Option<Account>>, CoreError> {
        self.account
            .lock()
            .map_err(|_| CoreError::Storage("engine state poisoned".into()))
    }

    pub(crate) fn lock_live(&self) -> Result<MutexGuard<'_, Live>, CoreError> {
        self.live
            .lock()
            .map_err(|_| CoreError::Storage("engine state poisoned".into()))
    }

    pub(crate) fn emit(&self, e: CoreEvent) {
        let _ = self.events.send(e);
    }

    pub(crate) fn has_listeners(&self) -> bool {
        self.events.receiver_count() > 0
    }

    pub(crate) fn emit_status(&self) {
        let s = self.status();
        self.emit(CoreEvent::Status(s));
    }

    pub(crate) fn device_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn offset_of(a: &Account) -> ServerOffset {
        ServerOffset {
            millis: a
                .replica
                .meta_get::<i64>(keys::OFFSET_MS)
                .ok()
                .flatten()
                .unwrap_or(0),
        }
    }

    pub(crate) fn server_now(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        match self.lock_account() {
            Ok(g) => g
                .as_ref()
                .map(|a| Self::offset_of(a).corrected(now))
                .unwrap_or(now),
            Err(_) => now,
        }
    }

    /// Runs a read on the signed-in account's replica.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Replica, &Ctx) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let guard = self.lock_account()?;
        let a = guard
            .as_ref()
            .ok_or_else(|| CoreError::NotSignedIn("no account is signed in".into()))?;
        let ctx = self.ctx(a);
        f(&a.replica, &ctx)
    }

    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Replica, &Ctx) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let mut guard = self.lock_account()?;
        let a = guard
            .as_mut()
            .ok_or_else(|| CoreError::NotSignedIn("no account is signed in".into()))?;
        let ctx = self.ctx(a);
        f(&mut a.replica, &ctx)
    }

    /// Runs a user action: on a paired tablet only within a PIN session, which it extends;
    /// `f` gets the actor to record with what it queues (None: the signed-in user).
    pub(crate) fn act<T>(
        &self,
        f: impl FnOnce(&mut Replica, &Ctx, Option<Uuid>) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let mut guard = self.lock_account()?;
        let a = guard
            .as_mut()
            .ok_or_else(|| CoreError::NotSignedIn("no account is signed in".into()))?;
        let now = Self::offset_of(a).corrected(self.clock.now());
        let actor = match &mut a.mode {
            Mode::User(_) => None,
            Mode::Tablet(t) => Some(t.touch(&mut a.replica, now)?.ok_or_else(|| {
                CoreError::TabletLocked("no PIN session: unlock the tablet first".into())
            })?),
        };
        let ctx = self.ctx(a);
        f(&mut a.replica, &ctx, actor)
    }

    fn ctx(&self, a: &Account) -> Ctx {
        let now = Self::offset_of(a).corrected(self.clock.now());
        match &a.mode {
            Mode::User(u) => Ctx {
                me: Me {
                    id: u.id,
                    name: u.display_name.clone(),
                    role: u.role,
                },
                now,
                tablet: None,
            },
            Mode::Tablet(t) => {
                let live = t.live(now);
                // Locked, the device itself reads (and cannot act: `act` refuses).
                let me = match live {
                    Some(s) => Me {
                        id: s.user_id,
                        name: s.display_name.clone(),
                        role: Role::Staff,
                    },
                    None => Me {
                        id: t.device.id,
                        name: t.device.name.clone(),
                        role: Role::Staff,
                    },
                };
                Ctx {
                    me,
                    now,
                    tablet: Some(TabletCtx {
                        unit_id: t.device.unit.id,
                        unlocked: live.is_some(),
                    }),
                }
            }
        }
    }

    pub(crate) fn status(&self) -> SyncStatus {
        let live = self.live.lock().map(|l| l.clone()).unwrap_or_default();
        let guard = match self.lock_account() {
            Ok(g) => g,
            Err(_) => return SyncStatus::default(),
        };
        let Some(a) = guard.as_ref() else {
            return SyncStatus {
                last_error: live.last_error,
                ..SyncStatus::default()
            };
        };
        let r = &a.replica;
        SyncStatus {
            signed_in: true,
            online: live.online,
            needs_sign_in: live.needs_sign_in,
            pending: r.outbox_count().unwrap_or(0),
            needs_attention: r.attention_count().unwrap_or(0),
            last_sync: r.meta_get(keys::LAST_SYNC).ok().flatten(),
            last_error: live.last_error,
            server_offset_ms: r.meta_get(keys::OFFSET_MS).ok().flatten().unwrap_or(0),
        }
    }

    /// Hands pending notifications to subscribers as [`CoreEvent::Notify`] (background sync).
    pub(crate) fn deliver_notifications(self: &Arc<Self>) {
        if !self.has_listeners() {
            return;
        }
        let pending = self
            .read(|r, _| r.has_pending_notifications())
            .unwrap_or(false);
        if !pending {
            return;
        }
        let core = AppCore {
            inner: Arc::clone(self),
        };
        match core.take_notify_events() {
            Ok(events) => {
                for e in events {
                    self.emit(CoreEvent::Notify(e));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not hand out notifications"),
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
