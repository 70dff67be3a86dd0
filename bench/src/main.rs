//! `hub-bench`: Hub's load generator. Run it through `cargo xtask bench`, which builds it and
//! the sync server in release, installs pouchdb-server and starts a throwaway PostgreSQL.
//!
//! On loopback, in one run: the axum hello-world (the HTTP ceiling), then for each store
//! (SQLite, and PostgreSQL when given) a large synthetic roster seeded straight through the
//! store, a release `sync-server --dev-clock` on it, and the scenarios of simulated devices:
//! no-change pulls, pulls after a poke (for the sizing), the morning absence rush (also with
//! thousands of event streams open, for the sizing), the Sunday-evening care-week rush, staff
//! tablets syncing a day of attendance, initial syncs of guardians with a school year of
//! data, a few sign-ins, and the durable-group-commit check (SIGKILL under load).
//! pouchdb-server 4.2.0 in memory does the same jobs in rounds alternating with Hub's
//! ([`paired`]), and the no-change pulls alternate with rounds of the hello-world too, so
//! each ratio compares two figures taken under the same conditions. Figures go to
//! `<out>/latest.md` and `<out>/latest.json`. Figures, never assertions.

/// The sync server's allocator, so the reference and the client are not handicapped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod hub;
mod pouch;
mod procs;
mod report;
mod soak;
mod streams;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use hyper::Method;
use sync_server::benchdata::{self, RosterSpec};
use tokio::sync::broadcast;

use crate::client::{run_workers, wait_ready, Conn, Recorder};
use crate::procs::{free_addr, Proc};
use crate::report::{Durability, Figure, Report};

/// Every simulated user's password (one precomputed argon2 hash for all).
pub const PASSWORD: &str = "hub-bench-1";

#[derive(Parser, Debug, Clone)]
#[command(name = "hub-bench", about = "Hub's load generator (run it with `cargo xtask bench`).")]
pub struct Args {
    /// Where the report (latest.md, latest.json), databases and server logs go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// The release `sync-server` binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The `hub-bench-hello` binary (default: next to this one).
    #[arg(long)]
    hello_bin: Option<PathBuf>,
    /// pouchdb-server's start script (node_modules/pouchdb-server/bin/pouchdb-server).
    #[arg(long)]
    pouchdb: Option<PathBuf>,
    /// Why pouchdb-server is not there, for the report.
    #[arg(long)]
    pouchdb_unavailable: Option<String>,
    /// An empty PostgreSQL database (`postgres://…`) to bench the PostgreSQL store on.
    #[arg(long)]
    postgres: Option<String>,
    /// Why PostgreSQL is not benched, for the report.
    #[arg(long)]
    postgres_unavailable: Option<String>,
    /// Children in the synthetic roster.
    #[arg(long, default_value_t = 10_000)]
    children: usize,
    /// Concurrent connections for reads (pulls, hello-world).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Concurrent connections for pushes.
    #[arg(long, default_value_t = 128)]
    write_concurrency: usize,
    /// Measured seconds per round of a scenario.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Warm-up seconds before each round (not counted).
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Rounds of each scenario that has a pouchdb-server equivalent, each followed by a
    /// round of that job (see `paired`).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Guardian devices in the pull scenarios (no change, after a poke).
    #[arg(long, default_value_t = 2000)]
    pull_devices: usize,
    /// Only these targets (comma-separated: hello, sqlite, postgres, pouchdb).
    #[arg(long)]
    only: Option<String>,
    /// Server instances on the PostgreSQL database, the scale-out that store is for: the
    /// load's connections are dealt over them round robin, and the target is named
    /// `hub-postgres-x<N>`. SQLite runs one process by design.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Open event streams in the streams scenario (every tablet's, then guardians'; at most
    /// what this process's open-file limit leaves room for).
    #[arg(long, default_value_t = 8000)]
    streams: usize,
    /// Seconds the soak scenario holds each of its loads.
    #[arg(long, default_value_t = 20.0)]
    soak_seconds: f64,
    /// The soak's loads, one after the other, in times the largest municipality's peak with
    /// the sizing's safety factor (about 90 mutations and 1,100 pulls a second).
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 3.0, 6.0])]
    soak_scales: Vec<f64>,
    /// Only these Hub scenarios (comma-separated: pull, poke, care, absence, attendance,
    /// streams, initial, login, soak, durability); for profiling one at a time. Also
    /// `poke-year`, only when named: pulls after a poke by the guardians of a school year.
    #[arg(long)]
    scenarios: Option<String>,
}

