//! Harness for the cross-crate tests: the real sync server in process on loopback (a temp
//! SQLite file per test, demo data, dev clock), app-core devices, a TCP proxy per device to
//! cut its network, and server-side snapshots to compare replicas with.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use app_core::{AppCore, CoreOptions, SystemClock, TokenStoreKind};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::interval::Interval;
use domain::time::DEFAULT_TIME_ZONE;
use domain::wire::{ChangeOp, LoginResponse, PullResponse};
use serde_json::{json, Value};
use sync_server::config::Config;
use sync_server::RunningServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

pub use app_core;
pub use domain;
pub use sync_server;

/// Every demo password.
pub const PASSWORD: &str = "hub-demo-1";

/// A Stockholm wall-clock instant, `"2030-09-04 10:00"`.
pub fn local(s: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .unwrap_or_else(|e| panic!("bad local time {s:?}: {e}"));
    DEFAULT_TIME_ZONE
        .from_local_datetime(&naive)
        .single()
        .unwrap_or_else(|| panic!("{s} is not a unique local time"))
        .with_timezone(&Utc)
}

pub fn d(s: &str) -> NaiveDate {
    domain::time::parse_date(s).unwrap_or_else(|e| panic!("bad date {s:?}: {e}"))
}

/// An interval `"07:30", "16:00"`.
pub fn iv(a: &str, b: &str) -> Interval {
    Interval::new(a.parse().expect("HH:MM"), b.parse().expect("HH:MM"))
}

// ---------------------------------------------------------------- server

