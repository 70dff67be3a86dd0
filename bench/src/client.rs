//! The load generator's client: one HTTP/1.1 keep-alive connection per worker (hyper's
//! low-level client, no pool, so the client spends as little of the shared CPU as it can),
//! closed loop (a worker sends its next request when the previous one is answered), and a
//! recorder that keeps every latency of the measured window.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;

pub struct Conn {
    addr: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
    /// The server's own time for the request (`server-timing: app;dur=MS`), if it said.
    pub server_ms: Option<f64>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, host: addr.to_string(), sender: None }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .with_context(|| format!("connecting to {}", self.addr))?;
            stream.set_nodelay(true)?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        let s = self.sender.as_mut().ok_or_else(|| anyhow!("no connection"))?;
        s.ready().await?;
        Ok(s)
    }

    /// One request; the connection is re-opened on the next call if it broke.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<Reply> {
        let host = self.host.clone();
        let mut b = Request::builder().method(method).uri(path).header(header::HOST, host);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        let req = b.body(Full::new(body.unwrap_or_default()))?;
        let result = async {
            let sender = self.connect().await?;
            let res = sender.send_request(req).await?;
            let status = res.status();
            let server_ms = res
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split("dur=").nth(1))
                .and_then(|v| v.split([',', ';']).next())
                .and_then(|v| v.trim().parse::<f64>().ok());
            let body = res.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>(Reply { status, body, server_ms })
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    pub async fn post_json<T: Serialize>(&mut self, path: &str, token: Option<&str>, body: &T) -> Result<Reply> {
        let bytes = Bytes::from(serde_json::to_vec(body)?);
        self.send(Method::POST, path, token, Some(bytes)).await
    }
}

/// What one worker saw in the measured window.
#[derive(Default)]
pub struct Recorder {
    window: Option<(Instant, Instant)>,
    pub latencies_us: Vec<u32>,
    pub server_us: Vec<u32>,
    pub requests: u64,
    pub errors: u64,
    pub applied: u64,
    pub rejected: u64,
    /// Scenario-specific unit of work (care days written, docs, changes received…).
    pub items: u64,
    /// Ids of mutations the server answered `applied` (the durability check keeps them).
    pub acked: Vec<uuid::Uuid>,
    pub first_error: Option<String>,
    /// CPU seconds (user + system) the server and this client used in the measured window.
    pub server_cpu_s: Option<f64>,
    pub client_cpu_s: Option<f64>,
    /// CPU seconds the database server's processes used in the window (PostgreSQL; SQLite
    /// runs inside the server).
    pub db_cpu_s: Option<f64>,
    /// The share of the machine's CPU time (all cores, every process) that was busy in the
    /// window, 0–1.
    pub machine_busy: Option<f64>,
    /// The share of it the hypervisor gave to other machines (steal), 0–1: counted as busy
    /// above, but no process here ran in it.
    pub machine_steal: Option<f64>,
    /// The server's CPU seconds in the window by thread name.
    pub server_threads_s: std::collections::BTreeMap<String, f64>,
}

/// CPU seconds per thread name (digits and trailing dashes dropped, so `sqlite-reader-3`
/// counts as `sqlite-reader`) of a process so far.
pub fn thread_cpu_seconds(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let name = comm.trim().trim_end_matches(|c: char| c.is_ascii_digit() || c == '-').to_string();
        let Some(f) = stat_fields_at(&t.path().join("stat")) else { continue };
        *out.entry(name).or_insert(0.0) += ticks(&f);
    }
    out
}

/// The processes under test, whose CPU time the runs measure together: one server, or
/// every instance of a target with several (`--instances`).
static SERVER_PIDS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Makes `pid` the process whose CPU time the next runs measure (`None`: none).
pub fn measure_cpu_of(pid: Option<u32>) {
    measure_cpu_of_all(pid.as_slice());
}

/// Makes `pids` the processes whose CPU time the next runs measure, summed.
pub fn measure_cpu_of_all(pids: &[u32]) {
    if let Ok(mut p) = SERVER_PIDS.lock() {
        *p = pids.to_vec();
    }
}

