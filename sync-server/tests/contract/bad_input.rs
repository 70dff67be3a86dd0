//! Bad input never yields a 5xx: malformed JSON, oversized bodies, unknown names, impossible
//! dates, missing headers, unknown routes (issue 2, "How it is tested").

use domain::RejectCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{assert_error_shape, assert_rejected, ids, raw_http, send, server, set_day_args, Resp};

async fn raw_post(s: &crate::support::TestServer, path: &str, token: Option<&str>, content_type: Option<&str>, body: Vec<u8>) -> Resp {
    let mut rb = s.http.post(s.at(path)).body(body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    send(rb).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_invalid_input() {
    let s = server().await;
    let anna = s.login("anna").await;
    let t = Some(anna.token.as_str());
    let json = Some("application/json");
    for path in ["/v1/sync/push", "/v1/sync/pull"] {
        for body in [&b"{"[..], b"{\"client_id\": }", b"not json at all", b"", &[0xff, 0xfe, 0x00][..]] {
            let r = raw_post(&s, path, t, json, body.to_vec()).await;
            assert!(r.status == 400 || r.status == 422, "{path} {body:?}: {} {}", r.status, r.body);
            assert_error_shape(&r.body, "invalid_input");
        }
    }
    raw_post(&s, "/v1/auth/login", None, json, b"{\"username\": \"anna\",".to_vec()).await.assert_error(400, "invalid_input");
    // Well-formed JSON of the wrong shape is refused the same way.
    let r = raw_post(&s, "/v1/sync/push", t, json, br#"{"mutations": "all of them"}"#.to_vec()).await;
    assert!(r.status == 400 || r.status == 422, "{} {}", r.status, r.body);
    assert_error_shape(&r.body, "invalid_input");
    // The message names where in the body the bad value is (the server reads a plain JSON
    // body without tracking the path, and reads a failing one again to say where).
    let wrong_kind = format!(r#"{{"client_id": "{}", "mutations": [{{"id": "{}", "name": "absence.report", "args": {{}}}}, {{"id": 7}}]}}"#, Uuid::new_v4(), Uuid::new_v4());
    for content_type in ["application/json", "application/json; charset=utf-8"] {
        let r = raw_post(&s, "/v1/sync/push", t, Some(content_type), wrong_kind.clone().into_bytes()).await;
        assert!(r.status == 400 || r.status == 422, "{} {}", r.status, r.body);
        assert_error_shape(&r.body, "invalid_input");
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("mutations[1].id"), "{content_type}: {message}");
    }
    let r = raw_post(&s, "/v1/auth/login", None, json, br#"{"username": 1, "password": []}"#.to_vec()).await;
    assert!(r.status == 400 || r.status == 422, "{} {}", r.status, r.body);
    assert_error_shape(&r.body, "invalid_input");
    // Deeply nested JSON hits the parser's recursion limit, not the stack.
    let deep = format!("{{\"client_id\": \"{}\", \"mutations\": [{}{}]}}", Uuid::new_v4(), "[".repeat(10_000), "]".repeat(10_000));
    let r = raw_post(&s, "/v1/sync/push", t, json, deep.into_bytes()).await;
    assert!(r.status == 400 || r.status == 422, "{} {}", r.status, r.body);
    assert_error_shape(&r.body, "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_8_mib_body_is_413_payload_too_large() {
    let s = server().await;
    let anna = s.login("anna").await;
    let big = format!("{{\"client_id\": \"{}\", \"mutations\": [], \"pad\": \"{}\"}}", Uuid::new_v4(), "x".repeat(8 * 1024 * 1024));
    for (path, auth) in [("/v1/sync/push", format!("authorization: Bearer {}\r\n", anna.token)), ("/v1/auth/login", String::new())] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n",
            s.addr,
            big.len()
        );
        raw_http(s.addr, &head, big.clone().into_bytes()).await.assert_error(413, "payload_too_large");
        // Without a length up front (chunked), the limit holds as the body streams in.
        let chunked = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n{auth}transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            s.addr
        );
        let mut body = Vec::new();
        for part in big.as_bytes().chunks(256 * 1024) {
            body.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            body.extend_from_slice(part);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
        raw_http(s.addr, &chunked, body).await.assert_error(413, "payload_too_large");
    }
    // Just under the limit is parsed (and then judged on its content).
    let ok = format!("{{\"cursor\": null, \"pad\": \"{}\"}}", "x".repeat(1000 * 1024));
    let r = raw_post(&s, "/v1/sync/pull", Some(&anna.token), Some("application/json"), ok.into_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The server is fine afterwards.
    assert_eq!(anna.get("/v1/me").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_mutation_name_is_rejected_within_a_200_push() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let res = anna
        .push(vec![
            (Uuid::new_v4(), "care.teleport", json!({ "child_id": ids::elsa() })),
            (Uuid::new_v4(), "", json!(null)),
            (Uuid::new_v4(), "CARE.SET_DAY", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")])),
        ])
        .await;
    for r in &res.results {
        assert_rejected(r, RejectCode::InvalidInput);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_dates_and_bad_arguments_are_invalid_input() {
    let s = server().await;
    s.set_local("2026-02-27", "10:00:00").await;
    let anna = s.login("anna").await;
    for date in ["2026-02-30", "2026-2-3", "2026-02-28T00:00:00", "28/02/2026", "", "2026-13-01"] {
        let r = anna.push_one("absence.report", json!({ "child_id": ids::elsa(), "date": date })).await;
        assert_rejected(&r, RejectCode::InvalidInput);
        let r = anna.push_one("care.set_day", set_day_args(ids::elsa(), date, &[("08:00", "16:00")])).await;
        assert_rejected(&r, RejectCode::InvalidInput);
    }
    // Unknown, missing and mistyped arguments.
    let cases = [
        ("care.clear_day", json!({ "child_id": ids::elsa(), "date": "2026-03-02", "force": true })),
        ("care.clear_day", json!({ "child_id": ids::elsa() })),
        ("care.clear_day", json!({ "child_id": "elsa", "date": "2026-03-02" })),
        ("absence.report", json!("2026-02-27")),
        ("absence.report", json!(null)),
        ("attendance.mark", json!({ "child_id": ids::elsa(), "kind": "teleported", "at": "2026-02-27T09:00:00Z" })),
    ];
    for (name, args) in cases {
        assert_rejected(&anna.push_one(name, args).await, RejectCode::InvalidInput);
    }
    // A push whose envelope lacks an id is a malformed request as a whole.
    let r = anna.post("/v1/sync/push", &json!({ "client_id": Uuid::new_v4(), "mutations": [{ "name": "care.clear_day" }] })).await;
    assert!(r.status == 400 || r.status == 422, "{} {}", r.status, r.body);
    assert_error_shape(&r.body, "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_content_type_is_a_4xx_in_the_error_shape() {
    let s = server().await;
    let anna = s.login("anna").await;
    let body = json!({ "cursor": null }).to_string().into_bytes();
    let r = raw_post(&s, "/v1/sync/pull", Some(&anna.token), None, body.clone()).await;
    assert!((400..500).contains(&r.status), "{} {}", r.status, r.body);
    assert_error_shape(&r.body, "invalid_input");
    let r = raw_post(&s, "/v1/sync/pull", Some(&anna.token), Some("text/plain"), body).await;
    assert!((400..500).contains(&r.status), "{} {}", r.status, r.body);
    assert_error_shape(&r.body, "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let s = server().await;
    let anna = s.login("anna").await;
    s.get("/nope", None).await.assert_error(404, "not_found");
    s.get("/v1/nope", Some(&anna.token)).await.assert_error(404, "not_found");
    s.get("/v2/sync/pull", None).await.assert_error(404, "not_found");
    s.get("/v1/sync/push", Some(&anna.token)).await.assert_error(405, "method_not_allowed");
    send(s.http.delete(s.at("/v1/me")).bearer_auth(&anna.token)).await.assert_error(405, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_fields_have_limits() {
    let s = server().await;
    s.try_login(&"a".repeat(10_000), "x").await.assert_error(400, "invalid_input");
    s.try_login("anna", &"x".repeat(100_000)).await.assert_error(400, "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_limits_are_clamped() {
    let s = server().await;
    let anna = s.login("anna").await;
    let zero = anna.pull_limit(None, Some(0)).await;
    assert_eq!(zero.changes.len(), 1, "a limit of 0 still makes progress");
    assert!(zero.has_more);
    let huge = anna.pull_limit(None, Some(u32::MAX)).await;
    assert!(!huge.has_more);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_of_the_bad_input_produces_a_5xx() {
    // Everything above again in one server, then the server's own request metrics.
    let s = server().await;
    let anna = s.login("anna").await;
    let t = Some(anna.token.as_str());
    let json = Some("application/json");
    for (path, ct, body) in [
        ("/v1/sync/push", json, b"{".to_vec()),
        ("/v1/sync/pull", json, b"\"pull\"".to_vec()),
        ("/v1/sync/pull", None, b"{}".to_vec()),
        ("/v1/auth/login", json, b"{}".to_vec()),
        ("/v1/dev/clock", json, b"{\"now\": \"yesterday\"}".to_vec()),
        ("/v1/sync/pull", json, br#"{"cursor": 12}"#.to_vec()),
        ("/v1/sync/pull", json, br#"{"cursor": "v1.-5.0123456789abcdef01234567"}"#.to_vec()),
    ] {
        let r = raw_post(&s, path, t, ct, body).await;
        assert!((400..500).contains(&r.status), "{path}: {} {}", r.status, r.body);
        assert!(r.body.get("error").is_some(), "{path}: {}", r.body);
    }
    let _ = anna.push(vec![(Uuid::new_v4(), "x", json!([1, 2, 3]))]).await;
    let metrics = s.get("/metrics", None).await;
    let text = metrics.body.as_str().expect("metrics are text").to_string();
    assert!(text.contains("hub_http_requests_total{route=\"/v1/sync/push\",status=\"400\"}"), "{text}");
    assert!(!text.contains("status=\"5"), "no 5xx answered: {text}");
}
