//! The morning peak held (`--scenarios soak`): the requests of the sizing's largest
//! municipality at its peak minute, times each of `--soak-scales` in turn, sent at a fixed
//! rate for `--soak-seconds` each (open loop: a request is due at its time whether or not the ones before
//! were answered, and its latency counts from then, so a server that falls behind shows it
//! in the latencies instead of slowing the load). Reported per window of ten seconds, with
//! the CPU the server and the database took and what the database grew to: what the
//! closed-loop rounds of a few seconds do not show (autovacuum, growing indexes, a backlog).
//! For the sizing (docs/benchmarks.md, "Sizing on paper"); no target.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::json;
use sync_server::benchdata::{stockholm, Device};
use uuid::Uuid;

use crate::client::{measured_rss_kib, percentile_ms, Conn, CpuSample, CpuShares, Recorder};
use crate::hub::{absence_batch, count_push, today, Args, Envelope, Hub, Mutation, PushBody};
use crate::report::{Soak, SoakFlow, SoakWindow};

/// Seconds a window of the report covers, at the least.
pub const WINDOW_S: f64 = 10.0;

/// Seconds a window covers in a step of `seconds`: ten, or longer in a long step so that
/// its table has at most about sixty rows (a minute a row for an hour).
fn window_s(seconds: f64) -> f64 {
    ((seconds / 60.0 / WINDOW_S).ceil() * WINDOW_S).max(WINDOW_S)
}

/// What the sizing's largest municipality (Stockholm, about 8 % of the children) sends at
/// the peak with its safety factor of 3, per second (docs/benchmarks.md, "Sizing on
/// paper": 140 absence reports, 220 arrivals, 2,500 pulls after pokes and 2,050 other
/// pulls a second nationally, × 0.08 × 3).
const FLOWS: [(Kind, &str, f64); 4] = [
    (Kind::Absence, "absence report", 34.0),
    (Kind::Arrival, "arrival mark", 53.0),
    (Kind::PullAfterPoke, "pull after a poke", 600.0),
    (Kind::PullNoChange, "pull, nothing new", 492.0),
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// A guardian's phone reports a child absent today or tomorrow (a repeat merges).
    Absence,
    /// A tablet marks one child of its group arrived: in the morning a tablet pushes a mark
    /// or two at a time, not a day's forty.
    Arrival,
    /// A phone poked pulls from the cursor it had before its family's change: the pull
    /// goes to the store and finds one change.
    PullAfterPoke,
    /// A phone pulls from the cursor it was last answered, naming the greatest commit it
    /// has seen, as the app does.
    PullNoChange,
}

/// One request's fate: when it was due (seconds from the start), how long after that it
/// was answered, and whether it succeeded.
struct Sent {
    due_s: f32,
    latency_us: u32,
    ok: bool,
    /// Changes a pull received.
    changes: u32,
}

/// What one connection of a flow sends: guardians' or tablets' devices, with a pulling
/// phone's cursor and greatest commit seen.
struct Lane {
    devices: Vec<(Device, String, Option<u64>)>,
}

#[derive(Deserialize)]
struct PullResp {
    cursor: String,
    changes: Vec<IgnoredAny>,
    #[serde(default)]
    commit: Option<u64>,
}

/// Connections a flow of `rate` requests a second gets: enough that each has 20 ms per
/// request at the offered rate, so that a connection waiting for a slow answer does not
/// hold the flow back until latencies reach that.
fn connections(rate: f64) -> usize {
    ((rate / 50.0).ceil() as usize).clamp(2, 256)
}

