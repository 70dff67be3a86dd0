//! What each mutation of the contract does, enforced with the `domain` rules on the server's
//! clock (R-TIME-1). A function here either changes entities and returns optional
//! `details`, or returns a [`RuleError`] (the caller rolls its savepoint back).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::time::{local_date, parse_tz, Tz};
use domain::wire::entity::{self as e, AbsenceStatus, NotificationCategory};
use domain::wire::{self as w, Details, Mutation, Role, UnitKind};
use domain::{absence, attendance, care, interval, personnummer, repeat, RejectCode, RuleError};
use serde_json::json;
use uuid::Uuid;

use super::access::{self, not_permitted, Actor, Relation};
use super::{details, entities, notify, scope, ApplyResult};
use crate::store::{ChildRow, Tx};

pub const TITLE_MAX_CHARS: usize = 200;
pub const BODY_MAX_CHARS: usize = 10_000;

pub fn apply(tx: &mut dyn Tx, actor: &Actor, m: &Mutation) -> ApplyResult<Option<Details>> {
    match m {
        Mutation::AbsenceReport(a) => absence_report(tx, actor, a),
        Mutation::AbsenceConfirm(a) => absence_confirm(tx, actor, a),
        Mutation::CareSetDay(a) => care_set_day(tx, actor, a),
        Mutation::CareClearDay(a) => care_clear_day(tx, actor, a),
        Mutation::CareSetWeek(a) => care_set_week(tx, actor, a),
        Mutation::CareComment(a) => care_comment(tx, actor, a),
        Mutation::CareCommentSeen(a) => care_comment_seen(tx, actor, a),
        Mutation::AttendanceMark(a) => attendance_mark(tx, actor, a),
        Mutation::MessageSend(a) => message_send(tx, actor, a),
        Mutation::MessageRead(a) => message_read(tx, actor, a),
        Mutation::TalkBook(a) => talk_book(tx, actor, a),
        Mutation::TalkCancel(a) => talk_cancel(tx, actor, a),
        Mutation::NotificationRead(a) => notification_read(tx, actor, a),
        // Counted in `push` for paired tablets (rules/pins.rs); a person never sends one.
        Mutation::StaffPinAttempt(_) => Err(not_permitted("PIN attempts are reported by paired tablets").into()),
    }
}

fn unit_tz(unit: &e::Unit) -> ApplyResult<Tz> {
    Ok(parse_tz(&unit.time_zone)?)
}

fn calendar(unit: &e::Unit) -> domain::opening::UnitCalendar {
    domain::opening::UnitCalendar {
        hours: unit.opening_hours.clone(),
        closed_dates: unit.closed_dates.iter().copied().collect(),
    }
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), RuleError> {
    if text.trim().is_empty() {
        return Err(RuleError::invalid(format!("{what} is empty")));
    }
    if text.chars().count() > max {
        return Err(RuleError::invalid(format!("{what} is longer than {max} characters")));
    }
    Ok(())
}

// ---------------------------------------------------------------- absence (R-ABS-*)

