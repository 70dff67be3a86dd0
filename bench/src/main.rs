//! `hub-bench`: Hub's load generator. Run it through `cargo xtask bench`, which builds it and
//! the sync server in release, installs pouchdb-server and starts a throwaway PostgreSQL.
//!
//! On loopback, in one run: the axum hello-world (the HTTP ceiling), then for each store
//! (SQLite, and PostgreSQL when given) a large synthetic roster seeded straight through the
//! store, a release `sync-server --dev-clock` on it, and the scenarios of simulated devices:
//! no-change pulls, the morning absence rush, the Sunday-evening care-week rush, staff
//! tablets syncing a day of attendance, initial syncs of guardians with a school year of
//! data, a few sign-ins, and the durable-group-commit check (SIGKILL under load). Then
//! pouchdb-server 4.2.0 in memory doing the same jobs. Figures go to `<out>/latest.md` and
//! `<out>/latest.json`. Figures, never assertions.

/// The sync server's allocator, so the reference and the client are not handicapped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod hub;
mod pouch;
mod procs;
mod report;

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
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 6.0)]
    seconds: f64,
    /// Warm-up seconds per scenario (not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Guardian devices in the no-change pull scenario.
    #[arg(long, default_value_t = 2000)]
    pull_devices: usize,
    /// Only these targets (comma-separated: hello, sqlite, postgres, pouchdb).
    #[arg(long)]
    only: Option<String>,
    /// Only these Hub scenarios (comma-separated: pull, care, absence, attendance, initial,
    /// login, durability); for profiling one at a time.
    #[arg(long)]
    scenarios: Option<String>,
}

pub struct Opts {
    pub concurrency: usize,
    pub write_concurrency: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().context("no parent folder of this binary")?.join(name))
}

fn main() -> Result<()> {
    let args = Args::parse();
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
    };
    let want = |t: &str| args.only.as_deref().is_none_or(|o| o.split(',').any(|x| x.trim() == t));
    let mut report = Report { machine: procs::machine(), ..Report::default() };
    let started = Instant::now();
    println!("hub-bench: {} cores, {}, load {}", report.machine.nproc, report.machine.cpu, report.machine.load_before);

    // The HTTP ceiling.
    if want("hello") {
        match hello(&args, &opts, &out).await {
            Ok(f) => push(&mut report, f),
            Err(e) => report.skipped.push(format!("axum hello-world: {e:#}")),
        }
    }

    // Hub on each store.
    let mut snapshots = Vec::new();
    let mut week_days_per_mutation = 30usize;
    let mut batch = 40usize;
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
            (Some(url), _) => stores.push(("hub-postgres".into(), url.clone())),
            (None, Some(why)) => report.skipped.push(format!("PostgreSQL: {why}")),
            (None, None) => report.skipped.push("PostgreSQL: no --postgres URL given".into()),
        }
    }
    for (target, db) in &stores {
        match bench_hub(&args, &opts, &out, target, db, &mut report).await {
            Ok(Some((snap, days, b))) => {
                if snapshots.is_empty() {
                    snapshots = snap;
                    week_days_per_mutation = days;
                    batch = b;
                }
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("hub-bench: {target}: {e:#}");
                report.skipped.push(format!("{target}: {e:#}"));
            }
        }
    }

    // The pouchdb-server reference.
    if want("pouchdb") {
        match (&args.pouchdb, &args.pouchdb_unavailable) {
            (Some(script), _) => {
                if let Err(e) =
                    bench_pouch(&opts, &out, script, &snapshots, week_days_per_mutation, batch, &mut report).await
                {
                    eprintln!("hub-bench: pouchdb-server: {e:#}");
                    report.skipped.push(format!("pouchdb-server: {e:#}"));
                }
            }
            (None, Some(why)) => report.skipped.push(format!("pouchdb-server: {why}")),
            (None, None) => report.skipped.push("pouchdb-server: no --pouchdb script given".into()),
        }
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
    println!(
        "  {:<15} {:<24} {:>9.0} req/s {:>9.0} mut/s  p50 {:>7.2} ms  p99 {:>7.2} ms  server {:>5.0} µs/req, client {:>4.0} µs/req{}",
        f.target,
        f.scenario,
        f.req_per_s,
        f.mutations_per_s,
        f.p50_ms,
        f.p99_ms,
        f.server_cpu_us_per_req.unwrap_or(0.0),
        f.client_cpu_us_per_req.unwrap_or(0.0),
        if f.errors + f.rejected > 0 { format!("  ({} errors, {} rejected)", f.errors, f.rejected) } else { String::new() }
    );
    if !f.server_threads_us_per_req.is_empty() {
        let per = |v: f64| if f.applied > 0 && f.requests > 0 { v * f.requests as f64 / f.applied as f64 } else { v };
        let unit = if f.applied > 0 { "mutation" } else { "request" };
        let list: Vec<String> =
            f.server_threads_us_per_req.iter().map(|(k, v)| format!("{k} {:.1}", per(*v))).collect();
        println!("      server CPU µs per {unit} by thread: {}", list.join(", "));
    }
    report.figures.push(f);
}

