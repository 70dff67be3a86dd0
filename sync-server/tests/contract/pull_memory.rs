//! No-change pulls answered from memory (issue 6, `sync_server::pull_cache`) stay exact:
//! a commit by anyone, a logout or an expired session is seen by the very next pull.

use chrono::Duration;
use serde_json::json;

use crate::support::*;

/// `hub_pulls_from_memory_total` from `/metrics`.
async fn pulls_from_memory(s: &TestServer) -> u64 {
    let r = s.get("/metrics", None).await;
    let text = r.body.as_str().unwrap_or_default().to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("hub_pulls_from_memory_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_at_the_head_is_answered_from_memory_until_anything_is_committed() {
    let s = server().await;
    s.set_local("2026-11-24", "07:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let elsa = erik.me().await.children.into_iter().find(|c| c.first_name == "Elsa").expect("Elsa").id;
    let (cursor, _) = anna.pull_all().await;
    let before = pulls_from_memory(&s).await;
    for _ in 0..3 {
        let again = anna.pull(Some(&cursor)).await;
        assert!(again.changes.is_empty() && !again.has_more);
        assert_eq!(again.cursor, cursor);
    }
    // On both stores: SQLite counts its commits in memory, PostgreSQL reads its counter.
    assert!(pulls_from_memory(&s).await >= before + 2, "repeated head pulls come from memory");
    // Erik, on his phone, reports Elsa absent tomorrow (R-ABS-1): Anna's next pull has it.
    assert_applied(&erik.push_one("absence.report", json!({"child_id": elsa, "date": "2026-11-25"})).await);
    let after = anna.pull(Some(&cursor)).await;
    assert!(after.changes.iter().any(|c| c.entity_type == "absence"), "the new absence: {:?}", after.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_out_session_is_refused_even_at_the_head() {
    let s = server().await;
    s.set_local("2026-11-24", "07:00:00").await;
    let anna = s.login("anna").await;
    let (cursor, _) = anna.pull_all().await;
    assert!(anna.pull(Some(&cursor)).await.changes.is_empty());
    assert!(anna.pull(Some(&cursor)).await.changes.is_empty());
    assert_eq!(anna.logout().await, 204);
    anna.pull_raw(Some(&cursor), None).await.assert_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused_even_at_the_head() {
    let s = server().await;
    let t = s.set_local("2026-11-24", "07:00:00").await;
    let anna = s.login("anna").await;
    let (cursor, _) = anna.pull_all().await;
    assert!(anna.pull(Some(&cursor)).await.changes.is_empty());
    assert!(anna.pull(Some(&cursor)).await.changes.is_empty());
    // Sessions last 90 days by the server's clock; moving the clock commits nothing.
    s.set_clock_at(t + Duration::days(91)).await;
    anna.pull_raw(Some(&cursor), None).await.assert_error(401, "unauthorized");
}
