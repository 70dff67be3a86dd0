//! The view models of `domain::view`, built from the replica with the overlay, and the local
//! pre-checks of mutations with the very `domain` rules the server enforces, on the device
//! clock corrected by the learned server offset (R-TIME-1).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use domain::absence::{
    absence_window, check_absence_comment, check_absence_date, student_may_report_absence,
};
use domain::care::{check_comment, check_guardian_edit, is_day_locked, COMMENT_MAX_CHARS};
use domain::opening::UnitCalendar;
use domain::repeat::plan_week;
use domain::time::{iso_weekday, local_date, monday_of, parse_tz, Tz, DEFAULT_TIME_ZONE};
use domain::view::{
    AbsenceItem, AbsenceView, BookingView, BoxView, CareDayView, CareWeekView, InfoView, StartPage,
    TalksView,
};
use domain::wire::entity::{
    self as e, Absence, Attendance, BlogPost, CalendarEvent, CareComment, CareDay, Child, Lesson,
    Message, MessageThread, News, Notification, Staff, TabletStaff, TalkBooking, TalkSlot,
    ThreadRead, Unit,
};
use domain::wire::{AttendanceKind, BoxKind, ChildInfo, Mutation, Role, UnitKind, UnitRef};
use domain::{RejectCode, RuleError};
use uuid::Uuid;

use crate::error::CoreError;
use crate::overlay::{self, Me, Pending, UnitRules};
use crate::replica::Replica;

type Result<T> = std::result::Result<T, CoreError>;

/// Everything a read or a pre-check needs besides the replica.
pub(crate) struct Ctx {
    /// The signed-in user; on a paired tablet the staff member whose PIN session is running,
    /// or the device itself (a staff-like reader that cannot act) while it is locked.
    pub me: Me,
    /// The device clock corrected by the server offset (R-TIME-1).
    pub now: DateTime<Utc>,
    /// Set on a paired tablet.
    pub tablet: Option<TabletCtx>,
}

/// What a read needs to know about a paired tablet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TabletCtx {
    pub unit_id: Uuid,
    /// A PIN session is running (R-STAFF-3).
    pub unlocked: bool,
}

/// How the user stands to a child (as the server's `access::relation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Guardian,
    Themself,
    Staff,
}

fn relation(me: &Me) -> Relation {
    match me.role {
        Role::Guardian => Relation::Guardian,
        Role::Student => Relation::Themself,
        Role::Staff | Role::Admin => Relation::Staff,
    }
}

fn not_permitted(what: &str) -> CoreError {
    CoreError::rule(RejectCode::NotPermitted, format!("not permitted: {what}"))
}

pub(crate) struct ChildCtx {
    pub child: Child,
    pub unit: Unit,
    pub tz: Tz,
    pub cal: UnitCalendar,
}

impl ChildCtx {
    pub fn new(child: Child, unit: Unit) -> ChildCtx {
        let tz = unit_tz(&unit);
        let cal = UnitCalendar {
            hours: unit.opening_hours.clone(),
            closed_dates: unit.closed_dates.iter().copied().collect(),
        };
        ChildCtx {
            child,
            unit,
            tz,
            cal,
        }
    }
    fn rules(&self, now: DateTime<Utc>) -> UnitRules {
        UnitRules {
            cal: self.cal.clone(),
            tz: self.tz,
            now,
        }
    }
    fn info(&self) -> ChildInfo {
        child_info(&self.child, &self.unit)
    }
}

pub(crate) fn child_info(c: &Child, u: &Unit) -> ChildInfo {
    ChildInfo {
        id: c.id,
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        unit: UnitRef {
            id: u.id,
            name: u.name.clone(),
            kind: u.kind,
        },
    }
}

pub(crate) fn unit_tz(u: &Unit) -> Tz {
    parse_tz(&u.time_zone).unwrap_or_else(|_| {
        tracing::warn!(unit = %u.id, tz = %u.time_zone, "unknown time zone; using Europe/Stockholm");
        DEFAULT_TIME_ZONE
    })
}