pub struct Opts {
    pub concurrency: usize,
    pub write_concurrency: usize,
    pub warmup: Duration,
    pub measure: Duration,
    pub rounds: usize,
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().context("no parent folder of this binary")?.join(name))
}

fn main() -> Result<()> {
    let args = Args::parse();
    // For the event streams' sockets; the servers started here inherit it.
    sync_server::open_files::raise_limit();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let out = std::fs::canonicalize(&args.out)?;
    let opts = Opts {
        concurrency: args.concurrency,
        write_concurrency: args.write_concurrency,
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.seconds),
        rounds: args.rounds.max(1),
    };
    let want = |t: &str| args.only.as_deref().is_none_or(|o| o.split(',').any(|x| x.trim() == t));
    let mut report = Report { machine: procs::machine(), ..Report::default() };
    let started = Instant::now();
    println!("hub-bench: {} cores, {}, load {}", report.machine.nproc, report.machine.cpu, report.machine.load_before);

    // The HTTP ceiling, kept up: the no-change pulls' rounds alternate with its rounds.
    let mut hello_srv = None;
    if want("hello") {
        let first = async || -> Result<(Hello, Figure)> {
            let h = start_hello(&args, &out).await?;
            client::measure_cpu_of(h.proc_.pid());
            let f = hello_round(h.addr, &opts).await?;
            Ok((h, f))
        };
        match first().await {
            Ok((h, f)) => {
                push(&mut report, f);
                hello_srv = Some(h);
            }
            Err(e) => report.skipped.push(format!("axum hello-world: {e:#}")),
        }
    }

    // pouchdb-server first: each Hub scenario's rounds alternate with its job's.
    let mut pouch_proc = None;
    if want("pouchdb") {
        match (&args.pouchdb, &args.pouchdb_unavailable) {
            (Some(script), _) => match start_pouch(&out, script).await {
                Ok(p) => pouch_proc = Some(p),
                Err(e) => {
                    eprintln!("hub-bench: pouchdb-server: {e:#}");
                    report.skipped.push(format!("pouchdb-server: {e:#}"));
                }
            },
            (None, Some(why)) => report.skipped.push(format!("pouchdb-server: {why}")),
            (None, None) => report.skipped.push("pouchdb-server: no --pouchdb script given".into()),
        }
    }
    let pouch = pouch_proc.as_ref().map(|(_, addr)| pouch::Pouch::new(*addr, &opts));
    let pouch_pid = pouch_proc.as_ref().and_then(|(p, _)| p.pid());
    let mut side = Side {
        pouch: pouch.as_ref(),
        pid: pouch_pid,
        hello: hello_srv.as_ref().map(|h| (h.addr, h.proc_.pid())),
        hello_error: None,
        snapshots: Vec::new(),
        figures: Vec::new(),
        error: None,
    };

    // Hub on each store.
    let mut stores: Vec<(String, String)> = Vec::new();
    if want("sqlite") {
        let path = out.join("hub-sqlite.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        stores.push(("hub-sqlite".into(), format!("sqlite:{}", path.display())));
    }
    if want("postgres") {
        match (&args.postgres, &args.postgres_unavailable) {
            (Some(url), _) => {
                let name = match args.instances {
                    0 | 1 => "hub-postgres".to_string(),
                    n => format!("hub-postgres-x{n}"),
                };
                stores.push((name, url.clone()));
            }
            (None, Some(why)) => report.skipped.push(format!("PostgreSQL: {why}")),
            (None, None) => report.skipped.push("PostgreSQL: no --postgres URL given".into()),
        }
    }
    for (target, db) in &stores {
        if let Err(e) = bench_hub(&args, &opts, &out, target, db, &mut report, &mut side).await {
            eprintln!("hub-bench: {target}: {e:#}");
            report.skipped.push(format!("{target}: {e:#}"));
        }
    }

    // pouchdb-server on its own when no Hub target ran.
    if stores.is_empty() {
        if let Some(p) = side.pouch {
            client::measure_cpu_of(side.pid);
            if let Err(e) = pouch_alone(p, &opts, &mut report).await {
                eprintln!("hub-bench: pouchdb-server: {e:#}");
                report.skipped.push(format!("pouchdb-server: {e:#}"));
            }
        }
    }
    if let Some(e) = side.error.take() {
        report.skipped.push(format!("pouchdb-server: {e:#}"));
    }
    if let Some(e) = side.hello_error.take() {
        report.skipped.push(format!("axum hello-world beside the pulls: {e:#}"));
    }
    for f in std::mem::take(&mut side.figures) {
        report.figures.push(f);
    }
    if let Some((mut p, _)) = pouch_proc {
        if !p.alive() {
            report.skipped.push("pouchdb-server died during the run".into());
        }
        p.kill();
    }

    report.machine.load_after = procs::load_average();
    report.notes.push(format!("whole run: {:.0} s", started.elapsed().as_secs_f64()));
    let md = report.markdown();
    std::fs::write(out.join("latest.md"), &md)?;
    std::fs::write(out.join("latest.json"), serde_json::to_string_pretty(&report)?)?;
    println!("\n{md}");
    println!("hub-bench: wrote {} and latest.json", out.join("latest.md").display());
    Ok(())
}

