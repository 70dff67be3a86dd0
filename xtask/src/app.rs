//! The app's build route (STACK.md): the Dioxus UI compiled to wasm32 with plain cargo,
//! `wasm-bindgen` into `ui/dist` with the hand-written page and styles, then the Tauri shell
//! (`hub-app`, binary `hub`), which embeds `ui/dist` at compile time. No `dx`, no downloads.
//! Also: the end-to-end run (`hub-e2e`) over the built app.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util;

/// The wasm target and where the UI's page goes.
const WASM_TARGET: &str = "wasm32-unknown-unknown";

pub fn ui_dir() -> PathBuf {
    util::repo_root().join("ui")
}

pub fn dist_dir() -> PathBuf {
    ui_dir().join("dist")
}

/// `wasm-bindgen` as installed by setup (`cargo install wasm-bindgen-cli`).
fn wasm_bindgen() -> Result<PathBuf> {
    if let Some(p) = util::which("wasm-bindgen") {
        return Ok(p);
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    match home.map(|h| h.join("bin/wasm-bindgen")) {
        Some(p) if p.is_file() => Ok(p),
        _ => bail!("wasm-bindgen not found: run `cargo xtask setup` (it installs wasm-bindgen-cli)"),
    }
}

/// Builds the UI: release wasm, bindings, page and styles into `ui/dist`.
pub fn build_ui() -> Result<()> {
    println!("==> ui: cargo build -p ui --target {WASM_TARGET} --release");
    util::run(util::cargo().args(["build", "-p", "ui", "--bin", "ui", "--target", WASM_TARGET, "--release"]))?;
    let wasm = util::target_dir().join(WASM_TARGET).join("release").join("ui.wasm");
    let dist = dist_dir();
    // A fresh folder each time, so no stale file (a placeholder page) survives.
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    std::fs::create_dir_all(&dist)?;
    let mut bindgen = Command::new(wasm_bindgen()?);
    bindgen
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&dist)
        .arg(&wasm);
    println!("    {}", util::display(&bindgen));
    util::run(&mut bindgen)?;
    let ui = ui_dir();
    for file in ["index.html", "boot.js"] {
        copy(&ui.join(file), &dist.join(file))?;
    }
    for entry in std::fs::read_dir(ui.join("assets")).context("reading ui/assets")? {
        let path = entry?.path();
        if path.is_file() {
            if let Some(name) = path.file_name() {
                copy(&path, &dist.join(name))?;
            }
        }
    }
    let size = std::fs::metadata(dist.join("ui_bg.wasm")).map(|m| m.len()).unwrap_or(0);
    println!("    ui/dist ready (ui_bg.wasm {} KB)", size / 1024);
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

/// Builds the sync server and the app (debug), after the UI.
pub fn build_app() -> Result<PathBuf> {
    println!("==> app: cargo build -p sync-server -p hub-app");
    util::run(util::cargo().args(["build", "-p", "sync-server", "-p", "hub-app"]))?;
    Ok(util::target_dir().join("debug").join("hub"))
}

/// Runs the end-to-end scenarios against the built app and server (builds `hub-e2e`).
pub fn run_e2e() -> Result<()> {
    util::run(util::cargo().args(["build", "-p", "hub-e2e", "-p", "hub-app", "-p", "sync-server"]))?;
    let bin = util::target_dir().join("debug").join("hub-e2e");
    let mut cmd = Command::new(bin);
    println!("    {}", util::display(&cmd));
    util::run(&mut cmd).context("end-to-end scenarios failed (screenshots and logs in target/e2e/)")
}

/// `cargo xtask e2e`: set-up, UI, app, scenarios.
pub fn e2e(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("`e2e` takes no arguments (got `{a}`)");
    }
    crate::setup::run()?;
    build_ui()?;
    build_app()?;
    run_e2e()
}

/// `cargo xtask ui`: set-up, then the UI into `ui/dist`.
pub fn ui(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("`ui` takes no arguments (got `{a}`)");
    }
    crate::setup::run()?;
    build_ui()
}