/// A child in the replica with its unit; a child not there is `not_permitted`, as on the
/// server (the replica holds exactly what the user may see, R-ACC-7).
pub(crate) fn child_ctx(r: &Replica, child_id: Uuid) -> Result<ChildCtx> {
    let child: Child = r
        .typed_one(e::CHILD_TYPE, child_id)?
        .ok_or_else(|| not_permitted("no such child among yours"))?;
    let unit: Unit = r.typed_one(e::UNIT_TYPE, child.unit_id)?.ok_or_else(|| {
        CoreError::rule(RejectCode::NotFound, "the child's unit is not synced yet")
    })?;
    Ok(ChildCtx::new(child, unit))
}

/// The children shown to a guardian or student: those in the replica, by name.
pub(crate) fn replica_children(r: &Replica) -> Result<Vec<ChildInfo>> {
    let units: Vec<Unit> = r.typed(e::UNIT_TYPE)?;
    let mut kids: Vec<Child> = r.typed(e::CHILD_TYPE)?;
    kids.sort_by(|a, b| {
        (&a.first_name, &a.last_name, a.id).cmp(&(&b.first_name, &b.last_name, b.id))
    });
    Ok(kids
        .iter()
        .filter_map(|c| {
            units
                .iter()
                .find(|u| u.id == c.unit_id)
                .map(|u| child_info(c, u))
        })
        .collect())
}

/// The pending mutations, each with its actor named (tablet mode) so the overlay can say
/// who did what.
pub(crate) fn pending(r: &Replica) -> Result<Vec<Pending>> {
    let rows = r.pending()?;
    let names = if rows.iter().any(|p| p.actor.is_some()) {
        staff_names(r)?
    } else {
        BTreeMap::new()
    };
    Ok(overlay::parse(rows, |id| Me {
        id,
        name: names.get(&id).cloned().unwrap_or_default(),
        role: Role::Staff,
    }))
}

/// Names of the staff members a replica knows: the tablet's list, the unit directory, and
/// whoever holds the PIN session (a password unlock may precede their tablet entry).
fn staff_names(r: &Replica) -> Result<BTreeMap<Uuid, String>> {
    let mut names: BTreeMap<Uuid, String> = r
        .typed::<Staff>(e::STAFF_TYPE)?
        .into_iter()
        .map(|s| (s.id, s.display_name))
        .collect();
    for t in r.typed::<TabletStaff>(e::TABLET_STAFF_TYPE)? {
        names.insert(t.user_id, t.display_name);
    }
    if let Some(s) = crate::tablet::saved_session(r)? {
        names.insert(s.user_id, s.display_name);
    }
    Ok(names)
}

/// A child's arrivals and departures per day, overlaid (R-STAFF-2).
pub(crate) fn attendance_overlay(
    r: &Replica,
    ctx: &Ctx,
    c: &ChildCtx,
    pending: &[Pending],
) -> Result<BTreeMap<NaiveDate, (Attendance, bool)>> {
    let server: Vec<Attendance> = r.typed_of_child(e::ATTENDANCE_TYPE, c.child.id)?;
    Ok(overlay::attendance(
        c.child.id, server, pending, &ctx.me, c.tz,
    ))
}

fn age_on(birth: NaiveDate, date: NaiveDate) -> u32 {
    if date < birth {
        return 0;
    }
    let before = (date.month(), date.day()) < (birth.month(), birth.day());
    u32::try_from(date.year() - birth.year() - i32::from(before)).unwrap_or(0)
}

/// R-CARE-1 as the server's `care_editor`: staff always; guardians where the unit lets them
/// and the child is in care there; students never.
fn care_permission(me: &Me, c: &ChildCtx) -> std::result::Result<(), CoreError> {
    match relation(me) {
        Relation::Staff => Ok(()),
        Relation::Themself => Err(not_permitted("students do not register care times")),
        Relation::Guardian => {
            if !c.unit.guardians_register_care {
                return Err(not_permitted(
                    "this unit does not let guardians register care times",
                ));
            }
            if c.unit.kind != UnitKind::Preschool && !c.child.in_care {
                return Err(not_permitted("the child is not in after-school care"));
            }
            Ok(())
        }
    }
}

fn care_editable(me: &Me, c: &ChildCtx) -> bool {
    care_permission(me, c).is_ok()
        && (relation(me) == Relation::Staff || c.unit.kind != UnitKind::Gymnasium)
}

