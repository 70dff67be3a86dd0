//! `cargo xtask demo [--reset] [--listen ADDR]`: set-up, then the sync server with the demo
//! data on a database kept in `target/demo/`, and how to sign in. Runs until the server stops
//! (Ctrl-C stops both: the terminal signals the whole process group).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{setup, util};

const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
const DEMO_PASSWORD: &str = "hub-demo-1";
/// (username, who) for every demo account; see "Demo data" in ARCHITECTURE.md.
const DEMO_ACCOUNTS: &[(&str, &str)] = &[
    (
        "anna",
        "guardian of Elsa (Solrosen förskola) and Oskar (Ekdalsskolan 4B)",
    ),
    ("erik", "guardian of Elsa and Oskar"),
    ("maria", "guardian of Noah (Solrosen förskola)"),
    ("lisa", "staff, Solrosen förskola, group Blåbär; tablet PIN 4826"),
    ("johan", "staff, Ekdalsskolan, class 4B; tablet PIN 7391"),
    ("oskar", "student, Ekdalsskolan 4B"),
    ("admin", "administrator"),
];

#[derive(Debug, PartialEq)]
struct Options {
    reset: bool,
    listen: String,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        reset: false,
        listen: DEFAULT_LISTEN.to_string(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reset" => options.reset = true,
            "--listen" => {
                options.listen = args
                    .next()
                    .context("`--listen` needs an address, e.g. 127.0.0.1:8787")?
                    .clone();
            }
            other => match other.strip_prefix("--listen=") {
                Some(addr) => options.listen = addr.to_string(),
                None => bail!("unknown demo option `{other}` (known: --reset, --listen ADDR)"),
            },
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    let listen: SocketAddr = options
        .listen
        .to_socket_addrs()
        .with_context(|| format!("`{}` is not an address to listen on", options.listen))?
        .next()
        .with_context(|| format!("`{}` resolves to no address", options.listen))?;
    let probe = probe_addr(listen);

    setup::run()?;

    // The UI (wasm) first: the app embeds it when it is built.
    crate::app::build_ui()?;
    let app_bin = crate::app::build_app()?;
    let server_bin = util::target_dir().join("debug").join("sync-server");

    let root = util::repo_root();
    let db = util::target_dir().join("demo").join("hub.db");
    let db_dir = db.parent().unwrap_or(&root);
    std::fs::create_dir_all(db_dir).with_context(|| format!("creating {}", db_dir.display()))?;
    if options.reset {
        reset_database(&db)?;
    }
    // Relative to the repository root (the server's working directory) when possible, so the
    // printed command reads `--db sqlite:target/demo/hub.db`.
    let db_arg = db.strip_prefix(&root).unwrap_or(&db);
    let db_url = format!("sqlite:{}", db_arg.display());

    if TcpStream::connect_timeout(&probe, Duration::from_millis(300)).is_ok() {
        bail!(
            "something already listens on {probe} (an earlier demo?): stop it, or choose \
             another address with `--listen`"
        );
    }

    let mut server = Command::new(&server_bin);
    server
        .args(["--demo", "--db", &db_url, "--listen", &options.listen])
        .current_dir(&root)
        .stdin(Stdio::null());
    println!("\n==> start: {}", util::display(&server));
    let mut child = server
        .spawn()
        .with_context(|| format!("could not start {}", server_bin.display()))?;

    if let Err(err) = wait_until_healthy(&mut child, probe) {
        // Ours to stop: we started it and it is not usable.
        let _ = child.kill();
        let _ = child.wait();
        return Err(err);
    }

    print!("{}", sign_in_text(&probe.to_string(), &db));

    let mut app = match start_app(&app_bin, &format!("http://{probe}")) {
        Ok(app) => app,
        Err(err) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(err);
        }
    };
    // Until one of them stops: closing the app window stops the server too.
    loop {
        if let Some(status) = child.try_wait().context("checking on sync-server")? {
            app.stop();
            if !status.success() {
                bail!("sync-server stopped: {status}");
            }
            return Ok(());
        }
        if let Some(status) = app.app.try_wait().context("checking on the app")? {
            println!("\n==> the app closed ({status}); stopping the demo server");
            let _ = child.kill();
            let _ = child.wait();
            app.stop();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The app and, on a machine without a display, the virtual one it runs on.
struct RunningApp {
    app: Child,
    xvfb: Option<Child>,
}

impl RunningApp {
    fn stop(&mut self) {
        let _ = self.app.kill();
        let _ = self.app.wait();
        if let Some(x) = self.xvfb.as_mut() {
            let _ = x.kill();
            let _ = x.wait();
        }
    }
}

/// Opens the app signed out: a fresh data folder under `target/demo/app` each run (the
/// server's database is what `--reset` is for). Without a display (a server, CI), the app
/// runs on an Xvfb display of its own, and we say how to look at it.
fn start_app(app_bin: &Path, server_url: &str) -> Result<RunningApp> {
    let data = util::target_dir().join("demo").join("app");
    if data.exists() {
        std::fs::remove_dir_all(&data).with_context(|| format!("removing {}", data.display()))?;
    }
    std::fs::create_dir_all(&data)?;
    let mut xvfb = None;
    let mut cmd = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        Command::new(app_bin)
    } else {
        // No session bus (a bare console): give the app one for its notifications.
        let mut c = Command::new("dbus-run-session");
        c.arg("--").arg(app_bin);
        c
    };
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        let n = (90..200)
            .rev()
            .find(|n| !Path::new(&format!("/tmp/.X{n}-lock")).exists())
            .context("no free X display number for Xvfb")?;
        let x = Command::new("Xvfb")
            .args([format!(":{n}"), "-screen".into(), "0".into(), "1280x1024x24".into(), "-nolisten".into(), "tcp".into()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("no display, and Xvfb could not be started (`cargo xtask setup` installs it)")?;
        xvfb = Some(x);
        std::thread::sleep(Duration::from_millis(800));
        cmd.env("DISPLAY", format!(":{n}"));
        println!(
            "    no display here: the app runs on the virtual display :{n}; to see it:\n      \
             DISPLAY=:{n} import -window root hub.png"
        );
    }
    cmd.env("HUB_DATA_DIR", &data).env("NO_AT_BRIDGE", "1").stdin(Stdio::null());
    println!("\n==> open the app: {} (signed out; server address {server_url})", util::display(&cmd));
    if server_url != "http://127.0.0.1:8787" {
        println!("    the sign-in page suggests http://127.0.0.1:8787: change it to {server_url}");
    }
    let app = cmd.spawn().with_context(|| format!("could not start {}", app_bin.display()))?;
    println!("    close the app window (or Ctrl-C) to stop the demo");
    Ok(RunningApp { app, xvfb })
}

/// Deletes the demo database and its WAL and shared-memory files, if present.
fn reset_database(db: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        match std::fs::remove_file(&file) {
            Ok(()) => println!("    removed {}", file.display()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("removing {}", file.display())),
        }
    }
    Ok(())
}

/// Where to reach a server listening on `listen`: an unspecified address (0.0.0.0, ::) is
/// reached through loopback.
fn probe_addr(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port())
        }
        _ => listen,
    }
}

