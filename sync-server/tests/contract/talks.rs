//! `talk.book` and `talk.cancel` (R-TALK-1 … R-TALK-3).

use std::sync::{Arc, Barrier};

use domain::wire::entity::{self as e};
use domain::wire::{ChangeOp, MutationResult, MutationStatus, PushResponse};
use domain::RejectCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{assert_applied, assert_rejected, ids, of_type, server, upserts};

fn book_args(slot: Uuid, child: Uuid) -> Value {
    json!({ "slot_id": slot, "child_id": child })
}

/// One push from a plain OS thread with a blocking HTTP client.
fn blocking_push(base: &str, token: &str, name: &str, args: Value) -> MutationResult {
    let http = reqwest::blocking::Client::new();
    let body = json!({ "client_id": Uuid::new_v4(), "mutations": [{ "id": Uuid::new_v4(), "name": name, "args": args }] });
    let res = http.post(format!("{base}/v1/sync/push")).bearer_auth(token).json(&body).send().expect("push");
    assert_eq!(res.status().as_u16(), 200);
    let mut r: PushResponse = res.json().expect("push response");
    r.results.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_talk_2_two_guardians_book_the_same_slot_at_once_exactly_one_wins() {
    // R-TALK-2: a slot is booked at most once: of two concurrent bookings exactly one wins.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let maria = s.login("maria").await;
    let slot = ids::solrosen_slot(1);
    let base = s.url();
    let contenders = [(anna.token.clone(), ids::elsa()), (maria.token.clone(), ids::noah())];
    let results: Vec<MutationResult> = tokio::task::spawn_blocking(move || {
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = contenders
            .into_iter()
            .map(|(token, child)| {
                let (b, base) = (barrier.clone(), base.clone());
                std::thread::spawn(move || {
                    b.wait();
                    blocking_push(&base, &token, "talk.book", book_args(slot, child))
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("thread")).collect()
    })
    .await
    .expect("threads");

    let applied: Vec<_> = results.iter().filter(|r| r.status == MutationStatus::Applied).collect();
    assert_eq!(applied.len(), 1, "exactly one booking wins: {results:?}");
    let loser = results.iter().find(|r| r.status == MutationStatus::Rejected).expect("one loses");
    assert_rejected(loser, RejectCode::SlotTaken);
    let winner_child = if results[0].status == MutationStatus::Applied { ids::elsa() } else { ids::noah() };
    let booking_id: Uuid = serde_json::from_value(applied[0].details.as_ref().unwrap().value()["booking_id"].clone()).unwrap();

    // Both families see the slot taken; only the winner's family sees the booking.
    for c in [&anna, &maria] {
        let (_, r) = c.snapshot().await;
        let s: e::TalkSlot = r.get(e::TALK_SLOT_TYPE, slot).expect("the slot");
        assert!(s.taken, "{} sees the slot taken", c.user.username);
        let bookings: Vec<e::TalkBooking> = r.all(e::TALK_BOOKING_TYPE);
        let mine = c.me().await.children.iter().any(|k| k.id == winner_child);
        if mine {
            assert_eq!(bookings.len(), 1);
            assert_eq!((bookings[0].id, bookings[0].slot_id, bookings[0].child_id), (booking_id, slot, winner_child));
        } else {
            assert!(bookings.is_empty(), "no one sees another family's booking");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_talk_2_one_slot_per_child_per_round() {
    // R-TALK-2: a guardian books one slot per child per round of talks.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let r = anna
        .push_one("talk.book", json!({ "slot_id": ids::solrosen_slot(2), "child_id": ids::elsa(), "message": "Vi vill prata om sömnen" }))
        .await;
    assert_applied(&r);
    assert_rejected(&anna.push_one("talk.book", book_args(ids::solrosen_slot(3), ids::elsa())).await, RejectCode::AlreadyBooked);
    assert_rejected(&erik.push_one("talk.book", book_args(ids::solrosen_slot(4), ids::elsa())).await, RejectCode::AlreadyBooked);
    // Another child of the family, in another round: fine.
    assert_applied(&anna.push_one("talk.book", book_args(sync_server::demo::id("slot/4b/0"), ids::oskar())).await);
    // A slot not of the child's group is not found for that child; a made-up slot neither.
    assert_rejected(&anna.push_one("talk.book", book_args(sync_server::demo::id("slot/4b/1"), ids::elsa())).await, RejectCode::NotFound);
    assert_rejected(&anna.push_one("talk.book", book_args(Uuid::new_v4(), ids::elsa())).await, RejectCode::NotFound);
    // Someone else's child: not permitted.
    assert_rejected(&anna.push_one("talk.book", book_args(ids::solrosen_slot(5), ids::noah())).await, RejectCode::NotPermitted);

    // Staff see the booking and its message in their overview.
    let lisa = s.login("lisa").await;
    let (_, r) = lisa.snapshot().await;
    let bookings: Vec<e::TalkBooking> = r.all(e::TALK_BOOKING_TYPE);
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0].slot_id, ids::solrosen_slot(2));
    assert_eq!(bookings[0].message.as_deref(), Some("Vi vill prata om sömnen"));
    assert_eq!(bookings[0].booked_by_name, "Anna Lind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_talk_3_cancel_frees_the_slot_and_names_the_teacher() {
    // R-TALK-3: cancelling frees the slot; the app offers to message the teacher.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let maria = s.login("maria").await;
    let slot = ids::solrosen_slot(6);
    let r = anna.push_one("talk.book", book_args(slot, ids::elsa())).await;
    assert_applied(&r);
    let booking_id: Uuid = serde_json::from_value(r.details.unwrap().value()["booking_id"].clone()).unwrap();
    assert_rejected(&maria.push_one("talk.book", book_args(slot, ids::noah())).await, RejectCode::SlotTaken);
    // Maria cannot cancel Anna's booking.
    assert_rejected(&maria.push_one("talk.cancel", json!({ "booking_id": booking_id })).await, RejectCode::NotPermitted);

    let (cursor, _) = anna.pull_all().await;
    let r = anna.push_one("talk.cancel", json!({ "booking_id": booking_id })).await;
    assert_applied(&r);
    assert_eq!(r.details.unwrap().value()["teacher_id"], ids::user("lisa").to_string());

    let (_, delta) = anna.delta(&cursor).await;
    let slots = upserts::<e::TalkSlot>(&delta, e::TALK_SLOT_TYPE);
    assert_eq!(slots.len(), 1);
    assert_eq!((slots[0].id, slots[0].taken), (slot, false));
    let deleted: Vec<_> = of_type(&delta, e::TALK_BOOKING_TYPE).map(|c| (c.id, c.op)).collect();
    assert_eq!(deleted, vec![(booking_id, ChangeOp::Delete)]);

    // The freed slot can be booked again, and a cancelled booking cannot be cancelled twice.
    assert_applied(&maria.push_one("talk.book", book_args(slot, ids::noah())).await);
    assert_rejected(&anna.push_one("talk.cancel", json!({ "booking_id": booking_id })).await, RejectCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_talk_1_students_never_receive_talk_slots() {
    // R-TALK-1: students never see the talks box (except gymnasium students ≥ 18).
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let oskar = s.login("oskar").await;
    let (cursor, changes) = oskar.pull_all().await;
    assert_eq!(of_type(&changes, e::TALK_SLOT_TYPE).count(), 0);
    assert!(!changes.is_empty(), "Oskar does see his own things");
    assert_rejected(&oskar.push_one("talk.book", book_args(sync_server::demo::id("slot/4b/2"), ids::oskar())).await, RejectCode::NotPermitted);
    // Nor when his guardian books his talk.
    assert_applied(&anna.push_one("talk.book", book_args(sync_server::demo::id("slot/4b/2"), ids::oskar())).await);
    let (_, delta) = oskar.delta(&cursor).await;
    assert_eq!(of_type(&delta, e::TALK_SLOT_TYPE).count(), 0, "{delta:?}");
    assert_eq!(of_type(&delta, e::TALK_BOOKING_TYPE).count(), 0, "{delta:?}");
    // While his guardian does see the school's slots.
    let (_, r) = anna.snapshot().await;
    let four_b: Vec<e::TalkSlot> = r.all::<e::TalkSlot>(e::TALK_SLOT_TYPE).into_iter().filter(|s| s.unit_id == ids::ekdal()).collect();
    assert_eq!(four_b.len(), 4);
}
