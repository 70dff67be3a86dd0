//! Retries, lost answers, 401 and the background loop (ARCHITECTURE.md, client engine).

use std::time::Duration;

use app_core::TokenStoreKind;
use domain::wire::MutationStatus;
use hub_tests::*;

use crate::{day_view, server};

// Network errors and 5xx are retried with the same ids; nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_5xx_keeps_the_outbox_and_the_retry_sends_the_same_ids() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let elsa = anna.child("Elsa");
    let id = anna
        .core
        .comment_care_day(elsa, d("2030-09-10"), "503 först".into())
        .unwrap();
    anna.proxy.set(Net::Fail503);
    let err = anna.core.sync_now().await.unwrap_err();
    assert_eq!(err.code(), "server", "{err}");
    assert!(err.is_transient());
    let outbox = anna.core.outbox().unwrap();
    assert_eq!((outbox.len(), outbox[0].id), (1, id));
    assert!(server.outcome(id).await.is_none());
    anna.proxy.restore();
    anna.core.sync_now().await.unwrap();
    assert_eq!(
        server.outcome(id).await.map(|r| r.status),
        Some(MutationStatus::Applied)
    );
    assert!(anna.core.outbox().unwrap().is_empty());
}

// The server applied the mutations but the answer was lost: the retry (same ids) gets the
// first results back and changes nothing (idempotent by id).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_answer_is_retried_with_the_same_ids_and_applied_once() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let elsa = anna.child("Elsa");
    let ids: Vec<_> = (0..3)
        .map(|i| {
            anna.core
                .comment_care_day(elsa, d("2030-09-10"), format!("lost answer {i}"))
                .unwrap()
        })
        .collect();
    anna.proxy.set(Net::LoseAnswers);
    let err = anna.core.sync_now().await.unwrap_err();
    assert_eq!(err.code(), "network", "{err}");
    assert_eq!(
        anna.core.outbox().unwrap().len(),
        3,
        "unanswered: still queued"
    );
    for id in &ids {
        assert!(
            server.outcome(*id).await.is_some(),
            "the server did apply {id}"
        );
    }
    // The overlay still shows the comments (pending).
    assert_eq!(day_view(&anna, elsa, d("2030-09-10")).comments.len(), 3);
    anna.proxy.restore();
    anna.core.sync_now().await.unwrap();
    assert!(anna.core.outbox().unwrap().is_empty());
    let comments = server
        .entities_in_scope("care_comment", &format!("care:{elsa}"))
        .await;
    for i in 0..3 {
        let text = format!("lost answer {i}");
        assert_eq!(
            comments
                .iter()
                .filter(|c| c["text"] == text.as_str())
                .count(),
            1,
            "{text} once"
        );
    }
    let v = day_view(&anna, elsa, d("2030-09-10"));
    assert_eq!(
        v.comments.len(),
        3,
        "no duplicates in the view: {:?}",
        v.comments
    );
    assert_eq!(
        anna.core.replica_entities().unwrap(),
        server.snapshot("anna").await
    );
}

// 401 asks the user to sign in again without touching the outbox; signing in again sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthorized_asks_to_sign_in_again_and_keeps_the_outbox() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let elsa = anna.child("Elsa");
    let id = anna
        .core
        .set_care_day(elsa, d("2030-09-10"), vec![iv("08:00", "16:00")], None)
        .unwrap();
    server.revoke_tokens("anna").await;
    let err = anna.core.sync_now().await.unwrap_err();
    assert_eq!(err.code(), "not_signed_in", "{err}");
    let st = anna.core.sync_status();
    assert!(
        st.needs_sign_in && st.signed_in && st.pending == 1,
        "{st:?}"
    );
    assert_eq!(anna.core.outbox().unwrap()[0].id, id);
    assert!(
        day_view(&anna, elsa, d("2030-09-10")).pending,
        "still shown"
    );
    // A wrong password is its own error, with the trailing-space hint (R-ACC-2).
    let err = anna
        .core
        .sign_in(&anna.proxy.url(), "anna", "hub-demo-1 ")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_credentials");
    assert!(err.message().contains("white space"), "{err}");
    anna.core
        .sign_in(&anna.proxy.url(), "anna", PASSWORD)
        .await
        .unwrap();
    let st = anna.core.sync_status();
    assert!(!st.needs_sign_in && st.pending == 0, "{st:?}");
    assert_eq!(
        server.outcome(id).await.map(|r| r.status),
        Some(MutationStatus::Applied)
    );
}

// The session survives a restart (token from the token store, never in the replica), and
// signing out forgets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_session_is_restored_from_the_token_store_and_never_kept_in_the_replica() {
    let server = server().await;
    let proxy = Proxy::start(server.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let core = open_core(dir.path(), TokenStoreKind::File);
    let session = core.sign_in(&proxy.url(), "anna", PASSWORD).await.unwrap();
    assert_eq!(session.children.len(), 2);
    drop(core);
    let core = open_core(dir.path(), TokenStoreKind::File);
    assert_eq!(
        core.session().as_ref().map(|s| &s.user.username),
        Some(&"anna".to_string())
    );
    core.sync_now().await.unwrap();
    // The token is in tokens/, nowhere in the replica.
    let token_file = std::fs::read_dir(dir.path().join("tokens"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let token = std::fs::read_to_string(token_file).unwrap();
    for f in std::fs::read_dir(dir.path().join("replicas")).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token found in the replica"
        );
    }
    core.sign_out().await.unwrap();
    assert!(core.session().is_none());
    assert_eq!(
        core.care_week(uuid::Uuid::new_v4(), d("2030-09-09"))
            .unwrap_err()
            .code(),
        "not_signed_in"
    );
    let core = open_core(dir.path(), TokenStoreKind::File);
    assert!(core.session().is_none(), "signed out stays signed out");
}

// The background loop syncs on every local change and on an SSE poke, and picks up again
// when the network returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn background_sync_pushes_local_changes_and_pulls_on_pokes() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let erik = Device::sign_in(&server, "erik", "erik").await;
    let elsa = anna.child("Elsa");
    anna.core.start_background_sync();
    tokio::time::sleep(Duration::from_millis(300)).await;

    async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !f() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A local change is pushed without anyone calling sync_now.
    let id = anna
        .core
        .set_care_day(elsa, d("2030-09-10"), vec![iv("08:00", "16:00")], None)
        .unwrap();
    eventually("the local change to be pushed", || {
        anna.core.outbox().map(|o| o.is_empty()).unwrap_or(false)
    })
    .await;
    assert!(server.outcome(id).await.is_some());
    // Erik's change reaches Anna through a poke.
    erik.core
        .set_care_day(elsa, d("2030-09-11"), vec![iv("07:00", "15:00")], None)
        .unwrap();
    erik.core.sync_now().await.unwrap();
    eventually("Erik's change to arrive", || {
        day_view(&anna, elsa, d("2030-09-11")).intervals == vec![iv("07:00", "15:00")]
    })
    .await;
    // Offline: changes wait; when the network returns they go without a call.
    anna.proxy.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = anna
        .core
        .set_care_day(elsa, d("2030-09-12"), vec![iv("09:00", "15:00")], None)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(anna.core.outbox().unwrap().len(), 1);
    assert!(!anna.core.sync_status().online);
    anna.proxy.restore();
    eventually("the queued change to go once the network is back", || {
        anna.core.outbox().map(|o| o.is_empty()).unwrap_or(false)
    })
    .await;
    assert!(server.outcome(id).await.is_some());
    // The status says online once that sync (push, then pull) has finished.
    eventually("the status to say online", || anna.core.sync_status().online).await;
}
