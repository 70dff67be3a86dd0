//! The Hub scenarios: simulated guardians' phones and staff tablets against a sync server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use hyper::Method;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};
use sync_server::benchdata::{stockholm, Device, Roster};
use sync_server::rules::pull::DEFAULT_LIMIT;
use uuid::Uuid;

use crate::client::{run_workers, Conn, Recorder};
use crate::report::Figure;
use crate::Opts;

/// The benchmark's calendar: a Tuesday in March, and the Sunday before it.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default()
}

#[derive(Deserialize)]
struct PullResp {
    cursor: String,
    has_more: bool,
    changes: Vec<IgnoredAny>,
    /// docs/protocol.md, "Commits" (PostgreSQL only).
    #[serde(default)]
    commit: Option<u64>,
}

// The push answer read as little as the counts need: borrowed strings, the details left
// as text. (The load generator shares the two cores with the server it measures; its own
// parsing into maps took CPU the server then did not get.)
#[derive(Deserialize)]
struct PushResp<'a> {
    #[serde(borrow)]
    results: Vec<PushResult<'a>>,
}

#[derive(Deserialize)]
struct PushResult<'a> {
    id: Uuid,
    #[serde(borrow)]
    status: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    code: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    details: Option<&'a serde_json::value::RawValue>,
}

/// The days of a care week's plan (`details.writes`), counted without being read.
#[derive(Deserialize)]
struct PlanWrites {
    #[serde(default)]
    writes: Option<Vec<IgnoredAny>>,
}

pub struct Hub<'a> {
    pub target: String,
    /// The target's server instances (one but for `--instances`): the load's connections
    /// are dealt over them round robin.
    pub addrs: Vec<SocketAddr>,
    pub roster: Arc<Roster>,
    pub opts: &'a Opts,
}

/// Counts a push answer into `rec`; returns the number of care days written (set_week).
pub(crate) fn count_push(rec: &mut Recorder, body: &[u8], keep_ids: bool) -> Result<u64> {
    let r: PushResp = serde_json::from_slice(body).context("push answer")?;
    let mut days = 0;
    for m in r.results {
        if m.status == "applied" {
            rec.applied += 1;
            if keep_ids {
                rec.acked.push(m.id);
            }
            if let Some(d) = m.details.filter(|d| d.get().starts_with('{')) {
                let plan: PlanWrites = serde_json::from_str(d.get()).context("push answer's details")?;
                days += plan.writes.map_or(0, |w| w.len() as u64);
            }
        } else {
            rec.rejected += 1;
            if rec.first_error.is_none() {
                rec.first_error = Some(format!("rejected: {}", m.code.unwrap_or_default()));
            }
        }
    }
    Ok(days)
}

/// One full null-cursor sync: pulls until `has_more` is false. Returns the cursor, the
/// number of changes, the server's time summed over the pulls, and the pulls.
pub async fn full_sync(conn: &mut Conn, token: &str, limit: Option<u32>) -> Result<(String, u64, f64, u32)> {
    let mut cursor: Option<String> = None;
    let (mut n, mut server, mut pulls) = (0u64, 0.0, 0u32);
    loop {
        let r = conn.post_json("/v1/sync/pull", Some(token), &json!({ "cursor": cursor, "limit": limit })).await?;
        if !r.status.is_success() {
            bail!("pull answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
        }
        server += r.server_ms.unwrap_or(0.0);
        pulls += 1;
        let p: PullResp = serde_json::from_slice(&r.body).context("pull answer")?;
        n += p.changes.len() as u64;
        cursor = Some(p.cursor);
        if !p.has_more {
            break;
        }
    }
    Ok((cursor.unwrap_or_default(), n, server, pulls))
}

/// The whole snapshot a guardian's first sync receives (for the pouchdb equivalent).
pub async fn snapshot(addr: SocketAddr, token: &str) -> Result<Vec<Value>> {
    let mut conn = Conn::new(addr);
    let mut cursor: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let r = conn.post_json("/v1/sync/pull", Some(token), &json!({ "cursor": cursor })).await?;
        let v: Value = serde_json::from_slice(&r.body)?;
        if let Some(c) = v.get("changes").and_then(|c| c.as_array()) {
            out.extend(c.iter().cloned());
        }
        cursor = v.get("cursor").and_then(|c| c.as_str()).map(str::to_string);
        if !v.get("has_more").and_then(|h| h.as_bool()).unwrap_or(false) {
            break;
        }
    }
    Ok(out)
}