/// The real sync server in this process, on a temp SQLite file, with demo data and the dev
/// clock. Can be stopped and started again on the same address and database.
pub struct TestServer {
    running: Option<RunningServer>,
    pub addr: SocketAddr,
    pub db: PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("hub.db");
        let running = sync_server::start(Config {
            listen: "127.0.0.1:0".into(),
            db: format!("sqlite:{}", db.display()),
            demo: true,
            dev_clock: true,
            dev_clock_at: None,
        })
        .await
        .expect("start the sync server");
        TestServer {
            addr: running.addr,
            running: Some(running),
            db,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn running(&self) -> &RunningServer {
        self.running.as_ref().expect("the server is stopped")
    }

    pub fn store(&self) -> Arc<dyn sync_server::store::Store> {
        self.running().state.store.clone()
    }

    /// Stops the server (the address refuses connections until [`TestServer::restart`]).
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("server shutdown");
        }
    }

    /// Starts it again on the same address and database (its dev clock is released: set it).
    pub async fn restart(&mut self) {
        assert!(self.running.is_none(), "already running");
        let mut last = None;
        for _ in 0..50 {
            match sync_server::start(Config {
                listen: self.addr.to_string(),
                db: format!("sqlite:{}", self.db.display()),
                demo: true,
                dev_clock: true,
                dev_clock_at: None,
            })
            .await
            {
                Ok(r) => {
                    self.running = Some(r);
                    return;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("could not restart the server on {}: {last:?}", self.addr);
    }

    /// Fixes the server's clock (`POST /v1/dev/clock`).
    pub async fn set_clock(&self, now: DateTime<Utc>) {
        let res = self
            .http
            .post(format!("{}/v1/dev/clock", self.url()))
            .json(&json!({ "now": now }))
            .send()
            .await
            .expect("dev clock");
        assert!(res.status().is_success(), "dev clock: {}", res.status());
    }

    pub async fn user_id(&self, username: &str) -> Uuid {
        let u = username.to_string();
        self.store()
            .read(move |tx| tx.user_by_username(&u))
            .await
            .expect("store")
            .unwrap_or_else(|| panic!("no user {username}"))
            .id
    }

    /// A demo child's id by first name (from the demo guardians' `/v1/me`).
    pub async fn child_id(&self, first_name: &str) -> Uuid {
        for g in ["anna", "maria"] {
            let token = self.login(g).await.token;
            let me: Value = self
                .http
                .get(format!("{}/v1/me", self.url()))
                .bearer_auth(&token)
                .send()
                .await
                .expect("me")
                .json()
                .await
                .expect("me json");
            for c in me["children"].as_array().cloned().unwrap_or_default() {
                if c["first_name"] == first_name {
                    return serde_json::from_value(c["id"].clone()).expect("uuid");
                }
            }
        }
        panic!("no demo child {first_name}");
    }

    pub async fn login(&self, username: &str) -> LoginResponse {
        let res = self
            .http
            .post(format!("{}/v1/auth/login", self.url()))
            .json(&json!({ "username": username, "password": PASSWORD }))
            .send()
            .await
            .expect("login");
        assert!(
            res.status().is_success(),
            "login {username}: {}",
            res.status()
        );
        res.json().await.expect("login json")
    }

    /// What the server says `username` may see now: a full snapshot (null cursor, all pages),
    /// sorted like [`AppCore::replica_entities`].
    pub async fn snapshot(&self, username: &str) -> Vec<(String, Uuid, Value)> {
        let token = self.login(username).await.token;
        let mut cursor: Option<String> = None;
        let mut rows: BTreeMap<(String, Uuid), Value> = BTreeMap::new();
        loop {
            let page: PullResponse = self
                .http
                .post(format!("{}/v1/sync/pull", self.url()))
                .bearer_auth(&token)
                .json(&json!({ "cursor": cursor }))
                .send()
                .await
                .expect("pull")
                .json()
                .await
                .expect("pull json");
            for c in page.changes {
                match c.op {
                    ChangeOp::Upsert => {
                        rows.insert((c.entity_type, c.id), c.data.unwrap_or(Value::Null));
                    }
                    ChangeOp::Delete => {
                        rows.remove(&(c.entity_type, c.id));
                    }
                }
            }
            cursor = Some(page.cursor);
            if !page.has_more {
                break;
            }
        }
        rows.into_iter().map(|((t, id), v)| (t, id, v)).collect()
    }

    /// The stored first outcome of a mutation id, if the server has seen it.
    pub async fn outcome(&self, id: Uuid) -> Option<domain::wire::MutationResult> {
        self.store()
            .read(move |tx| tx.mutation_outcome(id))
            .await
            .expect("store")
            .map(|(_, r)| r)
    }

    /// Asserts that the server applied every one of `ids` (its stored first outcome).
    pub async fn assert_all_applied(&self, ids: &[Uuid]) {
        for id in ids {
            let r = self
                .outcome(*id)
                .await
                .unwrap_or_else(|| panic!("server never saw {id}"));
            assert_eq!(r.status, domain::wire::MutationStatus::Applied, "{r:?}");
        }
    }

    /// Live entities of a type in one scope (`care:<child>`, `child:<child>`, …).
    pub async fn entities_in_scope(&self, ty: &str, scope: &str) -> Vec<Value> {
        let (ty, scope) = (ty.to_string(), scope.to_string());
        self.store()
            .read(move |tx| tx.entities_in_scope(&ty, &scope))
            .await
            .expect("store")
            .into_iter()
            .filter(|r| !r.deleted)
            .filter_map(|r| r.data)
            .map(|d| serde_json::from_str(&d).expect("stored entity JSON"))
            .collect()
    }

    /// Makes every cursor handed out so far unknown, as compaction would: pulls with them
    /// answer 410 `cursor_expired`. (Direct SQL on the server's file: the store has no API
    /// for it.)
    pub fn expire_cursors(&self) {
        let conn = rusqlite::Connection::open(&self.db).expect("open server db");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        conn.execute(
            "UPDATE meta SET value = (SELECT value FROM meta WHERE key = 'seq') + 1 WHERE key = 'min_cursor_seq'",
            [],
        )
        .expect("expire cursors");
        // The server notices a commit by another connection within 100 ms (its memory of
        // pulls at the head is then dropped): wait for it, so the next pull is answered 410.
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Adds a child to a unit (and groups) on the server, as a roster import would: the row
    /// that gives staff and tablets access, and the `child` entity.
    pub async fn add_child(&self, first_name: &str, unit_id: Uuid, group_ids: Vec<Uuid>) -> Uuid {
        use sync_server::rules::{entities, scope};
        static SERIAL: AtomicU64 = AtomicU64::new(100);
        let serial =
            u16::try_from(SERIAL.fetch_add(1, Ordering::Relaxed) % 900 + 100).expect("serial");
        let birth = d("2022-06-01");
        let pnr = domain::personnummer::Personnummer::from_parts(birth, serial, false)
            .expect("personnummer");
        let id = Uuid::new_v4();
        let child = domain::wire::entity::Child {
            id,
            first_name: first_name.to_string(),
            last_name: "Test".into(),
            birth_date: birth,
            unit_id,
            class_id: None,
            group_ids: group_ids.clone(),
            in_care: true,
        };
        self.store()
            .write(move |tx| {
                tx.insert_child(&sync_server::store::ChildRow {
                    id,
                    unit_id,
                    class_id: None,
                    student_user_id: None,
                    personnummer: pnr.to_string(),
                    group_ids,
                })?;
                entities::save(
                    tx,
                    domain::wire::entity::CHILD_TYPE,
                    id,
                    &scope::child(id),
                    &child,
                )?;
                Ok(())
            })
            .await
            .expect("add child");
        id
    }

    /// The server's `tablet_staff` record of a staff member in a unit (PIN lockout state).
    pub async fn tablet_staff(
        &self,
        unit_id: Uuid,
        user_id: Uuid,
    ) -> Option<domain::wire::entity::TabletStaff> {
        use domain::wire::entity as e;
        let id = e::tablet_staff_id(unit_id, user_id);
        self.store()
            .read(move |tx| sync_server::rules::entities::load(tx, e::TABLET_STAFF_TYPE, id))
            .await
            .expect("store")
    }

    /// Revokes every token of `username`, so their very next request answers 401: found
    /// by direct SQL (the store has no look-up by user), revoked through the server's own
    /// store, as a logout does (the server remembers sessions until it writes tokens).
    pub async fn revoke_tokens(&self, username: &str) {
        let uid = self.user_id(username).await;
        let conn = rusqlite::Connection::open(&self.db).expect("open server db");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        let hashes: Vec<String> = conn
            .prepare("SELECT token_hash FROM tokens WHERE user_id = ?1")
            .expect("tokens")
            .query_map([uid.to_string()], |r| r.get(0))
            .expect("tokens")
            .collect::<Result<_, _>>()
            .expect("tokens");
        self.store()
            .write(move |tx| {
                for h in &hashes {
                    tx.revoke_token(h)?;
                }
                Ok(())
            })
            .await
            .expect("revoke");
    }
}

// ---------------------------------------------------------------- proxy

/// What a [`Proxy`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// Forward both ways.
    Up,
    /// Cut: open connections are killed, new ones closed at once.
    Down,
    /// Answer every request with `503 Service Unavailable`.
    Fail503,
    /// Forward requests, lose the answers (the connection closes when the server answers):
    /// the server has applied what the client never hears about.
    LoseAnswers,
}

struct ProxyState {
    net: Mutex<Net>,
    upstream: SocketAddr,
    conns: Mutex<Vec<tokio::task::AbortHandle>>,
    latency_ms: AtomicU64,
    answer_latency_ms: AtomicU64,
}

/// A TCP proxy in front of the server, one per device, to cut that device's network.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
    accept: tokio::task::AbortHandle,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.kill_connections();
    }
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(ProxyState {
            net: Mutex::new(Net::Up),
            upstream,
            conns: Mutex::new(Vec::new()),
            latency_ms: AtomicU64::new(0),
            answer_latency_ms: AtomicU64::new(0),
        });
        let st = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let st2 = Arc::clone(&st);
                let h = tokio::spawn(async move { serve(st2, client).await });
                if let Ok(mut c) = st.conns.lock() {
                    c.retain(|h| !h.is_finished());
                    c.push(h.abort_handle());
                }
            }
        })
        .abort_handle();
        Proxy {
            addr,
            state,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, net: Net) {
        *self.state.net.lock().expect("proxy") = net;
        if net != Net::Up {
            self.kill_connections();
        }
    }

    pub fn cut(&self) {
        self.set(Net::Down)
    }

    pub fn restore(&self) {
        self.set(Net::Up)
    }

    /// Delay added before each chunk a client sends (a slow network).
    pub fn set_latency(&self, ms: u64) {
        self.state.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Delay added before each chunk the upstream sends back (what it says arrives late).
    pub fn set_answer_latency(&self, ms: u64) {
        self.state.answer_latency_ms.store(ms, Ordering::Relaxed);
    }

    fn kill_connections(&self) {
        if let Ok(mut c) = self.state.conns.lock() {
            for h in c.drain(..) {
                h.abort();
            }
        }
    }
}

