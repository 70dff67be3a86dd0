//! The PostgreSQL store, for several stateless server instances on one database
//! (ARCHITECTURE.md, "Scale-out"). Same shape as the SQLite store: one writer thread doing
//! durable group commit, a small pool of reader threads, plus one thread that LISTENs for
//! the pokes every instance announces.
//!
//! # Threads, not tasks
//! The synchronous `postgres` client drives its connection with a runtime of its own, so it
//! must never run (or be dropped) on a tokio worker thread. Every connection here lives and
//! dies on a dedicated std thread fed by a channel; the async side only awaits a oneshot.
//!
//! # Writes: serialized across instances, `seq` in commit order
//! Every write transaction starts with `pg_advisory_xact_lock(WRITE_LOCK)`, so at any moment
//! at most one write transaction, of any instance, is past that line; the lock is released
//! only after its commit is visible to other sessions (PostgreSQL releases locks after
//! marking the transaction committed). This makes the writers of all instances behave like
//! SQLite's single writer:
//!
//! - The rules' read-then-write checks (idempotency by mutation id, one absence per child
//!   and day, one booking per talk slot) cannot race: the second writer's statements run
//!   after the first has committed and see its rows. Write transactions are READ COMMITTED on
//!   purpose: each statement takes a fresh snapshot, and every statement after the lock sees
//!   every earlier writer's commit (a REPEATABLE READ snapshot would have been taken by the
//!   lock statement itself, before the wait).
//! - `seq` is allocated from the `meta` row inside the locked transaction, so sequence
//!   numbers are handed out in commit order: every row with `seq <= n` is committed before
//!   any row with `seq > n` becomes visible. A reader's snapshot therefore always holds a
//!   prefix of the sequence: `max_seq` read in the same snapshot as the rows bounds exactly
//!   what the snapshot can see, and a pull cursor that jumps to it never skips a row that
//!   commits later. (With a database sequence or without the lock, seq 11 could commit
//!   before seq 10, and a pull between the two commits would move its cursor past 10 for
//!   good.)
//! - A large group is written on two connections at once ([`split_off_lower_half`](split::split_off_lower_half)): its
//!   first part, with the lower sequence numbers, commits as a transaction of its own on a
//!   second connection while the locked transaction still holds the rest, which commits
//!   only after it. The prefix holds, and no other instance commits in between: not even
//!   when the writer's session ends before its first part commits (`FIRST_PART_LOCK`).
//!
//! # Group commit
//! The writer takes every queued job (up to `writer::MAX_GROUP`) into one transaction, each job
//! in its own savepoint, and sends results only after `COMMIT` has returned. The writer
//! connection runs with `synchronous_commit = on`, so an acknowledged mutation is in the
//! flushed WAL.
//!
//! # Reads
//! Reader threads run each job in its own `REPEATABLE READ READ ONLY` transaction: one
//! consistent snapshot per job. They share what pulls read of a person with their token,
//! checked in each later pull's snapshot by the person's `person_gen` ([`people`]).
//!
//! # The commit generation
//! Every write transaction adds one to `meta.generation` just before its COMMIT, so the
//! value counts every commit of every instance. [`Store::generation`] reads it in a task
//! of its own on the server's runtime: all requests waiting when a read starts share that read, and a request that
//! arrives during a read waits for the next one, so every answer comes from a read that
//! began after the request, and a crowd of no-change pulls costs one round trip a turn
//! instead of a snapshot each ([`crate::pull_cache`]).
//!
//! # Pokes across instances, and the commits each instance knows
//! Every write transaction sends `pg_notify('hub_pokes', '<generation>:<start>:<end> ["scope", …]')`
//! (the sequence numbers it took are those after `start` up to `end`; `[]` when it touched
//! no scope) inside its transaction; PostgreSQL delivers it to every
//! listening session when (and only if) the transaction commits, in commit order. Every
//! instance LISTENs on its own connection, notes the generation as known ([`KnownCommit`]),
//! then forwards the scopes into its local `pokes` channel, its own writes included, so the
//! writer does not broadcast locally. A payload too long for NOTIFY is sent as `["*"]`,
//! which pokes every stream ([`POKE_EVERYONE`](super::POKE_EVERYONE)); so is a reconnect of the listener (it may
//! have missed some), which reads the generation again after its LISTEN.
//!
//! The announcement also names the sequence numbers the commit took: each instance's
//! listener keeps which scopes were written above which number ([`ScopeHeads`]), so that a
//! pull reads only the scopes written after its cursor, while its snapshot holds no commit
//! the listener has not heard of (`store/scope_heads.rs`).
//!
//! The known commit is what a pull that names the commit it must see (`min_commit`, see
//! `docs/protocol.md`) is answered from without a read: generations are handed out under
//! the write lock, so when generation `k` is committed every smaller one is too. While the
//! listener is down nothing is known and every pull reads the generation.
//! Nothing in one instance's memory is needed by another. (The dev clock is per instance:
//! a test that fixes it must fix it on every instance.)

