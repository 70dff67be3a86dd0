//! The optimistic overlay: what the user sees is server state with their pending mutations
//! applied on top, **computed at read time**.
//!
//! Design choice (issue 3 allows either): the replica's `entity` table holds only what the
//! server sent; pending writes live only as rows of the outbox (and of `settled`, applied by
//! the server but not pulled back yet). Every read loads the server rows it needs and replays
//! the pending mutations on them, in queue order, with the same `domain` functions the server
//! uses (`plan_week` for a week, the R-ABS-8 merge for absences, …). So:
//! - the optimistic effect of a mutation *is* its outbox row: it appears in the same SQLite
//!   commit that queues it, before the API call returns, and survives crashes with it;
//! - server state never overwrites a pending write: a pull replaces server rows only, and the
//!   next read replays the still-pending mutations on the new state ("recomputed whenever
//!   server state arrives", with nothing to keep consistent);
//! - an answered mutation leaves the outbox in the transaction that records the answer: a
//!   rejected one stops being overlaid at that instant (it is in the needs-attention journal
//!   instead); an applied one stays overlaid (from `settled`) until the next complete pull has
//!   brought the server's version of it, so the user's change never flickers away.
//!
//! On a paired tablet several staff members share one replica: each pending mutation carries
//! its actor (the staff member whose PIN session queued it), and the overlay writes that
//! person, not the device, into the optimistic records ([`Pending::who`]).
//!
//! The outbox is small (a user's unsynced taps), reads are per child and per week, so the
//! replay is cheap; nothing here touches SQLite.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use domain::attendance::{attendance_day, check_arrival, check_departure};
use domain::opening::UnitCalendar;
use domain::pin::PinState;
use domain::repeat::plan_week;
use domain::time::Tz;
use domain::wire::entity::{
    Absence, AbsenceStatus, Attendance, CareComment, CareDay, Notification, TalkBooking, TalkSlot,
    ThreadRead,
};
use domain::wire::{AttendanceKind, Mutation, Role};
use uuid::Uuid;

use crate::replica::PendingRow;

/// The signed-in user, as the overlay writes them into optimistic records.
#[derive(Debug, Clone)]
pub(crate) struct Me {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
}

impl Me {
    /// Staff (and administrators) are not bound by the guardians' locks and windows.
    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Staff | Role::Admin)
    }
}

/// A pending mutation, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// Queue position (outbox `seq`, kept in `settled`).
    pub seq: i64,
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Still in the outbox (false: applied by the server, result not pulled yet).
    pub in_outbox: bool,
    /// Tablet mode: the staff member who did it; None: the signed-in user.
    pub actor: Option<Me>,
    pub m: Mutation,
}

impl Pending {
    /// Who did it: the recorded actor (tablet), else the signed-in user.
    pub fn who<'a>(&'a self, me: &'a Me) -> &'a Me {
        self.actor.as_ref().unwrap_or(me)
    }
}

/// Parses outbox/settled rows, naming each recorded actor with `actor`; a row that no longer
/// parses (it never should: it was built from a `Mutation`) is not overlaid.
pub(crate) fn parse(rows: Vec<PendingRow>, actor: impl Fn(Uuid) -> Me) -> Vec<Pending> {
    rows.into_iter()
        .filter_map(|r| match Mutation::parse(&r.name, &r.args) {
            Ok(m) => Some(Pending {
                seq: r.seq,
                id: r.id,
                created_at: r.created_at,
                in_outbox: r.in_outbox,
                actor: r.actor.map(&actor),
                m,
            }),
            Err(e) => {
                tracing::warn!(id = %r.id, error = %e, "pending mutation does not parse; not overlaid");
                None
            }
        })
        .collect()
}

/// What a unit needs for the care rules.
pub(crate) struct UnitRules {
    pub cal: UnitCalendar,
    pub tz: Tz,
    /// The corrected clock (R-TIME-1).
    pub now: DateTime<Utc>,
}

/// One child's care days and comments, overlaid.
#[derive(Debug, Default)]
pub(crate) struct CareOverlay {
    pub days: BTreeMap<NaiveDate, CareDay>,
    /// Days an outbox mutation (not yet answered) will touch.
    pub pending: BTreeSet<NaiveDate>,
    pub comments: Vec<CareComment>,
}

