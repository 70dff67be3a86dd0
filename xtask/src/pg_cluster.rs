//! A throwaway PostgreSQL cluster for the tests (and anything else that needs one for a
//! while): `initdb` into a temporary folder, `pg_ctl start` on a free loopback port, and on
//! drop `pg_ctl stop -m fast` and the folder removed, whatever happened in between.
//!
//! `initdb` refuses to run as root, so as root (CI) the cluster is made and run by the
//! `postgres` user that Debian's `postgresql` package creates (through `runuser`), in a
//! folder under /tmp owned by that user. The superuser is `hub`, trusted on
//! loopback (no password), so the URL is `postgres://hub@127.0.0.1:<port>/postgres`.
//!
//! An interrupted run (Ctrl-C) cannot stop its cluster: find it with
//! `ps -ef | grep 'postgres -D /tmp/hub-pg-'` and stop it with `pg_ctl -D <dir>/data stop`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util;

/// The user the cluster runs as when we are root.
const SERVICE_USER: &str = "postgres";

pub struct Cluster {
    dir: PathBuf,
    pg_ctl: PathBuf,
    run_as: Option<&'static str>,
    port: u16,
    started: bool,
}

impl Cluster {
    /// Creates and starts a cluster; prints where.
    pub fn start() -> Result<Cluster> {
        let bin = postgres_bin().context(
            "no PostgreSQL server programs (initdb, pg_ctl) on PATH or under /usr/lib/postgresql: \
             install the `postgresql` package (`cargo xtask setup` does)",
        )?;
        let run_as = if is_root()? {
            if !user_exists(SERVICE_USER)? {
                bail!(
                    "running as root, and initdb refuses to run as root; there is no `{SERVICE_USER}` \
                     user to run the cluster as (the `postgresql` package creates it)"
                );
            }
            Some(SERVICE_USER)
        } else {
            None
        };
        // As another user, a folder that user can reach: /tmp, whatever TMPDIR says.
        let parent = if run_as.is_some() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir = parent.join(format!("hub-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut cluster = Cluster {
            dir,
            pg_ctl: bin.join("pg_ctl"),
            run_as,
            port: 0,
            started: false,
        };
        // From here on, dropping `cluster` cleans up.
        if let Some(user) = run_as {
            let mut chown = Command::new("chown");
            chown.arg(format!("{user}:")).arg(&cluster.dir);
            util::run(&mut chown)?;
        }

        let mut initdb = cluster.command(&bin.join("initdb"));
        initdb.arg("-D").arg(cluster.data()).args([
            "-U",
            "hub",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        quiet(&mut initdb).context("initdb")?;

        // A free port can be taken between our probe and the server's bind: try a few.
        let mut last_err = None;
        for _ in 0..3 {
            cluster.port = free_port()?;
            match cluster.pg_ctl_start() {
                Ok(()) => {
                    cluster.started = true;
                    println!(
                        "    postgres: throwaway cluster in {} on port {}{}",
                        cluster.dir.display(),
                        cluster.port,
                        run_as.map(|u| format!(" (run as {u})")).unwrap_or_default()
                    );
                    return Ok(cluster);
                }
                Err(e) => last_err = Some(e),
            }
        }
        let log = std::fs::read_to_string(cluster.log()).unwrap_or_default();
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("pg_ctl start failed"))).with_context(|| {
            format!(
                "starting PostgreSQL; the end of its log:\n{}",
                tail.join("\n")
            )
        })
    }

    /// The URL of the cluster's `postgres` database, as superuser `hub`.
    pub fn url(&self) -> String {
        format!("postgres://hub@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=300",
            self.port,
            self.dir.display()
        );
        let mut start = self.command(&self.pg_ctl);
        start
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .arg("-o")
            .arg(options)
            .args(["-w", "-t", "60", "start"]);
        quiet(&mut start)
    }

    /// `program` run as the cluster's user.
    fn command(&self, program: &Path) -> Command {
        match self.run_as {
            None => Command::new(program),
            Some(user) => {
                // util-linux's `runuser`, part of every Debian system, off a non-root PATH.
                let runuser = util::which("runuser")
                    .or_else(|| {
                        ["/usr/sbin/runuser", "/sbin/runuser"]
                            .map(PathBuf::from)
                            .into_iter()
                            .find(|p| p.is_file())
                    })
                    .unwrap_or_else(|| PathBuf::from("runuser"));
                let mut cmd = Command::new(runuser);
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Also after a failed start: `pg_ctl start -w` may give up on a server still starting.
        if self.started || self.data().join("postmaster.pid").exists() {
            let mut stop = self.command(&self.pg_ctl);
            stop.arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "stop"]);
            match quiet(&mut stop) {
                Ok(()) => println!("    postgres: throwaway cluster stopped"),
                Err(e) => eprintln!("xtask: stopping the throwaway PostgreSQL cluster: {e:#}"),
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("xtask: removing {}: {e}", self.dir.display());
        }
    }
}

/// Runs `cmd`, showing its output only when it fails.
fn quiet(cmd: &mut Command) -> Result<()> {
    let line = util::display(cmd);
    let out = util::output(cmd)?.with_context(|| format!("`{line}`: program not found"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn is_root() -> Result<bool> {
    let out = util::output(Command::new("id").arg("-u"))?.context("`id` not found")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn user_exists(name: &str) -> Result<bool> {
    Ok(util::output(Command::new("id").arg("-u").arg(name))?.is_some_and(|o| o.status.success()))
}

/// The folder holding `initdb` and `pg_ctl`: from PATH, else Debian's newest
/// /usr/lib/postgresql/<major>/bin.
pub fn postgres_bin() -> Option<PathBuf> {
    if let Some(initdb) = util::which("initdb") {
        let dir = initdb
            .canonicalize()
            .unwrap_or(initdb)
            .parent()?
            .to_path_buf();
        if dir.join("pg_ctl").is_file() {
            return Some(dir);
        }
    }
    newest_debian_postgres_bin()
}

/// Debian installs `initdb`/`pg_ctl` under /usr/lib/postgresql/<major>/bin, off PATH.
pub fn newest_debian_postgres_bin() -> Option<PathBuf> {
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
