//! Operations: health, OpenAPI, metrics, flags, `--help`, the dev clock, restarts and
//! graceful shutdown.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use sync_server::config::Config;

use crate::support::{assert_applied, db_url, ids, server, server_without_demo, server_without_dev_clock, set_day_args, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_200() {
    let s = server().await;
    let r = s.get("/healthz", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({ "status": "ok" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_the_sync_routes() {
    let s = server().await;
    let r = s.get("/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let doc: &Value = &r.body;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    for p in ["/v1/sync/push", "/v1/sync/pull", "/v1/sync/events", "/v1/auth/login", "/v1/auth/logout", "/v1/me", "/healthz"] {
        assert!(paths.contains_key(p), "{p} in the OpenAPI paths: {:?}", paths.keys().collect::<Vec<_>>());
    }
    assert!(paths["/v1/sync/push"]["post"].is_object());
    assert!(doc["components"]["schemas"]["PushRequest"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_mutations_in_prometheus_text() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let m = (uuid::Uuid::new_v4(), "care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")]));
    assert_applied(&anna.push(vec![m.clone()]).await.results[0]);
    anna.push(vec![m]).await;
    anna.push(vec![(uuid::Uuid::new_v4(), "care.set_day", set_day_args(ids::elsa(), "2026-11-25", &[("08:00", "16:00")]))]).await;
    let r = s.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    let text = r.body.as_str().expect("text");
    assert!(text.contains("# TYPE hub_mutations_total counter"), "{text}");
    for line in ["hub_mutations_total{outcome=\"applied\"} 1", "hub_mutations_total{outcome=\"rejected\"} 1", "hub_mutations_total{outcome=\"replayed\"} 1"] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    assert!(text.contains("hub_http_requests_total{route=\"/v1/sync/push\",status=\"200\"} 3"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dev_clock_the_clock_routes_do_not_exist() {
    // ARCHITECTURE.md: without --dev-clock these routes do not exist.
    let s = server_without_dev_clock().await;
    s.post("/v1/dev/clock", None, &json!({ "now": "2026-11-25T09:00:00Z" })).await.assert_error(404, "not_found");
    crate::support::send(s.http.delete(s.at("/v1/dev/clock"))).await.assert_error(404, "not_found");
    // And the server keeps real time.
    let anna = s.login("anna").await;
    let r = anna.pull(None).await;
    assert!((r.server_time - Utc::now()).num_seconds().abs() < 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_clock_fixes_and_releases_server_time() {
    let s = server().await;
    s.set_clock("2026-11-25T09:00:00Z").await;
    let anna = s.login("anna").await;
    assert_eq!(anna.pull(None).await.server_time.to_rfc3339(), "2026-11-25T09:00:00+00:00");
    let r = crate::support::send(s.http.delete(s.at("/v1/dev/clock"))).await;
    assert_eq!(r.status, 200);
    let now: chrono::DateTime<Utc> = serde_json::from_value(r.body["now"].clone()).unwrap();
    assert!((now - Utc::now()).num_seconds().abs() < 60, "real time again: {now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_demo_the_database_is_empty() {
    let s = server_without_demo().await;
    assert_eq!(s.get("/healthz", None).await.status, 200);
    s.try_login("anna", PASSWORD).await.assert_error(401, "invalid_credentials");
}

#[test]
fn help_lists_every_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sync-server")).arg("--help").output().expect("run sync-server --help");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--listen", "--db", "--demo", "--dev-clock", "HUB_LISTEN", "HUB_DATABASE_URL"] {
        assert!(text.contains(flag), "{flag} in --help:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_returns_while_an_event_stream_is_open() {
    let s = server().await;
    let anna = s.login("anna").await;
    let mut events = anna.events().await;
    assert_eq!(events.next_within(Duration::from_secs(2)).await.expect("ready").event, "ready");
    let url = s.url();
    tokio::time::timeout(Duration::from_secs(5), s.shutdown())
        .await
        .expect("shutdown returns promptly with a stream open")
        .expect("clean shutdown");
    assert!(events.ends_within(Duration::from_secs(2)).await, "the stream is closed");
    assert!(reqwest::get(format!("{url}/healthz")).await.is_err(), "no longer listening");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_data_and_does_not_seed_twice() {
    let db = db_url().await;
    let config = || Config { listen: "127.0.0.1:0".into(), db: db.url.clone(), demo: true, dev_clock: true, dev_clock_at: None };
    let http = reqwest::Client::new();
    let login = |url: String| {
        let http = http.clone();
        async move {
            let r = http.post(format!("{url}/v1/auth/login")).json(&json!({ "username": "anna", "password": PASSWORD })).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
        }
    };

    let first = sync_server::start(config()).await.unwrap();
    let url = first.url();
    http.post(format!("{url}/v1/dev/clock")).json(&json!({ "now": "2026-11-25T09:00:00Z" })).send().await.unwrap();
    let token = login(url.clone()).await;
    let push = json!({ "client_id": uuid::Uuid::new_v4(), "mutations": [{ "id": uuid::Uuid::new_v4(), "name": "care.set_day",
        "args": set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")]) }] });
    let r: Value = http.post(format!("{url}/v1/sync/push")).bearer_auth(&token).json(&push).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["results"][0]["status"], "applied");
    let snapshot = |url: String, token: String| {
        let http = http.clone();
        async move {
            let r: Value = http.post(format!("{url}/v1/sync/pull")).bearer_auth(&token).json(&json!({ "cursor": null, "limit": 5000 })).send().await.unwrap().json().await.unwrap();
            r["changes"].as_array().unwrap().len()
        }
    };
    let before = snapshot(url.clone(), token.clone()).await;
    first.shutdown().await.unwrap();

    let second = sync_server::start(config()).await.unwrap();
    let url = second.url();
    http.post(format!("{url}/v1/dev/clock")).json(&json!({ "now": "2026-11-25T09:05:00Z" })).send().await.unwrap();
    // The old session survives the restart; the demo was not seeded again.
    let r = http.get(format!("{url}/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(snapshot(url.clone(), token.clone()).await, before);
    // The replayed mutation still answers its first result.
    let r: Value = http.post(format!("{url}/v1/sync/push")).bearer_auth(&token).json(&push).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["results"][0]["status"], "applied");
    assert_eq!(snapshot(url.clone(), login(url.clone()).await).await, before);
    second.shutdown().await.unwrap();
}

/// `--dev-clock-at`: the clock stands at the instant given from the first request, the demo's
/// dated items are placed around it (Elsa's care days up to the Friday of the week after),
/// and the dev clock routes are there without `--dev-clock`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_with_dev_clock_at_stands_there_and_seeds_the_demo_around_it() {
    let db = db_url().await;
    let at: chrono::DateTime<Utc> = "2027-01-13T08:00:00Z".parse().unwrap();
    let running = sync_server::start(Config {
        listen: "127.0.0.1:0".into(),
        db: db.url.clone(),
        demo: true,
        dev_clock: false,
        dev_clock_at: Some(at),
    })
    .await
    .unwrap();
    let url = running.url();
    let http = reqwest::Client::new();
    let r = http.post(format!("{url}/v1/auth/login")).json(&json!({ "username": "anna", "password": PASSWORD })).send().await.unwrap();
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let pull: Value = http
        .post(format!("{url}/v1/sync/pull"))
        .bearer_auth(&token)
        .json(&json!({ "cursor": null, "limit": 5000 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pull["server_time"].as_str().and_then(|t| t.parse::<chrono::DateTime<Utc>>().ok()), Some(at));
    let care_dates: Vec<&str> = pull["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "care_day" && c["data"]["child_id"] == json!(ids::elsa()))
        .filter_map(|c| c["data"]["date"].as_str())
        .collect();
    assert!(care_dates.contains(&"2027-01-22"), "Friday of the week after: {care_dates:?}");
    assert!(!care_dates.iter().any(|d| *d <= "2027-01-13"), "none up to today: {care_dates:?}");
    let r = http.post(format!("{url}/v1/dev/clock")).json(&json!({ "now": "2027-01-14T08:00:00Z" })).send().await.unwrap();
    assert_eq!(r.status(), 200, "the dev clock routes are there");
    running.shutdown().await.unwrap();
}