/// Polls `GET /healthz` until it answers 200, the server exits, or `HEALTH_TIMEOUT` passes.
fn wait_until_healthy(child: &mut Child, addr: SocketAddr) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().context("checking on sync-server")? {
            bail!("sync-server exited before it was ready ({status})");
        }
        if healthz(addr) {
            println!("    healthy after {:.1} s", started.elapsed().as_secs_f64());
            return Ok(());
        }
        if started.elapsed() > HEALTH_TIMEOUT {
            bail!(
                "sync-server did not answer GET http://{addr}/healthz within {} s",
                HEALTH_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One plain HTTP/1.1 `GET /healthz`; true on a 2xx answer.
fn healthz(addr: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<String> {
        let timeout = Duration::from_secs(2);
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(
            stream,
            "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    attempt().map(|head| is_success(&head)).unwrap_or(false)
}

/// Whether an HTTP response starts with a 2xx status line.
fn is_success(head: &str) -> bool {
    let mut words = head.split_whitespace();
    matches!(words.next(), Some(v) if v.starts_with("HTTP/"))
        && matches!(words.next(), Some(code) if code.len() == 3 && code.starts_with('2'))
}

/// What `demo` prints once the server is up: where it is, the accounts, and curl examples.
fn sign_in_text(addr: &str, db: &Path) -> String {
    use std::fmt::Write as _;
    let base = format!("http://{addr}");
    let mut text = String::new();
    let _ = writeln!(text, "\n==> Hub demo server: {base}   (Ctrl-C stops it)");
    let _ = writeln!(
        text,
        "    database: {} (`cargo xtask demo --reset` starts afresh)",
        db.display()
    );
    let _ = writeln!(
        text,
        "    also: {base}/openapi.json  {base}/metrics  {base}/healthz"
    );
    let _ = writeln!(
        text,
        "\n    Demo accounts, every password `{DEMO_PASSWORD}`:"
    );
    for (user, who) in DEMO_ACCOUNTS {
        let _ = writeln!(text, "      {user:6} {who}");
    }
    let _ = write!(
        text,
        "
    Try it from another terminal (sign in as anna, who she is, everything she may see):
      TOKEN=$(curl -s -X POST {base}/v1/auth/login -H 'content-type: application/json' \\
          -d '{{\"username\":\"anna\",\"password\":\"{DEMO_PASSWORD}\"}}' \\
          | sed -n 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/p')
      curl -s {base}/v1/me -H \"authorization: Bearer $TOKEN\"
      curl -s -X POST {base}/v1/sync/pull -H \"authorization: Bearer $TOKEN\" \\
          -H 'content-type: application/json' -d '{{\"cursor\":null}}'

"
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        assert_eq!(
            parse(&[]).ok(),
            Some(Options {
                reset: false,
                listen: DEFAULT_LISTEN.into()
            })
        );
        assert_eq!(
            parse(&strings(&["--reset", "--listen", "0.0.0.0:9000"])).ok(),
            Some(Options {
                reset: true,
                listen: "0.0.0.0:9000".into()
            })
        );
        assert_eq!(
            parse(&strings(&["--listen=[::1]:1"]))
                .ok()
                .map(|o| o.listen),
            Some("[::1]:1".to_string())
        );
        assert!(parse(&strings(&["--listen"])).is_err());
        assert!(parse(&strings(&["--db"])).is_err());
    }

    #[test]
    fn unspecified_listen_is_probed_on_loopback() {
        let probe = |s: &str| s.parse::<SocketAddr>().map(probe_addr).ok();
        assert_eq!(probe("0.0.0.0:8787"), "127.0.0.1:8787".parse().ok());
        assert_eq!(probe("[::]:8787"), "[::1]:8787".parse().ok());
        assert_eq!(probe("10.0.0.5:80"), "10.0.0.5:80".parse().ok());
    }

    #[test]
    fn status_lines() {
        assert!(is_success("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"));
        assert!(is_success("HTTP/1.1 204 No Content\r\n"));
        assert!(!is_success("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(!is_success(""));
        assert!(!is_success("garbage 200"));
    }

    #[test]
    fn sign_in_text_shows_accounts_and_curl() {
        let text = sign_in_text("127.0.0.1:8787", Path::new("target/demo/hub.db"));
        println!("{text}");
        for (user, _) in DEMO_ACCOUNTS {
            assert!(text.contains(&format!("      {user} ")), "{user}");
        }
        assert!(text.contains("curl -s -X POST http://127.0.0.1:8787/v1/auth/login"));
        assert!(text.contains(r#"-d '{"cursor":null}'"#));
    }

    #[test]
    fn waits_for_healthz() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            }
        });
        let mut child = Command::new("sleep").arg("10").spawn().expect("sleep");
        let result = wait_until_healthy(&mut child, addr);
        let _ = child.kill();
        let _ = child.wait();
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn notices_a_server_that_exits() {
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let mut child = Command::new("true").spawn().expect("true");
        let _ = child.wait();
        let err = wait_until_healthy(&mut child, addr).expect_err("exited");
        assert!(err.to_string().contains("exited"), "{err}");
    }
}