fn absence_report(tx: &mut dyn Tx, actor: &Actor, a: &w::AbsenceReport) -> ApplyResult<Option<Details>> {
    let (child, rel) = access::child_for(tx, actor, a.child_id)?;
    let unit = entities::unit(tx, child.unit_id)?;
    let tz = unit_tz(&unit)?;
    match rel {
        Relation::Guardian => absence::check_absence_date(a.date, actor.now, tz)?,
        Relation::Themself => {
            // R-ABS-6: students report only in gymnasium, from 18.
            let pnr: personnummer::Personnummer = child
                .personnummer
                .parse()
                .map_err(|_| RuleError::invalid("the student's personnummer is invalid"))?;
            let age = pnr.age_on(local_date(actor.now, tz));
            if !absence::student_may_report_absence(unit.kind == UnitKind::Gymnasium, age) {
                return Err(not_permitted("students report absence only in gymnasium from 18").into());
            }
            absence::check_absence_date(a.date, actor.now, tz)?;
        }
        Relation::Staff => {}
    }
    absence::check_absence_comment(a.comment.as_deref())?;
    let lessons = match a.lessons.as_deref() {
        None | Some([]) => None,
        Some(ids) => Some(check_lessons(tx, &unit, &child, a.date, ids)?),
    };

    let id = e::absence_id(child.id, a.date);
    let existing: Option<e::Absence> = entities::load(tx, e::ABSENCE_TYPE, id)?;
    let status = if rel.is_staff() { AbsenceStatus::Confirmed } else { AbsenceStatus::Reported };
    let merged = match existing {
        // R-ABS-8: a second report of the same day merges into the first, with no error.
        Some(mut prev) => {
            prev.lessons = match (prev.lessons.take(), lessons) {
                (None, _) | (_, None) => None,
                (Some(p), Some(n)) => {
                    let all: BTreeSet<Uuid> = p.into_iter().chain(n).collect();
                    Some(all.into_iter().collect())
                }
            };
            if prev.comment.is_none() {
                prev.comment = a.comment.clone();
            }
            if rel.is_staff() {
                prev.status = AbsenceStatus::Confirmed;
            }
            prev
        }
        None => e::Absence {
            id,
            child_id: child.id,
            date: a.date,
            lessons,
            comment: a.comment.clone(),
            status,
            reported_by: actor.user.id,
            reported_by_name: actor.user.display_name.clone(),
            reported_by_role: actor.user.role,
            reported_at: actor.now,
        },
    };
    entities::save(tx, e::ABSENCE_TYPE, id, &scope::child(child.id), &merged)?;
    details(&json!({ "absence_id": id }))
}

/// R-ABS-3: lessons are chosen from the child's schedule of that weekday.
fn check_lessons(
    tx: &mut dyn Tx,
    unit: &e::Unit,
    child: &ChildRow,
    date: chrono::NaiveDate,
    ids: &[Uuid],
) -> ApplyResult<Vec<Uuid>> {
    if unit.kind == UnitKind::Preschool || !unit.keeps_schedule {
        return Err(RuleError::invalid("this unit has no lesson schedule: report the whole day").into());
    }
    let Some(class_id) = child.class_id else {
        return Err(RuleError::invalid("the child has no class schedule").into());
    };
    let weekday = date.weekday().number_from_monday() as u8;
    let lessons: Vec<e::Lesson> = entities::load_all(tx, e::LESSON_TYPE, &scope::class(class_id))?;
    let mut out = BTreeSet::new();
    for id in ids {
        if !lessons.iter().any(|l| l.id == *id && l.weekday == weekday) {
            return Err(RuleError::invalid(format!("lesson {id} is not in the child's schedule that day")).into());
        }
        out.insert(*id);
    }
    Ok(out.into_iter().collect())
}

fn absence_confirm(tx: &mut dyn Tx, actor: &Actor, a: &w::AbsenceConfirm) -> ApplyResult<Option<Details>> {
    let Some(mut abs) = entities::load::<e::Absence>(tx, e::ABSENCE_TYPE, a.absence_id)? else {
        return Err(RuleError::new(RejectCode::NotFound, "no such absence").into());
    };
    let child = access::staff_child(tx, actor, abs.child_id)?;
    if abs.status == AbsenceStatus::Confirmed {
        return Ok(None);
    }
    abs.status = AbsenceStatus::Confirmed;
    entities::save(tx, e::ABSENCE_TYPE, abs.id, &scope::child(child.id), &abs)?;
    let family = notify::family_of(tx, child.id)?;
    let title = format!("Frånvaro {} bekräftad", abs.date.format("%Y-%m-%d"));
    notify::notify(
        tx,
        &family,
        &notify::Item {
            child_id: Some(child.id),
            category: NotificationCategory::AbsenceConfirmed,
            item_type: e::ABSENCE_TYPE,
            item_id: abs.id,
            title: &title,
        },
        actor.now,
    )?;
    Ok(None)
}

// ---------------------------------------------------------------- care (R-CARE-*)

/// Who may register care for the child (R-CARE-1): staff always; guardians where the unit
/// lets them and the child is in care there. Students never.
fn care_editor(tx: &mut dyn Tx, actor: &Actor, child_id: Uuid) -> ApplyResult<(ChildRow, Relation, std::sync::Arc<e::Unit>)> {
    let (child, rel) = access::child_for(tx, actor, child_id)?;
    let unit = entities::unit(tx, child.unit_id)?;
    match rel {
        Relation::Staff => {}
        Relation::Themself => return Err(not_permitted("students do not register care times").into()),
        Relation::Guardian => {
            if !unit.guardians_register_care {
                return Err(not_permitted("this unit does not let guardians register care times").into());
            }
            let c = access::child_entity(tx, child.id)?;
            if unit.kind != UnitKind::Preschool && !c.in_care {
                return Err(not_permitted("the child is not in after-school care").into());
            }
        }
    }
    Ok((child, rel, unit))
}