/// The processes [`measure_cpu_of_all`] named.
fn measured_pids() -> Vec<u32> {
    SERVER_PIDS.lock().map(|p| p.clone()).unwrap_or_default()
}

/// The resident memory of `pids`, in KiB, summed (`/proc/<pid>/status`); `None` if there
/// are none or one is gone.
pub fn rss_kib(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    let mut sum = 0;
    for pid in pids {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
        sum += line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    }
    Some(sum)
}

/// [`rss_kib`] of the processes under test ([`measure_cpu_of_all`]).
pub fn measured_rss_kib() -> Option<u64> {
    rss_kib(&measured_pids())
}

/// CPU seconds of all of `pids` so far; `None` if there are none or one is gone.
fn cpu_seconds_of(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| cpu_seconds(Some(*p))).sum()
}

/// [`thread_cpu_seconds`] of all of `pids`, summed by thread name.
fn threads_cpu_seconds(pids: &[u32]) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for p in pids {
        for (name, s) in thread_cpu_seconds(*p) {
            *out.entry(name).or_insert(0.0) += s;
        }
    }
    out
}

/// The database server's main process (PostgreSQL's postmaster), whose own and whose
/// children's CPU time the runs measure as the database's (0: none).
static DB_ROOT: AtomicU32 = AtomicU32::new(0);

/// Makes `root` the database server whose processes' CPU time the next runs measure
/// (`None`: none); returns the one measured before.
pub fn measure_db_cpu_of(root: Option<u32>) -> Option<u32> {
    Some(DB_ROOT.swap(root.unwrap_or(0), Ordering::Relaxed)).filter(|p| *p != 0)
}

/// The fields after the command name of /proc/<pid>/stat (which may hold spaces and
/// parentheses): state, ppid, … utime is the 12th, stime the 13th.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    stat_fields_at(std::path::Path::new(&format!("/proc/{pid}/stat")))
}

/// [`stat_fields`] of a process's or a thread's `stat` file.
fn stat_fields_at(path: &std::path::Path) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(path).ok()?;
    Some(stat[stat.rfind(')')? + 2..].split_whitespace().map(str::to_string).collect())
}

fn ticks(f: &[String]) -> f64 {
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (n(11) + n(12)) / 100.0 // USER_HZ is 100 on Linux
}

/// The parent of process `pid`, from /proc.
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// CPU seconds so far of `root` and of each process whose parent it is (PostgreSQL's
/// backends and background processes), by pid.
pub fn tree_cpu_seconds(root: u32) -> std::collections::HashMap<u32, f64> {
    let mut out = std::collections::HashMap::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return out };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Some(f) = stat_fields(pid) else { continue };
        if pid == root || f.get(1).and_then(|v| v.parse::<u32>().ok()) == Some(root) {
            out.insert(pid, ticks(&f));
        }
    }
    out
}

/// CPU seconds (user + system) of a process so far, from /proc.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let f = stat_fields(pid.unwrap_or_else(std::process::id))?;
    // Both counters there, or the process is not one to measure.
    f.get(12)?;
    Some(ticks(&f))
}

