//! Small helpers shared by the commands: paths, finding programs, running them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The workspace root (the folder holding the root `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    let root = repo_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir), // `join` keeps an absolute path as is
        _ => root.join("target"),
    }
}

/// The cargo that runs us (`CARGO`, set by `cargo run`), so nested builds use the same
/// toolchain; plain `cargo` otherwise.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(program);
    cmd.current_dir(repo_root());
    cmd
}

/// The full path of `program` if it is an executable file on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// A command line as one would type it, for messages: our cargo shows as `cargo`, a program
/// inside the repository by its relative path.
pub fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let program = if std::env::var_os("CARGO").as_deref() == Some(program.as_os_str()) {
        Path::new("cargo")
    } else {
        program.strip_prefix(repo_root()).unwrap_or(program)
    };
    let mut parts = vec![program.to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs `cmd` with inherited stdout/stderr and no stdin; fails unless it exits with 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` and returns its stdout (stderr is kept for the error message). `Ok(None)` when
/// the program does not exist.
pub fn output(cmd: &mut Command) -> Result<Option<std::process::Output>> {
    let line = display(cmd);
    match cmd.stdin(Stdio::null()).output() {
        Ok(out) => Ok(Some(out)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("could not run `{line}`")),
    }
}
