//! `hub-e2e`: the guardian's scenarios in the real app.
//!
//! Starts, all on loopback and inside a temporary HOME: Xvfb on a free display, the sync
//! server (`--demo --dev-clock`, a SQLite file) on a free port behind a gate the test can
//! close (see `proxy.rs`), and `tauri-driver` (with Debian's WebKitWebDriver) inside
//! `dbus-run-session`, next to `dbus-monitor` watching for system notifications. Then it
//! drives the app through WebDriver, saves a screenshot per scenario under the output folder
//! and ends with `N passed, M failed`.
//!
//! Run by `cargo xtask test` (layer `e2e`) and `cargo xtask e2e`, which build the UI and
//! the app first.

mod proxy;
mod webdriver;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

use crate::proxy::Gate;
use crate::webdriver::Session;

const PASSWORD: &str = "hub-demo-1";
const LONG: Duration = Duration::from_secs(30);

struct Options {
    app: PathBuf,
    server: PathBuf,
    out: PathBuf,
    driver: PathBuf,
    native_driver: PathBuf,
}

fn parse_args() -> Result<Options> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(|d| root.join(d)).unwrap_or_else(|| root.join("target"));
    let mut o = Options {
        app: target.join("debug/hub"),
        server: target.join("debug/sync-server"),
        out: target.join("e2e"),
        driver: which("tauri-driver")
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/tauri-driver")))
            .unwrap_or_else(|| PathBuf::from("tauri-driver")),
        native_driver: which("WebKitWebDriver").unwrap_or_else(|| PathBuf::from("/usr/bin/WebKitWebDriver")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().map(PathBuf::from).ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--app" => o.app = val()?,
            "--server" => o.server = val()?,
            "--out" => o.out = val()?,
            "--driver" => o.driver = val()?,
            "--native-driver" => o.native_driver = val()?,
            other => bail!("unknown argument {other} (known: --app --server --out --driver --native-driver)"),
        }
    }
    Ok(o)
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Processes we started, each in its own process group, stopped (the whole group) on drop.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Result<Proc> {
        use std::os::unix::process::CommandExt;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        cmd.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file).process_group(0);
        let child = cmd.spawn().with_context(|| format!("starting {name}: {cmd:?}"))?;
        Ok(Proc { name, child })
    }

    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pgid = self.child.id();
        // Our own process group (we made it with process_group(0)): TERM, then KILL.
        let _ = Command::new("kill").args(["-s", "TERM", "--", &format!("-{pgid}")]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{pgid}")]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("    ({} needed SIGKILL)", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_port(addr: SocketAddr, what: &str, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if start.elapsed() > timeout {
            bail!("{what} did not listen on {addr} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The sync server (restartable on the same database file).
struct Server {
    bin: PathBuf,
    db: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
    proc: Option<Proc>,
    http: reqwest::blocking::Client,
    /// Where the dev clock stands from the server's start (the demo is seeded around it).
    clock_at: DateTime<Utc>,
}

impl Server {
    fn start(&mut self) -> Result<()> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--demo", "--dev-clock-at", &self.clock_at.to_rfc3339(), "--listen", &self.addr.to_string()])
            .arg("--db")
            .arg(format!("sqlite:{}", self.db.display()))
            .env("RUST_LOG", "info");
        self.proc = Some(Proc::spawn("sync-server", &mut cmd, &self.log)?);
        let start = Instant::now();
        loop {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.url())).send() {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if start.elapsed() > LONG {
                bail!("sync-server did not become healthy");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
    }
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn set_clock(&self, now: DateTime<Utc>) -> Result<()> {
        let r = self.http.post(format!("{}/v1/dev/clock", self.url())).json(&json!({"now": now.to_rfc3339()})).send()?;
        if !r.status().is_success() {
            bail!("setting the dev clock: {}", r.status());
        }
        Ok(())
    }
    /// A session token of `username`, signed in straight over HTTP (another device).
    fn token(&self, username: &str) -> Result<String> {
        let login: Value = self
            .http
            .post(format!("{}/v1/auth/login", self.url()))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()?
            .json()?;
        login["token"].as_str().map(str::to_string).ok_or_else(|| anyhow!("login: {login}"))
    }
    /// Another guardian's device, straight over HTTP (R-CARE-7).
    fn push_as(&self, username: &str, name: &str, args: Value) -> Result<Value> {
        let token = self.token(username)?;
        let token = token.as_str();
        let resp: Value = self
            .http
            .post(format!("{}/v1/sync/push", self.url()))
            .bearer_auth(token)
            .json(&json!({"client_id": uuid::Uuid::from_u128(0xe2e), "mutations": [
                {"id": uuid::Uuid::new_v4(), "name": name, "args": args}]}))
            .send()?
            .json()?;
        Ok(resp)
    }
    fn child_id(&self, username: &str, first_name: &str) -> Result<String> {
        let token = self.token(username)?;
        let token = token.as_str();
        let me: Value = self.http.get(format!("{}/v1/me", self.url())).bearer_auth(token).send()?.json()?;
        me["children"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["first_name"] == first_name))
            .and_then(|c| c["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no child {first_name}: {me}"))
    }
}

/// Everything the scenarios share.
struct T {
    wd: Session,
    server: Server,
    gate: Gate,
    out: PathBuf,
    /// The server's "today" (a Wednesday), and the days around it.
    today: NaiveDate,
    monday: NaiveDate,
    /// The pairing code Lisa created for the tablet scenarios.
    pairing_code: String,
}

fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Lisa's PIN for the unit's tablets, set in the staff scenarios (R-STAFF-3).
const LISA_PIN: &str = "5071";

/// The day the scenarios stand on: the first Wednesday after `real_today` whose week and
/// the three after it (the care scenarios write up to three weeks ahead) hold none of the
/// demo units' holidays (R-CARE-2), so a run in December does not meet a closed
/// Christmas week.
fn test_day(real_today: NaiveDate) -> NaiveDate {
    let wd = real_today.weekday().num_days_from_monday() as i64; // Mon = 0
    let ahead = match (2 - wd).rem_euclid(7) {
        0 => 7,
        n => n,
    };
    let mut today = real_today + Days::days(ahead);
    loop {
        let monday = today - Days::days(2);
        let holidays: Vec<NaiveDate> =
            [monday.year(), monday.year() + 1].into_iter().flat_map(domain::opening::fixed_closed_days).collect();
        if !(0..28).any(|i| holidays.contains(&(monday + Days::days(i)))) {
            return today;
        }
        today = today + Days::days(7);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_test_day_is_the_coming_wednesday_away_from_christmas_and_new_year() {
        assert_eq!(test_day(d("2026-11-23")), d("2026-11-25"));
        assert_eq!(test_day(d("2026-06-01")), d("2026-06-10"), "not the week of the National Day");
        // R-CARE-2: the four weeks from 30 November on reach Christmas, those from 11 January
        // no holiday.
        assert_eq!(test_day(d("2026-11-25")), d("2027-01-13"));
        assert_eq!(test_day(d("2026-12-03")), d("2027-01-13"));
    }
}

/// Stockholm wall-clock time on `date` as an instant.
fn at_local(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    let naive = date.and_hms_opt(h, m, 0).expect("time");
    chrono_tz::Europe::Stockholm
        .from_local_datetime(&naive)
        .earliest()
        .expect("local time")
        .with_timezone(&Utc)
}

fn main() {
    match run() {
        Ok(failed) => std::process::exit(if failed == 0 { 0 } else { 1 }),
        Err(e) => {
            eprintln!("hub-e2e: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<usize> {
    let o = parse_args()?;
    for (what, p) in [("app", &o.app), ("sync-server", &o.server), ("tauri-driver", &o.driver), ("WebKitWebDriver", &o.native_driver)] {
        if !p.is_file() {
            bail!("{what} not found at {} (`cargo xtask e2e` builds and installs everything)", p.display());
        }
    }
    std::fs::create_dir_all(&o.out)?;
    for entry in std::fs::read_dir(&o.out)? {
        let p = entry?.path();
        if p.extension().is_some_and(|e| e == "png" || e == "log") {
            let _ = std::fs::remove_file(p);
        }
    }
    let tmp = std::env::temp_dir().join(format!("hub-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let home = tmp.join("home");
    for d in ["", ".local/share", ".config", ".cache", "run"] {
        std::fs::create_dir_all(home.join(d))?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home.join("run"), std::fs::Permissions::from_mode(0o700))?;

    // A display of our own.
    let display = (90..200)
        .rev()
        .find(|n| !Path::new(&format!("/tmp/.X{n}-lock")).exists() && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
        .ok_or_else(|| anyhow!("no free X display"))?;
    let _xvfb = Proc::spawn(
        "Xvfb",
        Command::new("Xvfb").args([format!(":{display}"), "-screen".into(), "0".into(), "1280x1024x24".into(), "-nolisten".into(), "tcp".into()]),
        &o.out.join("xvfb.log"),
    )?;
    let start = Instant::now();
    while !Path::new(&format!("/tmp/.X11-unix/X{display}")).exists() {
        if start.elapsed() > Duration::from_secs(10) {
            bail!("Xvfb :{display} did not start (see {})", o.out.join("xvfb.log").display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // The server, its clock fixed from the start on a Wednesday 09:00 (so "tomorrow" is a
    // Thursday and today is a weekday with registered times), and the gate in front of it.
    let today = test_day(Utc::now().with_timezone(&chrono_tz::Europe::Stockholm).date_naive());
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut server = Server {
        bin: o.server.clone(),
        db: tmp.join("hub.db"),
        addr: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        log: o.out.join("server.log"),
        proc: None,
        http,
        clock_at: at_local(today, 9, 0),
    };
    server.start()?;
    let gate = Gate::start(server.addr)?;

    // tauri-driver (and through it WebKitWebDriver and the app) on a session bus of its
    // own, with dbus-monitor recording system notifications.
    // Both ports free ones: WebKitWebDriver's default (4445) may be taken by another run.
    let port = free_port()?;
    let native_port = free_port()?;
    let script = format!(
        "dbus-monitor --session \"interface='org.freedesktop.Notifications'\" > '{}' 2>&1 & \
         exec '{}' --port {port} --native-port {native_port} --native-driver '{}'",
        o.out.join("notifications.log").display(),
        o.driver.display(),
        o.native_driver.display()
    );
    let mut driver_cmd = Command::new("dbus-run-session");
    driver_cmd
        .args(["--", "sh", "-c", &script])
        .env("DISPLAY", format!(":{display}"))
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("NO_AT_BRIDGE", "1")
        .env("HUB_TOKEN_STORE", "file")
        .env("RUST_LOG", "info,app_core=debug")
        .env("HUB_LOG_FILE", o.out.join("hub-app.log"))
        .env_remove("WAYLAND_DISPLAY");
    let _driver = Proc::spawn("tauri-driver", &mut driver_cmd, &o.out.join("app.log"))?;
    wait_port(SocketAddr::from(([127, 0, 0, 1], port)), "tauri-driver", LONG)?;
    let started = Instant::now();
    // tauri-driver answers before WebKitWebDriver listens: retry the first session a while.
    let wd = loop {
        match Session::start(&format!("http://127.0.0.1:{port}"), &o.app) {
            Ok(wd) => break wd,
            Err(e) if started.elapsed() < LONG => {
                eprintln!("    (no session yet: {e:#}; retrying)");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e).context("starting the app through tauri-driver"),
        }
    };
    println!("    app started through WebDriver in {:.1} s", started.elapsed().as_secs_f64());

    let mut t = T { wd, server, gate, out: o.out.clone(), today, monday: today - Days::days(today.weekday().num_days_from_monday() as i64), pairing_code: String::new() };
    println!("    server clock: {} 09:00 Europe/Stockholm (a Wednesday)", iso(today));

    let scenarios: Vec<(&str, fn(&mut T) -> Result<()>)> = vec![
        ("signed-out", s_signed_out),
        ("sign-in", s_sign_in),
        ("switch-child", s_switch_child),
        ("absence-tomorrow", s_absence),
        ("staff-confirms", s_staff_confirms),
        ("care-thursday", s_care_thursday),
        ("repeat-week", s_repeat_week),
        ("today-locked", s_today_locked),
        ("offline-pending", s_offline_pending),
        ("back-online", s_back_online),
        ("other-guardian", s_other_guardian),
        ("rejected-offline", s_rejected_offline),
        ("bell", s_bell),
        ("notifications", s_system_notifications),
        ("language", s_language),
        ("staff-pin-and-code", s_staff_pin_and_code),
        ("pair-tablet", s_pair_tablet),
        ("pin-unlock", s_pin_unlock),
        ("mark-elsa-arrived", s_mark_arrived),
        ("confirm-annas-absence", s_confirm_absence),
        ("comment-on-day", s_comment),
        ("anna-sees-it", s_anna_sees_it),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (i, (name, f)) in scenarios.iter().enumerate() {
        let started = Instant::now();
        let result = f(&mut t);
        let shot = t.out.join(format!("{:02}-{name}{}.png", i + 1, if result.is_ok() { "" } else { "-FAILED" }));
        let _ = t.wd.screenshot(&shot);
        match result {
            Ok(()) => {
                passed += 1;
                println!("    ok      {name} ({:.1} s) {}", started.elapsed().as_secs_f64(), shot.display());
            }
            Err(e) => {
                failed += 1;
                println!("    FAILED  {name} ({:.1} s): {e:#}\n            {}", started.elapsed().as_secs_f64(), shot.display());
            }
        }
    }
    let _ = t.wd.quit();
    t.server.stop();
    drop(t);
    let _ = std::fs::remove_dir_all(&tmp);
    println!("e2e: {passed} passed, {failed} failed");
    Ok(failed)
}

// ---------------------------------------------------------------- helpers

impl T {
    fn thu(&self) -> NaiveDate {
        self.today + Days::days(1)
    }
    fn fri(&self) -> NaiveDate {
        self.today + Days::days(2)
    }
    fn next_monday(&self) -> NaiveDate {
        self.monday + Days::days(7)
    }
    fn shot(&self, name: &str) -> Result<()> {
        self.wd.screenshot(&self.out.join(format!("{name}.png")))
    }
    fn home(&self) -> Result<()> {
        if self.wd.find_all("#back")?.is_empty() {
            return Ok(());
        }
        self.wd.click_css("#back")?;
        // Back from an editor goes to the week; once more to the start page.
        if !self.wd.find_all("#back")?.is_empty() && self.wd.find_all("#boxes")?.is_empty() {
            self.wd.click_css("#back")?;
        }
        self.wd.wait("#boxes").map(|_| ())
    }
    fn open_box(&self, slug: &str) -> Result<()> {
        self.home()?;
        self.wd.click_css(&format!("#box-{slug}"))
    }
    /// Opens the care week of `monday` from wherever we are.
    fn care_week(&self, monday: NaiveDate) -> Result<()> {
        if self.wd.find_all("#week-label")?.is_empty() {
            self.open_box("care_schedule")?;
        }
        for _ in 0..60 {
            let shown = self.wd.attr("#week-label", "data-week-start")?.unwrap_or_default();
            let shown = NaiveDate::parse_from_str(&shown, "%Y-%m-%d")?;
            if shown == monday {
                return self.wd.wait(&format!("#day-{}", iso(monday))).map(|_| ());
            }
            self.wd.click_css(if shown < monday { "#next-week" } else { "#prev-week" })?;
            let expect = if shown < monday { shown + Days::days(7) } else { shown - Days::days(7) };
            self.wd.wait(&format!("#week-label[data-week-start='{}']", iso(expect)))?;
        }
        bail!("could not reach the week of {monday}")
    }
    fn edit_day(&self, date: NaiveDate, from: &str, to: &str, comment: Option<&str>) -> Result<()> {
        self.care_week(date - Days::days(date.weekday().num_days_from_monday() as i64))?;
        self.wd.click_css(&format!("#edit-{}", iso(date)))?;
        self.wd.wait(&format!("#day-editor[data-date='{}']", iso(date)))?;
        self.wd.type_into("#from-1", from)?;
        self.wd.type_into("#to-1", to)?;
        if let Some(c) = comment {
            self.wd.type_into("#day-comment", c)?;
        }
        self.wd.click_css("#save-day")?;
        self.wd.wait(&format!("#day-{}", iso(date)))?;
        self.wd.wait_text(&format!("#day-{} .day-times", iso(date)), &format!("{from}–{to}"), LONG)?;
        Ok(())
    }
    fn chip(&self, attr: &str, value: &str, timeout: Duration) -> Result<()> {
        self.wd.wait_for(&format!("#sync-chip[data-{attr}='{value}']"), timeout).map(|_| ())
    }
    /// Chooses the option of `<select id=sel>` whose text contains `text`.
    fn select(&self, sel: &str, text: &str) -> Result<()> {
        let opts = self.wd.find_all(&format!("#{sel} option"))?;
        for o in opts {
            if self.wd.text(&o)?.contains(text) {
                // Clicking an <option> is how a person chooses; WebKit's driver supports it.
                if self.wd.click(&o).is_ok() {
                    return Ok(());
                }
            }
        }
        bail!("no option {text:?} in #{sel}")
    }
    /// Cuts the network and stops the server. The app notices at its next sync attempt
    /// (the changes made next trigger one).
    fn go_offline(&mut self) {
        self.gate.close();
        self.server.stop();
    }
    fn go_online(&mut self, clock: DateTime<Utc>) -> Result<()> {
        // The dev clock resets with the process: it starts at `clock`, before the app can
        // reach the server.
        self.server.clock_at = clock;
        self.server.start()?;
        self.gate.open();
        Ok(())
    }
}

// ---------------------------------------------------------------- scenarios

fn s_signed_out(t: &mut T) -> Result<()> {
    t.wd.wait_for("#sign-in", LONG)?;
    t.shot("00-sign-in")?;
    // R-ACC-2: a failed password that ends in a space gets the hint.
    t.wd.type_into("#server-url", &t.gate.url())?;
    t.wd.type_into("#username", "anna")?;
    t.wd.type_into("#password", &format!("{PASSWORD} "))?;
    t.wd.click_css("#sign-in")?;
    t.wd.wait_for("#trailing-space-hint", LONG)?;
    Ok(())
}

fn s_sign_in(t: &mut T) -> Result<()> {
    t.wd.type_into("#password", PASSWORD)?;
    t.wd.click_css("#sign-in")?;
    t.wd.wait_for("#boxes", LONG)?;
    t.wd.wait_for("#box-absence", LONG)?;
    t.wd.wait_text("#child-name", "Elsa", LONG)?;
    // The first sync brings the bell's items.
    t.wd.wait_for("#bell-count", LONG)?;
    t.chip("online", "true", LONG)?;
    Ok(())
}

fn s_switch_child(t: &mut T) -> Result<()> {
    t.select("child-switcher", "Oskar")?;
    t.wd.wait_text("#child-name", "Oskar", LONG)?;
    // Boxes vary per unit: the school has a schedule, the preschool does not.
    t.wd.wait("#box-schedule")?;
    t.shot("03a-oskar-school-boxes")?;
    t.select("child-switcher", "Elsa")?;
    t.wd.wait_text("#child-name", "Elsa", LONG)?;
    if !t.wd.find_all("#box-schedule")?.is_empty() {
        bail!("Elsa's preschool shows a schedule box");
    }
    Ok(())
}

fn s_absence(t: &mut T) -> Result<()> {
    t.open_box("absence")?;
    t.wd.wait("#absence-form")?;
    t.wd.click_css("label[for='absence-day-1']")?;
    t.wd.wait("#gdpr-reminder")?;
    t.wd.type_into("#absence-comment", "Ledig, besöker mormor.")?;
    t.wd.click_css("#report-absence")?;
    let thu = iso(t.thu());
    t.wd.wait_for(&format!("#absence-history li[data-date='{thu}'][data-status='reported']"), LONG)?;
    t.wd.wait("#absence-via-school")?;
    // Red: the reported pill.
    let color = t.wd.exec(
        "const p = document.querySelector(\"#absence-history li[data-date='\" + arguments[0] + \"'] .pill\"); return getComputedStyle(p).backgroundColor;",
        json!([thu]),
    )?;
    if color.as_str() != Some("rgb(184, 50, 39)") {
        bail!("the reported absence is not red: {color}");
    }
    Ok(())
}

fn s_staff_confirms(t: &mut T) -> Result<()> {
    // Lisa (staff) confirms the absence: grey in the history (R-ABS-5), and a new item for
    // the bell and a system notification (R-NOT-1, R-NOT-3).
    let elsa: uuid::Uuid = t.server.child_id("anna", "Elsa")?.parse()?;
    let absence_id = domain::wire::entity::absence_id(elsa, t.thu());
    let resp = t.server.push_as("lisa", "absence.confirm", json!({"absence_id": absence_id}))?;
    if resp["results"][0]["status"] != "applied" {
        bail!("lisa's confirmation was not applied: {resp}");
    }
    let thu = iso(t.thu());
    t.wd.wait_for(&format!("#absence-history li[data-date='{thu}'][data-status='confirmed']"), Duration::from_secs(75))?;
    Ok(())
}

fn s_care_thursday(t: &mut T) -> Result<()> {
    let thu = t.thu();
    t.edit_day(thu, "08:00", "15:30", Some("Morfar hämtar"))?;
    t.wd.wait_text(&format!("#day-{} .bubble", iso(thu)), "Morfar hämtar", LONG)?;
    t.wd.wait_for(&format!("#day-{}[data-pending='false']", iso(thu)), LONG)?;
    Ok(())
}

fn s_repeat_week(t: &mut T) -> Result<()> {
    let start = t.next_monday();
    t.care_week(start)?;
    t.wd.click_css("#edit-week")?;
    t.wd.wait("#week-editor")?;
    for wd in 1..=5 {
        let cb = format!("#wd-{wd}");
        if t.wd.exec("return document.querySelector(arguments[0]).checked", json!([cb]))?.as_bool() != Some(true) {
            t.wd.click_css(&cb)?;
        }
        t.wd.type_into(&format!("#wd-{wd}-from"), "08:00")?;
        t.wd.type_into(&format!("#wd-{wd}-to"), "16:00")?;
    }
    t.wd.click_css("#repeat-count")?;
    t.wd.type_into("#repeat-every", "2")?;
    t.wd.type_into("#repeat-count-n", "4")?;
    t.shot("07a-repeat-form")?;
    t.wd.click_css("#save-week")?;
    t.wd.wait_for(&format!("#week-label[data-week-start='{}']", iso(start)), LONG)?;
    t.wd.wait_text(&format!("#day-{} .day-times", iso(start)), "08:00–16:00", LONG)?;
    t.wd.wait_for(&format!("#day-{}[data-pending='false']", iso(start)), LONG)?;
    // Every other week: the week after is untouched, the one after that repeated.
    let odd = start + Days::days(7);
    t.care_week(odd)?;
    let text = t.wd.text_of(&format!("#day-{} .day-times", iso(odd)))?;
    if text.contains("08:00–16:00") {
        bail!("the week in between was written too: {text}");
    }
    let even = start + Days::days(14);
    t.care_week(even)?;
    t.wd.wait_text(&format!("#day-{} .day-times", iso(even + Days::days(3))), "08:00–16:00", LONG)?;
    Ok(())
}

fn s_today_locked(t: &mut T) -> Result<()> {
    t.care_week(t.monday)?;
    let today = iso(t.today);
    t.wd.wait(&format!("#day-{today}[data-state='locked']"))?;
    if !t.wd.find_all(&format!("#edit-{today}"))?.is_empty() {
        bail!("today can be edited");
    }
    t.wd.click_css(&format!("#locked-{today}"))?;
    t.wd.wait_text(&format!("#locked-help-{today}"), "ring", LONG)?;
    Ok(())
}

fn s_offline_pending(t: &mut T) -> Result<()> {
    t.go_offline();
    let fri = t.fri();
    t.edit_day(fri, "09:00", "14:00", None)?;
    let tue = t.next_monday() + Days::days(1);
    t.edit_day(tue, "07:45", "15:00", Some("Pappa hämtar"))?;
    t.chip("pending", "2", LONG)?;
    t.chip("online", "false", LONG)?;
    t.wd.wait("#banner-offline")?;
    t.wd.click_css("#sync-chip")?;
    t.wd.wait("#pending-list")?;
    let n = t.wd.find_all("#pending-list li")?.len();
    if n != 2 {
        bail!("{n} changes listed as pending, not 2");
    }
    Ok(())
}

fn s_back_online(t: &mut T) -> Result<()> {
    let clock = at_local(t.today, 9, 5);
    t.go_online(clock)?;
    t.wd.click_css("#sync-now")?;
    t.chip("pending", "0", Duration::from_secs(90))?;
    t.chip("online", "true", LONG)?;
    t.wd.wait_for("#nothing-pending", LONG)?;
    Ok(())
}

fn s_other_guardian(t: &mut T) -> Result<()> {
    // Erik, on his own phone, changes Friday (R-CARE-7): the app shows his value and name.
    let elsa = t.server.child_id("erik", "Elsa")?;
    let fri = t.fri();
    let resp = t.server.push_as(
        "erik",
        "care.set_day",
        json!({"child_id": elsa, "date": iso(fri), "intervals": [{"start": "10:00", "end": "14:30"}]}),
    )?;
    if resp["results"][0]["status"] != "applied" {
        bail!("erik's change was not applied: {resp}");
    }
    t.care_week(t.monday)?;
    // The server pokes the app over its event stream; allow for a reconnect after the
    // restarts above.
    t.wd.wait_text(&format!("#day-{} .day-times", iso(fri)), "10:00–14:30", Duration::from_secs(75))?;
    t.wd.wait_text(&format!("#changed-by-{}", iso(fri)), "Erik", LONG)?;
    t.wd.exec("document.querySelector(arguments[0]).scrollIntoView({block: 'center'})", json!([format!("#day-{}", iso(fri))]))?;
    let _ = t.wd.wait_gone("#toast", Duration::from_secs(6));
    Ok(())
}

fn s_rejected_offline(t: &mut T) -> Result<()> {
    t.go_offline();
    let thu = t.thu();
    t.edit_day(thu, "07:00", "17:00", Some("Mormor hämtar"))?;
    t.chip("pending", "1", LONG)?;
    // While the app was offline, midnight passed: Thursday is now locked on the server.
    t.go_online(at_local(thu, 0, 30))?;
    t.wd.click_css("#sync-chip")?;
    t.wd.click_css("#sync-now")?;
    t.wd.wait_for("#attention-list li[data-code='day_locked']", Duration::from_secs(90))?;
    t.wd.wait_text("#attention-list li[data-code='day_locked'] .reason-text", "låst", LONG)?;
    t.chip("pending", "0", LONG)?;
    t.shot("12a-needs-attention")?;
    // "Edit and resend" opens the day prefilled with what was not saved; the day is locked
    // now, so the editor says so. Then "dismiss" clears the item.
    t.wd.click_css("#attention-list li[data-code='day_locked'] button[id^='resend-']")?;
    t.wd.wait(&format!("#day-editor[data-date='{}']", iso(thu)))?;
    t.wd.wait("#day-locked-notice")?;
    let from = t.wd.exec("return document.querySelector('#from-1').value", json!([]))?;
    if from.as_str() != Some("07:00") {
        bail!("the resend form is not prefilled: from-1 = {from}");
    }
    t.shot("12b-resend-locked")?;
    t.wd.click_css("#sync-chip")?;
    t.wd.click_css("#attention-list li[data-code='day_locked'] button[id^='dismiss-']")?;
    t.wd.wait_for("#sync-chip[data-attention='0']", LONG)?;
    Ok(())
}

fn s_bell(t: &mut T) -> Result<()> {
    t.home()?;
    t.wd.click_css("#bell")?;
    t.wd.wait_for("#notifications li", LONG)?;
    Ok(())
}

fn s_system_notifications(t: &mut T) -> Result<()> {
    // R-NOT-3: the app asked the desktop's notification service to show the new items.
    let log = t.out.join("notifications.log");
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // The absence Lisa confirmed (R-NOT-1: confirmed absences), titled with the child.
        if text.contains("member=Notify") && text.contains("Hub · Elsa") && text.contains("bekräftad") {
            return Ok(());
        }
        if start.elapsed() > LONG {
            bail!("no org.freedesktop.Notifications.Notify call in {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn s_language(t: &mut T) -> Result<()> {
    t.home()?;
    t.wd.click_css("#settings")?;
    t.wd.click_css("label[for='lang-en']")?;
    t.wd.wait_text("#page-title", "Settings", LONG)?;
    t.wd.wait_text("#push-toggles", "Calendar events", LONG)?;
    t.shot("15a-settings-english")?;
    t.home()?;
    t.wd.wait_text("#page-title", "Home", LONG)?;
    t.wd.wait_text("#box-absence", "Absence", LONG)?;
    Ok(())
}

// ---------------------------------------------------------------- staff on a tablet (R-STAFF-1…3)

impl T {
    /// The Monday the tablet scenarios stand on: Elsa has times then (the repeated week).
    fn tablet_day(&self) -> NaiveDate {
        self.next_monday()
    }
    fn sign_out_guardian(&self) -> Result<()> {
        self.home()?;
        self.wd.click_css("#settings")?;
        self.wd.click_css("#sign-out")?;
        self.wd.wait_for("#sign-in", LONG).map(|_| ())
    }
    fn sign_in_as(&self, username: &str) -> Result<()> {
        self.wd.wait_for("#sign-in", LONG)?;
        self.wd.type_into("#server-url", &self.gate.url())?;
        self.wd.type_into("#username", username)?;
        self.wd.type_into("#password", PASSWORD)?;
        self.wd.click_css("#sign-in")
    }
}

fn s_staff_pin_and_code(t: &mut T) -> Result<()> {
    // The morning of the tablet day; Lisa signs in with her password on her own device.
    t.server.set_clock(at_local(t.tablet_day(), 7, 40))?;
    t.sign_out_guardian()?;
    t.sign_in_as("lisa")?;
    t.wd.wait_for("#staff-tabs", LONG)?;
    // At her desk Lisa sees today's children of Solrosen too (R-STAFF-1), not Ekdalsskolan's.
    t.wd.wait_for("li.room-row[data-name='Elsa']", LONG)?;
    if !t.wd.find_all("li.room-row[data-name='Oskar']")?.is_empty() {
        bail!("Lisa's room view shows Oskar of Ekdalsskolan");
    }
    t.shot("16b-staff-room")?;
    t.wd.click_css("#tab-settings")?;
    // A trivial PIN is refused with the rule's own text, before anything is sent.
    t.wd.type_into("#new-pin", "1234")?;
    t.wd.type_into("#repeat-pin", "1234")?;
    t.wd.click_css("#save-pin")?;
    t.wd.wait_for("#pin-error", LONG)?;
    t.wd.type_into("#new-pin", LISA_PIN)?;
    t.wd.type_into("#repeat-pin", LISA_PIN)?;
    t.wd.click_css("#save-pin")?;
    t.wd.wait_gone("#pin-error", LONG)?;
    t.wd.wait_for("#toast", LONG)?;
    // A pairing code for Solrosen (R-STAFF-3).
    t.wd.click_css("#tab-tablets")?;
    t.wd.click_css("#create-pairing")?;
    t.wd.wait_for("#pairing-code-value", LONG)?;
    let code = t.wd.text_of("#pairing-code-value")?;
    if domain::pairing::PairingCode::parse(&code).is_err() {
        bail!("the shown pairing code {code:?} is not a code");
    }
    t.pairing_code = code;
    t.shot("16a-pairing-code")?;
    // Lisa signs out: the tablet is another device.
    t.wd.click_css("#tab-settings")?;
    t.wd.click_css("#sign-out")?;
    t.wd.wait_for("#sign-in", LONG)?;
    Ok(())
}

fn s_pair_tablet(t: &mut T) -> Result<()> {
    t.wd.click_css("#pair-tablet-link")?;
    t.wd.wait_for("#pairing-code", LONG)?;
    // A wrong code is refused and says so (and counts against the pairing's attempts).
    t.wd.type_into("#pair-server-url", &t.gate.url())?;
    t.wd.type_into("#pairing-code", "ZZZZ-ZZZZ")?;
    t.wd.click_css("#pair")?;
    t.wd.wait_for("#pair-error", LONG)?;
    t.wd.type_into("#pairing-code", &t.pairing_code.to_lowercase())?;
    t.wd.type_into("#device-name", "Blåbär")?;
    t.wd.click_css("#pair")?;
    t.wd.wait_for("#lock-screen", LONG)?;
    t.wd.wait_text("#tablet-unit", "Solrosen", LONG)?;
    t.wd.wait_for(".staff-btn[data-name^='Lisa']", LONG)?;
    if !t.wd.find_all(".staff-btn[data-name^='Johan']")?.is_empty() {
        bail!("the Solrosen tablet lists Johan of Ekdalsskolan");
    }
    Ok(())
}

fn s_pin_unlock(t: &mut T) -> Result<()> {
    t.wd.click_css(".staff-btn[data-name^='Lisa']")?;
    t.wd.wait_for("#pin-input", LONG)?;
    // A wrong PIN: four tries left (R-STAFF-3).
    t.wd.type_into("#pin-input", "8642")?;
    t.wd.wait_text("#pin-message", "4", LONG)?;
    t.shot("18a-wrong-pin")?;
    t.wd.type_into("#pin-input", LISA_PIN)?;
    t.wd.wait_for("#room-list", LONG)?;
    t.wd.wait_text("#active-staff", "Lisa", LONG)?;
    t.wd.wait_for(&format!("#room-date[data-date='{}']", iso(t.tablet_day())), LONG)?;
    // Solrosen's children only (R-ACC-7).
    t.wd.wait_for("li.room-row[data-name='Elsa']", LONG)?;
    if !t.wd.find_all("li.room-row[data-name='Oskar']")?.is_empty() {
        bail!("the Solrosen tablet shows Oskar");
    }
    Ok(())
}

/// The server's attendance record of Elsa on `day`, read as Lisa.
fn server_attendance(t: &T, day: NaiveDate) -> Result<Option<Value>> {
    let token = t.server.token("lisa")?;
    let elsa: uuid::Uuid = t.server.child_id("anna", "Elsa")?.parse()?;
    let id = domain::wire::entity::attendance_id(elsa, day).to_string();
    let mut cursor = Value::Null;
    let mut found = None;
    loop {
        let page: Value = t
            .server
            .http
            .post(format!("{}/v1/sync/pull", t.server.url()))
            .bearer_auth(&token)
            .json(&json!({"cursor": cursor}))
            .send()?
            .json()?;
        for c in page["changes"].as_array().into_iter().flatten() {
            if c["type"] == "attendance" && c["id"] == id.as_str() {
                found = Some(c["data"].clone());
            }
        }
        if page["has_more"] != true {
            return Ok(found);
        }
        cursor = page["cursor"].clone();
    }
}

fn s_mark_arrived(t: &mut T) -> Result<()> {
    t.wd.click_css("li.room-row[data-name='Elsa'] .mark-arrived")?;
    t.wd.wait_for("li.room-row[data-name='Elsa'].state-here", LONG)?;
    t.chip("pending", "0", Duration::from_secs(60))?;
    let att = server_attendance(t, t.tablet_day())?.ok_or_else(|| anyhow!("the server has no attendance for Elsa"))?;
    if att["arrived_at"].is_null() || !att["departed_at"].is_null() {
        bail!("the server's attendance is not 'arrived': {att}");
    }
    // Marked by Lisa, through the tablet.
    let lisa_id = att["updated_by"].as_str().unwrap_or_default().to_string();
    if lisa_id.is_empty() || t.wd.attr("#active-staff", "data-user-id")?.as_deref() != Some(lisa_id.as_str()) {
        bail!("the arrival is not recorded as Lisa's: {att}");
    }
    Ok(())
}

fn s_confirm_absence(t: &mut T) -> Result<()> {
    // Anna, on her phone, reports Elsa absent tomorrow (R-ABS-1).
    let elsa = t.server.child_id("anna", "Elsa")?;
    let tue = t.tablet_day() + Days::days(1);
    let resp = t.server.push_as("anna", "absence.report", json!({"child_id": elsa, "date": iso(tue), "comment": "Tandläkaren"}))?;
    if resp["results"][0]["status"] != "applied" {
        bail!("anna's report was not applied: {resp}");
    }
    t.wd.click_css("#next-day")?;
    t.wd.wait_for(&format!("#room-date[data-date='{}']", iso(tue)), LONG)?;
    // The report reaches the tablet through the event stream (red: reported).
    t.wd.wait_for("li.room-row[data-name='Elsa'].state-reported", Duration::from_secs(75))?;
    t.wd.click_css("li.room-row[data-name='Elsa'] .room-open")?;
    t.wd.wait_for("#absence-status[data-status='reported']", LONG)?;
    t.wd.click_css("#confirm-absence")?;
    t.wd.wait_for("#absence-status[data-status='confirmed']", LONG)?;
    t.chip("pending", "0", Duration::from_secs(60))?;
    t.wd.exec("window.scrollTo(0, 0)", json!([]))?;
    t.wd.click_css("#child-day-back")?;
    t.wd.wait_for("li.room-row[data-name='Elsa'].state-confirmed", LONG)?;
    Ok(())
}

fn s_comment(t: &mut T) -> Result<()> {
    t.wd.click_css("#room-today")?;
    t.wd.wait_for(&format!("#room-date[data-date='{}']", iso(t.tablet_day())), LONG)?;
    t.wd.click_css("li.room-row[data-name='Elsa'] .room-open")?;
    t.wd.wait_for("#staff-comment", LONG)?;
    t.wd.type_into("#staff-comment", "Elsa åt bra och sov en timme.")?;
    t.wd.click_css("#send-comment")?;
    t.wd.wait_text("#comment-list", "Elsa åt bra", LONG)?;
    t.chip("pending", "0", Duration::from_secs(60))?;
    t.shot("21a-child-day")?;
    // Quick switch: the tablet locks and asks who is next.
    t.wd.exec("window.scrollTo(0, 0)", json!([]))?;
    t.wd.click_css("#child-day-back")?;
    t.wd.click_css("#switch-person")?;
    t.wd.wait_for("#lock-screen", LONG)?;
    Ok(())
}

fn s_anna_sees_it(t: &mut T) -> Result<()> {
    // The tablet is unpaired (everything is sent), and Anna signs in on this device.
    t.wd.click_css(".staff-btn[data-name^='Lisa']")?;
    t.wd.type_into("#pin-input", LISA_PIN)?;
    t.wd.wait_for("#room-list", LONG)?;
    t.wd.click_css("#tablet-menu")?;
    t.wd.click_css("#unpair")?;
    t.sign_in_as("anna")?;
    t.wd.wait_for("#boxes", LONG)?;
    // The staff comment on Monday's day (R-CARE-6)…
    let mon = t.tablet_day();
    t.care_week(mon)?;
    t.wd.wait_text(&format!("#day-{}", iso(mon)), "Elsa åt bra", LONG)?;
    t.shot("22a-anna-sees-comment")?;
    // …and Tuesday's absence, confirmed: grey (R-ABS-5).
    t.open_box("absence")?;
    let tue = iso(mon + Days::days(1));
    t.wd.wait_for(&format!("#absence-history li[data-date='{tue}'][data-status='confirmed']"), LONG)?;
    Ok(())
}