fn net_of(st: &ProxyState) -> Net {
    st.net.lock().map(|n| *n).unwrap_or(Net::Down)
}

/// Reads one HTTP/1.1 request (headers, then `content-length` bytes of body).
async fn read_request(client: &mut TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + len {
                return;
            }
        }
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

async fn serve(st: Arc<ProxyState>, mut client: TcpStream) {
    match net_of(&st) {
        Net::Down => return,
        Net::Fail503 => {
            // Read the whole request first: closing with unread bytes would reset the
            // connection, and the client would see a network error instead of the 503.
            read_request(&mut client).await;
            let body = r#"{"error":{"code":"unavailable","message":"injected by the test proxy"}}"#;
            let res = format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(res.as_bytes()).await;
            let _ = client.shutdown().await;
            return;
        }
        Net::Up | Net::LoseAnswers => {}
    }
    let Ok(server) = TcpStream::connect(st.upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let st_up = Arc::clone(&st);
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if net_of(&st_up) == Net::Down {
                break;
            }
            let lat = st_up.latency_ms.load(Ordering::Relaxed);
            if lat > 0 {
                tokio::time::sleep(Duration::from_millis(lat)).await;
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    };
    let st_down = Arc::clone(&st);
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if net_of(&st_down) != Net::Up {
                break;
            }
            let lat = st_down.answer_latency_ms.load(Ordering::Relaxed);
            if lat > 0 {
                tokio::time::sleep(Duration::from_millis(lat)).await;
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    };
    // Either direction ending ends the connection (as a cut would).
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

// ---------------------------------------------------------------- load balancer

/// An HTTP front for several server instances, as a load balancer may route: pushes go to
/// one instance, every other request (sign-in, pulls, the event stream) to another, so each
/// sync of a device crosses instances.
pub struct Balancer {
    pub addr: SocketAddr,
    task: tokio::task::AbortHandle,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Routes {
    pushes: SocketAddr,
    rest: SocketAddr,
    http: reqwest::Client,
}

impl Balancer {
    pub async fn start(pushes: SocketAddr, rest: SocketAddr) -> Balancer {
        let routes = Routes {
            pushes,
            rest,
            http: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(forward).with_state(routes);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("balancer bind");
        let addr = listener.local_addr().expect("balancer addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
        .abort_handle();
        Balancer { addr, task }
    }
}

/// Sends the request on to its instance and streams the answer back (the event stream too).
async fn forward(
    axum::extract::State(r): axum::extract::State<Routes>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let to = if req.uri().path() == "/v1/sync/push" {
        r.pushes
    } else {
        r.rest
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let hop = |k: &header::HeaderName| {
        [header::HOST, header::CONNECTION, header::TRANSFER_ENCODING].contains(k)
    };
    let mut out = r
        .http
        .request(parts.method, format!("http://{to}{path}"))
        .body(body);
    for (k, v) in parts.headers.iter().filter(|(k, _)| !hop(k)) {
        out = out.header(k, v);
    }
    let Ok(res) = out.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut answer = axum::http::Response::builder().status(res.status());
    for (k, v) in res.headers().iter().filter(|(k, _)| !hop(k)) {
        answer = answer.header(k, v);
    }
    answer
        .body(axum::body::Body::from_stream(res.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

// ---------------------------------------------------------------- devices

/// One app-core engine with its own data folder, behind its own proxy.
pub struct Device {
    pub name: String,
    pub username: String,
    pub core: AppCore,
    pub proxy: Proxy,
    pub dir: tempfile::TempDir,
}

impl Device {
    /// A new device for `username`, signed in through its own proxy to `server` (the first
    /// sync included). Token in memory (tests), device clock the real one.
    pub async fn sign_in(server: &TestServer, name: &str, username: &str) -> Device {
        Device::sign_in_at(server.addr, name, username).await
    }

    /// [`Device::sign_in`] to the server (or load balancer) at `addr`.
    pub async fn sign_in_at(addr: SocketAddr, name: &str, username: &str) -> Device {
        let proxy = Proxy::start(addr).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let core = open_core(dir.path(), TokenStoreKind::Memory);
        core.sign_in(&proxy.url(), username, PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{name}: sign in: {e}"));
        Device {
            name: name.into(),
            username: username.into(),
            core,
            proxy,
            dir,
        }
    }

    /// Drops the engine and opens a new one on the same folder (an app restart).
    pub fn restart(&mut self) {
        let core = open_core(self.dir.path(), TokenStoreKind::Memory);
        self.core = core;
    }

    pub fn child(&self, first_name: &str) -> Uuid {
        self.core
            .session()
            .expect("signed in")
            .children
            .iter()
            .find(|c| c.first_name == first_name)
            .unwrap_or_else(|| panic!("{}: no child {first_name}", self.name))
            .id
    }
}

pub fn open_core(dir: &Path, kind: TokenStoreKind) -> AppCore {
    open_core_with_clock(dir, kind, Arc::new(SystemClock))
}

pub fn open_core_with_clock(
    dir: &Path,
    kind: TokenStoreKind,
    clock: Arc<dyn domain::time::Clock>,
) -> AppCore {
    AppCore::open(CoreOptions {
        data_dir: dir.to_path_buf(),
        token_store: kind,
        clock,
    })
    .expect("open app-core")
}

/// A device clock the test moves by hand (a tablet living through a day).
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(now)))
    }
    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().expect("clock") = now;
    }
}

impl domain::time::Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

/// A staff tablet (R-STAFF-1…3): an app-core engine paired to a unit through its own proxy,
/// with a device clock of its own.
pub struct Tablet {
    pub name: String,
    pub core: AppCore,
    pub proxy: Proxy,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
}

impl Tablet {
    /// A new tablet paired to `unit_id` with a code `staff` creates, its clock at `now`
    /// (set the server's clock to the same instant, so the learned offset is zero).
    pub async fn pair(
        server: &TestServer,
        staff: &Device,
        unit_id: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> Tablet {
        let pairing = staff
            .core
            .create_pairing(unit_id)
            .await
            .unwrap_or_else(|e| panic!("{name}: create pairing: {e}"));
        let code = pairing.code.expect("the code comes with the creation");
        let proxy = Proxy::start(server.addr).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(now);
        let core = open_core_with_clock(dir.path(), TokenStoreKind::Memory, clock.clone());
        core.pair_tablet(&proxy.url(), &code, Some(name))
            .await
            .unwrap_or_else(|e| panic!("{name}: pair: {e}"));
        Tablet {
            name: name.into(),
            core,
            proxy,
            clock,
            dir,
        }
    }

    /// Drops the engine and opens a new one on the same folder (an app restart).
    pub fn restart(&mut self) {
        self.core =
            open_core_with_clock(self.dir.path(), TokenStoreKind::Memory, self.clock.clone());
    }
}

/// Entities in a replica or snapshot that concern `child` (its record or rows naming it).
pub fn rows_about(rows: &[(String, Uuid, Value)], child: Uuid) -> Vec<(String, Uuid)> {
    let c = child.to_string();
    rows.iter()
        .filter(|(t, id, v)| {
            (t == "child" && *id == child)
                || v.get("child_id").and_then(Value::as_str) == Some(c.as_str())
        })
        .map(|(t, id, _)| (t.clone(), *id))
        .collect()
}

// ---------------------------------------------------------------- hub-cli

/// The `hub-cli` binary of app-core. Cargo builds an integration test's own package's
/// binaries only, so: the one in this target folder when it is newer than every source it is
/// built from (the usual case: `cargo xtask test` builds the workspace first), otherwise
/// built here with `cargo build -p app-core --bin hub-cli`.
pub fn hub_cli() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace")
            .to_path_buf();
        let bin = profile_dir.join(format!("hub-cli{}", std::env::consts::EXE_SUFFIX));
        let sources = ["app-core", "domain/src", "migrations/replica", "Cargo.lock"]
            .map(|p| workspace.join(p));
        let newest_source = sources.iter().filter_map(|p| newest_mtime(p)).max();
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        let fresh = matches!((built, newest_source), (Some(b), Some(s)) if b > s);
        if !fresh {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = std::process::Command::new(cargo);
            cmd.current_dir(&workspace)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "app-core",
                    "--bin",
                    "hub-cli",
                    "--target-dir",
                ])
                .arg(&target_dir);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build for hub-cli");
            assert!(status.success(), "building hub-cli failed");
        }
        assert!(bin.exists(), "no hub-cli at {}", bin.display());
        bin
    })
    .clone()
}

/// The newest modification time of a file, or of any file under a folder.
fn newest_mtime(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}
