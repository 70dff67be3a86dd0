//! `cargo xtask test`: set-up, then every test layer in order, one cargo target directory for
//! all of them (the first layer builds everything the later ones run). Stops at the first
//! layer that fails and prints a summary.
//!
//! To add a layer, add an entry to `layers()`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{setup, util};

/// One test layer: a name for the summary and the command that runs it.
struct Layer {
    name: &'static str,
    command: Command,
}

fn layers(cargo_test_args: &[String]) -> Vec<Layer> {
    let cargo = |args: &[&str]| {
        let mut cmd = util::cargo();
        cmd.args(args);
        cmd
    };
    let mut test = cargo(&["test", "--workspace", "--no-fail-fast"]);
    test.args(cargo_test_args);
    vec![
        Layer {
            name: "build",
            command: cargo(&["build", "--workspace", "--all-targets"]),
        },
        Layer {
            name: "tests",
            command: test,
        },
        Layer {
            name: "wasm check",
            command: cargo(&[
                "build",
                "-p",
                "domain",
                "--target",
                "wasm32-unknown-unknown",
            ]),
        },
    ]
}

enum Outcome {
    Passed(Duration),
    Failed(Duration),
    Skipped,
}

pub fn run(args: &[String]) -> Result<()> {
    let cargo_test_args = match args.split_first() {
        None => &[][..],
        Some((first, rest)) if first == "--" => rest,
        Some((first, _)) => bail!(
            "unexpected argument `{first}`: arguments for `cargo test` go after `--`, e.g. \
             `cargo xtask test -- absence` or `cargo xtask test -- -- --nocapture`"
        ),
    };

    setup::run()?;

    let path = path_with_postgres().context("looking for PostgreSQL's initdb")?;
    let mut layers = layers(cargo_test_args);
    let total = layers.len();
    let mut outcomes = Vec::with_capacity(total);
    let mut failed = None;
    for (i, layer) in layers.iter_mut().enumerate() {
        if failed.is_some() {
            outcomes.push((layer.name, Outcome::Skipped));
            continue;
        }
        println!(
            "\n==> [{}/{total}] {}: {}",
            i + 1,
            layer.name,
            util::display(&layer.command)
        );
        layer.command.env("RUST_BACKTRACE", "1");
        if let Some(path) = &path {
            layer.command.env("PATH", path);
        }
        let started = Instant::now();
        let result = util::run(&mut layer.command);
        let took = started.elapsed();
        match result {
            Ok(()) => outcomes.push((layer.name, Outcome::Passed(took))),
            Err(err) => {
                eprintln!("xtask: {err:#}");
                outcomes.push((layer.name, Outcome::Failed(took)));
                failed = Some(layer.name);
            }
        }
    }

    println!("\n==> summary");
    let width = outcomes
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, outcome) in &outcomes {
        let (word, took) = match outcome {
            Outcome::Passed(d) => ("ok", Some(d)),
            Outcome::Failed(d) => ("FAILED", Some(d)),
            Outcome::Skipped => ("skipped", None),
        };
        let took = took
            .map(|d| format!("{:7.1} s", d.as_secs_f64()))
            .unwrap_or_default();
        println!(
            "{}",
            format!("    {name:width$}  {word:7} {took}").trim_end()
        );
    }
    match failed {
        Some(name) => bail!("test layer `{name}` failed; the layers after it did not run"),
        None => {
            println!("    all {total} layers passed");
            Ok(())
        }
    }
}

/// Debian installs `initdb`/`pg_ctl` under /usr/lib/postgresql/<major>/bin, off PATH. When
/// PATH has no `initdb`, returns PATH with the newest such folder in front, for the storage
/// tests that start a throwaway cluster; `None` leaves PATH as it is.
fn path_with_postgres() -> Result<Option<OsString>> {
    if let Some(initdb) = util::which("initdb") {
        println!("    postgres: {}", initdb.display());
        return Ok(None);
    }
    let Some(bin) = newest_debian_postgres_bin() else {
        println!("    postgres: no initdb found; PostgreSQL tests will say what they need");
        return Ok(None);
    };
    println!(
        "    postgres: {} (put on PATH)",
        bin.join("initdb").display()
    );
    let mut dirs = vec![bin];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    Ok(Some(std::env::join_paths(dirs).context("joining PATH")?))
}

fn newest_debian_postgres_bin() -> Option<PathBuf> {
    let entries = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin)
}