impl Hub<'_> {
    /// The morning peak held for `seconds` at `scale` times the largest municipality's
    /// peak (see [`FLOWS`]). `db` is the store's URL, to read what it grew to.
    pub async fn soak(&self, scales: &[f64], seconds: f64, db: &str, pull_devices: usize) -> Result<Vec<Soak>> {
        let guardians = &self.roster.guardians;
        if guardians.len() < 3 || self.roster.tablets.is_empty() {
            bail!("soak: the roster has too few devices");
        }
        // Three separate sets of phones: pulled after a poke, pulled at the head, reporting.
        let n = pull_devices.min(guardians.len() / 3).max(1);
        let poked: Vec<Device> = guardians[..n].to_vec();
        let at_head: Vec<Device> = guardians[n..2 * n].to_vec();
        let reporters: Vec<Device> = guardians[2 * n..].to_vec();
        let poked_cursors = self.prepare_cursors(&poked).await.context("soak: first syncs of the poked phones")?;
        // Their family's change, made before the soak: each pull after a poke finds it.
        self.poke(&poked).await.context("soak: an absence report by each poked phone")?;
        let head_cursors = self.prepare_cursors(&at_head).await.context("soak: first syncs of the phones at the head")?;
        self.set_clock(stockholm(today(), 7, 30)).await?;
        // The cursors come back in no particular order: each goes with its device's token.
        let with_cursor = |devices: &[Device], cursors: Vec<(String, String)>| -> Vec<(Device, String, Option<u64>)> {
            let by_token: std::collections::HashMap<String, String> = cursors.into_iter().collect();
            devices.iter().filter_map(|d| by_token.get(&d.token).map(|c| (d.clone(), c.clone(), None))).collect()
        };
        let poked = with_cursor(&poked, poked_cursors);
        let at_head = with_cursor(&at_head, head_cursors);
        let reporters: Vec<_> = reporters.into_iter().map(|d| (d, String::new(), None)).collect();
        let tablets: Vec<_> = self.roster.tablets.iter().cloned().map(|d| (d, String::new(), None)).collect();
        let sets = Sets { poked, at_head, reporters, tablets };
        let mut out = Vec::new();
        for &scale in scales {
            let mut s = self.soak_step(&sets, scale, seconds, db).await?;
            s.store = store_facts(db).await;
            out.push(s);
        }
        Ok(out)
    }

    /// One step of the soak: `scale` times [`FLOWS`] for `seconds`, then until every request
    /// due in them is answered.
    async fn soak_step(&self, sets: &Sets, scale: f64, seconds: f64, db: &str) -> Result<Soak> {
        let start = Instant::now() + Duration::from_millis(200);
        let until = start + Duration::from_secs_f64(seconds);
        let mut tasks = Vec::new();
        let mut flows = Vec::new();
        for (kind, name, base) in FLOWS {
            let rate = base * scale;
            let conns = connections(rate);
            let devices = match kind {
                Kind::Absence => &sets.reporters,
                Kind::Arrival => &sets.tablets,
                Kind::PullAfterPoke => &sets.poked,
                Kind::PullNoChange => &sets.at_head,
            };
            flows.push((kind, name, rate, conns));
            for w in 0..conns {
                let lane = Lane {
                    devices: devices.iter().skip(w).step_by(conns).map(|(d, c, m)| (d.clone(), c.clone(), *m)).collect(),
                };
                let conn = Conn::new(self.addrs[w % self.addrs.len()]);
                tasks.push((flows.len() - 1, tokio::spawn(lane_loop(kind, lane, conn, w, conns, rate, start, until))));
            }
        }
        // The CPU of each window, sampled at its end with the server's memory and the
        // store's size, on a thread of its own (the size of a PostgreSQL store is a query).
        let window = window_s(seconds);
        let windows = (seconds / window).ceil().max(1.0) as usize;
        let mut sizer = StoreSize::open(db);
        let sampler = std::thread::spawn(move || {
            let sample = |sizer: &mut StoreSize| Sample {
                cpu: CpuSample::now(),
                rss_kib: measured_rss_kib(),
                store_bytes: sizer.bytes(),
            };
            std::thread::sleep(start.saturating_duration_since(Instant::now()));
            let mut samples = vec![sample(&mut sizer)];
            for k in 1..=windows {
                let end = start + Duration::from_secs_f64((k as f64 * window).min(seconds));
                std::thread::sleep(end.saturating_duration_since(Instant::now()));
                samples.push(sample(&mut sizer));
            }
            samples
        });
        let mut sent: Vec<Vec<Sent>> = (0..flows.len()).map(|_| Vec::new()).collect();
        let mut errors: Vec<Option<String>> = vec![None; flows.len()];
        for (f, t) in tasks {
            let (s, e) = t.await.context("a soak connection panicked")?;
            sent[f].extend(s);
            if errors[f].is_none() {
                errors[f] = e;
            }
        }
        let samples = tokio::task::spawn_blocking(move || sampler.join())
            .await
            .ok()
            .and_then(|joined| joined.ok())
            .context("the soak's sampler panicked")?;

        let mut out = Soak {
            target: self.target.clone(),
            scale,
            seconds,
            flows: flows
                .iter()
                .zip(&sent)
                .zip(&errors)
                .map(|((&(_, name, rate, conns), s), e)| flow_figures(name, rate, conns, s, seconds, e.clone()))
                .collect(),
            ..Soak::default()
        };
        for k in 0..windows {
            let (from, to) = (k as f64 * window, ((k + 1) as f64 * window).min(seconds));
            let in_window: Vec<SoakFlow> = flows
                .iter()
                .zip(&sent)
                .map(|(&(_, name, rate, conns), s)| {
                    let mine: Vec<&Sent> = s.iter().filter(|x| (x.due_s as f64) >= from && (x.due_s as f64) < to).collect();
                    window_figures(name, rate, conns, &mine, to - from)
                })
                .collect();
            let end = samples.get(k + 1);
            let cpu = match (samples.get(k), end) {
                (Some(a), Some(b)) => b.cpu.since(&a.cpu, to - from),
                _ => CpuShares::default(),
            };
            out.windows.push(SoakWindow {
                end_s: to,
                flows: in_window,
                server_cores: cpu.server_cores,
                db_cores: cpu.db_cores,
                client_cores: cpu.client_cores,
                busy: cpu.busy,
                steal: cpu.steal,
                server_rss_mib: end.and_then(|s| s.rss_kib).map(|k| k as f64 / 1024.0),
                store_mib: end.and_then(|s| s.store_bytes).map(|b| b as f64 / (1024.0 * 1024.0)),
            });
        }
        out.kept_up = out.flows.iter().all(|f| f.errors == 0 && f.p99_ms <= KEPT_UP_P99_MS);
        Ok(out)
    }
}

