//! The commit generation and the pokes across instances (see the store's module docs):
//! each write transaction's NOTIFY, the listener that hears every instance's, the commit
//! this instance knows of ([`KnownCommit`]) and the task that reads the generation.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use postgres::{Client, NoTls};
use tokio::sync::{broadcast, oneshot};

use crate::store::scope_heads::ScopeHeads;
use crate::store::{StoreResult, TouchedScopes, POKE_EVERYONE};

use super::{corrupt, describe, Conn};

/// The NOTIFY channel of commits and their pokes.
const CHANNEL: &str = "hub_pokes";
/// NOTIFY payloads must stay below 8000 bytes.
const MAX_PAYLOAD: usize = 7900;
/// How often an idle listener looks whether its store was dropped.
const LISTEN_TICK: Duration = Duration::from_millis(250);

/// The latest commit generation this instance knows to be committed: noted by its writer
/// after each commit, by the listener for every instance's commit (before it forwards the
/// commit's pokes) and by each read of the generation. Every commit up to it is visible to
/// any snapshot begun after it was noted. Known only while the listener is up (see the
/// module's "Pokes across instances").
///
/// The listener reads the generation itself whenever nothing was announced for a
/// [`LISTEN_TICK`]; if it has not heard from the database for [`KNOWN_FOR`] (a connection
/// that hangs without failing), nothing is known either.
pub(crate) struct KnownCommit {
    pub(super) generation: AtomicU64,
    listening: AtomicBool,
    /// When the listener last heard from the database, in ms after `since`.
    heard_ms: AtomicU64,
    since: std::time::Instant,
}

/// How long what the listener last heard stays good for (see [`KnownCommit`]).
const KNOWN_FOR: Duration = Duration::from_secs(2);

impl Default for KnownCommit {
    fn default() -> Self {
        KnownCommit {
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            heard_ms: AtomicU64::new(0),
            since: std::time::Instant::now(),
        }
    }
}