/// The same text check the server applies to comments and messages.
fn check_text(what: &str, text: &str, max: usize) -> std::result::Result<(), RuleError> {
    if text.trim().is_empty() {
        return Err(RuleError::invalid(format!("{what} is empty")));
    }
    if text.chars().count() > max {
        return Err(RuleError::invalid(format!(
            "{what} is longer than {max} characters"
        )));
    }
    Ok(())
}

fn lessons_of_day(r: &Replica, c: &ChildCtx, date: NaiveDate) -> Result<Vec<Lesson>> {
    let Some(class_id) = c.child.class_id else {
        return Ok(Vec::new());
    };
    if c.unit.kind == UnitKind::Preschool || !c.unit.keeps_schedule {
        return Ok(Vec::new());
    }
    let wd = iso_weekday(date);
    let mut v: Vec<Lesson> = r
        .typed::<Lesson>(e::LESSON_TYPE)?
        .into_iter()
        .filter(|l| l.class_id == class_id && l.weekday == wd)
        .collect();
    v.sort_by_key(|l| (l.start, l.end, l.id));
    Ok(v)
}

// ---------------------------------------------------------------- pre-checks

/// Checks a mutation locally with the rules the server will apply, so that what is bound to
/// be rejected is refused at once (with the same code) instead of queued.
pub(crate) fn precheck(r: &Replica, ctx: &Ctx, m: &Mutation) -> Result<()> {
    let me = &ctx.me;
    match m {
        Mutation::AbsenceReport(a) => {
            let c = child_ctx(r, a.child_id)?;
            match relation(me) {
                Relation::Guardian => check_absence_date(a.date, ctx.now, c.tz)?,
                Relation::Themself => {
                    let age = age_on(c.child.birth_date, local_date(ctx.now, c.tz));
                    if !student_may_report_absence(c.unit.kind == UnitKind::Gymnasium, age) {
                        return Err(not_permitted(
                            "students report absence only in gymnasium from 18",
                        ));
                    }
                    check_absence_date(a.date, ctx.now, c.tz)?;
                }
                Relation::Staff => {}
            }
            check_absence_comment(a.comment.as_deref())?;
            if let Some(ids) = a.lessons.as_deref().filter(|l| !l.is_empty()) {
                if c.unit.kind == UnitKind::Preschool || !c.unit.keeps_schedule {
                    return Err(CoreError::invalid(
                        "this unit has no lesson schedule: report the whole day",
                    ));
                }
                if c.child.class_id.is_none() {
                    return Err(CoreError::invalid("the child has no class schedule"));
                }
                let lessons = lessons_of_day(r, &c, a.date)?;
                if let Some(id) = ids.iter().find(|id| !lessons.iter().any(|l| l.id == **id)) {
                    return Err(CoreError::invalid(format!(
                        "lesson {id} is not in the child's schedule that day"
                    )));
                }
            }
            Ok(())
        }
        Mutation::CareSetDay(a) => {
            let c = child_ctx(r, a.child_id)?;
            care_permission(me, &c)?;
            domain::interval::validate_intervals(&a.intervals)?;
            if let Some(t) = &a.comment {
                check_comment(t)?;
            }
            if !me.is_staff() {
                check_guardian_edit(a.date, ctx.now, c.tz)?;
            }
            c.cal.check_day(a.date, &a.intervals)?;
            Ok(())
        }
        Mutation::CareClearDay(a) => {
            let c = child_ctx(r, a.child_id)?;
            care_permission(me, &c)?;
            if !me.is_staff() {
                check_guardian_edit(a.date, ctx.now, c.tz)?;
            }
            Ok(())
        }
        Mutation::CareSetWeek(a) => {
            let c = child_ctx(r, a.child_id)?;
            care_permission(me, &c)?;
            plan_week(
                a.week_start,
                &a.days,
                a.repeat.as_ref(),
                &c.cal,
                ctx.now,
                c.tz,
                !me.is_staff(),
            )?;
            Ok(())
        }
        Mutation::CareComment(a) => {
            let c = child_ctx(r, a.child_id)?;
            if relation(me) == Relation::Themself {
                return Err(not_permitted("students do not comment on care days"));
            }
            check_text("the comment", &a.text, COMMENT_MAX_CHARS)?;
            if !me.is_staff() {
                check_guardian_edit(a.date, ctx.now, c.tz)?;
            }
            Ok(())
        }
        Mutation::CareCommentSeen(a) => {
            child_ctx(r, a.child_id)?;
            if !me.is_staff() {
                return Err(not_permitted("staff only"));
            }
            Ok(())
        }
        Mutation::AttendanceMark(a) => {
            let c = child_ctx(r, a.child_id)?;
            if !me.is_staff() {
                return Err(not_permitted("staff only"));
            }
            domain::attendance::check_attendance_time(a.at, ctx.now)?;
            // R-STAFF-2 on what this device knows of that day (server rows and its own
            // pending marks); another tablet's marks may still change the server's verdict.
            let day = domain::attendance::attendance_day(a.at, c.tz);
            let days = attendance_overlay(r, ctx, &c, &pending(r)?)?;
            let rec = days.get(&day).map(|(x, _)| x);
            match a.kind {
                AttendanceKind::Arrived => {
                    domain::attendance::check_arrival(rec.and_then(|x| x.departed_at), a.at)?
                }
                AttendanceKind::Departed => {
                    domain::attendance::check_departure(rec.and_then(|x| x.arrived_at), a.at)?
                }
            }
            Ok(())
        }
        Mutation::AbsenceConfirm(a) => {
            if !me.is_staff() {
                return Err(not_permitted("staff only"));
            }
            // The absence as the server has it, or a report still pending on this device.
            let child = match r.typed_one::<Absence>(e::ABSENCE_TYPE, a.absence_id)? {
                Some(x) => Some(x.child_id),
                None => pending(r)?.iter().find_map(|p| match &p.m {
                    Mutation::AbsenceReport(x)
                        if e::absence_id(x.child_id, x.date) == a.absence_id =>
                    {
                        Some(x.child_id)
                    }
                    _ => None,
                }),
            };
            let child =
                child.ok_or_else(|| CoreError::rule(RejectCode::NotFound, "no such absence"))?;
            child_ctx(r, child)?;
            Ok(())
        }
        Mutation::TalkBook(a) => {
            let c = child_ctx(r, a.child_id)?;
            if relation(me) != Relation::Guardian {
                return Err(not_permitted("guardians book development talks"));
            }
            let (slots, bookings, _) = talk_state(r, &c, me)?;
            let slot = slots.iter().find(|s| s.id == a.slot_id).ok_or_else(|| {
                CoreError::rule(RejectCode::NotFound, "no such talk slot for this child")
            })?;
            if let Some(m) = &a.message {
                if m.chars().count() > COMMENT_MAX_CHARS {
                    return Err(CoreError::invalid(
                        "the message is longer than 500 characters",
                    ));
                }
            }
            if bookings.iter().any(|b| {
                slots
                    .iter()
                    .any(|s| s.id == b.slot_id && s.round_id == slot.round_id)
            }) {
                return Err(CoreError::rule(
                    RejectCode::AlreadyBooked,
                    "the child already has a talk booked in this round",
                ));
            }
            if slot.taken {
                return Err(CoreError::rule(
                    RejectCode::SlotTaken,
                    "someone booked this time first",
                ));
            }
            Ok(())
        }
        Mutation::TalkCancel(a) => {
            if relation(me) == Relation::Themself {
                return Err(not_permitted("guardians cancel development talks"));
            }
            if r.typed_one::<TalkBooking>(e::TALK_BOOKING_TYPE, a.booking_id)?
                .is_some()
            {
                return Ok(());
            }
            let pending_booking = pending(r)?
                .iter()
                .any(|p| p.id == a.booking_id && matches!(p.m, Mutation::TalkBook(_)));
            if pending_booking {
                return Err(CoreError::rule(
                    RejectCode::NotFound,
                    "the booking is not saved on the server yet; cancel it after the next sync",
                ));
            }
            Err(CoreError::rule(RejectCode::NotFound, "no such booking"))
        }
        Mutation::NotificationRead(a) => {
            if a.ids.is_empty() {
                return Err(CoreError::invalid("no notifications named"));
            }
            Ok(())
        }
        Mutation::MessageSend(a) => {
            check_text("the message", &a.body, 10_000)?;
            Ok(())
        }
        Mutation::MessageRead(_) => Ok(()),
        // Queued by `unlock_with_pin` itself (no pre-check: the attempt is the fact).
        Mutation::StaffPinAttempt(_) => Err(not_permitted(
            "PIN attempts are recorded by unlocking a paired tablet",
        )),
    }
}

