//! The contract tests' harness: a real sync server in process on a loopback port, on a
//! fresh database per test, with the demo data and the dev clock; a small typed client.
//!
//! Database: a fresh temporary SQLite file (removed on drop), or, when
//! `HUB_TEST_DATABASE_URL` starts with `postgres`, a fresh PostgreSQL database from
//! [`pg::fresh_database`], so the same suite runs on both stores.
//!
//! Time: tests stand on fixed instants with [`TestServer::set_local`] (Stockholm wall-clock
//! time) and never on the real date. The demo seeds its dated things (talk slots, news, a few
//! care days) around the *real* time at seeding; the rules use the clock at request time.
//! Sessions expire 90 days after login by the server's clock, so set the clock first, then
//! log in, and keep a test's instants within a few weeks of each other.

#![allow(dead_code)]

pub mod pg;

use std::any::Any;
use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use domain::time::DEFAULT_TIME_ZONE;
use domain::wire::{
    Change, ChangeOp, DeviceInfo, MeResponse, MutationResult, MutationStatus, PairingInfo, PullResponse, PushResponse,
    Role, UserInfo,
};
use domain::RejectCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sync_server::config::Config;
use sync_server::RunningServer;
use uuid::Uuid;

/// Every demo account's password.
pub const PASSWORD: &str = "hub-demo-1";

// ---------------------------------------------------------------- databases

/// A database for one test: its URL, and whatever removes it when the test ends.
pub struct TestDb {
    pub url: String,
    pub guard: Box<dyn Any + Send + Sync>,
}

/// A temporary SQLite file (and its WAL companions), removed on drop.
struct TempSqlite(PathBuf);

impl Drop for TempSqlite {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn temp_sqlite() -> TestDb {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("hub-contract-{}-{}-{nanos}.db", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let path = std::env::temp_dir().join(name);
    TestDb { url: format!("sqlite:{}", path.display()), guard: Box::new(TempSqlite(path)) }
}

/// A fresh database: PostgreSQL when `HUB_TEST_DATABASE_URL=postgres…`, else a temp SQLite file.
pub async fn db_url() -> TestDb {
    match std::env::var("HUB_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => pg::fresh_database(&url).await,
        _ => temp_sqlite(),
    }
}

// ---------------------------------------------------------------- the server

/// A running server and its database; derefs to [`RunningServer`] (`.state`, `.url()`).
pub struct TestServer {
    running: Option<RunningServer>,
    pub http: reqwest::Client,
    base: String,
    _db: TestDb,
}

/// The demo server with the dev clock: what almost every test uses.
pub async fn server() -> TestServer {
    server_with(true, true).await
}

/// An empty database (no demo data), dev clock on.
pub async fn server_without_demo() -> TestServer {
    server_with(false, true).await
}

/// The demo server without `--dev-clock`.
pub async fn server_without_dev_clock() -> TestServer {
    server_with(true, false).await
}

pub async fn server_with(demo: bool, dev_clock: bool) -> TestServer {
    let db = db_url().await;
    let config = Config { listen: "127.0.0.1:0".into(), db: db.url.clone(), demo, dev_clock, dev_clock_at: None };
    let running = sync_server::start(config).await.expect("the server starts");
    let base = running.url();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client");
    TestServer { running: Some(running), http, base, _db: db }
}

impl TestServer {
    /// The database's URL (`sqlite:PATH` or `postgres://…`).
    pub fn db_url(&self) -> &str {
        &self._db.url
    }
}

impl Deref for TestServer {
    type Target = RunningServer;
    fn deref(&self) -> &RunningServer {
        self.running.as_ref().expect("server running")
    }
}

/// A raw answer: the status and the body as JSON (`Value::String` of the text if not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
}

impl Resp {
    /// Asserts the contract's error shape `{"error": {"code", "message"}}` with this status
    /// and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status; body {}", self.body);
        assert_error_shape(&self.body, code);
    }
}

#[track_caller]
pub fn assert_error_shape(body: &Value, code: &str) {
    let err = body.get("error").unwrap_or_else(|| panic!("no error object in {body}"));
    assert_eq!(err.get("code").and_then(Value::as_str), Some(code), "error code in {body}");
    let msg = err.get("message").and_then(Value::as_str).unwrap_or_else(|| panic!("no message in {body}"));
    assert!(!msg.is_empty(), "empty error message in {body}");
}

pub async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let res = rb.send().await.expect("request sent");
    let status = res.status().as_u16();
    let text = res.text().await.expect("response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp { status, body }
}