fn write_care_day(
    tx: &mut dyn Tx,
    actor: &Actor,
    child_id: Uuid,
    date: chrono::NaiveDate,
    intervals: &[interval::Interval],
    comment: Option<&str>,
) -> ApplyResult<()> {
    let id = e::care_day_id(child_id, date);
    if intervals.is_empty() {
        tx.delete_entity(e::CARE_DAY_TYPE, id)?;
        return Ok(());
    }
    let mut sorted = intervals.to_vec();
    sorted.sort_by_key(|i| i.start);
    // R-CARE-7: last writer wins and the day records who changed it.
    let day = e::CareDay {
        id,
        child_id,
        date,
        intervals: sorted,
        comment: comment.map(str::to_string).filter(|c| !c.trim().is_empty()),
        updated_by: actor.user.id,
        updated_by_name: actor.user.display_name.clone(),
        updated_at: actor.now,
    };
    entities::save(tx, e::CARE_DAY_TYPE, id, &scope::care(child_id), &day)?;
    Ok(())
}

fn care_set_day(tx: &mut dyn Tx, actor: &Actor, a: &w::CareSetDay) -> ApplyResult<Option<Details>> {
    let (child, rel, unit) = care_editor(tx, actor, a.child_id)?;
    let tz = unit_tz(&unit)?;
    interval::validate_intervals(&a.intervals)?;
    if let Some(c) = &a.comment {
        care::check_comment(c)?;
    }
    if !rel.is_staff() {
        care::check_guardian_edit(a.date, actor.now, tz)?;
    }
    calendar(&unit).check_day(a.date, &a.intervals)?;
    write_care_day(tx, actor, child.id, a.date, &a.intervals, a.comment.as_deref())?;
    Ok(None)
}

fn care_clear_day(tx: &mut dyn Tx, actor: &Actor, a: &w::CareClearDay) -> ApplyResult<Option<Details>> {
    let (child, rel, unit) = care_editor(tx, actor, a.child_id)?;
    if !rel.is_staff() {
        care::check_guardian_edit(a.date, actor.now, unit_tz(&unit)?)?;
    }
    write_care_day(tx, actor, child.id, a.date, &[], None)?;
    Ok(None)
}

fn care_set_week(tx: &mut dyn Tx, actor: &Actor, a: &w::CareSetWeek) -> ApplyResult<Option<Details>> {
    let (child, rel, unit) = care_editor(tx, actor, a.child_id)?;
    let tz = unit_tz(&unit)?;
    let plan = repeat::plan_week(
        a.week_start,
        &a.days,
        a.repeat.as_ref(),
        &calendar(&unit),
        actor.now,
        tz,
        !rel.is_staff(),
    )?;
    for day in &plan.writes {
        write_care_day(tx, actor, child.id, day.date, &day.intervals, day.comment.as_deref())?;
    }
    details(&plan)
}

fn care_comment(tx: &mut dyn Tx, actor: &Actor, a: &w::CareComment) -> ApplyResult<Option<Details>> {
    let (child, rel) = access::child_for(tx, actor, a.child_id)?;
    if rel == Relation::Themself {
        return Err(not_permitted("students do not comment on care days").into());
    }
    let unit = entities::unit(tx, child.unit_id)?;
    check_text("the comment", &a.text, care::COMMENT_MAX_CHARS)?;
    if !rel.is_staff() {
        care::check_guardian_edit(a.date, actor.now, unit_tz(&unit)?)?;
    }
    let c = e::CareComment {
        id: Uuid::new_v4(),
        child_id: child.id,
        date: a.date,
        author_id: actor.user.id,
        author_name: actor.user.display_name.clone(),
        author_role: actor.user.role,
        text: a.text.clone(),
        created_at: actor.now,
        // R-CARE-6: staff see a guardian's comment as new until one of them opens it.
        new_for_staff: !rel.is_staff(),
    };
    entities::save(tx, e::CARE_COMMENT_TYPE, c.id, &scope::care(child.id), &c)?;
    details(&json!({ "comment_id": c.id }))
}