// ---------------------------------------------------------------- care week

fn care_overlay(r: &Replica, c: &ChildCtx, ctx: &Ctx) -> Result<overlay::CareOverlay> {
    care_overlay_with(r, c, ctx, &pending(r)?)
}

/// [`care_overlay`] with the pending mutations read once for many children.
pub(crate) fn care_overlay_with(
    r: &Replica,
    c: &ChildCtx,
    ctx: &Ctx,
    pending: &[Pending],
) -> Result<overlay::CareOverlay> {
    let days: Vec<CareDay> = r.typed_of_child(e::CARE_DAY_TYPE, c.child.id)?;
    let comments: Vec<CareComment> = r.typed_of_child(e::CARE_COMMENT_TYPE, c.child.id)?;
    Ok(overlay::care(
        c.child.id,
        days,
        comments,
        pending,
        &ctx.me,
        &c.rules(ctx.now),
    ))
}

pub(crate) fn care_week(
    r: &Replica,
    ctx: &Ctx,
    child_id: Uuid,
    week_start: NaiveDate,
) -> Result<CareWeekView> {
    let c = child_ctx(r, child_id)?;
    let monday = monday_of(week_start);
    let o = care_overlay(r, &c, ctx)?;
    let lock_applies = !ctx.me.is_staff();
    let editable = care_editable(&ctx.me, &c);
    let mut days = Vec::with_capacity(7);
    for i in 0..7u64 {
        let Some(date) = monday.checked_add_days(Days::new(i)) else {
            break;
        };
        let hours = c.cal.hours_on(date);
        let day = o.days.get(&date);
        let pending = o.pending.contains(&date);
        days.push(CareDayView {
            date,
            weekday: iso_weekday(date),
            opens: hours.map(|h| h.open),
            closes: hours.map(|h| h.close),
            closed: hours.is_none(),
            locked: lock_applies && is_day_locked(date, ctx.now, c.tz),
            intervals: day.map(|d| d.intervals.clone()).unwrap_or_default(),
            comment: day.and_then(|d| d.comment.clone()),
            updated_by_name: day.map(|d| d.updated_by_name.clone()),
            // R-CARE-7: someone else set what is shown now.
            updated_by_other: day.is_some_and(|d| d.updated_by != ctx.me.id) && !pending,
            pending,
            comments: o
                .comments
                .iter()
                .filter(|x| x.date == date)
                .cloned()
                .collect(),
        });
    }
    Ok(CareWeekView {
        child_id,
        week_start: monday,
        days,
        editable,
        week_editable: editable && !(lock_applies && is_day_locked(monday, ctx.now, c.tz)),
    })
}