impl Recorder {
    pub fn new(measure_from: Instant, until: Instant) -> Recorder {
        Recorder { window: Some((measure_from, until)), ..Recorder::default() }
    }
    /// Still inside the run (warm-up or measured)?
    pub fn running(&self) -> bool {
        self.window.is_none_or(|(_, until)| Instant::now() < until)
    }
    /// Whether an operation that ends now is counted: those that end in the measured
    /// window, whenever they started. (Counting only those that also started in it left out
    /// about one latency's worth of work at the window's start: a few per cent of a
    /// short window for a reference that answers in 200 ms, nothing for Hub's 20 ms.)
    pub fn counts(&self) -> bool {
        match self.window {
            Some((from, until)) => {
                let now = Instant::now();
                now >= from && now <= until
            }
            None => true,
        }
    }
    pub fn record(&mut self, started: Instant, server_ms: Option<f64>) -> bool {
        if !self.counts() {
            return false;
        }
        self.requests += 1;
        self.latencies_us.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if let Some(ms) = server_ms {
            self.server_us.push((ms * 1000.0) as u32);
        }
        true
    }
    pub fn error(&mut self, e: impl std::fmt::Display) {
        if self.counts() {
            self.errors += 1;
        }
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }
    pub fn merge(&mut self, o: Recorder) {
        self.latencies_us.extend(o.latencies_us);
        self.server_us.extend(o.server_us);
        self.requests += o.requests;
        self.errors += o.errors;
        self.applied += o.applied;
        self.rejected += o.rejected;
        self.items += o.items;
        self.acked.extend(o.acked);
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

/// Runs `concurrency` workers, each with its own connection, for `warmup + measure`; only
/// the measured window counts. Worker `w` connects to `addrs[w % addrs.len()]` (the
/// instances of a target with several). Returns the merged recorder and the measured
/// seconds.
pub async fn run_workers<S, F, Fut>(
    addrs: &[SocketAddr],
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    make_state: impl Fn(usize) -> S,
    worker: F,
) -> Result<(Recorder, f64)>
where
    S: Send + 'static,
    F: Fn(usize, S, Conn, Recorder) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Recorder> + Send + 'static,
{
    let start = Instant::now();
    let from = start + warmup;
    let until = from + measure;
    if addrs.is_empty() {
        anyhow::bail!("no server to connect to");
    }
    let pids = measured_pids();
    let db = Some(DB_ROOT.load(Ordering::Relaxed)).filter(|p| *p != 0);
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let (s0, c0) = (cpu_seconds_of(&pids), cpu_seconds(None));
        let t0 = threads_cpu_seconds(&pids);
        let d0 = db.map(tree_cpu_seconds);
        let m0 = machine_jiffies();
        tokio::time::sleep_until(until.into()).await;
        let (s1, c1) = (cpu_seconds_of(&pids), cpu_seconds(None));
        let t1 = threads_cpu_seconds(&pids);
        let d1 = db.map(tree_cpu_seconds);
        let m1 = machine_jiffies();
        // A process that started in the window counts whole; one that ended in it is lost
        // (the server's connections stay open through a run).
        let db_s = d0.zip(d1).filter(|(_, d1)| !d1.is_empty()).map(|(d0, d1)| {
            d1.iter().map(|(p, s)| s - d0.get(p).copied().unwrap_or(0.0)).sum::<f64>()
        });
        let shares = m0.zip(m1).and_then(|(m0, m1)| m1.shares_since(&m0));
        let threads = t1
            .into_iter()
            .map(|(k, v)| {
                let d = v - t0.get(&k).copied().unwrap_or(0.0);
                (k, d)
            })
            .collect();
        (s0.zip(s1).map(|(a, b)| b - a), c0.zip(c1).map(|(a, b)| b - a), threads, db_s, shares)
    });
    let mut handles = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let state = make_state(w);
        let f = worker.clone();
        let addr = addrs[w % addrs.len()];
        handles.push(tokio::spawn(async move { f(w, state, Conn::new(addr), Recorder::new(from, until)).await }));
    }
    let mut all = Recorder::default();
    for h in handles {
        all.merge(h.await.context("a load worker panicked")?);
    }
    if let Ok((server, client, threads, db, shares)) = cpu.await {
        all.server_cpu_s = server;
        all.client_cpu_s = client;
        all.server_threads_s = threads;
        all.db_cpu_s = db;
        all.machine_busy = shares.map(|(busy, _)| busy);
        all.machine_steal = shares.map(|(_, steal)| steal);
    }
    Ok((all, measure.as_secs_f64()))
}

/// The CPU time used so far by the measured server processes, the database's processes, the
/// load generator and the whole machine: two samples give the shares of a window
/// (`CpuSample::since`).
#[derive(Clone)]
pub struct CpuSample {
    server_s: Option<f64>,
    db: Option<std::collections::HashMap<u32, f64>>,
    client_s: Option<f64>,
    machine: Option<MachineJiffies>,
}

