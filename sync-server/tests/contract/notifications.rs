//! `notification.read` and `message.read` (R-NOT-1, R-MSG-2).

use domain::wire::entity::{self as e, NotificationCategory};
use serde_json::json;
use uuid::Uuid;

use crate::support::{assert_applied, ids, server, upserts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_not_1_the_demo_rings_the_bell_and_reading_clears_it() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let (cursor, snapshot) = anna.pull_all().await;
    let notes = upserts::<e::Notification>(&snapshot, e::NOTIFICATION_TYPE);
    let cats: std::collections::BTreeSet<_> = notes.iter().map(|n| n.category).collect();
    for c in [NotificationCategory::News, NotificationCategory::Calendar, NotificationCategory::Blog, NotificationCategory::TalkSlots] {
        assert!(cats.contains(&c), "{c:?} among Anna's notifications");
    }
    assert!(notes.iter().all(|n| !n.read));
    assert!(notes.iter().all(|n| n.child_id == Some(ids::elsa()) || n.child_id == Some(ids::oskar())));

    let first = notes[0].id;
    let (_, erik_snapshot) = erik.pull_all().await;
    let eriks = upserts::<e::Notification>(&erik_snapshot, e::NOTIFICATION_TYPE)[0].id;
    let unknown = Uuid::new_v4();
    let r = anna.push_one("notification.read", json!({ "ids": [first, eriks, unknown] })).await;
    assert_applied(&r);
    // Someone else's notification or none at all is reported, never touched.
    let mut listed: Vec<Uuid> = serde_json::from_value(r.details.unwrap().value()["unknown"].clone()).unwrap();
    listed.sort();
    let mut want = vec![eriks, unknown];
    want.sort();
    assert_eq!(listed, want);

    let (_, delta) = anna.delta(&cursor).await;
    let changed = upserts::<e::Notification>(&delta, e::NOTIFICATION_TYPE);
    assert_eq!(changed.len(), 1);
    assert_eq!((changed[0].id, changed[0].read), (first, true));
    let (_, erik_now) = erik.pull_all().await;
    let still = upserts::<e::Notification>(&erik_now, e::NOTIFICATION_TYPE).into_iter().find(|n| n.id == eriks).unwrap();
    assert!(!still.read, "Erik's notification is his own business");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_msg_2_reading_a_thread_records_when() {
    let s = server().await;
    let now = s.set_local("2026-11-25", "10:00:00").await;
    let maria = s.login("maria").await;
    let welcome = sync_server::demo::id("thread/valkommen");
    let (cursor, _) = maria.pull_all().await;
    assert_applied(&maria.push_one("message.read", json!({ "thread_id": welcome })).await);
    let (_, delta) = maria.delta(&cursor).await;
    let reads = upserts::<e::ThreadRead>(&delta, e::THREAD_READ_TYPE);
    assert_eq!(reads.len(), 1);
    assert_eq!((reads[0].thread_id, reads[0].read_at), (welcome, now));
    // Only the reader gets it: Anna's pull has no read marker of Maria's.
    let anna = s.login("anna").await;
    let (_, snap) = anna.pull_all().await;
    assert!(upserts::<e::ThreadRead>(&snap, e::THREAD_READ_TYPE).iter().all(|r| r.id != reads[0].id));
}
