//! Event streams under load (`--scenarios streams`): thousands of open `GET /v1/sync/events`
//! streams, every staff tablet's and many guardians' phones', while guardians report
//! absences. What the open streams cost (the rush's rate and the server's CPU a report,
//! in rounds without and with them, and the server's memory a stream) and how soon a poke
//! reaches a phone: probe guardians, whose families take no part in the rush, push a report
//! and time the poke it causes on their own stream. For the sizing (docs/benchmarks.md,
//! "Sizing on paper"); no target.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Request};
use hyper_util::rt::TokioIo;
use sync_server::benchdata::{stockholm, Device};
use tokio::sync::{mpsc, watch, Semaphore};
use uuid::Uuid;

use crate::client::{percentile_ms, rss_kib, Conn, Recorder};
use crate::hub::{absence_batch, count_push, today, Envelope, Hub, PushBody};
use crate::report::{Figure, Streams};

/// Probe guardians (one of a family each; their families push nothing else).
const PROBES: usize = 16;
/// A probe's pause between its reports, so that the probes add little to the rush.
const PROBE_PAUSE: Duration = Duration::from_millis(50);
/// How long a probe waits for its poke before it counts it as missed.
const POKE_WAIT: Duration = Duration::from_secs(5);
/// Streams connecting at once while they are opened.
const OPENING: usize = 64;

#[derive(Default)]
struct Counters {
    ready: AtomicU64,
    failed: AtomicU64,
    pokes: AtomicU64,
}

/// The open streams of a round; closed when dropped.
struct OpenStreams {
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    first_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl OpenStreams {
    async fn close(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// What an event stream's line says: `ready`, `poke`, or nothing that counts.
fn event_of(line: &[u8]) -> Option<&[u8]> {
    let name = line.strip_prefix(b"event:")?;
    Some(name.strip_prefix(b" ").unwrap_or(name))
}

/// One device's stream: it connects, asks for its events and counts them until told to
/// stop. A probe's stream also sends the instant each poke arrived.
async fn one_stream(
    addr: SocketAddr,
    token: String,
    counters: Arc<Counters>,
    opening: Arc<Semaphore>,
    probe: Option<mpsc::UnboundedSender<Instant>>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let permit = opening.acquire_owned().await?;
    let tcp = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    tcp.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(tcp)).await?;
    let conn = tokio::spawn(conn);
    let req = Request::get("/v1/sync/events")
        .header(header::HOST, addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))?;
    let res = sender.send_request(req).await?;
    if !res.status().is_success() {
        bail!("the event stream answered {}", res.status());
    }
    let mut body = res.into_body();
    let mut permit = Some(permit);
    let mut line = Vec::with_capacity(32);
    let result = loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            _ = stop.changed() => break Ok(()),
        };
        let frame = match frame {
            Some(Ok(f)) => f,
            Some(Err(e)) => break Err(e.into()),
            None => break Err(anyhow::anyhow!("the server ended the stream")),
        };
        let Some(data) = frame.data_ref() else { continue };
        for &b in data.iter() {
            if b != b'\n' {
                // Only the short `event:` lines are read; data lines are cut short.
                if line.len() < 32 {
                    line.push(b);
                }
                continue;
            }
            match event_of(&line) {
                Some(b"ready") => {
                    counters.ready.fetch_add(1, Ordering::Relaxed);
                    permit = None;
                }
                Some(b"poke") => {
                    counters.pokes.fetch_add(1, Ordering::Relaxed);
                    if let Some(p) = &probe {
                        let _ = p.send(Instant::now());
                    }
                }
                _ => {}
            }
            line.clear();
        }
    };
    drop(permit);
    conn.abort();
    result
}

/// Opens a stream for each device (`probes` get their pokes' instants) and waits until
/// every one has said `ready` or failed.
async fn open(
    addrs: &[SocketAddr],
    devices: &[Device],
    probes: Vec<(String, mpsc::UnboundedSender<Instant>)>,
) -> Result<OpenStreams> {
    let counters = Arc::new(Counters::default());
    let (stop, stop_rx) = watch::channel(false);
    let opening = Arc::new(Semaphore::new(OPENING));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let all: Vec<(String, Option<mpsc::UnboundedSender<Instant>>)> = devices
        .iter()
        .map(|d| (d.token.clone(), None))
        .chain(probes.into_iter().map(|(t, tx)| (t, Some(tx))))
        .collect();
    let n = all.len() as u64;
    let mut tasks = Vec::with_capacity(all.len());
    for (i, (token, probe)) in all.into_iter().enumerate() {
        let (c, o, s, e) = (counters.clone(), opening.clone(), stop_rx.clone(), first_error.clone());
        let addr = addrs[i % addrs.len()];
        tasks.push(tokio::spawn(async move {
            if let Err(err) = one_stream(addr, token, c.clone(), o, probe, s).await {
                c.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = e.lock() {
                    first.get_or_insert_with(|| format!("{err:#}"));
                }
            }
        }));
    }
    let streams = OpenStreams { counters, stop, tasks, first_error };
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let c = &streams.counters;
        let (ready, failed) = (c.ready.load(Ordering::Relaxed), c.failed.load(Ordering::Relaxed));
        if ready + failed >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {ready} of {n} event streams were ready after 180 s ({failed} failed)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(streams)
}