fn push(report: &mut Report, f: Figure) {
    print_figure(&f);
    report.figures.push(f);
}

fn print_figure(f: &Figure) {
    println!(
        "  {:<15} {:<24} {:>9.0} req/s {:>9.0} mut/s  p50 {:>7.2} ms  p99 {:>7.2} ms  server {:>5.0} µs/req, client {:>4.0} µs/req{}{}{}",
        f.target,
        f.scenario,
        f.req_per_s,
        f.mutations_per_s,
        f.p50_ms,
        f.p99_ms,
        f.server_cpu_us_per_req.unwrap_or(0.0),
        f.client_cpu_us_per_req.unwrap_or(0.0),
        f.db_cpu_us_per_req.map(|c| format!(", db {c:.0} µs/req")).unwrap_or_default(),
        f.machine_busy_pct
            .map(|b| format!(", busy {b:.0} %{}", f.machine_steal_pct.map(|s| format!(" (steal {s:.0} %)")).unwrap_or_default()))
            .unwrap_or_default(),
        if f.errors + f.rejected > 0 { format!("  ({} errors, {} rejected)", f.errors, f.rejected) } else { String::new() }
    );
    if !f.server_threads_us_per_req.is_empty() {
        let per = |v: f64| if f.applied > 0 && f.requests > 0 { v * f.requests as f64 / f.applied as f64 } else { v };
        let unit = if f.applied > 0 { "mutation" } else { "request" };
        let list: Vec<String> =
            f.server_threads_us_per_req.iter().map(|(k, v)| format!("{k} {:.1}", per(*v))).collect();
        println!("      server CPU µs per {unit} by thread: {}", list.join(", "));
    }
}

/// The axum hello-world server, up for the whole run.
struct Hello {
    proc_: Proc,
    addr: std::net::SocketAddr,
}

async fn start_hello(args: &Args, out: &Path) -> Result<Hello> {
    let bin = match &args.hello_bin {
        Some(b) => b.clone(),
        None => sibling("hub-bench-hello")?,
    };
    let addr = free_addr()?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--listen").arg(addr.to_string());
    let proc_ = Proc::spawn("hello", cmd, &out.join("hello.log"))?;
    wait_ready(addr, "/", Duration::from_secs(10)).await?;
    Ok(Hello { proc_, addr })
}

