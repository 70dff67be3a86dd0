//! `cargo xtask setup`: installs what is missing, and nothing else, so it is cheap to run
//! before every `test` and `demo`. Targets a Debian 12 machine; elsewhere it says what it
//! needs and leaves the rest to you.
//!
//! To add a requirement, add a row to one of the tables below: `DEBIAN_PACKAGES`,
//! `RUST_TARGETS` or `CARGO_TOOLS`. Nothing else needs to change.

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util;

/// A set of Debian packages needed for one purpose.
struct PackageGroup {
    purpose: &'static str,
    /// Real package names (not virtual ones: those never show as installed, so they would be
    /// "installed" again on every run and then reported as still missing).
    packages: &'static [&'static str],
}

/// Every Debian package the project needs, grouped by purpose.
const DEBIAN_PACKAGES: &[PackageGroup] = &[
    PackageGroup {
        purpose: "server and tests",
        packages: &[
            "pkg-config",
            "build-essential",
            // PostgreSQL server binaries for the storage tests. Debian keeps `initdb` and
            // `pg_ctl` under /usr/lib/postgresql/15/bin, off PATH; `cargo xtask test` puts
            // that folder on PATH when no `initdb` is found there already.
            "postgresql",
            "curl",
        ],
    },
    PackageGroup {
        // app-core keeps the session token in the OS keyring: on Linux the Secret Service
        // over D-Bus (keyring's `sync-secret-service`), which links libdbus through
        // pkg-config (listed above).
        purpose: "client engine (app-core): OS keyring",
        packages: &["libdbus-1-dev"],
    },
    PackageGroup {
        // STACK.md: what Tauri 2 builds against on Linux, and what the end-to-end tests run
        // the real app under (a virtual display, WebKit's WebDriver, a notification daemon).
        purpose: "desktop app (Tauri) and GUI tests",
        packages: &[
            "libwebkit2gtk-4.1-dev",
            "libgtk-3-dev",
            "libsoup-3.0-dev",
            "libjavascriptcoregtk-4.1-dev",
            "librsvg2-dev",
            "libayatana-appindicator3-dev",
            "libssl-dev",
            "libxdo-dev",
            // (libdbus-1-dev too: listed with app-core above.)
            "xvfb",
            "xauth",
            "imagemagick",
            "webkit2gtk-driver",
            "dunst",
            "libnotify-bin",
            "keyutils",
            // dbus-run-session and dbus-monitor, for the GUI tests' private session bus.
            "dbus-daemon",
            "dbus-bin",
        ],
    },
];

/// Rust targets the build needs besides the host's.
const RUST_TARGETS: &[&str] = &[
    // `domain` is also built for the browser: the UI pre-checks the rules the server enforces.
    "wasm32-unknown-unknown",
];

/// A tool installed with `cargo install NAME --version VERSION` (plus `--locked` if `locked`),
/// only when `cargo install --list` does not show exactly that version.
struct CargoTool {
    name: &'static str,
    version: &'static str,
    locked: bool,
}

/// Pinned cargo tools: the WebDriver bridge of the end-to-end tests, and the wasm bindings
/// generator of the UI build. `wasm-bindgen-cli` must equal the `wasm-bindgen` version in
/// Cargo.lock (pinned `=0.2.130` in `ui/Cargo.toml`), and must not be `--locked`: one of its
/// locked dependencies is yanked.
const CARGO_TOOLS: &[CargoTool] = &[
    CargoTool { name: "tauri-driver", version: "2.1.0", locked: false },
    CargoTool { name: "wasm-bindgen-cli", version: "0.2.130", locked: false },
];

pub fn run() -> Result<()> {
    println!("==> setup");
    debian_packages().context("installing Debian packages")?;
    rust_targets().context("installing Rust targets")?;
    cargo_tools().context("installing cargo tools")?;
    Ok(())
}

fn debian_packages() -> Result<()> {
    let wanted: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .flat_map(|group| group.packages.iter().copied())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    if util::which("dpkg-query").is_none() {
        println!(
            "    debian packages: not a Debian system (no dpkg-query); make sure these, or \
             your system's equivalents, are installed: {}",
            wanted.join(" ")
        );
        return Ok(());
    }
    let missing = missing_packages(&wanted)?;
    if missing.is_empty() {
        println!("    debian packages: all {} present", wanted.len());
        return Ok(());
    }
    for group in DEBIAN_PACKAGES {
        let group_missing: Vec<&str> = group
            .packages
            .iter()
            .copied()
            .filter(|p| missing.contains(p))
            .collect();
        if !group_missing.is_empty() {
            println!(
                "    debian packages missing ({}): {}",
                group.purpose,
                group_missing.join(" ")
            );
        }
    }

    let Some(privilege) = Privilege::detect() else {
        bail!(
            "these Debian packages are missing, and we are not root and have no sudo:\n    \
             {}\ninstall them as root, e.g.\n    apt-get update && apt-get install -y \
             --no-install-recommends {}\nthen run this again",
            missing.join(" "),
            missing.join(" ")
        );
    };
    println!("    apt-get update");
    util::run(&mut privilege.apt_get(&["-q", "update"]))?;
    println!("    apt-get install {}", missing.join(" "));
    let mut install = vec!["-q", "install", "-y", "--no-install-recommends"];
    install.extend(missing.iter().copied());
    util::run(&mut privilege.apt_get(&install))?;

    let still_missing = missing_packages(&wanted)?;
    if !still_missing.is_empty() {
        bail!(
            "apt-get succeeded but these packages still do not show as installed: {}",
            still_missing.join(" ")
        );
    }
    Ok(())
}