impl KnownCommit {
    pub(super) fn note(&self, generation: u64) {
        self.generation.fetch_max(generation, Ordering::SeqCst);
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The listener heard from the database (a notification or its own read).
    fn heard(&self) {
        self.heard_ms.store(self.elapsed_ms(), Ordering::SeqCst);
    }

    pub(super) fn get(&self) -> Option<u64> {
        let fresh = self.elapsed_ms().saturating_sub(self.heard_ms.load(Ordering::SeqCst)) < KNOWN_FOR.as_millis() as u64;
        (self.listening.load(Ordering::SeqCst) && fresh).then(|| self.generation.load(Ordering::SeqCst))
    }
}

/// A commit as its transaction announced it: its generation, and the sequence numbers it
/// took (those after the first up to the second).
#[derive(Debug, Clone, Copy)]
pub(super) struct Announced {
    pub(super) generation: u64,
    pub(super) seqs: (i64, i64),
}

/// Moves the commit generation and announces it with the sequence numbers the transaction
/// took and the scopes it `touched` to every instance, delivered by PostgreSQL at commit
/// (see [`Commit::parse`]). `start` is the counter as the transaction found it, when it took
/// any number; the last is read in the statement.
pub(super) fn notify_commit(conn: &mut Conn, touched: &TouchedScopes, start: Option<i64>) -> StoreResult<Announced> {
    // Always with the scopes, `[]` for none: an instance of an earlier version reads a
    // payload without them as a poke for everyone (and this one's generation as none).
    let scopes = format!(" {}", poke_payload(touched));
    let row = conn.query_one(
        "WITH g AS (UPDATE meta SET value = value + 1 WHERE key = 'generation' RETURNING value),
              s AS (SELECT value FROM meta WHERE key = 'seq')
         SELECT g.value, coalesce($3::int8, s.value), s.value,
             pg_notify($1, g.value::text || ':' || coalesce($3::int8, s.value)::text || ':' || s.value::text || $2)
         FROM g, s",
        &[&CHANNEL, &scopes, &start],
    )?;
    let g: i64 = row.try_get(0).map_err(corrupt)?;
    Ok(Announced { generation: g as u64, seqs: (row.try_get(1).map_err(corrupt)?, row.try_get(2).map_err(corrupt)?) })
}

/// A commit as announced: `<generation>:<start>:<end> ["scope", …]`. It took the sequence
/// numbers after `start` up to `end` (none when they are equal), all in those scopes. An
/// instance of an earlier version sends `<generation>` and the scopes it touched, if any
/// (or the scopes alone), without its numbers (and reads this one's generation as none).
/// One that cannot be read pokes everyone.
#[derive(Debug, PartialEq, Eq)]
struct Commit {
    generation: Option<u64>,
    seqs: Option<(i64, i64)>,
    scopes: TouchedScopes,
}

impl Commit {
    fn parse(payload: &str) -> Commit {
        let everyone = || BTreeSet::from([POKE_EVERYONE.to_string()]);
        let (head, scopes) = match payload.split_once(' ') {
            Some((g, rest)) if !g.starts_with('[') => (Some(g), Some(rest)),
            _ if payload.starts_with('[') => (None, Some(payload)),
            _ => (Some(payload), None),
        };
        let mut parts = head.unwrap_or_default().split(':');
        let generation = parts.next().and_then(|g| g.parse::<u64>().ok());
        let seqs = match (parts.next().map(str::parse::<i64>), parts.next().map(str::parse::<i64>), parts.next()) {
            (Some(Ok(start)), Some(Ok(end)), None) if start <= end => Some((start, end)),
            _ => None,
        };
        let scopes = match scopes {
            None if generation.is_some() => BTreeSet::new(),
            None => everyone(),
            Some(s) => serde_json::from_str::<TouchedScopes>(s).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "unreadable poke; poking everyone");
                everyone()
            }),
        };
        Commit { generation, seqs, scopes }
    }

    /// What it tells of the scopes written where: a pull reads every scope while a commit
    /// it may see is not recorded.
    fn record(&self, heads: &ScopeHeads) {
        match self.seqs {
            Some((_, end)) if self.scopes.contains(POKE_EVERYONE) => heads.record_unknown_scopes(end),
            Some((start, end)) => heads.record_committed(start, end, &self.scopes),
            None => heads.forget(),
        }
    }
}

/// The JSON array of touched scopes, or `["*"]` when that would not fit in a NOTIFY.
fn poke_payload(touched: &TouchedScopes) -> String {
    let payload = serde_json::to_string(touched).unwrap_or_default();
    if payload.is_empty() || payload.len() > MAX_PAYLOAD {
        return format!("[\"{POKE_EVERYONE}\"]");
    }
    payload
}

/// Answers [`Store::generation`](crate::store::Store::generation) requests until the store is dropped: every request queued
/// when a read starts gets that read's value; later ones wait for the next read.
///
/// Performance: a task on the server's runtime, not a thread of its own: the answer's
/// socket is polled by the workers that are awake anyway, so a crowd of no-change pulls
/// does not wait for a sleeping thread to be scheduled twice per read.
pub(super) async fn generation_task(config: tokio_postgres::Config, mut requests: GenerationRequests, known: Arc<KnownCommit>) {
    let mut conn: Option<(tokio_postgres::Client, tokio_postgres::Statement)> = None;
    while let Some(first) = requests.recv().await {
        let mut waiting = vec![first];
        while let Ok(w) = requests.try_recv() {
            waiting.push(w);
        }
        let value = read_generation(&config, &mut conn).await;
        if let Some(g) = value {
            known.note(g);
        }
        for w in waiting {
            let _ = w.send(value);
        }
    }
}

type GenerationRequests = tokio::sync::mpsc::UnboundedReceiver<oneshot::Sender<Option<u64>>>;