/// What a window of two [`CpuSample`]s used: cores on average, and shares of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuShares {
    pub server_cores: Option<f64>,
    pub db_cores: Option<f64>,
    /// This process, the load generator.
    pub client_cores: Option<f64>,
    /// The share of the machine's CPU time that was busy, steal included.
    pub busy: Option<f64>,
    /// The share the hypervisor gave to other machines.
    pub steal: Option<f64>,
}

impl CpuSample {
    pub fn now() -> CpuSample {
        let db = Some(DB_ROOT.load(Ordering::Relaxed)).filter(|p| *p != 0);
        CpuSample {
            server_s: cpu_seconds_of(&measured_pids()),
            db: db.map(tree_cpu_seconds),
            client_s: cpu_seconds(None),
            machine: machine_jiffies(),
        }
    }

    /// What was used since `before`, `secs` ago.
    pub fn since(&self, before: &CpuSample, secs: f64) -> CpuShares {
        let secs = secs.max(1e-9);
        let cores = |now: Option<f64>, then: Option<f64>| now.zip(then).map(|(b, a)| (b - a) / secs);
        let db = self.db.as_ref().zip(before.db.as_ref()).filter(|(d1, _)| !d1.is_empty()).map(|(d1, d0)| {
            d1.iter().map(|(p, s)| s - d0.get(p).copied().unwrap_or(0.0)).sum::<f64>() / secs
        });
        let shares = self.machine.zip(before.machine).and_then(|(now, then)| now.shares_since(&then));
        CpuShares {
            server_cores: cores(self.server_s, before.server_s),
            db_cores: db,
            client_cores: cores(self.client_s, before.client_s),
            busy: shares.map(|(busy, _)| busy),
            steal: shares.map(|(_, steal)| steal),
        }
    }
}

/// The machine's CPU time so far, all CPUs, in jiffies (`/proc/stat`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct MachineJiffies {
    /// Everything but idle and waiting for I/O: steal included (time this virtual machine
    /// wanted to run and the host ran another instead).
    busy: u64,
    steal: u64,
    total: u64,
}

impl MachineJiffies {
    /// The first line of `/proc/stat`: `cpu  user nice system idle iowait irq softirq steal
    /// guest guest_nice` (guest time is already in user).
    fn parse(stat: &str) -> Option<MachineJiffies> {
        let f: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
        let total: u64 = f.iter().take(8).sum();
        let idle = f.get(3)? + f.get(4).copied().unwrap_or(0);
        Some(MachineJiffies { busy: total - idle, steal: f.get(7).copied().unwrap_or(0), total })
    }

    /// The busy and the steal share of the time since `before`, 0–1.
    fn shares_since(&self, before: &MachineJiffies) -> Option<(f64, f64)> {
        let total = self.total.saturating_sub(before.total);
        let share = |now: u64, then: u64| now.saturating_sub(then) as f64 / total as f64;
        (total > 0).then(|| (share(self.busy, before.busy), share(self.steal, before.steal)))
    }
}