// ---------------------------------------------------------------- absences

pub(crate) fn absences(r: &Replica, ctx: &Ctx, child_id: Uuid) -> Result<AbsenceView> {
    let c = child_ctx(r, child_id)?;
    let (today, tomorrow) = absence_window(ctx.now, c.tz);
    let server: Vec<Absence> = r.typed_of_child(e::ABSENCE_TYPE, child_id)?;
    let mut history: Vec<AbsenceItem> = overlay::absences(child_id, server, &pending(r)?, &ctx.me)
        .into_iter()
        .map(|(absence, pending)| AbsenceItem { absence, pending })
        .collect();
    history.sort_by_key(|h| std::cmp::Reverse(h.absence.date));
    Ok(AbsenceView {
        child_id,
        today,
        tomorrow,
        lessons_today: lessons_of_day(r, &c, today)?,
        lessons_tomorrow: lessons_of_day(r, &c, tomorrow)?,
        lessons_possible: c.unit.kind != UnitKind::Preschool
            && c.unit.keeps_schedule
            && c.child.class_id.is_some(),
        comment_max_chars: domain::absence::ABSENCE_COMMENT_MAX_CHARS as u32,
        history,
    })
}

// ---------------------------------------------------------------- talks

/// Slots of the child's groups and the child's bookings, overlaid.
fn talk_state(
    r: &Replica,
    c: &ChildCtx,
    me: &Me,
) -> Result<(Vec<TalkSlot>, Vec<TalkBooking>, BTreeSet<Uuid>)> {
    let groups: BTreeSet<Uuid> = c.child.group_ids.iter().copied().collect();
    let slots: Vec<TalkSlot> = r
        .typed::<TalkSlot>(e::TALK_SLOT_TYPE)?
        .into_iter()
        .filter(|s| groups.contains(&s.group_id))
        .collect();
    let bookings: Vec<TalkBooking> = r.typed_of_child(e::TALK_BOOKING_TYPE, c.child.id)?;
    let (mut slots, mut bookings, pending_ids) =
        overlay::talks(c.child.id, slots, bookings, &pending(r)?, me);
    slots.sort_by_key(|s| (s.starts_at, s.id));
    bookings.sort_by_key(|b| (b.booked_at, b.id));
    Ok((slots, bookings, pending_ids))
}