use std::any::Any;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};
use tokio::sync::{broadcast, oneshot};

use super::priority::raise_priority;
use super::scope_heads::ScopeHeads;
use super::{GenerationFuture, Job, JobFuture, ReadHint, Store, StoreError, StoreResult, TouchedScopes, WriteStats};

mod commits;
mod db;
mod people;
mod prefetch;
mod reads;
mod rows;
mod split;
mod tx;
mod writer;

use commits::{generation_task, listen_connect, listen_loop, KnownCommit};
use people::People;
use reads::{reader_loop, Readers};
use writer::writer_loop;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../../migrations/server-postgres/0001_init.sql")),
    (2, include_str!("../../../../migrations/server-postgres/0002_tablets.sql")),
    (3, include_str!("../../../../migrations/server-postgres/0003_generation.sql")),
    (4, include_str!("../../../../migrations/server-postgres/0004_pin_unlocked_at.sql")),
    (5, include_str!("../../../../migrations/server-postgres/0005_drop_entities_seq.sql")),
    (6, include_str!("../../../../migrations/server-postgres/0006_json_columns_as_text.sql")),
    (7, include_str!("../../../../migrations/server-postgres/0007_person_gen.sql")),
];

/// Reader threads (and so at most this many read connections) per instance.
const READERS: usize = 4;
/// Taken (session-scoped) while migrating, so instances starting at once migrate once.
const MIGRATE_LOCK: i64 = 0x6875_623a_6d67;

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Database(describe(&e))
    }
}

/// The server's message and SQLSTATE when there is one (the plain Display says "db error").
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Text for a PostgreSQL `text` parameter. PostgreSQL text cannot hold U+0000, which JSON
/// strings (and so user input) can carry and SQLite stores; a NUL would fail the statement
/// (a 500 the client retries forever, where SQLite answers). It becomes U+FFFD, the same
/// way in writes and look-ups, so such a value is stored and found again.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn opt_text(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(text)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

type Reply = oneshot::Sender<StoreResult<Box<dyn Any + Send>>>;

struct Msg {
    job: Job,
    reply: Reply,
    /// What a write job will look up, fetched for its whole group first (see `run_batch`).
    hint: Option<ReadHint>,
}

pub struct PostgresStore {
    writer: mpsc::Sender<Msg>,
    generation: tokio::sync::mpsc::UnboundedSender<oneshot::Sender<Option<u64>>>,
    readers: Arc<Mutex<Readers>>,
    /// Tells the listener thread to stop when the store is dropped.
    closed: Arc<AtomicBool>,
    counters: Arc<WriteCounters>,
    known: Arc<KnownCommit>,
    people: Arc<People>,
    /// The scopes every instance's commits wrote, as the writer and the listener recorded them.
    heads: Arc<ScopeHeads>,
}

