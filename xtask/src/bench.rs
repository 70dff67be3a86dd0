//! `cargo xtask bench [-- <hub-bench args>]`: the load generator (crate `hub-bench`) against
//! release builds, with its two reference points and both stores:
//!
//! 1. setup (the `postgresql` package among the rest), then `cargo build --release -p
//!    sync-server -p hub-bench`: figures come from release builds only;
//! 2. pouchdb-server 4.2.0 from npm into `target/bench/pouchdb/` (once; kept between runs);
//!    when npm or the install fails, the run goes on without it and the report says why;
//! 3. a throwaway PostgreSQL cluster (the same `pg_cluster` as `cargo xtask test`), stopped
//!    after the run whatever happens; without PostgreSQL the report says why;
//! 4. `target/release/hub-bench --out target/bench …`, which prints the figures and writes
//!    `target/bench/latest.md` and `target/bench/latest.json`.
//!
//! Not part of `cargo xtask test`: figures, not assertions, and a few minutes of a quiet
//! machine. Arguments after `--` go to hub-bench (`-- --help` lists them).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{pg_cluster, setup, util};

const POUCHDB: &str = "pouchdb-server@4.2.0";

pub fn run(args: &[String]) -> Result<()> {
    let bench_args = match args.split_first() {
        None => &[][..],
        Some((first, rest)) if first == "--" => rest,
        Some((first, _)) => {
            bail!("unexpected argument `{first}`: arguments for hub-bench go after `--`")
        }
    };
    setup::run()?;

    println!("\n==> build (release)");
    let mut build = util::cargo();
    build.args(["build", "--release", "-p", "sync-server", "-p", "hub-bench"]);
    util::run(&mut build)?;

    let out = util::target_dir().join("bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let release = util::target_dir().join("release");
    let mut bench = Command::new(release.join("hub-bench"));
    bench.arg("--out").arg(&out);

    println!("\n==> pouchdb-server");
    match pouchdb(&out.join("pouchdb")) {
        Ok(script) => {
            println!("    {}", script.display());
            bench.arg("--pouchdb").arg(script);
        }
        Err(e) => {
            let why = format!("{e:#}");
            eprintln!("xtask: pouchdb-server is not available; benching without it:\n{why}");
            bench.arg("--pouchdb-unavailable").arg(why);
        }
    }

    println!("\n==> postgres");
    // Kept alive until hub-bench is done; dropping it stops the cluster.
    let cluster = match pg_cluster::Cluster::start() {
        Ok(c) => {
            bench.arg("--postgres").arg(c.url());
            Some(c)
        }
        Err(e) => {
            let why = format!("{e:#}");
            eprintln!("xtask: no PostgreSQL cluster; benching SQLite only:\n{why}");
            bench.arg("--postgres-unavailable").arg(why);
            None
        }
    };

    println!("\n==> hub-bench (load average before: {})", load_average());
    bench.args(bench_args);
    let result = util::run(&mut bench);
    drop(cluster);
    result?;
    println!("\n==> report: {}", out.join("latest.md").display());
    Ok(())
}

/// pouchdb-server's start script, installed with npm into `dir` if it is not there yet.
fn pouchdb(dir: &Path) -> Result<PathBuf> {
    let script = dir.join("node_modules/pouchdb-server/bin/pouchdb-server");
    if script.is_file() {
        return Ok(script);
    }
    if util::which("node").is_none() || util::which("npm").is_none() {
        bail!("`node` and `npm` are needed (Debian packages `nodejs` and `npm`)");
    }
    std::fs::create_dir_all(dir)?;
    let mut npm = Command::new("npm");
    npm.args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .arg(POUCHDB);
    println!("    {}", util::display(&npm));
    let out = util::output(&mut npm)?.context("npm not found")?;
    if !out.status.success() || !script.is_file() {
        bail!(
            "`npm install {POUCHDB}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(script)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