fn write_day(
    o: &mut CareOverlay,
    child_id: Uuid,
    date: NaiveDate,
    intervals: &[domain::interval::Interval],
    comment: Option<&str>,
    me: &Me,
    p: &Pending,
) {
    let me = p.who(me);
    if p.in_outbox {
        o.pending.insert(date);
    }
    if intervals.is_empty() {
        o.days.remove(&date);
        return;
    }
    // As the server writes it: intervals in order, blank comments dropped, who and when.
    o.days.insert(
        date,
        CareDay {
            id: domain::wire::entity::care_day_id(child_id, date),
            child_id,
            date,
            intervals: domain::interval::canonical(intervals),
            comment: comment.map(str::to_string).filter(|c| !c.trim().is_empty()),
            updated_by: me.id,
            updated_by_name: me.name.clone(),
            updated_at: p.created_at,
        },
    );
}

/// Care days and comments of `child_id`: server rows, then each pending mutation replayed.
pub(crate) fn care(
    child_id: Uuid,
    server_days: Vec<CareDay>,
    server_comments: Vec<CareComment>,
    pending: &[Pending],
    me: &Me,
    rules: &UnitRules,
) -> CareOverlay {
    let mut o = CareOverlay {
        days: server_days.into_iter().map(|d| (d.date, d)).collect(),
        pending: BTreeSet::new(),
        comments: server_comments,
    };
    for p in pending {
        match &p.m {
            Mutation::CareSetDay(a) if a.child_id == child_id => write_day(
                &mut o,
                child_id,
                a.date,
                &a.intervals,
                a.comment.as_deref(),
                me,
                p,
            ),
            Mutation::CareClearDay(a) if a.child_id == child_id => {
                write_day(&mut o, child_id, a.date, &[], None, me, p)
            }
            Mutation::CareSetWeek(a) if a.child_id == child_id => {
                // The same expansion the server will do (R-CARE-4, R-CARE-5); a plan the
                // rules refuse by now writes nothing (the server will say why).
                if let Ok(plan) = plan_week(
                    a.week_start,
                    &a.days,
                    a.repeat.as_ref(),
                    &rules.cal,
                    rules.now,
                    rules.tz,
                    !me.is_staff(),
                ) {
                    for d in &plan.writes {
                        write_day(
                            &mut o,
                            child_id,
                            d.date,
                            &d.intervals,
                            d.comment.as_deref(),
                            me,
                            p,
                        );
                    }
                }
            }
            Mutation::CareComment(a) if a.child_id == child_id => {
                if p.in_outbox {
                    o.pending.insert(a.date);
                }
                let who = p.who(me);
                o.comments.push(CareComment {
                    id: p.id,
                    child_id,
                    date: a.date,
                    author_id: who.id,
                    author_name: who.name.clone(),
                    author_role: who.role,
                    text: a.text.clone(),
                    created_at: p.created_at,
                    new_for_staff: !who.is_staff(),
                });
            }
            // R-CARE-6: a staff member opened the day's comments: no longer new for anyone.
            Mutation::CareCommentSeen(a) if a.child_id == child_id => {
                if p.in_outbox {
                    o.pending.insert(a.date);
                }
                for c in o.comments.iter_mut().filter(|c| c.date == a.date) {
                    c.new_for_staff = false;
                }
            }
            _ => {}
        }
    }
    o.comments.sort_by_key(|c| (c.date, c.created_at, c.id));
    o
}

