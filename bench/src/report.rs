//! Figures, their ratios to the reference points, and the report as markdown and JSON.

use serde::Serialize;

use crate::client::{percentile_ms, Recorder};

/// One measured job on one target.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Figure {
    /// `hub-sqlite`, `hub-postgres` (`hub-postgres-xN` with N instances), `axum-hello`,
    /// `pouchdb-server`.
    pub target: String,
    /// A scenario key (see `SCENARIOS` in main.rs).
    pub scenario: String,
    pub concurrency: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub req_per_s: f64,
    pub applied: u64,
    pub rejected: u64,
    /// Applied mutations (Hub) or written documents (pouchdb) per second.
    pub mutations_per_s: f64,
    /// A scenario-specific count: care days written, changes received, documents…
    pub items: u64,
    pub items_per_s: f64,
    pub items_label: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The server's own time (Server-Timing), when it says.
    pub server_p50_ms: Option<f64>,
    pub server_p95_ms: Option<f64>,
    pub server_p99_ms: Option<f64>,
    /// Group commit during the run: write jobs and the commits that made them durable.
    pub write_jobs: Option<u64>,
    pub commits: Option<u64>,
    pub largest_group: Option<u64>,
    /// CPU time per request in the measured window: the server's, and the load generator's.
    pub server_cpu_us_per_req: Option<f64>,
    pub client_cpu_us_per_req: Option<f64>,
    /// The server's CPU per request by thread (tokio workers, SQLite writer, readers…).
    pub server_threads_us_per_req: std::collections::BTreeMap<String, f64>,
    /// The database server's CPU per request (PostgreSQL's backends and background
    /// processes; none for SQLite, which runs inside the server).
    pub db_cpu_us_per_req: Option<f64>,
    /// The share of the machine's CPU time busy in the measured windows (all cores, every
    /// process), in per cent: under 100 % the job waits on something other than CPU time
    /// (one thread's turn, a round trip, a disk flush).
    pub machine_busy_pct: Option<f64>,
    /// Of it, the share the hypervisor gave to other machines (steal), in per cent.
    pub machine_steal_pct: Option<f64>,
    pub note: String,
    pub first_error: Option<String>,
    /// A reference point (pouchdb-server, the hello-world) measured in rounds alternating
    /// with a Hub target's: that target.
    pub beside: Option<String>,
    /// Each round's own figures, in the order they ran (see [`Figure::add_round`]).
    pub rounds: Vec<Round>,
    /// Every latency of every round (microseconds), for the percentiles of the whole.
    #[serde(skip)]
    latencies_us: Vec<u32>,
    #[serde(skip)]
    server_us: Vec<u32>,
}

/// One round of a scenario: what the ratios per round are made of.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Round {
    pub seconds: f64,
    pub req_per_s: f64,
    pub mutations_per_s: f64,
    pub items_per_s: f64,
    pub p50_ms: f64,
    /// The host's steal share in the round, in per cent.
    pub steal_pct: Option<f64>,
}

impl Figure {
    pub fn from_recorder(target: &str, scenario: &str, concurrency: usize, seconds: f64, r: Recorder) -> Figure {
        let mut f = Figure {
            target: target.into(),
            scenario: scenario.into(),
            concurrency,
            seconds,
            requests: r.requests,
            errors: r.errors,
            applied: r.applied,
            rejected: r.rejected,
            items: r.items,
            server_cpu_us_per_req: r.server_cpu_s.filter(|_| r.requests > 0).map(|c| c * 1e6 / r.requests as f64),
            client_cpu_us_per_req: r.client_cpu_s.filter(|_| r.requests > 0).map(|c| c * 1e6 / r.requests as f64),
            db_cpu_us_per_req: r.db_cpu_s.filter(|_| r.requests > 0).map(|c| c * 1e6 / r.requests as f64),
            machine_busy_pct: r.machine_busy.map(|b| b * 100.0),
            machine_steal_pct: r.machine_steal.map(|b| b * 100.0),
            server_threads_us_per_req: r
                .server_threads_s
                .iter()
                .filter(|(_, s)| **s > 0.0 && r.requests > 0)
                .map(|(k, s)| (k.clone(), s * 1e6 / r.requests as f64))
                .collect(),
            first_error: r.first_error,
            latencies_us: r.latencies_us,
            server_us: r.server_us,
            ..Figure::default()
        };
        f.derive();
        f.rounds.push(f.round());
        f
    }

    /// Rates and percentiles from the counts, measured time and latencies.
    fn derive(&mut self) {
        self.req_per_s = self.requests as f64 / self.seconds;
        self.mutations_per_s = self.applied as f64 / self.seconds;
        self.items_per_s = self.items as f64 / self.seconds;
        self.latencies_us.sort_unstable();
        self.server_us.sort_unstable();
        self.p50_ms = percentile_ms(&self.latencies_us, 50.0);
        self.p95_ms = percentile_ms(&self.latencies_us, 95.0);
        self.p99_ms = percentile_ms(&self.latencies_us, 99.0);
        let server = |p| (!self.server_us.is_empty()).then(|| percentile_ms(&self.server_us, p));
        (self.server_p50_ms, self.server_p95_ms, self.server_p99_ms) = (server(50.0), server(95.0), server(99.0));
    }

