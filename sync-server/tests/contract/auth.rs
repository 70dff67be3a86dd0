//! Login, logout, `/v1/me` (R-ACC-1, R-ACC-7).

use domain::wire::{Role, UnitKind};

use crate::support::{ids, server, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_the_demo_password_returns_a_token_and_the_user() {
    let s = server().await;
    let now = s.set_local("2026-11-25", "10:00:00").await;
    let r = s.try_login("anna", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["token"].as_str().expect("token");
    assert!(token.len() >= 32, "an opaque random token: {token}");
    assert_eq!(r.body["user"]["id"], ids::user("anna").to_string());
    assert_eq!(r.body["user"]["username"], "anna");
    assert_eq!(r.body["user"]["display_name"], "Anna Lind");
    assert_eq!(r.body["user"]["role"], "guardian");
    assert_eq!(r.body["user"]["locale"], "sv");
    // Sessions last 90 days from login, by the server's clock.
    let expires: chrono::DateTime<chrono::Utc> = serde_json::from_value(r.body["expires_at"].clone()).unwrap();
    assert_eq!(expires, now + chrono::Duration::days(90));
    // Two logins give two different tokens.
    let again = s.try_login("anna", PASSWORD).await;
    assert_ne!(again.body["token"], r.body["token"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_401_invalid_credentials() {
    let s = server().await;
    s.try_login("anna", "hub-demo-2").await.assert_error(401, "invalid_credentials");
    // An unknown user answers exactly like a wrong password.
    s.try_login("nobody", PASSWORD).await.assert_error(401, "invalid_credentials");
    s.try_login("anna", "").await.assert_error(401, "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usernames_and_passwords_are_case_sensitive() {
    // R-ACC-1: usernames and passwords are case-sensitive.
    let s = server().await;
    s.try_login("Anna", PASSWORD).await.assert_error(401, "invalid_credentials");
    s.try_login("ANNA", PASSWORD).await.assert_error(401, "invalid_credentials");
    s.try_login("anna", "HUB-DEMO-1").await.assert_error(401, "invalid_credentials");
    s.try_login("anna", "Hub-demo-1").await.assert_error(401, "invalid_credentials");
    // R-ACC-2: a copied password with a trailing space is a wrong password too.
    s.try_login("anna", "hub-demo-1 ").await.assert_error(401, "invalid_credentials");
    assert_eq!(s.try_login("anna", PASSWORD).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_token_and_only_that_token() {
    let s = server().await;
    let anna = s.login("anna").await;
    let other_device = s.login("anna").await;
    assert_eq!(anna.get("/v1/me").await.status, 200);
    assert_eq!(anna.logout().await, 204);
    anna.get("/v1/me").await.assert_error(401, "unauthorized");
    anna.pull_raw(None, None).await.assert_error(401, "unauthorized");
    anna.push_raw(&[]).await.assert_error(401, "unauthorized");
    // Logging out twice with the revoked token is refused like any unknown token.
    assert_eq!(anna.logout().await, 401);
    // Anna's other session is untouched.
    assert_eq!(other_device.me().await.user.username, "anna");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_garbage_bearer_is_401_in_the_error_shape() {
    let s = server().await;
    s.get("/v1/me", None).await.assert_error(401, "unauthorized");
    s.get("/v1/me", Some("hub_not-a-real-token")).await.assert_error(401, "unauthorized");
    s.get("/v1/me", Some("")).await.assert_error(401, "unauthorized");
    crate::support::send(s.http.get(s.at("/v1/me")).header("authorization", "Basic YW5uYTpodWItZGVtby0x"))
        .await
        .assert_error(401, "unauthorized");
    crate::support::send(s.http.get(s.at("/v1/me")).header("authorization", "bearer"))
        .await
        .assert_error(401, "unauthorized");
    s.post("/v1/sync/pull", None, &serde_json::json!({ "cursor": null })).await.assert_error(401, "unauthorized");
    s.post("/v1/sync/push", Some("garbage"), &serde_json::json!({ "client_id": uuid::Uuid::new_v4(), "mutations": [] }))
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(s.get("/v1/sync/events", Some("garbage")).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_lists_a_guardians_children_across_preschool_and_school() {
    // R-ACC-7: a guardian sees their own children, and only them.
    let s = server().await;
    let me = s.login("anna").await.me().await;
    assert_eq!(me.user.username, "anna");
    assert_eq!(me.user.display_name, "Anna Lind");
    assert_eq!(me.user.role, Role::Guardian);
    let mut kids: Vec<_> = me.children.iter().map(|c| (c.first_name.as_str(), c.last_name.as_str(), c.unit.name.as_str(), c.unit.kind, c.id, c.unit.id)).collect();
    kids.sort_by_key(|k| k.0);
    assert_eq!(
        kids,
        vec![
            ("Elsa", "Lind", "Solrosen förskola", UnitKind::Preschool, ids::elsa(), ids::solrosen()),
            ("Oskar", "Lind", "Ekdalsskolan", UnitKind::School, ids::oskar(), ids::ekdal()),
        ]
    );

    let maria = s.login("maria").await.me().await;
    assert_eq!(maria.user.role, Role::Guardian);
    let names: Vec<_> = maria.children.iter().map(|c| (c.first_name.as_str(), c.unit.name.as_str())).collect();
    assert_eq!(names, vec![("Noah", "Solrosen förskola")]);

    // A student sees themself; staff have no children of their own.
    let oskar = s.login("oskar").await.me().await;
    assert_eq!(oskar.user.role, Role::Student);
    assert_eq!(oskar.children.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ids::oskar()]);
    let lisa = s.login("lisa").await.me().await;
    assert_eq!(lisa.user.role, Role::Staff);
    assert!(lisa.children.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_expires_after_90_days_of_server_time() {
    // Sessions last 90 days (auth::TOKEN_DAYS), judged by the server's clock (R-TIME-1).
    let s = server().await;
    let now = s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    s.set_clock_at(now + chrono::Duration::days(90) - chrono::Duration::seconds(1)).await;
    assert_eq!(anna.get("/v1/me").await.status, 200);
    s.set_clock_at(now + chrono::Duration::days(90) + chrono::Duration::seconds(1)).await;
    anna.get("/v1/me").await.assert_error(401, "unauthorized");
    assert_eq!(s.login("anna").await.me().await.user.username, "anna", "signing in again works");
}