fn care_comment_seen(tx: &mut dyn Tx, actor: &Actor, a: &w::CareCommentSeen) -> ApplyResult<Option<Details>> {
    let child = access::staff_child(tx, actor, a.child_id)?;
    let comments: Vec<e::CareComment> = entities::load_all(tx, e::CARE_COMMENT_TYPE, &scope::care(child.id))?;
    for mut c in comments.into_iter().filter(|c| c.date == a.date && c.new_for_staff) {
        c.new_for_staff = false;
        entities::save(tx, e::CARE_COMMENT_TYPE, c.id, &scope::care(child.id), &c)?;
    }
    Ok(None)
}

// ---------------------------------------------------------------- attendance (R-STAFF-2)

/// The day of a mark at `at` and the id of that day's attendance record. The day is the
/// one on which it happened in the unit's time zone, not the one on which it synced.
fn attendance_day(tx: &mut dyn Tx, child: &ChildRow, at: DateTime<Utc>) -> ApplyResult<(NaiveDate, Uuid)> {
    let unit = entities::unit(tx, child.unit_id)?;
    Ok(crate::day_ids::attendance_record(child.id, at, unit_tz(&unit)?))
}

fn attendance_mark(tx: &mut dyn Tx, actor: &Actor, a: &w::AttendanceMark) -> ApplyResult<Option<Details>> {
    let child = access::staff_child(tx, actor, a.child_id)?;
    attendance::check_attendance_time(a.at, actor.now)?;
    let (date, id) = attendance_day(tx, &child, a.at)?;
    let mut rec = entities::load::<e::Attendance>(tx, e::ATTENDANCE_TYPE, id)?.unwrap_or(e::Attendance {
        id,
        child_id: child.id,
        date,
        arrived_at: None,
        departed_at: None,
        updated_by: actor.user.id,
    });
    match a.kind {
        w::AttendanceKind::Arrived => {
            attendance::check_arrival(rec.departed_at, a.at)?;
            rec.arrived_at = Some(a.at);
        }
        w::AttendanceKind::Departed => {
            attendance::check_departure(rec.arrived_at, a.at)?;
            rec.departed_at = Some(a.at);
        }
    }
    rec.updated_by = actor.user.id;
    entities::save(tx, e::ATTENDANCE_TYPE, id, &scope::care(child.id), &rec)?;
    details(&MarkDetails { attendance_id: id, date })
}

/// The details of an attendance mark. (Performance: written straight from here, not
/// through a `json!` map, once per mark in a tablet's push.)
#[derive(serde::Serialize)]
struct MarkDetails {
    attendance_id: Uuid,
    #[serde(with = "w::date")]
    date: NaiveDate,
}

// ---------------------------------------------------------------- messages (R-MSG-*)

/// Whom `user` may start a thread with: guardians and students write to staff of their
/// children's units; staff to staff of their units and guardians of their children.
fn allowed_recipients(tx: &mut dyn Tx, actor: &Actor) -> ApplyResult<BTreeSet<Uuid>> {
    let mut out = BTreeSet::new();
    let u = &actor.user;
    match u.role {
        Role::Guardian | Role::Student => {
            let kids = if u.role == Role::Guardian {
                tx.children_of_guardian(u.id)?
            } else {
                tx.child_of_student(u.id)?.into_iter().collect()
            };
            for c in kids {
                if let Some(child) = tx.child(c)? {
                    out.extend(tx.staff_of_unit(child.unit_id)?);
                }
            }
        }
        Role::Staff | Role::Admin => {
            let units = if u.role == Role::Staff { tx.staff_units(u.id)? } else { tx.all_units()? };
            for unit in units {
                out.extend(tx.staff_of_unit(unit)?);
                for c in tx.children_of_unit(unit)? {
                    out.extend(tx.guardians_of(c)?);
                }
            }
        }
    }
    out.remove(&u.id);
    Ok(out)
}

