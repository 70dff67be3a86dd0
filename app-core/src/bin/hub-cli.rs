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
//! The token store defaults to a 0600 file in the data folder (`--token-store keyring` for
//! the OS keyring). `HUB_PUSH_BATCH` sets mutations per push request.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use app_core::domain::interval::{Interval, LocalTime};
use app_core::domain::time::parse_date;
use app_core::{AppCore, CoreOptions, SystemClock, TokenStoreKind};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
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

fn child(core: &AppCore, s: &str) -> Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(s) {
        return Ok(id);
    }
    let session = core
        .session()
        .ok_or_else(|| anyhow!("not signed in: run hub-cli sign-in first"))?;
    session
        .children
        .iter()
        .find(|c| c.first_name.eq_ignore_ascii_case(s))
        .map(|c| c.id)
        .ok_or_else(|| anyhow!("no child named {s:?} among yours"))
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
                let kids: Vec<String> = s
                    .children
                    .iter()
                    .map(|c| format!("{} ({})", c.first_name, c.unit.name))
                    .collect();
                format!(
                    "signed in as {} ({:?}) on {}; children: {}; last sync: {}",
                    s.user.display_name,
                    s.user.role,
                    s.server_url,
                    kids.join(", "),
                    st.last_sync
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "never".into())
                )
            })?;
        }
        Cmd::SignOut => {
            core.sign_out().await?;
            println!("signed out");
        }
        Cmd::Children => {
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
            let id = child(&core, &c)?;
            let day = match week {
                Some(w) => date(&w)?,
                None => app_core::domain::time::local_date(
                    core.server_now(),
                    app_core::domain::time::DEFAULT_TIME_ZONE,
                ),
            };
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
            let id = child(&core, &c)?;
            let ivs = intervals
                .iter()
                .map(|s| parse_interval(s))
                .collect::<Result<Vec<_>>>()?;
            queued(core.set_care_day(id, date(&d)?, ivs, comment)?)?;
        }
        Cmd::ClearDay { child: c, date: d } => {
            let id = child(&core, &c)?;
            queued(core.clear_care_day(id, date(&d)?)?)?;
        }
        Cmd::Comment {
            child: c,
            date: d,
            text,
        } => {
            let id = child(&core, &c)?;
            queued(core.comment_care_day(id, date(&d)?, text)?)?;
        }
        Cmd::ReportAbsence {
            child: c,
            date: d,
            comment,
        } => {
            let id = child(&core, &c)?;
            queued(core.report_absence(id, date(&d)?, None, comment)?)?;
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
            print(json, &st, || format!("{st:?}"))?;
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
            match e.downcast_ref::<app_core::CoreError>() {
                Some(ce) => eprintln!("hub-cli: {} ({})", ce.message(), ce.code()),
                None => eprintln!("hub-cli: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
