//! `cargo xtask …`: the project's two commands (`demo`, `test`) and the set-up they share.
//!
//! Plain `std::process` throughout: no dependencies beyond `anyhow`, so this crate builds in a
//! second on a fresh machine, before anything else is installed.

mod app;
mod bench;
mod demo;
mod pg_cluster;
mod setup;
mod testing;
mod util;

use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup                       install what is missing (Debian packages, wasm target, pinned tools)
  test [-- <cargo test args>] setup, then every test layer (the UI's wasm build, build,
                              tests, end-to-end in the real app); a summary at the end
  demo [--reset] [--listen ADDR]
                              setup, build the server, the UI and the app, start the sync
                              server with demo data on ADDR (default 127.0.0.1:8787) and open
                              the app signed out; --reset starts from an empty database
  ui                          setup, then build the UI (wasm) into ui/dist
  e2e                         setup, build the UI and the app, run the end-to-end scenarios
                              (screenshots and logs in target/e2e/)
  bench [-- <hub-bench args>] setup, release build, then the load generator against SQLite,
                              PostgreSQL, axum hello-world and pouchdb-server; the figures in
                              target/bench/latest.md and latest.json (not part of `test`)
  help                        this text
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    match command.as_deref() {
        Some("setup") => {
            if let Some(extra) = rest.first() {
                bail!("`setup` takes no arguments (got `{extra}`)\n\n{USAGE}");
            }
            setup::run()
        }
        Some("test") => testing::run(&rest),
        Some("demo") => demo::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("ui") => app::ui(&rest),
        Some("e2e") => app::e2e(&rest),
        None | Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
