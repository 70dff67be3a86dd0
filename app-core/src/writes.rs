//! The user's changes: each pre-checked with the `domain` rules, then queued in the outbox.

use chrono::NaiveDate;
use domain::interval::Interval;
use domain::repeat::{DayTemplate, Repeat};
use domain::wire::{self as w, Mutation};
use uuid::Uuid;

use crate::{mutation_id, tablet, views, AppCore, CoreError, CoreEvent};

impl AppCore {
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