/// `meta.generation` as committed now; `None` (nothing answered from memory) when the
/// database cannot be reached.
async fn read_generation(
    config: &tokio_postgres::Config,
    conn: &mut Option<(tokio_postgres::Client, tokio_postgres::Statement)>,
) -> Option<u64> {
    if conn.as_ref().is_some_and(|(c, _)| c.is_closed()) {
        *conn = None;
    }
    if conn.is_none() {
        match generation_connect(config).await {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the commit generation");
                return None;
            }
        }
    }
    let (client, statement) = conn.as_ref()?;
    match client.query_opt(statement, &[]).await {
        Ok(row) => row.and_then(|r| r.try_get::<_, i64>(0).ok()).map(|v| v as u64),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the commit generation");
            *conn = None;
            None
        }
    }
}

async fn generation_connect(
    config: &tokio_postgres::Config,
) -> Result<(tokio_postgres::Client, tokio_postgres::Statement), tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the commit generation's connection ended");
        }
    });
    let statement = client.prepare("SELECT value FROM meta WHERE key = 'generation'").await?;
    Ok((client, statement))
}

/// Connects and LISTENs, then reads the generation: every commit after it will be
/// announced, so from here on the known commit is kept current. What was written where is
/// known from the next commit heard (`heads`).
pub(super) fn listen_connect(config: &postgres::Config, known: &KnownCommit, heads: &ScopeHeads) -> StoreResult<Client> {
    heads.forget();
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    hear_generation(&mut client, known)?;
    known.listening.store(true, Ordering::SeqCst);
    Ok(client)
}

/// Reads the generation on the listener's connection into `known`.
fn hear_generation(client: &mut Client, known: &KnownCommit) -> StoreResult<()> {
    let row = client.query_one("SELECT value FROM meta WHERE key = 'generation'", &[])?;
    let g: i64 = row.try_get(0).map_err(corrupt)?;
    known.note(g as u64);
    known.heard();
    Ok(())
}

