//! System notifications: each new item once, also across restarts, per-category settings
//! (R-NOT-1…3).

use std::time::Duration;

use app_core::CoreEvent;
use domain::wire::entity::NotificationCategory;
use domain::wire::{AbsenceConfirm, Mutation};
use hub_tests::*;

use crate::server;

/// Staff confirm Elsa's absence that day: a `absence_confirmed` notification to her family.
async fn lisa_confirms(lisa: &Device, elsa: uuid::Uuid, date: chrono::NaiveDate) {
    let absence_id = domain::wire::entity::absence_id(elsa, date);
    lisa.core
        .submit(Mutation::AbsenceConfirm(AbsenceConfirm { absence_id }))
        .unwrap();
    lisa.core.sync_now().await.unwrap();
    assert!(
        lisa.core.needs_attention().unwrap().is_empty(),
        "{:?}",
        lisa.core.needs_attention()
    );
}

// R-NOT-3: a system notification for each new item, once, also for items that arrived while
// the app was closed; R-NOT-2: a category turned off is not announced, the bell still counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notification_events_come_exactly_once_across_restarts() {
    let server = server().await;
    let mut anna = Device::sign_in(&server, "anna", "anna").await;
    let lisa = Device::sign_in(&server, "lisa", "lisa").await;
    let elsa = anna.child("Elsa");
    // What was there before this device's first sync is not announced.
    assert!(anna.core.take_notify_events().unwrap().is_empty());
    let bell_before = anna.core.start_page(elsa).unwrap().bell_count;

    anna.core
        .report_absence(elsa, d("2030-09-04"), None, Some("förkyld".into()))
        .unwrap();
    anna.core.sync_now().await.unwrap();
    lisa.core.sync_now().await.unwrap();

    // The app is closed while the confirmation arrives on the server.
    anna.restart();
    lisa_confirms(&lisa, elsa, d("2030-09-04")).await;
    anna.core.sync_now().await.unwrap();
    let events = anna.core.take_notify_events().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].notification.category,
        NotificationCategory::AbsenceConfirmed
    );
    assert_eq!(events[0].child_name.as_deref(), Some("Elsa"));
    assert!(anna.core.take_notify_events().unwrap().is_empty(), "once");
    assert_eq!(
        anna.core.start_page(elsa).unwrap().bell_count,
        bell_before + 1
    );

    // Restarting and syncing again announces nothing again.
    anna.restart();
    anna.core.sync_now().await.unwrap();
    assert!(
        anna.core.take_notify_events().unwrap().is_empty(),
        "not again after a restart"
    );

    // Push off for the category: not announced, still counted.
    let mut settings = anna.core.settings().unwrap();
    settings
        .push
        .insert(NotificationCategory::AbsenceConfirmed, false);
    anna.core.set_settings(settings).unwrap();
    anna.core
        .report_absence(elsa, d("2030-09-05"), None, None)
        .unwrap();
    anna.core.sync_now().await.unwrap();
    lisa.core.sync_now().await.unwrap();
    lisa_confirms(&lisa, elsa, d("2030-09-05")).await;
    anna.core.sync_now().await.unwrap();
    assert!(anna.core.take_notify_events().unwrap().is_empty());
    assert_eq!(
        anna.core.start_page(elsa).unwrap().bell_count,
        bell_before + 2
    );

    // Reading them (a mutation) clears the bell at once, offline too.
    anna.proxy.cut();
    let unread: Vec<uuid::Uuid> = anna
        .core
        .notifications(Some(elsa))
        .unwrap()
        .into_iter()
        .filter(|n| !n.read)
        .map(|n| n.id)
        .collect();
    anna.core.mark_notifications_read(unread).unwrap();
    assert_eq!(anna.core.start_page(elsa).unwrap().bell_count, 0);
}

// R-NOT-3 through the background sync: a subscriber gets one `Notify` event per new item.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn background_sync_announces_new_items_to_subscribers_once() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let lisa = Device::sign_in(&server, "lisa", "lisa").await;
    let elsa = anna.child("Elsa");
    anna.core
        .report_absence(elsa, d("2030-09-04"), None, None)
        .unwrap();
    anna.core.sync_now().await.unwrap();
    lisa.core.sync_now().await.unwrap();

    let mut rx = anna.core.subscribe();
    anna.core.start_background_sync();
    anna.core.start_background_sync(); // idempotent
    tokio::time::sleep(Duration::from_millis(300)).await; // the event stream connects
    lisa_confirms(&lisa, elsa, d("2030-09-04")).await;

    let mut notified = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            Ok(Ok(CoreEvent::Notify(n))) => notified.push(n),
            Ok(Ok(_)) | Err(_) => {
                if !notified.is_empty() {
                    // Give a duplicate the chance to show up.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    while let Ok(ev) = rx.try_recv() {
                        if let CoreEvent::Notify(n) = ev {
                            notified.push(n);
                        }
                    }
                    break;
                }
            }
            Ok(Err(e)) => panic!("event channel: {e}"),
        }
    }
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(
        notified[0].notification.category,
        NotificationCategory::AbsenceConfirmed
    );
    assert!(anna.core.take_notify_events().unwrap().is_empty());
}