/// A child's absences with whether each is (partly) still only on this device: reports
/// (merged as R-ABS-8) and staff confirmations (R-ABS-5) replayed on server rows.
pub(crate) fn absences(
    child_id: Uuid,
    server: Vec<Absence>,
    pending: &[Pending],
    me: &Me,
) -> Vec<(Absence, bool)> {
    let mut by_date: BTreeMap<NaiveDate, (Absence, bool)> =
        server.into_iter().map(|a| (a.date, (a, false))).collect();
    for p in pending {
        let a = match &p.m {
            Mutation::AbsenceReport(a) => a,
            Mutation::AbsenceConfirm(c) => {
                // As the server: confirming an absence it does not know changes nothing.
                if let Some((abs, pending)) =
                    by_date.values_mut().find(|(x, _)| x.id == c.absence_id)
                {
                    abs.status = AbsenceStatus::Confirmed;
                    *pending |= p.in_outbox;
                }
                continue;
            }
            _ => continue,
        };
        if a.child_id != child_id {
            continue;
        }
        let me = p.who(me);
        let lessons = match a.lessons.as_deref() {
            None | Some([]) => None,
            Some(ids) => Some(
                ids.iter()
                    .copied()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>(),
            ),
        };
        let entry = by_date.remove(&a.date);
        let merged = match entry {
            // R-ABS-8: a second report of the same day merges into the first.
            Some((mut prev, was_pending)) => {
                prev.lessons = match (prev.lessons.take(), lessons) {
                    (None, _) | (_, None) => None,
                    (Some(x), Some(y)) => Some(
                        x.into_iter()
                            .chain(y)
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect(),
                    ),
                };
                if prev.comment.is_none() {
                    prev.comment = a.comment.clone();
                }
                if me.is_staff() {
                    prev.status = AbsenceStatus::Confirmed;
                }
                (prev, was_pending || p.in_outbox)
            }
            None => (
                Absence {
                    id: domain::wire::entity::absence_id(child_id, a.date),
                    child_id,
                    date: a.date,
                    lessons,
                    comment: a.comment.clone(),
                    status: if me.is_staff() {
                        AbsenceStatus::Confirmed
                    } else {
                        AbsenceStatus::Reported
                    },
                    reported_by: me.id,
                    reported_by_name: me.name.clone(),
                    reported_by_role: me.role,
                    reported_at: p.created_at,
                },
                p.in_outbox,
            ),
        };
        by_date.insert(a.date, merged);
    }
    by_date.into_values().collect()
}

/// Talk slots and a child's bookings, with pending bookings and cancellations. A pending
/// booking carries its mutation id as its id until the server's booking arrives.
pub(crate) fn talks(
    child_id: Uuid,
    mut slots: Vec<TalkSlot>,
    mut bookings: Vec<TalkBooking>,
    pending: &[Pending],
    me: &Me,
) -> (Vec<TalkSlot>, Vec<TalkBooking>, BTreeSet<Uuid>) {
    let mut pending_ids = BTreeSet::new();
    for p in pending {
        match &p.m {
            Mutation::TalkBook(a) => {
                if let Some(s) = slots.iter_mut().find(|s| s.id == a.slot_id) {
                    s.taken = true;
                }
                if a.child_id == child_id {
                    if p.in_outbox {
                        pending_ids.insert(p.id);
                    }
                    let who = p.who(me);
                    bookings.push(TalkBooking {
                        id: p.id,
                        slot_id: a.slot_id,
                        child_id,
                        booked_by: who.id,
                        booked_by_name: who.name.clone(),
                        message: a.message.clone().filter(|m| !m.trim().is_empty()),
                        booked_at: p.created_at,
                    });
                }
            }
            Mutation::TalkCancel(a) => {
                if let Some(pos) = bookings.iter().position(|b| b.id == a.booking_id) {
                    let b = bookings.remove(pos);
                    if let Some(s) = slots.iter_mut().find(|s| s.id == b.slot_id) {
                        s.taken = false;
                    }
                }
            }
            _ => {}
        }
    }
    (slots, bookings, pending_ids)
}

/// A child's arrivals and departures per unit-local day (R-STAFF-2), with whether a mark of
/// that day waits in the outbox. Marks are replayed as the server applies them, with the same
/// `domain` checks: one the server will refuse (a departure without an earlier arrival, an
/// arrival after the departure) changes nothing here either.
pub(crate) fn attendance(
    child_id: Uuid,
    server: Vec<Attendance>,
    pending: &[Pending],
    me: &Me,
    tz: Tz,
) -> BTreeMap<NaiveDate, (Attendance, bool)> {
    let mut by_date: BTreeMap<NaiveDate, (Attendance, bool)> =
        server.into_iter().map(|a| (a.date, (a, false))).collect();
    for p in pending {
        let Mutation::AttendanceMark(a) = &p.m else {
            continue;
        };
        if a.child_id != child_id {
            continue;
        }
        // The day on which it happened, not the one on which it syncs.
        let date = attendance_day(a.at, tz);
        let who = p.who(me);
        let (rec, pending) = by_date.entry(date).or_insert_with(|| {
            (
                Attendance {
                    id: domain::wire::entity::attendance_id(child_id, date),
                    child_id,
                    date,
                    arrived_at: None,
                    departed_at: None,
                    updated_by: who.id,
                },
                false,
            )
        });
        *pending |= p.in_outbox;
        let applies = match a.kind {
            AttendanceKind::Arrived => check_arrival(rec.departed_at, a.at).is_ok(),
            AttendanceKind::Departed => check_departure(rec.arrived_at, a.at).is_ok(),
        };
        if applies {
            match a.kind {
                AttendanceKind::Arrived => rec.arrived_at = Some(a.at),
                AttendanceKind::Departed => rec.departed_at = Some(a.at),
            }
            rec.updated_by = who.id;
        }
    }
    by_date
}