/// One round of GET / on the hello-world at `addr` (its CPU measured by the caller).
async fn hello_round(addr: std::net::SocketAddr, opts: &Opts) -> Result<Figure> {
    let (rec, secs) = run_workers(
        &[addr],
        opts.concurrency,
        opts.warmup,
        opts.measure,
        |_| (),
        |_, (), mut conn: Conn, mut rec: Recorder| async move {
            while rec.running() {
                let started = Instant::now();
                match conn.send(Method::GET, "/", None, None).await {
                    Ok(r) if r.status.is_success() => {
                        rec.record(started, None);
                    }
                    Ok(r) => rec.error(format!("answered {}", r.status)),
                    Err(e) => rec.error(e),
                }
            }
            rec
        },
    )
    .await?;
    let mut f = Figure::from_recorder("axum-hello", "hello", opts.concurrency, secs, rec);
    f.note = "GET / answering \"Hello, World!\" (axum, same client, same connections)".into();
    Ok(f)
}

/// Seeds the roster through the store, in this process.
async fn seed(db: &str, spec: RosterSpec) -> Result<benchdata::Roster> {
    let (pokes, _) = broadcast::channel(16);
    let url = db.to_string();
    let store = tokio::task::spawn_blocking(move || sync_server::open_store(&url, pokes)).await??;
    let hash = tokio::task::spawn_blocking(|| sync_server::auth::hash_password(PASSWORD))
        .await?
        .map_err(anyhow::Error::msg)?;
    let roster = store.write(move |tx| benchdata::seed(tx, &spec, &hash)).await?;
    drop(store);
    Ok(roster)
}

/// The reference points beside the Hub targets: pouchdb-server's jobs run in the rounds of
/// Hub's scenarios, and the hello-world's in the rounds of the no-change pulls.
struct Side<'p, 'o> {
    pouch: Option<&'p pouch::Pouch<'o>>,
    pid: Option<u32>,
    /// The hello-world's address and process, while it answers.
    hello: Option<(std::net::SocketAddr, Option<u32>)>,
    /// Why its rounds beside the pulls stopped, if they failed.
    hello_error: Option<anyhow::Error>,
    /// The initial-sync guardians' snapshots (from the first Hub target), one database each.
    snapshots: Vec<Vec<serde_json::Value>>,
    /// Its figures, each beside the Hub target it alternated with.
    figures: Vec<Figure>,
    /// Why it stopped, if it failed: none of its jobs runs after that.
    error: Option<anyhow::Error>,
}

/// How long a round waits at most for the machine to be quiet after the other target's.
const SETTLE_AT_MOST: Duration = Duration::from_secs(5);