/// What the probes saw in the measured window.
#[derive(Default)]
struct ProbeRec {
    /// Push sent → its poke on the probe's own stream.
    poke_us: Vec<u32>,
    /// Push sent → its answer.
    answer_us: Vec<u32>,
    missed: u64,
    errors: u64,
}

/// A probe guardian reports its children absent, in turn, for `until`; with a stream it
/// waits for each report's poke.
async fn probe(
    addr: SocketAddr,
    device: Device,
    mut pokes: Option<mpsc::UnboundedReceiver<Instant>>,
    from: Instant,
    until: Instant,
) -> ProbeRec {
    let mut rec = ProbeRec::default();
    let mut conn = Conn::new(addr);
    let client_id = Uuid::new_v4();
    let mut round = 0;
    while Instant::now() < until {
        if let Some(p) = pokes.as_mut() {
            while p.try_recv().is_ok() {}
        }
        let made = absence_batch(&device, round);
        round += 1;
        let mutations = made.iter().map(|m| Envelope { id: Uuid::now_v7(), name: m.name, args: &m.args }).collect();
        let body = PushBody { client_id, mutations };
        let sent = Instant::now();
        let applied = match conn.post_json("/v1/sync/push", Some(&device.token), &body).await {
            Ok(r) if r.status.is_success() => {
                let mut scratch = Recorder::default();
                count_push(&mut scratch, &r.body, false).is_ok() && scratch.applied == 1
            }
            _ => false,
        };
        let answered = Instant::now();
        let counts = answered >= from && answered <= until;
        if !applied {
            if counts {
                rec.errors += 1;
            }
            tokio::time::sleep(PROBE_PAUSE).await;
            continue;
        }
        if counts {
            rec.answer_us.push(micros(answered - sent));
        }
        if let Some(p) = pokes.as_mut() {
            match tokio::time::timeout(POKE_WAIT, p.recv()).await {
                Ok(Some(at)) if counts => rec.poke_us.push(micros(at.saturating_duration_since(sent))),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    if counts {
                        rec.missed += 1;
                    }
                }
            }
        }
        tokio::time::sleep(PROBE_PAUSE).await;
    }
    rec
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

