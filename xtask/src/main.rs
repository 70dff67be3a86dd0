//! `cargo xtask …`: the project's two commands (`demo`, `test`) and the set-up they share.
//!
//! Plain `std::process` throughout: no dependencies beyond `anyhow`, so this crate builds in a
//! second on a fresh machine, before anything else is installed.

mod demo;
mod setup;
mod testing;
mod util;

use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup                       install what is missing (Debian packages, wasm target, pinned tools)
  test [-- <cargo test args>] setup, then every test layer; a summary at the end
  demo [--reset] [--listen ADDR]
                              setup, then the sync server with demo data on ADDR
                              (default 127.0.0.1:8787); --reset starts from an empty database
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
        None | Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
