//! Prometheus text metrics at `/metrics`, hand-rolled: a few counters need no framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// status → (count, seconds total)
type ByStatus = BTreeMap<u16, (u64, f64)>;

#[derive(Default)]
pub struct Metrics {
    /// route → status → (count, seconds total). Nested rather than keyed by (route, status)
    /// so that counting a request allocates nothing once its route has been seen.
    requests: Mutex<BTreeMap<String, ByStatus>>,
    pub mutations_applied: AtomicU64,
    pub mutations_rejected: AtomicU64,
    pub mutations_replayed: AtomicU64,
    pub changes_sent: AtomicU64,
    /// No-change pulls answered without the store (`pull_cache`).
    pub pulls_from_memory: AtomicU64,
    /// Of those, the ones answered from the commit the instance knows, without reading the
    /// commit generation (`min_commit`, docs/protocol.md "Commits").
    pub pulls_from_known_commit: AtomicU64,
    /// Sessions looked up without the store (`session_cache`).
    pub sessions_from_memory: AtomicU64,
    pub sse_connections: AtomicI64,
    pub pokes_sent: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, route: &str, status: u16, took: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            let by_status = match m.get_mut(route) {
                Some(b) => b,
                None => m.entry(route.to_string()).or_default(),
            };
            let e = by_status.entry(status).or_insert((0, 0.0));
            e.0 += 1;
            e.1 += took.as_secs_f64();
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP hub_http_requests_total HTTP requests by route and status.");
        let _ = writeln!(out, "# TYPE hub_http_requests_total counter");
        let reqs: Vec<((String, u16), (u64, f64))> = self
            .requests
            .lock()
            .map(|m| {
                m.iter()
                    .flat_map(|(route, by)| by.iter().map(move |(status, v)| ((route.clone(), *status), *v)))
                    .collect()
            })
            .unwrap_or_default();
        for ((route, status), (n, _)) in &reqs {
            let _ = writeln!(out, "hub_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP hub_http_request_seconds_total Time spent answering, by route and status.");
        let _ = writeln!(out, "# TYPE hub_http_request_seconds_total counter");
        for ((route, status), (_, s)) in &reqs {
            let _ = writeln!(out, "hub_http_request_seconds_total{{route=\"{route}\",status=\"{status}\"}} {s}");
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let _ = writeln!(out, "# HELP hub_mutations_total Pushed mutations by outcome.\n# TYPE hub_mutations_total counter");
        let _ = writeln!(out, "hub_mutations_total{{outcome=\"applied\"}} {}", self.mutations_applied.load(Ordering::Relaxed));
        let _ = writeln!(out, "hub_mutations_total{{outcome=\"rejected\"}} {}", self.mutations_rejected.load(Ordering::Relaxed));
        let _ = writeln!(out, "hub_mutations_total{{outcome=\"replayed\"}} {}", self.mutations_replayed.load(Ordering::Relaxed));
        counter(&mut out, "hub_pull_changes_total", "Changes sent in pulls.", self.changes_sent.load(Ordering::Relaxed));
        counter(
            &mut out,
            "hub_pulls_from_memory_total",
            "No-change pulls answered without a trip to the store.",
            self.pulls_from_memory.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "hub_pulls_from_known_commit_total",
            "No-change pulls answered from memory without reading the commit generation (min_commit).",
            self.pulls_from_known_commit.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "hub_sessions_from_memory_total",
            "Session tokens looked up without a trip to the store.",
            self.sessions_from_memory.load(Ordering::Relaxed),
        );
        counter(&mut out, "hub_sse_pokes_total", "Poke events sent.", self.pokes_sent.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP hub_sse_connections Open event streams.\n# TYPE hub_sse_connections gauge\nhub_sse_connections {}",
            self.sse_connections.load(Ordering::Relaxed)
        );
        out
    }
}

/// Group commit at work: write jobs, the commits that made them durable, the largest group.
pub fn render_write_stats(w: &crate::store::WriteStats) -> String {
    format!(
        "# HELP hub_store_write_jobs_total Write jobs committed (a push is one job).\n\
         # TYPE hub_store_write_jobs_total counter\nhub_store_write_jobs_total {}\n\
         # HELP hub_store_commits_total Durable commits (group commit: one for many jobs).\n\
         # TYPE hub_store_commits_total counter\nhub_store_commits_total {}\n\
         # HELP hub_store_largest_group Most write jobs committed together.\n\
         # TYPE hub_store_largest_group gauge\nhub_store_largest_group {}\n\
         # HELP hub_store_split_groups_total Groups written on two database connections at once.\n\
         # TYPE hub_store_split_groups_total counter\nhub_store_split_groups_total {}\n",
        w.jobs, w.commits, w.largest_group, w.split_groups
    )
}
