//! `attendance.mark` (R-STAFF-2): staff mark arrivals and departures with the time they
//! happened, synced later; a departure needs an earlier arrival; at most 30 minutes ahead.

use domain::wire::entity::{self as e};
use domain::RejectCode;
use serde_json::json;

use crate::support::{assert_applied, assert_rejected, day, ids, server, sthlm};

fn mark(child: uuid::Uuid, kind: &str, date: &str, time: &str) -> serde_json::Value {
    json!({ "child_id": child, "kind": kind, "at": sthlm(date, time) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_2_arrival_then_departure_recorded_on_the_day_it_happened() {
    let s = server().await;
    s.set_local("2026-11-25", "16:00:00").await;
    let lisa = s.login("lisa").await;
    let r = lisa.push_one("attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "07:42:00")).await;
    assert_applied(&r);
    let details = r.details.unwrap().value();
    assert_eq!(details["date"], "2026-11-25");
    assert_eq!(details["attendance_id"], e::attendance_id(ids::elsa(), day("2026-11-25")).to_string());
    assert_applied(&lisa.push_one("attendance.mark", mark(ids::elsa(), "departed", "2026-11-25", "15:55:00")).await);

    // Guardians see it (R-STAFF-1 lists arrived/departed; the family sees the day).
    let anna = s.login("anna").await;
    let (_, r) = anna.snapshot().await;
    let a: e::Attendance = r.get(e::ATTENDANCE_TYPE, e::attendance_id(ids::elsa(), day("2026-11-25"))).expect("attendance");
    assert_eq!(a.arrived_at, Some(sthlm("2026-11-25", "07:42:00")));
    assert_eq!(a.departed_at, Some(sthlm("2026-11-25", "15:55:00")));
    assert_eq!(a.updated_by, lisa.id());

    // Synced the next morning, yesterday's marks land on yesterday (an offline tablet).
    s.set_local("2026-11-26", "08:00:00").await;
    let r = lisa.push_one("attendance.mark", mark(ids::noah(), "arrived", "2026-11-25", "00:30:00")).await;
    assert_applied(&r);
    assert_eq!(r.details.unwrap().value()["date"], "2026-11-25", "00:30 local is still 25 November (23:30 UTC the day before)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_2_departure_without_arrival_and_times_in_the_future_are_rejected() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let lisa = s.login("lisa").await;
    assert_rejected(&lisa.push_one("attendance.mark", mark(ids::elsa(), "departed", "2026-11-25", "09:00:00")).await, RejectCode::NoArrival);
    assert_applied(&lisa.push_one("attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "09:30:00")).await);
    assert_rejected(&lisa.push_one("attendance.mark", mark(ids::elsa(), "departed", "2026-11-25", "09:15:00")).await, RejectCode::NoArrival);
    // Exactly 30 minutes ahead is accepted; a second more is not.
    assert_applied(&lisa.push_one("attendance.mark", mark(ids::noah(), "arrived", "2026-11-25", "10:30:00")).await);
    assert_rejected(&lisa.push_one("attendance.mark", mark(ids::elsa(), "departed", "2026-11-25", "10:30:01")).await, RejectCode::TimeInFuture);
    assert_applied(&lisa.push_one("attendance.mark", mark(ids::elsa(), "departed", "2026-11-25", "10:00:00")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_2_only_staff_of_the_unit_mark_attendance() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let (anna, johan, oskar) = (s.login("anna").await, s.login("johan").await, s.login("oskar").await);
    assert_rejected(&anna.push_one("attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "08:00:00")).await, RejectCode::NotPermitted);
    assert_rejected(&johan.push_one("attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "08:00:00")).await, RejectCode::NotPermitted);
    assert_rejected(&oskar.push_one("attendance.mark", mark(ids::oskar(), "arrived", "2026-11-25", "08:00:00")).await, RejectCode::NotPermitted);
    assert_applied(&johan.push_one("attendance.mark", mark(ids::oskar(), "arrived", "2026-11-25", "08:00:00")).await);
}

/// One push with several marks: the day records they read are fetched together first on
/// PostgreSQL (`prefetch_group`); the outcomes must be those of the marks one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_2_a_push_of_many_marks_gives_each_the_outcome_it_would_have_alone() {
    let s = server().await;
    s.set_local("2026-11-25", "16:00:00").await;
    let lisa = s.login("lisa").await;
    assert_applied(&lisa.push_one("attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "07:30:00")).await);
    let m = |child, kind, time| (uuid::Uuid::new_v4(), "attendance.mark", mark(child, kind, "2026-11-25", time));
    let r = lisa
        .push(vec![
            // Elsa's record exists already: the departure completes it.
            m(ids::elsa(), "departed", "15:30:00"),
            // Noah arrives and leaves in the same push.
            m(ids::noah(), "arrived", "08:10:00"),
            m(ids::noah(), "departed", "15:40:00"),
            // Oskar is not of Lisa's unit; an unknown child is refused the same way.
            m(ids::oskar(), "arrived", "08:00:00"),
            m(uuid::Uuid::from_u128(42), "arrived", "08:00:00"),
            // Yesterday's departure without an arrival.
            (uuid::Uuid::new_v4(), "attendance.mark", mark(ids::noah(), "departed", "2026-11-24", "15:00:00")),
        ])
        .await;
    assert_applied(&r.results[0]);
    assert_applied(&r.results[1]);
    assert_applied(&r.results[2]);
    assert_rejected(&r.results[3], RejectCode::NotPermitted);
    assert_rejected(&r.results[4], RejectCode::NotPermitted);
    assert_rejected(&r.results[5], RejectCode::NoArrival);

    // The unit's staff see both children's days.
    let (_, snap) = lisa.snapshot().await;
    for (child, arrived, departed) in [(ids::elsa(), "07:30:00", "15:30:00"), (ids::noah(), "08:10:00", "15:40:00")] {
        let a: e::Attendance =
            snap.get(e::ATTENDANCE_TYPE, e::attendance_id(child, day("2026-11-25"))).expect("attendance");
        assert_eq!(a.arrived_at, Some(sthlm("2026-11-25", arrived)));
        assert_eq!(a.departed_at, Some(sthlm("2026-11-25", departed)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_2_a_crowd_of_pushes_in_one_group_commit_marks_each_child_on_its_local_day() {
    // Pushes sent at once share a group commit, whose look-ups the PostgreSQL store fetches
    // for all of them before the first runs (store::ReadHint), a mark's day record named by
    // its unit's time zone; a push reads the records the pushes before it in the group
    // wrote but have not gone in yet. 00:30 in Stockholm is 23:30 UTC the day before: each
    // mark still lands on the local day, and every child's day ends as one push left it.
    let s = server().await;
    s.set_local("2026-11-26", "08:00:00").await;
    let lisa = s.login("lisa").await;
    let pair = |child, k: u32| {
        vec![
            (uuid::Uuid::new_v4(), "attendance.mark", mark(child, "arrived", "2026-11-26", &format!("00:{:02}:00", 30 + k))),
            (uuid::Uuid::new_v4(), "attendance.mark", mark(child, "departed", "2026-11-26", &format!("07:{:02}:00", k))),
        ]
    };
    let mut pushes: Vec<_> = (0..12).map(|k| pair(if k % 2 == 0 { ids::elsa() } else { ids::noah() }, k)).collect();
    let twice = pair(ids::elsa(), 20);
    pushes.push(twice.clone());
    pushes.push(twice);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(pushes.len()));
    let tasks: Vec<_> = pushes
        .into_iter()
        .map(|batch| {
            let (b, c) = (barrier.clone(), lisa.clone());
            tokio::spawn(async move {
                b.wait().await;
                c.push(batch).await.results
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    for r in results.iter().flatten() {
        assert_applied(r);
        assert_eq!(r.details.as_ref().unwrap().value()["date"], "2026-11-26");
    }
    assert_eq!(results[12], results[13], "the same ids twice: one application, its results twice");

    let (_, snap) = lisa.snapshot().await;
    for child in [ids::elsa(), ids::noah()] {
        assert!(snap.get::<e::Attendance>(e::ATTENDANCE_TYPE, e::attendance_id(child, day("2026-11-25"))).is_none());
        let a: e::Attendance = snap.get(e::ATTENDANCE_TYPE, e::attendance_id(child, day("2026-11-26"))).expect("attendance");
        let (arrived, departed) = (a.arrived_at.expect("arrived"), a.departed_at.expect("departed"));
        // The arrival and departure of one push: 00:3k and 07:0k.
        let k = (arrived - sthlm("2026-11-26", "00:30:00")).num_minutes();
        assert_eq!(departed, sthlm("2026-11-26", "07:00:00") + chrono::Duration::minutes(k), "{child}: {arrived} – {departed}");
    }
}