async fn hello(args: &Args, opts: &Opts, out: &Path) -> Result<Figure> {
    let bin = match &args.hello_bin {
        Some(b) => b.clone(),
        None => sibling("hub-bench-hello")?,
    };
    let addr = free_addr()?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--listen").arg(addr.to_string());
    let proc_ = Proc::spawn("hello", cmd, &out.join("hello.log"))?;
    proc_.measure_cpu();
    wait_ready(addr, "/", Duration::from_secs(10)).await?;
    let (rec, secs) = run_workers(
        addr,
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
                    Ok(r) => rec.error(started, format!("answered {}", r.status)),
                    Err(e) => rec.error(started, e),
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

type HubOutcome = Option<(Vec<Vec<serde_json::Value>>, usize, usize)>;

async fn bench_hub(
    args: &Args,
    opts: &Opts,
    out: &Path,
    target: &str,
    db: &str,
    report: &mut Report,
) -> Result<HubOutcome> {
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
    let start_server = |addr: std::net::SocketAddr| -> Result<Proc> {
        let mut cmd = Command::new(&server_bin);
        cmd.args(["--listen", &addr.to_string(), "--db", db, "--dev-clock"]).env("RUST_LOG", "warn");
        Proc::spawn(target, cmd, &out.join(format!("{target}.log")))
    };
    let addr = free_addr()?;
    let mut server = start_server(addr)?;
    server.measure_cpu();
    wait_ready(addr, "/healthz", Duration::from_secs(60)).await.context("the sync server did not start")?;
    let hub = hub::Hub { target: target.into(), addr, roster: roster.clone(), opts };
    // The roster's tokens were issued at the benchmark's calendar, not today's.
    hub.set_clock(benchdata::stockholm(hub::today(), 7, 0)).await?;

    let run = |s: &str| args.scenarios.as_deref().is_none_or(|o| o.split(',').any(|x| x.trim() == s));
    // (1) no-change pulls
    if run("pull") {
        let devices: Vec<_> = roster.guardians.iter().take(args.pull_devices).cloned().collect();
        let t = Instant::now();
        let cursors = hub.prepare_cursors(&devices).await.context("first syncs of the pulling devices")?;
        println!(
            "{target}: {} guardian devices synced to the head in {:.1} s",
            cursors.len(),
            t.elapsed().as_secs_f64()
        );
        push(report, hub.pull_no_change(cursors).await?);
    }
    // (3) Sunday evening, then (2) Tuesday morning, (4) Tuesday evening: in calendar order.
    let mut days = 30;
    if run("care") {
        let care = hub.care_week_rush().await?;
        if care.applied > 0 {
            days = (care.items as f64 / care.applied as f64).round() as usize;
        }
        push(report, care);
    }
    if run("absence") {
        push(report, hub.absence_rush().await?);
    }
    let batch = roster.tablets.first().map(|d| d.children.len() * 2).unwrap_or(40);
    if run("attendance") {
        push(report, hub.attendance_day().await?);
    }
    // (5) initial syncs: the scope sets are stored by a first, untimed sync of each device.
    let mut snapshots = Vec::new();
    if run("initial") {
        for &i in &roster.history_guardians {
            let mut c = Conn::new(addr);
            hub::full_sync(&mut c, &roster.guardians[i].token, None).await?;
        }
        push(report, hub.initial_sync(1, "initial-sync").await?);
        push(report, hub.initial_sync(4, "initial-sync-parallel").await?);
        // pouchdb-server replicates the same guardians' snapshots (one database each).
        for &i in &roster.history_guardians {
            snapshots.push(hub::snapshot(addr, &roster.guardians[i].token).await?);
        }
    }
    if run("login") {
        push(report, hub.login().await?);
    }
    if !run("durability") {
        return Ok(Some((snapshots, days, batch)));
    }

    // Durable group commit: SIGKILL under load, then look for every acknowledged mutation.
    let before_rows = count_mutations(db);
    let kill_after = Duration::from_secs(3);
    let (acked, stats) = hub::push_until_killed(&hub, kill_after, &mut server).await?;
    drop(server);
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
    Ok(Some((snapshots, days, batch)))
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

async fn bench_pouch(
    opts: &Opts,
    out: &Path,
    script: &Path,
    snapshots: &[Vec<serde_json::Value>],
    week_docs: usize,
    batch: usize,
    report: &mut Report,
) -> Result<()> {
    let dir = out.join("pouchdb-run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let addr = free_addr()?;
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .args(["--in-memory", "--port", &addr.port().to_string(), "--host", "127.0.0.1", "--no-stdout-logs"])
        .current_dir(&dir);
    let mut proc_ = Proc::spawn("pouchdb-server", cmd, &out.join("pouchdb-server.log"))?;
    proc_.measure_cpu();
    if let Err(e) = wait_ready(addr, "/", Duration::from_secs(30)).await {
        let log = std::fs::read_to_string(out.join("pouchdb-server.log")).unwrap_or_default();
        bail!("{e}; its log ends: {}", log.lines().rev().take(5).collect::<Vec<_>>().join(" | "));
    }
    let p = pouch::Pouch { addr, opts };
    push(report, p.changes_no_change(1000).await?);
    push(report, p.bulk_docs_week(week_docs).await?);
    push(report, p.bulk_docs_1().await?);
    push(report, p.bulk_docs_batch(batch).await?);
    if snapshots.is_empty() {
        report.skipped.push("pouchdb-server initial sync: no Hub snapshot to replicate".into());
    } else {
        push(report, p.changes_initial(snapshots, 1, "changes-initial").await?);
        push(report, p.changes_initial(snapshots, 4, "changes-initial-parallel").await?);
    }
    if !proc_.alive() {
        bail!("pouchdb-server died during the run");
    }
    proc_.kill();
    Ok(())
}
