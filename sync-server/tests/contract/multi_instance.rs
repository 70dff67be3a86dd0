//! Several stateless instances on one PostgreSQL (ARCHITECTURE.md, "Scale-out"): two servers
//! in process on the same fresh database, as behind a load balancer. SSE pokes cross
//! instances (LISTEN/NOTIFY), and idempotency, the absence de-duplication (R-ABS-8) and slot
//! booking (R-TALK-2) hold when the racing mutations reach different instances.
//!
//! Runs only when `HUB_TEST_DATABASE_URL` is a postgres URL (`cargo xtask test` sets it for
//! its PostgreSQL layer); otherwise each test prints a note and passes.
//!
//! Both instances start at once with `--demo`: migrations (under an advisory lock) and the
//! demo seeding (an emptiness check inside the serialized write transaction) must happen
//! exactly once. The dev clock lives in each instance's memory, so the tests fix it on both.
//!
//! Also here, on both stores: input PostgreSQL's text types cannot hold as such (U+0000) is
//! answered as on SQLite.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::wire::entity::{self as e};
use domain::wire::{MutationResult, MutationStatus, PushResponse, UserInfo};
use domain::RejectCode;
use serde_json::{json, Value};
use sync_server::config::Config;
use sync_server::RunningServer;
use uuid::Uuid;

use crate::support::{
    assert_applied, assert_rejected, day, ids, pg, send, set_day_args, sthlm, upserts, Client, Replica, TestDb, PASSWORD,
};

/// Two instances on one database.
struct Pair {
    a: RunningServer,
    b: RunningServer,
    http: reqwest::Client,
    _db: TestDb,
}

/// Two demo instances with the dev clock on one fresh PostgreSQL database, started at once,
/// both clocks fixed at Wednesday 2026-11-25 10:00 in Stockholm. `None` (with a note) when
/// no PostgreSQL is configured.
async fn pair(test: &str) -> Option<Pair> {
    let url = match std::env::var("HUB_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => {
            eprintln!("note: {test} skipped: it needs HUB_TEST_DATABASE_URL=postgres://… (cargo xtask test sets it)");
            return None;
        }
    };
    let db = pg::fresh_database(&url).await;
    let config = || Config { listen: "127.0.0.1:0".into(), db: db.url.clone(), demo: true, dev_clock: true, dev_clock_at: None };
    let (a, b) = tokio::join!(sync_server::start(config()), sync_server::start(config()));
    let (a, b) = (a.expect("instance A starts"), b.expect("instance B starts"));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client");
    let p = Pair { a, b, http, _db: db };
    let now = sthlm("2026-11-25", "10:00:00");
    for s in [&p.a, &p.b] {
        let r = send(p.http.post(format!("{}/v1/dev/clock", s.url())).json(&json!({ "now": now }))).await;
        assert_eq!(r.status, 200, "setting the dev clock: {}", r.body);
    }
    Some(p)
}

impl Pair {
    /// Logs `username` in on `server`; the returned client talks to that server.
    async fn login(&self, server: &RunningServer, username: &str) -> Client {
        let r = send(
            self.http
                .post(format!("{}/v1/auth/login", server.url()))
                .json(&json!({ "username": username, "password": PASSWORD })),
        )
        .await;
        assert_eq!(r.status, 200, "login {username}: {}", r.body);
        let token = r.body["token"].as_str().expect("token").to_string();
        let user: UserInfo = serde_json::from_value(r.body["user"].clone()).expect("user info");
        Client { base: server.url(), http: self.http.clone(), token, user, client_id: Uuid::new_v4() }
    }
}

/// The same session, talking to another instance (a load balancer may send any request
/// anywhere).
fn via(c: &Client, server: &RunningServer) -> Client {
    Client { base: server.url(), ..c.clone() }
}