pub(super) fn listen_loop(
    config: postgres::Config,
    client: Client,
    pokes: broadcast::Sender<Arc<TouchedScopes>>,
    closed: Arc<AtomicBool>,
    known: Arc<KnownCommit>,
    heads: Arc<ScopeHeads>,
) {
    let mut client = Some(client);
    while !closed.load(Ordering::Relaxed) {
        let Some(c) = client.as_mut() else {
            match listen_connect(&config, &known, &heads) {
                Ok(c) => {
                    tracing::info!("poke listener reconnected");
                    client = Some(c);
                    // Whatever was announced while we were away: poke everyone.
                    let _ = pokes.send(Arc::new(BTreeSet::from([POKE_EVERYONE.to_string()])));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "poke listener cannot connect; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            continue;
        };
        let mut lost = false;
        {
            let mut notes = c.notifications();
            let mut it = notes.timeout_iter(LISTEN_TICK);
            loop {
                match postgres::fallible_iterator::FallibleIterator::next(&mut it) {
                    Ok(Some(n)) => {
                        let commit = Commit::parse(n.payload());
                        // Known before the poke goes out: a pull it causes names a known
                        // commit, and reads only the scopes written after its cursor.
                        commit.record(&heads);
                        if let Some(g) = commit.generation {
                            known.note(g);
                        }
                        known.heard();
                        // No receivers (no open streams) is fine.
                        if !commit.scopes.is_empty() {
                            let _ = pokes.send(Arc::new(commit.scopes));
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %describe(&e), "poke listener lost its connection");
                        lost = true;
                        break;
                    }
                }
            }
        }
        // Quiet for a tick: check the connection and the generation.
        if !lost {
            if let Err(e) = hear_generation(c, &known) {
                tracing::warn!(error = %e, "poke listener cannot read the commit generation");
                lost = true;
            }
        }
        if lost || c.is_closed() {
            // Commits announced while away would be missed: nothing is known until LISTEN again.
            known.listening.store(false, Ordering::SeqCst);
            heads.forget();
            client = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn pokes_too_wide_for_notify_become_poke_everyone() {
        let few: TouchedScopes = ["child:1".to_string(), "user:2".to_string()].into();
        assert_eq!(poke_payload(&few), r#"["child:1","user:2"]"#);
        let many: TouchedScopes = (0..400).map(|i| format!("user:{}", Uuid::from_u128(i))).collect();
        assert_eq!(poke_payload(&many), r#"["*"]"#);
        let back: TouchedScopes = serde_json::from_str(&poke_payload(&many)).unwrap();
        assert!(back.contains(POKE_EVERYONE));
    }

    #[test]
    fn a_notification_names_its_commit_its_sequence_numbers_and_its_scopes() {
        let scopes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<TouchedScopes>();
        let commit = |generation, seqs, s: &[&str]| Commit { generation, seqs, scopes: scopes(s) };
        assert_eq!(Commit::parse(r#"42:10:12 ["child:1","unit:2"]"#), commit(Some(42), Some((10, 12)), &["child:1", "unit:2"]));
        assert_eq!(Commit::parse("43:12:12 []"), commit(Some(43), Some((12, 12)), &[]), "a commit that touched nothing");
        assert_eq!(Commit::parse("43:12:12"), commit(Some(43), Some((12, 12)), &[]));
        // An instance of an earlier version sends no numbers, or the scopes alone.
        assert_eq!(Commit::parse(r#"42 ["child:1","unit:2"]"#), commit(Some(42), None, &["child:1", "unit:2"]));
        assert_eq!(Commit::parse("43"), commit(Some(43), None, &[]));
        assert_eq!(Commit::parse(r#"["child:1"]"#), commit(None, None, &["child:1"]));
        // What cannot be read pokes everyone and tells no numbers; a readable commit is still noted.
        assert_eq!(Commit::parse("44 not json"), commit(Some(44), None, &[POKE_EVERYONE]));
        assert_eq!(Commit::parse("44:3:5 not json"), commit(Some(44), Some((3, 5)), &[POKE_EVERYONE]));
        for bad in ["44:5:3", "44:1", "44:1:2:3", "44:x:2"] {
            assert_eq!(Commit::parse(bad).seqs, None, "{bad}");
            assert_eq!(Commit::parse(bad).generation, Some(44), "{bad}");
        }
        assert_eq!(Commit::parse("garbage"), commit(None, None, &[POKE_EVERYONE]));
        assert_eq!(Commit::parse(""), commit(None, None, &[POKE_EVERYONE]));
        // The widest payload with the longest numbers still fits in a NOTIFY.
        let many: TouchedScopes = (0..400).map(|i| format!("user:{}", Uuid::from_u128(i))).collect();
        let longest = format!("{}:{}:{}", u64::MAX, i64::MIN, i64::MAX);
        assert!(format!("{longest} {}", poke_payload(&many)).len() < 8000);
        let fitting: TouchedScopes = (0..).map(|i| format!("user:{}", Uuid::from_u128(i))).take(MAX_PAYLOAD / 45).collect();
        let payload = poke_payload(&fitting);
        assert_ne!(payload, r#"["*"]"#);
        assert!(format!("{longest} {payload}").len() < 8000);
    }

    #[test]
    fn commits_heard_tell_which_scopes_a_pull_reads() {
        let heads = ScopeHeads::unknown();
        let mine: Vec<String> = ["child:1", "child:2", "user:9"].map(String::from).to_vec();
        assert_eq!(heads.written_after(&mine, 10, 12), None, "nothing heard yet");
        Commit::parse(r#"7:10:12 ["child:1"]"#).record(&heads);
        assert_eq!(heads.written_after(&mine, 10, 12), Some(vec!["child:1".to_string()]));
        assert_eq!(heads.written_after(&mine, 9, 12), None, "from before the first commit heard");
        assert_eq!(heads.written_after(&mine, 10, 13), None, "a snapshot holding a commit not heard yet");
        // Too many scopes to announce: every one may hold rows up to its last number.
        Commit::parse(r#"8:12:15 ["*"]"#).record(&heads);
        assert_eq!(heads.written_after(&mine, 12, 15), None);
        assert_eq!(heads.written_after(&mine, 15, 15), Some(vec![]));
        Commit::parse(r#"9:15:16 ["user:9"]"#).record(&heads);
        assert_eq!(heads.written_after(&mine, 15, 16), Some(vec!["user:9".to_string()]));
        // An instance of an earlier version tells no numbers: nothing is known until the next.
        Commit::parse(r#"10 ["child:2"]"#).record(&heads);
        assert_eq!(heads.written_after(&mine, 16, 16), None);
        Commit::parse(r#"11:17:18 ["child:1"]"#).record(&heads);
        assert_eq!(heads.written_after(&mine, 16, 18), None, "17 was the earlier version's");
        assert_eq!(heads.written_after(&mine, 17, 18), Some(vec!["child:1".to_string()]));
        // This instance's writer records its commit before the listener hears it: heard
        // again, as it was or as too wide to announce, it changes nothing.
        heads.record_next(18, 20, &TouchedScopes::from(["child:2".to_string()]));
        Commit::parse(r#"12:18:20 ["child:2"]"#).record(&heads);
        Commit::parse(r#"12:18:20 ["*"]"#).record(&heads);
        assert_eq!(heads.written_after(&mine, 17, 20), Some(vec!["child:1".to_string(), "child:2".to_string()]));
        // Heard first, then recorded by the writer: the same.
        Commit::parse(r#"13:20:21 ["user:9"]"#).record(&heads);
        heads.record_next(20, 21, &TouchedScopes::from(["user:9".to_string()]));
        assert_eq!(heads.written_after(&mine, 20, 21), Some(vec!["user:9".to_string()]));
        assert_eq!(heads.written_after(&mine, 17, 21).map(|w| w.len()), Some(3));
        // Another instance committed 22–25, not heard yet, before this writer's 26–27: the
        // writer leaves its commit to the listener, which hears both in order, and nothing
        // known before is lost.
        heads.record_next(25, 27, &TouchedScopes::from(["child:2".to_string()]));
        assert_eq!(heads.written_after(&mine, 21, 27), None, "25 and 27 are not recorded yet");
        Commit::parse(r#"14:21:25 ["user:9"]"#).record(&heads);
        Commit::parse(r#"15:25:27 ["child:2"]"#).record(&heads);
        assert_eq!(heads.written_after(&mine, 21, 27), Some(vec!["child:2".to_string(), "user:9".to_string()]));
        assert_eq!(heads.written_after(&mine, 17, 27).map(|w| w.len()), Some(3), "known from 17 on still");
    }

    #[test]
    fn the_known_commit_is_the_greatest_noted_and_only_while_the_listener_hears() {
        let known = KnownCommit::default();
        known.note(5);
        assert_eq!(known.get(), None, "nothing is known before the listener listens");
        known.listening.store(true, Ordering::SeqCst);
        known.heard();
        assert_eq!(known.get(), Some(5));
        known.note(9);
        known.note(7);
        assert_eq!(known.get(), Some(9), "a late notification of an older commit lowers nothing");
        // A listener silent for too long (a connection that hangs): nothing is known.
        let later = KnownCommit { since: std::time::Instant::now() - KNOWN_FOR * 2, ..KnownCommit::default() };
        later.listening.store(true, Ordering::SeqCst);
        assert_eq!(later.get(), None);
        later.heard();
        assert_eq!(later.get(), Some(0));
        known.listening.store(false, Ordering::SeqCst);
        assert_eq!(known.get(), None, "a lost listener knows nothing until it listens again");
    }
}