    /// The target as the table shows it: a reference point says which Hub target it ran beside.
    pub fn label(&self) -> String {
        match &self.beside {
            Some(b) => format!("{} (beside {b})", self.target),
            None => self.target.clone(),
        }
    }

    fn round(&self) -> Round {
        Round {
            seconds: self.seconds,
            req_per_s: self.req_per_s,
            mutations_per_s: self.mutations_per_s,
            items_per_s: self.items_per_s,
            p50_ms: self.p50_ms,
            steal_pct: self.machine_steal_pct,
        }
    }

    /// Adds the next round of the same scenario on the same target: counts, CPU and group
    /// commit summed, latencies pooled, rates over the summed measured time. Each round's
    /// own figures stay in [`Figure::rounds`].
    pub fn add_round(&mut self, next: Figure) {
        let cpu = |per_req: Option<f64>, reqs: u64| per_req.map(|c| c * reqs as f64);
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        let server_cpu = sum(cpu(self.server_cpu_us_per_req, self.requests), cpu(next.server_cpu_us_per_req, next.requests));
        let client_cpu = sum(cpu(self.client_cpu_us_per_req, self.requests), cpu(next.client_cpu_us_per_req, next.requests));
        let db_cpu = sum(cpu(self.db_cpu_us_per_req, self.requests), cpu(next.db_cpu_us_per_req, next.requests));
        // Busy and steal shares weighted by each round's time.
        let weighted = |a: Option<f64>, b: Option<f64>| {
            let timed = |v: Option<f64>, s: f64| if v.is_some() { s } else { 0.0 };
            let seconds = timed(a, self.seconds) + timed(b, next.seconds);
            sum(a.map(|v| v * self.seconds), b.map(|v| v * next.seconds)).filter(|_| seconds > 0.0).map(|v| v / seconds)
        };
        let busy = weighted(self.machine_busy_pct, next.machine_busy_pct);
        let steal = weighted(self.machine_steal_pct, next.machine_steal_pct);
        let mut threads: std::collections::BTreeMap<String, f64> =
            self.server_threads_us_per_req.iter().map(|(k, v)| (k.clone(), v * self.requests as f64)).collect();
        for (k, v) in &next.server_threads_us_per_req {
            *threads.entry(k.clone()).or_insert(0.0) += v * next.requests as f64;
        }
        self.seconds += next.seconds;
        self.requests += next.requests;
        self.errors += next.errors;
        self.applied += next.applied;
        self.rejected += next.rejected;
        self.items += next.items;
        self.latencies_us.extend(&next.latencies_us);
        self.server_us.extend(&next.server_us);
        self.derive();
        let per_req = |total: Option<f64>| total.filter(|_| self.requests > 0).map(|c| c / self.requests as f64);
        self.server_cpu_us_per_req = per_req(server_cpu);
        self.client_cpu_us_per_req = per_req(client_cpu);
        self.db_cpu_us_per_req = per_req(db_cpu);
        self.machine_busy_pct = busy;
        self.machine_steal_pct = steal;
        self.server_threads_us_per_req = threads.into_iter().map(|(k, v)| (k, v / self.requests.max(1) as f64)).collect();
        let count = |a: Option<u64>, b: Option<u64>| if a.is_none() && b.is_none() { None } else { Some(a.unwrap_or(0) + b.unwrap_or(0)) };
        self.write_jobs = count(self.write_jobs, next.write_jobs);
        self.commits = count(self.commits, next.commits);
        self.largest_group = self.largest_group.max(next.largest_group);
        if self.first_error.is_none() {
            self.first_error = next.first_error;
        }
        self.rounds.extend(next.rounds);
    }