impl Hub<'_> {
    /// Fixes the dev clock of every instance (each has its own).
    pub async fn set_clock(&self, at: DateTime<Utc>) -> Result<()> {
        for addr in &self.addrs {
            let mut c = Conn::new(*addr);
            let r = c.post_json("/v1/dev/clock", None, &json!({ "now": at })).await?;
            if !r.status.is_success() {
                bail!("setting the dev clock of {addr} answered {}", r.status);
            }
        }
        Ok(())
    }

    /// (write jobs, commits, largest group) from `/metrics`, summed over the instances
    /// (the largest group: the largest of any).
    pub async fn write_stats(&self) -> Option<(u64, u64, u64)> {
        let mut sum = (0, 0, 0);
        for addr in &self.addrs {
            let mut c = Conn::new(*addr);
            let r = c.send(Method::GET, "/metrics", None, None).await.ok()?;
            let text = String::from_utf8_lossy(&r.body).to_string();
            let get = |name: &str| {
                text.lines()
                    .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            sum.0 += get("hub_store_write_jobs_total")?;
            sum.1 += get("hub_store_commits_total")?;
            sum.2 = sum.2.max(get("hub_store_largest_group")?);
        }
        Some(sum)
    }

    pub(crate) fn figure(&self, scenario: &str, conc: usize, secs: f64, rec: Recorder) -> Figure {
        Figure::from_recorder(&self.target, scenario, conc, secs, rec)
    }

    async fn with_write_stats(&self, mut f: Figure, before: Option<(u64, u64, u64)>) -> Figure {
        if let (Some(b), Some(a)) = (before, self.write_stats().await) {
            f.write_jobs = Some(a.0 - b.0);
            f.commits = Some(a.1 - b.1);
            f.largest_group = Some(a.2);
        }
        f
    }

    /// Splits `devices` over `conc` workers, round robin.
    fn deal<T: Clone>(items: &[T], conc: usize, w: usize) -> Vec<T> {
        items.iter().skip(w).step_by(conc.max(1)).cloned().collect()
    }

    /// Runs `work`, untimed, over `devices` dealt to `conc` connections at once, and
    /// collects what each connection's share gave.
    async fn over_devices<T, F, Fut>(&self, devices: &[Device], conc: usize, work: F) -> Result<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(Conn, Vec<Device>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>>> + Send + 'static,
    {
        let mut handles = Vec::new();
        for w in 0..conc {
            let mine = Self::deal(devices, conc, w);
            handles.push(tokio::spawn(work(Conn::new(self.addrs[w % self.addrs.len()]), mine)));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await??);
        }
        Ok(all)
    }

    /// Guardians sign in once each (the tokens come with the roster); here they bring their
    /// replica to the head, untimed, so the measured pulls find nothing new.
    pub async fn prepare_cursors(&self, devices: &[Device]) -> Result<Vec<(String, String)>> {
        self.over_devices(devices, self.opts.concurrency, |mut conn, mine| async move {
            let mut out = Vec::new();
            for d in mine {
                let (cursor, _, _, _) = full_sync(&mut conn, &d.token, None).await?;
                out.push((d.token.clone(), cursor));
            }
            Ok(out)
        })
        .await
    }

    /// (1) Guardians' phones pulling with their cursor at the head: nothing new.
    pub async fn pull_no_change(&self, devices: Vec<(String, String)>) -> Result<Figure> {
        let n = devices.len();
        let mut f = self.pulls("pull-no-change", devices, true).await?;
        f.note = format!("{n} guardian devices, each pulling again at once with the cursor and the commit it got");
        Ok(f)
    }

    /// The poke before (1b): each pulling guardian reports its first child absent today
    /// (untimed; a family's second report merges, R-ABS-8), so that each has a change in
    /// its scope since the cursor [`Hub::prepare_cursors`] gave it.
    pub async fn poke(&self, devices: &[Device]) -> Result<()> {
        self.set_clock(stockholm(today(), 7, 0)).await?;
        let conc = self.opts.write_concurrency.min(devices.len()).max(1);
        self.over_devices(devices, conc, |mut conn, mine| async move {
            let mut rec = Recorder::default();
            for d in mine {
                let made = absence_batch(&d, 0);
                let mutations =
                    made.iter().map(|m| Envelope { id: Uuid::now_v7(), name: m.name, args: &m.args }).collect();
                let body = PushBody { client_id: Uuid::new_v4(), mutations };
                let r = conn.post_json("/v1/sync/push", Some(&d.token), &body).await?;
                if !r.status.is_success() {
                    bail!("the poke's push answered {}", r.status);
                }
                count_push(&mut rec, &r.body, false)?;
            }
            match rec.first_error {
                Some(e) => bail!("the poke's absence report was not applied: {e}"),
                None => Ok(Vec::<()>::new()),
            }
        })
        .await?;
        Ok(())
    }

    /// (1b) Guardians' phones pulling after a poke: each pulls from the cursor it had
    /// before [`Hub::poke`] and gets the change made since, so every pull goes to the
    /// store. A phone does not keep the cursor it is answered (it names the commit, as the
    /// app does), so each of its pulls reads the same change again: the pull that every
    /// write sets off on the phones and tablets it pokes, the commonest request of the
    /// morning peak (docs/benchmarks.md, "Sizing on paper"). (1c), `pull-after-poke-year`
    /// (`--scenarios poke-year`), is the same by the guardians of a school year: 29 message
    /// threads each besides their children's scopes, so a pull has about four times the
    /// scopes of (1b)'s, nearly all with nothing new. `who` names the devices in the note.
    pub async fn pull_after_poke(&self, scenario: &str, who: &str, devices: Vec<(String, String)>) -> Result<Figure> {
        let n = devices.len();
        let mut f = self.pulls(scenario, devices, false).await?;
        f.note = format!("{n} {who}, each pulling again at once from the cursor it had before an absence report of its child");
        Ok(f)
    }

    /// Pulls by `devices` (token, cursor), each worker taking its devices in turn, naming
    /// the greatest commit each has seen; with `keep_cursor` a device pulls next from the
    /// cursor it was answered, else from its first one again.
    async fn pulls(&self, scenario: &str, devices: Vec<(String, String)>, keep_cursor: bool) -> Result<Figure> {
        self.set_clock(stockholm(today(), 7, 0)).await?;
        let conc = self.opts.concurrency;
        let devices = Arc::new(devices);
        let (rec, secs) = run_workers(
            &self.addrs,
            conc,
            self.opts.warmup,
            self.opts.measure,
            |w| Self::deal(&devices, conc, w),
            move |_, mine: Vec<(String, String)>, mut conn: Conn, mut rec: Recorder| async move {
                // As the app does: each phone names the greatest commit it has seen
                // (docs/protocol.md, "Commits"; none before its first answer).
                let mut mine: Vec<(String, String, Option<u64>)> = mine.into_iter().map(|(t, c)| (t, c, None)).collect();
                let mut i = 0;
                while rec.running() && !mine.is_empty() {
                    let k = i % mine.len();
                    i += 1;
                    let started = Instant::now();
                    let body = json!({ "cursor": mine[k].1, "min_commit": mine[k].2 });
                    match conn.post_json("/v1/sync/pull", Some(&mine[k].0), &body).await {
                        Ok(r) if r.status.is_success() => match serde_json::from_slice::<PullResp>(&r.body) {
                            Ok(p) => {
                                if rec.record(started, r.server_ms) {
                                    rec.items += p.changes.len() as u64;
                                }
                                if keep_cursor {
                                    mine[k].1 = p.cursor;
                                }
                                mine[k].2 = mine[k].2.max(p.commit);
                            }
                            Err(e) => rec.error(e),
                        },
                        Ok(r) => rec.error(format!("pull answered {}", r.status)),
                        Err(e) => rec.error(e),
                    }
                }
                rec
            },
        )
        .await?;
        let mut f = self.figure(scenario, conc, secs, rec);
        f.items_label = "changes".into();
        Ok(f)
    }

    /// Pushes of one kind: `make` builds a device's next batch of mutations.
    pub(crate) async fn push_scenario(
        &self,
        scenario: &str,
        devices: Vec<Device>,
        conc: usize,
        measure: Duration,
        keep_ids: bool,
        make: fn(&Device, usize) -> Vec<Mutation>,
    ) -> Result<(Recorder, f64)> {
        if devices.is_empty() {
            bail!("{scenario}: no devices in the roster");
        }
        let devices = Arc::new(devices);
        run_workers(
            &self.addrs,
            conc,
            self.opts.warmup,
            measure,
            |w| Self::deal(&devices, conc, w),
            move |_, mine: Vec<Device>, mut conn: Conn, mut rec: Recorder| async move {
                let client_ids: Vec<Uuid> = mine.iter().map(|_| Uuid::new_v4()).collect();
                let mut i = 0;
                while rec.running() && !mine.is_empty() {
                    let k = i % mine.len();
                    let d = &mine[k];
                    let made = make(d, i / mine.len());
                    let mutations = made
                        .iter()
                        // Time-ordered ids, as the app makes them (`app_core::mutation_id`).
                        .map(|m| Envelope { id: Uuid::now_v7(), name: m.name, args: &m.args })
                        .collect();
                    i += 1;
                    let body = PushBody { client_id: client_ids[k], mutations };
                    let started = Instant::now();
                    match conn.post_json("/v1/sync/push", Some(&d.token), &body).await {
                        Ok(r) if r.status.is_success() => {
                            if rec.counts() {
                                rec.record(started, r.server_ms);
                                match count_push(&mut rec, &r.body, keep_ids) {
                                    Ok(days) => rec.items += days,
                                    Err(e) => rec.error(e),
                                }
                            } else if keep_ids {
                                // Outside the measured window still counts as acknowledged.
                                let mut scratch = Recorder::default();
                                let _ = count_push(&mut scratch, &r.body, true);
                                rec.acked.extend(scratch.acked);
                            }
                        }
                        Ok(r) => rec.error(format!("push answered {}", r.status)),
                        Err(e) => {
                            rec.error(e);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                rec
            },
        )
        .await
    }

    /// (2) The morning absence rush: guardians report a child absent today or tomorrow.
    pub async fn absence_rush(&self) -> Result<Figure> {
        self.set_clock(stockholm(today(), 7, 30)).await?;
        let before = self.write_stats().await;
        let conc = self.opts.write_concurrency;
        let devices = self.roster.guardians.clone();
        let n = devices.len();
        let (rec, secs) =
            self.push_scenario("absence-rush", devices, conc, self.opts.measure, false, absence_batch).await?;
        let mut f = self.figure("absence-rush", conc, secs, rec);
        f.note = format!("{n} guardian devices, one absence.report per push (today or tomorrow, a repeat merges)");
        Ok(self.with_write_stats(f, before).await)
    }

    /// (3) Sunday evening: guardians set next weeks' care times, repeating.
    pub async fn care_week_rush(&self) -> Result<Figure> {
        // Sunday 20:00 before the benchmark's Tuesday.
        self.set_clock(stockholm(today() - Days::days(2), 20, 0)).await?;
        let before = self.write_stats().await;
        let conc = self.opts.write_concurrency;
        let devices: Vec<Device> =
            self.roster.guardians.iter().filter(|d| d.children.iter().any(|c| c.in_care)).cloned().collect();
        let n = devices.len();
        let (rec, secs) =
            self.push_scenario("care-week-rush", devices, conc, self.opts.measure, false, care_week_batch).await?;
        let mut f = self.figure("care-week-rush", conc, secs, rec);
        f.items_label = "care days written".into();
        f.note = format!(
            "{n} guardian devices, one care.set_week per push (Mon–Fri, repeat every 1–2 weeks, count 4–8; {:.1} days written per mutation)",
            if f.applied > 0 { f.items as f64 / f.applied as f64 } else { 0.0 }
        );
        Ok(self.with_write_stats(f, before).await)
    }

    /// (4) Staff tablets sync a day of attendance: arrivals and departures of their group.
    pub async fn attendance_day(&self) -> Result<Figure> {
        self.set_clock(stockholm(today(), 17, 0)).await?;
        let before = self.write_stats().await;
        // Tablets sync now and then, not all at once: half the push concurrency.
        let conc = (self.opts.write_concurrency / 2).min(self.roster.tablets.len()).max(1);
        let devices = self.roster.tablets.clone();
        let n = devices.len();
        let per = devices.first().map(|d| d.children.len() * 2).unwrap_or(0);
        let (rec, secs) =
            self.push_scenario("attendance-day", devices, conc, self.opts.measure, false, attendance_batch).await?;
        let mut f = self.figure("attendance-day", conc, secs, rec);
        f.note = format!("{n} group tablets, {per} attendance.mark (arrived, departed) per push");
        Ok(self.with_write_stats(f, before).await)
    }

    /// (5) A guardian with two children and a school year of data signs in on a new phone:
    /// the full null-cursor pull loop, one at a time (server time) and then concurrently.
    pub async fn initial_sync(&self, conc: usize, scenario: &str) -> Result<Figure> {
        self.set_clock(stockholm(today(), 12, 0)).await?;
        let devices: Vec<Device> =
            self.roster.history_guardians.iter().map(|&i| self.roster.guardians[i].clone()).collect();
        if devices.is_empty() {
            bail!("no guardians with a school year of data");
        }
        let n = devices.len();
        let devices = Arc::new(devices);
        let pulls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let pulls2 = pulls.clone();
        let (rec, secs) = run_workers(
            &self.addrs,
            conc,
            self.opts.warmup,
            self.opts.measure,
            |w| Self::deal(&devices, conc, w),
            move |_, mine: Vec<Device>, mut conn: Conn, mut rec: Recorder| {
                let pulls = pulls2.clone();
                async move {
                    let mut i = 0;
                    while rec.running() && !mine.is_empty() {
                        let d = &mine[i % mine.len()];
                        i += 1;
                        let started = Instant::now();
                        match full_sync(&mut conn, &d.token, None).await {
                            Ok((_, changes, server_ms, p)) => {
                                if rec.record(started, Some(server_ms)) {
                                    rec.items += changes;
                                    pulls.fetch_add(u64::from(p), std::sync::atomic::Ordering::Relaxed);
                                }
                            }
                            Err(e) => rec.error(e),
                        }
                    }
                    rec
                }
            },
        )
        .await?;
        let mut f = self.figure(scenario, conc, secs, rec);
        f.items_label = "changes".into();
        let syncs = f.requests.max(1);
        f.note = format!(
            "{n} guardians (two children, a school year of data each); one row = one full sync: {:.0} changes in {:.1} pulls of ≤ {DEFAULT_LIMIT} (the server's default page), server time summed over the pulls",
            f.items as f64 / syncs as f64,
            pulls.load(std::sync::atomic::Ordering::Relaxed) as f64 / syncs as f64
        );
        Ok(f)
    }

    /// Sign-ins: argon2 by design, so a handful of them, to show what one costs.
    pub async fn login(&self) -> Result<Figure> {
        let conc = 2;
        let users: Vec<String> = self.roster.guardians.iter().take(64).map(|d| d.username.clone()).collect();
        let users = Arc::new(users);
        let (rec, secs) = run_workers(
            &self.addrs,
            conc,
            Duration::from_millis(300),
            Duration::from_secs(3),
            |w| Self::deal(&users, conc, w),
            |_, mine: Vec<String>, mut conn: Conn, mut rec: Recorder| async move {
                let mut i = 0;
                while rec.running() && !mine.is_empty() {
                    let u = &mine[i % mine.len()];
                    i += 1;
                    let started = Instant::now();
                    let body = json!({ "username": u, "password": crate::PASSWORD, "device_id": "bench" });
                    match conn.post_json("/v1/auth/login", None, &body).await {
                        Ok(r) if r.status.is_success() => {
                            rec.record(started, r.server_ms);
                        }
                        Ok(r) => rec.error(format!("login answered {}", r.status)),
                        Err(e) => rec.error(e),
                    }
                }
                rec
            },
        )
        .await?;
        let mut f = self.figure("login", conc, secs, rec);
        f.note = "argon2id (default parameters) per sign-in, by design; devices stay signed in for 90 days".into();
        Ok(f)
    }
}

/// One mutation a simulated device sends. Performance of the load generator: the push
/// bodies are written straight from these types (as the app's typed mutations are), not
/// built as `serde_json::Value` maps first, which took most of its CPU.
pub(crate) struct Mutation {
    pub name: &'static str,
    pub args: Args,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
pub(crate) enum Args {
    Absence { child_id: Uuid, date: String },
    CareWeek { child_id: Uuid, week_start: String, days: Vec<CareDay>, repeat: Repeat },
    Mark { child_id: Uuid, kind: &'static str, at: DateTime<Utc> },
}

#[derive(serde::Serialize)]
pub(crate) struct CareDay {
    weekday: u8,
    intervals: [Interval; 1],
}

#[derive(serde::Serialize)]
pub(crate) struct Interval {
    start: &'static str,
    end: &'static str,
}

#[derive(serde::Serialize)]
pub(crate) struct Repeat {
    every_weeks: usize,
    count: usize,
}

/// A push's body: `mutations` with fresh ids.
#[derive(serde::Serialize)]
pub(crate) struct PushBody<'a> {
    pub client_id: Uuid,
    pub mutations: Vec<Envelope<'a>>,
}

#[derive(serde::Serialize)]
pub(crate) struct Envelope<'a> {
    pub id: Uuid,
    pub name: &'static str,
    pub args: &'a Args,
}

pub(crate) fn absence_batch(d: &Device, round: usize) -> Vec<Mutation> {
    let c = &d.children[round % d.children.len()];
    let date = if (round / d.children.len()).is_multiple_of(2) { today() } else { today() + Days::days(1) };
    let args = Args::Absence { child_id: c.id, date: date.format("%Y-%m-%d").to_string() };
    vec![Mutation { name: "absence.report", args }]
}

fn care_week_batch(d: &Device, round: usize) -> Vec<Mutation> {
    let in_care: Vec<_> = d.children.iter().filter(|c| c.in_care).collect();
    let c = in_care[round % in_care.len()];
    // The Monday after the benchmark's Sunday, or one or two weeks later.
    let monday = today() - Days::days(1) + Days::weeks((round % 3) as i64);
    let (start, end) =
        if c.unit_kind == domain::wire::UnitKind::Preschool { ("07:30", "16:30") } else { ("13:30", "17:00") };
    let days = (1..=5).map(|weekday| CareDay { weekday, intervals: [Interval { start, end }] }).collect();
    let args = Args::CareWeek {
        child_id: c.id,
        week_start: monday.format("%Y-%m-%d").to_string(),
        days,
        repeat: Repeat { every_weeks: 1 + round % 2, count: 4 + round % 5 },
    };
    vec![Mutation { name: "care.set_week", args }]
}

fn attendance_batch(d: &Device, round: usize) -> Vec<Mutation> {
    // 07:00 and 16:00 of the benchmark's day (no clock change in between), taken once.
    let (morning, afternoon) = (stockholm(today(), 7, 0), stockholm(today(), 16, 0));
    let mut out = Vec::with_capacity(d.children.len() * 2);
    for (k, c) in d.children.iter().enumerate() {
        let m = Days::minutes(((k + round) % 45) as i64);
        let mark = |kind, at| Mutation { name: "attendance.mark", args: Args::Mark { child_id: c.id, kind, at } };
        out.push(mark("arrived", morning + m));
        out.push(mark("departed", afternoon + m));
    }
    out
}

/// The durability check: pushes under load, SIGKILL of the server mid-flight, then every
/// mutation the clients were told was applied must be in the database.
pub async fn push_until_killed(
    hub: &Hub<'_>,
    kill_after: Duration,
    procs: &mut [crate::procs::Proc],
) -> Result<(Vec<Uuid>, Option<(u64, u64, u64)>)> {
    hub.set_clock(stockholm(today(), 7, 30)).await?;
    let conc = hub.opts.write_concurrency;
    let devices = hub.roster.guardians.clone();
    let opts = hub.opts;
    let h = Hub { target: hub.target.clone(), addrs: hub.addrs.clone(), roster: hub.roster.clone(), opts };
    let load = async {
        h.push_scenario("durability", devices, conc, kill_after + Duration::from_secs(1), true, absence_batch).await
    };
    let killer = async {
        tokio::time::sleep(opts.warmup + kill_after - Duration::from_millis(200)).await;
        let stats = hub.write_stats().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Every instance at once: what any of them acknowledged must be in the database.
        for p in procs.iter_mut() {
            p.kill();
        }
        stats
    };
    let (load, stats) = tokio::join!(load, killer);
    let (rec, _) = load?;
    Ok((rec.acked, stats))
}
