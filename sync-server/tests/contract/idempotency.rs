//! Push is idempotent by mutation id, in order, and a rejection never aborts the batch
//! (ARCHITECTURE.md, sync contract: `POST /v1/sync/push`).

use domain::interval::Interval;
use domain::wire::entity::{self as e};
use domain::wire::MutationStatus;
use domain::RejectCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{assert_applied, assert_rejected, day, ids, server, set_day_args, sthlm, upserts};

fn iv(a: &str, b: &str) -> Interval {
    Interval::new(a.parse().unwrap(), b.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_push_twice_returns_the_same_results_and_changes_nothing() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let batch = vec![
        (Uuid::new_v4(), "care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")])),
        (Uuid::new_v4(), "absence.report", json!({ "child_id": ids::oskar(), "date": "2026-11-25" })),
        (Uuid::new_v4(), "care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-26", "text": "Mormor hämtar" })),
        (Uuid::new_v4(), "care.set_day", set_day_args(ids::elsa(), "2026-11-28", &[("08:00", "16:00")])),
    ];
    let first = anna.push(batch.clone()).await;
    assert_eq!(
        first.results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [MutationStatus::Applied, MutationStatus::Applied, MutationStatus::Applied, MutationStatus::Rejected]
    );
    let (cursor, snapshot) = anna.pull_all().await;

    // Later, from another device of Anna's (another client id): the same answers.
    s.set_local("2026-11-25", "10:01:00").await;
    let mut other_device = anna.clone();
    other_device.client_id = Uuid::new_v4();
    for c in [&anna, &other_device] {
        let again = c.push(batch.clone()).await;
        assert_eq!(again.results, first.results, "a replay returns the first results, details included");
        let (c2, delta) = anna.delta(&cursor).await;
        assert!(delta.is_empty(), "a replay changes nothing: {delta:?}");
        assert_eq!(c2, cursor, "nothing new to pull");
    }
    let (_, snapshot2) = anna.pull_all().await;
    assert_eq!(snapshot2, snapshot);
    // Exactly one comment, not two.
    assert_eq!(upserts::<e::CareComment>(&snapshot2, e::CARE_COMMENT_TYPE).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_the_lock_has_passed_returns_its_first_result() {
    // The contract: a mutation sent again returns its first result and changes nothing, even
    // when the rule would answer differently now (R-CARE-3 lock passed; R-ABS-1 window moved).
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let set = (Uuid::new_v4(), "care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")]));
    let early = (Uuid::new_v4(), "absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-27" }));
    let first = anna.push(vec![set.clone(), early.clone()]).await;
    assert_applied(&first.results[0]);
    assert_rejected(&first.results[1], RejectCode::AbsenceOutOfWindow);

    s.set_local("2026-11-26", "00:00:01").await; // Thursday: the day is locked now
    let again = anna.push(vec![set.clone(), early.clone()]).await;
    assert_eq!(again.results, first.results);
    // A new mutation with the same arguments meets today's rules.
    let fresh = anna.push(vec![(Uuid::new_v4(), set.1, set.2.clone()), (Uuid::new_v4(), early.1, early.2.clone())]).await;
    assert_rejected(&fresh.results[0], RejectCode::DayLocked);
    assert_applied(&fresh.results[1]);

    let (_, r) = anna.snapshot().await;
    let d: e::CareDay = r.get(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), day("2026-11-26"))).unwrap();
    assert_eq!(d.updated_at, sthlm("2026-11-25", "10:00:00"), "the replay did not write again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_in_the_middle_of_a_batch_does_not_abort_the_rest() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let res = anna
        .push(vec![
            (Uuid::new_v4(), "care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")])),
            (Uuid::new_v4(), "care.set_day", set_day_args(ids::elsa(), "2026-11-28", &[("08:00", "16:00")])),
            (Uuid::new_v4(), "care.teleport", json!({})),
            (Uuid::new_v4(), "care.set_day", set_day_args(ids::noah(), "2026-11-26", &[("08:00", "16:00")])),
            (Uuid::new_v4(), "absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25" })),
            (Uuid::new_v4(), "care.set_day", set_day_args(ids::elsa(), "2026-11-27", &[("05:00", "16:00")])),
            (Uuid::new_v4(), "care.set_day", set_day_args(ids::oskar(), "2026-11-26", &[("14:00", "17:00")])),
        ])
        .await;
    assert_applied(&res.results[0]);
    assert_rejected(&res.results[1], RejectCode::UnitClosed);
    assert_rejected(&res.results[2], RejectCode::InvalidInput);
    assert_rejected(&res.results[3], RejectCode::NotPermitted);
    assert_applied(&res.results[4]);
    assert_rejected(&res.results[5], RejectCode::OutsideOpeningHours);
    assert_applied(&res.results[6]);

    let (_, r) = anna.snapshot().await;
    assert!(r.get::<e::CareDay>(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), day("2026-11-26"))).is_some());
    assert!(r.get::<e::CareDay>(e::CARE_DAY_TYPE, e::care_day_id(ids::oskar(), day("2026-11-26"))).is_some());
    assert!(r.get::<e::Absence>(e::ABSENCE_TYPE, e::absence_id(ids::elsa(), day("2026-11-25"))).is_some());
    assert!(r.get::<e::CareDay>(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), day("2026-11-28"))).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_id_inside_one_batch_is_applied_once() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let id = Uuid::new_v4();
    let res = anna
        .push(vec![
            (id, "care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")])),
            (id, "care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("09:00", "15:00")])),
        ])
        .await;
    assert_applied(&res.results[0]);
    assert_eq!(res.results[1], res.results[0], "the second is a replay of the first");
    let (_, r) = anna.snapshot().await;
    let d: e::CareDay = r.get(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), day("2026-11-26"))).unwrap();
    assert_eq!(d.intervals, vec![iv("08:00", "16:00")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_id_of_another_user_is_not_replayed_to_them() {
    // Idempotency is per mutation id, but a result never leaks to another user.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let m = (Uuid::new_v4(), "care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")]));
    let first = anna.push(vec![m.clone()]).await;
    assert_applied(&first.results[0]);
    let stolen = erik.push(vec![(m.0, "care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("09:00", "15:00")]))]).await;
    assert_rejected(&stolen.results[0], RejectCode::InvalidInput);
    let (_, r) = anna.snapshot().await;
    let d: e::CareDay = r.get(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), day("2026-11-26"))).unwrap();
    assert_eq!((d.intervals, d.updated_by), (vec![iv("08:00", "16:00")], anna.id()));
    assert_eq!(anna.push(vec![m]).await.results, first.results);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_mutation_sent_twice_at_once_applies_once() {
    // A client that retries while its first request is still in flight (a timeout on a slow
    // network) sends the same ids twice at once: one application, the same answer twice.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let (cursor, _) = anna.pull_all().await;
    let batch = vec![
        (Uuid::new_v4(), "care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-26", "text": "Pappa hämtar" })),
        (Uuid::new_v4(), "talk.book", json!({ "slot_id": ids::solrosen_slot(3), "child_id": ids::elsa() })),
    ];
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (c, b, batch) = (anna.clone(), barrier.clone(), batch.clone());
            tokio::spawn(async move {
                b.wait().await;
                c.push(batch).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().results);
    }
    assert_eq!(answers[0], answers[1]);
    assert_applied(&answers[0][0]);
    assert_applied(&answers[0][1]);
    let (_, delta) = anna.delta(&cursor).await;
    assert_eq!(upserts::<e::CareComment>(&delta, e::CARE_COMMENT_TYPE).len(), 1, "one comment");
    assert_eq!(upserts::<e::TalkBooking>(&delta, e::TALK_BOOKING_TYPE).len(), 1, "one booking, no already_booked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_answered_in_order() {
    // One result per mutation, in order, for a batch as an app might send after a week offline.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let batch: Vec<_> = (0..600)
        .map(|i| {
            let date = if i % 3 == 0 { "2026-11-28" } else { "2026-11-26" }; // a Saturday every third
            let start = format!("{:02}:{:02}", 7 + (i % 4), (i % 6) * 10);
            (Uuid::new_v4(), "care.set_day", json!({ "child_id": ids::elsa(), "date": date, "intervals": [{ "start": start, "end": "16:00" }] }))
        })
        .collect();
    let res = anna.push(batch.clone()).await;
    for (i, r) in res.results.iter().enumerate() {
        if i % 3 == 0 {
            assert_rejected(r, RejectCode::UnitClosed);
        } else {
            assert_applied(r);
        }
    }
    // The last applied one wins (R-CARE-7, arrival order).
    let (_, r) = anna.snapshot().await;
    let d: e::CareDay = r.get(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), day("2026-11-26"))).unwrap();
    let last = batch.iter().enumerate().rev().find(|(i, _)| i % 3 != 0).unwrap().1;
    let want = last.2["intervals"][0]["start"].as_str().unwrap();
    assert_eq!(d.intervals[0].start.to_string(), want);
}
