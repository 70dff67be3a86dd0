//! Staff on tablets in the rooms (R-STAFF-1…3, R-ACC-3): pairing a tablet to a unit with a
//! one-time code, its revocable device credential, staff PINs counted across tablets, and
//! what a tablet sees and may do on behalf of its unit's staff. docs/protocol.md, "Tablets".

use std::time::Duration;

use chrono::{DateTime, Duration as Minutes, Utc};
use domain::pin::PinState;
use domain::wire::entity::{self as e, TabletStaff};
use domain::wire::{DeviceInfo, DeviceMeResponse, DevicesResponse, MutationStatus, Role};
use domain::RejectCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{
    assert_applied, assert_rejected, day, ids, server, set_day_args, sthlm, upserts, Client, TestServer, PASSWORD,
};

/// The same code with another secret half (`n` picks which).
fn wrong_code(code: &str, n: usize) -> String {
    let (lookup, secret) = code.split_once('-').expect("ABCD-EFGH");
    let first = secret.chars().next().expect("a secret");
    let other = domain::pairing::CODE_ALPHABET
        .iter()
        .map(|b| *b as char)
        .filter(|c| *c != first)
        .nth(n)
        .expect("another symbol");
    format!("{lookup}-{other}{}", &secret[1..])
}

fn mark(child: Uuid, kind: &str, date: &str, time: &str) -> Value {
    json!({ "child_id": child, "kind": kind, "at": sthlm(date, time) })
}

fn tablet_staff(r: &crate::support::Replica, unit: Uuid, user: Uuid) -> Option<TabletStaff> {
    r.get(e::TABLET_STAFF_TYPE, e::tablet_staff_id(unit, user))
}

async fn devices(c: &Client) -> DevicesResponse {
    let r = c.get("/v1/devices").await;
    assert_eq!(r.status, 200, "listing devices: {}", r.body);
    serde_json::from_value(r.body).expect("devices response")
}

async fn pin_state_on(tablet: &Client, unit: Uuid, user: Uuid) -> PinState {
    let (_, r) = tablet.snapshot().await;
    tablet_staff(&r, unit, user).expect("the unit's tablets know the staff member").pin_state
}

/// No failures, not locked, last unlocked by a password at `at`.
fn unlocked_at(at: DateTime<Utc>) -> PinState {
    PinState { failures: 0, locked: false, unlocked_at: Some(at) }
}

/// `staff.pin_attempt`s a tablet queued offline, pushed later in one batch.
fn offline_attempts(user: Uuid, ok: bool, times: &[DateTime<Utc>]) -> Vec<(Uuid, &'static str, Value, Option<Uuid>)> {
    times
        .iter()
        .map(|at| (Uuid::new_v4(), "staff.pin_attempt", json!({ "user_id": user, "ok": ok, "at": at }), None))
        .collect()
}

async fn started(s: &TestServer) {
    s.set_local("2026-11-25", "09:00:00").await;
}