/// The packages of `wanted` that dpkg does not show as installed, in the order given.
fn missing_packages<'a>(wanted: &[&'a str]) -> Result<Vec<&'a str>> {
    // One dpkg-query for all of them (it exits with 1 when some are unknown: that is the
    // answer we want, not an error).
    let out = util::output(
        Command::new("dpkg-query")
            .arg("-W")
            .arg("-f=${Package}\t${Status}\n")
            .args(wanted),
    )?
    .context("dpkg-query disappeared")?;
    let installed = installed_from_dpkg(&String::from_utf8_lossy(&out.stdout));
    Ok(wanted
        .iter()
        .copied()
        .filter(|p| !installed.contains(*p))
        .collect())
}

/// Package names whose dpkg status is "… … installed" in `dpkg-query -W
/// -f='${Package}\t${Status}\n'` output ("deinstall ok config-files" is not installed).
fn installed_from_dpkg(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|line| {
            let (name, status) = line.split_once('\t')?;
            (status.split_whitespace().nth(2) == Some("installed")).then(|| name.to_string())
        })
        .collect()
}

/// How we may run apt-get.
enum Privilege {
    Root,
    Sudo,
}

impl Privilege {
    fn detect() -> Option<Self> {
        if is_root() {
            Some(Self::Root)
        } else if util::which("sudo").is_some() {
            Some(Self::Sudo)
        } else {
            None
        }
    }

    fn apt_get(&self, args: &[&str]) -> Command {
        let mut cmd = match self {
            Self::Root => Command::new("apt-get"),
            Self::Sudo => {
                // sudo may reset the environment: pass DEBIAN_FRONTEND through `env`.
                let mut cmd = Command::new("sudo");
                cmd.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
                cmd
            }
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        cmd
    }
}

fn is_root() -> bool {
    // `id -u` rather than libc, to stay dependency-free.
    matches!(
        util::output(Command::new("id").arg("-u")),
        Ok(Some(out)) if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0"
    )
}

fn rust_targets() -> Result<()> {
    if RUST_TARGETS.is_empty() {
        return Ok(());
    }
    let Some(out) = util::output(Command::new("rustup").args(["target", "list", "--installed"]))?
    else {
        println!(
            "    rust targets: no rustup; make sure your toolchain has: {}",
            RUST_TARGETS.join(" ")
        );
        return Ok(());
    };
    if !out.status.success() {
        bail!(
            "`rustup target list --installed` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let installed: BTreeSet<&str> = stdout.lines().map(str::trim).collect();
    let missing: Vec<&str> = RUST_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.contains(t))
        .collect();
    if missing.is_empty() {
        println!("    rust targets: {} present", RUST_TARGETS.join(" "));
        return Ok(());
    }
    println!("    rustup target add {}", missing.join(" "));
    util::run(
        Command::new("rustup")
            .args(["target", "add"])
            .args(&missing),
    )
}

fn cargo_tools() -> Result<()> {
    if CARGO_TOOLS.is_empty() {
        println!("    cargo tools: none pinned");
        return Ok(());
    }
    let out =
        util::output(util::cargo().args(["install", "--list"]))?.context("cargo not found")?;
    if !out.status.success() {
        bail!(
            "`cargo install --list` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let installed = installed_cargo_tools(&String::from_utf8_lossy(&out.stdout));
    for tool in CARGO_TOOLS {
        if installed.contains(&(tool.name.to_string(), tool.version.to_string())) {
            println!("    cargo tools: {} {} present", tool.name, tool.version);
            continue;
        }
        let mut cmd = util::cargo();
        cmd.args(["install", tool.name, "--version", tool.version]);
        if tool.locked {
            cmd.arg("--locked");
        }
        println!("    {}", util::display(&cmd));
        util::run(&mut cmd)?;
    }
    Ok(())
}

/// `(name, version)` pairs from `cargo install --list`, whose package lines read
/// `name v1.2.3:` or `name v1.2.3 (source):`, each followed by indented binary names.
fn installed_cargo_tools(stdout: &str) -> BTreeSet<(String, String)> {
    stdout
        .lines()
        .filter(|line| !line.starts_with(char::is_whitespace))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.trim_end_matches(':').strip_prefix('v')?;
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_counts_only_installed() {
        let out = "curl\tinstall ok installed\n\
                   postgresql\tdeinstall ok config-files\n\
                   pkg-config\thold ok installed\n\
                   build-essential\tinstall ok unpacked\n";
        let installed = installed_from_dpkg(out);
        assert!(installed.contains("curl"));
        assert!(installed.contains("pkg-config"));
        assert!(!installed.contains("postgresql"));
        assert!(!installed.contains("build-essential"));
    }

    #[test]
    fn cargo_install_list_is_parsed() {
        let out = "tauri-driver v2.1.0:\n    tauri-driver\n\
                   wasm-bindgen-cli v0.2.130 (registry+https://x):\n    wasm-bindgen\n";
        let installed = installed_cargo_tools(out);
        assert!(installed.contains(&("tauri-driver".into(), "2.1.0".into())));
        assert!(installed.contains(&("wasm-bindgen-cli".into(), "0.2.130".into())));
        assert_eq!(installed.len(), 2);
    }

    #[test]
    fn tables_have_no_duplicates() {
        let mut seen = BTreeSet::new();
        for group in DEBIAN_PACKAGES {
            for p in group.packages {
                assert!(seen.insert(*p), "{p} listed twice");
            }
        }
    }
}