fn booking_views(slots: &[TalkSlot], bookings: &[TalkBooking]) -> Vec<BookingView> {
    bookings
        .iter()
        .filter_map(|b| {
            slots
                .iter()
                .find(|s| s.id == b.slot_id)
                .map(|s| BookingView {
                    booking: b.clone(),
                    slot: s.clone(),
                })
        })
        .collect()
}

pub(crate) fn talks(r: &Replica, ctx: &Ctx, child_id: Uuid) -> Result<TalksView> {
    let c = child_ctx(r, child_id)?;
    let (slots, bookings, _) = talk_state(r, &c, &ctx.me)?;
    Ok(TalksView {
        child_id,
        bookings: booking_views(&slots, &bookings),
        slots,
    })
}

// ---------------------------------------------------------------- information

fn concerns(unit_id: Uuid, group_id: Option<Uuid>, c: &ChildCtx) -> bool {
    unit_id == c.unit.id && group_id.is_none_or(|g| c.child.group_ids.contains(&g))
}

pub(crate) fn info(r: &Replica, child_id: Uuid) -> Result<InfoView> {
    let c = child_ctx(r, child_id)?;
    let mut news: Vec<News> = r
        .typed::<News>(e::NEWS_TYPE)?
        .into_iter()
        .filter(|n| concerns(n.unit_id, n.group_id, &c))
        .collect();
    news.sort_by(|a, b| b.published_at.cmp(&a.published_at).then(a.id.cmp(&b.id)));
    let mut calendar: Vec<CalendarEvent> = r
        .typed::<CalendarEvent>(e::CALENDAR_EVENT_TYPE)?
        .into_iter()
        .filter(|x| concerns(x.unit_id, x.group_id, &c))
        .collect();
    calendar.sort_by_key(|x| (x.date, x.start, x.id));
    let mut blog: Vec<BlogPost> = r
        .typed::<BlogPost>(e::BLOG_POST_TYPE)?
        .into_iter()
        .filter(|x| concerns(x.unit_id, Some(x.group_id), &c))
        .collect();
    blog.sort_by(|a, b| b.published_at.cmp(&a.published_at).then(a.id.cmp(&b.id)));
    Ok(InfoView {
        news,
        calendar,
        blog,
    })
}

// ---------------------------------------------------------------- notifications, messages

/// Whether a notification concerns something the user still sees. The server keeps
/// notifications in the user's own scope, so those about a child the user has lost access to
/// stay in the replica (it mirrors the server exactly); the views hide them.
pub(crate) fn notification_visible(r: &Replica, me: &Me) -> Result<impl Fn(&Notification) -> bool> {
    let guarded = matches!(me.role, Role::Guardian | Role::Student);
    let kids: BTreeSet<Uuid> = if guarded {
        r.typed::<Child>(e::CHILD_TYPE)?
            .into_iter()
            .map(|c| c.id)
            .collect()
    } else {
        BTreeSet::new()
    };
    Ok(move |n: &Notification| !guarded || n.child_id.is_none_or(|c| kids.contains(&c)))
}

pub(crate) fn notifications(
    r: &Replica,
    me: &Me,
    child_id: Option<Uuid>,
) -> Result<Vec<Notification>> {
    let all: Vec<Notification> = r.typed(e::NOTIFICATION_TYPE)?;
    let visible = notification_visible(r, me)?;
    let mut v: Vec<Notification> = overlay::notifications(all, &pending(r)?)
        .into_iter()
        .filter(|n| visible(n) && (child_id.is_none() || n.child_id == child_id))
        .collect();
    v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    Ok(v)
}

