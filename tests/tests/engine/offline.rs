//! Offline queue: mutations made while the server is down are applied once when it returns.

use std::collections::BTreeSet;

use domain::repeat::DayTemplate;
use hub_tests::*;

use crate::{day_view, server};

// Issue 3: "queue 20 mutations with the server down, start it, sync: all applied once".
// ARCHITECTURE.md: the outbox survives until answered, same ids on every retry; reads are
// server state overlaid with pending mutations, offline too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offline_queue_of_20_is_applied_once_when_the_server_returns() {
    let mut server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let (elsa, oskar) = (anna.child("Elsa"), anna.child("Oskar"));

    server.stop().await;
    let mut ids = Vec::new();
    // 15 weekdays of the next three weeks (R-CARE-1), 3 comments (R-CARE-6), an absence for
    // tomorrow (R-ABS-1) and a whole week (R-CARE-4).
    let weekdays: Vec<_> = (0..21)
        .map(|i| d("2030-09-09") + chrono::Duration::days(i))
        .filter(|x| domain::time::iso_weekday(*x) <= 5)
        .collect();
    for (i, date) in weekdays.iter().enumerate() {
        ids.push(
            anna.core
                .set_care_day(
                    elsa,
                    *date,
                    vec![iv("07:30", &format!("{}:00", 14 + i % 3))],
                    None,
                )
                .unwrap(),
        );
    }
    for i in 0..3 {
        ids.push(
            anna.core
                .comment_care_day(elsa, d("2030-09-10"), format!("offline comment {i}"))
                .unwrap(),
        );
    }
    ids.push(
        anna.core
            .report_absence(oskar, d("2030-09-05"), None, Some("feber".into()))
            .unwrap(),
    );
    let days: Vec<DayTemplate> = (1..=5)
        .map(|weekday| DayTemplate {
            weekday,
            intervals: vec![iv("08:00", "16:00")],
            comment: None,
        })
        .collect();
    ids.push(
        anna.core
            .set_care_week(oskar, d("2030-09-09"), days, None)
            .unwrap(),
    );
    assert_eq!(ids.len(), 20);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        20,
        "every mutation has its own id"
    );

    // Offline: the views show the queued changes, the sync fails as a network error and
    // keeps everything queued.
    let v = day_view(&anna, elsa, d("2030-09-09"));
    assert!(
        v.pending && v.intervals == vec![iv("07:30", "14:00")],
        "{v:?}"
    );
    let err = anna.core.sync_now().await.unwrap_err();
    assert_eq!(err.code(), "network", "{err}");
    let status = anna.core.sync_status();
    assert_eq!((status.pending, status.online), (20, false));
    let outbox = anna.core.outbox().unwrap();
    assert_eq!(
        outbox.iter().map(|o| o.id).collect::<Vec<_>>(),
        ids,
        "the outbox keeps the queue order"
    );
    assert!(outbox.iter().all(|o| o.attempts >= 1));

    server.restart().await;
    server.set_clock(crate::wednesday()).await;
    let status = anna.core.sync_now().await.unwrap();
    assert_eq!(
        (status.pending, status.needs_attention, status.online),
        (0, 0, true)
    );

    // Each id applied, once: the server knows each by its id; comments (which the server
    // would store again under a new id if applied twice) exist once each.
    server.assert_all_applied(&ids).await;
    let comments = server
        .entities_in_scope("care_comment", &format!("care:{elsa}"))
        .await;
    for i in 0..3 {
        let text = format!("offline comment {i}");
        assert_eq!(
            comments
                .iter()
                .filter(|c| c["text"] == text.as_str())
                .count(),
            1,
            "{text}"
        );
    }
    let v = day_view(&anna, elsa, d("2030-09-09"));
    assert!(
        !v.pending && v.intervals == vec![iv("07:30", "14:00")] && !v.updated_by_other,
        "{v:?}"
    );
    assert_eq!(
        anna.core.replica_entities().unwrap(),
        server.snapshot("anna").await
    );
}

// ARCHITECTURE.md (sync contract): a push request over the server's body limit (1 MiB) is
// answered 413. That says nothing about the mutations, so the engine halves the batch and
// sends again until it fits, and every change is applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_over_the_request_limit_is_split_and_every_change_applied_once() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let elsa = anna.child("Elsa");
    // 1,100 comments of about 1 KB each (R-CARE-6 allows 500 characters; "å" is two bytes)
    // in one batch of up to 2,000: about 1.2 MB, over the limit; half of it fits.
    anna.core.set_batch_sizes(2_000, None);
    let filler = "å".repeat(480);
    let ids: Vec<_> = (0..1_100)
        .map(|i| {
            anna.core
                .comment_care_day(elsa, d("2030-09-10"), format!("{i:04} {filler}"))
                .unwrap()
        })
        .collect();
    let status = anna.core.sync_now().await.unwrap();
    assert_eq!(status.pending, 0, "{status:?}");

    // The server did refuse the first request as too large.
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("hub_http_requests_total{route=\"/v1/sync/push\",status=\"413\"}")),
        "{metrics}"
    );
    server.assert_all_applied(&ids).await;
    let comments = server
        .entities_in_scope("care_comment", &format!("care:{elsa}"))
        .await;
    let texts: BTreeSet<String> = comments
        .iter()
        .filter_map(|c| c["text"].as_str())
        .filter(|t| t.ends_with(&filler))
        .map(str::to_string)
        .collect();
    assert_eq!(texts.len(), 1_100);
    assert_eq!(
        comments
            .iter()
            .filter(|c| c["text"].as_str().is_some_and(|t| t.ends_with(&filler)))
            .count(),
        1_100,
        "each comment once"
    );
}
