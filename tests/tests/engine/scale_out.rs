//! The app against several server instances on one PostgreSQL behind a load balancer
//! (ARCHITECTURE.md, "Scale-out"; docs/protocol.md, "Commits"): a change the app pushes
//! through one instance is in the pull that follows through the other, even while that
//! instance hears of commits late. The app names the commit its push was answered with
//! (`min_commit`); an instance that has not heard of it reads the database instead of
//! answering from memory.
//!
//! Runs only when `HUB_TEST_DATABASE_URL` is a postgres URL (`cargo xtask test`'s layer
//! "engine on PostgreSQL"); otherwise it prints a note and passes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sync_server::config::Config;
use sync_server::RunningServer;

use super::*;

/// How late the slow instance hears what the database says (its notifications included).
const LATE: Duration = Duration::from_millis(200);

/// A fresh database on the cluster of `admin_url` (`postgres://user@host:port/db`, as
/// `cargo xtask test` gives it): its URL. The cluster is thrown away after the layer.
async fn fresh_database(admin_url: &str) -> String {
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test cluster");
    tokio::spawn(conn);
    let name = format!("hub_engine_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a database name in the URL");
    format!("{base}/{name}")
}

/// `url` with its host and port replaced by `addr`.
fn via(url: &str, addr: SocketAddr) -> String {
    let (scheme_user, rest) = url.split_once('@').expect("user@host in the URL");
    let (_, db) = rest.split_once('/').expect("a database name in the URL");
    format!("{scheme_user}@{addr}/{db}")
}

/// The `host:port` of a postgres URL.
fn address(url: &str) -> SocketAddr {
    let (_, rest) = url.split_once('@').expect("user@host in the URL");
    let (hostport, _) = rest.split_once('/').expect("a database name in the URL");
    hostport.parse().expect("an IP address and a port")
}

async fn instance(db: &str) -> RunningServer {
    let s = sync_server::start(Config {
        listen: "127.0.0.1:0".into(),
        db: db.into(),
        demo: true,
        dev_clock: true,
        dev_clock_at: None,
    })
    .await
    .expect("an instance starts");
    let res = reqwest::Client::new()
        .post(format!("{}/v1/dev/clock", s.url()))
        .json(&json!({ "now": wednesday() }))
        .send()
        .await
        .expect("dev clock");
    assert!(res.status().is_success());
    s
}

async fn post(s: &RunningServer, path: &str, token: &str, body: Value) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{}{path}", s.url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_pushed_through_one_instance_is_in_the_pull_through_another_that_hears_late() {
    let admin = match std::env::var("HUB_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => {
            eprintln!("note: skipped: it needs HUB_TEST_DATABASE_URL=postgres://… (cargo xtask test sets it)");
            return;
        }
    };
    let db = fresh_database(&admin).await;
    // B talks to the database directly; A through a proxy that can delay what it hears.
    let b = instance(&db).await;
    let slow = Proxy::start(address(&db)).await;
    let a = instance(&via(&db, slow.addr)).await;
    let lb = Balancer::start(b.addr, a.addr).await;

    let anna = Device::sign_in_at(lb.addr, "anna", "anna").await;
    let oskar = anna.child("Oskar");
    anna.core.sync_now().await.expect("sync at the head");
    slow.set_answer_latency(LATE.as_millis() as u64);

    // The control: a raw client at the head on A, naming the commit it has seen.
    let erik = post(&a, "/v1/auth/login", "", json!({ "username": "erik", "password": PASSWORD })).await;
    let erik_token = erik["token"].as_str().expect("token").to_string();
    let mut cursor = Value::Null;
    loop {
        let page = post(&a, "/v1/sync/pull", &erik_token, json!({ "cursor": cursor })).await;
        cursor = page["cursor"].clone();
        if page["has_more"] == false {
            break;
        }
    }
    let head = post(&a, "/v1/sync/pull", &erik_token, json!({ "cursor": cursor })).await;
    let seen = head["commit"].as_u64().expect("a commit");

    // Erik reports Oskar's absence today through B. Naming only what he had seen before, a
    // pull on A right after is answered from what A knows, which does not have it yet…
    let pushed = post(
        &b,
        "/v1/sync/push",
        &erik_token,
        json!({ "client_id": uuid::Uuid::new_v4(), "mutations": [{
            "id": uuid::Uuid::new_v4(), "name": "absence.report",
            "args": { "child_id": oskar, "date": "2030-09-04" } }] }),
    )
    .await;
    let pushed_at = Instant::now();
    assert_eq!(pushed["results"][0]["status"], "applied", "{pushed}");
    let commit = pushed["commit"].as_u64().expect("the push names its commit");
    let stale = post(&a, "/v1/sync/pull", &erik_token, json!({ "cursor": cursor, "min_commit": seen })).await;
    // (Checked only when the answer came well inside the delay: the commit was made a little
    // before its answer reached us.)
    if pushed_at.elapsed() < LATE / 2 {
        assert_eq!(stale["changes"], json!([]), "A has not heard of the commit yet");
    }
    // …but naming the push's commit, the pull on A has it.
    let fresh = post(&a, "/v1/sync/pull", &erik_token, json!({ "cursor": cursor, "min_commit": commit })).await;
    let changes = fresh["changes"].as_array().cloned().unwrap_or_default();
    assert!(
        changes.iter().any(|c| c["type"] == "absence" && c["data"]["date"] == "2030-09-04"),
        "{fresh}"
    );

    // The app does the same on its own: Anna reports tomorrow; the sync pushes through B and
    // pulls through A, which hears of the commit late. The absence is there as the server
    // has it, not only as a pending change (whose overlay goes when the push is answered).
    // First at the head on A, which remembers that answer at the commit it knows.
    anna.core.sync_now().await.expect("sync at the head");
    let tomorrow = d("2030-09-05");
    anna.core
        .report_absence(oskar, tomorrow, None, None)
        .expect("report");
    anna.core.sync_now().await.expect("sync");
    let history = anna.core.absences(oskar).expect("absences").history;
    assert!(
        history
            .iter()
            .any(|h| h.absence.date == tomorrow && !h.pending),
        "the app's own absence is in its pull through the other instance: {history:?}"
    );
    assert_eq!(anna.core.sync_status().pending, 0);
    assert!(anna.core.needs_attention().expect("journal").is_empty());
}
