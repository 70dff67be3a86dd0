//! `cargo xtask test`: set-up, then every test layer in order, one cargo target directory for
//! all of them (the first layer builds everything the later ones run). Stops at the first
//! layer that fails and prints a summary.
//!
//! To add a layer, add an entry to `layers()`. A layer with `postgres: true` runs with a
//! throwaway PostgreSQL cluster (`pg_cluster`), started before it and stopped after it
//! whatever happens, its URL in `HUB_TEST_DATABASE_URL`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{pg_cluster, setup, util};

/// One test layer: a name for the summary and the command that runs it.
struct Layer {
    name: &'static str,
    command: Command,
    /// Runs against a throwaway PostgreSQL cluster.
    postgres: bool,
    /// Instead of `command`: this integration test of the workspace, as the build layer
    /// made it, run directly with these arguments. `cargo test --test NAME` selects other
    /// targets than `cargo test --workspace` and so resolves the dependencies' features
    /// again: it rebuilt about 70 crates (90 s in CI) before running anything.
    binary: Option<(&'static str, Vec<String>)>,
}

fn layers(cargo_test_args: &[String]) -> Vec<Layer> {
    let cargo = |args: &[&str]| {
        let mut cmd = util::cargo();
        cmd.args(args);
        cmd
    };
    let mut test = cargo(&["test", "--workspace", "--no-fail-fast"]);
    test.args(cargo_test_args);
    // The test binaries take the filter and the options after `--` (see `Layer::binary`).
    let binary_args: Vec<String> = cargo_test_args.iter().filter(|a| *a != "--").cloned().collect();
    // The app against two instances on PostgreSQL behind a load balancer (tests/engine's
    // `scale_out`, skipped in the layer above, which has no PostgreSQL).
    let engine_args = if binary_args.is_empty() { vec!["scale_out".to_string()] } else { binary_args.clone() };
    vec![
        Layer {
            // The UI in wasm32 into ui/dist, before `build` embeds it in the app (this also
            // builds `domain` for wasm32: the wasm check). `cargo xtask ui` is that step.
            name: "ui (wasm)",
            command: cargo(&["xtask", "ui"]),
            postgres: false,
            binary: None,
        },
        Layer {
            name: "build",
            command: cargo(&["build", "--workspace", "--all-targets"]),
            postgres: false,
            binary: None,
        },
        Layer {
            name: "tests",
            command: test,
            postgres: false,
            binary: None,
        },
        Layer {
            // The server's contract suite again (sync-server/tests/contract), on PostgreSQL,
            // with the tests of several instances on one database that only run there.
            name: "server suite on PostgreSQL",
            command: cargo(&["test", "--workspace", "--test", "contract"]),
            postgres: true,
            binary: Some(("contract", binary_args)),
        },
        Layer {
            name: "engine on PostgreSQL instances",
            command: cargo(&["test", "--workspace", "--test", "engine"]),
            postgres: true,
            binary: Some(("engine", engine_args)),
        },
        Layer {
            // The real app under Xvfb, driven through tauri-driver and WebKitWebDriver
            // against a real sync server; screenshots and logs in target/e2e/.
            name: "e2e",
            command: cargo(&["run", "--quiet", "-p", "hub-e2e"]),
            postgres: false,
            binary: None,
        },
    ]
}

/// The executable of the workspace's integration test `target` as `cargo test --workspace`
/// builds it (already built: this only asks cargo where it is), and its package's folder,
/// where cargo would run it.
fn workspace_test_binary(target: &str) -> Result<(PathBuf, PathBuf)> {
    let mut cmd = util::cargo();
    cmd.args(["test", "--workspace", "--no-run", "--message-format=json"]);
    let out = util::output(&mut cmd)?.context("cargo is missing")?;
    if !out.status.success() {
        bail!("`{}` failed: {}", util::display(&cmd), String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Lines of JSON; the integration test's artifact names its target, its executable and
    // its manifest. (Paths in this repository need no JSON escapes.)
    let field = |line: &str, name: &str| -> Option<String> {
        let start = line.find(&format!("\"{name}\":\""))? + name.len() + 4;
        let len = line[start..].find('"')?;
        Some(line[start..start + len].to_string())
    };
    for line in stdout.lines() {
        let ours = line.contains("\"reason\":\"compiler-artifact\"")
            && line.contains("\"kind\":[\"test\"]")
            && line.contains(&format!("\"name\":\"{target}\""));
        if !ours {
            continue;
        }
        if let (Some(exe), Some(manifest)) = (field(line, "executable"), field(line, "manifest_path")) {
            let dir = PathBuf::from(manifest).parent().map(PathBuf::from).context("a manifest's folder")?;
            return Ok((PathBuf::from(exe), dir));
        }
    }
    bail!("`cargo test --workspace` builds no integration test named {target}")
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
        if let Some((target, args)) = &layer.binary {
            match workspace_test_binary(target) {
                Ok((exe, dir)) => {
                    let mut cmd = Command::new(exe);
                    cmd.args(args).current_dir(dir);
                    layer.command = cmd;
                }
                Err(err) => {
                    eprintln!("xtask: {err:#}");
                    outcomes.push((layer.name, Outcome::Failed(Duration::ZERO)));
                    failed = Some(layer.name);
                    continue;
                }
            }
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
        let result = if layer.postgres {
            // Dropped (stopped, its folder removed) when this block ends, pass or fail.
            pg_cluster::Cluster::start().and_then(|cluster| {
                layer.command.env("HUB_TEST_DATABASE_URL", cluster.url());
                util::run(&mut layer.command)
            })
        } else {
            util::run(&mut layer.command)
        };
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
    let Some(bin) = pg_cluster::newest_debian_postgres_bin() else {
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
