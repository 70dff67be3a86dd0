//! `cursor_expired`: re-bootstrap from a full snapshot, keeping the outbox (ARCHITECTURE.md).

use hub_tests::*;

use crate::{day_view, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cursor_expired_rebootstraps_and_keeps_the_outbox() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let erik = Device::sign_in(&server, "erik", "erik").await;
    let elsa = anna.child("Elsa");

    // Anna queues changes offline; meanwhile Erik changes things and the server forgets
    // every cursor handed out so far.
    anna.proxy.cut();
    let mine = vec![
        anna.core
            .set_care_day(elsa, d("2030-09-10"), vec![iv("08:00", "16:00")], None)
            .unwrap(),
        anna.core
            .set_care_day(elsa, d("2030-09-11"), vec![iv("08:30", "16:30")], None)
            .unwrap(),
        anna.core
            .comment_care_day(elsa, d("2030-09-11"), "vi kommer sent".into())
            .unwrap(),
    ];
    erik.core
        .set_care_day(elsa, d("2030-09-12"), vec![iv("07:00", "15:00")], None)
        .unwrap();
    erik.core.clear_care_day(elsa, d("2030-09-13")).unwrap();
    erik.core.sync_now().await.unwrap();
    server.expire_cursors();
    anna.proxy.restore();

    // A pull alone: 410 cursor_expired, then a full snapshot; the outbox is untouched and
    // still overlaid on the new server state.
    anna.core.pull_now().await.unwrap();
    let outbox: Vec<uuid::Uuid> = anna
        .core
        .outbox()
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(outbox, mine, "the outbox survives the re-bootstrap");
    let v = day_view(&anna, elsa, d("2030-09-10"));
    assert!(
        v.pending && v.intervals == vec![iv("08:00", "16:00")],
        "{v:?}"
    );
    let v = day_view(&anna, elsa, d("2030-09-12"));
    assert!(
        v.intervals == vec![iv("07:00", "15:00")] && v.updated_by_other,
        "Erik's change arrived: {v:?}"
    );

    // Then a full sync, with the cursor expiring again in between: everything applied, the
    // replica equal to the server's snapshot.
    server.expire_cursors();
    anna.core.sync_now().await.unwrap();
    assert!(anna.core.outbox().unwrap().is_empty());
    assert!(anna.core.needs_attention().unwrap().is_empty());
    for id in mine {
        assert!(server.outcome(id).await.is_some());
    }
    assert_eq!(
        anna.core.replica_entities().unwrap(),
        server.snapshot("anna").await
    );
    erik.core.sync_now().await.unwrap();
    assert_eq!(
        erik.core.replica_entities().unwrap(),
        server.snapshot("erik").await
    );
}
