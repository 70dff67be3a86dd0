//! `hub-cli`: the client engine from a terminal — sign in, show the week, queue changes, sync.
//! Handy for people, for tests (a process to kill mid-sync) and for the bench.
//!
//! ```text
//! hub-cli --data-dir DIR sign-in --server http://127.0.0.1:8787 --username anna --password hub-demo-1
//! hub-cli --data-dir DIR week --child Elsa [--week 2026-11-30]
//! hub-cli --data-dir DIR set-day --child Elsa --date 2026-12-01 --interval 07:30-16:00 [--comment "morfar hämtar"]
//! hub-cli --data-dir DIR report-absence --child Elsa --date 2026-11-24
//! hub-cli --data-dir DIR sync | outbox | attention | status
//! ```
//! Staff tablets (R-STAFF-1…3), through the same `AppCore` calls as the app:
//! ```text
//! hub-cli --data-dir DESK sign-in --username lisa --password hub-demo-1
//! hub-cli --data-dir DESK set-pin --pin 4826 | clear-pin | units | devices
//! hub-cli --data-dir DESK create-pairing [--unit Solrosen]
//! hub-cli --data-dir DESK revoke-device --device "Blåbär iPad"
//! hub-cli --data-dir TAB pair --server http://127.0.0.1:8787 --code ABCD-EFGH [--name "Blåbär iPad"]
//! hub-cli --data-dir TAB tablet | unlock --staff Lisa --pin 4826 | unlock-password --username lisa --password … | lock
//! hub-cli --data-dir TAB room [--date 2026-12-01] [--group Blåbär]
//! hub-cli --data-dir TAB child-day --child Elsa [--date 2026-12-01]
//! hub-cli --data-dir TAB mark-arrived|mark-departed --child Elsa [--at 07:45 [--date 2026-12-01]]
//! hub-cli --data-dir TAB confirm-absence|register-absence|comment-seen --child Noah [--date 2026-12-01]
//! hub-cli --data-dir TAB unpair [--force]
//! ```
//! The token store defaults to a 0600 file in the data folder (`--token-store keyring` for
//! the OS keyring). `HUB_PUSH_BATCH` sets mutations per push request.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use app_core::domain::interval::{Interval, LocalTime};
use app_core::domain::time::{instant_at, local_datetime, parse_date, DEFAULT_TIME_ZONE};
use app_core::domain::view::{RoomChild, RoomView, TabletState, UnlockOutcome};
use app_core::domain::wire::entity::AbsenceStatus;
use app_core::domain::wire::{AttendanceKind, Role};
use app_core::{AppCore, CoreError, CoreOptions, SystemClock, TokenStoreKind};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

