//! `message.send` and `message.read` (R-MSG-1, R-MSG-2).

use domain::wire::entity::{self as e};
use domain::wire::Role;
use domain::RejectCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{assert_applied, assert_rejected, ids, of_type, server, upserts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_msg_1_a_guardian_writes_to_staff_and_staff_reply_in_the_thread() {
    // R-MSG-1: guardians write to staff of their child's units: recipients, title, body;
    // replies form a thread.
    let s = server().await;
    let now = s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let lisa = s.login("lisa").await;
    let maria = s.login("maria").await;
    let (lisa_cursor, _) = lisa.pull_all().await;
    let (maria_cursor, _) = maria.pull_all().await;

    let r = anna
        .push_one(
            "message.send",
            json!({ "recipients": [ids::user("lisa")], "title": "Vantar", "body": "Elsa har glömt sina vantar.", "child_id": ids::elsa() }),
        )
        .await;
    assert_applied(&r);
    let details = r.details.unwrap().value();
    let thread_id: Uuid = serde_json::from_value(details["thread_id"].clone()).unwrap();
    let message_id: Uuid = serde_json::from_value(details["message_id"].clone()).unwrap();

    let (lisa_cursor, delta) = lisa.delta(&lisa_cursor).await;
    let threads = upserts::<e::MessageThread>(&delta, e::THREAD_TYPE);
    assert_eq!(threads.len(), 1, "{delta:?}");
    let t = &threads[0];
    assert_eq!((t.id, t.title.as_str(), t.child_id), (thread_id, "Vantar", Some(ids::elsa())));
    let mut parts: Vec<_> = t.participants.iter().map(|p| (p.display_name.as_str(), p.role)).collect();
    parts.sort_by_key(|p| p.0);
    assert_eq!(parts, vec![("Anna Lind", Role::Guardian), ("Lisa Ek", Role::Staff)]);
    assert_eq!(t.created_at, now);
    let msgs = upserts::<e::Message>(&delta, e::MESSAGE_TYPE);
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].id, msgs[0].thread_id, msgs[0].sender_id), (message_id, thread_id, anna.id()));
    assert_eq!((msgs[0].sender_name.as_str(), msgs[0].body.as_str()), ("Anna Lind", "Elsa har glömt sina vantar."));
    // The e-mail to Lisa (R-MSG-1) is queued in the store's outgoing table; the `Tx` trait has
    // no read for it, so that is not asserted here.

    // Lisa replies.
    let (anna_cursor, _) = anna.pull_all().await;
    s.set_local("2026-11-25", "10:30:00").await;
    let r = lisa.push_one("message.send", json!({ "thread_id": thread_id, "body": "Vi har lånevantar, ingen fara." })).await;
    assert_applied(&r);
    let (_, delta) = anna.delta(&anna_cursor).await;
    let msgs = upserts::<e::Message>(&delta, e::MESSAGE_TYPE);
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].sender_id, msgs[0].body.as_str()), (lisa.id(), "Vi har lånevantar, ingen fara."));
    let threads = upserts::<e::MessageThread>(&delta, e::THREAD_TYPE);
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0].last_message_at, crate::support::sthlm("2026-11-25", "10:30:00"));
    // Lisa has read her own reply (R-MSG-2: the envelope counts the rest).
    let (_, delta) = lisa.delta(&lisa_cursor).await;
    let reads = upserts::<e::ThreadRead>(&delta, e::THREAD_READ_TYPE);
    assert!(reads.iter().any(|r| r.thread_id == thread_id), "{delta:?}");

    // A third family sees none of it.
    let (_, delta) = maria.delta(&maria_cursor).await;
    assert_eq!(of_type(&delta, e::THREAD_TYPE).count(), 0, "{delta:?}");
    assert_eq!(of_type(&delta, e::MESSAGE_TYPE).count(), 0, "{delta:?}");
    // And cannot post into it.
    assert_rejected(&maria.push_one("message.send", json!({ "thread_id": thread_id, "body": "hej" })).await, RejectCode::NotFound);
    assert_rejected(&maria.push_one("message.read", json!({ "thread_id": thread_id })).await, RejectCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_msg_1_recipients_are_staff_of_the_childs_units_only() {
    // R-MSG-1 with R-ACC-7: Johan is staff of Oskar's school, so Anna may write to him; Maria's
    // only child is at Solrosen, so she may not.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let maria = s.login("maria").await;
    let send = |to: Uuid| json!({ "recipients": [to], "title": "Fråga", "body": "Hej!" });
    assert_applied(&anna.push_one("message.send", send(ids::user("johan"))).await);
    assert_rejected(&maria.push_one("message.send", send(ids::user("johan"))).await, RejectCode::NotPermitted);
    assert_rejected(&maria.push_one("message.send", send(ids::user("anna"))).await, RejectCode::NotPermitted);
    assert_rejected(&maria.push_one("message.send", send(Uuid::new_v4())).await, RejectCode::NotPermitted);
    // One forbidden recipient rejects the whole message.
    let r = maria
        .push_one("message.send", json!({ "recipients": [ids::user("lisa"), ids::user("johan")], "title": "Fråga", "body": "Hej!" }))
        .await;
    assert_rejected(&r, RejectCode::NotPermitted);
    // A new thread about a child that is not hers is refused as well.
    let r = maria
        .push_one("message.send", json!({ "recipients": [ids::user("lisa")], "title": "Elsa", "body": "Hej!", "child_id": ids::elsa() }))
        .await;
    assert_rejected(&r, RejectCode::NotPermitted);
    assert_applied(&maria.push_one("message.send", send(ids::user("lisa"))).await);

    // Malformed messages.
    assert_rejected(&anna.push_one("message.send", json!({ "recipients": [], "title": "x", "body": "y" })).await, RejectCode::InvalidInput);
    assert_rejected(&anna.push_one("message.send", json!({ "recipients": [ids::user("lisa")], "body": "y" })).await, RejectCode::InvalidInput);
    assert_rejected(&anna.push_one("message.send", json!({ "recipients": [ids::user("lisa")], "title": "x", "body": "  " })).await, RejectCode::InvalidInput);
    assert_rejected(
        &anna.push_one("message.send", json!({ "recipients": [ids::user("lisa")], "title": "x", "body": "y".repeat(10_001) })).await,
        RejectCode::InvalidInput,
    );

    // Maria's threads: the demo's welcome thread and her own, not Anna's.
    let (_, r) = maria.snapshot().await;
    let titles: Vec<String> = r.all::<e::MessageThread>(e::THREAD_TYPE).into_iter().map(|t| t.title).collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.contains(&"Välkomna till hösten på Blåbär".to_string()));
}
