//! The room view (R-STAFF-1): a unit's children on one day, as staff see them on a paired
//! tablet or at a desktop, everything overlaid with the pending mutations (an arrival marked
//! offline shows at once).

use chrono::NaiveDate;
use domain::time::local_date;
use domain::view::{GroupTab, RoomChild, RoomChildDetail, RoomTotals, RoomView};
use domain::wire::entity::{self as e, Absence, CareComment, Child, Group, Unit};
use domain::wire::UnitRef;
use domain::RejectCode;
use uuid::Uuid;

use crate::error::CoreError;
use crate::overlay::{self, Pending};
use crate::replica::Replica;
use crate::views::{self, ChildCtx, Ctx};

type Result<T> = std::result::Result<T, CoreError>;

/// Staff at a desktop, or a tablet with a running PIN session: a locked tablet shows the
/// staff list only, not the children (it lies about in a room).
fn check_reader(ctx: &Ctx) -> Result<()> {
    match ctx.tablet {
        Some(t) if !t.unlocked => Err(CoreError::TabletLocked(
            "unlock the tablet to see the room".into(),
        )),
        Some(_) => Ok(()),
        None if ctx.me.is_staff() => Ok(()),
        None => Err(CoreError::rule(
            RejectCode::NotPermitted,
            "not permitted: the room view is for staff",
        )),
    }
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One child's row of `date`, with the day's note and comments (oldest first).
fn row(
    r: &Replica,
    ctx: &Ctx,
    c: &ChildCtx,
    date: NaiveDate,
    pending: &[Pending],
) -> Result<(RoomChild, Option<String>, Vec<CareComment>)> {
    let care = views::care_overlay_with(r, c, ctx, pending)?;
    let absences: Vec<Absence> = r.typed_of_child(e::ABSENCE_TYPE, c.child.id)?;
    let absence = overlay::absences(c.child.id, absences, pending, &ctx.me)
        .into_iter()
        .find(|(a, _)| a.date == date);
    let attendance = views::attendance_overlay(r, ctx, c, pending)?;
    let att = attendance.get(&date);
    let day = care.days.get(&date);
    let comments: Vec<CareComment> = care
        .comments
        .iter()
        .filter(|x| x.date == date)
        .cloned()
        .collect();
    let pending_here = care.pending.contains(&date)
        || absence.as_ref().is_some_and(|(_, p)| *p)
        || att.is_some_and(|(_, p)| *p);
    let child = RoomChild {
        child_id: c.child.id,
        first_name: c.child.first_name.clone(),
        last_name: c.child.last_name.clone(),
        group_ids: c.child.group_ids.clone(),
        planned: day.map(|d| d.intervals.clone()).unwrap_or_default(),
        absence: absence.map(|(a, _)| a),
        arrived_at: att.and_then(|(a, _)| a.arrived_at),
        departed_at: att.and_then(|(a, _)| a.departed_at),
        comments: u32_of(comments.len()),
        new_comment: comments.iter().any(|x| x.new_for_staff),
        pending: pending_here,
    };
    Ok((child, day.and_then(|d| d.comment.clone()), comments))
}

/// Each child counted once: departed, else present (arrived), else absent, else expected.
fn totals(children: &[RoomChild]) -> RoomTotals {
    let mut t = RoomTotals {
        children: u32_of(children.len()),
        ..RoomTotals::default()
    };
    for c in children {
        if c.departed_at.is_some() {
            t.departed += 1;
        } else if c.arrived_at.is_some() {
            t.present += 1;
        } else if c.absence.is_some() {
            t.absent += 1;
        } else {
            t.expected += 1;
        }
    }
    t
}

/// The room of `date` (None: today in the unit's time zone on the corrected clock). The unit
/// is the group's when one is chosen, else the tablet's, else (desktop) the first of the
/// staff member's units by name; the tabs list every group in the replica.
pub(crate) fn room_view(
    r: &Replica,
    ctx: &Ctx,
    date: Option<NaiveDate>,
    group_id: Option<Uuid>,
) -> Result<RoomView> {
    check_reader(ctx)?;
    let mut units: Vec<Unit> = r.typed(e::UNIT_TYPE)?;
    units.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
    let groups: Vec<Group> = r.typed(e::GROUP_TYPE)?;
    let unit_id = match (group_id, ctx.tablet) {
        (Some(g), _) => {
            groups
                .iter()
                .find(|x| x.id == g)
                .ok_or_else(|| CoreError::rule(RejectCode::NotFound, "no such group"))?
                .unit_id
        }
        (None, Some(t)) => t.unit_id,
        (None, None) => units
            .first()
            .map(|u| u.id)
            .ok_or_else(|| CoreError::rule(RejectCode::NotFound, "no unit synced yet"))?,
    };
    let unit = units
        .iter()
        .find(|u| u.id == unit_id)
        .cloned()
        .ok_or_else(|| CoreError::rule(RejectCode::NotFound, "the unit is not synced yet"))?;
    let tz = views::unit_tz(&unit);
    let today = local_date(ctx.now, tz);
    let date = date.unwrap_or(today);

    let unit_name = |id: Uuid| units.iter().find(|u| u.id == id).map(|u| u.name.as_str());
    let mut tabs: Vec<&Group> = groups.iter().collect();
    tabs.sort_by(|a, b| {
        (unit_name(a.unit_id), &a.name, a.id).cmp(&(unit_name(b.unit_id), &b.name, b.id))
    });

    let mut kids: Vec<Child> = r
        .typed::<Child>(e::CHILD_TYPE)?
        .into_iter()
        .filter(|c| c.unit_id == unit.id)
        .filter(|c| group_id.is_none_or(|g| c.group_ids.contains(&g)))
        .collect();
    kids.sort_by(|a, b| {
        (&a.first_name, &a.last_name, a.id).cmp(&(&b.first_name, &b.last_name, b.id))
    });
    let pending = views::pending(r)?;
    let mut children = Vec::with_capacity(kids.len());
    for child in kids {
        let c = ChildCtx::new(child, unit.clone());
        children.push(row(r, ctx, &c, date, &pending)?.0);
    }
    Ok(RoomView {
        unit_name: unit.name.clone(),
        date,
        today,
        groups: tabs
            .into_iter()
            .map(|g| GroupTab {
                id: g.id,
                name: g.name.clone(),
            })
            .collect(),
        group_id,
        totals: totals(&children),
        children,
    })
}

/// One child's day: the row, the guardians' note and the comments (oldest first).
pub(crate) fn room_child(
    r: &Replica,
    ctx: &Ctx,
    child_id: Uuid,
    date: NaiveDate,
) -> Result<RoomChildDetail> {
    check_reader(ctx)?;
    let c = views::child_ctx(r, child_id)?;
    let (child, day_note, comments) = row(r, ctx, &c, date, &views::pending(r)?)?;
    Ok(RoomChildDetail {
        child,
        date,
        day_note,
        comments,
    })
}

/// The units in the replica, by name (a staff member's own units).
pub(crate) fn units(r: &Replica) -> Result<Vec<UnitRef>> {
    let mut units: Vec<UnitRef> = r
        .typed::<Unit>(e::UNIT_TYPE)?
        .into_iter()
        .map(|u| UnitRef {
            id: u.id,
            name: u.name,
            kind: u.kind,
        })
        .collect();
    units.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::Me;
    use crate::views::TabletCtx;
    use chrono::{DateTime, Utc};
    use domain::interval::Interval;
    use domain::opening::OpeningHours;
    use domain::wire::entity::{AbsenceStatus, Attendance, CareDay};
    use domain::wire::{
        AbsenceConfirm, AttendanceKind, AttendanceMark, CareCommentSeen, ChangeOp, Mutation,
        PullResponse, Role, UnitKind,
    };
    use serde::Serialize;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn d(s: &str) -> NaiveDate {
        domain::time::parse_date(s).unwrap()
    }
    fn t(s: &str) -> domain::interval::LocalTime {
        s.parse().unwrap()
    }
    fn up<T: Serialize>(ty: &str, id: Uuid, v: &T) -> domain::wire::Change {
        domain::wire::Change {
            entity_type: ty.into(),
            id,
            op: ChangeOp::Upsert,
            data: Some(serde_json::to_value(v).unwrap()),
        }
    }
    fn child(n: u128, first: &str, unit: Uuid, groups: Vec<Uuid>) -> Child {
        Child {
            id: Uuid::from_u128(n),
            first_name: first.into(),
            last_name: "Lind".into(),
            birth_date: d("2026-03-14"),
            unit_id: unit,
            class_id: None,
            group_ids: groups,
            in_care: true,
        }
    }
    fn lisa() -> Me {
        Me {
            id: Uuid::from_u128(50),
            name: "Lisa Ek".into(),
            role: Role::Staff,
        }
    }
    fn ctx(me: Me, tablet: Option<TabletCtx>) -> Ctx {
        Ctx {
            me,
            // Thursday 5 September 2030, 10:00 in Stockholm.
            now: at("2030-09-05T08:00:00Z"),
            tablet,
        }
    }

    // R-STAFF-1: the room lists the unit's children by first name with plans, absences,
    // arrivals and comments, everything overlaid with pending marks (offline at once).
    #[test]
    fn the_room_view_overlays_pending_marks_on_server_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Replica::open(&dir.path().join("r.sqlite3")).unwrap();
        let (unit_id, group_id) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let unit = Unit {
            id: unit_id,
            name: "Solrosen förskola".into(),
            kind: UnitKind::Preschool,
            time_zone: "Europe/Stockholm".into(),
            opening_hours: OpeningHours::weekdays(t("06:30"), t("18:00")),
            closed_dates: vec![],
            guardians_register_care: true,
            keeps_schedule: false,
            boxes: vec![],
        };
        let group = Group {
            id: group_id,
            unit_id,
            name: "Blåbär".into(),
        };
        let (noah, elsa, ida) = (
            child(10, "Noah", unit_id, vec![group_id]),
            child(11, "Elsa", unit_id, vec![group_id]),
            child(12, "Ida", unit_id, vec![]),
        );
        let today = d("2030-09-05");
        let plan = CareDay {
            id: e::care_day_id(elsa.id, today),
            child_id: elsa.id,
            date: today,
            intervals: vec![Interval::new(t("07:30"), t("16:00"))],
            comment: Some("morfar hämtar".into()),
            updated_by: Uuid::from_u128(60),
            updated_by_name: "Anna Lind".into(),
            updated_at: at("2030-09-01T10:00:00Z"),
        };
        let absence = Absence {
            id: e::absence_id(noah.id, today),
            child_id: noah.id,
            date: today,
            lessons: None,
            comment: None,
            status: AbsenceStatus::Reported,
            reported_by: Uuid::from_u128(61),
            reported_by_name: "Maria Berg".into(),
            reported_by_role: Role::Guardian,
            reported_at: at("2030-09-05T05:00:00Z"),
        };
        let comment = CareComment {
            id: Uuid::from_u128(70),
            child_id: elsa.id,
            date: today,
            author_id: Uuid::from_u128(60),
            author_name: "Anna Lind".into(),
            author_role: Role::Guardian,
            text: "Elsa sov dåligt".into(),
            created_at: at("2030-09-04T18:00:00Z"),
            new_for_staff: true,
        };
        let arrived = Attendance {
            id: e::attendance_id(ida.id, today),
            child_id: ida.id,
            date: today,
            arrived_at: Some(at("2030-09-05T05:45:00Z")),
            departed_at: None,
            updated_by: lisa().id,
        };
        let page = PullResponse {
            cursor: "c1".into(),
            has_more: false,
            server_time: Utc::now(),
            commit: None,
            changes: vec![
                up(e::UNIT_TYPE, unit_id, &unit),
                up(e::GROUP_TYPE, group_id, &group),
                up(e::CHILD_TYPE, noah.id, &noah),
                up(e::CHILD_TYPE, elsa.id, &elsa),
                up(e::CHILD_TYPE, ida.id, &ida),
                up(e::CARE_DAY_TYPE, plan.id, &plan),
                up(e::ABSENCE_TYPE, absence.id, &absence),
                up(e::CARE_COMMENT_TYPE, comment.id, &comment),
                up(e::ATTENDANCE_TYPE, arrived.id, &arrived),
            ],
        };
        r.apply_page(&page, 0, Utc::now(), 0).unwrap();

        let tablet = Some(TabletCtx {
            unit_id,
            unlocked: true,
        });
        let before = room_view(&r, &ctx(lisa(), tablet), None, None).unwrap();
        assert_eq!(before.date, today);
        let names: Vec<&str> = before
            .children
            .iter()
            .map(|c| c.first_name.as_str())
            .collect();
        assert_eq!(names, ["Elsa", "Ida", "Noah"]);
        assert_eq!(
            before.totals,
            RoomTotals {
                children: 3,
                absent: 1,
                present: 1,
                departed: 0,
                expected: 1
            }
        );
        let elsa_row = &before.children[0];
        assert_eq!(elsa_row.planned, plan.intervals);
        assert!(elsa_row.new_comment && elsa_row.comments == 1 && !elsa_row.pending);

        // Offline, on the tablet: Elsa arrives, Ida leaves, Noah's absence is confirmed,
        // Elsa's comments are opened.
        let marks = [
            Mutation::AttendanceMark(AttendanceMark {
                child_id: elsa.id,
                kind: AttendanceKind::Arrived,
                at: at("2030-09-05T05:50:00Z"),
            }),
            Mutation::AttendanceMark(AttendanceMark {
                child_id: ida.id,
                kind: AttendanceKind::Departed,
                at: at("2030-09-05T07:55:00Z"),
            }),
            Mutation::AbsenceConfirm(AbsenceConfirm {
                absence_id: absence.id,
            }),
            Mutation::CareCommentSeen(CareCommentSeen {
                child_id: elsa.id,
                date: today,
            }),
        ];
        for (i, m) in marks.iter().enumerate() {
            let id = Uuid::from_u128(100 + i as u128);
            r.enqueue(id, m.name(), &m.args(), Utc::now(), Some(lisa().id))
                .unwrap();
        }
        let after = room_view(&r, &ctx(lisa(), tablet), Some(today), Some(group_id)).unwrap();
        let names: Vec<&str> = after
            .children
            .iter()
            .map(|c| c.first_name.as_str())
            .collect();
        assert_eq!(names, ["Elsa", "Noah"], "Ida is in no group");
        let elsa_row = &after.children[0];
        assert_eq!(elsa_row.arrived_at, Some(at("2030-09-05T05:50:00Z")));
        assert!(elsa_row.pending && !elsa_row.new_comment);
        let noah_row = &after.children[1];
        assert_eq!(
            noah_row.absence.as_ref().map(|a| a.status),
            Some(AbsenceStatus::Confirmed)
        );
        assert!(noah_row.pending);
        assert_eq!((after.totals.present, after.totals.absent), (1, 1));
        let all = room_view(&r, &ctx(lisa(), tablet), None, None).unwrap();
        assert_eq!(all.totals.departed, 1, "Ida left: {:?}", all.totals);
        assert_eq!(all.groups.len(), 1);

        let detail = room_child(&r, &ctx(lisa(), tablet), elsa.id, today).unwrap();
        assert_eq!(detail.day_note.as_deref(), Some("morfar hämtar"));
        assert_eq!(detail.comments.len(), 1);

        // A locked tablet shows no children; a guardian gets no room at all.
        let locked = Some(TabletCtx {
            unit_id,
            unlocked: false,
        });
        assert_eq!(
            room_view(&r, &ctx(lisa(), locked), None, None)
                .unwrap_err()
                .code(),
            "tablet_locked"
        );
        let anna = Me {
            id: Uuid::from_u128(60),
            name: "Anna Lind".into(),
            role: Role::Guardian,
        };
        assert_eq!(
            room_view(&r, &ctx(anna, None), None, None)
                .unwrap_err()
                .code(),
            "not_permitted"
        );
        // A staff member at a desktop: the first unit by name, no PIN.
        assert_eq!(
            room_view(&r, &ctx(lisa(), None), None, None)
                .unwrap()
                .children
                .len(),
            3
        );
    }
}
