//! Figures, their ratios to the reference points, and the report as markdown and JSON.

use serde::Serialize;

use crate::client::{percentile_ms, Recorder};

/// One measured job on one target.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Figure {
    /// `hub-sqlite`, `hub-postgres`, `axum-hello`, `pouchdb-server`.
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
    pub note: String,
    pub first_error: Option<String>,
}

impl Figure {
    pub fn from_recorder(target: &str, scenario: &str, concurrency: usize, seconds: f64, mut r: Recorder) -> Figure {
        r.latencies_us.sort_unstable();
        r.server_us.sort_unstable();
        let server = |p| (!r.server_us.is_empty()).then(|| percentile_ms(&r.server_us, p));
        Figure {
            target: target.into(),
            scenario: scenario.into(),
            concurrency,
            seconds,
            requests: r.requests,
            errors: r.errors,
            req_per_s: r.requests as f64 / seconds,
            applied: r.applied,
            rejected: r.rejected,
            mutations_per_s: r.applied as f64 / seconds,
            items: r.items,
            items_per_s: r.items as f64 / seconds,
            p50_ms: percentile_ms(&r.latencies_us, 50.0),
            p95_ms: percentile_ms(&r.latencies_us, 95.0),
            p99_ms: percentile_ms(&r.latencies_us, 99.0),
            server_p50_ms: server(50.0),
            server_p95_ms: server(95.0),
            server_p99_ms: server(99.0),
            server_cpu_us_per_req: r.server_cpu_s.filter(|_| r.requests > 0).map(|c| c * 1e6 / r.requests as f64),
            client_cpu_us_per_req: r.client_cpu_s.filter(|_| r.requests > 0).map(|c| c * 1e6 / r.requests as f64),
            server_threads_us_per_req: r
                .server_threads_s
                .iter()
                .filter(|(_, s)| **s > 0.0 && r.requests > 0)
                .map(|(k, s)| (k.clone(), s * 1e6 / r.requests as f64))
                .collect(),
            first_error: r.first_error,
            ..Figure::default()
        }
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

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub machine: Machine,
    pub roster: String,
    pub figures: Vec<Figure>,
    pub durability: Vec<Durability>,
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

    pub fn hello(&self) -> Option<&Figure> {
        self.find("axum-hello", "hello")
    }

    pub fn vs_hello(&self, f: &Figure) -> Option<f64> {
        let h = self.hello()?;
        (f.target != "axum-hello" && h.req_per_s > 0.0).then(|| f.req_per_s / h.req_per_s)
    }

    pub fn vs_pouch(&self, f: &Figure) -> Option<f64> {
        if !f.target.starts_with("hub-") {
            return None;
        }
        let (job, how) = pouch_equivalent(&f.scenario)?;
        let p = self.find("pouchdb-server", job)?;
        let r = match how {
            Compare::Requests => f.req_per_s / p.req_per_s,
            Compare::Writes => f.mutations_per_s / p.mutations_per_s,
            Compare::Items => f.items_per_s / p.mutations_per_s,
            Compare::Time => p.p50_ms / f.p50_ms,
        };
        r.is_finite().then_some(r)
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
                    `server` is the server's own time (Server-Timing). `vs hello` is requests per second over the axum \
                    hello-world's; `vs pouchdb` compares with pouchdb-server 4.2.0 (in memory) doing the same job \
                    (see docs/benchmarks.md).\n\n",
        );
        o.push_str("| target | scenario | conc | req/s | mutations/s | other/s | p50 ms | p95 ms | p99 ms | server p50/p99 ms | server CPU µs/req | vs hello | vs pouchdb | errors |\n");
        o.push_str("|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|\n");
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
                    "| {} | {} | {} | no request completed in the {:.0} s window | | | | | | | | | | {} err |\n",
                    f.target, f.scenario, f.concurrency, f.seconds, f.errors
                ));
                continue;
            }
            let errors =
                if f.errors + f.rejected > 0 { format!("{} err, {} rej", f.errors, f.rejected) } else { "0".into() };
            let cpu = f.server_cpu_us_per_req.map(|c| format!("{c:.0}")).unwrap_or_default();
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {cpu} | {} | {} | {} |\n",
                f.target,
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
            self.figures.iter().filter(|f| !f.note.is_empty() || f.first_error.is_some()).collect();
        if !notes.is_empty() {
            o.push_str("\nNotes per row:\n\n");
            for f in notes {
                o.push_str(&format!("- {} / {}: {}", f.target, f.scenario, f.note));
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
        for t in ["hub-sqlite", "hub-postgres"] {
            if let Some(f) = self.find(t, "pull-no-change") {
                if let Some(r) = self.vs_hello(f) {
                    out.push(format!(
                        "{t}: no-change pulls at {:.0} % of hello-world req/s (target ≥ 50 %): {}",
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
                let list = ratios.iter().map(|(s, r)| format!("{s} {r:.1}×")).collect::<Vec<_>>().join(", ");
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
