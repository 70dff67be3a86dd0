//! What the screens read: views of the replica with the outbox's pending changes laid over
//! them ([`crate::views`]), the journals, and this device's settings.

use chrono::{DateTime, NaiveDate, Utc};
use domain::view::{
    AbsenceView, AttentionItem, CareWeekView, InfoView, NotifyEvent, OutboxItem, Settings, StartPage, TalksView,
};
use domain::wire::entity::Notification;
use domain::wire::UserInfo;
use uuid::Uuid;

use crate::overlay::Me;
use crate::replica::{keys, Replica};
use crate::{views, AppCore, CoreError, CoreEvent};

impl AppCore {
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