// ---------------------------------------------------------------- pairing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_a_pairing_code_pairs_one_tablet_once() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let p = lisa.create_pairing(ids::solrosen()).await;
    let code = p.code.clone().expect("the code, once");
    assert!(domain::pairing::PairingCode::parse(&code).is_ok_and(|c| c.display() == code), "ABCD-EFGH: {code}");
    assert_eq!(p.unit.id, ids::solrosen());
    assert_eq!(p.created_by_name, "Lisa Ek");
    assert_eq!(p.created_at, sthlm("2026-11-25", "09:00:00"));
    assert_eq!(p.expires_at, sthlm("2026-11-25", "10:00:00"), "valid 60 minutes");

    // Typed in lower case without the dash, and a name with spaces around it.
    let typed = code.replace('-', "").to_lowercase();
    let r = s.try_pair(&typed, Some("  Blåbär, iPad  ")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tablet = s.tablet_from(&r.body);
    assert!(tablet.token.starts_with("hubdev_"), "a device credential");
    assert_eq!(tablet.device.name, "Blåbär, iPad");
    assert_eq!(tablet.device.unit.id, ids::solrosen());
    assert_eq!(tablet.device.paired_by_name, "Lisa Ek");
    assert_eq!(tablet.device.paired_at, sthlm("2026-11-25", "09:00:00"));
    assert_eq!(tablet.device.revoked_at, None);

    let me = tablet.get("/v1/device").await;
    assert_eq!(me.status, 200, "{}", me.body);
    let me: DeviceMeResponse = serde_json::from_value(me.body).unwrap();
    assert_eq!(me.device.id, tablet.device.id);

    // The code is used up: a second tablet is refused.
    s.try_pair(&code, None).await.assert_error(401, "pairing_invalid");

    // Without a name, one that says where it belongs.
    let other = s.pair_tablet(&lisa, ids::solrosen()).await;
    assert_eq!(other.device.name, "Surfplatta, Solrosen förskola");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_a_pairing_code_still_works_after_59_minutes() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let code = lisa.create_pairing(ids::solrosen()).await.code.unwrap();
    s.set_local("2026-11-25", "09:59:00").await;
    assert_eq!(s.try_pair(&code, None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_a_pairing_code_expires_after_60_minutes() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let code = lisa.create_pairing(ids::solrosen()).await.code.unwrap();
    s.set_local("2026-11-25", "10:00:00").await;
    s.try_pair(&code, None).await.assert_error(401, "pairing_invalid");
    assert!(devices(&lisa).await.pairings.is_empty(), "an expired pairing is not listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_five_wrong_codes_void_the_pairing() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let code = lisa.create_pairing(ids::solrosen()).await.code.unwrap();
    for n in 0..5 {
        s.try_pair(&wrong_code(&code, n), None).await.assert_error(401, "pairing_invalid");
    }
    // Even the right code is refused now: each wrong one was counted.
    s.try_pair(&code, None).await.assert_error(401, "pairing_invalid");
    assert!(devices(&lisa).await.devices.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_four_wrong_codes_then_the_right_one_pairs() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let code = lisa.create_pairing(ids::solrosen()).await.code.unwrap();
    for n in 0..4 {
        s.try_pair(&wrong_code(&code, n), None).await.assert_error(401, "pairing_invalid");
    }
    assert_eq!(s.try_pair(&code, None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_malformed_and_unknown_codes_are_pairing_invalid() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let code = lisa.create_pairing(ids::solrosen()).await.code.unwrap();
    for bad in ["", "ABC", "ABCD-EFG0", "ABCD-EFGI", "ABCD-EFGH-J", "ABCD_EFGH"] {
        s.try_pair(bad, None).await.assert_error(401, "pairing_invalid");
    }
    // Well formed, but no pairing starts like this (the alphabet has 31 symbols).
    let (lookup, _) = code.split_once('-').unwrap();
    let other_lookup: String = if lookup == "2222" { "3333".into() } else { "2222".into() };
    s.try_pair(&format!("{other_lookup}-2222"), None).await.assert_error(401, "pairing_invalid");
    // Malformed bodies and names are input errors and cost no attempt.
    s.post("/v1/devices/pair", None, &json!({ "name": "x" })).await.assert_error(422, "invalid_input");
    s.try_pair(&code, Some(&"x".repeat(101))).await.assert_error(400, "invalid_input");
    assert_eq!(s.try_pair(&code, Some(&"å".repeat(100))).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_only_staff_of_the_unit_create_pairings() {
    let s = server().await;
    started(&s).await;
    let body = json!({ "unit_id": ids::solrosen() });
    for who in ["anna", "oskar", "johan"] {
        let c = s.login(who).await;
        c.post("/v1/devices/pairings", &body).await.assert_error(403, "not_permitted");
    }
    let lisa = s.login("lisa").await;
    lisa.post("/v1/devices/pairings", &json!({ "unit_id": ids::ekdal() })).await.assert_error(403, "not_permitted");
    lisa.post("/v1/devices/pairings", &json!({ "unit_id": Uuid::new_v4() })).await.assert_error(403, "not_permitted");
    let admin = s.login("admin").await;
    assert_eq!(admin.create_pairing(ids::solrosen()).await.unit.id, ids::solrosen());
    admin.post("/v1/devices/pairings", &json!({ "unit_id": Uuid::new_v4() })).await.assert_error(404, "not_found");
    s.post("/v1/devices/pairings", None, &body).await.assert_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_staff_3_two_tablets_with_the_same_code_at_once_pair_one() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let code = lisa.create_pairing(ids::solrosen()).await.code.unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, b, code) = (s.http.clone(), s.at("/v1/devices/pair"), barrier.clone(), code.clone());
            tokio::spawn(async move {
                b.wait().await;
                crate::support::send(http.post(url).json(&json!({ "code": code }))).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().status);
    }
    statuses.sort();
    assert_eq!(statuses, [200, 401], "exactly one wins");
    assert_eq!(devices(&lisa).await.devices.len(), 1);
}

// ---------------------------------------------------------------- the devices of a unit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_staff_list_the_devices_and_live_pairings_of_their_units() {
    let s = server().await;
    started(&s).await;
    let (lisa, johan, admin, anna) = (s.login("lisa").await, s.login("johan").await, s.login("admin").await, s.login("anna").await);
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let open = lisa.create_pairing(ids::solrosen()).await;
    let ekdal_open = johan.create_pairing(ids::ekdal()).await;

    let mine = devices(&lisa).await;
    assert_eq!(mine.devices.iter().map(|d| d.id).collect::<Vec<_>>(), [tablet.device.id]);
    assert_eq!(mine.pairings.iter().map(|p| p.id).collect::<Vec<_>>(), [open.id]);
    assert_eq!(mine.pairings[0].code, None, "a code is shown once, to its creator");
    let johans = devices(&johan).await;
    assert!(johans.devices.is_empty());
    assert_eq!(johans.pairings.iter().map(|p| p.id).collect::<Vec<_>>(), [ekdal_open.id]);
    let all = devices(&admin).await;
    assert_eq!((all.devices.len(), all.pairings.len()), (1, 2));
    anna.get("/v1/devices").await.assert_error(403, "not_permitted");

    // Cancelling a pairing: only staff of its unit; its code no longer pairs.
    johan.delete(&format!("/v1/devices/pairings/{}", open.id)).await.assert_error(403, "not_permitted");
    anna.delete(&format!("/v1/devices/pairings/{}", open.id)).await.assert_error(403, "not_permitted");
    assert_eq!(lisa.delete(&format!("/v1/devices/pairings/{}", open.id)).await.status, 204);
    lisa.delete(&format!("/v1/devices/pairings/{}", open.id)).await.assert_error(404, "not_found");
    s.try_pair(open.code.as_deref().unwrap(), None).await.assert_error(401, "pairing_invalid");
    assert!(devices(&lisa).await.pairings.is_empty());
    lisa.delete("/v1/devices/pairings/not-a-uuid").await.assert_error(400, "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_a_revoked_tablet_is_refused_everywhere() {
    let s = server().await;
    started(&s).await;
    let (lisa, johan) = (s.login("lisa").await, s.login("johan").await);
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let (cursor, _) = tablet.pull_all().await;
    let mut events = tablet.events().await;
    assert_eq!(events.next_within(Duration::from_secs(5)).await.map(|e| e.event).as_deref(), Some("ready"));

    let path = format!("/v1/devices/{}", tablet.device.id);
    johan.delete(&path).await.assert_error(403, "not_permitted");
    lisa.delete(&format!("/v1/devices/{}", Uuid::new_v4())).await.assert_error(404, "not_found");
    lisa.delete("/v1/devices/not-a-uuid").await.assert_error(400, "invalid_input");
    s.set_local("2026-11-25", "09:30:00").await;
    assert_eq!(lisa.delete(&path).await.status, 204);
    assert_eq!(lisa.delete(&path).await.status, 204, "revoking again changes nothing");

    assert!(events.ends_within(Duration::from_secs(10)).await, "the open event stream ends");
    // And takes itself out of the poke fan-out.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !s.state.streams.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.state.streams.is_empty(), "the ended stream is no longer registered");
    tablet.pull_raw(Some(&cursor), None).await.assert_error(401, "unauthorized");
    tablet.pull_raw(None, None).await.assert_error(401, "unauthorized");
    let push = tablet
        .push_envelopes_raw(&[(Uuid::new_v4(), "attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "08:00:00"), Some(lisa.id()))])
        .await;
    push.assert_error(401, "unauthorized");
    tablet.get("/v1/device").await.assert_error(401, "unauthorized");
    tablet.get("/v1/sync/events").await.assert_error(401, "unauthorized");
    tablet
        .post("/v1/device/password-unlock", &json!({ "username": "lisa", "password": PASSWORD }))
        .await
        .assert_error(401, "unauthorized");

    let listed: Vec<DeviceInfo> = devices(&lisa).await.devices;
    assert_eq!(listed.len(), 1, "a revoked device stays listed");
    assert_eq!(listed[0].revoked_at, Some(sthlm("2026-11-25", "09:30:00")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_a_tablet_unpairs_itself() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    assert_eq!(tablet.delete("/v1/device").await.status, 204);
    tablet.get("/v1/device").await.assert_error(401, "unauthorized");
    tablet.pull_raw(None, None).await.assert_error(401, "unauthorized");
    assert!(devices(&lisa).await.devices[0].revoked_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_credential_and_a_session_each_keep_to_their_routes() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    tablet.get("/v1/me").await.assert_error(403, "not_permitted");
    tablet.get("/v1/devices").await.assert_error(403, "not_permitted");
    tablet.put("/v1/me/pin", &json!({ "pin": "5093" })).await.assert_error(403, "not_permitted");
    lisa.get("/v1/device").await.assert_error(403, "not_permitted");
    lisa.delete("/v1/device").await.assert_error(403, "not_permitted");
    let unlock = json!({ "username": "lisa", "password": PASSWORD });
    lisa.post("/v1/device/password-unlock", &unlock).await.assert_error(403, "not_permitted");
    s.get("/v1/device", Some("hubdev_not-a-real-one")).await.assert_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_a_tablet_is_seen_when_it_calls() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    assert_eq!(tablet.device.last_seen_at, Some(sthlm("2026-11-25", "09:00:00")));
    s.set_local("2026-11-25", "11:15:00").await;
    tablet.pull_all().await;
    // Written in the background after the pull: look until it shows.
    for _ in 0..50 {
        if devices(&lisa).await.devices[0].last_seen_at == Some(sthlm("2026-11-25", "11:15:00")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("last_seen_at was not written");
}

// ---------------------------------------------------------------- PINs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_trivial_and_malformed_pins_are_refused() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    for trivial in ["0000", "1234", "1111", "9876", "1212"] {
        lisa.put("/v1/me/pin", &json!({ "pin": trivial })).await.assert_error(422, "pin_trivial");
    }
    for bad in ["12a4", "48261", "482", "", " 4826"] {
        lisa.put("/v1/me/pin", &json!({ "pin": bad })).await.assert_error(400, "invalid_input");
    }
    for who in ["anna", "oskar"] {
        let c = s.login(who).await;
        c.put("/v1/me/pin", &json!({ "pin": "5093" })).await.assert_error(403, "not_permitted");
        c.delete("/v1/me/pin").await.assert_error(403, "not_permitted");
    }
    lisa.set_pin("5093").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_the_pin_verifier_reaches_the_units_tablets_and_no_one_else() {
    let s = server().await;
    started(&s).await;
    let (lisa, johan) = (s.login("lisa").await, s.login("johan").await);
    let solrosen = s.pair_tablet(&lisa, ids::solrosen()).await;
    let ekdal = s.pair_tablet(&johan, ids::ekdal()).await;

    // The demo PIN first (README): lisa 4826.
    let (cursor, r) = solrosen.snapshot().await;
    let ts = tablet_staff(&r, ids::solrosen(), lisa.id()).expect("lisa on the Solrosen tablet");
    assert_eq!(ts.display_name, "Lisa Ek");
    assert!(ts.pin.as_ref().unwrap().verify(sync_server::demo::LISA_PIN));

    lisa.set_pin("5093").await;
    let (_, delta) = solrosen.delta(&cursor).await;
    let ts: Vec<TabletStaff> = upserts(&delta, e::TABLET_STAFF_TYPE);
    assert_eq!(ts.len(), 1, "the new verifier comes by pull");
    let v = ts[0].pin.clone().expect("a verifier");
    assert!(v.verify("5093"));
    assert!(!v.verify("4826"));
    assert_eq!(ts[0].pin_state, unlocked_at(sthlm("2026-11-25", "09:00:00")), "lisa's sign-in still holds");

    // Nobody but the unit's tablets sees a verifier.
    for c in [&lisa, &s.login("anna").await, &s.login("admin").await] {
        let (_, r) = c.snapshot().await;
        assert_eq!(r.count(e::TABLET_STAFF_TYPE), 0, "no tablet_staff for {}", c.user.username);
    }
    let (_, r) = ekdal.snapshot().await;
    assert!(tablet_staff(&r, ids::ekdal(), johan.id()).is_some());
    assert_eq!(r.count(e::TABLET_STAFF_TYPE), 1, "only Ekdalsskolan's staff on its tablet");

    // Removed: the tablet keeps the staff member, without a PIN.
    assert_eq!(lisa.delete("/v1/me/pin").await.status, 204);
    let (_, r) = solrosen.snapshot().await;
    assert_eq!(tablet_staff(&r, ids::solrosen(), lisa.id()).unwrap().pin, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_four_wrong_pins_then_a_right_one_reset_the_count() {
    let s = server().await;
    let now = s.set_local("2026-11-25", "09:00:00").await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    for i in 1..=4u32 {
        let r = tablet.pin_attempt(lisa.id(), false, now).await;
        assert_applied(&r);
        assert_eq!(r.details.as_ref().unwrap().value()["failures"], i);
        assert_eq!(r.details.as_ref().unwrap().value()["attempts_left"], 5 - i);
    }
    assert_eq!(
        pin_state_on(&tablet, ids::solrosen(), lisa.id()).await,
        PinState { failures: 4, locked: false, unlocked_at: Some(now) }
    );
    let r = tablet.pin_attempt(lisa.id(), true, now).await;
    assert_applied(&r);
    assert_eq!(r.details.unwrap().value()["locked"], false);
    assert_eq!(pin_state_on(&tablet, ids::solrosen(), lisa.id()).await, unlocked_at(now));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_five_wrong_pins_in_a_row_lock_the_pin_on_every_tablet() {
    let s = server().await;
    let now = s.set_local("2026-11-25", "09:00:00").await;
    let lisa = s.login("lisa").await;
    let (a, b) = (s.pair_tablet(&lisa, ids::solrosen()).await, s.pair_tablet(&lisa, ids::solrosen()).await);
    // Counted on two tablets, one of them offline for a while: the count is the staff member's.
    let batch: Vec<_> = (0..3)
        .map(|i| (Uuid::new_v4(), "staff.pin_attempt", json!({ "user_id": lisa.id(), "ok": false, "at": now + Minutes::minutes(i) }), None))
        .collect();
    assert!(a.push_envelopes(batch).await.results.iter().all(|r| r.status == MutationStatus::Applied));
    assert_applied(&b.pin_attempt(lisa.id(), false, now).await);
    let fifth = b.pin_attempt(lisa.id(), false, now).await;
    assert_eq!(fifth.details.unwrap().value()["locked"], true);
    for t in [&a, &b] {
        assert_eq!(
            pin_state_on(t, ids::solrosen(), lisa.id()).await,
            PinState { failures: 5, locked: true, unlocked_at: Some(now) }
        );
    }
    // A right PIN afterwards does not unlock (the tablet refuses it too; a late report of one
    // changes nothing).
    let r = a.pin_attempt(lisa.id(), true, now).await;
    assert_applied(&r);
    assert_eq!(r.details.unwrap().value()["locked"], true);
    assert!(pin_state_on(&a, ids::solrosen(), lisa.id()).await.locked);
}

async fn locked_lisa(s: &TestServer) -> (Client, crate::support::Tablet) {
    let now = s.set_local("2026-11-25", "09:00:00").await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    for _ in 0..5 {
        assert_applied(&tablet.pin_attempt(lisa.id(), false, now).await);
    }
    assert!(pin_state_on(&tablet, ids::solrosen(), lisa.id()).await.locked);
    (lisa, tablet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_a_password_sign_in_on_the_tablet_unlocks_the_pin() {
    let s = server().await;
    let (lisa, tablet) = locked_lisa(&s).await;
    let unlock = |username: &str, password: &str| json!({ "username": username, "password": password });
    tablet.post("/v1/device/password-unlock", &unlock("lisa", "wrong")).await.assert_error(401, "invalid_credentials");
    tablet.post("/v1/device/password-unlock", &unlock("nobody", PASSWORD)).await.assert_error(401, "invalid_credentials");
    // Staff of another unit, or a guardian, are not staff of this tablet's unit.
    tablet.post("/v1/device/password-unlock", &unlock("johan", PASSWORD)).await.assert_error(401, "invalid_credentials");
    tablet.post("/v1/device/password-unlock", &unlock("anna", PASSWORD)).await.assert_error(401, "invalid_credentials");
    assert!(pin_state_on(&tablet, ids::solrosen(), lisa.id()).await.locked, "still locked");

    let r = tablet.post("/v1/device/password-unlock", &unlock("lisa", PASSWORD)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["id"], json!(lisa.id()));
    assert_eq!(r.body["user"]["role"], json!(Role::Staff));
    assert_eq!(pin_state_on(&tablet, ids::solrosen(), lisa.id()).await, unlocked_at(sthlm("2026-11-25", "09:00:00")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_a_password_sign_in_elsewhere_unlocks_the_pin() {
    let s = server().await;
    let (lisa, tablet) = locked_lisa(&s).await;
    assert_eq!(s.try_login("lisa", "wrong").await.status, 401);
    assert!(pin_state_on(&tablet, ids::solrosen(), lisa.id()).await.locked);
    let (cursor, _) = tablet.pull_all().await;
    s.login("lisa").await;
    assert_eq!(pin_state_on(&tablet, ids::solrosen(), lisa.id()).await, unlocked_at(sthlm("2026-11-25", "09:00:00")));
    // Another login with nothing to unlock writes nothing the tablets would pull.
    let (cursor2, _) = tablet.delta(&cursor).await;
    s.login("lisa").await;
    let (_, delta) = tablet.delta(&cursor2).await;
    assert!(delta.is_empty(), "{delta:?}");
}

// R-STAFF-3: a tablet offline since before the sign-in reports its wrong PINs after it.
// Made before the password sign-in, they do not count towards a new lockout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_wrong_pins_made_before_a_password_sign_in_and_pushed_after_it_do_not_count() {
    let s = server().await;
    let now = s.set_local("2026-11-25", "09:00:00").await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let offline = offline_attempts(lisa.id(), false, &[1, 2, 3, 4].map(|m| now + Minutes::minutes(m)));

    let signed_in = s.set_local("2026-11-25", "10:00:00").await;
    s.login("lisa").await;
    let pushed = tablet.push_envelopes(offline).await;
    for r in &pushed.results {
        assert_applied(r);
        assert_eq!(r.details.as_ref().unwrap().value()["failures"], 0, "made before the sign-in: {r:?}");
    }
    let fifth = tablet.pin_attempt(lisa.id(), false, signed_in + Minutes::minutes(1)).await;
    assert_applied(&fifth);
    let d = fifth.details.unwrap().value();
    assert_eq!((d["locked"].clone(), d["attempts_left"].clone()), (json!(false), json!(4)));
    assert_eq!(
        pin_state_on(&tablet, ids::solrosen(), lisa.id()).await,
        PinState { failures: 1, locked: false, unlocked_at: Some(signed_in) }
    );
}

// R-STAFF-3: wrong PINs made against the old PIN before its owner changed it at a desk
// (signed in with a password, in a session older than the attempts), reported after the
// change, do not count against the new PIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_wrong_pins_made_before_a_pin_change_do_not_count_against_the_new_pin() {
    let s = server().await;
    let now = s.set_local("2026-11-25", "09:00:00").await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let offline = offline_attempts(lisa.id(), false, &[1, 2, 3, 4, 5].map(|m| now + Minutes::minutes(m)));

    let changed = s.set_local("2026-11-25", "10:00:00").await;
    lisa.set_pin("5931").await;
    for r in &tablet.push_envelopes(offline).await.results {
        assert_applied(r);
    }
    assert_eq!(pin_state_on(&tablet, ids::solrosen(), lisa.id()).await, unlocked_at(changed), "the new PIN is not locked");
    // Wrong PINs after the change count as ever.
    let later = tablet.pin_attempt(lisa.id(), false, changed + Minutes::minutes(1)).await;
    assert_eq!(later.details.expect("details").value()["attempts_left"], 4);
}

// R-STAFF-3: nor do they re-lock a PIN the password has just unlocked, and a right PIN made
// before the unlock resets nothing after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_wrong_pins_made_before_a_password_unlock_do_not_lock_the_pin_again() {
    let s = server().await;
    let (lisa, b) = locked_lisa(&s).await;
    let a = s.pair_tablet(&lisa, ids::solrosen()).await;
    let before = |m| sthlm("2026-11-25", "09:00:00") + Minutes::minutes(m);
    let offline = offline_attempts(lisa.id(), false, &[1, 2, 3, 4, 5].map(before));

    let unlocked = s.set_local("2026-11-25", "09:30:00").await;
    let r = b.post("/v1/device/password-unlock", &json!({ "username": "lisa", "password": PASSWORD })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(a.push_envelopes(offline).await.results.iter().all(|r| r.status == MutationStatus::Applied));
    for t in [&a, &b] {
        assert_eq!(pin_state_on(t, ids::solrosen(), lisa.id()).await, unlocked_at(unlocked), "still unlocked");
    }
    for m in 1..=4 {
        assert_applied(&b.pin_attempt(lisa.id(), false, unlocked + Minutes::minutes(m)).await);
    }
    assert_applied(&a.push_envelopes(offline_attempts(lisa.id(), true, &[before(6)])).await.results[0]);
    let fifth = b.pin_attempt(lisa.id(), false, unlocked + Minutes::minutes(5)).await;
    assert_eq!(fifth.details.unwrap().value()["locked"], true, "the late right PIN did not break the run");
}

// R-STAFF-3: attempts made after the sign-in count as before, however late they arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_five_wrong_pins_made_after_a_password_sign_in_lock_the_pin() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let signed_in = s.set_local("2026-11-25", "10:00:00").await;
    s.login("lisa").await;
    let offline = offline_attempts(lisa.id(), false, &[0, 1, 2, 3, 4].map(|m| signed_in + Minutes::minutes(m)));
    s.set_local("2026-11-25", "15:00:00").await;
    let pushed = tablet.push_envelopes(offline).await;
    assert!(pushed.results.iter().all(|r| r.status == MutationStatus::Applied));
    assert_eq!(pushed.results[4].details.as_ref().unwrap().value()["locked"], true);
    assert_eq!(
        pin_state_on(&tablet, ids::solrosen(), lisa.id()).await,
        PinState { failures: 5, locked: true, unlocked_at: Some(signed_in) }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_3_pin_attempts_are_reported_by_the_staff_members_tablets_only() {
    let s = server().await;
    let now = s.set_local("2026-11-25", "09:00:00").await;
    let (lisa, johan) = (s.login("lisa").await, s.login("johan").await);
    let ekdal = s.pair_tablet(&johan, ids::ekdal()).await;
    let attempt = json!({ "user_id": lisa.id(), "ok": false, "at": now });
    assert_rejected(&lisa.push_one("staff.pin_attempt", attempt.clone()).await, RejectCode::NotPermitted);
    assert_rejected(&ekdal.push_as(None, "staff.pin_attempt", attempt).await, RejectCode::NotPermitted);
    assert_rejected(&ekdal.push_as(None, "staff.pin_attempt", json!({ "user_id": lisa.id(), "ok": false })).await, RejectCode::InvalidInput);
    let solrosen = s.pair_tablet(&lisa, ids::solrosen()).await;
    assert_eq!(pin_state_on(&solrosen, ids::solrosen(), lisa.id()).await, PinState::default(), "nothing counted");
}

// ---------------------------------------------------------------- what a tablet sees

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_1_a_tablet_sees_its_units_children_and_nothing_personal() {
    let s = server().await;
    started(&s).await;
    let (lisa, johan, anna) = (s.login("lisa").await, s.login("johan").await, s.login("anna").await);
    assert_applied(&anna.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")])).await);
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let (_, r) = tablet.snapshot().await;
    let children: Vec<e::Child> = r.all(e::CHILD_TYPE);
    let mut names: Vec<&str> = children.iter().map(|c| c.first_name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Elsa", "Noah"], "no Ekdalsskolan child");
    assert!(r.get::<e::CareDay>(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), day("2026-11-26"))).is_some());
    assert_eq!(r.all::<e::Unit>(e::UNIT_TYPE).iter().map(|u| u.id).collect::<Vec<_>>(), [ids::solrosen()]);
    assert!(r.count(e::GROUP_TYPE) >= 1);
    for personal in [
        e::THREAD_TYPE,
        e::MESSAGE_TYPE,
        e::THREAD_READ_TYPE,
        e::TALK_SLOT_TYPE,
        e::TALK_BOOKING_TYPE,
        e::USER_TYPE,
        e::NOTIFICATION_TYPE,
        e::LESSON_TYPE,
    ] {
        assert_eq!(r.count(personal), 0, "a tablet holds no {personal}");
    }
    assert!(tablet_staff(&r, ids::solrosen(), lisa.id()).is_some());
    assert!(tablet_staff(&r, ids::ekdal(), johan.id()).is_none());

    let ekdal = s.pair_tablet(&johan, ids::ekdal()).await;
    let (_, r) = ekdal.snapshot().await;
    let children: Vec<e::Child> = r.all(e::CHILD_TYPE);
    assert_eq!(children.iter().map(|c| c.id).collect::<Vec<_>>(), [ids::oskar()]);
    assert!(r.count(e::LESSON_TYPE) > 0, "the class's lessons");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_1_a_tablet_is_poked_when_its_unit_changes() {
    let s = server().await;
    started(&s).await;
    let (lisa, anna, johan) = (s.login("lisa").await, s.login("anna").await, s.login("johan").await);
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let mut events = tablet.events().await;
    assert_eq!(events.next_within(Duration::from_secs(5)).await.map(|e| e.event).as_deref(), Some("ready"));
    // Elsewhere: nothing.
    assert_applied(&johan.push_one("attendance.mark", mark(ids::oskar(), "arrived", "2026-11-25", "08:00:00")).await);
    assert_eq!(events.next_within(Duration::from_millis(500)).await, None);
    assert_applied(&anna.push_one("care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-26", "text": "Mormor hämtar" })).await);
    assert_eq!(events.next_within(Duration::from_secs(5)).await.map(|e| e.event).as_deref(), Some("poke"));
    lisa.set_pin("5093").await;
    assert_eq!(events.next_within(Duration::from_secs(5)).await.map(|e| e.event).as_deref(), Some("poke"));
}

// ---------------------------------------------------------------- what a tablet does

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_2_a_tablet_applies_mutations_as_the_staff_member_named() {
    let s = server().await;
    started(&s).await;
    let (lisa, anna) = (s.login("lisa").await, s.login("anna").await);
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let me = Some(lisa.id());
    assert_applied(&tablet.push_as(me, "attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "07:45:00")).await);
    assert_applied(&tablet.push_as(me, "absence.report", json!({ "child_id": ids::noah(), "date": "2026-11-25" })).await);
    assert_applied(&tablet.push_as(me, "care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-25", "text": "Sov gott" })).await);
    assert_applied(&tablet.push_as(me, "care.set_day", set_day_args(ids::elsa(), "2026-11-25", &[("07:45", "15:00")])).await);
    assert_applied(&tablet.push_as(me, "care.comment_seen", json!({ "child_id": ids::elsa(), "date": "2026-11-25" })).await);
    assert_applied(&tablet.push_as(me, "care.clear_day", json!({ "child_id": ids::elsa(), "date": "2026-11-27" })).await);

    let (_, r) = anna.snapshot().await;
    let a: e::Attendance = r.get(e::ATTENDANCE_TYPE, e::attendance_id(ids::elsa(), day("2026-11-25"))).unwrap();
    assert_eq!((a.arrived_at, a.updated_by), (Some(sthlm("2026-11-25", "07:45:00")), lisa.id()));
    let d: e::CareDay = r.get(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), day("2026-11-25"))).unwrap();
    assert_eq!((d.updated_by, d.updated_by_name.as_str()), (lisa.id(), "Lisa Ek"));
    let c: Vec<e::CareComment> = r.all(e::CARE_COMMENT_TYPE);
    assert_eq!((c[0].author_id, c[0].author_role, c[0].new_for_staff), (lisa.id(), Role::Staff, false));
    let (_, r) = s.login("maria").await.snapshot().await;
    let abs: e::Absence = r.get(e::ABSENCE_TYPE, e::absence_id(ids::noah(), day("2026-11-25"))).unwrap();
    assert_eq!((abs.reported_by, abs.status), (lisa.id(), e::AbsenceStatus::Confirmed));
    // Confirming a guardian's report (R-ABS-5).
    let rep = s.login("maria").await.push_one("absence.report", json!({ "child_id": ids::noah(), "date": "2026-11-26" })).await;
    assert_applied(&rep);
    let abs_id = e::absence_id(ids::noah(), day("2026-11-26"));
    assert_applied(&tablet.push_as(me, "absence.confirm", json!({ "absence_id": abs_id })).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_2_a_tablet_acts_only_for_staff_of_its_unit_on_its_units_children() {
    let s = server().await;
    started(&s).await;
    let (lisa, johan, anna) = (s.login("lisa").await, s.login("johan").await, s.login("anna").await);
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let arrive = mark(ids::elsa(), "arrived", "2026-11-25", "08:00:00");
    for who in [johan.id(), anna.id(), s.login("admin").await.id(), Uuid::new_v4()] {
        assert_rejected(&tablet.push_as(Some(who), "attendance.mark", arrive.clone()).await, RejectCode::NotPermitted);
    }
    assert_rejected(&tablet.push_as(None, "attendance.mark", arrive.clone()).await, RejectCode::InvalidInput);

    // Personal things are not done on a shared tablet.
    let me = Some(lisa.id());
    let personal = [
        ("message.send", json!({ "recipients": [anna.id()], "title": "Hej", "body": "Hej" })),
        ("message.read", json!({ "thread_id": Uuid::new_v4() })),
        ("talk.book", json!({ "slot_id": ids::solrosen_slot(1), "child_id": ids::elsa() })),
        ("talk.cancel", json!({ "booking_id": Uuid::new_v4() })),
        ("notification.read", json!({ "ids": [] })),
        ("care.set_week", json!({ "child_id": ids::elsa(), "week_start": "2026-11-30", "days": [] })),
    ];
    for (name, args) in personal {
        assert_rejected(&tablet.push_as(me, name, args).await, RejectCode::NotPermitted);
    }

    // A staff member of two units, on a Solrosen tablet, touches only Solrosen's children.
    let (lisa_id, ekdal) = (lisa.id(), ids::ekdal());
    s.state.store.write(move |tx| tx.add_staff_unit(lisa_id, ekdal)).await.unwrap();
    let oskar_arrives = mark(ids::oskar(), "arrived", "2026-11-25", "08:00:00");
    assert_rejected(&tablet.push_as(me, "attendance.mark", oskar_arrives.clone()).await, RejectCode::NotPermitted);
    assert_applied(&tablet.push_as(me, "attendance.mark", arrive).await);
    assert_applied(&lisa.push_one("attendance.mark", oskar_arrives).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_2_attendance_rules_hold_on_a_tablet_and_late_marks_keep_their_times() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let me = Some(lisa.id());
    assert_rejected(&tablet.push_as(me, "attendance.mark", mark(ids::elsa(), "departed", "2026-11-25", "09:00:00")).await, RejectCode::NoArrival);
    assert_rejected(&tablet.push_as(me, "attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "10:30:01")).await, RejectCode::TimeInFuture);

    // A day offline: the marks sync the next morning with the times they happened.
    let day_marks = vec![
        (Uuid::new_v4(), "attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "07:41:00"), me),
        (Uuid::new_v4(), "attendance.mark", mark(ids::noah(), "arrived", "2026-11-25", "08:12:00"), me),
        (Uuid::new_v4(), "attendance.mark", mark(ids::elsa(), "departed", "2026-11-25", "15:58:00"), me),
    ];
    s.set_local("2026-11-26", "07:30:00").await;
    let res = tablet.push_envelopes(day_marks).await;
    for r in &res.results {
        assert_applied(r);
        assert_eq!(r.details.as_ref().unwrap().value()["date"], "2026-11-25");
    }
    let (_, r) = tablet.snapshot().await;
    let a: e::Attendance = r.get(e::ATTENDANCE_TYPE, e::attendance_id(ids::elsa(), day("2026-11-25"))).unwrap();
    assert_eq!(a.arrived_at, Some(sthlm("2026-11-25", "07:41:00")));
    assert_eq!(a.departed_at, Some(sthlm("2026-11-25", "15:58:00")));
    let n: e::Attendance = r.get(e::ATTENDANCE_TYPE, e::attendance_id(ids::noah(), day("2026-11-25"))).unwrap();
    assert_eq!(n.arrived_at, Some(sthlm("2026-11-25", "08:12:00")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_staff_2_a_replay_from_the_tablet_returns_its_first_results_and_changes_nothing() {
    let s = server().await;
    started(&s).await;
    let lisa = s.login("lisa").await;
    let tablet = s.pair_tablet(&lisa, ids::solrosen()).await;
    let me = Some(lisa.id());
    let batch = vec![
        (Uuid::new_v4(), "attendance.mark", mark(ids::elsa(), "arrived", "2026-11-25", "08:00:00"), me),
        (Uuid::new_v4(), "attendance.mark", mark(ids::noah(), "departed", "2026-11-25", "08:00:00"), me),
        (Uuid::new_v4(), "care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-25", "text": "Glad" }), me),
        (Uuid::new_v4(), "staff.pin_attempt", json!({ "user_id": lisa.id(), "ok": false, "at": sthlm("2026-11-25", "09:00:00") }), None),
    ];
    let first = tablet.push_envelopes(batch.clone()).await;
    assert_eq!(
        first.results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [MutationStatus::Applied, MutationStatus::Rejected, MutationStatus::Applied, MutationStatus::Applied]
    );
    let (cursor, _) = tablet.pull_all().await;
    s.set_local("2026-11-25", "09:05:00").await;
    let again = tablet.push_envelopes(batch.clone()).await;
    assert_eq!(again.results, first.results);
    let (_, delta) = tablet.delta(&cursor).await;
    assert!(delta.is_empty(), "a replay changes nothing: {delta:?}");
    assert_eq!(pin_state_on(&tablet, ids::solrosen(), lisa.id()).await.failures, 1, "the attempt counted once");

    // The ids belong to the tablet: not to lisa's own session, nor to another tablet.
    let stolen = lisa.push(vec![(batch[0].0, batch[0].1, batch[0].2.clone())]).await;
    assert_rejected(&stolen.results[0], RejectCode::InvalidInput);
    let other = s.pair_tablet(&lisa, ids::solrosen()).await;
    assert_rejected(&other.push_envelopes(vec![batch[2].clone()]).await.results[0], RejectCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_acts_only_for_its_own_user() {
    let s = server().await;
    started(&s).await;
    let (anna, erik) = (s.login("anna").await, s.login("erik").await);
    let args = json!({ "child_id": ids::elsa(), "date": "2026-11-26", "text": "Mormor hämtar" });
    let push = |actor: Uuid| {
        let body = json!({ "client_id": anna.client_id, "mutations": [{ "id": Uuid::new_v4(), "name": "care.comment", "args": args, "actor": actor }] });
        let anna = anna.clone();
        async move { anna.post("/v1/sync/push", &body).await }
    };
    let r = push(erik.id()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["results"][0]["code"], "not_permitted");
    let r = push(anna.id()).await;
    assert_eq!(r.body["results"][0]["status"], "applied", "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_tablet_routes() {
    let s = server().await;
    let doc = s.get("/openapi.json", None).await.body;
    for path in [
        "/v1/devices",
        "/v1/devices/pairings",
        "/v1/devices/pairings/{id}",
        "/v1/devices/pair",
        "/v1/devices/{id}",
        "/v1/device",
        "/v1/device/password-unlock",
        "/v1/me/pin",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} in /openapi.json");
    }
    for schema in ["PairingInfo", "PairResponse", "DeviceInfo", "DevicesResponse", "SetPinRequest", "PasswordUnlockRequest"] {
        assert!(doc["components"]["schemas"].get(schema).is_some(), "{schema} in /openapi.json");
    }
}