/// Group-commit counters of this instance, bumped by its writer after each commit.
#[derive(Default)]
struct WriteCounters {
    commits: AtomicU64,
    jobs: AtomicU64,
    largest_group: AtomicU64,
    /// Groups written on two connections at once (see [`split_off_lower_half`](split::split_off_lower_half)).
    split_groups: AtomicU64,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The writer thread ends when its channel closes (after the jobs still queued), the
        // readers when theirs do; the listener looks at this flag between waits.
        self.closed.store(true, Ordering::Relaxed);
        if let Ok(mut r) = self.readers.lock() {
            r.closed = true;
            r.inboxes.clear();
            r.backlog.clear();
        }
    }
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    stmts: HashMap<String, Statement>,
    /// Performance: scope sets a read on this connection found. They are never deleted
    /// (a cursor names its set by hash), so a pull need not ask for its set again: one
    /// statement fewer a pull.
    known_scope_sets: HashSet<String>,
    /// When a reader began its next read-only transaction ahead, with the last one's
    /// ROLLBACK (see `reads::read_job`).
    read_begun: Option<Instant>,
    /// Scope sets (by a hash of their names) whose last page read here was full, so that the
    /// next page of a large first sync is read in order at once (see `changes`): when.
    overflowed: HashMap<u64, Instant>,
    /// Statements run that may write (`execute`, `batch`): a group whose writes all waited
    /// to its end is told by this not moving (see `split_off_lower_half`).
    writes: u64,
    /// The backend's process id on a writer's connection (0 on others): the session whose
    /// write lock the first part of a split group checks (see `split_off_lower_half`).
    pid: i32,
}

/// Bounds [`Conn::known_scope_sets`] and [`Conn::overflowed`]: past it the set starts
/// again (each person's set is then asked for once more).
const KNOWN_SCOPE_SETS: usize = 100_000;

/// How long a scope set whose page overflowed is read in order at once (see `changes`).
const OVERFLOWED_FOR: Duration = Duration::from_secs(60);

impl Conn {
    fn connect(config: &postgres::Config) -> StoreResult<Conn> {
        let client = config.connect(NoTls)?;
        Ok(Conn {
            client,
            stmts: HashMap::new(),
            known_scope_sets: HashSet::new(),
            read_begun: None,
            overflowed: HashMap::new(),
            writes: 0,
            pid: 0,
        })
    }

    fn stmt(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.stmts.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let st = self.stmt(sql)?;
        Ok(self.client.query(&st, params)?)
    }

    fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Option<Row>> {
        let st = self.stmt(sql)?;
        Ok(self.client.query_opt(&st, params)?)
    }

    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Row> {
        let st = self.stmt(sql)?;
        Ok(self.client.query_one(&st, params)?)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        self.writes += 1;
        let st = self.stmt(sql)?;
        Ok(self.client.execute(&st, params)?)
    }

    fn batch(&mut self, sql: &str) -> StoreResult<()> {
        self.writes += 1;
        Ok(self.client.batch_execute(sql)?)
    }
}