impl TestServer {
    pub fn url(&self) -> String {
        self.base.clone()
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let mut rb = self.http.get(self.at(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        send(rb).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        let mut rb = self.http.post(self.at(path)).json(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        send(rb).await
    }

    /// `POST /v1/devices/pair` as a tablet does it, without a token.
    pub async fn try_pair(&self, code: &str, name: Option<&str>) -> Resp {
        self.post("/v1/devices/pair", None, &json!({ "code": code, "name": name })).await
    }

    /// Pairs a new tablet to `unit` with a code `staff` creates.
    pub async fn pair_tablet(&self, staff: &Client, unit: Uuid) -> Tablet {
        let pairing = staff.create_pairing(unit).await;
        let code = pairing.code.expect("a new pairing shows its code");
        let r = self.try_pair(&code, None).await;
        assert_eq!(r.status, 200, "pairing with {code}: {}", r.body);
        self.tablet_from(&r.body)
    }

    /// The tablet of a successful `POST /v1/devices/pair` answer.
    pub fn tablet_from(&self, body: &Value) -> Tablet {
        let token = body["token"].as_str().expect("device credential").to_string();
        let device: DeviceInfo = serde_json::from_value(body["device"].clone()).expect("device info");
        // A tablet is no user: `user` only carries the device's id for `Client::id`.
        let user = UserInfo {
            id: device.id,
            username: format!("device:{}", device.id),
            display_name: device.name.clone(),
            role: Role::Staff,
            locale: Default::default(),
        };
        let client = Client { base: self.base.clone(), http: self.http.clone(), token, user, client_id: Uuid::new_v4() };
        Tablet { client, device }
    }

    /// Fixes the server's clock (`POST /v1/dev/clock`).
    pub async fn set_clock(&self, rfc3339: &str) {
        let r = self.post("/v1/dev/clock", None, &json!({ "now": rfc3339 })).await;
        assert_eq!(r.status, 200, "setting the dev clock: {}", r.body);
        let now: DateTime<Utc> = serde_json::from_value(r.body["now"].clone()).expect("clock answer");
        let want = DateTime::parse_from_rfc3339(rfc3339).expect("rfc3339").with_timezone(&Utc);
        assert_eq!(now, want, "the dev clock reports the instant it was set to");
    }

    pub async fn set_clock_at(&self, now: DateTime<Utc>) {
        self.set_clock(&now.to_rfc3339()).await;
    }

    /// Fixes the server's clock at a Stockholm wall-clock time (`"2026-11-25"`, `"10:00:00"`)
    /// and returns that instant.
    pub async fn set_local(&self, date: &str, time: &str) -> DateTime<Utc> {
        let now = sthlm(date, time);
        self.set_clock_at(now).await;
        now
    }

    pub async fn try_login(&self, username: &str, password: &str) -> Resp {
        self.post("/v1/auth/login", None, &json!({ "username": username, "password": password })).await
    }

    /// Logs a demo user in with the demo password.
    pub async fn login(&self, username: &str) -> Client {
        let r = self.try_login(username, PASSWORD).await;
        assert_eq!(r.status, 200, "login {username}: {}", r.body);
        let token = r.body["token"].as_str().expect("token").to_string();
        let user: UserInfo = serde_json::from_value(r.body["user"].clone()).expect("user info");
        Client { base: self.base.clone(), http: self.http.clone(), token, user, client_id: Uuid::new_v4() }
    }

    /// Graceful shutdown; waits for the server task.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        match self.running.take() {
            Some(r) => r.shutdown().await,
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------- the client

/// A signed-in user.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub user: UserInfo,
    pub client_id: Uuid,
}

impl Client {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    pub async fn get(&self, path: &str) -> Resp {
        send(self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        send(self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        send(self.http.put(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        send(self.http.delete(format!("{}{path}", self.base)).bearer_auth(&self.token)).await
    }

    /// `POST /v1/devices/pairings` for `unit`, expected to succeed.
    pub async fn create_pairing(&self, unit: Uuid) -> PairingInfo {
        let r = self.post("/v1/devices/pairings", &json!({ "unit_id": unit })).await;
        assert_eq!(r.status, 201, "creating a pairing: {}", r.body);
        serde_json::from_value(r.body).expect("pairing info")
    }

    /// `PUT /v1/me/pin`, expected to succeed.
    pub async fn set_pin(&self, pin: &str) {
        let r = self.put("/v1/me/pin", &json!({ "pin": pin })).await;
        assert_eq!(r.status, 204, "setting PIN {pin}: {}", r.body);
    }

    pub async fn me(&self) -> MeResponse {
        let r = self.get("/v1/me").await;
        assert_eq!(r.status, 200, "me: {}", r.body);
        serde_json::from_value(r.body).expect("me response")
    }

    pub async fn logout(&self) -> u16 {
        send(self.http.post(format!("{}/v1/auth/logout", self.base)).bearer_auth(&self.token)).await.status
    }

    /// The raw push answer.
    pub async fn push_raw(&self, mutations: &[(Uuid, &str, Value)]) -> Resp {
        let ms: Vec<Value> =
            mutations.iter().map(|(id, name, args)| json!({ "id": id, "name": name, "args": args })).collect();
        self.post("/v1/sync/push", &json!({ "client_id": self.client_id, "mutations": ms })).await
    }

    pub async fn push(&self, mutations: Vec<(Uuid, &str, Value)>) -> PushResponse {
        let r = self.push_raw(&mutations).await;
        assert_eq!(r.status, 200, "push: {}", r.body);
        let res: PushResponse = serde_json::from_value(r.body).expect("push response");
        assert_eq!(res.results.len(), mutations.len(), "one result per mutation");
        for (r, (id, _, _)) in res.results.iter().zip(&mutations) {
            assert_eq!(r.id, *id, "results in order");
        }
        res
    }

    /// One mutation with a fresh id; its result.
    pub async fn push_one(&self, name: &str, args: Value) -> MutationResult {
        self.push(vec![(Uuid::new_v4(), name, args)]).await.results.remove(0)
    }

    pub async fn pull_raw(&self, cursor: Option<&str>, limit: Option<u32>) -> Resp {
        let mut body = json!({ "cursor": cursor });
        if let Some(l) = limit {
            body["limit"] = json!(l);
        }
        self.post("/v1/sync/pull", &body).await
    }

    pub async fn pull_limit(&self, cursor: Option<&str>, limit: Option<u32>) -> PullResponse {
        let r = self.pull_raw(cursor, limit).await;
        assert_eq!(r.status, 200, "pull: {}", r.body);
        serde_json::from_value(r.body).expect("pull response")
    }

    /// One page from `cursor`, naming the commit it must see (`min_commit`, docs/protocol.md
    /// "Commits").
    pub async fn pull_min(&self, cursor: Option<&str>, min_commit: Option<u64>) -> PullResponse {
        let r = self.post("/v1/sync/pull", &json!({ "cursor": cursor, "min_commit": min_commit })).await;
        assert_eq!(r.status, 200, "pull: {}", r.body);
        serde_json::from_value(r.body).expect("pull response")
    }

    /// One page from `cursor` (`None`: a full snapshot).
    pub async fn pull(&self, cursor: Option<&str>) -> PullResponse {
        self.pull_limit(cursor, None).await
    }

    /// Pages from `cursor` until `has_more` is false: the final cursor and every change.
    pub async fn pull_from(&self, cursor: Option<&str>, limit: Option<u32>) -> (String, Vec<Change>) {
        let mut cursor = cursor.map(str::to_string);
        let mut all = Vec::new();
        for _ in 0..10_000 {
            let page = self.pull_limit(cursor.as_deref(), limit).await;
            all.extend(page.changes);
            cursor = Some(page.cursor);
            if !page.has_more {
                return (cursor.unwrap_or_default(), all);
            }
        }
        panic!("pull never ended");
    }

    /// A full snapshot, all pages.
    pub async fn pull_all(&self) -> (String, Vec<Change>) {
        self.pull_from(None, None).await
    }

    /// Every change since `cursor`, all pages.
    pub async fn delta(&self, cursor: &str) -> (String, Vec<Change>) {
        self.pull_from(Some(cursor), None).await
    }

    /// A full snapshot as a replica.
    pub async fn snapshot(&self) -> (String, Replica) {
        let (c, changes) = self.pull_all().await;
        let mut r = Replica::default();
        r.apply(&changes);
        (c, r)
    }

    /// `GET /v1/sync/events`, opened and checked for its status.
    pub async fn events(&self) -> EventStream {
        let res = self
            .http
            .get(format!("{}/v1/sync/events", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .expect("events request");
        assert_eq!(res.status().as_u16(), 200, "event stream status");
        let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        EventStream { res, buf: String::new() }
    }
}

// ---------------------------------------------------------------- paired tablets

/// A tablet paired to a unit, with its device credential; derefs to a [`Client`] whose
/// token is that credential (pull, events, get, post work as for a person).
#[derive(Clone)]
pub struct Tablet {
    pub client: Client,
    pub device: DeviceInfo,
}

impl Deref for Tablet {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Tablet {
    /// A raw push of `(id, name, args, actor)` envelopes.
    pub async fn push_envelopes_raw(&self, mutations: &[(Uuid, &str, Value, Option<Uuid>)]) -> Resp {
        let ms: Vec<Value> = mutations
            .iter()
            .map(|(id, name, args, actor)| {
                let mut m = json!({ "id": id, "name": name, "args": args });
                if let Some(a) = actor {
                    m["actor"] = json!(a);
                }
                m
            })
            .collect();
        self.post("/v1/sync/push", &json!({ "client_id": self.client_id, "mutations": ms })).await
    }

    pub async fn push_envelopes(&self, mutations: Vec<(Uuid, &str, Value, Option<Uuid>)>) -> PushResponse {
        let r = self.push_envelopes_raw(&mutations).await;
        assert_eq!(r.status, 200, "tablet push: {}", r.body);
        let res: PushResponse = serde_json::from_value(r.body).expect("push response");
        assert_eq!(res.results.len(), mutations.len(), "one result per mutation");
        res
    }

    /// One mutation done on the tablet by staff member `actor` (None: no actor named).
    pub async fn push_as(&self, actor: Option<Uuid>, name: &str, args: Value) -> MutationResult {
        self.push_envelopes(vec![(Uuid::new_v4(), name, args, actor)]).await.results.remove(0)
    }

    /// A PIN attempt the tablet checked itself (`staff.pin_attempt`).
    pub async fn pin_attempt(&self, user: Uuid, ok: bool, at: DateTime<Utc>) -> MutationResult {
        self.push_as(None, "staff.pin_attempt", json!({ "user_id": user, "ok": ok, "at": at })).await
    }
}

// ---------------------------------------------------------------- results and changes

#[track_caller]
pub fn assert_applied(r: &MutationResult) {
    assert_eq!(r.status, MutationStatus::Applied, "expected applied, got {r:?}");
    assert_eq!(r.code, None, "an applied mutation has no code: {r:?}");
}

#[track_caller]
pub fn assert_rejected(r: &MutationResult, code: RejectCode) {
    assert_eq!(r.status, MutationStatus::Rejected, "expected rejected {code}, got {r:?}");
    assert_eq!(r.code, Some(code), "rejection code of {r:?}");
    assert!(r.message.as_deref().is_some_and(|m| !m.is_empty()), "a rejection has a message: {r:?}");
}

/// The changes of one entity type.
pub fn of_type<'a>(changes: &'a [Change], ty: &'a str) -> impl Iterator<Item = &'a Change> + 'a {
    changes.iter().filter(move |c| c.entity_type == ty)
}

pub fn decode<T: DeserializeOwned>(c: &Change) -> T {
    let data = c.data.clone().unwrap_or_else(|| panic!("no data in {c:?}"));
    serde_json::from_value(data).unwrap_or_else(|e| panic!("cannot decode {} {}: {e}", c.entity_type, c.id))
}

/// The upserted entities of one type, decoded.
pub fn upserts<T: DeserializeOwned>(changes: &[Change], ty: &str) -> Vec<T> {
    of_type(changes, ty).filter(|c| c.op == ChangeOp::Upsert).map(decode).collect()
}

/// What a client would hold after applying changes in order.
#[derive(Debug, Default, Clone)]
pub struct Replica {
    pub entities: BTreeMap<(String, Uuid), Value>,
}

impl Replica {
    pub fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            let key = (c.entity_type.clone(), c.id);
            match c.op {
                ChangeOp::Upsert => {
                    self.entities.insert(key, c.data.clone().unwrap_or(Value::Null));
                }
                ChangeOp::Delete => {
                    self.entities.remove(&key);
                }
            }
        }
    }

    pub fn get<T: DeserializeOwned>(&self, ty: &str, id: Uuid) -> Option<T> {
        self.entities
            .get(&(ty.to_string(), id))
            .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("cannot decode {ty} {id}: {e}")))
    }

    pub fn all<T: DeserializeOwned>(&self, ty: &str) -> Vec<T> {
        self.entities
            .iter()
            .filter(|((t, _), _)| t == ty)
            .map(|(_, v)| serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("cannot decode {ty}: {e}")))
            .collect()
    }

    pub fn count(&self, ty: &str) -> usize {
        self.entities.keys().filter(|(t, _)| t == ty).count()
    }
}

// ---------------------------------------------------------------- server-sent events

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// A `text/event-stream` read chunk by chunk.
pub struct EventStream {
    res: reqwest::Response,
    buf: String,
}

impl EventStream {
    fn take_event(&mut self) -> Option<SseEvent> {
        loop {
            let norm = self.buf.replace("\r\n", "\n");
            self.buf = norm;
            let end = self.buf.find("\n\n")?;
            let block: String = self.buf.drain(..end + 2).collect();
            let mut event = String::from("message");
            let mut data = Vec::new();
            let mut any = false;
            for line in block.lines() {
                if line.is_empty() || line.starts_with(':') {
                    continue; // comments are keep-alives
                }
                let (field, value) = line.split_once(':').map(|(f, v)| (f, v.strip_prefix(' ').unwrap_or(v))).unwrap_or((line, ""));
                match field {
                    "event" => {
                        event = value.to_string();
                        any = true;
                    }
                    "data" => {
                        data.push(value.to_string());
                        any = true;
                    }
                    _ => {}
                }
            }
            if any {
                return Some(SseEvent { event, data: data.join("\n") });
            }
        }
    }

    /// The next event within `within`, `None` on timeout or end of stream.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(e) = self.take_event() {
                return Some(e);
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk()).await.ok()?;
            match chunk {
                Ok(Some(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Whether the stream ended (the server closed it) within `within`.
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
            }
        }
    }
}

// ---------------------------------------------------------------- time and demo ids

/// A Stockholm wall-clock time as an instant (`"2026-11-25"`, `"10:00:00"`). For times that
/// occur twice (the night DST ends), the first.
pub fn sthlm(date: &str, time: &str) -> DateTime<Utc> {
    let d = day(date);
    let t = NaiveTime::parse_from_str(time, "%H:%M:%S").expect("HH:MM:SS");
    DEFAULT_TIME_ZONE
        .from_local_datetime(&d.and_time(t))
        .earliest()
        .unwrap_or_else(|| panic!("{date} {time} does not exist in Stockholm"))
        .with_timezone(&Utc)
}

pub fn day(s: &str) -> NaiveDate {
    domain::time::parse_date(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
}

pub fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Stable ids of the demo data.
pub mod ids {
    use uuid::Uuid;

    pub fn user(username: &str) -> Uuid {
        sync_server::demo::id(&format!("user/{username}"))
    }
    pub fn elsa() -> Uuid {
        sync_server::demo::id("child/Elsa")
    }
    pub fn oskar() -> Uuid {
        sync_server::demo::id("child/Oskar")
    }
    pub fn noah() -> Uuid {
        sync_server::demo::id("child/Noah")
    }
    pub fn solrosen() -> Uuid {
        sync_server::demo::id("unit/Solrosen förskola")
    }
    pub fn ekdal() -> Uuid {
        sync_server::demo::id("unit/Ekdalsskolan")
    }
    /// Lisa's talk slots for Blåbär (Elsa's and Noah's group), 1..=6.
    pub fn solrosen_slot(n: u32) -> Uuid {
        sync_server::demo::id(&format!("slot/solrosen/{n}"))
    }
    /// A lesson of class 4B: weekday 1..=5, index 0..=4 (no index 4 on Fridays).
    pub fn lesson(weekday: u8, i: usize) -> Uuid {
        sync_server::demo::id(&format!("lesson/4B/{weekday}/{i}"))
    }
}

/// `care.set_day` arguments with one or more `(start, end)` intervals.
pub fn set_day_args(child: Uuid, date: &str, intervals: &[(&str, &str)]) -> Value {
    let ivs: Vec<Value> = intervals.iter().map(|(s, e)| json!({ "start": s, "end": e })).collect();
    json!({ "child_id": child, "date": date, "intervals": ivs })
}

// ---------------------------------------------------------------- raw HTTP

/// One request over a plain socket, written while the answer is read, the way curl does it:
/// a server may answer (413) before the body is sent, and hyper's client then reports only
/// the broken pipe. Returns the status and the JSON body (`Value::String` if not JSON).
pub async fn raw_http(addr: std::net::SocketAddr, head: &str, body: Vec<u8>) -> Resp {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let head = head.to_string();
    let writer = tokio::spawn(async move {
        if wr.write_all(head.as_bytes()).await.is_ok() {
            for chunk in body.chunks(64 * 1024) {
                if wr.write_all(chunk).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let parsed = loop {
        if let Some(p) = parse_response(&buf) {
            break Some(p);
        }
        match tokio::time::timeout_at(deadline, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break parse_response(&buf),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    writer.abort();
    let (status, text) = parsed.unwrap_or_else(|| panic!("no complete HTTP response: {:?}", String::from_utf8_lossy(&buf)));
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp { status, body }
}

/// A complete `HTTP/1.1` response with a `content-length`: its status and body.
fn parse_response(buf: &[u8]) -> Option<(u16, String)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().to_string()))?
        .parse()
        .ok()?;
    let body = buf.get(end + 4..end + 4 + len)?;
    Some((status, String::from_utf8_lossy(body).to_string()))
}