/// A staff member's PIN lockout on a tablet (R-STAFF-3): the server's state, unlocked by a
/// password unlock the server has done but not sent back yet (`reset`: the queue position
/// and the moment of it), then this device's pending `staff.pin_attempt`s replayed with
/// [`PinState::after_attempt`], the function the server applies to them: an attempt made
/// before the last password unlock known here does not count, as it will not there.
pub(crate) fn pin_state(
    user_id: Uuid,
    server: PinState,
    pending: &[Pending],
    reset: Option<(i64, DateTime<Utc>)>,
) -> PinState {
    let mut state = match reset {
        Some((_, at)) => server.after_password_sign_in(at),
        None => server,
    };
    for p in pending {
        let Mutation::StaffPinAttempt(a) = &p.m else {
            continue;
        };
        // Attempts queued before the reset reached the server before it (the unlock pushes
        // first), so the reset has already wiped them, whatever the clock said.
        if a.user_id == user_id && reset.is_none_or(|(mark, _)| p.seq > mark) {
            state = state.after_attempt(a.ok, a.at);
        }
    }
    state
}

/// Notifications with pending `notification.read` marks applied.
pub(crate) fn notifications(
    mut server: Vec<Notification>,
    pending: &[Pending],
) -> Vec<Notification> {
    let read: BTreeSet<Uuid> = pending
        .iter()
        .filter_map(|p| match &p.m {
            Mutation::NotificationRead(a) => Some(a.ids.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    for n in &mut server {
        if read.contains(&n.id) {
            n.read = true;
        }
    }
    server
}

/// How far the user has read each thread, with pending `message.read` marks.
pub(crate) fn thread_reads(
    server: Vec<ThreadRead>,
    pending: &[Pending],
) -> BTreeMap<Uuid, DateTime<Utc>> {
    let mut out: BTreeMap<Uuid, DateTime<Utc>> = BTreeMap::new();
    for r in server {
        let e = out.entry(r.thread_id).or_insert(r.read_at);
        *e = (*e).max(r.read_at);
    }
    for p in pending {
        if let Mutation::MessageRead(a) = &p.m {
            let e = out.entry(a.thread_id).or_insert(p.created_at);
            *e = (*e).max(p.created_at);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::interval::{Interval, LocalTime};
    use domain::opening::OpeningHours;
    use domain::repeat::DayTemplate;
    use domain::wire::{CareClearDay, CareSetDay, CareSetWeek};

    fn t(s: &str) -> LocalTime {
        s.parse().unwrap()
    }
    fn iv(a: &str, b: &str) -> Interval {
        Interval::new(t(a), t(b))
    }
    fn d(s: &str) -> NaiveDate {
        domain::time::parse_date(s).unwrap()
    }
    fn me() -> Me {
        Me {
            id: Uuid::from_u128(1),
            name: "Anna Lind".into(),
            role: Role::Guardian,
        }
    }
    fn rules() -> UnitRules {
        UnitRules {
            cal: UnitCalendar {
                hours: OpeningHours::weekdays(t("06:30"), t("18:00")),
                closed_dates: Default::default(),
            },
            tz: domain::time::DEFAULT_TIME_ZONE,
            now: DateTime::parse_from_rfc3339("2030-09-04T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }
    fn pending(m: Mutation, n: u128) -> Pending {
        Pending {
            seq: n as i64,
            id: Uuid::from_u128(n),
            created_at: rules().now,
            in_outbox: true,
            actor: None,
            m,
        }
    }
    fn lisa() -> Me {
        Me {
            id: Uuid::from_u128(50),
            name: "Lisa Ek".into(),
            role: Role::Staff,
        }
    }
    /// The device itself, as the reads of a tablet see "me" between PIN sessions.
    fn tablet() -> Me {
        Me {
            id: Uuid::from_u128(99),
            name: "Blåbär iPad".into(),
            role: Role::Staff,
        }
    }
    fn by(actor: Me, p: Pending) -> Pending {
        Pending {
            actor: Some(actor),
            ..p
        }
    }
    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn mark(child: Uuid, kind: AttendanceKind, t: &str, n: u128) -> Pending {
        by(
            lisa(),
            pending(
                Mutation::AttendanceMark(domain::wire::AttendanceMark {
                    child_id: child,
                    kind,
                    at: at(t),
                }),
                n,
            ),
        )
    }
    fn attempt(user: Uuid, ok: bool, n: u128) -> Pending {
        attempt_at(user, ok, rules().now, n)
    }
    fn attempt_at(user: Uuid, ok: bool, when: DateTime<Utc>, n: u128) -> Pending {
        pending(
            Mutation::StaffPinAttempt(domain::wire::PinAttempt {
                user_id: user,
                ok,
                at: when,
            }),
            n,
        )
    }
    fn server_day(child: Uuid, date: NaiveDate, by: u128) -> CareDay {
        CareDay {
            id: domain::wire::entity::care_day_id(child, date),
            child_id: child,
            date,
            intervals: vec![iv("08:00", "16:00")],
            comment: None,
            updated_by: Uuid::from_u128(by),
            updated_by_name: "Erik Lind".into(),
            updated_at: rules().now,
        }
    }

    // The overlay replays pending writes in order over server state: the last one wins, and
    // server state arriving later does not override a pending write.
    #[test]
    fn pending_writes_replay_in_order_over_server_state() {
        let child = Uuid::from_u128(7);
        let p = vec![
            pending(
                Mutation::CareSetDay(CareSetDay {
                    child_id: child,
                    date: d("2030-09-05"),
                    intervals: vec![iv("07:00", "15:00")],
                    comment: Some("morfar hämtar".into()),
                }),
                10,
            ),
            pending(
                Mutation::CareClearDay(CareClearDay {
                    child_id: child,
                    date: d("2030-09-06"),
                }),
                11,
            ),
            pending(
                Mutation::CareSetDay(CareSetDay {
                    child_id: child,
                    date: d("2030-09-05"),
                    intervals: vec![iv("09:00", "12:00")],
                    comment: None,
                }),
                12,
            ),
        ];
        let server = vec![
            server_day(child, d("2030-09-05"), 2),
            server_day(child, d("2030-09-06"), 2),
        ];
        let o = care(child, server, vec![], &p, &me(), &rules());
        let day = &o.days[&d("2030-09-05")];
        assert_eq!(day.intervals, vec![iv("09:00", "12:00")]);
        assert_eq!(day.updated_by, me().id);
        assert!(!o.days.contains_key(&d("2030-09-06")));
        assert_eq!(o.pending.len(), 2);
    }

    // R-CARE-5: a pending week is expanded with plan_week, as the server will.
    #[test]
    fn a_pending_week_writes_the_days_plan_week_writes() {
        let child = Uuid::from_u128(7);
        let days: Vec<DayTemplate> = (1..=7)
            .map(|weekday| DayTemplate {
                weekday,
                intervals: if weekday <= 5 {
                    vec![iv("08:00", "16:00")]
                } else {
                    vec![]
                },
                comment: None,
            })
            .collect();
        let week = CareSetWeek {
            child_id: child,
            week_start: d("2030-09-09"),
            days: days[..5].to_vec(),
            repeat: Some(domain::repeat::Repeat {
                every_weeks: 2,
                count: Some(2),
                until: None,
            }),
        };
        let o = care(
            child,
            vec![],
            vec![],
            &[pending(Mutation::CareSetWeek(week), 1)],
            &me(),
            &rules(),
        );
        let dates: Vec<NaiveDate> = o.days.keys().copied().collect();
        assert_eq!(dates.len(), 10);
        assert_eq!(dates[0], d("2030-09-09"));
        assert_eq!(dates[5], d("2030-09-23"));
    }

    // R-STAFF-3: the same state machine as the server, over the server's state and this
    // tablet's pending attempts, in order; a password unlock resets what came before it.
    #[test]
    fn pending_pin_attempts_lock_as_the_server_will() {
        let (lisa_id, other) = (lisa().id, Uuid::from_u128(51));
        let server = PinState {
            failures: 2,
            locked: false,
            unlocked_at: None,
        };
        let p: Vec<Pending> = (1..=3)
            .map(|n| attempt(lisa_id, false, n))
            .chain([attempt(other, false, 4)])
            .collect();
        let s = pin_state(lisa_id, server, &p, None);
        assert!(s.locked, "2 on the server + 3 here = 5 in a row: {s:?}");
        assert_eq!(s.attempts_left(), 0);
        assert_eq!(
            pin_state(other, PinState::default(), &p, None).attempts_left(),
            4
        );
        // A right PIN in between resets the run.
        let p = vec![
            attempt(lisa_id, false, 1),
            attempt(lisa_id, true, 2),
            attempt(lisa_id, false, 3),
        ];
        assert_eq!(
            pin_state(lisa_id, server, &p, None),
            PinState {
                failures: 1,
                locked: false,
                unlocked_at: None,
            }
        );
        // Password unlock after seq 3 (server still says locked, the pull has not come):
        // the earlier attempts no longer count, later ones do.
        let locked = PinState {
            failures: 5,
            locked: true,
            unlocked_at: None,
        };
        let p = vec![
            attempt(lisa_id, false, 2),
            attempt(lisa_id, false, 3),
            attempt(lisa_id, false, 4),
        ];
        let unlock = rules().now;
        assert_eq!(
            pin_state(lisa_id, locked, &p, Some((3, unlock))),
            PinState {
                failures: 1,
                locked: false,
                unlocked_at: Some(unlock),
            }
        );
    }

    // R-STAFF-3: wrong PINs made on this tablet before a password unlock (done elsewhere,
    // the server's state says when) but not sent yet do not count, as the server will not
    // count them; those made after it do, from the unlock's second on.
    #[test]
    fn pending_wrong_pins_made_before_a_password_unlock_do_not_count() {
        let lisa_id = lisa().id;
        let unlock = at("2030-09-04T10:00:00Z");
        let server = PinState::default().after_password_sign_in(unlock);
        let before = at("2030-09-04T09:30:00Z");
        let p: Vec<Pending> = (1..=4)
            .map(|n| attempt_at(lisa_id, false, before, n))
            .chain([attempt_at(lisa_id, false, unlock, 5)])
            .collect();
        let s = pin_state(lisa_id, server, &p, None);
        assert!(!s.locked, "{s:?}");
        assert_eq!(s.attempts_left(), 4, "only the one made after the unlock");
        // A right PIN made before it resets nothing either.
        let p: Vec<Pending> = (1..=4)
            .map(|n| attempt_at(lisa_id, false, unlock, n))
            .chain([attempt_at(lisa_id, true, before, 5)])
            .chain([attempt_at(lisa_id, false, unlock, 6)])
            .collect();
        assert!(pin_state(lisa_id, server, &p, None).locked);

        // The same with the unlock done on this tablet, not pulled yet: the reset's moment.
        let locked = PinState {
            failures: 5,
            locked: true,
            unlocked_at: None,
        };
        let p: Vec<Pending> = (4..=7)
            .map(|n| attempt_at(lisa_id, false, before, n))
            .collect();
        let s = pin_state(lisa_id, locked, &p, Some((3, unlock)));
        assert_eq!(s.attempts_left(), 5, "{s:?}");
        // A reset saved without its moment (an older version) still clears the count.
        let s = pin_state(lisa_id, locked, &p, Some((3, DateTime::<Utc>::MIN_UTC)));
        assert_eq!(s.attempts_left(), 1, "{s:?}");
    }

    // R-STAFF-2: an arrival marked offline shows at once, on the unit-local day it happened,
    // as done by the staff member who marked it; a departure the server will refuse does not.
    #[test]
    fn attendance_marks_replay_as_the_server_applies_them() {
        let child = Uuid::from_u128(7);
        let tz = domain::time::DEFAULT_TIME_ZONE;
        let p = vec![
            // 23:30 UTC on the 4th is 01:30 on the 5th in Stockholm.
            mark(child, AttendanceKind::Departed, "2030-09-04T23:30:00Z", 1),
            mark(child, AttendanceKind::Arrived, "2030-09-05T05:10:00Z", 2),
            mark(child, AttendanceKind::Departed, "2030-09-05T05:00:00Z", 3),
            mark(child, AttendanceKind::Departed, "2030-09-05T14:45:00Z", 4),
            mark(child, AttendanceKind::Arrived, "2030-09-05T15:00:00Z", 5),
            mark(
                Uuid::from_u128(8),
                AttendanceKind::Arrived,
                "2030-09-05T05:00:00Z",
                6,
            ),
        ];
        let days = attendance(child, vec![], &p, &tablet(), tz);
        assert_eq!(days.len(), 1, "{days:?}");
        let (rec, pending) = &days[&d("2030-09-05")];
        assert_eq!(rec.arrived_at, Some(at("2030-09-05T05:10:00Z")));
        assert_eq!(rec.departed_at, Some(at("2030-09-05T14:45:00Z")));
        assert_eq!(rec.updated_by, lisa().id, "the actor, not the device");
        assert!(*pending);
        assert_eq!(
            rec.id,
            domain::wire::entity::attendance_id(child, d("2030-09-05"))
        );
        // Over a server row with the arrival already there.
        let server = Attendance {
            departed_at: None,
            ..rec.clone()
        };
        let days = attendance(child, vec![server], &p[3..4], &tablet(), tz);
        assert_eq!(
            days[&d("2030-09-05")].0.departed_at,
            Some(at("2030-09-05T14:45:00Z"))
        );
    }

    // R-ABS-5, R-CARE-6: a confirmation greys the absence; opening the comments clears the
    // marker; a staff member's comment is never new for staff, and names its actor.
    #[test]
    fn confirmations_and_seen_comments_overlay_server_rows() {
        let child = Uuid::from_u128(7);
        let date = d("2030-09-05");
        let reported = Absence {
            id: domain::wire::entity::absence_id(child, date),
            child_id: child,
            date,
            lessons: None,
            comment: Some("feber".into()),
            status: AbsenceStatus::Reported,
            reported_by: me().id,
            reported_by_name: me().name,
            reported_by_role: Role::Guardian,
            reported_at: rules().now,
        };
        let confirm = by(
            lisa(),
            pending(
                Mutation::AbsenceConfirm(domain::wire::AbsenceConfirm {
                    absence_id: reported.id,
                }),
                1,
            ),
        );
        let v = absences(
            child,
            vec![reported.clone()],
            std::slice::from_ref(&confirm),
            &tablet(),
        );
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].0.status, v[0].1), (AbsenceStatus::Confirmed, true));
        assert_eq!(
            v[0].0.reported_by,
            me().id,
            "still reported by the guardian"
        );
        // Confirming an absence of another child changes nothing.
        let v = absences(Uuid::from_u128(8), vec![], &[confirm], &tablet());
        assert!(v.is_empty());

        let guardian_comment = CareComment {
            id: Uuid::from_u128(30),
            child_id: child,
            date,
            author_id: me().id,
            author_name: me().name,
            author_role: Role::Guardian,
            text: "morfar hämtar".into(),
            created_at: rules().now,
            new_for_staff: true,
        };
        let p = vec![
            by(
                lisa(),
                pending(
                    Mutation::CareCommentSeen(domain::wire::CareCommentSeen {
                        child_id: child,
                        date,
                    }),
                    2,
                ),
            ),
            by(
                lisa(),
                pending(
                    Mutation::CareComment(domain::wire::CareComment {
                        child_id: child,
                        date,
                        text: "Vi hälsar!".into(),
                    }),
                    3,
                ),
            ),
        ];
        let o = care(
            child,
            vec![],
            vec![guardian_comment],
            &p,
            &tablet(),
            &rules(),
        );
        assert_eq!(o.comments.len(), 2);
        assert!(
            o.comments.iter().all(|c| !c.new_for_staff),
            "{:?}",
            o.comments
        );
        let mine = o
            .comments
            .iter()
            .find(|c| c.id == Uuid::from_u128(3))
            .unwrap();
        assert_eq!((mine.author_id, mine.author_role), (lisa().id, Role::Staff));
        assert!(o.pending.contains(&date));
    }
}