/// R-MSG-2: messages from others after the user last read their thread.
pub(crate) fn unread_messages(r: &Replica, me: &Me) -> Result<u32> {
    let threads: Vec<MessageThread> = r.typed(e::THREAD_TYPE)?;
    let reads = overlay::thread_reads(r.typed::<ThreadRead>(e::THREAD_READ_TYPE)?, &pending(r)?);
    let n = r
        .typed::<Message>(e::MESSAGE_TYPE)?
        .into_iter()
        .filter(|m| m.sender_id != me.id && threads.iter().any(|t| t.id == m.thread_id))
        .filter(|m| {
            reads
                .get(&m.thread_id)
                .is_none_or(|read_at| m.sent_at > *read_at)
        })
        .count();
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

// ---------------------------------------------------------------- start page

pub(crate) fn start_page(r: &Replica, ctx: &Ctx, child_id: Uuid) -> Result<StartPage> {
    let c = child_ctx(r, child_id)?;
    let me = &ctx.me;
    let rel = relation(me);
    let today = local_date(ctx.now, c.tz);
    let (slots, bookings, _) = talk_state(r, &c, me)?;
    let bookable = slots
        .iter()
        .filter(|s| !s.taken && s.starts_at > ctx.now)
        .count();
    let adult_student = rel == Relation::Themself
        && c.unit.kind == UnitKind::Gymnasium
        && age_on(c.child.birth_date, today) >= 18;
    let info = info(r, child_id)?;
    let mut boxes = Vec::new();
    for kind in &c.unit.boxes {
        let items: Option<usize> = match kind {
            BoxKind::Absence => Some(
                overlay::absences(
                    child_id,
                    r.typed_of_child(e::ABSENCE_TYPE, child_id)?,
                    &pending(r)?,
                    me,
                )
                .iter()
                .filter(|(a, _)| a.date >= today)
                .count(),
            ),
            BoxKind::CareSchedule => {
                let shown = rel != Relation::Themself
                    && c.unit.kind != UnitKind::Gymnasium
                    && (c.unit.kind == UnitKind::Preschool || c.child.in_care);
                if shown {
                    let o = care_overlay(r, &c, ctx)?;
                    Some(o.days.range(today..).count())
                } else {
                    None
                }
            }
            // R-TALK-1: only while bookable slots or a booking exist; students only from 18
            // in gymnasium.
            BoxKind::Talks => {
                let n = bookable + bookings.len();
                (n > 0 && (rel != Relation::Themself || adult_student)).then_some(n)
            }
            BoxKind::Information => Some(info.news.len()),
            BoxKind::Calendar => Some(info.calendar.iter().filter(|x| x.date >= today).count()),
            BoxKind::Blog => Some(info.blog.len()),
            BoxKind::Schedule => {
                let n = match c.child.class_id {
                    Some(k) => r
                        .typed::<Lesson>(e::LESSON_TYPE)?
                        .iter()
                        .filter(|l| l.class_id == k)
                        .count(),
                    None => 0,
                };
                Some(n)
            }
            BoxKind::Assessments | BoxKind::Documentation | BoxKind::Plans | BoxKind::Contacts => {
                Some(0)
            }
        };
        if let Some(n) = items {
            let items = u32::try_from(n).unwrap_or(u32::MAX);
            boxes.push(BoxView {
                kind: *kind,
                empty: items == 0,
                items,
            });
        }
    }
    let bell_count = notifications(r, me, None)?
        .iter()
        .filter(|n| !n.read && (n.child_id == Some(child_id) || n.child_id.is_none()))
        .count();
    Ok(StartPage {
        child: c.info(),
        boxes,
        bell_count: u32::try_from(bell_count).unwrap_or(u32::MAX),
        unread_messages: unread_messages(r, me)?,
        bookings: booking_views(&slots, &bookings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_completed_years() {
        let d = |s| domain::time::parse_date(s).unwrap();
        assert_eq!(age_on(d("2008-03-14"), d("2026-03-13")), 17);
        assert_eq!(age_on(d("2008-03-14"), d("2026-03-14")), 18);
        assert_eq!(age_on(d("2030-01-01"), d("2026-03-14")), 0);
    }
}