#[derive(Parser)]
#[command(name = "hub-cli", about = "Hub's client engine from a terminal")]
struct Cli {
    /// The engine's data folder (replicas, last session, token file).
    #[arg(long, env = "HUB_DATA_DIR", default_value = "hub-client")]
    data_dir: PathBuf,
    /// Where the session token lives: file (0600, default here), keyring, memory.
    #[arg(long, env = "HUB_TOKEN_STORE", default_value = "file")]
    token_store: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sign in and make a first sync.
    SignIn {
        #[arg(long, env = "HUB_SERVER", default_value = "http://127.0.0.1:8787")]
        server: String,
        #[arg(long)]
        username: String,
        #[arg(long, env = "HUB_PASSWORD")]
        password: String,
    },
    SignOut,
    /// The session and its children.
    Children,
    /// A child's care week.
    Week {
        /// Child id or first name.
        #[arg(long)]
        child: String,
        /// Any day of the week (default: this week, on the corrected clock).
        #[arg(long)]
        week: Option<String>,
    },
    /// Set a day's care times (queued; `sync` sends it).
    SetDay {
        #[arg(long)]
        child: String,
        #[arg(long)]
        date: String,
        /// HH:MM-HH:MM, once or twice.
        #[arg(long = "interval", required = true)]
        intervals: Vec<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    ClearDay {
        #[arg(long)]
        child: String,
        #[arg(long)]
        date: String,
    },
    Comment {
        #[arg(long)]
        child: String,
        #[arg(long)]
        date: String,
        #[arg(long)]
        text: String,
    },
    ReportAbsence {
        #[arg(long)]
        child: String,
        #[arg(long)]
        date: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Push the outbox, then pull.
    Sync,
    Outbox,
    Attention,
    Status,

    // ---------------------------------------------------------- staff at a desk (R-STAFF-3)
    /// Staff: the units in reach (to pair tablets for); a tablet: its unit.
    Units,
    /// Set your PIN for unlocking tablets (staff signed in with a password; online).
    SetPin {
        /// Four digits, not trivial (0000, 1234, 1212… are refused).
        #[arg(long, env = "HUB_PIN")]
        pin: String,
    },
    /// Remove your PIN (you then unlock tablets with your password).
    ClearPin,
    /// A one-time code to pair a tablet of your unit with, valid 60 minutes.
    CreatePairing {
        /// Unit id or name (default: your only unit).
        #[arg(long)]
        unit: Option<String>,
    },
    /// Your units' paired tablets (revoked ones too) and open pairings.
    Devices,
    /// Revoke a paired tablet's credential: it has to be paired again.
    RevokeDevice {
        /// Device id or name (see `devices`).
        #[arg(long)]
        device: String,
    },

    // ---------------------------------------------------------- a tablet (R-STAFF-1…3)
    /// Pair this data folder as a tablet of a unit, with a code from `create-pairing`.
    Pair {
        #[arg(long, env = "HUB_SERVER", default_value = "http://127.0.0.1:8787")]
        server: String,
        /// ABCD-EFGH (case, spaces and dashes do not matter).
        #[arg(long)]
        code: String,
        /// The device's name in the device list, e.g. "Blåbär iPad".
        #[arg(long)]
        name: Option<String>,
    },
    /// Unpair and remove the unit's data here; refused while changes are unsent.
    Unpair {
        /// Unpair anyway, losing the unsent changes.
        #[arg(long)]
        force: bool,
    },
    /// The paired tablet: the unit's staff (PIN, lockout) and who is unlocked.
    #[command(visible_alias = "staff")]
    Tablet,
    /// Unlock the tablet with a staff member's PIN; also the quick switch of user.
    ///
    /// Checked here, offline too; the attempt is queued for `sync` so the server and the
    /// unit's other tablets count it.
    Unlock {
        /// Staff member: id, name or first name (see `tablet`).
        #[arg(long)]
        staff: String,
        #[arg(long, env = "HUB_PIN")]
        pin: String,
    },
    /// Unlock the tablet with a staff member's password (online); clears a locked PIN.
    UnlockPassword {
        #[arg(long)]
        username: String,
        #[arg(long, env = "HUB_PASSWORD")]
        password: String,
    },
    /// End the PIN session.
    Lock,
    /// The room of a day: children, planned times, absences, arrivals, comments.
    ///
    /// On an unlocked tablet, or for staff signed in at a desk.
    Room {
        /// Default: today.
        #[arg(long)]
        date: Option<String>,
        /// Group id or name (default: the whole unit).
        #[arg(long)]
        group: Option<String>,
    },
    /// One child's day in the room: the row, the guardians' note and the comments.
    ChildDay {
        #[arg(long)]
        child: String,
        /// Default: today.
        #[arg(long)]
        date: Option<String>,
    },
    /// Mark a child arrived (queued; `sync` sends it).
    MarkArrived(Mark),
    /// Mark a child departed (it needs an earlier arrival that day).
    MarkDeparted(Mark),
    /// Confirm the absence a guardian reported for a day.
    ConfirmAbsence {
        #[arg(long)]
        child: String,
        /// Default: today.
        #[arg(long)]
        date: Option<String>,
    },
    /// Register a whole-day absence (confirmed at once).
    RegisterAbsence {
        #[arg(long)]
        child: String,
        /// Default: today.
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Clear the "new comment" marker of a child's day for all staff.
    CommentSeen {
        #[arg(long)]
        child: String,
        /// Default: today.
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Args)]
struct Mark {
    /// Child id or name.
    #[arg(long)]
    child: String,
    /// When it happened, HH:MM (default: now); at most 30 minutes ahead.
    #[arg(long)]
    at: Option<String>,
    /// The day of `--at` (default: today).
    #[arg(long, requires = "at")]
    date: Option<String>,
}

/// A refusal that is no [`CoreError`] (a PIN outcome), with a stable code for scripts.
#[derive(Debug)]
struct Refused {
    code: &'static str,
    message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

fn refused(code: &'static str, message: String) -> anyhow::Error {
    Refused { code, message }.into()
}

fn parse_interval(s: &str) -> Result<Interval> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| anyhow!("interval {s:?} is not HH:MM-HH:MM"))?;
    let a: LocalTime = a.parse().map_err(|e| anyhow!("{e}"))?;
    let b: LocalTime = b.parse().map_err(|e| anyhow!("{e}"))?;
    Ok(Interval::new(a, b))
}

fn date(s: &str) -> Result<NaiveDate> {
    parse_date(s).map_err(|e| anyhow!("{e}"))
}

/// A child by id or name: a guardian's own children (first name); for staff and on a
/// tablet, the children in the room of `day` (default today; first or full name).
fn child(core: &AppCore, s: &str, day: Option<NaiveDate>) -> Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(s.trim()) {
        return Ok(id);
    }
    match core.session() {
        Some(session) if !matches!(session.user.role, Role::Staff | Role::Admin) => {
            return session
                .children
                .iter()
                .find(|c| c.first_name.eq_ignore_ascii_case(s))
                .map(|c| c.id)
                .ok_or_else(|| anyhow!("no child named {s:?} among yours"));
        }
        Some(_) => {}
        None if core.tablet_state().is_some() => {}
        None => bail!("not signed in: run hub-cli sign-in (or pair) first"),
    }
    let kids = room_children(core, day)?;
    let c = pick(
        &kids,
        s,
        "child",
        |c| c.child_id,
        |c| {
            vec![
                format!("{} {}", c.first_name, c.last_name),
                c.first_name.clone(),
            ]
        },
    )?;
    Ok(c.child_id)
}

/// Every child staff can reach on `day`: the room's (a desk's first unit), and at a desk the
/// children of every group in the replica, so other units' children are found too.
fn room_children(core: &AppCore, day: Option<NaiveDate>) -> Result<Vec<RoomChild>> {
    let v = core.room_view(day, None)?;
    let mut kids = v.children;
    if core.tablet_state().is_none() {
        for g in &v.groups {
            for c in core.room_view(Some(v.date), Some(g.id))?.children {
                if !kids.iter().any(|k| k.child_id == c.child_id) {
                    kids.push(c);
                }
            }
        }
    }
    Ok(kids)
}

/// Names compared in any case, Unicode too ("åsa" is "Åsa").
fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// One of `items` by its id or one of its `names` (the first is shown in messages) in any
/// case; several with that name is an error, never a guess.
fn pick<'a, T>(
    items: &'a [T],
    input: &str,
    what: &str,
    id: impl Fn(&T) -> Uuid,
    names: impl Fn(&T) -> Vec<String>,
) -> Result<&'a T> {
    let shown = |t: &T| names(t).into_iter().next().unwrap_or_default();
    if let Ok(u) = Uuid::parse_str(input.trim()) {
        return items
            .iter()
            .find(|t| id(t) == u)
            .ok_or_else(|| anyhow!("no {what} with id {u} here"));
    }
    let hits: Vec<&T> = items
        .iter()
        .filter(|t| names(t).iter().any(|n| same_name(n, input)))
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => {
            let all: Vec<String> = items.iter().map(&shown).collect();
            Err(anyhow!(
                "no {what} named {input:?} here ({})",
                if all.is_empty() {
                    "there are none".to_string()
                } else {
                    format!("there are: {}", all.join(", "))
                }
            ))
        }
        many => {
            let all: Vec<String> = many
                .iter()
                .map(|t| format!("{} {}", shown(t), id(t)))
                .collect();
            Err(anyhow!(
                "{input:?} names several: use the {what}'s id ({})",
                all.join(", ")
            ))
        }
    }
}