impl Hub<'_> {
    /// The absence rush in rounds without and with `n` open event streams (every tablet's,
    /// then guardians'), with probes timing their pokes. Returns the rush's figures
    /// without and with the streams, and what the streams did.
    pub async fn streams(&self, pids: &[u32], n: usize) -> Result<(Figure, Figure, Streams)> {
        self.set_clock(stockholm(today(), 7, 30)).await?;
        let guardians = &self.roster.guardians;
        // Probes: the last families' first guardians; neither guardian of theirs rushes.
        let mut probes: Vec<Device> = Vec::new();
        let mut probe_children: HashSet<Uuid> = HashSet::new();
        for d in guardians.iter().rev() {
            if probes.len() == PROBES {
                break;
            }
            if d.children.iter().any(|c| probe_children.contains(&c.id)) {
                continue;
            }
            probe_children.extend(d.children.iter().map(|c| c.id));
            probes.push(d.clone());
        }
        let others: Vec<Device> =
            guardians.iter().filter(|d| !d.children.iter().any(|c| probe_children.contains(&c.id))).cloned().collect();
        let streamed: Vec<Device> = self
            .roster
            .tablets
            .iter()
            .chain(others.iter())
            .take(n.saturating_sub(probes.len()))
            .cloned()
            .collect();
        let tablets = self.roster.tablets.len().min(streamed.len());

        let conc = self.opts.write_concurrency;
        let (mut without, mut with): (Option<Figure>, Option<Figure>) = (None, None);
        let mut probes_all = ProbeRec::default();
        let mut out = Streams { target: self.target.clone(), tablets: tablets as u64, ..Streams::default() };
        let mut sent_before = 0;
        for _ in 0..self.opts.rounds.max(1) {
            for streams_open in [false, true] {
                crate::client::measure_cpu_of_all(pids);
                let mut open_streams = None;
                let mut receivers = Vec::new();
                if streams_open {
                    let rss0 = rss_kib(pids);
                    let mut probe_tx = Vec::new();
                    for p in &probes {
                        let (tx, rx) = mpsc::unbounded_channel();
                        probe_tx.push((p.token.clone(), tx));
                        receivers.push(Some(rx));
                    }
                    let t = Instant::now();
                    let s = open(&self.addrs, &streamed, probe_tx).await?;
                    out.open_s = t.elapsed().as_secs_f64();
                    out.streams = s.counters.ready.load(Ordering::Relaxed);
                    out.failed = s.counters.failed.load(Ordering::Relaxed);
                    if let Ok(e) = s.first_error.lock() {
                        out.first_error = out.first_error.take().or_else(|| e.clone());
                    }
                    if let (Some(a), Some(b)) = (rss0, rss_kib(pids)) {
                        if out.streams > 0 {
                            out.rss_kib_per_stream = Some((b.saturating_sub(a)) as f64 / out.streams as f64);
                        }
                    }
                    sent_before = self.pokes_sent().await.unwrap_or(0);
                    open_streams = Some(s);
                } else {
                    receivers.extend(probes.iter().map(|_| None));
                }
                let from = Instant::now() + self.opts.warmup;
                let until = from + self.opts.measure;
                let counted = open_streams.as_ref().map(|s| s.counters.clone());
                let window = async {
                    tokio::time::sleep_until(from.into()).await;
                    let a = counted.as_ref().map(|c| c.pokes.load(Ordering::Relaxed));
                    tokio::time::sleep_until(until.into()).await;
                    let b = counted.as_ref().map(|c| c.pokes.load(Ordering::Relaxed));
                    a.zip(b).map(|(a, b)| b - a)
                };
                let probing = async {
                    let mut hs = Vec::new();
                    for (i, (p, rx)) in probes.iter().zip(receivers).enumerate() {
                        let addr = self.addrs[i % self.addrs.len()];
                        hs.push(tokio::spawn(probe(addr, p.clone(), rx, from, until)));
                    }
                    let mut all = ProbeRec::default();
                    for h in hs {
                        if let Ok(r) = h.await {
                            all.poke_us.extend(r.poke_us);
                            all.answer_us.extend(r.answer_us);
                            all.missed += r.missed;
                            all.errors += r.errors;
                        }
                    }
                    all
                };
                let rush = self.push_scenario("absence-rush", others.clone(), conc, self.opts.measure, false, absence_batch);
                let (rush, pokes, probed) = tokio::join!(rush, window, probing);
                let (rec, secs) = rush?;
                let scenario = if streams_open { "absence-rush-streams" } else { "absence-rush-no-streams" };
                let f = self.figure(scenario, conc, secs, rec);
                if let Some(s) = open_streams {
                    out.pokes_received += pokes.unwrap_or(0);
                    out.seconds += secs;
                    if let Some(sent) = self.pokes_sent().await {
                        out.pokes_sent += sent.saturating_sub(sent_before);
                    }
                    out.reports += f.applied;
                    probes_all.poke_us.extend(probed.poke_us);
                    probes_all.answer_us.extend(probed.answer_us);
                    probes_all.missed += probed.missed;
                    probes_all.errors += probed.errors;
                    s.close().await;
                    crate::add_round(&mut with, f);
                } else {
                    crate::add_round(&mut without, f);
                }
            }
        }
        probes_all.poke_us.sort_unstable();
        probes_all.answer_us.sort_unstable();
        let pct = |v: &[u32], p| (!v.is_empty()).then(|| percentile_ms(v, p));
        out.poke_p50_ms = pct(&probes_all.poke_us, 50.0);
        out.poke_p95_ms = pct(&probes_all.poke_us, 95.0);
        out.poke_p99_ms = pct(&probes_all.poke_us, 99.0);
        out.answer_p50_ms = pct(&probes_all.answer_us, 50.0);
        out.probed = probes_all.poke_us.len() as u64;
        out.missed = probes_all.missed;
        out.probe_errors = probes_all.errors;
        let note = |f: &mut Figure, what: &str| {
            f.note = format!(
                "{} guardian devices (not the {} probe families), one absence.report per push, {what}",
                others.len(),
                probes.len()
            );
        };
        let (Some(mut without), Some(mut with)) = (without, with) else { bail!("no round of the streams scenario ran") };
        note(&mut without, "no event stream open");
        note(&mut with, &format!("{} event streams open ({tablets} tablets' and guardians' phones')", out.streams));
        Ok((without, with, out))
    }

    /// Poke events sent so far (`hub_sse_pokes_total`), summed over the instances.
    async fn pokes_sent(&self) -> Option<u64> {
        let mut sum = 0;
        for addr in &self.addrs {
            let mut c = Conn::new(*addr);
            let r = c.send(hyper::Method::GET, "/metrics", None, None).await.ok()?;
            let text = String::from_utf8_lossy(&r.body).to_string();
            sum += text
                .lines()
                .find(|l| l.starts_with("hub_sse_pokes_total "))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())?;
        }
        Some(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_line_names_its_event_with_or_without_the_space() {
        assert_eq!(event_of(b"event: poke"), Some(&b"poke"[..]));
        assert_eq!(event_of(b"event:ready"), Some(&b"ready"[..]));
        assert_eq!(event_of(b"data: {}"), None);
        assert_eq!(event_of(b""), None);
    }
}