/// Runs a Hub scenario in `rounds` rounds, each followed by a round of the pouchdb-server
/// job that does the same work (`pouch_round`, given Hub's round; while pouchdb-server is
/// up and has not failed), and keeps both figures, each summed over its rounds.
///
/// Why: the two share a machine whose speed drifts by a third from one minute to the
/// next (other virtual machines on the host). Measured minutes apart, as they once were,
/// the same code's ratios moved by a factor of 1.8 between runs; alternated, each
/// ratio compares the two under the same conditions, and the rounds show its spread.
/// Between the two the machine is let settle ([`client::settle`]), so neither's
/// background work runs in the other's window.
///
/// With `hello` (the no-change pulls, whose target is a share of the HTTP ceiling), a
/// round of the hello-world runs after each Hub round too, for the same reason.
#[allow(clippy::too_many_arguments)]
async fn paired(
    report: &mut Report,
    side: &mut Side<'_, '_>,
    target: &str,
    hub_pids: &[u32],
    rounds: usize,
    hello: Option<&Opts>,
    mut hub_round: impl AsyncFnMut() -> Result<Figure>,
    mut pouch_round: impl AsyncFnMut(&pouch::Pouch<'_>, &Figure) -> Result<Figure>,
) -> Result<()> {
    let mut hub: Option<Figure> = None;
    let mut reference: Option<Figure> = None;
    let mut ceiling: Option<Figure> = None;
    for _ in 0..rounds.max(1) {
        client::measure_cpu_of_all(hub_pids);
        let h = hub_round().await?;
        if let (Some(opts), Some((addr, pid)), None) = (hello, side.hello, &side.hello_error) {
            let round = hello_round(addr, opts);
            reference_round(target, hub_pids, pid, "axum hello-world", &mut ceiling, &mut side.hello_error, round).await;
        }
        if let (Some(p), None) = (side.pouch, &side.error) {
            let round = pouch_round(p, &h);
            reference_round(target, hub_pids, side.pid, "pouchdb-server", &mut reference, &mut side.error, round).await;
        }
        add_round(&mut hub, h);
    }
    if let Some(h) = hub {
        push(report, h);
    }
    for r in [ceiling, reference].into_iter().flatten() {
        print_figure(&r);
        side.figures.push(r);
    }
    Ok(())
}

/// While alive, the runs measure the CPU time of the PostgreSQL server behind `url` (its
/// postmaster and every child process), when it runs on this machine.
struct DbCpu;

impl DbCpu {
    async fn measure(url: &str) -> Option<DbCpu> {
        if !url.starts_with("postgres") {
            return None;
        }
        let url = url.to_string();
        // The sync client in a thread of its own: it runs a runtime of its own.
        let backend = tokio::task::spawn_blocking(move || -> Result<(u32, Option<u32>)> {
            let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
            let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[])?.try_get(0)?;
            // The backend's parent is the postmaster (asked while the connection, and so
            // the backend, is still there).
            Ok((pid as u32, client::parent_pid(pid as u32)))
        })
        .await;
        match backend {
            Ok(Ok((pid, root))) => match root {
                Some(root) => {
                    client::measure_db_cpu_of(Some(root));
                    Some(DbCpu)
                }
                None => {
                    eprintln!("hub-bench: PostgreSQL runs elsewhere (no process {pid} here): its CPU is not measured");
                    None
                }
            },
            Ok(Err(e)) => {
                eprintln!("hub-bench: cannot ask PostgreSQL for its process: {e:#}");
                None
            }
            Err(e) => {
                eprintln!("hub-bench: {e}");
                None
            }
        }
    }
}

impl Drop for DbCpu {
    fn drop(&mut self) {
        client::measure_db_cpu_of(None);
    }
}

/// One round of a reference point (`round`, of the process `pid`) after a round of
/// `target` (the process `hub_pid`): once the machine has settled, with its own CPU
/// measured, added to `all`. A failure is kept in `error`, which ends its rounds.
async fn reference_round(
    target: &str,
    hub_pids: &[u32],
    pid: Option<u32>,
    name: &str,
    all: &mut Option<Figure>,
    error: &mut Option<anyhow::Error>,
    round: impl std::future::Future<Output = Result<Figure>>,
) {
    client::settle(SETTLE_AT_MOST).await;
    client::measure_cpu_of(pid);
    // The reference point's own processes only.
    let db = client::measure_db_cpu_of(None);
    let r = round.await;
    client::settle(SETTLE_AT_MOST).await;
    client::measure_cpu_of_all(hub_pids);
    client::measure_db_cpu_of(db);
    match r {
        Ok(mut f) => {
            f.beside = Some(target.to_string());
            add_round(all, f);
        }
        Err(e) => {
            eprintln!("hub-bench: {name}: {e:#}");
            *error = Some(e);
        }
    }
}

/// `f` as the first round of `all`, or added to it.
/// `rounds` rounds of a Hub scenario with no reference job beside it, as one row.
async fn unpaired(
    report: &mut Report,
    hub_pids: &[u32],
    rounds: usize,
    mut hub_round: impl AsyncFnMut() -> Result<Figure>,
) -> Result<()> {
    let mut all = None;
    for _ in 0..rounds.max(1) {
        client::measure_cpu_of_all(hub_pids);
        add_round(&mut all, hub_round().await?);
    }
    if let Some(f) = all {
        push(report, f);
    }
    Ok(())
}

fn add_round(all: &mut Option<Figure>, f: Figure) {
    match all.as_mut() {
        Some(all) => all.add_round(f),
        None => *all = Some(f),
    }
}