/// The display name and its first word ("Lisa Ek", "Lisa").
fn name_and_first(n: &str) -> Vec<String> {
    let mut v = vec![n.to_string()];
    if let Some(first) = n.split_whitespace().next().filter(|f| *f != n) {
        v.push(first.to_string());
    }
    v
}

/// `--date`, or today as the room shows it (the unit's day on the corrected clock).
fn room_day(core: &AppCore, s: Option<&str>) -> Result<NaiveDate> {
    match s {
        Some(s) => date(s),
        None => Ok(core.room_view(None, None)?.today),
    }
}

fn paired(core: &AppCore) -> Result<TabletState> {
    core.tablet_state()
        .ok_or_else(|| anyhow!("this data folder is not a paired tablet: run hub-cli pair first"))
}

/// An arrival or departure; `--at` is a wall-clock time of that day, read in Hub's zone as
/// the app reads an edited time (R-STAFF-2: the time it happened).
fn mark(core: &AppCore, m: &Mark, kind: AttendanceKind) -> Result<Uuid> {
    let day = m.date.as_deref().map(date).transpose()?;
    let id = child(core, &m.child, day)?;
    let at = match &m.at {
        None => None,
        Some(t) => {
            let t: LocalTime = t.trim().parse().map_err(CoreError::from)?;
            let day = match day {
                Some(d) => d,
                None => room_day(core, None)?,
            };
            Some(instant_at(day, t.0, DEFAULT_TIME_ZONE))
        }
    };
    Ok(core.mark_attendance(id, kind, at)?)
}

