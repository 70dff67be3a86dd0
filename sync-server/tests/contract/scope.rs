//! Pulls: snapshots, deltas, cursors and scope (R-ACC-7; ARCHITECTURE.md `POST /v1/sync/pull`).

use domain::wire::entity::{self as e};
use domain::wire::{Change, ChangeOp};
use domain::RejectCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{assert_applied, assert_rejected, day, ids, of_type, server, set_day_args, upserts, Client, Replica};

/// Panics if any change names or carries one of `forbidden` (as an id or anywhere in its data).
#[track_caller]
fn assert_none_mention(changes: &[Change], forbidden: &[Uuid], who: &str) {
    for c in changes {
        let text = serde_json::to_string(c).unwrap();
        for f in forbidden {
            assert_ne!(c.id, *f, "{who} received {c:?}");
            assert!(!text.contains(&f.to_string()), "{who} received a change mentioning {f}: {text}");
        }
    }
}

/// Anna, Erik and the staff do a bit of everything about Elsa and Oskar.
async fn busy_family(anna: &Client, erik: &Client, lisa: &Client, johan: &Client) {
    assert_applied(&anna.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("07:30", "16:00")])).await);
    assert_applied(&erik.push_one("care.set_day", set_day_args(ids::oskar(), "2026-11-26", &[("13:30", "17:00")])).await);
    let r = anna.push_one("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25", "comment": "Förkyld" })).await;
    assert_applied(&r);
    let absence_id = r.details.unwrap().value()["absence_id"].clone();
    assert_applied(&anna.push_one("absence.report", json!({ "child_id": ids::oskar(), "date": "2026-11-26" })).await);
    assert_applied(&anna.push_one("care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-26", "text": "Morfar hämtar" })).await);
    assert_applied(&lisa.push_one("absence.confirm", json!({ "absence_id": absence_id })).await);
    assert_applied(&lisa.push_one("care.comment_seen", json!({ "child_id": ids::elsa(), "date": "2026-11-26" })).await);
    assert_applied(&erik.push_one("talk.book", json!({ "slot_id": ids::solrosen_slot(1), "child_id": ids::elsa(), "message": "Elsa" })).await);
    assert_applied(
        &anna
            .push_one("message.send", json!({ "recipients": [ids::user("lisa")], "title": "Elsa", "body": "Om Elsa", "child_id": ids::elsa() }))
            .await,
    );
    assert_applied(
        &johan
            .push_one("message.send", json!({ "recipients": [ids::user("anna")], "title": "Oskar", "body": "Om Oskar", "child_id": ids::oskar() }))
            .await,
    );
    assert_applied(&lisa.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-25", &[("08:00", "12:00")])).await);
    assert_applied(
        &johan
            .push_one("attendance.mark", json!({ "child_id": ids::oskar(), "kind": "arrived", "at": crate::support::sthlm("2026-11-25", "08:05:00") }))
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_acc_7_maria_never_receives_anything_about_elsa_or_oskar() {
    // R-ACC-7: a guardian sees only their own children, in every change of every pull.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let (anna, erik, lisa, johan, maria) =
        (s.login("anna").await, s.login("erik").await, s.login("lisa").await, s.login("johan").await, s.login("maria").await);
    let forbidden = [ids::elsa(), ids::oskar()];

    let (cursor, snapshot) = maria.pull_all().await;
    assert_none_mention(&snapshot, &forbidden, "maria's snapshot");
    let mut r = Replica::default();
    r.apply(&snapshot);
    let kids: Vec<e::Child> = r.all(e::CHILD_TYPE);
    assert_eq!(kids.iter().map(|k| k.id).collect::<Vec<_>>(), vec![ids::noah()], "Maria's children: Noah only");
    // She does see her own unit, group and Lisa's talk slots.
    assert!(r.get::<e::Unit>(e::UNIT_TYPE, ids::solrosen()).is_some());
    assert!(r.get::<e::Unit>(e::UNIT_TYPE, ids::ekdal()).is_none(), "not Oskar's school");
    assert_eq!(r.count(e::TALK_SLOT_TYPE), 6);

    busy_family(&anna, &erik, &lisa, &johan).await;

    // Every delta (in small pages too) and a new snapshot are clean.
    let (_, delta) = maria.delta(&cursor).await;
    assert_none_mention(&delta, &forbidden, "maria's delta");
    // The slot Erik booked shows as taken, nothing more.
    let slots = upserts::<e::TalkSlot>(&delta, e::TALK_SLOT_TYPE);
    assert_eq!(slots.iter().map(|s| (s.id, s.taken)).collect::<Vec<_>>(), vec![(ids::solrosen_slot(1), true)]);
    let (_, paged) = maria.pull_from(Some(&cursor), Some(1)).await;
    assert_none_mention(&paged, &forbidden, "maria's paged delta");
    let (_, snapshot) = maria.pull_from(None, Some(3)).await;
    assert_none_mention(&snapshot, &forbidden, "maria's paged snapshot");
    assert!(maria.me().await.children.iter().all(|c| c.id == ids::noah()));

    // The same holds for staff of the other unit and for the student.
    let (_, lisa_view) = lisa.pull_all().await;
    assert_none_mention(&lisa_view, &[ids::oskar()], "lisa");
    let (_, johan_view) = johan.pull_all().await;
    assert_none_mention(&johan_view, &[ids::elsa(), ids::noah()], "johan");
    let oskar = s.login("oskar").await;
    let (_, oskar_view) = oskar.pull_all().await;
    assert_none_mention(&oskar_view, &[ids::elsa(), ids::noah()], "oskar");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_acc_7_maria_cannot_write_about_elsa() {
    // R-ACC-7: a child the user may not see is `not_permitted`, whether or not it exists.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let maria = s.login("maria").await;
    let anna = s.login("anna").await;
    let r = anna.push_one("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25" })).await;
    let absence_id = r.details.unwrap().value()["absence_id"].clone();
    let (anna_cursor, _) = anna.pull_all().await;
    for (name, args) in [
        ("care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")])),
        ("care.clear_day", json!({ "child_id": ids::elsa(), "date": "2026-11-26" })),
        ("care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-26", "text": "hej" })),
        ("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-26" })),
        ("absence.confirm", json!({ "absence_id": absence_id })),
        ("talk.book", json!({ "slot_id": ids::solrosen_slot(1), "child_id": ids::elsa() })),
        ("care.set_day", set_day_args(Uuid::new_v4(), "2026-11-26", &[("08:00", "16:00")])),
    ] {
        assert_rejected(&maria.push_one(name, args).await, RejectCode::NotPermitted);
    }
    let (_, delta) = anna.delta(&anna_cursor).await;
    assert!(delta.is_empty(), "Maria changed nothing of Anna's: {delta:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_pull_carries_the_other_guardians_change() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let (cursor, _) = anna.pull_all().await;
    let (c2, delta) = anna.delta(&cursor).await;
    assert!(delta.is_empty(), "nothing new: {delta:?}");
    assert_eq!(c2, cursor);
    assert_applied(&erik.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "15:00")])).await);
    let (c3, delta) = anna.delta(&cursor).await;
    let days = upserts::<e::CareDay>(&delta, e::CARE_DAY_TYPE);
    assert_eq!(delta.len(), 1, "{delta:?}");
    assert_eq!((days[0].date, days[0].updated_by_name.as_str()), (day("2026-11-26"), "Erik Lind"));
    assert_ne!(c3, cursor);
    // The cursor moved past it.
    let (_, delta) = anna.delta(&c3).await;
    assert!(delta.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_pulls_add_up_to_the_snapshot() {
    let s = server().await;
    let anna = s.login("anna").await;
    let first = anna.pull_limit(None, Some(2)).await;
    assert!(first.has_more);
    assert_eq!(first.changes.len(), 2);
    let (_, all) = anna.pull_all().await;
    let (_, paged) = anna.pull_from(None, Some(2)).await;
    let mut a = Replica::default();
    a.apply(&all);
    let mut b = Replica::default();
    b.apply(&paged);
    assert_eq!(a.entities, b.entities);
    assert!(a.entities.len() > 20, "the demo gives Anna plenty: {}", a.entities.len());
    assert!(all.iter().all(|c| c.op == ChangeOp::Upsert), "a snapshot has no deletes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_cursor_is_410_cursor_expired() {
    let s = server().await;
    let anna = s.login("anna").await;
    let (cursor, _) = anna.pull_all().await;
    let beyond = {
        let mut parts: Vec<String> = cursor.split('.').map(str::to_string).collect();
        if parts.len() == 3 {
            parts[1] = "999999999".into();
        }
        parts.join(".")
    };
    for bad in ["garbage", "", "v1.1.zz", "v1.5.000000000000000000000000", beyond.as_str(), "v2.1.0123456789abcdef01234567"] {
        anna.pull_raw(Some(bad), None).await.assert_error(410, RejectCode::CursorExpired.as_str());
    }
    // A null cursor always works: the client re-bootstraps.
    assert_eq!(anna.pull_raw(None, None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_growth_backfills_and_scope_loss_deletes() {
    // ARCHITECTURE.md: when the scope grows the next pull backfills it; losing access to a
    // child sends deletes for its data.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let maria = s.login("maria").await;
    assert_applied(&anna.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("07:30", "16:00")])).await);
    assert_applied(&anna.push_one("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25" })).await);
    let (cursor, _) = maria.pull_all().await;

    let (maria_id, elsa) = (maria.id(), ids::elsa());
    s.state.store.write(move |tx| tx.add_guardian(maria_id, elsa)).await.expect("add guardian");

    let (cursor, delta) = maria.delta(&cursor).await;
    let mut r = Replica::default();
    r.apply(&delta);
    let child: e::Child = r.get(e::CHILD_TYPE, ids::elsa()).expect("Elsa backfilled");
    assert_eq!(child.first_name, "Elsa");
    let care: e::CareDay = r.get(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), day("2026-11-26"))).expect("her care day");
    assert_eq!(care.updated_by_name, "Anna Lind");
    assert!(r.get::<e::Absence>(e::ABSENCE_TYPE, e::absence_id(ids::elsa(), day("2026-11-25"))).is_some());
    assert!(delta.iter().all(|c| c.op == ChangeOp::Upsert));
    assert!(maria.me().await.children.iter().any(|c| c.id == ids::elsa()));
    // Now she may write for Elsa too.
    assert_applied(&maria.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-27", &[("08:00", "16:00")])).await);
    let (cursor, _) = maria.delta(&cursor).await;

    s.state.store.write(move |tx| tx.remove_guardian(maria_id, elsa)).await.expect("remove guardian");
    let (_, delta) = maria.delta(&cursor).await;
    let deleted: Vec<(String, Uuid)> =
        delta.iter().filter(|c| c.op == ChangeOp::Delete).map(|c| (c.entity_type.clone(), c.id)).collect();
    for want in [
        (e::CHILD_TYPE.to_string(), ids::elsa()),
        (e::CARE_DAY_TYPE.to_string(), e::care_day_id(ids::elsa(), day("2026-11-26"))),
        (e::CARE_DAY_TYPE.to_string(), e::care_day_id(ids::elsa(), day("2026-11-27"))),
        (e::ABSENCE_TYPE.to_string(), e::absence_id(ids::elsa(), day("2026-11-25"))),
    ] {
        assert!(deleted.contains(&want), "delete of {want:?} in {delta:?}");
    }
    assert_eq!(of_type(&delta, e::CHILD_TYPE).filter(|c| c.op == ChangeOp::Upsert).count(), 0);
    assert_rejected(
        &maria.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-30", &[("08:00", "16:00")])).await,
        RejectCode::NotPermitted,
    );
    // After applying the deletes, a fresh snapshot and the replica agree: no trace of Elsa.
    let (_, fresh) = maria.pull_all().await;
    assert_none_mention(&fresh, &[ids::elsa()], "maria after losing access");
}