async fn bench_hub(
    args: &Args,
    opts: &Opts,
    out: &Path,
    target: &str,
    db: &str,
    report: &mut Report,
    side: &mut Side<'_, '_>,
) -> Result<()> {
    let spec = RosterSpec { children: args.children, ..RosterSpec::default() };
    let t = Instant::now();
    let roster = Arc::new(seed(db, spec.clone()).await.context("seeding the roster")?);
    let seeded = t.elapsed().as_secs_f64();
    let roster_text = format!(
        "{} children in {} units ({} per group, {} groups per unit, every other unit a school), {} guardian devices, {} staff tablets, {} families with a school year of data ({} – {}), {} entities; seeded in {seeded:.1} s",
        spec.children,
        roster.units,
        spec.children_per_group,
        spec.groups_per_unit,
        roster.guardians.len(),
        roster.tablets.len(),
        roster.history_guardians.len(),
        spec.year_start,
        spec.year_end,
        roster.entities
    );
    println!("{target}: {roster_text}");
    if report.roster.is_empty() {
        report.roster = roster_text;
    }

    let server_bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => sibling("sync-server")?,
    };
    let start_server = |addr: std::net::SocketAddr, log: &str| -> Result<Proc> {
        let mut cmd = Command::new(&server_bin);
        cmd.args(["--listen", &addr.to_string(), "--db", db, "--dev-clock"]).env("RUST_LOG", "warn");
        Proc::spawn(target, cmd, &out.join(format!("{log}.log")))
    };
    // Several instances on one database: only PostgreSQL's store is made for that.
    let instances = if db.starts_with("postgres") { args.instances.max(1) } else { 1 };
    let mut servers = Vec::with_capacity(instances);
    let mut addrs: Vec<std::net::SocketAddr> = Vec::with_capacity(instances);
    for i in 0..instances {
        let mut addr = free_addr()?;
        while addrs.contains(&addr) {
            addr = free_addr()?;
        }
        let log = if instances == 1 { target.to_string() } else { format!("{target}-{}", i + 1) };
        servers.push(start_server(addr, &log)?);
        addrs.push(addr);
    }
    let pids: Vec<u32> = servers.iter().filter_map(Proc::pid).collect();
    client::measure_cpu_of_all(&pids);
    // PostgreSQL's processes measured as the database's (no process of its own for SQLite).
    let _db = DbCpu::measure(db).await;
    let rounds = opts.rounds;
    for addr in &addrs {
        wait_ready(*addr, "/healthz", Duration::from_secs(60)).await.context("the sync server did not start")?;
    }
    let addr = addrs[0];
    let hub = hub::Hub { target: target.into(), addrs, roster: roster.clone(), opts };
    // The roster's tokens were issued at the benchmark's calendar, not today's.
    hub.set_clock(benchdata::stockholm(hub::today(), 7, 0)).await?;

    let run = |s: &str| args.scenarios.as_deref().is_none_or(|o| o.split(',').any(|x| x.trim() == s));
    // (1) no-change pulls, then (1b) pulls after a poke, from the same cursors.
    if run("pull") || run("poke") {
        let devices: Vec<_> = roster.guardians.iter().take(args.pull_devices).cloned().collect();
        let t = Instant::now();
        let cursors = hub.prepare_cursors(&devices).await.context("first syncs of the pulling devices")?;
        println!(
            "{target}: {} guardian devices synced to the head in {:.1} s",
            cursors.len(),
            t.elapsed().as_secs_f64()
        );
        if run("pull") {
            paired(
                report,
                side,
                target,
                &pids,
                rounds,
                Some(opts),
                async || hub.pull_no_change(cursors.clone()).await,
                async |p, _| p.changes_no_change(1000).await,
            )
            .await?;
        }
        if run("poke") {
            hub.poke(&devices).await.context("an absence report by each pulling device")?;
            // No pouchdb-server job: the row is for the sizing (docs/benchmarks.md), not a target.
            let who = "guardian devices";
            unpaired(report, &pids, rounds, async || hub.pull_after_poke("pull-after-poke", who, cursors.clone()).await)
                .await?;
        }
    }
    // (1c) Pulls after a poke by the guardians of a school year, whose threads give them
    // four times the scopes of the roster's (about 43): what a scope costs a pull. Only
    // when named (it adds an absence to the families the initial syncs read; no target).
    let named = |s: &str| args.scenarios.as_deref().is_some_and(|o| o.split(',').any(|x| x.trim() == s));
    if named("poke-year") {
        let devices: Vec<_> = roster.history_guardians.iter().map(|&i| roster.guardians[i].clone()).collect();
        let cursors = hub.prepare_cursors(&devices).await.context("first syncs of the school-year guardians")?;
        hub.poke(&devices).await.context("an absence report by each school-year guardian")?;
        let who = "guardians of a school year (about 43 scopes each)";
        unpaired(report, &pids, rounds, async || hub.pull_after_poke("pull-after-poke-year", who, cursors.clone()).await)
            .await?;
    }
    // (3) Sunday evening, then (2) Tuesday morning, (4) Tuesday evening: in calendar order.
    if run("care") {
        // pouchdb-server writes as many documents per request as Hub wrote care days per
        // mutation in its first round.
        let mut days: Option<usize> = None;
        paired(report, side, target, &pids, rounds, None, async || hub.care_week_rush().await, async |p, h| {
            let per = *days.get_or_insert_with(|| {
                if h.applied > 0 { ((h.items as f64 / h.applied as f64).round() as usize).max(1) } else { 30 }
            });
            p.bulk_docs_week(per).await
        })
        .await?;
    }
    if run("absence") {
        paired(report, side, target, &pids, rounds, None, async || hub.absence_rush().await, async |p, _| {
            p.bulk_docs_1().await
        })
        .await?;
    }
    let batch = roster.tablets.first().map(|d| d.children.len() * 2).unwrap_or(40);
    if run("attendance") {
        paired(report, side, target, &pids, rounds, None, async || hub.attendance_day().await, async |p, _| {
            p.bulk_docs_batch(batch).await
        })
        .await?;
    }
    // (2b) the absence rush again, with thousands of event streams open: for the sizing.
    if run("streams") {
        let n = args.streams.min(sync_server::open_files::raise_limit().saturating_sub(1000) as usize);
        let (without, with, s) = hub.streams(&pids, n).await.context("the event streams")?;
        println!(
            "{target}: {} event streams: poke p50 {:?} ms, {} pokes received",
            s.streams, s.poke_p50_ms, s.pokes_received
        );
        push(report, without);
        push(report, with);
        report.streams.push(s);
    }
    // (5) initial syncs: the scope sets are stored by a first, untimed sync of each device.
    if run("initial") {
        for &i in &roster.history_guardians {
            let mut c = Conn::new(addr);
            hub::full_sync(&mut c, &roster.guardians[i].token, None).await?;
        }
        // pouchdb-server replicates the first Hub target's guardians (one database each).
        if side.pouch.is_some() && side.snapshots.is_empty() {
            for &i in &roster.history_guardians {
                side.snapshots.push(hub::snapshot(addr, &roster.guardians[i].token).await?);
            }
        }
        let snapshots = std::mem::take(&mut side.snapshots);
        for (conc, scenario, job) in [(1, "initial-sync", "changes-initial"), (4, "initial-sync-parallel", "changes-initial-parallel")] {
            paired(report, side, target, &pids, rounds, None, async || hub.initial_sync(conc, scenario).await, async |p, _| {
                p.changes_initial(&snapshots, conc, job).await
            })
            .await?;
        }
        side.snapshots = snapshots;
    }
    if run("login") {
        push(report, hub.login().await?);
    }
    // (6) the morning peak held, open loop: for the sizing.
    if run("soak") {
        let steps = hub.soak(&args.soak_scales, args.soak_seconds, db, args.pull_devices).await.context("the soak")?;
        for s in steps {
            for f in &s.flows {
                println!(
                    "{target}: soak {}×, {}: {:.0}/s offered, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                    s.scale, f.name, f.offered_per_s, f.p50_ms, f.p99_ms, f.errors
                );
            }
            report.soaks.push(s);
        }
    }
    if !run("durability") {
        return Ok(());
    }

    // Durable group commit: SIGKILL under load, then look for every acknowledged mutation.
    let before_rows = count_mutations(db);
    let kill_after = Duration::from_secs(3);
    let (acked, stats) = hub::push_until_killed(&hub, kill_after, &mut servers).await?;
    drop(servers);
    let check = verify_acked(db, acked.clone()).await?;
    let after_rows = count_mutations(db);
    let mut d = Durability {
        target: target.into(),
        killed_after_s: (opts.warmup + kill_after).as_secs_f64(),
        acknowledged: acked.len() as u64,
        found: check,
        missing: acked.len() as u64 - check,
        ..Durability::default()
    };
    if let (Some(b), Some(a)) = (before_rows, after_rows) {
        d.unacknowledged_in_db = Some((a - b).saturating_sub(acked.len() as u64));
    }
    if let Some((jobs, commits, largest)) = stats {
        d.write_jobs = jobs;
        d.commits = commits;
        d.largest_group = largest;
        d.note = "write jobs and commits are the server's totals since it started (all scenarios above), read 0.2 s before the kill".into();
    }
    println!(
        "{target}: durability: {} acknowledged before SIGKILL, {} found after, {} missing",
        d.acknowledged, d.found, d.missing
    );
    report.durability.push(d);
    Ok(())
}