/// What the sampler reads at the end of each window (and once at the start).
struct Sample {
    cpu: CpuSample,
    rss_kib: Option<u64>,
    store_bytes: Option<u64>,
}

/// How big the store is: a SQLite database's file and its WAL, or a PostgreSQL database
/// (`pg_database_size`, on a connection of its own opened once).
enum StoreSize {
    Sqlite(String),
    Postgres(String, Option<Box<postgres::Client>>),
    Unknown,
}

impl StoreSize {
    fn open(db: &str) -> StoreSize {
        if let Some(path) = db.strip_prefix("sqlite:") {
            StoreSize::Sqlite(path.to_string())
        } else if db.starts_with("postgres") {
            // Connected on the sampler's thread: the blocking client may not run on the
            // load's runtime.
            StoreSize::Postgres(db.to_string(), None)
        } else {
            StoreSize::Unknown
        }
    }

    fn bytes(&mut self) -> Option<u64> {
        match self {
            StoreSize::Sqlite(path) => {
                let (file, wal) = sqlite_files(path);
                Some(file? + wal.unwrap_or(0))
            }
            StoreSize::Postgres(url, client) => {
                let c = match client {
                    Some(c) => c,
                    None => client.insert(Box::new(postgres::Client::connect(url, postgres::NoTls).ok()?)),
                };
                let r = c.query_one("SELECT pg_database_size(current_database())", &[]).ok()?;
                u64::try_from(r.get::<_, i64>(0)).ok()
            }
            StoreSize::Unknown => None,
        }
    }
}

/// The sizes of a SQLite database's file and of its WAL, in bytes (`None`: not there).
fn sqlite_files(path: &str) -> (Option<u64>, Option<u64>) {
    let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).ok();
    (size(path), size(&format!("{path}-wal")))
}

/// A step kept up when every flow's p99 stayed under this and nothing failed: a queue that
/// grows through the step passes it within seconds.
pub const KEPT_UP_P99_MS: f64 = 1000.0;

/// The devices of each flow, prepared once for all steps: (device, cursor, greatest commit
/// seen) of the pulling phones; the pushing devices' cursors are unused.
struct Sets {
    poked: Vec<(Device, String, Option<u64>)>,
    at_head: Vec<(Device, String, Option<u64>)>,
    reporters: Vec<(Device, String, Option<u64>)>,
    tablets: Vec<(Device, String, Option<u64>)>,
}