fn machine_jiffies() -> Option<MachineJiffies> {
    MachineJiffies::parse(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Waits until the machine is quiet (under a tenth of its CPUs busy over two 100 ms
/// windows in a row) or `at_most` has passed.
///
/// Between the rounds of two targets, so that what one leaves running after its window
/// (SQLite's checkpoint of the WAL, PostgreSQL's writers, Node's garbage collector) does
/// not land in the other's window.
pub async fn settle(at_most: Duration) {
    let started = Instant::now();
    let mut quiet = 0;
    let Some(mut last) = machine_jiffies() else { return };
    while started.elapsed() < at_most && quiet < 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some(now) = machine_jiffies() else { break };
        // What the host ran instead of this machine (steal) is not this machine's work.
        let ours = now.shares_since(&last).map(|(busy, steal)| busy - steal);
        quiet = if ours.is_some_and(|b| b < 0.1) { quiet + 1 } else { 0 };
        last = now;
    }
}

/// p in 0..=100 of a latency list, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted_us.len() as f64 - 1.0)).round() as usize;
    f64::from(sorted_us[rank.min(sorted_us.len() - 1)]) / 1000.0
}

/// Waits until `GET path` answers 200.
pub async fn wait_ready(addr: SocketAddr, path: &str, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let mut c = Conn::new(addr);
        if let Ok(r) = c.send(Method::GET, path, None, None).await {
            if r.status.is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("{addr}{path} did not answer within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machines_busy_share_counts_steal_and_steal_is_given_apart() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let before = MachineJiffies::parse("cpu  100 0 50 800 10 5 5 30 7 0\ncpu0 1 2 3\n").expect("parses");
        assert_eq!(before, MachineJiffies { busy: 190, steal: 30, total: 1000 });
        // 100 jiffies later: 60 of user, 10 of steal, 30 idle.
        let after = MachineJiffies::parse("cpu  160 0 50 830 10 5 5 40 7 0\n").expect("parses");
        assert_eq!(after.shares_since(&before), Some((0.7, 0.1)));
        // No time passed: no share.
        assert_eq!(after.shares_since(&after), None);
        // A kernel without the steal column (older than 2.6.11): none stolen.
        let old = MachineJiffies::parse("cpu 1 2 3 4 5 6 7\n").expect("parses");
        assert_eq!(old.steal, 0);
        assert_eq!(MachineJiffies::parse("cpu\n"), None);
    }

    #[test]
    fn a_process_tree_is_read_from_proc_with_its_parent_and_children() {
        let me = std::process::id();
        assert_eq!(parent_pid(me), Some(std::os::unix::process::parent_id()));
        // A child of this test, alive while the tree is read, is in its tree with its CPU.
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("sleep runs");
        let tree = tree_cpu_seconds(me);
        let _ = child.kill();
        let _ = child.wait();
        assert!(tree.contains_key(&me), "{tree:?}");
        assert!(tree.contains_key(&child.id()), "{tree:?}");
        assert!(tree.values().all(|s| *s >= 0.0));
        // Not a process: nothing to read.
        assert_eq!(parent_pid(u32::MAX), None);
        assert!(cpu_seconds(None).is_some());
    }

    #[test]
    fn the_cpu_of_several_instances_is_summed_and_one_that_is_gone_spoils_the_sum() {
        let me = std::process::id();
        let once = cpu_seconds(Some(me)).expect("this process is readable");
        let twice = cpu_seconds_of(&[me, me]).expect("this process, twice");
        assert!(twice >= 2.0 * once, "{twice} against {once}");
        assert_eq!(cpu_seconds_of(&[]), None);
        assert_eq!(cpu_seconds_of(&[me, u32::MAX]), None);
        // Threads by name, summed over the processes (a child with one thread, which does
        // not end while it is read, unlike this test's neighbours).
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("sleep runs");
        // Until its exec, the child still bears this thread's name.
        let comm = format!("/proc/{}/comm", child.id());
        for _ in 0..200 {
            if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "sleep") {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let one = thread_cpu_seconds(child.id());
        let both = threads_cpu_seconds(&[child.id(), child.id()]);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(one.keys().collect::<Vec<_>>(), vec!["sleep"]);
        assert_eq!(both.keys().collect::<Vec<_>>(), vec!["sleep"]);
        assert!(both["sleep"] >= 2.0 * one["sleep"], "{both:?} against {one:?}");
    }

    #[tokio::test]
    async fn load_workers_are_dealt_over_the_instances_round_robin() {
        let a: SocketAddr = "127.0.0.1:1".parse().expect("an address");
        let b: SocketAddr = "127.0.0.1:2".parse().expect("an address");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let worker = move |w: usize, (): (), conn: Conn, rec: Recorder| {
            let log = log.clone();
            async move {
                log.lock().expect("the log").push((w, conn.addr));
                rec
            }
        };
        run_workers(&[a, b], 5, Duration::ZERO, Duration::ZERO, |_| (), worker).await.expect("the workers ran");
        let mut seen = seen.lock().expect("the log").clone();
        seen.sort();
        assert_eq!(seen, vec![(0, a), (1, b), (2, a), (3, b), (4, a)]);
        // No instance to send the load to is an error, not a division by zero.
        let none = run_workers(&[], 1, Duration::ZERO, Duration::ZERO, |_| (), |_, (), _, rec: Recorder| async { rec }).await;
        assert!(none.is_err());
    }
}
