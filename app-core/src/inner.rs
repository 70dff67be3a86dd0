//! The engine's shared state ([`Inner`]): its locks, its events, the clock corrected by the
//! server's offset, and running a read, a write or a user's action on the replica.

use std::sync::{Arc, MutexGuard};

use chrono::{DateTime, Utc};
use domain::time::ServerOffset;
use domain::view::SyncStatus;
use domain::wire::Role;
use uuid::Uuid;

use crate::overlay::Me;
use crate::replica::{keys, Replica};
use crate::views::{Ctx, TabletCtx};
use crate::{Account, AppCore, CoreError, CoreEvent, Inner, Live, Mode};

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

    pub(crate) fn offset_of(a: &Account) -> ServerOffset {
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
