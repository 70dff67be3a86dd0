//! What a replica may hold (R-ACC-7): scope, and scope shrinking and growing.

use hub_tests::*;

use crate::server;

// R-ACC-7: a guardian's replica never holds another family's child.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guardians_replica_never_holds_another_familys_child() {
    let server = server().await;
    let (elsa, oskar) = (
        server.child_id("Elsa").await,
        server.child_id("Oskar").await,
    );
    let maria = Device::sign_in(&server, "maria", "maria").await;
    let noah = maria.child("Noah");
    let rows = maria.core.replica_entities().unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows_about(&rows, elsa).is_empty(),
        "Elsa in Maria's replica: {:?}",
        rows_about(&rows, elsa)
    );
    assert!(
        rows_about(&rows, oskar).is_empty(),
        "Oskar in Maria's replica"
    );
    assert!(!rows_about(&rows, noah).is_empty());
    let names: Vec<String> = maria
        .core
        .session()
        .unwrap()
        .children
        .into_iter()
        .map(|c| c.first_name)
        .collect();
    assert_eq!(names, vec!["Noah".to_string()]);
    assert_eq!(
        maria
            .core
            .care_week(elsa, d("2030-09-09"))
            .unwrap_err()
            .code(),
        "not_permitted"
    );
    assert_eq!(
        maria
            .core
            .report_absence(elsa, d("2030-09-04"), None, None)
            .unwrap_err()
            .code(),
        "not_permitted"
    );
    assert_eq!(rows, server.snapshot("maria").await);
}

// R-ACC-7 + ARCHITECTURE.md: losing access to a child removes its data from the replica
// (delete changes on scope shrink); getting it back backfills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_child_removed_from_a_guardian_disappears_from_the_replica() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let (elsa, oskar) = (anna.child("Elsa"), anna.child("Oskar"));
    anna.core
        .set_care_day(elsa, d("2030-09-10"), vec![iv("08:00", "16:00")], None)
        .unwrap();
    anna.core
        .report_absence(elsa, d("2030-09-05"), None, None)
        .unwrap();
    anna.core.sync_now().await.unwrap();
    let before = anna.core.replica_entities().unwrap();
    let kinds: std::collections::BTreeSet<String> = rows_about(&before, elsa)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for t in ["child", "care_day", "absence"] {
        assert!(kinds.contains(t), "Elsa's {t} synced: {kinds:?}");
    }

    let anna_id = server.user_id("anna").await;
    let removed = server
        .store()
        .write(move |tx| tx.remove_guardian(anna_id, elsa))
        .await
        .unwrap();
    assert!(removed);
    anna.core.sync_now().await.unwrap();

    let after = anna.core.replica_entities().unwrap();
    // Notifications about Elsa live in Anna's own scope on the server, so they stay in the
    // replica (which mirrors the server), but no view shows them.
    let left: Vec<_> = rows_about(&after, elsa)
        .into_iter()
        .filter(|(t, _)| t != "notification")
        .collect();
    assert!(left.is_empty(), "Elsa's data left in the replica: {left:?}");
    let solrosen = before
        .iter()
        .find(|(t, _, v)| t == "unit" && v["kind"] == "preschool")
        .map(|(_, id, _)| *id);
    assert!(solrosen.is_some());
    assert!(
        after.iter().all(|(_, id, _)| Some(*id) != solrosen),
        "Solrosen (only Elsa's unit) is gone too"
    );
    assert!(!rows_about(&after, oskar).is_empty(), "Oskar's data stays");
    let names: Vec<String> = anna
        .core
        .session()
        .unwrap()
        .children
        .into_iter()
        .map(|c| c.first_name)
        .collect();
    assert_eq!(names, vec!["Oskar".to_string()]);
    assert_eq!(
        anna.core.start_page(elsa).unwrap_err().code(),
        "not_permitted"
    );
    assert!(anna
        .core
        .notifications(None)
        .unwrap()
        .iter()
        .all(|n| n.child_id != Some(elsa)));
    assert_eq!(after, server.snapshot("anna").await);

    // Scope grows again: the next pull backfills Elsa.
    server
        .store()
        .write(move |tx| tx.add_guardian(anna_id, elsa))
        .await
        .unwrap();
    anna.core.sync_now().await.unwrap();
    let again = anna.core.replica_entities().unwrap();
    assert_eq!(
        rows_about(&again, elsa).len(),
        rows_about(&before, elsa).len()
    );
    assert_eq!(again, server.snapshot("anna").await);
    assert_eq!(
        anna.core.care_week(elsa, d("2030-09-10")).unwrap().days[1].intervals,
        vec![iv("08:00", "16:00")]
    );
}
