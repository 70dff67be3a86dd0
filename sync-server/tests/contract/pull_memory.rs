//! No-change pulls answered from memory (issue 6, `sync_server::pull_cache`) stay exact:
//! a commit by anyone, a logout or an expired session is seen by the very next pull. So do
//! sessions looked up from memory (`sync_server::session_cache`): a logout is seen by the
//! very next request, pushes or not.

use chrono::Duration;
use serde_json::json;

use crate::support::*;

/// A counter from `/metrics`.
async fn metric(s: &TestServer, name: &str) -> u64 {
    let r = s.get("/metrics", None).await;
    let text = r.body.as_str().unwrap_or_default().to_string();
    let prefix = format!("{name} ");
    text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// `hub_pulls_from_memory_total` from `/metrics`.
async fn pulls_from_memory(s: &TestServer) -> u64 {
    metric(s, "hub_pulls_from_memory_total").await
}

/// On 2026-11-24 at 07:00: Anna synced to the head (her cursor), and Erik, who is Elsa's
/// guardian too.
async fn anna_at_the_head_and_erik(s: &TestServer) -> (Client, Client, uuid::Uuid, String) {
    s.set_local("2026-11-24", "07:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let elsa = erik.me().await.children.into_iter().find(|c| c.first_name == "Elsa").expect("Elsa").id;
    let (cursor, _) = anna.pull_all().await;
    (anna, erik, elsa, cursor)
}

/// Maria, of another family than Anna's, and her child Noah.
async fn maria_and_noah(s: &TestServer) -> (Client, uuid::Uuid) {
    let maria = s.login("maria").await;
    let noah = maria.me().await.children.into_iter().find(|c| c.first_name == "Noah").expect("Noah").id;
    (maria, noah)
}

fn on_sqlite() -> bool {
    !std::env::var("HUB_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

/// A connection of another program to the server's SQLite file (an operator's `sqlite3`),
/// or none on PostgreSQL (then the test has nothing to check: `why`).
fn another_connection(s: &TestServer, why: &str) -> Option<rusqlite::Connection> {
    let Some(path) = s.db_url().strip_prefix("sqlite:").map(str::to_string) else {
        eprintln!("note: SQLite only ({why})");
        return None;
    };
    let conn = rusqlite::Connection::open(&path).expect("open the server's file");
    conn.busy_timeout(std::time::Duration::from_secs(10)).expect("busy timeout");
    Some(conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_used_for_pushes_is_refused_by_the_very_next_request_after_its_logout() {
    let s = server().await;
    s.set_local("2026-11-24", "07:00:00").await;
    let anna = s.login("anna").await;
    let elsa = anna.me().await.children.into_iter().find(|c| c.first_name == "Elsa").expect("Elsa").id;
    let before = metric(&s, "hub_sessions_from_memory_total").await;
    // Pushes write entities, not sessions: Anna's token stays answered from memory (SQLite).
    for date in ["2026-11-24", "2026-11-25", "2026-11-24"] {
        assert_applied(&anna.push_one("absence.report", json!({"child_id": elsa, "date": date})).await);
    }
    if on_sqlite() {
        assert!(metric(&s, "hub_sessions_from_memory_total").await >= before + 2, "the session came from memory");
    }
    // Another person signing in writes sessions; Anna's session is still hers.
    let erik = s.login("erik").await;
    assert_eq!(anna.me().await.user.username, "anna");
    assert_eq!(anna.logout().await, 204);
    let refused = anna.push_raw(&[(uuid::Uuid::new_v4(), "absence.report", json!({"child_id": elsa, "date": "2026-11-25"}))]).await;
    refused.assert_error(401, "unauthorized");
    assert_eq!(anna.get("/v1/me").await.status, 401);
    assert_eq!(erik.me().await.user.username, "erik");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_at_the_head_is_answered_from_memory_until_anything_is_committed() {
    let s = server().await;
    let (anna, erik, elsa, cursor) = anna_at_the_head_and_erik(&s).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_revoked_by_another_connection_are_refused_within_a_moment() {
    // The server's memory assumes it is the only writer; an operator deleting tokens with
    // `sqlite3` while it runs is noticed (SQLite's data_version) within 100 ms.
    let s = server().await;
    let Some(conn) = another_connection(&s, "on PostgreSQL every session is looked up in the database") else {
        return;
    };
    s.set_local("2026-11-24", "07:00:00").await;
    let anna = s.login("anna").await;
    let (cursor, _) = anna.pull_all().await;
    for _ in 0..2 {
        assert_eq!(anna.me().await.user.username, "anna");
        assert!(anna.pull(Some(&cursor)).await.changes.is_empty());
    }
    conn.execute("DELETE FROM tokens", []).expect("delete the sessions");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(anna.get("/v1/me").await.status, 401);
    anna.pull_raw(Some(&cursor), None).await.assert_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_numbers_come_only_from_a_shared_database_and_a_pull_naming_one_answers_the_same() {
    // docs/protocol.md, "Commits": push and pull answers and pokes name a commit only when
    // instances share one database (PostgreSQL); the embedded SQLite sees every commit
    // itself. A pull with `min_commit` answers what the same pull without it would.
    let s = server().await;
    s.set_local("2026-11-24", "07:00:00").await;
    let erik = s.login("erik").await;
    let elsa = erik.me().await.children.into_iter().find(|c| c.first_name == "Elsa").expect("Elsa").id;
    let (cursor, _) = erik.pull_all().await;
    let head = erik.pull(Some(&cursor)).await;
    assert_eq!(head.commit.is_some(), !on_sqlite(), "a pull's commit: {:?}", head.commit);
    let pushed = erik.push(vec![(uuid::Uuid::new_v4(), "absence.report", json!({"child_id": elsa, "date": "2026-11-24"}))]).await;
    assert_applied(&pushed.results[0]);
    assert_eq!(pushed.commit.is_some(), !on_sqlite(), "a push's commit: {:?}", pushed.commit);
    if let (Some(before), Some(after)) = (head.commit, pushed.commit) {
        assert!(after > before, "the push's commit {after} is after the pull's {before}");
    }
    for min in [None, Some(0), pushed.commit.or(Some(7)), Some(u64::MAX)] {
        let page = erik.pull_min(Some(&cursor), min).await;
        let absences = upserts::<domain::wire::entity::Absence>(&page.changes, domain::wire::entity::ABSENCE_TYPE);
        assert!(absences.iter().any(|a| a.child_id == elsa), "min_commit {min:?}: {:?}", page.changes);
        if let (Some(c), Some(p)) = (page.commit, pushed.commit) {
            assert!(c >= p, "the answer holds the push's commit");
        }
    }
    // Still a number or nothing: anything else is invalid input, not a server error.
    erik.post("/v1/sync/pull", &json!({"cursor": cursor, "min_commit": "soon"})).await.assert_error(422, "invalid_input");
    erik.post("/v1/sync/pull", &json!({"cursor": cursor, "min_commit": -1})).await.assert_error(422, "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_whose_changes_were_read_with_its_person_has_the_same_pages() {
    // Performance (PostgreSQL, `Tx::expect_changes`): a pull after a cursor reads its page
    // with the person, in the scopes their last such pull read. The pages are those the
    // pull would otherwise read: every change after the cursor, paged, nothing more.
    let s = server().await;
    let (anna, erik, elsa, cursor) = anna_at_the_head_and_erik(&s).await;
    let read_ahead = || metric(&s, "hub_store_pulls_read_ahead_total");
    assert_applied(&erik.push_one("absence.report", json!({"child_id": elsa, "date": "2026-11-24"})).await);
    let absence = |page: &domain::wire::PullResponse| page.changes.iter().filter(|c| c.entity_type == "absence").count();

    // The first pull after the cursor reads as before; the scopes it read in are kept.
    let first = anna.pull(Some(&cursor)).await;
    assert_eq!((absence(&first), first.has_more), (1, false));
    let before = read_ahead().await;
    let again = anna.pull(Some(&cursor)).await;
    assert_eq!(serde_json::to_value(&again.changes).unwrap(), serde_json::to_value(&first.changes).unwrap());
    assert_eq!((again.cursor.as_str(), again.has_more), (first.cursor.as_str(), false));
    if !on_sqlite() {
        assert_eq!(read_ahead().await, before + 1, "read with the person");
    }

    // Another change: it is in the page read ahead too.
    assert_applied(&erik.push_one("absence.report", json!({"child_id": elsa, "date": "2026-11-25"})).await);
    let two = anna.pull(Some(&cursor)).await;
    assert_eq!((absence(&two), two.has_more), (2, false));
    let (_, all) = anna.delta(&cursor).await;
    assert_eq!(serde_json::to_value(&two.changes).unwrap(), serde_json::to_value(&all).unwrap());

    // A page smaller than what follows the cursor: read in order, one change at a time.
    let (_, paged) = anna.pull_from(Some(&cursor), Some(1)).await;
    assert_eq!(serde_json::to_value(&paged).unwrap(), serde_json::to_value(&all).unwrap());
    let again = anna.pull_limit(Some(&cursor), Some(1)).await;
    assert_eq!((again.changes.len(), again.has_more), (1, true));

    // Nothing after the cursor in Anna's scopes, though others changed: an empty page.
    let (head, _) = anna.delta(&cursor).await;
    let lisa = s.login("lisa").await;
    assert_applied(&lisa.push_one("care.set_day", set_day_args(ids::noah(), "2026-11-26", &[("08:00", "15:00")])).await);
    for _ in 0..2 {
        let empty = anna.pull(Some(&head)).await;
        assert_eq!((empty.changes.len(), empty.has_more), (0, false));
    }
    if !on_sqlite() {
        assert!(read_ahead().await >= before + 3, "the later pulls were read with the person too");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_reads_only_the_scopes_written_after_its_cursor_and_gets_every_change() {
    // The store keeps the newest row written in each scope (SQLite's writer; PostgreSQL's
    // writer and listener), and a pull reads only the scopes written after its cursor
    // (store/scope_heads.rs). The pages are the same as those that read every scope.
    let s = server().await;
    let (anna, erik, elsa, cursor) = anna_at_the_head_and_erik(&s).await;
    let (maria, noah) = maria_and_noah(&s).await;
    let skipped = metric(&s, "hub_store_pull_ranges_skipped_total").await;
    assert_applied(&maria.push_one("absence.report", json!({"child_id": noah, "date": "2026-11-24"})).await);
    let other_family = anna.pull(Some(&cursor)).await;
    assert!(other_family.changes.is_empty(), "nothing of Anna's: {:?}", other_family.changes);
    assert!(
        metric(&s, "hub_store_pull_ranges_skipped_total").await > skipped,
        "none of Anna's scopes was written, and none was read"
    );
    assert_applied(&erik.push_one("absence.report", json!({"child_id": elsa, "date": "2026-11-25"})).await);
    assert_applied(&maria.push_one("absence.report", json!({"child_id": noah, "date": "2026-11-25"})).await);
    let page = anna.pull(Some(&cursor)).await;
    let absences: Vec<_> = page.changes.iter().filter(|c| c.entity_type == "absence").collect();
    assert_eq!(absences.len(), 1, "Elsa's absence and nothing of Noah's: {:?}", page.changes);
    // From the cursor of the page before, after more writes elsewhere (a repeat merges,
    // R-ABS-8): the same change.
    assert_applied(&maria.push_one("absence.report", json!({"child_id": noah, "date": "2026-11-24"})).await);
    let again = anna.pull(Some(&other_family.cursor)).await;
    let ids = |p: &domain::wire::PullResponse| p.changes.iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&page));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_another_connection_wrote_is_pulled_after_the_server_wrote_again() {
    // The server knows which scopes were written after a cursor only from its own commits
    // (and, on PostgreSQL, those its listener heard announced): a commit by another
    // connection (an operator's `sqlite3` or `psql`) makes it start again from there, so a
    // pull still reads the scope that connection wrote in, even after the server's next
    // commit.
    let s = server().await;
    let (anna, _erik, _elsa, cursor) = anna_at_the_head_and_erik(&s).await;
    let (maria, noah) = maria_and_noah(&s).await;
    // Both the server's writer and the pulls have been at work since it started.
    assert_applied(&maria.push_one("absence.report", json!({"child_id": noah, "date": "2026-11-24"})).await);
    assert!(anna.pull(Some(&cursor)).await.changes.is_empty());
    let id = uuid::Uuid::new_v4();
    let (scope, data) = (format!("user:{}", anna.user.id), json!({ "id": id }).to_string());
    match on_sqlite().then(|| another_connection(&s, "")).flatten() {
        Some(conn) => {
            conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
            let seq: i64 = conn.query_row("SELECT value FROM meta WHERE key = 'seq'", [], |r| r.get(0)).expect("seq");
            conn.execute(
                "INSERT INTO entities (type, id, scope, seq, deleted, data) VALUES ('notification', ?1, ?2, ?3, 0, ?4)",
                rusqlite::params![id.to_string(), scope, seq + 1, data],
            )
            .expect("a row in Anna's own scope");
            conn.execute("UPDATE meta SET value = ?1 WHERE key = 'seq'", [seq + 1]).expect("the counter");
            conn.execute_batch("COMMIT").expect("commit");
        }
        None => {
            // No NOTIFY: no instance hears of this commit.
            let url = s.db_url().to_string();
            let sql = format!(
                "BEGIN;
                 INSERT INTO entities (type, id, scope, seq, deleted, data)
                     SELECT 'notification', '{id}', '{scope}', value + 1, false, '{data}' FROM meta WHERE key = 'seq';
                 UPDATE meta SET value = value + 1 WHERE key = 'seq';
                 COMMIT;"
            );
            pg::on_std_thread(move || pg::admin_exec(&url, &sql)).await.expect("a row in Anna's own scope");
        }
    }
    // The server writes again, in another family's scopes only.
    assert_applied(&maria.push_one("absence.report", json!({"child_id": noah, "date": "2026-11-25"})).await);
    let page = anna.pull(Some(&cursor)).await;
    assert!(page.changes.iter().any(|c| c.id == id), "the other connection's row: {:?}", page.changes);
}