/// Runs the futures at the same moment on the multi-threaded runtime; their outputs in order.
async fn race<T: Send + 'static>(
    futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>>,
) -> Vec<T> {
    let barrier = Arc::new(tokio::sync::Barrier::new(futs.len()));
    let tasks: Vec<_> = futs
        .into_iter()
        .map(|f| {
            let b = barrier.clone();
            tokio::spawn(async move {
                b.wait().await;
                f.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sse_poke_crosses_instances() {
    // Scale-out: a change pushed to B pokes the streams open on A within a second.
    let Some(p) = pair("sse_poke_crosses_instances").await else { return };
    let anna_a = p.login(&p.a, "anna").await;
    let erik_b = p.login(&p.b, "erik").await;
    let mut events = anna_a.events().await;
    let ready = events.next_within(Duration::from_secs(5)).await.expect("ready event");
    assert_eq!(ready.event, "ready");

    let started = Instant::now();
    assert_applied(&erik_b.push_one("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25" })).await);
    let poke = events.next_within(Duration::from_secs(1)).await.expect("a poke on A within 1 s of the push to B");
    assert_eq!(poke.event, "poke");
    eprintln!("poke crossed instances {:?} after the push was sent", started.elapsed());

    // And back: a change on A pokes a stream on B; a change outside the caller's scope does not.
    let maria_b = p.login(&p.b, "maria").await;
    let mut maria_events = maria_b.events().await;
    assert_eq!(maria_events.next_within(Duration::from_secs(5)).await.expect("ready").event, "ready");
    let maria_a = via(&maria_b, &p.a);
    assert_applied(&maria_a.push_one("absence.report", json!({ "child_id": ids::noah(), "date": "2026-11-25" })).await);
    let poke = maria_events.next_within(Duration::from_secs(1)).await.expect("a poke on B within 1 s of the push to A");
    assert_eq!(poke.event, "poke");
    assert!(
        events.next_within(Duration::from_millis(500)).await.is_none(),
        "Noah's absence is not in Anna's scope: no poke"
    );

    // `*` (a change too wide to list in a NOTIFY, or a listener that reconnected and may
    // have missed some) pokes every stream.
    let everyone = Arc::new(std::collections::BTreeSet::from([sync_server::store::POKE_EVERYONE.to_string()]));
    p.a.state.pokes.send(everyone).expect("a stream listens");
    let poke = events.next_within(Duration::from_secs(1)).await.expect("a poke for everyone");
    assert_eq!(poke.event, "poke");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_from_memory_on_one_instance_sees_a_commit_on_the_other_at_once() {
    // No-change pulls are answered from memory while the database's commit generation has
    // not moved (pull_cache). A commit on B moves it for A too: Anna's very next pull on A,
    // with no wait for any NOTIFY, has Erik's absence; and a logout on B is refused on A.
    let Some(p) = pair("a_pull_from_memory_on_one_instance_sees_a_commit_on_the_other_at_once").await else { return };
    let from_memory = |s: &RunningServer| s.state.metrics.pulls_from_memory.load(std::sync::atomic::Ordering::Relaxed);
    let anna_a = p.login(&p.a, "anna").await;
    let erik_b = p.login(&p.b, "erik").await;
    for round in 0..3 {
        let (cursor, _) = anna_a.pull_all().await;
        let before = from_memory(&p.a);
        for _ in 0..3 {
            let again = anna_a.pull(Some(&cursor)).await;
            assert!(again.changes.is_empty() && !again.has_more && again.cursor == cursor);
        }
        assert!(from_memory(&p.a) >= before + 2, "round {round}: repeated head pulls on A come from memory");
        let (child, date) = [(ids::elsa(), "2026-11-25"), (ids::elsa(), "2026-11-26"), (ids::oskar(), "2026-11-26")][round];
        assert_applied(&erik_b.push_one("absence.report", json!({ "child_id": child, "date": date })).await);
        let after = anna_a.pull(Some(&cursor)).await;
        let absences = upserts::<e::Absence>(&after.changes, e::ABSENCE_TYPE);
        assert!(
            absences.iter().any(|a| a.child_id == child && a.date.to_string() == date),
            "round {round}: the pull right after B's commit has the absence of {date}: {:?}",
            after.changes
        );
    }
    let (cursor, _) = anna_a.pull_all().await;
    assert!(anna_a.pull(Some(&cursor)).await.changes.is_empty());
    assert_eq!(via(&anna_a, &p.b).logout().await, 204);
    anna_a.pull_raw(Some(&cursor), None).await.assert_error(401, "unauthorized");
}

/// The commit instance `s` knows (docs/protocol.md, "Commits"), waited for until it is at
/// least `at_least` (at most 5 s).
async fn known_at_least(s: &RunningServer, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match s.state.store.known_commit() {
            Some(k) if k >= at_least => return k,
            other => assert!(Instant::now() < deadline, "the instance knows {other:?}, not {at_least}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn from_known_commit(s: &RunningServer) -> u64 {
    s.state.metrics.pulls_from_known_commit.load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_naming_the_commit_of_its_push_to_the_other_instance_has_the_change() {
    // Read your writes across instances (docs/protocol.md, "Commits"): Erik's phone pushes
    // through B and pulls through A naming the commit B answered; A has his absence, however
    // far behind its listener is.
    let Some(p) = pair("a_pull_naming_the_commit_of_its_push_to_the_other_instance_has_the_change").await else { return };
    let erik_b = p.login(&p.b, "erik").await;
    let erik_a = via(&erik_b, &p.a);
    let (mut cursor, _) = erik_a.pull_all().await;
    let mut seen = erik_a.pull(Some(&cursor)).await.commit.expect("a pull on PostgreSQL names a commit");
    for (round, (child, date)) in
        [(ids::elsa(), "2026-11-25"), (ids::elsa(), "2026-11-26"), (ids::oskar(), "2026-11-26")].into_iter().enumerate()
    {
        // At the head on A, answered there from what A knows.
        let again = erik_a.pull_min(Some(&cursor), Some(seen)).await;
        assert!(again.changes.is_empty() && again.cursor == cursor, "round {round}: {:?}", again.changes);
        let pushed = erik_b.push(vec![(Uuid::new_v4(), "absence.report", json!({ "child_id": child, "date": date }))]).await;
        assert_applied(&pushed.results[0]);
        let commit = pushed.commit.expect("a push on PostgreSQL names its commit");
        assert!(commit > seen, "round {round}: the push's commit {commit} is after {seen}");
        let after = erik_a.pull_min(Some(&cursor), Some(commit)).await;
        let absences = upserts::<e::Absence>(&after.changes, e::ABSENCE_TYPE);
        assert!(
            absences.iter().any(|a| a.child_id == child && a.date.to_string() == date),
            "round {round}: the pull naming the push's commit has the absence of {date}: {:?}",
            after.changes
        );
        seen = after.commit.expect("a commit");
        assert!(seen >= commit, "round {round}: the answer holds commit {commit}, says {seen}");
        cursor = after.cursor;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_no_change_pull_naming_a_known_commit_is_answered_without_a_read_until_a_commit_is_known() {
    // docs/protocol.md, "Commits": at the head, a pull naming a commit A knows is answered
    // from A's memory without reading the generation; one naming a commit A has not heard of,
    // or none, reads it (every commit made before it arrived); and once A hears of a commit
    // on B, even a pull naming an older one has it.
    let Some(p) = pair("a_no_change_pull_naming_a_known_commit_is_answered_without_a_read_until_a_commit_is_known").await
    else {
        return;
    };
    let anna_a = p.login(&p.a, "anna").await;
    let erik_b = p.login(&p.b, "erik").await;
    let (cursor, _) = anna_a.pull_all().await;
    let k = anna_a.pull(Some(&cursor)).await.commit.expect("a commit");
    let before = from_known_commit(&p.a);
    for _ in 0..5 {
        let again = anna_a.pull_min(Some(&cursor), Some(k)).await;
        assert!(again.changes.is_empty() && !again.has_more && again.cursor == cursor);
        assert_eq!(again.commit, Some(k));
    }
    assert_eq!(from_known_commit(&p.a), before + 5, "answered from the known commit");
    // A commit A has not heard of (a client that saw it elsewhere), or no commit named: read.
    for min in [Some(k + 1_000), None] {
        let page = anna_a.pull_min(Some(&cursor), min).await;
        assert!(page.changes.is_empty() && page.cursor == cursor, "min_commit {min:?}");
    }
    assert_eq!(from_known_commit(&p.a), before + 5, "a commit A does not know is read, not assumed");

    let pushed = erik_b.push(vec![(Uuid::new_v4(), "absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-25" }))]).await;
    assert_applied(&pushed.results[0]);
    let commit = pushed.commit.expect("a commit");
    known_at_least(&p.a, commit).await;
    let after = anna_a.pull_min(Some(&cursor), Some(k)).await;
    let absences = upserts::<e::Absence>(&after.changes, e::ABSENCE_TYPE);
    assert!(
        absences.iter().any(|a| a.child_id == ids::elsa()),
        "A heard of B's commit: the remembered answer no longer holds: {:?}",
        after.changes
    );
    assert!(after.commit.is_some_and(|c| c >= commit));
    assert_eq!(from_known_commit(&p.a), before + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poke_names_the_commit_it_announces_and_a_pull_naming_it_has_the_change() {
    // docs/protocol.md, "Commits": the poke a commit on B causes on A names that commit (or
    // a later one), so the pull it causes, naming it, has the change.
    let Some(p) = pair("a_poke_names_the_commit_it_announces_and_a_pull_naming_it_has_the_change").await else { return };
    let anna_a = p.login(&p.a, "anna").await;
    let erik_b = p.login(&p.b, "erik").await;
    let (cursor, _) = anna_a.pull_all().await;
    let mut events = anna_a.events().await;
    let ready = events.next_within(Duration::from_secs(5)).await.expect("ready event");
    assert_eq!(ready.event, "ready");
    let data: domain::wire::PokeData = serde_json::from_str(&ready.data).expect("ready's data");
    let k = data.commit.expect("ready names the commit A knows");
    assert_eq!(anna_a.pull_min(Some(&cursor), Some(k)).await.changes.len(), 0);

    let pushed = erik_b.push(vec![(Uuid::new_v4(), "absence.report", json!({ "child_id": ids::oskar(), "date": "2026-11-26" }))]).await;
    assert_applied(&pushed.results[0]);
    let commit = pushed.commit.expect("a commit");
    let poke = events.next_within(Duration::from_secs(2)).await.expect("a poke on A");
    assert_eq!(poke.event, "poke");
    let poked: domain::wire::PokeData = serde_json::from_str(&poke.data).expect("the poke's data");
    let named = poked.commit.expect("the poke names a commit");
    assert!(named >= commit, "the poke names {named}, the push committed {commit}");
    let after = anna_a.pull_min(Some(&cursor), Some(named)).await;
    let absences = upserts::<e::Absence>(&after.changes, e::ABSENCE_TYPE);
    assert!(absences.iter().any(|a| a.child_id == ids::oskar()), "{:?}", after.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_reads_afresh_what_the_other_instance_wrote_since_its_own_commit() {
    // Each instance's writer keeps what it read and wrote from one commit to the next, as
    // long as no other commit came in between (store/postgres/writer.rs, `writer_loop`). Here A
    // keeps Oskar's day record after his arrival; B then corrects the arrival (R-STAFF-2);
    // A's departure must build on B's record, not on the one it kept.
    let Some(p) = pair("a_writer_reads_afresh_what_the_other_instance_wrote_since_its_own_commit").await else { return };
    let johan_a = p.login(&p.a, "johan").await;
    let johan_b = via(&johan_a, &p.b);
    let mark = |kind: &str, time: &str| json!({ "child_id": ids::oskar(), "kind": kind, "at": sthlm("2026-11-25", time) });
    assert_applied(&johan_a.push_one("attendance.mark", mark("arrived", "08:00:00")).await);
    assert_applied(&johan_b.push_one("attendance.mark", mark("arrived", "07:50:00")).await);
    assert_applied(&johan_a.push_one("attendance.mark", mark("departed", "09:30:00")).await);
    for (who, on) in [(&johan_a, "A"), (&johan_b, "B")] {
        let (_, changes) = who.pull_all().await;
        let records: Vec<e::Attendance> = upserts::<e::Attendance>(&changes, e::ATTENDANCE_TYPE)
            .into_iter()
            .filter(|a| a.child_id == ids::oskar() && a.date == day("2026-11-25"))
            .collect();
        assert_eq!(records.len(), 1, "one record on {on}");
        assert_eq!(records[0].arrived_at, Some(sthlm("2026-11-25", "07:50:00")), "B's correction stays, on {on}");
        assert_eq!(records[0].departed_at, Some(sthlm("2026-11-25", "09:30:00")), "A's departure, on {on}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_signed_out_on_one_instance_cannot_pull_on_the_other_that_remembers_it() {
    // B remembers Anna from her pulls (store/postgres/people.rs); her sign-out on A revokes
    // the token in the database, and B's next pull with it must find nobody (R-ACC-1).
    let Some(p) = pair("a_session_signed_out_on_one_instance_cannot_pull_on_the_other_that_remembers_it").await else {
        return;
    };
    let anna_a = p.login(&p.a, "anna").await;
    let anna_b = via(&anna_a, &p.b);
    let (cursor, _) = anna_b.pull_all().await;
    let (cursor, _) = anna_b.delta(&cursor).await;
    let status = anna_a.logout().await;
    assert!((200..300).contains(&status), "signed out on A: {status}");
    anna_b.pull_raw(Some(&cursor), None).await.assert_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_msg_1_a_thread_started_on_one_instance_reaches_a_participant_the_other_remembers() {
    // Lisa pulls on B, which remembers her threads (store/postgres/people.rs). Anna starts a
    // thread with her on A: Lisa's next pull on B carries it and its message.
    let Some(p) = pair("r_msg_1_a_thread_started_on_one_instance_reaches_a_participant_the_other_remembers").await else {
        return;
    };
    let anna_a = p.login(&p.a, "anna").await;
    let lisa_b = p.login(&p.b, "lisa").await;
    let (cursor, _) = lisa_b.pull_all().await;
    let (cursor, _) = lisa_b.delta(&cursor).await;
    let r = anna_a
        .push_one(
            "message.send",
            json!({ "recipients": [ids::user("lisa")], "title": "Vantar", "body": "Elsa har glömt sina vantar.", "child_id": ids::elsa() }),
        )
        .await;
    assert_applied(&r);
    let details = r.details.expect("details").value();
    let thread_id: Uuid = serde_json::from_value(details["thread_id"].clone()).expect("thread id");
    let (_, delta) = lisa_b.delta(&cursor).await;
    let threads: Vec<Uuid> = upserts::<e::MessageThread>(&delta, e::THREAD_TYPE).iter().map(|t| t.id).collect();
    assert_eq!(threads, vec![thread_id], "{delta:?}");
    let messages = upserts::<e::Message>(&delta, e::MESSAGE_TYPE);
    assert_eq!(messages.len(), 1, "{delta:?}");
    assert_eq!(messages[0].thread_id, thread_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_mutation_id_pushed_to_both_instances_applies_once() {
    // Idempotency by id holds across instances: the same mutation (a retry that the load
    // balancer sent elsewhere) reaching A and B at once is applied once, and both answers are
    // its one result.
    let Some(p) = pair("same_mutation_id_pushed_to_both_instances_applies_once").await else { return };
    let anna_a = p.login(&p.a, "anna").await;
    let anna_b = via(&anna_a, &p.b);
    let lisa = ids::user("lisa");
    for round in 0..5 {
        let id = Uuid::new_v4();
        let body = format!("Hej Lisa! ({round})");
        let args = json!({ "recipients": [lisa], "title": "Hämtning", "body": body });
        let results: Vec<MutationResult> = race(
            [anna_a.clone(), anna_b.clone()]
                .into_iter()
                .map(|c| {
                    let args = args.clone();
                    Box::pin(async move {
                        let r: PushResponse = c.push(vec![(id, "message.send", args)]).await;
                        r.results.into_iter().next().expect("one result")
                    }) as _
                })
                .collect(),
        )
        .await;
        assert_applied(&results[0]);
        assert_eq!(results[0], results[1], "both instances answer with the one first result");

        let (_, changes) = anna_a.pull_all().await;
        let sent: Vec<e::Message> =
            upserts::<e::Message>(&changes, e::MESSAGE_TYPE).into_iter().filter(|m| m.body == body).collect();
        assert_eq!(sent.len(), 1, "round {round}: the message exists once");
        let details = results[0].details.as_ref().expect("details").value();
        assert_eq!(details["message_id"], json!(sent[0].id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_abs_8_guardians_report_the_same_day_on_two_instances_one_absence() {
    // R-ABS-8 across instances: Anna's report reaches A while Erik's reaches B: one absence,
    // no error for either.
    let Some(p) = pair("r_abs_8_guardians_report_the_same_day_on_two_instances_one_absence").await else { return };
    let anna_a = p.login(&p.a, "anna").await;
    let erik_b = p.login(&p.b, "erik").await;
    for (child, date) in [(ids::elsa(), "2026-11-25"), (ids::elsa(), "2026-11-26"), (ids::oskar(), "2026-11-26")] {
        let results = race(
            [anna_a.clone(), erik_b.clone()]
                .into_iter()
                .map(|c| {
                    Box::pin(async move {
                        c.push_one("absence.report", json!({ "child_id": child, "date": date })).await
                    }) as _
                })
                .collect(),
        )
        .await;
        for r in &results {
            assert_applied(r);
        }
        assert_eq!(results[0].details, results[1].details, "both name the same absence");
        for (who, on) in [(&anna_a, "A"), (&erik_b, "B")] {
            let (_, changes) = who.pull_all().await;
            let abs: Vec<e::Absence> = upserts::<e::Absence>(&changes, e::ABSENCE_TYPE)
                .into_iter()
                .filter(|a| a.child_id == child && a.date == day(date))
                .collect();
            assert_eq!(abs.len(), 1, "{} on {on} sees exactly one absence on {date}", who.user.username);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_talk_2_bookings_of_one_slot_on_two_instances_exactly_one_wins() {
    // R-TALK-2 across instances: Anna books on A while Maria books the same slot on B: exactly
    // one applied, the other `slot_taken`.
    let Some(p) = pair("r_talk_2_bookings_of_one_slot_on_two_instances_exactly_one_wins").await else { return };
    let anna_a = p.login(&p.a, "anna").await;
    let maria_b = p.login(&p.b, "maria").await;
    for n in 1..=3 {
        let slot = ids::solrosen_slot(n);
        // Each round, the other family goes first in the spawn order.
        let mut contenders = vec![(anna_a.clone(), ids::elsa()), (maria_b.clone(), ids::noah())];
        if n % 2 == 0 {
            contenders.reverse();
        }
        let results: Vec<(Uuid, MutationResult)> = race(
            contenders
                .into_iter()
                .map(|(c, child)| {
                    Box::pin(async move {
                        let r = c.push_one("talk.book", json!({ "slot_id": slot, "child_id": child })).await;
                        (child, r)
                    }) as _
                })
                .collect(),
        )
        .await;
        let winners: Vec<_> = results.iter().filter(|(_, r)| r.status == MutationStatus::Applied).collect();
        assert_eq!(winners.len(), 1, "slot {n}: exactly one booking wins: {results:?}");
        let (_, loser) = results.iter().find(|(_, r)| r.status == MutationStatus::Rejected).expect("one loses");
        assert_rejected(loser, RejectCode::SlotTaken);
        let winner_child = winners[0].0;

        // Both see the slot taken (whichever instance they read from); one booking exists.
        for c in [&anna_a, &maria_b] {
            let (_, changes) = c.pull_all().await;
            let s: Vec<e::TalkSlot> =
                upserts::<e::TalkSlot>(&changes, e::TALK_SLOT_TYPE).into_iter().filter(|s| s.id == slot).collect();
            assert!(s.len() == 1 && s[0].taken, "{} sees slot {n} taken", c.user.username);
            let bookings: Vec<e::TalkBooking> = upserts::<e::TalkBooking>(&changes, e::TALK_BOOKING_TYPE)
                .into_iter()
                .filter(|b| b.slot_id == slot)
                .collect();
            let family_won = (c.user.username == "anna") == (winner_child == ids::elsa());
            assert_eq!(bookings.len(), usize::from(family_won), "{} sees its own booking only", c.user.username);
        }
        // Both children now hold a booking in this round, or the loser books the next slot:
        // free the winner's booking so the next round is a fresh race.
        let winner = if winner_child == ids::elsa() { &anna_a } else { &maria_b };
        let booking_id: Value = winners[0].1.details.as_ref().expect("details").value()["booking_id"].clone();
        assert_applied(&winner.push_one("talk.cancel", json!({ "booking_id": booking_id })).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_from_a_sees_a_push_to_b() {
    // Nothing lives in one instance's memory: a session made on A works on B, and a pull
    // from A sees what was pushed to B (and the other way round), cursors carried across.
    let Some(p) = pair("a_pull_from_a_sees_a_push_to_b").await else { return };
    let anna_a = p.login(&p.a, "anna").await;
    let anna_b = via(&anna_a, &p.b);
    let erik_b = p.login(&p.b, "erik").await;

    let (cursor, snap_a) = anna_a.pull_all().await;
    let (_, snap_b) = anna_b.pull_all().await;
    assert_eq!(snap_a.len(), snap_b.len(), "both instances serve the same snapshot");

    assert_applied(&erik_b.push_one("absence.report", json!({ "child_id": ids::elsa(), "date": "2026-11-26" })).await);
    let (cursor, delta) = anna_a.delta(&cursor).await;
    let abs = upserts::<e::Absence>(&delta, e::ABSENCE_TYPE);
    assert!(
        abs.iter().any(|a| a.child_id == ids::elsa() && a.date == day("2026-11-26")),
        "A's delta carries the absence pushed to B: {delta:?}"
    );

    // A cursor from A, continued on B, after a change pushed to A.
    assert_applied(&anna_a.push_one("absence.report", json!({ "child_id": ids::oskar(), "date": "2026-11-26" })).await);
    let (_, delta) = anna_b.delta(&cursor).await;
    let abs = upserts::<e::Absence>(&delta, e::ABSENCE_TYPE);
    assert!(abs.iter().any(|a| a.child_id == ids::oskar()), "B continues A's cursor: {delta:?}");
    assert!(!abs.iter().any(|a| a.child_id == ids::elsa()), "and does not resend what A already sent");

    // Logging out on B ends the session on A too.
    assert_eq!(anna_b.logout().await, 204);
    assert_eq!(anna_a.get("/v1/me").await.status, 401, "a token revoked on B is revoked on A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pull_cursors_skip_nothing_while_both_instances_write() {
    // Writers of both instances commit in `seq` order (one advisory lock), so a cursor that a
    // pull moves to the newest seq never passes a change that commits later: a replica kept
    // up to date by deltas from either instance, while both take pushes, ends equal to a
    // fresh snapshot. Maria writes beside them in her family's scopes, which Anna's pulls
    // leave unread where the instance knows nothing else was written after her cursor
    // (`store/scope_heads.rs`): from its own commits and those its listener heard.
    let Some(p) = pair("pull_cursors_skip_nothing_while_both_instances_write").await else { return };
    let anna_a = p.login(&p.a, "anna").await;
    let anna_b = via(&anna_a, &p.b);
    let erik_b = p.login(&p.b, "erik").await;
    let erik_a = via(&erik_b, &p.a);
    let maria_a = p.login(&p.a, "maria").await;
    let maria_b = via(&maria_a, &p.b);
    let skipped = |p: &Pair| [&p.a, &p.b].map(|s| s.state.store.pull_ranges_skipped().unwrap_or(0)).iter().sum::<u64>();
    let skipped_before = skipped(&p);
    // Weekdays after the clock's Wednesday 2026-11-25, before any demo closure day.
    let dates = ["2026-11-26", "2026-11-27", "2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"];

    let (mut cursor, first) = anna_a.pull_all().await;
    let mut replica = Replica::default();
    replica.apply(&first);

    let writers: Vec<_> = [anna_a.clone(), anna_b.clone(), erik_a, erik_b]
        .into_iter()
        .map(|c| (c, ids::elsa()))
        .chain([(maria_a, ids::noah()), (maria_b, ids::noah())])
        .enumerate()
        .map(|(w, (c, child))| {
            tokio::spawn(async move {
                let mut applied = 0;
                for i in 0..15 {
                    let date = dates[(w + i) % dates.len()];
                    let end = format!("16:{:02}", (w * 15 + i) % 60);
                    let r = c.push_one("care.set_day", set_day_args(child, date, &[("08:00", end.as_str())])).await;
                    applied += usize::from(r.status == MutationStatus::Applied && child == ids::elsa());
                }
                applied
            })
        })
        .collect();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (a, b, done) = (anna_a.clone(), anna_b.clone(), done.clone());
        tokio::spawn(async move {
            let mut deltas = Vec::new();
            let mut n = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let c = if n.is_multiple_of(2) { &a } else { &b };
                let (next, changes) = c.delta(&cursor).await;
                cursor = next;
                deltas.extend(changes);
                n += 1;
            }
            let (next, changes) = a.delta(&cursor).await;
            deltas.extend(changes);
            (next, deltas, n)
        })
    };
    let mut applied = 0;
    for w in writers {
        applied += w.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (_, deltas, pulls) = reader.await.expect("reader");
    assert!(applied > 30, "most care days were applied ({applied} of 60)");
    eprintln!("{applied} care days applied while {pulls} delta pulls ran, {} scopes left unread", skipped(&p) - skipped_before);
    replica.apply(&deltas);

    let (_, fresh) = anna_b.snapshot().await;
    let ours: Vec<(&(String, Uuid), &Value)> = replica.entities.iter().filter(|((t, _), _)| t == e::CARE_DAY_TYPE).collect();
    let theirs: Vec<(&(String, Uuid), &Value)> = fresh.entities.iter().filter(|((t, _), _)| t == e::CARE_DAY_TYPE).collect();
    assert!(!theirs.is_empty());
    assert_eq!(ours, theirs, "the replica kept by {pulls} delta pulls equals a fresh snapshot");
    assert!(
        !upserts::<e::CareDay>(&deltas, e::CARE_DAY_TYPE).iter().any(|d| d.child_id == ids::noah()),
        "nothing of Maria's family reached Anna"
    );
    assert!(skipped(&p) > skipped_before, "some of Anna's pulls left scopes unread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_nul_characters_is_answered_like_any_other() {
    // JSON strings may carry U+0000, which PostgreSQL text cannot: both stores must still
    // answer (a 500 would be retried by the client forever and block its outbox).
    let s = crate::support::server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let r = anna
        .push_one("message.send", json!({ "recipients": [ids::user("lisa")], "title": "a\u{0}b", "body": "x\u{0}y" }))
        .await;
    assert_applied(&r);
    let (_, changes) = anna.pull_all().await;
    assert!(
        upserts::<e::Message>(&changes, e::MESSAGE_TYPE).iter().any(|m| m.body == "x\u{0}y"),
        "the body comes back as sent"
    );
    assert_rejected(&anna.push_one("no\u{0}such.mutation", json!({})).await, RejectCode::InvalidInput);
    let r = send(s.http.post(s.at("/v1/auth/login")).json(&json!({ "username": "an\u{0}na", "password": PASSWORD }))).await;
    r.assert_error(401, "invalid_credentials");
    let r = send(s.http.post(s.at("/v1/auth/login")).json(&json!({ "username": "anna", "password": PASSWORD, "device_id": "d\u{0}1" }))).await;
    assert_eq!(r.status, 200, "a device id with U+0000: {}", r.body);
}
