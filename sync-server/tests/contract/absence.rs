//! `absence.report` and `absence.confirm` (R-ABS-1 … R-ABS-8).

use std::sync::Arc;

use domain::wire::entity::{self as e, AbsenceStatus, NotificationCategory};
use domain::wire::Role;
use domain::RejectCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{assert_applied, assert_rejected, day, ids, server, upserts, Client};

async fn report(c: &Client, child: Uuid, date: &str) -> domain::wire::MutationResult {
    c.push_one("absence.report", json!({ "child_id": child, "date": date })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_abs_1_today_and_tomorrow_only() {
    // R-ABS-1: today or tomorrow (unit-local date, server time); any other date is rejected.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await; // a Wednesday
    let anna = s.login("anna").await;
    assert_applied(&report(&anna, ids::elsa(), "2026-11-25").await);
    assert_applied(&report(&anna, ids::elsa(), "2026-11-26").await);
    assert_rejected(&report(&anna, ids::elsa(), "2026-11-24").await, RejectCode::AbsenceOutOfWindow);
    assert_rejected(&report(&anna, ids::elsa(), "2026-11-27").await, RejectCode::AbsenceOutOfWindow);
    assert_rejected(&report(&anna, ids::elsa(), "2027-11-25").await, RejectCode::AbsenceOutOfWindow);

    let (_, changes) = anna.pull_all().await;
    let mut dates: Vec<_> =
        upserts::<e::Absence>(&changes, e::ABSENCE_TYPE).into_iter().filter(|a| a.child_id == ids::elsa()).map(|a| a.date).collect();
    dates.sort();
    assert_eq!(dates, vec![day("2026-11-25"), day("2026-11-26")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_abs_1_tomorrow_at_one_second_before_and_after_midnight() {
    // R-ABS-1 with R-TIME-1: "tomorrow" turns over at local midnight, not UTC midnight.
    let s = server().await;
    s.set_local("2026-11-25", "23:59:59").await;
    let anna = s.login("anna").await;
    assert_applied(&report(&anna, ids::elsa(), "2026-11-26").await);
    assert_rejected(&report(&anna, ids::elsa(), "2026-11-27").await, RejectCode::AbsenceOutOfWindow);

    s.set_local("2026-11-26", "00:00:01").await; // still 25 November in UTC
    assert_applied(&report(&anna, ids::elsa(), "2026-11-27").await);
    assert_rejected(&report(&anna, ids::elsa(), "2026-11-25").await, RejectCode::AbsenceOutOfWindow);
    assert_rejected(&report(&anna, ids::elsa(), "2026-11-28").await, RejectCode::AbsenceOutOfWindow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_time_2_absence_window_on_dst_days() {
    // R-TIME-2: the days DST starts (29 March 2026) and ends (25 October 2026) are ordinary.
    let s = server().await;
    s.set_local("2026-03-29", "23:59:59").await; // CEST, 21:59:59 UTC
    let anna = s.login("anna").await;
    assert_applied(&report(&anna, ids::elsa(), "2026-03-30").await);
    assert_rejected(&report(&anna, ids::elsa(), "2026-03-31").await, RejectCode::AbsenceOutOfWindow);
    s.set_clock("2026-03-29T22:00:01Z").await; // Monday 00:00:01 in Stockholm
    assert_applied(&report(&anna, ids::elsa(), "2026-03-31").await);
    assert_rejected(&report(&anna, ids::elsa(), "2026-03-29").await, RejectCode::AbsenceOutOfWindow);

    // 02:30 happens twice on 25 October; both are "today".
    for utc in ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"] {
        s.set_clock(utc).await;
        let anna = s.login("anna").await;
        assert_applied(&report(&anna, ids::elsa(), "2026-10-25").await);
        assert_applied(&report(&anna, ids::elsa(), "2026-10-26").await);
        assert_rejected(&report(&anna, ids::elsa(), "2026-10-24").await, RejectCode::AbsenceOutOfWindow);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_abs_2_comment_at_most_500_characters() {
    // R-ABS-2: an optional comment of at most 500 characters (characters, not bytes).
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let too_long = "å".repeat(501);
    let r = anna.push_one("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25", "comment": too_long })).await;
    assert_rejected(&r, RejectCode::InvalidInput);
    let (_, changes) = anna.pull_all().await;
    assert!(upserts::<e::Absence>(&changes, e::ABSENCE_TYPE).iter().all(|a| a.date != day("2026-11-25")), "nothing written");

    let just_right = "å".repeat(500);
    let r = anna.push_one("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25", "comment": just_right })).await;
    assert_applied(&r);
    let (_, changes) = anna.pull_all().await;
    let a: Vec<_> = upserts::<e::Absence>(&changes, e::ABSENCE_TYPE).into_iter().filter(|a| a.date == day("2026-11-25")).collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].comment.as_deref(), Some(just_right.as_str()));
    assert_eq!(a[0].lessons, None, "the whole day");
    assert_eq!(a[0].status, AbsenceStatus::Reported);
    assert_eq!(a[0].reported_by, anna.id());
    assert_eq!(a[0].reported_by_role, Role::Guardian);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_abs_3_lessons_of_that_weekday_for_a_school_child() {
    // R-ABS-3: school: the whole day or chosen lessons of that day from the child's schedule.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await; // Wednesday: weekday 3
    let anna = s.login("anna").await;
    let (_, changes) = anna.pull_all().await;
    let lessons = upserts::<e::Lesson>(&changes, e::LESSON_TYPE);
    let mut wednesday: Vec<_> = lessons.iter().filter(|l| l.weekday == 3).collect();
    wednesday.sort_by_key(|l| l.start);
    assert_eq!(wednesday.len(), 5, "4B has five lessons on Wednesdays");
    assert_eq!(wednesday[3].subject, "SO");
    let thursday = lessons.iter().find(|l| l.weekday == 4).expect("a Thursday lesson");

    let chosen = [wednesday[0].id, wednesday[3].id];
    let r = anna
        .push_one("absence.report", json!({ "child_id": ids::oskar(), "date": "2026-11-25", "lessons": chosen }))
        .await;
    assert_applied(&r);
    assert_eq!(r.details.as_ref().unwrap().value()["absence_id"], e::absence_id(ids::oskar(), day("2026-11-25")).to_string());

    // A lesson of another weekday, or one that does not exist, is not in that day's schedule.
    let r = anna
        .push_one("absence.report", json!({ "child_id": ids::oskar(), "date": "2026-11-25", "lessons": [thursday.id] }))
        .await;
    assert_rejected(&r, RejectCode::InvalidInput);
    let r = anna
        .push_one("absence.report", json!({ "child_id": ids::oskar(), "date": "2026-11-26", "lessons": [wednesday[1].id] }))
        .await;
    assert_rejected(&r, RejectCode::InvalidInput);
    let r = anna
        .push_one("absence.report", json!({ "child_id": ids::oskar(), "date": "2026-11-25", "lessons": [Uuid::new_v4()] }))
        .await;
    assert_rejected(&r, RejectCode::InvalidInput);
    // A preschool has no lessons: whole days only.
    let r = anna
        .push_one("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25", "lessons": [wednesday[0].id] }))
        .await;
    assert_rejected(&r, RejectCode::InvalidInput);

    let (_, changes) = anna.pull_all().await;
    let abs: Vec<_> = upserts::<e::Absence>(&changes, e::ABSENCE_TYPE);
    assert_eq!(abs.len(), 1, "only the valid report was written: {abs:?}");
    let mut want = chosen.to_vec();
    want.sort();
    assert_eq!(abs[0].child_id, ids::oskar());
    assert_eq!(abs[0].lessons.as_deref(), Some(&want[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_abs_8_two_guardians_report_the_same_day_at_once_one_absence() {
    // R-ABS-8: both guardians report the same whole day at once: one absence, no error.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    for date in ["2026-11-25", "2026-11-26"] {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = [anna.clone(), erik.clone()]
            .into_iter()
            .map(|c| {
                let b = barrier.clone();
                tokio::spawn(async move {
                    b.wait().await;
                    report(&c, ids::elsa(), date).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.expect("task"));
        }
        for r in &results {
            assert_applied(r);
        }
        assert_eq!(results[0].details, results[1].details, "both name the same absence");

        for who in [&anna, &erik] {
            let (_, changes) = who.pull_all().await;
            let abs: Vec<_> = upserts::<e::Absence>(&changes, e::ABSENCE_TYPE)
                .into_iter()
                .filter(|a| a.child_id == ids::elsa() && a.date == day(date))
                .collect();
            assert_eq!(abs.len(), 1, "exactly one absence for Elsa on {date}");
            assert_eq!(abs[0].lessons, None);
            assert!([anna.id(), erik.id()].contains(&abs[0].reported_by));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_abs_8_a_crowd_of_reports_in_one_group_commit_makes_one_absence_per_day() {
    // Pushes sent at once share a group commit, whose look-ups the PostgreSQL store fetches
    // for all of them before the first runs (store::ReadHint). Both guardians reporting the
    // same day many times, a report sent twice with one id, and a rejected report among
    // them still make one absence per child and day (R-ABS-8) and one application per id.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let twice = (Uuid::new_v4(), "absence.report", json!({ "child_id": ids::oskar(), "date": "2026-11-25" }));
    let mut pushes: Vec<_> = (0..12)
        .map(|i| {
            let who = if i % 2 == 0 { anna.clone() } else { erik.clone() };
            let args = json!({ "child_id": ids::elsa(), "date": "2026-11-26", "comment": format!("report {i}") });
            (who, vec![(Uuid::new_v4(), "absence.report", args)])
        })
        .collect();
    pushes.push((anna.clone(), vec![twice.clone()]));
    pushes.push((anna.clone(), vec![twice]));
    let late = json!({ "child_id": ids::elsa(), "date": "2026-11-27" });
    pushes.push((erik.clone(), vec![(Uuid::new_v4(), "absence.report", late)]));

    let barrier = Arc::new(tokio::sync::Barrier::new(pushes.len()));
    let tasks: Vec<_> = pushes
        .into_iter()
        .map(|(c, batch)| {
            let b = barrier.clone();
            tokio::spawn(async move {
                b.wait().await;
                c.push(batch).await.results.remove(0)
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    let (reports, rest) = results.split_at(12);
    for r in reports {
        assert_applied(r);
        assert_eq!(r.details, reports[0].details, "every report names the same absence");
    }
    assert_applied(&rest[0]);
    assert_eq!(rest[0], rest[1], "the same id twice: one application, its result twice");
    assert_rejected(&rest[2], RejectCode::AbsenceOutOfWindow);

    let (_, changes) = erik.pull_all().await;
    let abs = upserts::<e::Absence>(&changes, e::ABSENCE_TYPE);
    let elsa: Vec<_> = abs.iter().filter(|a| a.child_id == ids::elsa()).collect();
    assert_eq!(elsa.len(), 1, "one absence for Elsa, on 26 November only: {elsa:?}");
    assert_eq!(elsa[0].date, day("2026-11-26"));
    let comment = elsa[0].comment.as_deref().unwrap_or_default();
    assert!(comment.starts_with("report "), "the first report's comment is kept: {comment:?}");
    assert_eq!(abs.iter().filter(|a| a.child_id == ids::oskar() && a.date == day("2026-11-25")).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_abs_6_a_school_student_cannot_report_absence() {
    // R-ABS-6: students cannot report absence (except gymnasium students aged 18 or over).
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let oskar = s.login("oskar").await;
    assert_rejected(&report(&oskar, ids::oskar(), "2026-11-25").await, RejectCode::NotPermitted);
    assert_rejected(&report(&oskar, ids::oskar(), "2026-11-26").await, RejectCode::NotPermitted);
    // Nor for someone else's child.
    assert_rejected(&report(&oskar, ids::elsa(), "2026-11-25").await, RejectCode::NotPermitted);
    let (_, changes) = oskar.pull_all().await;
    assert!(upserts::<e::Absence>(&changes, e::ABSENCE_TYPE).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_confirm_a_reported_absence_and_the_family_is_notified() {
    // R-ABS-5 (reported → confirmed), R-STAFF-2 (staff confirm), R-NOT-1 (confirmed absences).
    let s = server().await;
    s.set_local("2026-11-25", "07:10:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let lisa = s.login("lisa").await;
    let johan = s.login("johan").await;
    let r = anna.push_one("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25", "comment": "Feber" })).await;
    assert_applied(&r);
    let absence_id: Uuid = serde_json::from_value(r.details.unwrap().value()["absence_id"].clone()).unwrap();
    assert_eq!(absence_id, e::absence_id(ids::elsa(), day("2026-11-25")));
    let (cursor, _) = anna.pull_all().await;
    let (erik_cursor, _) = erik.pull_all().await;

    // Staff of another unit, and guardians, may not confirm.
    assert_rejected(&johan.push_one("absence.confirm", json!({ "absence_id": absence_id })).await, RejectCode::NotPermitted);
    assert_rejected(&anna.push_one("absence.confirm", json!({ "absence_id": absence_id })).await, RejectCode::NotPermitted);
    assert_rejected(&lisa.push_one("absence.confirm", json!({ "absence_id": Uuid::new_v4() })).await, RejectCode::NotFound);

    // Lisa sees the report in her unit and confirms it.
    let (_, lisa_view) = lisa.pull_all().await;
    let seen: Vec<_> = upserts::<e::Absence>(&lisa_view, e::ABSENCE_TYPE).into_iter().filter(|a| a.id == absence_id).collect();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].status, AbsenceStatus::Reported);
    assert_applied(&lisa.push_one("absence.confirm", json!({ "absence_id": absence_id })).await);

    let (_, delta) = anna.delta(&cursor).await;
    let abs = upserts::<e::Absence>(&delta, e::ABSENCE_TYPE);
    assert_eq!(abs.len(), 1, "the confirmation arrives in Anna's next pull");
    assert_eq!(abs[0].id, absence_id);
    assert_eq!(abs[0].status, AbsenceStatus::Confirmed);
    assert_eq!(abs[0].comment.as_deref(), Some("Feber"));
    assert_eq!(abs[0].reported_by, anna.id(), "still reported by Anna");
    for (who, cur) in [(&anna, cursor.as_str()), (&erik, erik_cursor.as_str())] {
        let (_, delta) = who.delta(cur).await;
        let notes: Vec<_> = upserts::<e::Notification>(&delta, e::NOTIFICATION_TYPE)
            .into_iter()
            .filter(|n| n.category == NotificationCategory::AbsenceConfirmed)
            .collect();
        assert_eq!(notes.len(), 1, "{} gets one absence_confirmed notification", who.user.username);
        assert_eq!(notes[0].item_type, e::ABSENCE_TYPE);
        assert_eq!(notes[0].item_id, absence_id);
        assert_eq!(notes[0].child_id, Some(ids::elsa()));
        assert!(!notes[0].read);
    }

    // Confirming again changes nothing and notifies no one.
    let (cursor, _) = anna.pull_all().await;
    assert_applied(&lisa.push_one("absence.confirm", json!({ "absence_id": absence_id })).await);
    let (_, delta) = anna.delta(&cursor).await;
    assert!(delta.is_empty(), "no change on a second confirm: {delta:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_register_absence_outside_the_guardian_window_as_confirmed() {
    // R-ABS-5: staff-registered absences show as confirmed; staff are not bound by R-ABS-1.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let lisa = s.login("lisa").await;
    let r = report(&lisa, ids::elsa(), "2026-11-24").await;
    assert_applied(&r);
    let anna = s.login("anna").await;
    let (_, changes) = anna.pull_all().await;
    let abs = upserts::<e::Absence>(&changes, e::ABSENCE_TYPE);
    assert_eq!(abs.len(), 1);
    assert_eq!(abs[0].date, day("2026-11-24"));
    assert_eq!(abs[0].status, AbsenceStatus::Confirmed);
    assert_eq!(abs[0].reported_by_role, Role::Staff);
    // Lisa is not staff of Oskar's school.
    assert_rejected(&report(&lisa, ids::oskar(), "2026-11-25").await, RejectCode::NotPermitted);
}