/// HH:MM in Hub's zone, as the app shows times.
fn clock(at: DateTime<Utc>) -> String {
    local_datetime(at, DEFAULT_TIME_ZONE)
        .format("%H:%M")
        .to_string()
}

fn datetime(at: DateTime<Utc>) -> String {
    local_datetime(at, DEFAULT_TIME_ZONE)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn room_row(c: &RoomChild) -> String {
    let planned: Vec<String> = c.planned.iter().map(|i| i.to_string()).collect();
    let mut state = Vec::new();
    if let Some(a) = &c.absence {
        state.push(match a.status {
            AbsenceStatus::Reported => "absent (reported)".to_string(),
            AbsenceStatus::Confirmed => "absent (confirmed)".to_string(),
        });
    }
    if let Some(t) = c.arrived_at {
        state.push(format!("arrived {}", clock(t)));
    }
    if let Some(t) = c.departed_at {
        state.push(format!("departed {}", clock(t)));
    }
    if state.is_empty() {
        state.push("expected".into());
    }
    format!(
        "{}  {:<24} {:<26} {}{}{}",
        c.child_id,
        format!("{} {}", c.first_name, c.last_name),
        if planned.is_empty() {
            "no times".to_string()
        } else {
            planned.join(", ")
        },
        state.join(", "),
        match (c.comments, c.new_comment) {
            (0, _) => String::new(),
            (n, true) => format!(" 💬 {n} (new)"),
            (n, false) => format!(" 💬 {n}"),
        },
        if c.pending { " (pending)" } else { "" },
    )
}

fn room_text(v: &RoomView) -> String {
    let group = v
        .group_id
        .and_then(|g| v.groups.iter().find(|x| x.id == g))
        .map(|g| format!(", {}", g.name))
        .unwrap_or_default();
    let mut out = format!(
        "{}{} {}{}\n",
        v.unit_name,
        group,
        v.date,
        if v.date == v.today { " (today)" } else { "" }
    );
    for c in &v.children {
        out.push_str(&room_row(c));
        out.push('\n');
    }
    let t = &v.totals;
    out.push_str(&format!(
        "{} children: {} present, {} expected, {} absent, {} departed",
        t.children, t.present, t.expected, t.absent, t.departed
    ));
    out
}

fn tablet_text(t: &TabletState) -> String {
    let mut out = format!(
        "tablet {:?} ({}) of {} on {}, paired {} by {}\n",
        t.device.name,
        t.device.id,
        t.device.unit.name,
        t.server_url,
        datetime(t.device.paired_at),
        t.device.paired_by_name
    );
    match &t.active {
        Some(a) => out.push_str(&format!(
            "unlocked: {} until {}\n",
            a.display_name,
            clock(a.idle_until)
        )),
        None => out.push_str("locked: hub-cli unlock --staff NAME --pin PIN\n"),
    }
    if t.staff.is_empty() {
        out.push_str("no staff synced yet: hub-cli sync");
    }
    let rows: Vec<String> = t
        .staff
        .iter()
        .map(|s| {
            format!(
                "{}  {:<24} {}",
                s.user_id,
                s.display_name,
                match (s.has_pin, s.locked) {
                    (false, _) => "no PIN (unlock with the password)".to_string(),
                    (true, true) => "PIN locked (unlock with the password)".to_string(),
                    (true, false) => format!("PIN, {} attempt(s) left", s.attempts_left),
                }
            )
        })
        .collect();
    out.push_str(&rows.join("\n"));
    out
}

fn print<T: serde::Serialize>(json: bool, v: &T, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let kind = TokenStoreKind::parse(&cli.token_store)
        .ok_or_else(|| anyhow!("--token-store is one of file, keyring, memory"))?;
    let core = AppCore::open(CoreOptions {
        data_dir: cli.data_dir.clone(),
        token_store: kind,
        clock: Arc::new(SystemClock),
    })
    .context("opening the engine")?;
    if let Some(n) = std::env::var("HUB_PUSH_BATCH")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        core.set_batch_sizes(n, None);
    }
    let json = cli.json;
    let queued = |id: Uuid| {
        print(json, &serde_json::json!({ "queued": id }), || {
            format!("queued {id}")
        })
    };
    match cli.cmd {
        Cmd::SignIn {
            server,
            username,
            password,
        } => {
            let s = core.sign_in(&server, &username, &password).await?;
            let st = core.sync_status();
            print(json, &s, || {
                let (what, list): (&str, Vec<String>) = match s.user.role {
                    // Staff have units, not children (the ones to pair tablets for).
                    Role::Staff | Role::Admin => (
                        "units",
                        core.staff_units()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|u| u.name)
                            .collect(),
                    ),
                    Role::Guardian | Role::Student => (
                        "children",
                        s.children
                            .iter()
                            .map(|c| format!("{} ({})", c.first_name, c.unit.name))
                            .collect(),
                    ),
                };
                format!(
                    "signed in as {} ({:?}) on {}; {what}: {}; last sync: {}",
                    s.user.display_name,
                    s.user.role,
                    s.server_url,
                    list.join(", "),
                    st.last_sync
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "never".into())
                )
            })?;
        }
        Cmd::SignOut => {
            // On a tablet the engine only locks: the tablet stays paired.
            let tablet = core.tablet_state().is_some();
            core.sign_out().await?;
            if tablet {
                println!("locked (the tablet stays paired: hub-cli unpair undoes that)");
            } else {
                println!("signed out");
            }
        }
        Cmd::Children => {
            if core.tablet_state().is_some() {
                bail!("a paired tablet has no children of its own: see hub-cli room");
            }
            let s = core.session().ok_or_else(|| anyhow!("not signed in"))?;
            print(json, &s, || {
                s.children
                    .iter()
                    .map(|c| {
                        format!(
                            "{}  {} {}  {}",
                            c.id, c.first_name, c.last_name, c.unit.name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Cmd::Week { child: c, week } => {
            let day = match week {
                Some(w) => date(&w)?,
                None => app_core::domain::time::local_date(
                    core.server_now(),
                    app_core::domain::time::DEFAULT_TIME_ZONE,
                ),
            };
            let id = child(&core, &c, Some(day))?;
            let v = core.care_week(id, day)?;
            print(json, &v, || {
                let mut out = format!(
                    "week of {}{}\n",
                    v.week_start,
                    if v.week_editable {
                        ""
                    } else {
                        " (whole-week registration locked)"
                    }
                );
                for d in &v.days {
                    let hours = match (d.opens, d.closes) {
                        (Some(o), Some(c)) => format!("{o}–{c}"),
                        _ => "closed".into(),
                    };
                    let ivs: Vec<String> = d.intervals.iter().map(|i| i.to_string()).collect();
                    out.push_str(&format!(
                        "{} {:<12} {:<13} {:<24}{}{}{}{}\n",
                        d.date,
                        hours,
                        if d.locked { "locked" } else { "" },
                        ivs.join(", "),
                        d.comment
                            .as_deref()
                            .map(|c| format!(" 💬 {c}"))
                            .unwrap_or_default(),
                        if d.pending { " (pending)" } else { "" },
                        match (&d.updated_by_name, d.updated_by_other) {
                            (Some(n), true) => format!(" set by {n}"),
                            _ => String::new(),
                        },
                        if d.comments.is_empty() {
                            String::new()
                        } else {
                            format!(" [{} comments]", d.comments.len())
                        },
                    ));
                }
                out
            })?;
        }
        Cmd::SetDay {
            child: c,
            date: d,
            intervals,
            comment,
        } => {
            let day = date(&d)?;
            let id = child(&core, &c, Some(day))?;
            let ivs = intervals
                .iter()
                .map(|s| parse_interval(s))
                .collect::<Result<Vec<_>>>()?;
            queued(core.set_care_day(id, day, ivs, comment)?)?;
        }
        Cmd::ClearDay { child: c, date: d } => {
            let day = date(&d)?;
            let id = child(&core, &c, Some(day))?;
            queued(core.clear_care_day(id, day)?)?;
        }
        Cmd::Comment {
            child: c,
            date: d,
            text,
        } => {
            let day = date(&d)?;
            let id = child(&core, &c, Some(day))?;
            queued(core.comment_care_day(id, day, text)?)?;
        }
        Cmd::ReportAbsence {
            child: c,
            date: d,
            comment,
        } => {
            let day = date(&d)?;
            let id = child(&core, &c, Some(day))?;
            queued(core.report_absence(id, day, None, comment)?)?;
        }
        Cmd::Sync => {
            let st = core.sync_now().await?;
            print(json, &st, || {
                format!(
                    "synced: {} pending, {} need attention, server offset {} ms",
                    st.pending, st.needs_attention, st.server_offset_ms
                )
            })?;
        }
        Cmd::Outbox => {
            let v = core.outbox()?;
            print(json, &v, || {
                v.iter()
                    .map(|o| format!("{}  {}  {}  attempts {}", o.id, o.name, o.args, o.attempts))
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Cmd::Attention => {
            let v = core.needs_attention()?;
            print(json, &v, || {
                v.iter()
                    .map(|a| format!("{}  {}  {}: {}", a.id, a.name, a.code, a.message))
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Cmd::Status => {
            let st = core.sync_status();
            let tablet = core.tablet_state();
            print(json, &st, || match &tablet {
                Some(t) => format!(
                    "{st:?}\ntablet {:?} of {}, {}",
                    t.device.name,
                    t.device.unit.name,
                    t.active
                        .as_ref()
                        .map(|a| format!(
                            "unlocked as {} until {}",
                            a.display_name,
                            clock(a.idle_until)
                        ))
                        .unwrap_or_else(|| "locked".into())
                ),
                None => format!("{st:?}"),
            })?;
        }
        Cmd::Units => {
            let v = core.staff_units()?;
            print(json, &v, || {
                v.iter()
                    .map(|u| format!("{}  {}  {}", u.id, u.name, u.kind.as_str()))
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Cmd::SetPin { pin } => {
            core.set_pin(&pin).await?;
            print(json, &serde_json::json!({ "ok": true }), || {
                "PIN set".into()
            })?;
        }
        Cmd::ClearPin => {
            core.clear_pin().await?;
            print(json, &serde_json::json!({ "ok": true }), || {
                "PIN removed: unlock tablets with the password".into()
            })?;
        }
        Cmd::CreatePairing { unit } => {
            let units = core.staff_units()?;
            let u = match unit.as_deref() {
                Some(u) => pick(&units, u, "unit", |x| x.id, |x| name_and_first(&x.name))?,
                None => match units.as_slice() {
                    [one] => one,
                    [] => bail!("no unit synced yet: hub-cli sync"),
                    _ => {
                        let names: Vec<&str> = units.iter().map(|x| x.name.as_str()).collect();
                        bail!(
                            "you have several units: choose one with --unit ({})",
                            names.join(", ")
                        )
                    }
                },
            };
            let p = core.create_pairing(u.id).await?;
            print(json, &p, || {
                format!(
                    "pairing code {} for {}, valid until {} (pairing {})",
                    p.code.as_deref().unwrap_or("(none returned)"),
                    p.unit.name,
                    datetime(p.expires_at),
                    p.id
                )
            })?;
        }
        Cmd::Devices => {
            let v = core.devices().await?;
            print(json, &v, || {
                let mut rows: Vec<String> = v
                    .devices
                    .iter()
                    .map(|d| {
                        format!(
                            "{}  {:<20} {}  paired {} by {}{}{}",
                            d.id,
                            d.name,
                            d.unit.name,
                            datetime(d.paired_at),
                            d.paired_by_name,
                            d.last_seen_at
                                .map(|t| format!(", last seen {}", datetime(t)))
                                .unwrap_or_default(),
                            d.revoked_at
                                .map(|t| format!(", REVOKED {}", datetime(t)))
                                .unwrap_or_default(),
                        )
                    })
                    .collect();
                if rows.is_empty() {
                    rows.push("no paired tablets".into());
                }
                for p in &v.pairings {
                    rows.push(format!(
                        "open pairing {}  {}  created by {}, expires {}",
                        p.id,
                        p.unit.name,
                        p.created_by_name,
                        datetime(p.expires_at)
                    ));
                }
                rows.join("\n")
            })?;
        }
        Cmd::RevokeDevice { device } => {
            let list = core.devices().await?.devices;
            // By name only among live devices: a revoked one may carry the same name.
            let id = match Uuid::parse_str(device.trim()) {
                Ok(id) => id,
                Err(_) => {
                    let live: Vec<_> = list
                        .into_iter()
                        .filter(|d| d.revoked_at.is_none())
                        .collect();
                    pick(&live, &device, "device", |d| d.id, |d| vec![d.name.clone()])?.id
                }
            };
            core.revoke_device(id).await?;
            print(json, &serde_json::json!({ "ok": true }), || {
                format!("revoked {id}: the tablet has to be paired again")
            })?;
        }
        Cmd::Pair { server, code, name } => {
            let t = core.pair_tablet(&server, &code, name.as_deref()).await?;
            let st = core.sync_status();
            print(json, &t, || {
                format!(
                    "paired as {:?} to {} on {}; {} staff; last sync: {}; locked: hub-cli unlock --staff NAME --pin PIN",
                    t.device.name,
                    t.device.unit.name,
                    t.server_url,
                    t.staff.len(),
                    st.last_sync
                        .map(|t| t.to_rfc3339())
                        .or(st.last_error.clone())
                        .unwrap_or_else(|| "never".into())
                )
            })?;
        }
        Cmd::Unpair { force } => {
            paired(&core)?;
            core.unpair_tablet(force).await?;
            print(json, &serde_json::json!({ "ok": true }), || {
                "unpaired: the unit's data is removed from this folder".into()
            })?;
        }
        Cmd::Tablet => {
            let t = paired(&core)?;
            print(json, &t, || tablet_text(&t))?;
        }
        Cmd::Unlock { staff, pin } => {
            let t = paired(&core)?;
            if t.staff.is_empty() {
                bail!("no staff synced to this tablet yet: run hub-cli sync");
            }
            let who = pick(
                &t.staff,
                &staff,
                "staff member",
                |s| s.user_id,
                |s| name_and_first(&s.display_name),
            )?;
            let name = who.display_name.clone();
            let outcome = core.unlock_with_pin(who.user_id, &pin)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            }
            match outcome {
                UnlockOutcome::Unlocked => {
                    if !json {
                        let until = core
                            .tablet_state()
                            .and_then(|t| t.active)
                            .map(|a| format!(" until {}", clock(a.idle_until)))
                            .unwrap_or_default();
                        println!("unlocked as {name}{until}");
                    }
                }
                UnlockOutcome::WrongPin { attempts_left } => {
                    return Err(refused(
                        "wrong_pin",
                        format!(
                            "wrong PIN for {name}: {attempts_left} attempt(s) left before it locks"
                        ),
                    ));
                }
                UnlockOutcome::Locked => {
                    return Err(refused(
                        "pin_locked",
                        format!(
                            "{name}'s PIN is locked after five wrong attempts in a row: unlock with the password (hub-cli unlock-password, online)"
                        ),
                    ));
                }
                UnlockOutcome::NoPin => {
                    return Err(refused(
                        "no_pin",
                        format!(
                            "{name} has no PIN: unlock with the password (hub-cli unlock-password), or set one at a desk (hub-cli set-pin)"
                        ),
                    ));
                }
            }
        }
        Cmd::UnlockPassword { username, password } => {
            paired(&core)?;
            let t = core.unlock_with_password(&username, &password).await?;
            print(json, &t, || match &t.active {
                Some(a) => format!(
                    "unlocked as {} until {}",
                    a.display_name,
                    clock(a.idle_until)
                ),
                None => "unlocked".into(),
            })?;
        }
        Cmd::Lock => {
            core.lock_tablet()?;
            print(json, &serde_json::json!({ "ok": true }), || "locked".into())?;
        }
        Cmd::Room { date: d, group } => {
            let day = d.as_deref().map(date).transpose()?;
            let group_id = match group {
                None => None,
                Some(g) => {
                    let tabs = core.room_view(day, None)?.groups;
                    Some(pick(&tabs, &g, "group", |x| x.id, |x| vec![x.name.clone()])?.id)
                }
            };
            let v = core.room_view(day, group_id)?;
            print(json, &v, || room_text(&v))?;
        }
        Cmd::ChildDay { child: c, date: d } => {
            let day = room_day(&core, d.as_deref())?;
            let id = child(&core, &c, Some(day))?;
            let v = core.room_child(id, day)?;
            print(json, &v, || {
                let mut out = format!("{}\n{}", v.date, room_row(&v.child));
                if let Some(n) = &v.day_note {
                    out.push_str(&format!("\nnote: {n}"));
                }
                for x in &v.comments {
                    out.push_str(&format!(
                        "\n{}  {} ({}): {}{}",
                        datetime(x.created_at),
                        x.author_name,
                        x.author_role.as_str(),
                        x.text,
                        if x.new_for_staff { " (new)" } else { "" }
                    ));
                }
                out
            })?;
        }
        Cmd::MarkArrived(m) => queued(mark(&core, &m, AttendanceKind::Arrived)?)?,
        Cmd::MarkDeparted(m) => queued(mark(&core, &m, AttendanceKind::Departed)?)?,
        Cmd::ConfirmAbsence { child: c, date: d } => {
            let day = room_day(&core, d.as_deref())?;
            let id = child(&core, &c, Some(day))?;
            let row = core.room_child(id, day)?.child;
            let a = row
                .absence
                .ok_or_else(|| anyhow!("{} has no absence on {day} to confirm", row.first_name))?;
            queued(core.confirm_absence(a.id)?)?;
        }
        Cmd::RegisterAbsence {
            child: c,
            date: d,
            comment,
        } => {
            let day = room_day(&core, d.as_deref())?;
            let id = child(&core, &c, Some(day))?;
            queued(core.register_absence(id, day, comment)?)?;
        }
        Cmd::CommentSeen { child: c, date: d } => {
            let day = room_day(&core, d.as_deref())?;
            let id = child(&core, &c, Some(day))?;
            queued(core.comment_seen(id, day)?)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hub-cli: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // CoreError codes first, for scripts.
            if let Some(ce) = e.downcast_ref::<app_core::CoreError>() {
                eprintln!("hub-cli: {} ({})", ce.message(), ce.code());
            } else if let Some(r) = e.downcast_ref::<Refused>() {
                eprintln!("hub-cli: {} ({})", r.message, r.code);
            } else {
                eprintln!("hub-cli: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(Uuid, &'static str);

    fn staff() -> Vec<Named> {
        vec![
            Named(Uuid::from_u128(1), "Lisa Ek"),
            Named(Uuid::from_u128(2), "Åsa Berg"),
            Named(Uuid::from_u128(3), "Lisa Holm"),
        ]
    }

    fn find(items: &[Named], input: &str) -> Result<Uuid> {
        let named = |n: &Named| name_and_first(n.1);
        Ok(pick(items, input, "staff member", |n| n.0, named)?.0)
    }

    // Scripts name people as they are shown: id, full name or first name, in any case
    // (Swedish letters too); a name two people share is refused, never guessed.
    #[test]
    fn staff_and_children_are_picked_by_id_or_name_and_never_guessed() {
        let list = staff();
        assert_eq!(find(&list, "åsa").unwrap(), Uuid::from_u128(2));
        assert_eq!(find(&list, " LISA EK ").unwrap(), Uuid::from_u128(1));
        assert_eq!(
            find(&list, &Uuid::from_u128(3).to_string()).unwrap(),
            Uuid::from_u128(3)
        );
        let err = find(&list, "Lisa").unwrap_err().to_string();
        assert!(err.contains("names several"), "{err}");
        let err = find(&list, "Lis").unwrap_err().to_string();
        assert!(err.contains("there are: Lisa Ek, Åsa Berg"), "{err}");
        assert!(find(&list, &Uuid::from_u128(9).to_string()).is_err());
        assert!(find(&[], "Lisa").unwrap_err().to_string().contains("none"));
    }

    #[test]
    fn the_tablet_commands_parse_and_bad_arguments_are_refused() {
        let ok = |line: &str| Cli::try_parse_from(line.split_whitespace()).is_ok();
        assert!(ok("hub-cli unlock --staff Lisa --pin 4826"));
        assert!(ok("hub-cli mark-arrived --child Elsa --at 07:45"));
        assert!(ok(
            "hub-cli mark-departed --child Elsa --at 16:10 --date 2030-09-05"
        ));
        assert!(
            !ok("hub-cli mark-arrived --child Elsa --date 2030-09-05"),
            "a date without a time"
        );
        assert!(!ok("hub-cli confirm-absence"), "which child?");
        assert!(ok("hub-cli --json staff"), "alias of tablet");
    }
}