/// Rows in the `mutations` table (SQLite only; `None` elsewhere).
fn count_mutations(db: &str) -> Option<u64> {
    let path = db.strip_prefix("sqlite:")?;
    let conn = rusqlite::Connection::open(path).ok()?;
    conn.query_row("SELECT COUNT(*) FROM mutations", [], |r| r.get::<_, i64>(0)).ok().map(|n| n as u64)
}

/// Opens the store again after the kill and counts the acknowledged mutations it has.
async fn verify_acked(db: &str, ids: Vec<uuid::Uuid>) -> Result<u64> {
    let (pokes, _) = broadcast::channel(16);
    let url = db.to_string();
    let store = tokio::task::spawn_blocking(move || sync_server::open_store(&url, pokes)).await??;
    let found = store
        .read(move |tx| {
            let mut n = 0u64;
            for id in ids {
                if tx.mutation_outcome(id)?.is_some() {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await?;
    Ok(found)
}

/// Starts pouchdb-server in memory; the process and its address.
async fn start_pouch(out: &Path, script: &Path) -> Result<(Proc, std::net::SocketAddr)> {
    let dir = out.join("pouchdb-run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let addr = free_addr()?;
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .args(["--in-memory", "--port", &addr.port().to_string(), "--host", "127.0.0.1", "--no-stdout-logs"])
        .current_dir(&dir);
    let proc_ = Proc::spawn("pouchdb-server", cmd, &out.join("pouchdb-server.log"))?;
    if let Err(e) = wait_ready(addr, "/", Duration::from_secs(30)).await {
        let log = std::fs::read_to_string(out.join("pouchdb-server.log")).unwrap_or_default();
        bail!("{e}; its log ends: {}", log.lines().rev().take(5).collect::<Vec<_>>().join(" | "));
    }
    Ok((proc_, addr))
}

/// pouchdb-server's jobs without Hub beside them (`--only pouchdb`), in as many rounds.
async fn pouch_alone(p: &pouch::Pouch<'_>, opts: &Opts, report: &mut Report) -> Result<()> {
    async fn rounds(n: usize, mut run: impl AsyncFnMut() -> Result<Figure>) -> Result<Figure> {
        let mut all = run().await?;
        for _ in 1..n {
            all.add_round(run().await?);
        }
        Ok(all)
    }
    let n = opts.rounds;
    push(report, rounds(n, async || p.changes_no_change(1000).await).await?);
    push(report, rounds(n, async || p.bulk_docs_week(30).await).await?);
    push(report, rounds(n, async || p.bulk_docs_1().await).await?);
    push(report, rounds(n, async || p.bulk_docs_batch(40).await).await?);
    report.skipped.push("pouchdb-server initial sync: no Hub snapshot to replicate".into());
    Ok(())
}