fn message_send(tx: &mut dyn Tx, actor: &Actor, a: &w::MessageSend) -> ApplyResult<Option<Details>> {
    check_text("the message", &a.body, BODY_MAX_CHARS)?;
    let thread_id = match a.thread_id {
        Some(thread_id) => {
            if a.recipients.is_some() || a.title.is_some() {
                return Err(RuleError::invalid("a reply takes only thread_id and body").into());
            }
            if !tx.thread_participants(thread_id)?.contains(&actor.user.id) {
                return Err(RuleError::new(RejectCode::NotFound, "no such thread among yours").into());
            }
            thread_id
        }
        None => {
            let recipients: BTreeSet<Uuid> = a.recipients.clone().unwrap_or_default().into_iter().collect();
            if recipients.is_empty() {
                return Err(RuleError::invalid("a new message needs at least one recipient").into());
            }
            let title = a.title.as_deref().unwrap_or("");
            check_text("the title", title, TITLE_MAX_CHARS)?;
            let allowed = allowed_recipients(tx, actor)?;
            if let Some(r) = recipients.iter().find(|r| !allowed.contains(r)) {
                return Err(not_permitted(&format!("you cannot write to {r}")).into());
            }
            if let Some(c) = a.child_id {
                access::child_for(tx, actor, c)?;
            }
            let thread_id = Uuid::new_v4();
            let mut participants = Vec::new();
            for p in std::iter::once(actor.user.id).chain(recipients.iter().copied()) {
                let Some(user) = tx.user_by_id(p)? else { continue };
                tx.add_thread_participant(thread_id, p)?;
                participants.push(e::Participant { id: p, display_name: user.display_name, role: user.role });
            }
            let thread = e::MessageThread {
                id: thread_id,
                title: title.to_string(),
                child_id: a.child_id,
                participants,
                created_at: actor.now,
                last_message_at: actor.now,
            };
            entities::save(tx, e::THREAD_TYPE, thread_id, &scope::thread(thread_id), &thread)?;
            thread_id
        }
    };
    let msg = e::Message {
        id: Uuid::new_v4(),
        thread_id,
        sender_id: actor.user.id,
        sender_name: actor.user.display_name.clone(),
        body: a.body.clone(),
        sent_at: actor.now,
    };
    entities::save(tx, e::MESSAGE_TYPE, msg.id, &scope::thread(thread_id), &msg)?;
    if let Some(mut thread) = entities::load::<e::MessageThread>(tx, e::THREAD_TYPE, thread_id)? {
        thread.last_message_at = actor.now;
        entities::save(tx, e::THREAD_TYPE, thread_id, &scope::thread(thread_id), &thread)?;
    }
    mark_read(tx, actor, thread_id)?;
    // R-MSG-1: staff recipients get an e-mail that a message waits (never its content).
    for p in tx.thread_participants(thread_id)? {
        if p == actor.user.id {
            continue;
        }
        if let Some(user) = tx.user_by_id(p)? {
            if user.role == Role::Staff {
                if let Some(email) = user.email.as_deref() {
                    tx.enqueue_outgoing(
                        "email",
                        email,
                        "Nytt meddelande i Hub",
                        "Du har ett nytt meddelande i Hub. Logga in för att läsa det.",
                        actor.now,
                    )?;
                }
            }
        }
    }
    details(&json!({ "thread_id": thread_id, "message_id": msg.id }))
}

fn mark_read(tx: &mut dyn Tx, actor: &Actor, thread_id: Uuid) -> ApplyResult<()> {
    let id = thread_read_id(actor.user.id, thread_id);
    let r = e::ThreadRead { id, thread_id, read_at: actor.now };
    entities::save(tx, e::THREAD_READ_TYPE, id, &scope::user(actor.user.id), &r)?;
    Ok(())
}

pub fn thread_read_id(user_id: Uuid, thread_id: Uuid) -> Uuid {
    Uuid::new_v5(&user_id, thread_id.as_bytes())
}

fn message_read(tx: &mut dyn Tx, actor: &Actor, a: &w::MessageRead) -> ApplyResult<Option<Details>> {
    if !tx.thread_participants(a.thread_id)?.contains(&actor.user.id) {
        return Err(RuleError::new(RejectCode::NotFound, "no such thread among yours").into());
    }
    mark_read(tx, actor, a.thread_id)?;
    Ok(None)
}

// ---------------------------------------------------------------- talks (R-TALK-*)