    /// The note of the row: the scenario's own, then group commit when the server said.
    pub fn full_note(&self) -> String {
        let mut parts = Vec::new();
        if !self.note.is_empty() {
            parts.push(self.note.clone());
        }
        if let (Some(jobs), Some(commits)) = (self.write_jobs, self.commits.filter(|c| *c > 0)) {
            parts.push(format!(
                "group commit: {jobs} write jobs in {commits} commits ({:.1} per commit, largest group so far {})",
                jobs as f64 / commits as f64,
                self.largest_group.unwrap_or(0)
            ));
        }
        if self.rounds.len() > 1 {
            let secs: Vec<String> = self.rounds.iter().map(|r| format!("{:.0}", r.req_per_s)).collect();
            parts.push(format!("{} rounds of {:.1} s, req/s per round {}", self.rounds.len(), self.rounds[0].seconds, secs.join(", ")));
        }
        // Half a per cent and more: the host ran other machines in time this one wanted.
        if let Some(steal) = self.machine_steal_pct.filter(|s| *s >= 0.5) {
            let per_round: Vec<String> =
                self.rounds.iter().map(|r| r.steal_pct.map(|s| format!("{s:.0}")).unwrap_or_else(|| "–".into())).collect();
            let rounds = if per_round.len() > 1 { format!(", per round {} %", per_round.join(", ")) } else { String::new() };
            parts.push(format!("the host took {steal:.0} % of the machine's time (steal, in `busy`){rounds}"));
        }
        parts.join("; ")
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Machine {
    pub date: String,
    pub nproc: usize,
    pub cpu: String,
    pub memory: String,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Durability {
    pub target: String,
    /// Seconds of load before the server was killed with SIGKILL.
    pub killed_after_s: f64,
    /// Mutations the clients were told were applied before the kill.
    pub acknowledged: u64,
    /// Of those, found in the database after the kill.
    pub found: u64,
    pub missing: u64,
    /// Mutations in the database beyond the acknowledged ones (committed, answer lost).
    pub unacknowledged_in_db: Option<u64>,
    pub write_jobs: u64,
    pub commits: u64,
    pub largest_group: u64,
    pub note: String,
}

/// Event streams under the absence rush (`--scenarios streams`, `crate::streams`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Streams {
    pub target: String,
    /// Streams that said `ready` (of them every staff tablet's, `tablets`), and those that
    /// failed to open.
    pub streams: u64,
    pub tablets: u64,
    pub failed: u64,
    /// Seconds to open them all (the last round's), 64 connecting at a time.
    pub open_s: f64,
    /// The growth of the server's resident memory while they opened, a stream.
    pub rss_kib_per_stream: Option<f64>,
    /// Over the measured windows with the streams open: their seconds, the reports applied
    /// and the pokes the streams received; and the pokes the server counted as sent from
    /// the streams' opening to each round's end.
    pub seconds: f64,
    pub reports: u64,
    pub pokes_received: u64,
    pub pokes_sent: u64,
    /// Probes: a push sent → its poke on the probe's own stream, and → the push's answer.
    pub poke_p50_ms: Option<f64>,
    pub poke_p95_ms: Option<f64>,
    pub poke_p99_ms: Option<f64>,
    pub answer_p50_ms: Option<f64>,
    pub probed: u64,
    /// Probe reports whose poke did not come within 5 s, and probe pushes that failed.
    pub missed: u64,
    pub probe_errors: u64,
    pub first_error: Option<String>,
}

/// The morning peak held (`--scenarios soak`, `crate::soak`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Soak {
    pub target: String,
    /// Times the largest municipality's peak, for how many seconds.
    pub scale: f64,
    pub seconds: f64,
    /// Each flow over the whole run.
    pub flows: Vec<SoakFlow>,
    pub windows: Vec<SoakWindow>,
    /// What the store grew to by the end (name, figure).
    pub store: Vec<(String, String)>,
    /// Every flow's p99 stayed under `soak::KEPT_UP_P99_MS` and nothing failed.
    pub kept_up: bool,
}

/// One flow of requests of the soak, over a window or the whole run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SoakFlow {
    pub name: String,
    pub offered_per_s: f64,
    pub connections: usize,
    pub answered_per_s: f64,
    pub errors: u64,
    /// From when the request was due (not when it was sent) to its answer.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Changes a pull received, on average.
    pub changes_per_request: f64,
    pub first_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct SoakWindow {
    /// Seconds from the start to the window's end.
    pub end_s: f64,
    pub flows: Vec<SoakFlow>,
    /// Cores the server's processes and the database's used on average, and the share of
    /// the machine's CPU time that was busy.
    pub server_cores: Option<f64>,
    pub db_cores: Option<f64>,
    /// The load generator's cores (it shares the machine).
    pub client_cores: Option<f64>,
    pub busy: Option<f64>,
    /// Of `busy`, the share the hypervisor gave to other machines (steal).
    pub steal: Option<f64>,
    /// The server's resident memory (every instance's, summed) and the store's size on
    /// disk at the window's end, in MiB: what a long soak shows growing or not.
    pub server_rss_mib: Option<f64>,
    pub store_mib: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub machine: Machine,
    pub roster: String,
    pub figures: Vec<Figure>,
    pub durability: Vec<Durability>,
    pub streams: Vec<Streams>,
    pub soaks: Vec<Soak>,
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
}

/// The pouchdb-server job that does the same work as a Hub scenario, and how to compare.
pub fn pouch_equivalent(scenario: &str) -> Option<(&'static str, Compare)> {
    Some(match scenario {
        "pull-no-change" => ("changes-no-change", Compare::Requests),
        "absence-rush" => ("bulk-docs-1", Compare::Writes),
        "care-week-rush" => ("bulk-docs-week", Compare::Items),
        "attendance-day" => ("bulk-docs-batch", Compare::Writes),
        "initial-sync" => ("changes-initial", Compare::Time),
        "initial-sync-parallel" => ("changes-initial-parallel", Compare::Requests),
        _ => return None,
    })
}

/// Hub's figure over pouchdb-server's, compared `how`.
fn compare(how: Compare, hub: &Round, pouch: &Round) -> f64 {
    match how {
        Compare::Requests => hub.req_per_s / pouch.req_per_s,
        Compare::Writes => hub.mutations_per_s / pouch.mutations_per_s,
        Compare::Items => hub.items_per_s / pouch.mutations_per_s,
        Compare::Time => pouch.p50_ms / hub.p50_ms,
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Compare {
    /// requests per second
    Requests,
    /// applied mutations per second vs documents written per second
    Writes,
    /// care days written per second vs documents written per second
    Items,
    /// the reference's median time over ours (higher is better for us)
    Time,
}

impl Report {
    fn find(&self, target: &str, scenario: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.target == target && f.scenario == scenario)
    }

    /// The pouchdb-server figure of `job` that ran beside `target`, or else any of it.
    fn find_pouch(&self, job: &str, target: &str) -> Option<&Figure> {
        let of_job = |f: &&Figure| f.target == "pouchdb-server" && f.scenario == job;
        self.figures
            .iter()
            .filter(of_job)
            .find(|f| f.beside.as_deref() == Some(target))
            .or_else(|| self.figures.iter().find(of_job))
    }

    /// The hello-world figure that ran beside `target`, or else the one at the start.
    fn find_hello(&self, target: &str) -> Option<&Figure> {
        let hello = |f: &&Figure| f.target == "axum-hello" && f.scenario == "hello";
        self.figures
            .iter()
            .filter(hello)
            .find(|f| f.beside.as_deref() == Some(target))
            .or_else(|| self.figures.iter().filter(hello).find(|f| f.beside.is_none()))
    }

    pub fn vs_hello(&self, f: &Figure) -> Option<f64> {
        let h = self.find_hello(&f.target)?;
        (f.target != "axum-hello" && h.req_per_s > 0.0).then(|| f.req_per_s / h.req_per_s)
    }

    /// The ratio of each round to the hello-world round that ran right after it.
    pub fn vs_hello_rounds(&self, f: &Figure) -> Vec<f64> {
        let Some(h) = self.find_hello(&f.target).filter(|h| h.beside.as_deref() == Some(f.target.as_str())) else {
            return Vec::new();
        };
        f.rounds.iter().zip(&h.rounds).filter(|(_, b)| b.req_per_s > 0.0).map(|(a, b)| a.req_per_s / b.req_per_s).collect()
    }

    pub fn vs_pouch(&self, f: &Figure) -> Option<f64> {
        if !f.target.starts_with("hub-") {
            return None;
        }
        let (job, how) = pouch_equivalent(&f.scenario)?;
        let p = self.find_pouch(job, &f.target)?;
        let r = compare(how, &f.round(), &p.round());
        r.is_finite().then_some(r)
    }

    /// The ratio of each round to the pouchdb-server round that ran right after it.
    pub fn vs_pouch_rounds(&self, f: &Figure) -> Vec<f64> {
        if !f.target.starts_with("hub-") {
            return Vec::new();
        }
        let Some((job, how)) = pouch_equivalent(&f.scenario) else { return Vec::new() };
        let Some(p) = self.find_pouch(job, &f.target).filter(|p| p.beside.as_deref() == Some(f.target.as_str()))
        else {
            return Vec::new();
        };
        f.rounds.iter().zip(&p.rounds).map(|(a, b)| compare(how, a, b)).filter(|r| r.is_finite()).collect()
    }

    /// The section of the soak (`crate::soak`): the largest load each target kept up with,
    /// then each step's flows and windows.
    fn soak_markdown(&self) -> String {
        let mut o = String::new();
        o.push_str("\n## The morning peak held (open loop)\n\n");
        o.push_str(
            "The requests of the largest municipality's peak minute with the sizing's safety factor (docs/benchmarks.md, \
             \"Sizing on paper\"), times the scale, each sent when it is due whether or not the ones before were \
             answered; a latency counts from when the request was due, so a server that falls behind shows it here. \
             A step kept up when every flow's p99 stayed under 1 s and nothing failed. In the windows, each cell is \
             `p50 / p99 ms (answered/s)` of the requests due in that window; `bench cores` are the load \
             generator's own; `busy (steal)` is the share of the machine's CPU time in use and, of it, the share \
             the host gave to other machines (steal: no process here ran then); the server's resident memory and the \
             store's size on disk (SQLite: the database file and its WAL; PostgreSQL: the database) are read at \
             the window's end.\n",
        );
        let mut targets: Vec<&str> = self.soaks.iter().map(|s| s.target.as_str()).collect();
        targets.dedup();
        o.push('\n');
        for t in targets {
            let best = self.soaks.iter().filter(|s| s.target == t && s.kept_up).map(|s| s.scale).reduce(f64::max);
            o.push_str(&format!(
                "- {t}: {}\n",
                best.map(|b| format!("kept up with {b}× the largest municipality's peak at most")).unwrap_or_else(|| "kept up with none of the loads".into())
            ));
        }
        for s in &self.soaks {
            o.push_str(&format!(
                "\n### {} at {}× for {:.0} s: {}\n\n",
                s.target,
                s.scale,
                s.seconds,
                if s.kept_up { "kept up" } else { "fell behind" }
            ));
            o.push_str("| flow | offered/s | connections | answered/s | p50 ms | p99 ms | max ms | changes a request | errors |\n");
            o.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for f in &s.flows {
                o.push_str(&format!(
                    "| {} | {} | {} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {}{} |\n",
                    f.name,
                    fmt_num(f.offered_per_s),
                    f.connections,
                    fmt_num(f.answered_per_s),
                    f.p50_ms,
                    f.p99_ms,
                    f.max_ms,
                    f.changes_per_request,
                    f.errors,
                    f.first_error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
                ));
            }
            let names: Vec<&str> = s.flows.iter().map(|f| f.name.as_str()).collect();
            o.push_str(&format!(
                "\n| window ends | {} | server cores | db cores | bench cores | busy (steal) | server memory MiB | store MiB |\n",
                names.join(" | ")
            ));
            o.push_str(&format!("|---:|{}---:|---:|---:|---:|---:|---:|\n", "---|".repeat(names.len())));
            let cores = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
            for w in &s.windows {
                let cells: Vec<String> = w
                    .flows
                    .iter()
                    .map(|f| format!("{:.1} / {:.1} ({})", f.p50_ms, f.p99_ms, fmt_num(f.answered_per_s)))
                    .collect();
                let mib = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into());
                o.push_str(&format!(
                    "| {:.0} s | {} | {} | {} | {} | {} | {} | {} |\n",
                    w.end_s,
                    cells.join(" | "),
                    cores(w.server_cores),
                    cores(w.db_cores),
                    cores(w.client_cores),
                    match (w.busy, w.steal) {
                        (Some(b), Some(s)) => format!("{:.0} % ({:.0} %)", b * 100.0, s * 100.0),
                        (Some(b), None) => format!("{:.0} %", b * 100.0),
                        _ => "–".into(),
                    },
                    mib(w.server_rss_mib),
                    mib(w.store_mib)
                ));
            }
            if !s.store.is_empty() {
                let facts: Vec<String> = s.store.iter().map(|(k, v)| format!("{k} {v}")).collect();
                o.push_str(&format!("\nThe store at the end: {}.\n", facts.join("; ")));
            }
        }
        o
    }

    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut o = String::new();
        o.push_str(&format!("# Hub benchmark, {}\n\n", m.date));
        o.push_str(&format!(
            "Machine: {} cores ({}), {} memory, {}. Load average before: {}; after: {}.\n\n",
            m.nproc, m.cpu, m.memory, m.kernel, m.load_before, m.load_after
        ));
        o.push_str(&format!("Roster: {}\n\n", self.roster));
        o.push_str(
            "Latencies are client-observed on loopback (closed loop, one keep-alive connection per worker); \
                    `server` is the server's own time (Server-Timing). CPU is per request in the measured windows: the \
                    server process's, and PostgreSQL's processes' (`db`); `busy` is the share of the machine's CPU time \
                    in use then, by every process or by the host for other machines (steal, in a row's notes when \
                    it is half a per cent or more). `vs hello` is requests per second over the axum \
                    hello-world's; `vs pouchdb` compares with pouchdb-server 4.2.0 (in memory) doing the same job \
                    (see docs/benchmarks.md).\n\n",
        );
        o.push_str("| target | scenario | conc | req/s | mutations/s | other/s | p50 ms | p95 ms | p99 ms | server p50/p99 ms | server CPU µs/req | db CPU µs/req | busy | vs hello | vs pouchdb | errors |\n");
        o.push_str("|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n");
        for f in &self.figures {
            let other = if f.items_label.is_empty() {
                String::new()
            } else {
                format!("{} {}", fmt_num(f.items_per_s), f.items_label)
            };
            let server = match (f.server_p50_ms, f.server_p99_ms) {
                (Some(a), Some(b)) => format!("{a:.2} / {b:.2}"),
                _ => String::new(),
            };
            let muts = if f.applied > 0 { fmt_num(f.mutations_per_s) } else { String::new() };
            let ratio = |r: Option<f64>| r.map(|r| format!("{r:.2}×")).unwrap_or_default();
            if f.requests == 0 {
                o.push_str(&format!(
                    "| {} | {} | {} | no request completed in the {:.0} s window | | | | | | | | | | | | {} err |\n",
                    f.label(), f.scenario, f.concurrency, f.seconds, f.errors
                ));
                continue;
            }
            let errors =
                if f.errors + f.rejected > 0 { format!("{} err, {} rej", f.errors, f.rejected) } else { "0".into() };
            let cpu = f.server_cpu_us_per_req.map(|c| format!("{c:.0}")).unwrap_or_default();
            let db_cpu = f.db_cpu_us_per_req.map(|c| format!("{c:.0}")).unwrap_or_default();
            let busy = f.machine_busy_pct.map(|b| format!("{b:.0} %")).unwrap_or_default();
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {cpu} | {db_cpu} | {busy} | {} | {} | {} |\n",
                f.label(),
                f.scenario,
                f.concurrency,
                fmt_num(f.req_per_s),
                muts,
                other,
                f.p50_ms,
                f.p95_ms,
                f.p99_ms,
                server,
                ratio(self.vs_hello(f)),
                ratio(self.vs_pouch(f)),
                errors
            ));
        }
        let notes: Vec<&Figure> =
            self.figures.iter().filter(|f| !f.full_note().is_empty() || f.first_error.is_some()).collect();
        if !notes.is_empty() {
            o.push_str("\nNotes per row:\n\n");
            for f in notes {
                o.push_str(&format!("- {} / {}: {}", f.label(), f.scenario, f.full_note()));
                if let Some(e) = &f.first_error {
                    o.push_str(&format!(" (first error: {e})"));
                }
                o.push('\n');
            }
        }
        if !self.durability.is_empty() {
            o.push_str("\n## Durable group commit under load\n\n");
            o.push_str("| target | killed after | acknowledged | found after kill | missing | committed, unacknowledged | write jobs | commits | jobs/commit | largest group |\n");
            o.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for d in &self.durability {
                let per = if d.commits > 0 { d.write_jobs as f64 / d.commits as f64 } else { 0.0 };
                o.push_str(&format!(
                    "| {} | {:.1} s | {} | {} | {} | {} | {} | {} | {:.1} | {} |\n",
                    d.target,
                    d.killed_after_s,
                    d.acknowledged,
                    d.found,
                    d.missing,
                    d.unacknowledged_in_db.map(|n| n.to_string()).unwrap_or_else(|| "not counted".into()),
                    d.write_jobs,
                    d.commits,
                    per,
                    d.largest_group
                ));
            }
            for d in &self.durability {
                if !d.note.is_empty() {
                    o.push_str(&format!("\n{}: {}\n", d.target, d.note));
                }
            }
        }
        if !self.streams.is_empty() {
            o.push_str("\n## Event streams under the absence rush\n\n");
            o.push_str(
                "The rush's rows `absence-rush-no-streams` and `absence-rush-streams` above ran in alternating rounds. \
                 Probe guardians, whose families take no part in the rush, each push a report and wait for its poke on \
                 their own stream; `poke` is from the push sent to the poke received, `answer` to the push's answer.\n\n",
            );
            o.push_str("| target | streams (tablets) | failed | opened in | server memory a stream | pokes received/s | pokes a report | poke p50 / p95 / p99 ms | answer p50 ms | probes (missed) |\n");
            o.push_str("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n");
            for s in &self.streams {
                let ms = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into());
                let per_s = if s.seconds > 0.0 { s.pokes_received as f64 / s.seconds } else { 0.0 };
                let per_report = if s.reports > 0 { s.pokes_received as f64 / s.reports as f64 } else { 0.0 };
                o.push_str(&format!(
                    "| {} | {} ({}) | {} | {:.1} s | {} | {} | {per_report:.2} | {} / {} / {} | {} | {} ({}) |\n",
                    s.target,
                    s.streams,
                    s.tablets,
                    s.failed,
                    s.open_s,
                    s.rss_kib_per_stream.map(|k| format!("{k:.1} KiB")).unwrap_or_else(|| "–".into()),
                    fmt_num(per_s),
                    ms(s.poke_p50_ms),
                    ms(s.poke_p95_ms),
                    ms(s.poke_p99_ms),
                    ms(s.answer_p50_ms),
                    s.probed,
                    s.missed,
                ));
            }
            for s in &self.streams {
                o.push_str(&format!(
                    "\n{}: the server counted {} pokes sent from the streams' opening to the end of each round (warm-ups included); {} probe pushes failed{}\n",
                    s.target,
                    s.pokes_sent,
                    s.probe_errors,
                    s.first_error.as_ref().map(|e| format!("; first stream error: {e}")).unwrap_or_default()
                ));
            }
        }
        if !self.soaks.is_empty() {
            o.push_str(&self.soak_markdown());
        }
        o.push_str("\n## Targets\n\n");
        for line in self.targets() {
            o.push_str(&format!("- {line}\n"));
        }
        if !self.skipped.is_empty() {
            o.push_str("\n## Not measured\n\n");
            for s in &self.skipped {
                o.push_str(&format!("- {s}\n"));
            }
        }
        if !self.notes.is_empty() {
            o.push_str("\n## Notes\n\n");
            for s in &self.notes {
                o.push_str(&format!("- {s}\n"));
            }
        }
        o
    }

    /// The targets, as figures (never assertions).
    pub fn targets(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mark = |ok: bool| if ok { "met" } else { "NOT met" };
        // Every Hub target of the run, in its order (`hub-postgres-x2` with `--instances 2`).
        let mut hubs: Vec<&str> = Vec::new();
        for f in self.figures.iter().filter(|f| f.target.starts_with("hub-")) {
            if !hubs.contains(&f.target.as_str()) {
                hubs.push(&f.target);
            }
        }
        for t in hubs {
            if let Some(f) = self.find(t, "pull-no-change") {
                if let Some(r) = self.vs_hello(f) {
                    let per = self.vs_hello_rounds(f);
                    let rounds = match (per.iter().copied().reduce(f64::min), per.iter().copied().reduce(f64::max)) {
                        (Some(lo), Some(hi)) if per.len() > 1 => {
                            format!(" (rounds {:.0}–{:.0} %, each beside a hello-world round)", lo * 100.0, hi * 100.0)
                        }
                        _ => String::new(),
                    };
                    out.push(format!(
                        "{t}: no-change pulls at {:.0} % of hello-world req/s{rounds} (target ≥ 50 %): {}",
                        r * 100.0,
                        mark(r >= 0.5)
                    ));
                }
            }
            let best = self
                .figures
                .iter()
                .filter(|f| f.target == t)
                .max_by(|a, b| a.mutations_per_s.total_cmp(&b.mutations_per_s));
            if let Some(f) = best.filter(|f| f.applied > 0) {
                let goal = if t == "hub-sqlite" { " (target ≥ 20,000 on SQLite)" } else { "" };
                out.push(format!(
                    "{t}: {} applied mutations/s at best ({}){goal}{}",
                    fmt_num(f.mutations_per_s),
                    f.scenario,
                    if t == "hub-sqlite" {
                        format!(": {}", mark(f.mutations_per_s >= 20_000.0))
                    } else {
                        String::new()
                    }
                ));
            }
            let ratios: Vec<(String, f64)> = self
                .figures
                .iter()
                .filter(|f| f.target == t)
                .filter_map(|f| self.vs_pouch(f).map(|r| (f.scenario.clone(), r)))
                .collect();
            if !ratios.is_empty() {
                let list = ratios
                    .iter()
                    .map(|(s, r)| {
                        let per: Vec<f64> = self
                            .find(t, s)
                            .map(|f| self.vs_pouch_rounds(f))
                            .unwrap_or_default();
                        match (per.iter().copied().reduce(f64::min), per.iter().copied().reduce(f64::max)) {
                            (Some(lo), Some(hi)) if per.len() > 1 => format!("{s} {r:.1}× (rounds {lo:.1}–{hi:.1}×)"),
                            _ => format!("{s} {r:.1}×"),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let all = ratios.iter().all(|(_, r)| *r >= 10.0);
                out.push(format!(
                    "{t}: vs pouchdb-server {list} (target ≥ 10×): {}",
                    if all { "met" } else { "NOT met for every job" }
                ));
            }
            if let Some(f) = self.find(t, "initial-sync") {
                if let Some(s) = f.server_p50_ms {
                    out.push(format!(
                        "{t}: a guardian's initial sync takes {s:.1} ms of server time at the median, {:.1} ms at p99 (target ≤ 100 ms): {}",
                        f.server_p99_ms.unwrap_or(s),
                        mark(f.server_p99_ms.unwrap_or(s) <= 100.0)
                    ));
                }
            }
        }
        out
    }
}

pub fn fmt_num(x: f64) -> String {
    let n = x.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round: `requests` in `seconds`, each applying `per` mutations, all answered in `ms`.
    fn round(target: &str, scenario: &str, seconds: f64, requests: u64, per: u64, ms: u32) -> Figure {
        let mut r = Recorder::default();
        r.requests = requests;
        r.applied = requests * per;
        r.latencies_us = vec![ms * 1000; requests as usize];
        r.server_cpu_s = Some(requests as f64 * 100e-6);
        r.db_cpu_s = Some(requests as f64 * 300e-6);
        r.machine_busy = Some(requests as f64 / 1000.0);
        r.machine_steal = Some(requests as f64 / 7_500.0);
        Figure::from_recorder(target, scenario, 64, seconds, r)
    }

    #[test]
    fn rounds_add_up_to_one_figure_over_their_summed_time() {
        let mut f = round("hub-sqlite", "attendance-day", 3.0, 300, 40, 10);
        f.write_jobs = Some(300);
        f.commits = Some(10);
        let mut g = round("hub-sqlite", "attendance-day", 3.0, 600, 40, 30);
        g.write_jobs = Some(600);
        g.commits = Some(20);
        f.add_round(g);
        assert_eq!((f.requests, f.applied, f.seconds), (900, 36_000, 6.0));
        assert_eq!(f.req_per_s, 150.0);
        assert_eq!(f.mutations_per_s, 6_000.0);
        // Latencies pooled: two thirds of the requests took 30 ms.
        assert_eq!((f.p50_ms, f.p99_ms), (30.0, 30.0));
        assert_eq!(f.server_cpu_us_per_req.map(|c| c.round()), Some(100.0));
        assert_eq!(f.db_cpu_us_per_req.map(|c| c.round()), Some(300.0));
        // The busy share of equal rounds is their mean: 30 % and 60 %.
        assert_eq!(f.machine_busy_pct.map(|b| b.round()), Some(45.0));
        // And the steal share of them: 4 % and 8 %, in the note.
        assert_eq!(f.machine_steal_pct.map(|b| b.round()), Some(6.0));
        assert!(f.full_note().ends_with("; the host took 6 % of the machine's time (steal, in `busy`), per round 4, 8 %"), "{}", f.full_note());
        assert_eq!((f.write_jobs, f.commits), (Some(900), Some(30)));
        let per_round: Vec<f64> = f.rounds.iter().map(|r| r.req_per_s).collect();
        assert_eq!(per_round, vec![100.0, 200.0]);
        assert!(f.full_note().contains("group commit: 900 write jobs in 30 commits (30.0 per commit"));
        assert!(f.full_note().contains("2 rounds of 3.0 s, req/s per round 100, 200"));
    }

    #[test]
    fn each_round_is_compared_with_the_pouchdb_round_beside_it() {
        let mut hub = round("hub-sqlite", "attendance-day", 3.0, 300, 40, 10);
        hub.add_round(round("hub-sqlite", "attendance-day", 3.0, 600, 40, 10));
        let mut pouch = round("pouchdb-server", "bulk-docs-batch", 3.0, 30, 40, 200);
        pouch.add_round(round("pouchdb-server", "bulk-docs-batch", 3.0, 30, 40, 200));
        pouch.beside = Some("hub-sqlite".into());
        // Another target's reference is not taken when this one's is there.
        let mut other = round("pouchdb-server", "bulk-docs-batch", 3.0, 3, 40, 200);
        other.beside = Some("hub-postgres".into());
        let report = Report { figures: vec![hub.clone(), other, pouch], ..Report::default() };
        assert_eq!(report.vs_pouch(&hub), Some(15.0));
        assert_eq!(report.vs_pouch_rounds(&hub), vec![10.0, 20.0]);
        let targets = report.targets().join("\n");
        assert!(targets.contains("attendance-day 15.0× (rounds 10.0–20.0×)"), "{targets}");
    }

    #[test]
    fn no_change_pulls_are_compared_with_the_hello_world_rounds_beside_them() {
        let mut pulls = round("hub-postgres", "pull-no-change", 3.0, 150_000, 0, 1);
        pulls.add_round(round("hub-postgres", "pull-no-change", 3.0, 240_000, 0, 1));
        // The ceiling at the start of the run is not taken when rounds ran beside the pulls.
        let start = round("axum-hello", "hello", 3.0, 600_000, 0, 1);
        let mut beside = round("axum-hello", "hello", 3.0, 300_000, 0, 1);
        beside.add_round(round("axum-hello", "hello", 3.0, 300_000, 0, 1));
        beside.beside = Some("hub-postgres".into());
        let report = Report { figures: vec![start.clone(), pulls.clone(), beside], ..Report::default() };
        assert_eq!(report.vs_hello(&pulls), Some(0.65));
        assert_eq!(report.vs_hello_rounds(&pulls), vec![0.5, 0.8]);
        let targets = report.targets().join("\n");
        assert!(targets.contains("hub-postgres: no-change pulls at 65 % of hello-world req/s (rounds 50–80 %"), "{targets}");
        // Without rounds beside it, a target is compared with the ceiling at the start.
        let sqlite = round("hub-sqlite", "pull-no-change", 3.0, 480_000, 0, 1);
        let report = Report { figures: vec![start, sqlite.clone()], ..Report::default() };
        assert_eq!(report.vs_hello(&sqlite), Some(0.8));
        assert!(report.vs_hello_rounds(&sqlite).is_empty());
    }

    #[test]
    fn a_target_of_several_instances_has_its_targets_too() {
        let hub = round("hub-postgres-x2", "attendance-day", 3.0, 300, 40, 10);
        let mut pouch = round("pouchdb-server", "bulk-docs-batch", 3.0, 30, 40, 1);
        pouch.beside = Some("hub-postgres-x2".into());
        let report = Report { figures: vec![hub, pouch], ..Report::default() };
        let targets = report.targets().join("\n");
        assert!(targets.contains("hub-postgres-x2: 4,000 applied mutations/s at best (attendance-day)\n"), "{targets}");
        assert!(targets.contains("hub-postgres-x2: vs pouchdb-server attendance-day 10.0×"), "{targets}");
    }

    #[test]
    fn the_soak_names_the_largest_load_each_target_kept_up_with() {
        let flow = |p99_ms| SoakFlow { name: "pull after a poke".into(), offered_per_s: 600.0, p99_ms, ..SoakFlow::default() };
        let step = |target: &str, scale, p99_ms, kept_up| Soak {
            target: target.into(),
            scale,
            seconds: 20.0,
            flows: vec![flow(p99_ms)],
            windows: vec![SoakWindow {
                end_s: 10.0,
                flows: vec![flow(p99_ms)],
                server_cores: Some(1.5),
                db_cores: None,
                client_cores: Some(0.25),
                busy: Some(0.9),
                steal: Some(0.04),
                server_rss_mib: Some(41.6),
                store_mib: None,
            }],
            kept_up,
            ..Soak::default()
        };
        let report = Report {
            soaks: vec![
                step("hub-sqlite", 1.0, 4.0, true),
                step("hub-sqlite", 3.0, 40.0, true),
                step("hub-sqlite", 6.0, 4_000.0, false),
                step("hub-postgres", 1.0, 2_000.0, false),
            ],
            ..Report::default()
        };
        let md = report.markdown();
        assert!(md.contains("- hub-sqlite: kept up with 3× the largest municipality's peak at most"), "{md}");
        assert!(md.contains("- hub-postgres: kept up with none of the loads"), "{md}");
        assert!(md.contains("### hub-sqlite at 6× for 20 s: fell behind"), "{md}");
        assert!(md.contains("| 10 s | 0.0 / 4000.0 (0) | 1.50 | – | 0.25 | 90 % (4 %) | 42 | – |"), "{md}");
    }
}