/// One connection of a flow: sends the requests due at `start + (w + k·conns) / rate`, for
/// every k until `until`, each by the lane's next device. Returns what it sent and the
/// first error it met.
#[allow(clippy::too_many_arguments)]
async fn lane_loop(
    kind: Kind,
    mut lane: Lane,
    mut conn: Conn,
    w: usize,
    conns: usize,
    rate: f64,
    start: Instant,
    until: Instant,
) -> (Vec<Sent>, Option<String>) {
    let mut out = Vec::new();
    let mut first_error = None;
    if lane.devices.is_empty() {
        return (out, first_error);
    }
    let client_id = Uuid::new_v4();
    let mut k = 0usize;
    loop {
        let slot = w + k * conns;
        let due = start + Duration::from_secs_f64(slot as f64 / rate);
        if due >= until {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let i = k % lane.devices.len();
        let round = k / lane.devices.len();
        k += 1;
        let result = match kind {
            Kind::Absence => {
                push(&mut conn, client_id, &lane.devices[i].0, absence_batch(&lane.devices[i].0, round)).await.map(|()| 0)
            }
            Kind::Arrival => push(&mut conn, client_id, &lane.devices[i].0, arrival(&lane.devices[i].0, round)).await.map(|()| 0),
            Kind::PullAfterPoke | Kind::PullNoChange => {
                let (d, cursor, commit) = &mut lane.devices[i];
                pull(&mut conn, d, cursor, commit, kind == Kind::PullNoChange).await
            }
        };
        let latency = due.elapsed();
        if let Err(e) = &result {
            first_error.get_or_insert_with(|| e.to_string());
        }
        out.push(Sent {
            due_s: due.duration_since(start).as_secs_f32(),
            latency_us: latency.as_micros().min(u32::MAX as u128) as u32,
            ok: result.is_ok(),
            changes: result.unwrap_or(0),
        });
    }
    (out, first_error)
}

/// A tablet marks one child of its group arrived, a minute later each round.
fn arrival(d: &Device, round: usize) -> Vec<Mutation> {
    let c = &d.children[round % d.children.len()];
    let minute = (round / d.children.len()) % 30;
    let at = stockholm(today(), 7, 0) + chrono::Duration::minutes(minute as i64);
    vec![Mutation { name: "attendance.mark", args: Args::Mark { child_id: c.id, kind: "arrived", at } }]
}

async fn push(conn: &mut Conn, client_id: Uuid, d: &Device, made: Vec<Mutation>) -> Result<()> {
    let mutations = made.iter().map(|m| Envelope { id: Uuid::now_v7(), name: m.name, args: &m.args }).collect();
    let r = conn.post_json("/v1/sync/push", Some(&d.token), &PushBody { client_id, mutations }).await?;
    if !r.status.is_success() {
        bail!("push answered {}", r.status);
    }
    let mut rec = Recorder::default();
    count_push(&mut rec, &r.body, false)?;
    match rec.first_error {
        Some(e) => bail!("{e}"),
        None => Ok(()),
    }
}

async fn pull(conn: &mut Conn, d: &Device, cursor: &mut String, commit: &mut Option<u64>, keep: bool) -> Result<u32> {
    let body = json!({ "cursor": cursor, "min_commit": commit });
    let r = conn.post_json("/v1/sync/pull", Some(&d.token), &body).await?;
    if !r.status.is_success() {
        bail!("pull answered {}", r.status);
    }
    let p: PullResp = serde_json::from_slice(&r.body).context("pull answer")?;
    if keep {
        *cursor = p.cursor;
    }
    *commit = (*commit).max(p.commit);
    Ok(p.changes.len() as u32)
}

fn window_figures(name: &str, rate: f64, conns: usize, sent: &[&Sent], secs: f64) -> SoakFlow {
    let mut lat: Vec<u32> = sent.iter().filter(|s| s.ok).map(|s| s.latency_us).collect();
    lat.sort_unstable();
    SoakFlow {
        name: name.to_string(),
        offered_per_s: rate,
        connections: conns,
        answered_per_s: lat.len() as f64 / secs.max(1e-9),
        errors: sent.iter().filter(|s| !s.ok).count() as u64,
        p50_ms: percentile_ms(&lat, 50.0),
        p99_ms: percentile_ms(&lat, 99.0),
        max_ms: lat.last().map_or(0.0, |&us| us as f64 / 1000.0),
        changes_per_request: sent.iter().map(|s| s.changes as f64).sum::<f64>() / (sent.len().max(1) as f64),
        first_error: None,
    }
}

fn flow_figures(name: &str, rate: f64, conns: usize, sent: &[Sent], secs: f64, first_error: Option<String>) -> SoakFlow {
    let all: Vec<&Sent> = sent.iter().collect();
    SoakFlow { first_error, ..window_figures(name, rate, conns, &all, secs) }
}

/// What the store grew to by the end: the database's size, and on PostgreSQL the busiest
/// tables' and index's sizes, dead rows and autovacuum passes.
async fn store_facts(db: &str) -> Vec<(String, String)> {
    let db = db.to_string();
    tokio::task::spawn_blocking(move || {
        let mut facts = Vec::new();
        if let Some(path) = db.strip_prefix("sqlite:") {
            let (file, wal) = sqlite_files(path);
            facts.push(("database file".into(), mib(file.unwrap_or(0))));
            facts.push(("its WAL".into(), mib(wal.unwrap_or(0))));
            return facts;
        }
        let Ok(mut c) = postgres::Client::connect(&db, postgres::NoTls) else { return facts };
        let q = "SELECT c.relname, pg_total_relation_size(c.oid), coalesce(s.n_dead_tup, 0), coalesce(s.autovacuum_count, 0)
                 FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
                 WHERE c.relname IN ('entities', 'entities_scope_seq', 'mutations') ORDER BY c.relname";
        if let Ok(rows) = c.query(q, &[]) {
            for r in rows {
                let (name, size, dead, av): (String, i64, i64, i64) = (r.get(0), r.get(1), r.get(2), r.get(3));
                let what = if name.ends_with("_seq") {
                    mib(size as u64)
                } else {
                    format!("{} with its indexes, {dead} dead rows, {av} autovacuum passes", mib(size as u64))
                };
                facts.push((name, what));
            }
        }
        if let Ok(r) = c.query_one("SELECT pg_database_size(current_database())", &[]) {
            facts.push(("database".into(), mib(r.get::<_, i64>(0) as u64)));
        }
        facts
    })
    .await
    .unwrap_or_default()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_connection_of_a_flow_has_twenty_milliseconds_a_request_at_the_offered_rate() {
        assert_eq!(connections(34.0), 2);
        assert_eq!(connections(600.0), 12);
        assert_eq!(connections(6000.0), 120);
        assert_eq!(connections(1e9), 256);
    }

    #[test]
    fn a_window_counts_only_answered_requests_in_its_latencies_and_rate() {
        let sent = [
            Sent { due_s: 0.1, latency_us: 1_000, ok: true, changes: 1 },
            Sent { due_s: 0.2, latency_us: 3_000, ok: true, changes: 2 },
            Sent { due_s: 0.3, latency_us: 900_000, ok: false, changes: 0 },
        ];
        let refs: Vec<&Sent> = sent.iter().collect();
        let f = window_figures("x", 3.0, 2, &refs, 1.0);
        assert_eq!(f.errors, 1);
        assert_eq!(f.answered_per_s, 2.0);
        assert_eq!(f.max_ms, 3.0, "a failed request's time is not a latency");
    }

    #[test]
    fn a_long_step_is_reported_in_longer_windows_of_at_most_about_sixty_rows() {
        assert_eq!(window_s(20.0), 10.0);
        assert_eq!(window_s(600.0), 10.0);
        assert_eq!(window_s(1200.0), 20.0);
        assert_eq!(window_s(3600.0), 60.0);
        assert_eq!(window_s(3601.0), 70.0);
        assert!(3600.0 / window_s(3600.0) <= 60.0);
    }

    #[test]
    fn a_sqlite_store_is_as_big_as_its_file_and_its_wal() {
        let dir = std::env::temp_dir().join(format!("hub-bench-size-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hub.db");
        let mut size = StoreSize::open(&format!("sqlite:{}", path.display()));
        assert_eq!(size.bytes(), None, "no database file yet");
        std::fs::write(&path, [0u8; 4096]).unwrap();
        assert_eq!(size.bytes(), Some(4096));
        std::fs::write(dir.join("hub.db-wal"), [0u8; 1000]).unwrap();
        assert_eq!(size.bytes(), Some(5096));
        assert!(matches!(StoreSize::open("memory"), StoreSize::Unknown));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_largest_municipality_sends_about_90_mutations_and_1100_pulls_a_second() {
        let rate = |k: &[Kind]| FLOWS.iter().filter(|f| k.contains(&f.0)).map(|f| f.2).sum::<f64>();
        assert_eq!(rate(&[Kind::Absence, Kind::Arrival]), 87.0);
        assert_eq!(rate(&[Kind::PullAfterPoke, Kind::PullNoChange]), 1092.0);
    }
}