fn parse_config(url: &str) -> StoreResult<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e: postgres::Error| StoreError::Database(format!("bad PostgreSQL URL: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("hub-sync-server");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// Runs `f` on a fresh std thread and waits for it: for set-up work that must not run on a
/// tokio worker (the `postgres` client would start a runtime inside the runtime).
fn on_own_thread<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> StoreResult<T> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| StoreError::Database(format!("cannot start thread {name}: {e}")))?
        .join()
        .map_err(|_| StoreError::Database(format!("thread {name} panicked")))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`), applies migrations, starts the writer, readers and
    /// the poke listener. Committed writes of every instance on this database (this one
    /// included) are announced on `pokes` with the scopes they touched.
    pub fn open(url: &str, pokes: broadcast::Sender<Arc<TouchedScopes>>) -> StoreResult<Self> {
        let async_config = parse_config(url)?;
        let config = postgres::Config::from(async_config.clone());
        // The commit generation is read by a task on the caller's runtime (the server's).
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StoreError::Database("the PostgreSQL store is opened outside a tokio runtime".into()))?;

        // Connect the writer and migrate, and start listening, before answering: a poke of
        // any write after `open` returns must reach this instance.
        let cfg = config.clone();
        let writer_conn = on_own_thread("pg-open", move || -> StoreResult<Conn> {
            let mut conn = connect_session(&cfg)?;
            migrate(&mut conn)?;
            Ok(conn)
        })??;
        let cfg = config.clone();
        let known = Arc::new(KnownCommit::default());
        let heads = Arc::new(ScopeHeads::unknown());
        let (listen_known, listen_heads) = (known.clone(), heads.clone());
        let listen_conn = on_own_thread("pg-open", move || listen_connect(&cfg, &listen_known, &listen_heads))??;

        let closed = Arc::new(AtomicBool::new(false));
        let (writer_tx, writer_rx) = mpsc::channel::<Msg>();
        let cfg = config.clone();
        let counters = Arc::new(WriteCounters::default());
        let (writer_counters, writer_known, writer_heads) = (counters.clone(), known.clone(), heads.clone());
        spawn("pg-writer", move || {
            raise_priority("pg-writer");
            writer_loop(cfg, writer_conn, writer_rx, &writer_counters, &writer_known, &writer_heads)
        })?;

        let readers = Arc::new(Mutex::new(Readers {
            inboxes: Vec::with_capacity(READERS),
            idle: (0..READERS).rev().collect(),
            backlog: VecDeque::new(),
            closed: false,
        }));
        let (generation, generation_rx) = tokio::sync::mpsc::unbounded_channel();
        runtime.spawn(generation_task(async_config, generation_rx, known.clone()));
        // A reader's transaction waits begun between jobs by design (see `read_job`), which
        // a server-wide `idle_in_transaction_session_timeout` must not end under it: set at
        // the connection's start-up, as a SET in a transaction would be rolled back with it.
        let mut reader_config = config.clone();
        let options = match config.get_options() {
            Some(o) => format!("{o} -c idle_in_transaction_session_timeout=0"),
            None => "-c idle_in_transaction_session_timeout=0".to_string(),
        };
        reader_config.options(&options);
        // Shared by the readers: a person's next pull may go to any of them.
        let people = Arc::new(People::default());
        for i in 0..READERS {
            let (tx, rx) = mpsc::channel::<Msg>();
            if let Ok(mut r) = readers.lock() {
                r.inboxes.push(tx);
            }
            let cfg = reader_config.clone();
            let (shared, people, heads) = (readers.clone(), people.clone(), heads.clone());
            spawn(&format!("pg-reader-{i}"), move || reader_loop(cfg, i, rx, shared, people, heads))?;
        }

        let cfg = config;
        let (flag, listen_known, listen_heads) = (closed.clone(), known.clone(), heads.clone());
        spawn("pg-listener", move || listen_loop(cfg, listen_conn, pokes, flag, listen_known, listen_heads))?;

        Ok(PostgresStore { writer: writer_tx, generation, readers, closed, counters, known, people, heads })
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> StoreResult<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| StoreError::Database(format!("cannot start thread {name}: {e}")))
}

fn send(to: &mpsc::Sender<Msg>, job: Job, hint: Option<ReadHint>) -> JobFuture {
    let (reply, rx) = oneshot::channel();
    let sent = to.send(Msg { job, reply, hint }).is_ok();
    Box::pin(async move {
        if !sent {
            return Err(StoreError::Closed);
        }
        rx.await.map_err(|_| StoreError::Closed)?
    })
}

impl Store for PostgresStore {
    fn submit_read(&self, job: Job) -> JobFuture {
        let (reply, rx) = oneshot::channel();
        let queued = match self.readers.lock() {
            Ok(mut r) if !r.closed => {
                let msg = Msg { job, reply, hint: None };
                match r.idle.pop() {
                    Some(i) => r.inboxes.get(i).is_some_and(|inbox| inbox.send(msg).is_ok()),
                    None => {
                        r.backlog.push_back(msg);
                        true
                    }
                }
            }
            _ => false,
        };
        Box::pin(async move {
            if !queued {
                return Err(StoreError::Closed);
            }
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn submit_write(&self, job: Job) -> JobFuture {
        send(&self.writer, job, None)
    }

    fn submit_write_hinted(&self, job: Job, hint: ReadHint) -> JobFuture {
        send(&self.writer, job, Some(hint))
    }

    fn generation(&self) -> GenerationFuture {
        let (reply, rx) = oneshot::channel();
        let asked = self.generation.send(reply).is_ok();
        Box::pin(async move {
            if !asked {
                return None;
            }
            rx.await.ok().flatten()
        })
    }

    fn known_commit(&self) -> Option<u64> {
        self.known.get()
    }

    fn last_commit(&self) -> Option<u64> {
        Some(self.known.generation.load(Ordering::SeqCst))
    }

    fn write_stats(&self) -> Option<WriteStats> {
        let c = &self.counters;
        Some(WriteStats {
            commits: c.commits.load(Ordering::Relaxed),
            jobs: c.jobs.load(Ordering::Relaxed),
            largest_group: c.largest_group.load(Ordering::Relaxed),
            split_groups: c.split_groups.load(Ordering::Relaxed),
        })
    }

    fn pulls_read_ahead(&self) -> Option<u64> {
        Some(self.people.read_ahead())
    }

    fn pull_ranges_skipped(&self) -> Option<u64> {
        Some(self.heads.skipped())
    }
}

fn migrate(conn: &mut Conn) -> StoreResult<()> {
    // Session lock: a second instance starting now waits here, then finds the work done.
    conn.batch(&format!("SELECT pg_advisory_lock({MIGRATE_LOCK})"))?;
    let result = migrate_locked(conn);
    let unlocked = conn.batch(&format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})"));
    result.and(unlocked)
}

fn migrate_locked(conn: &mut Conn) -> StoreResult<()> {
    conn.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let done = conn.client.query_opt("SELECT version FROM schema_migrations WHERE version = $1", &[version])?;
        if done.is_some() {
            continue;
        }
        conn.batch("BEGIN")?;
        let applied = conn.client.batch_execute(sql).and_then(|_| {
            conn.client.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
                &[version],
            )
        });
        match applied {
            Ok(_) => conn.batch("COMMIT")?,
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                return Err(StoreError::Database(format!("migration {version}: {}", describe(&e))));
            }
        }
        tracing::info!(version, "applied PostgreSQL migration");
    }
    Ok(())
}


/// Runs `start` on the connection, connecting first if there is none; if it fails on a
/// connection that turns out closed (the server restarted), reconnects and tries once more.
fn begin<'c>(
    config: &postgres::Config,
    conn: &'c mut Option<Conn>,
    start: impl Fn(&mut Conn) -> StoreResult<()>,
) -> StoreResult<&'c mut Conn> {
    if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
        *conn = None;
    }
    let fresh = conn.is_none();
    if fresh {
        *conn = Some(connect_session(config)?);
    }
    let Some(c) = conn.as_mut() else { return Err(StoreError::Closed) };
    match start(c) {
        Ok(()) => {}
        Err(e) if !fresh && c.client.is_closed() => {
            tracing::warn!(error = %e, "PostgreSQL connection lost; reconnecting");
            *c = connect_session(config)?;
            start(c)?;
        }
        Err(e) => {
            let _ = c.batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(c)
}

/// A writer's connection (the writer's and the second writer's).
///
/// `enable_seqscan = off`: every statement a writer runs finds its rows by a key, and
/// PostgreSQL keeps the plan it made for a prepared statement from the statistics of that
/// moment. `mutations` starts empty and grows by thousands of rows a second in a rush: the
/// group's outcome look-up (`id = ANY($1)`), planned while autovacuum's last `ANALYZE` had
/// seen a few dozen rows, stayed a sequential scan of the whole table until the next one,
/// up to a minute later. In a `psql` copy (40 rows analysed, then 200,000 more) that plan
/// took 751 ms for 1,280 ids, the index 1.7 ms; in the benchmark at 2026-12-06 17:25 tablet
/// marks fell from about 70,000 to 3,600/s for a whole run (docs/benchmarks.md). Off, the
/// planner takes the index whatever the statistics say; a query without one still scans.
fn connect_session(config: &postgres::Config) -> StoreResult<Conn> {
    let mut c = Conn::connect(config)?;
    c.batch("SET synchronous_commit = on; SET enable_seqscan = off")?;
    c.pid = c.query_one("SELECT pg_backend_pid()", &[])?.try_get(0).map_err(corrupt)?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_parse_and_get_defaults() {
        let c = parse_config("postgres://hub@127.0.0.1:5432/hub").unwrap();
        assert_eq!(c.get_dbname(), Some("hub"));
        assert_eq!(c.get_application_name(), Some("hub-sync-server"));
        assert!(parse_config("postgres://hub@127.0.0.1:notaport/hub").is_err());
    }
}