fn talk_book(tx: &mut dyn Tx, actor: &Actor, a: &w::TalkBook) -> ApplyResult<Option<Details>> {
    let (child, rel) = access::child_for(tx, actor, a.child_id)?;
    if rel != Relation::Guardian {
        return Err(not_permitted("guardians book development talks").into());
    }
    let Some(mut slot) = entities::load::<e::TalkSlot>(tx, e::TALK_SLOT_TYPE, a.slot_id)? else {
        return Err(RuleError::new(RejectCode::NotFound, "no such talk slot").into());
    };
    // R-TALK-2: with the teacher who holds this child's talks, i.e. a slot of its group.
    if !child.group_ids.contains(&slot.group_id) {
        return Err(RuleError::new(RejectCode::NotFound, "no such talk slot for this child").into());
    }
    if let Some(m) = &a.message {
        if m.chars().count() > care::COMMENT_MAX_CHARS {
            return Err(RuleError::invalid("the message is longer than 500 characters").into());
        }
    }
    let bookings: Vec<e::TalkBooking> = entities::load_all(tx, e::TALK_BOOKING_TYPE, &scope::talks_child(child.id))?;
    for b in &bookings {
        if let Some(other) = entities::load::<e::TalkSlot>(tx, e::TALK_SLOT_TYPE, b.slot_id)? {
            if other.round_id == slot.round_id {
                return Err(RuleError::new(
                    RejectCode::AlreadyBooked,
                    "the child already has a talk booked in this round",
                )
                .into());
            }
        }
    }
    if slot.taken {
        return Err(RuleError::new(RejectCode::SlotTaken, "someone booked this time first").into());
    }
    slot.taken = true;
    entities::save(tx, e::TALK_SLOT_TYPE, slot.id, &scope::talks_group(slot.group_id), &slot)?;
    let booking = e::TalkBooking {
        id: Uuid::new_v4(),
        slot_id: slot.id,
        child_id: child.id,
        booked_by: actor.user.id,
        booked_by_name: actor.user.display_name.clone(),
        message: a.message.clone().filter(|m| !m.trim().is_empty()),
        booked_at: actor.now,
    };
    entities::save(tx, e::TALK_BOOKING_TYPE, booking.id, &scope::talks_child(child.id), &booking)?;
    details(&json!({ "booking_id": booking.id }))
}

fn talk_cancel(tx: &mut dyn Tx, actor: &Actor, a: &w::TalkCancel) -> ApplyResult<Option<Details>> {
    let Some(booking) = entities::load::<e::TalkBooking>(tx, e::TALK_BOOKING_TYPE, a.booking_id)? else {
        return Err(RuleError::new(RejectCode::NotFound, "no such booking").into());
    };
    let (_, rel) = access::child_for(tx, actor, booking.child_id)?;
    if rel == Relation::Themself {
        return Err(not_permitted("guardians cancel development talks").into());
    }
    tx.delete_entity(e::TALK_BOOKING_TYPE, booking.id)?;
    let mut teacher = None;
    if let Some(mut slot) = entities::load::<e::TalkSlot>(tx, e::TALK_SLOT_TYPE, booking.slot_id)? {
        slot.taken = false;
        teacher = Some(slot.teacher_id);
        entities::save(tx, e::TALK_SLOT_TYPE, slot.id, &scope::talks_group(slot.group_id), &slot)?;
    }
    // R-TALK-3: the app offers to message the teacher.
    details(&json!({ "teacher_id": teacher }))
}

// ---------------------------------------------------------------- notifications

fn notification_read(tx: &mut dyn Tx, actor: &Actor, a: &w::NotificationRead) -> ApplyResult<Option<Details>> {
    let own = scope::user(actor.user.id);
    let mut unknown = Vec::new();
    for id in &a.ids {
        let row = tx.get_entity(e::NOTIFICATION_TYPE, *id)?;
        match row {
            Some(r) if r.scope == own && !r.deleted => {
                let Some(mut n) = entities::load::<e::Notification>(tx, e::NOTIFICATION_TYPE, *id)? else {
                    continue;
                };
                if !n.read {
                    n.read = true;
                    entities::save(tx, e::NOTIFICATION_TYPE, n.id, &own, &n)?;
                }
            }
            _ => unknown.push(*id),
        }
    }
    if unknown.is_empty() {
        return Ok(None);
    }
    details(&json!({ "unknown": unknown }))
}
